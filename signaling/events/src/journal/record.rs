//! The on-disk record format and segment scanning.
//!
//! A segment is a file `<first seq, 20 digits>.seg` holding records back to back:
//!
//! ```text
//! len: u32 LE (payload bytes) | crc: u32 LE (CRC-32 of seq bytes + payload) | seq: u64 LE | payload (JSON envelope)
//! ```
//!
//! A record whose header or payload is cut short, whose length is out of bounds or whose CRC
//! does not match ends the valid part of a segment (a torn tail after a crash).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 16;
/// Largest payload accepted when reading (an envelope is a few hundred bytes).
pub(crate) const MAX_PAYLOAD: u32 = 1 << 20;

/// Appends one record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&h.finalize().to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// One record read back.
#[derive(Debug)]
pub(crate) struct RawRecord {
    pub(crate) seq: u64,
    pub(crate) payload: Vec<u8>,
}

/// Reads the next record; `Ok(None)` at a clean end of file, at a torn or corrupt record.
pub(crate) fn read_record(r: &mut impl Read) -> io::Result<Option<RawRecord>> {
    let mut header = [0u8; HEADER_LEN];
    if !read_full(r, &mut header)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&header[8..16]);
    if len > MAX_PAYLOAD {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    if !read_full(r, &mut payload)? {
        return Ok(None);
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&seq_bytes);
    h.update(&payload);
    if h.finalize() != crc {
        return Ok(None);
    }
    Ok(Some(RawRecord {
        seq: u64::from_le_bytes(seq_bytes),
        payload,
    }))
}

/// Fills `buf`; false if the input ended first (a partial fill counts as the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// What a scan of one segment found.
#[derive(Debug)]
pub(crate) struct ScanResult {
    /// Byte length of the valid prefix.
    pub(crate) valid_len: u64,
    /// Length of the file.
    pub(crate) file_len: u64,
    /// Sequence numbers of the first and last valid records.
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
}

/// Scans a segment, calling `visit` for each valid record in order; stops at the first
/// torn/corrupt record or at a record whose seq does not follow the previous one.
pub(crate) fn scan(path: &Path, mut visit: impl FnMut(&RawRecord)) -> io::Result<ScanResult> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut res = ScanResult {
        valid_len: 0,
        file_len,
        first_seq: None,
        last_seq: None,
    };
    while let Some(rec) = read_record(&mut r)? {
        if res.last_seq.is_some_and(|last| rec.seq != last + 1) {
            break;
        }
        visit(&rec);
        res.first_seq.get_or_insert(rec.seq);
        res.last_seq = Some(rec.seq);
        res.valid_len += (HEADER_LEN + rec.payload.len()) as u64;
    }
    Ok(res)
}

/// The file name of the segment whose first record is `first_seq`.
pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.seg"))
}

/// Parses a segment file name back to its first seq.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_flipped_bit_ends_the_stream() {
        let mut buf = Vec::new();
        encode(&mut buf, 41, b"{\"a\":1}");
        encode(&mut buf, 42, b"{\"b\":2}");
        let mut r = &buf[..];
        assert_eq!(read_record(&mut r).expect("io").expect("rec").seq, 41);
        let second = read_record(&mut r).expect("io").expect("rec");
        assert_eq!((second.seq, &second.payload[..]), (42, &b"{\"b\":2}"[..]));
        assert!(read_record(&mut r).expect("io").is_none());

        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut r = &bad[..];
        assert!(read_record(&mut r).expect("io").is_some());
        assert!(read_record(&mut r).expect("io").is_none());
    }

    #[test]
    fn segment_names_round_trip() {
        let p = segment_path(Path::new("/j"), 17);
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(parse_segment_name(name), Some(17));
        assert_eq!(parse_segment_name("17.seg"), None);
        assert_eq!(parse_segment_name("cursor.nats"), None);
    }
}
