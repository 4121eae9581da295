use super::*;

fn hdr(seq: u16, ts: u32) -> RtpHeader {
    RtpHeader {
        payload_type: 0,
        marker: false,
        sequence: seq,
        timestamp: ts,
        ssrc: 1,
        csrc_count: 0,
        extension: false,
        padding_len: 0,
        payload_offset: 12,
        payload_len: 160,
    }
}

/// Hand-computed: 8 kHz, 20 ms packets. Probation swallows the first packet; seq wraps 65535 → 0; seq 1
/// is lost; packet 4 arrives 5 ms late and packet 5 on time.
///   arrival(ts units) / transit / |D| / J·16 (integer A.8): 0/-160/-/0, 160/-160/0/0, 520/-120/40/40,
///   640/-160/40/40+40-3=77 → J = 4 (float J = 4.84).
///   expected = (65536+3) - 65535 + 1 = 5, received = 4, lost = 1, fraction = 256/5 = 51.
#[test]
fn rfc3550_a1_a3_a8_wraparound_loss_and_jitter() {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    let mut s = StreamStats::new(StatsConfig::default());
    for (seq, ts, at) in [
        (65534u16, 0u32, 0u64),
        (65535, 160, 20),
        (0, 320, 40),
        (2, 640, 85),
        (3, 800, 100),
    ] {
        s.on_rtp(ms(at), &hdr(seq, ts), 172);
    }
    let snap = s.snapshot(true);
    assert_eq!(snap.packets, 5);
    assert_eq!(snap.bytes, 5 * 172);
    assert_eq!(snap.received, 4);
    assert_eq!(snap.expected, 5);
    assert_eq!(snap.lost, 1);
    assert_eq!(snap.fraction_lost, 51);
    assert_eq!(snap.extended_max_seq, 65536 + 3);
    assert_eq!(snap.jitter, 4);
    assert_eq!(snap.jitter_us, 500);
    assert_eq!(snap.last_seen, Some(ms(100)));
    // Next interval: 2 more in-order packets, no loss.
    s.on_rtp(ms(120), &hdr(4, 960), 172);
    s.on_rtp(ms(140), &hdr(5, 1120), 172);
    let snap = s.snapshot(true);
    assert_eq!(
        (snap.expected, snap.received, snap.lost, snap.fraction_lost),
        (7, 6, 1, 0)
    );
}

#[test]
fn rfc3550_a1_probation_restarts_on_out_of_order() {
    let t0 = Instant::now();
    let mut s = StreamStats::new(StatsConfig::default());
    s.on_rtp(t0, &hdr(10, 0), 20);
    s.on_rtp(t0, &hdr(50, 0), 20); // not sequential: probation restarts at 50
    assert_eq!(s.snapshot(false).received, 0);
    s.on_rtp(t0, &hdr(51, 0), 20);
    let snap = s.snapshot(false);
    assert_eq!((snap.received, snap.expected, snap.lost), (1, 1, 0));
}

#[test]
fn rfc3550_a1_large_jump_resyncs_after_two_packets() {
    let t0 = Instant::now();
    let mut s = StreamStats::new(StatsConfig {
        probation: 0,
        ..StatsConfig::default()
    });
    s.on_rtp(t0, &hdr(100, 0), 20);
    s.on_rtp(t0, &hdr(101, 160), 20);
    s.on_rtp(t0, &hdr(40000, 320), 20); // bad_seq remembered, not counted
    assert_eq!(s.snapshot(false).received, 2);
    s.on_rtp(t0, &hdr(40001, 480), 20); // sequential with bad_seq: source restarted
    let snap = s.snapshot(false);
    assert_eq!((snap.received, snap.expected, snap.lost), (1, 1, 0));
    s.on_rtp(t0, &hdr(40002, 640), 20);
    let snap = s.snapshot(false);
    assert_eq!((snap.received, snap.expected, snap.lost), (2, 2, 0));
}

#[test]
fn drop_counters_and_rtcp() {
    let t0 = Instant::now();
    let mut s = StreamStats::new(StatsConfig::default());
    s.on_malformed();
    s.on_foreign_source();
    s.on_foreign_source();
    s.on_auth_failed();
    s.on_rtcp(t0);
    let snap = s.snapshot(false);
    assert_eq!(
        (
            snap.malformed,
            snap.foreign_source,
            snap.auth_failed,
            snap.rtcp_packets
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(
        s.silent_for(t0 + Duration::from_secs(2)),
        Some(Duration::from_secs(2))
    );
}

#[test]
fn hostile_timestamps_do_not_overflow_jitter() {
    let t0 = Instant::now();
    let mut s = StreamStats::new(StatsConfig {
        probation: 0,
        ..StatsConfig::default()
    });
    for i in 0..200u16 {
        let ts = if i % 2 == 0 { 0 } else { 0x7fff_ffff };
        s.on_rtp(t0, &hdr(i, ts), 12);
    }
    let snap = s.snapshot(false);
    assert!(
        snap.jitter > 0x7000_0000,
        "jitter converges towards |D| = 2^31 - 1"
    );
    assert_eq!((snap.received, snap.lost), (200, 0));
}
