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

/// Picks a worker for a message: the worker named by a B-leg Call-ID ([`b_leg_worker`]), else by a
/// hash of the Call-ID, else by `fallback` (the source address).
pub fn pick(
    data: &[u8],
    fallback: impl std::hash::Hash,
    workers: usize,
    hasher: &impl BuildHasher,
) -> usize {
    let mut h = hasher.build_hasher();
    match call_id(data) {
        Some(id) => {
            if let Some(w) = b_leg_worker(id, workers) {
                return w;
            }
            h.write(id)
        }
        None => fallback.hash(&mut h),
    }
    (h.finish() % workers.max(1) as u64) as usize
}

/// The worker that owns a call whose B leg has this Call-ID. A worker makes its B-leg Call-IDs as
/// `sbw<index>-<32 lower-case hex digits>` (128 random bits: unguessable, RFC 3261 §8.1.1.4), so the
/// callee's requests and responses reach the worker holding both legs. Anything else, or an index
/// not below `workers`, is `None` (hashed like any Call-ID).
pub fn b_leg_worker(call_id: &[u8], workers: usize) -> Option<usize> {
    let rest = call_id.strip_prefix(b"sbw")?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (digits, random) = (rest.get(..dash)?, rest.get(dash + 1..)?);
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if random.len() != 32
        || !random
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let index: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (index < workers).then_some(index)
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
    fn b_leg_call_ids_go_to_the_worker_they_name() {
        let s = std::collections::hash_map::RandomState::new();
        for w in 0..8 {
            let id = crate::core::b_leg_call_id(w);
            let msg = format!("SIP/2.0 180 Ringing\r\nCall-ID: {id}\r\n\r\n");
            assert_eq!(pick(msg.as_bytes(), 1, 8, &s), w, "{id}");
        }
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(b_leg_worker(format!("sbw3-{hex}").as_bytes(), 4), Some(3));
        assert_eq!(b_leg_worker(format!("sbw4-{hex}").as_bytes(), 4), None);
        assert_eq!(b_leg_worker(format!("sbw1-{hex}0").as_bytes(), 4), None);
        assert_eq!(b_leg_worker(format!("sbw-{hex}").as_bytes(), 4), None);
        assert_eq!(b_leg_worker(format!("sbwx-{hex}").as_bytes(), 4), None);
        assert_eq!(
            b_leg_worker(b"sbw1-0123456789ABCDEF0123456789ABCDEF", 4),
            None
        );
        assert_eq!(b_leg_worker(b"abc@host", 4), None);
    }

    #[test]
    fn same_call_id_same_worker() {
        let s = std::collections::hash_map::RandomState::new();
        let a = b"BYE sip:a SIP/2.0\r\nCall-ID: 42\r\n\r\n";
        let b = b"SIP/2.0 200 OK\r\ni: 42\r\n\r\n";
        assert_eq!(pick(a, 1, 8, &s), pick(b, 2, 8, &s));
    }
}
