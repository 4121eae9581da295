use super::*;

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 12];
    write_header(&mut v, pt, false, seq, ts, ssrc).expect("12 bytes");
    v.extend_from_slice(payload);
    v
}

#[test]
fn rfc3550_s5_1_fixed_header_fields() {
    let mut p = packet(0, 0xabcd, 0x1234_5678, 0xdead_beef, &[1, 2, 3]);
    set_marker(&mut p, true).expect("len");
    let h = RtpHeader::parse(&p).expect("valid");
    assert_eq!(h.payload_type, 0);
    assert!(h.marker);
    assert_eq!(
        (h.sequence, h.timestamp, h.ssrc),
        (0xabcd, 0x1234_5678, 0xdead_beef)
    );
    assert_eq!((h.payload_offset, h.payload_len), (12, 3));
    assert_eq!(h.payload(&p), &[1, 2, 3]);
}

#[test]
fn rfc3550_s5_1_csrc_extension_and_padding() {
    // V=2 P=1 X=1 CC=2
    let mut p = vec![0xb2, 8, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    p.extend_from_slice(&[0; 8]); // 2 CSRC
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // extension of 1 word
    p.extend_from_slice(&[7, 7, 7, 0, 0, 3]); // payload 7 7 7 + 3 padding bytes
    let h = RtpHeader::parse(&p).expect("valid");
    assert_eq!(h.csrc_count, 2);
    assert!(h.extension);
    assert_eq!(h.padding_len, 3);
    assert_eq!(h.payload_offset, 28);
    assert_eq!(h.payload(&p), &[7, 7, 7]);
}

#[test]
fn malformed_rtp_is_rejected() {
    assert_eq!(RtpHeader::parse(&[0x80; 11]), Err(RtpError::TooShort(11)));
    let mut p = packet(0, 1, 1, 1, &[]);
    p[0] = 0x40;
    assert_eq!(RtpHeader::parse(&p), Err(RtpError::BadVersion(1)));
    p[0] = 0x83; // CC=3, no room
    assert_eq!(RtpHeader::parse(&p), Err(RtpError::CsrcOverrun(3)));
    p[0] = 0x90; // X, no extension header
    assert_eq!(RtpHeader::parse(&p), Err(RtpError::ExtensionOverrun));
    let mut x = packet(0, 1, 1, 1, &[0, 0, 0, 5]);
    x[0] = 0x90; // extension claims 5 words
    assert_eq!(RtpHeader::parse(&x), Err(RtpError::ExtensionOverrun));
    let mut pad = packet(0, 1, 1, 1, &[1, 0]);
    pad[0] = 0xa0; // P with count 0
    assert_eq!(RtpHeader::parse(&pad), Err(RtpError::BadPadding(0)));
    let mut pad = packet(0, 1, 1, 1, &[1, 9]);
    pad[0] = 0xa0; // P with count larger than payload
    assert_eq!(RtpHeader::parse(&pad), Err(RtpError::BadPadding(9)));
}

#[test]
fn in_place_rewrites() {
    let mut p = packet(8, 1, 2, 3, &[0xff]);
    set_sequence(&mut p, 65535).expect("len");
    set_timestamp(&mut p, 99).expect("len");
    set_ssrc(&mut p, 0x0102_0304).expect("len");
    set_payload_type(&mut p, 101).expect("len");
    let h = RtpHeader::parse(&p).expect("valid");
    assert_eq!(
        (h.sequence, h.timestamp, h.ssrc, h.payload_type),
        (65535, 99, 0x0102_0304, 101)
    );
    assert_eq!(set_sequence(&mut [0u8; 4], 1), Err(RtpError::TooShort(4)));
}

fn rr(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 201, 0, 1];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v
}

#[test]
fn rfc3550_a2_rtcp_validity() {
    let mut c = rr(7);
    c.extend_from_slice(&[0x81, 202, 0, 1, 0, 0, 0, 7]); // SDES, 1 chunk
    let h = validate_rtcp_compound(&c).expect("valid compound");
    assert_eq!((h.packet_type, h.ssrc, h.length_words), (201, 7, 1));
    assert_eq!(RtcpHeader::parse(&c[..7]), Err(RtcpError::TooShort(7)));
    let mut bad = rr(7);
    bad[0] = 0x00;
    assert_eq!(RtcpHeader::parse(&bad), Err(RtcpError::BadVersion(0)));
    bad = rr(7);
    bad[1] = 199;
    assert_eq!(RtcpHeader::parse(&bad), Err(RtcpError::BadPacketType(199)));
    bad = rr(7);
    bad[3] = 5;
    assert_eq!(RtcpHeader::parse(&bad), Err(RtcpError::LengthOverrun(5)));
    let mut trailing = rr(7);
    trailing.extend_from_slice(&[0x80, 0xc8, 0, 0]);
    assert_eq!(
        validate_rtcp_compound(&trailing),
        Err(RtcpError::CompoundMismatch)
    );
}

#[test]
fn rfc5761_s4_demux() {
    assert_eq!(demux(&rr(1)), PacketKind::Rtcp);
    assert_eq!(demux(&[0x80, 200 | 0x80]), PacketKind::Rtcp); // byte 200 = M + PT 72
    assert_eq!(demux(&packet(0, 1, 1, 1, &[])), PacketKind::Rtp);
    assert_eq!(demux(&packet(96, 1, 1, 1, &[])), PacketKind::Rtp);
    assert_eq!(demux(&[0x80, 0x80 | 63]), PacketKind::Rtp);
    assert_eq!(demux(&[0x00, 0x01, 0, 0]), PacketKind::Other); // STUN
    assert_eq!(demux(&[0x16, 0xfe]), PacketKind::Other); // DTLS
    assert_eq!(demux(&[0x80]), PacketKind::Other);
}

/// Nothing a peer sends may panic: seeded random datagrams through every parser on the packet path.
#[test]
fn random_datagrams_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = [0u8; 96];
    let (mut rtp_ok, mut rtcp_ok) = (0, 0);
    for i in 0..20_000 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        buf[0] = (buf[0] & 0x3f) | 0x80; // mostly version 2 so the deeper checks run
        if i % 3 == 0 {
            // RTCP-shaped: valid PT, small length, so compound walking is exercised.
            buf[1] = 200 + (i % 8) as u8;
            buf[2] = 0;
            buf[3] %= 24;
        }
        let p = &buf[..i % buf.len()];
        let _ = demux(p);
        if let Ok(h) = RtpHeader::parse(p) {
            assert!(h.payload_offset + h.payload_len + usize::from(h.padding_len) == p.len());
            let _ = crate::dtmf::EventPayload::parse(h.payload(p));
            rtp_ok += 1;
        }
        rtcp_ok += usize::from(RtcpHeader::parse(p).is_ok());
        let _ = validate_rtcp_compound(p);
    }
    assert!(
        rtp_ok > 1000 && rtcp_ok > 0,
        "the generator reaches valid packets ({rtp_ok}, {rtcp_ok})"
    );
}
