//! Sharding: every message of one Call-ID goes to the same worker, in arrival order (DESIGN.md,
//! "Concurrency"), so a 180 never overtakes its 200 and a transaction's messages are never raced.

use std::hash::{BuildHasher, Hasher};

/// Finds the Call-ID value in a raw message without parsing it fully: scans header lines up to the
/// blank line for `Call-ID` or its compact form `i`. Returns `None` when there is none; the full parser
/// rejects such a message later.
pub fn call_id(data: &[u8]) -> Option<&[u8]> {
    let mut lines = data
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty());
    lines.find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            Some(line[colon + 1..].trim_ascii())
        } else {
            None
        }
    })
}

/// Picks a worker for a message: by Call-ID when present, else by `fallback` (the source address).
pub fn pick(
    data: &[u8],
    fallback: impl std::hash::Hash,
    workers: usize,
    hasher: &impl BuildHasher,
) -> usize {
    let mut h = hasher.build_hasher();
    match call_id(data) {
        Some(id) => h.write(id),
        None => fallback.hash(&mut h),
    }
    (h.finish() % workers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_full_and_compact_call_id() {
        let full = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID:  abc@h \r\n\r\n";
        assert_eq!(call_id(full), Some(&b"abc@h"[..]));
        let compact = b"OPTIONS sip:a SIP/2.0\r\nv: SIP/2.0/UDP h\r\ni:xyz\r\n\r\n";
        assert_eq!(call_id(compact), Some(&b"xyz"[..]));
        let body_only = b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\ni: nope\r\n";
        assert_eq!(call_id(body_only), None);
    }

    #[test]
    fn same_call_id_same_worker() {
        let s = std::collections::hash_map::RandomState::new();
        let a = b"BYE sip:a SIP/2.0\r\nCall-ID: 42\r\n\r\n";
        let b = b"SIP/2.0 200 OK\r\ni: 42\r\n\r\n";
        assert_eq!(pick(a, 1, 8, &s), pick(b, 2, 8, &s));
    }
}
