//! Standard base64 (RFC 4648 §4) for the 30-byte SDES key, without allocation.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Encodes `input` into `out` (padded); `None` if `out` is too short.
pub(crate) fn encode<'a>(input: &[u8], out: &'a mut [u8]) -> Option<&'a str> {
    let len = input.len().div_ceil(3) * 4;
    let dst = out.get_mut(..len)?;
    for (chunk, quad) in input.chunks(3).zip(dst.chunks_mut(4)) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, q) in quad.iter_mut().enumerate() {
            *q = if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            };
        }
    }
    std::str::from_utf8(dst).ok()
}

/// Decodes `input` (padding optional) into `out`; returns the decoded length, `None` if invalid or too long.
pub(crate) fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let trimmed = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    if trimmed.len() % 4 == 1 || (trimmed.len() != input.len() && input.len() % 4 != 0) {
        return None;
    }
    let mut written = 0;
    for chunk in trimmed.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            *out.get_mut(written)? = (n >> (16 - 8 * i)) as u8;
            written += 1;
        }
    }
    Some(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_s10_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut buf = [0u8; 16];
            assert_eq!(encode(plain.as_bytes(), &mut buf), Some(enc));
            let mut dec = [0u8; 16];
            let n = decode(enc.as_bytes(), &mut dec).expect("valid");
            assert_eq!(&dec[..n], plain.as_bytes());
        }
        assert_eq!(decode(b"Zm9", &mut [0u8; 2]), Some(2));
        assert_eq!(decode(b"Z", &mut [0u8; 4]), None);
        assert_eq!(decode(b"Zm9v", &mut [0u8; 2]), None);
        assert_eq!(decode(b"Zm=v", &mut [0u8; 4]), None);
    }
}
