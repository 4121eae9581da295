use super::*;
use crate::rtp::{RtpHeader, write_header};

fn key(seed: u8, suite: SrtpSuite) -> SdesCrypto {
    let random: [u8; 30] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
    SdesCrypto::generate(1, suite, &random)
}

/// Our node's leg and the phone on the other end of it.
fn pair(suite: SrtpSuite) -> (SrtpSession, SrtpSession) {
    let ours = key(1, suite);
    let theirs = key(2, suite);
    let node = SrtpSession::new(&ours, &theirs).expect("valid keys");
    let phone = SrtpSession::new(&theirs, &ours).expect("valid keys");
    (node, phone)
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 12 + 160];
    write_header(&mut p, 0, false, seq, u32::from(seq) * 160, 0x5151).expect("12 bytes");
    p[12..].fill(0xd5);
    p
}

#[test]
fn rfc3711_protect_unprotect_round_trip_both_suites() {
    for (suite, tag) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
    ] {
        let (mut node, mut phone) = pair(suite);
        let (mut wire, mut plain) = (Vec::new(), Vec::new());
        for seq in [65534u16, 65535, 0, 1] {
            let p = rtp(seq);
            node.protect_rtp(&p, &mut wire).expect("protect");
            assert_eq!(wire.len(), p.len() + tag);
            assert_ne!(&wire[12..p.len()], &p[12..], "payload is encrypted");
            phone.unprotect_rtp(&wire, &mut plain).expect("authentic");
            assert_eq!(plain, p);
        }
    }
}

#[test]
fn rfc3711_tampered_packet_fails_auth_and_replay_is_refused() {
    let (mut node, mut phone) = pair(SrtpSuite::AesCm128HmacSha1_80);
    let (mut wire, mut plain) = (Vec::new(), Vec::new());
    phone.protect_rtp(&rtp(7), &mut wire).expect("protect");
    let mut bad = wire.clone();
    bad[20] ^= 1;
    assert!(matches!(
        node.unprotect_rtp(&bad, &mut plain),
        Err(SrtpError::AuthFailed)
    ));
    node.unprotect_rtp(&wire, &mut plain).expect("authentic");
    assert!(matches!(
        node.unprotect_rtp(&wire, &mut plain),
        Err(SrtpError::Replayed)
    ));
    assert!(matches!(
        node.unprotect_rtp(&wire[..8], &mut plain),
        Err(SrtpError::Malformed)
    ));
    // A packet protected with the wrong key fails too.
    let mut stranger = SrtpSession::new(
        &key(9, SrtpSuite::AesCm128HmacSha1_80),
        &key(9, SrtpSuite::AesCm128HmacSha1_80),
    )
    .expect("valid keys");
    stranger.protect_rtp(&rtp(8), &mut wire).expect("protect");
    assert!(matches!(
        node.unprotect_rtp(&wire, &mut plain),
        Err(SrtpError::AuthFailed)
    ));
}

#[test]
fn rfc3711_srtcp_round_trip_and_tamper() {
    let (mut node, mut phone) = pair(SrtpSuite::AesCm128HmacSha1_32);
    let rr = [0x80, 201, 0, 1, 0, 0, 0x51, 0x51];
    let (mut wire, mut plain) = (Vec::new(), Vec::new());
    node.protect_rtcp(&rr, &mut wire).expect("protect");
    assert_eq!(
        wire.len(),
        rr.len() + 4 + 10,
        "SRTCP index + 80-bit tag even for the _32 suite"
    );
    phone.unprotect_rtcp(&wire, &mut plain).expect("authentic");
    assert_eq!(plain, rr);
    node.protect_rtcp(&rr, &mut wire).expect("protect");
    let last = wire.len() - 1;
    wire[last] ^= 0x80;
    assert!(matches!(
        phone.unprotect_rtcp(&wire, &mut plain),
        Err(SrtpError::AuthFailed)
    ));
}

/// A plain-RTP leg bridged to an SRTP leg: the node relays each way, rewriting nothing but the crypto.
#[test]
fn rtp_to_srtp_bridging() {
    let (mut leg_b, mut phone_b) = pair(SrtpSuite::AesCm128HmacSha1_80);
    let (mut to_b, mut at_b, mut from_b, mut to_a) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for seq in 100..110u16 {
        // A (plain) → node → B (SRTP)
        let from_a = rtp(seq);
        RtpHeader::parse(&from_a).expect("valid RTP from A");
        leg_b.protect_rtp(&from_a, &mut to_b).expect("protect");
        phone_b
            .unprotect_rtp(&to_b, &mut at_b)
            .expect("B authenticates");
        assert_eq!(at_b, from_a);
        // B (SRTP) → node → A (plain)
        phone_b
            .protect_rtp(&rtp(seq + 1000), &mut from_b)
            .expect("protect");
        leg_b
            .unprotect_rtp(&from_b, &mut to_a)
            .expect("node authenticates");
        let h = RtpHeader::parse(&to_a).expect("plain RTP towards A");
        assert_eq!(h.sequence, seq + 1000);
        assert_eq!(h.payload(&to_a), &[0xd5; 160][..]);
    }
}
