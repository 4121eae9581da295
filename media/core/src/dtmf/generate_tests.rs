use super::*;
use crate::dtmf::{DtmfDetector, DtmfDetectorConfig, DtmfEndReason};

fn cfg20() -> DtmfGeneratorConfig {
    DtmfGeneratorConfig {
        ptime: Duration::from_millis(20),
        ..DtmfGeneratorConfig::default()
    }
}

/// Polls the generator every ms for one second, collecting (sent_at, packet bytes).
fn run(g: &mut DtmfGenerator, t0: Instant) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    for ms in 0..1000 {
        let now = t0 + Duration::from_millis(ms);
        while let Some(n) = g.poll_transmit(now, &mut buf) {
            out.push((now, buf[..n].to_vec()));
        }
    }
    out
}

#[test]
fn rfc4733_s2_5_1_packet_by_packet() {
    let t0 = Instant::now();
    let mut g = DtmfGenerator::new(cfg20());
    let stream = OutboundStream {
        ssrc: 0xcafe,
        last_seq: 65533,
        last_ts: 16000,
        last_sent_at: t0 - Duration::from_millis(20),
    };
    g.start(t0, 7, Duration::from_millis(100), stream)
        .expect("idle");
    assert!(g.is_active());
    assert_eq!(
        g.start(t0, 1, Duration::from_millis(100), stream),
        Err(DtmfGeneratorError::Busy)
    );
    let pkts = run(&mut g, t0);
    assert!(!g.is_active());
    assert_eq!(g.poll_timeout(), None);
    assert_eq!(pkts.len(), 8, "5 start/update packets + 3 end packets");
    let mut expected_seq = 65534u16;
    for (i, (at, p)) in pkts.iter().enumerate() {
        let h = RtpHeader::parse(p).expect("valid RTP");
        let e = EventPayload::parse(h.payload(p)).expect("event");
        assert_eq!(h.payload_type, 101);
        assert_eq!(h.ssrc, 0xcafe);
        assert_eq!(h.timestamp, 16160, "event timestamp = last_ts + 20 ms");
        assert_eq!(h.marker, i == 0, "marker only on the first packet");
        assert_eq!(h.sequence, expected_seq, "contiguous sequence numbers");
        expected_seq = expected_seq.wrapping_add(1);
        assert_eq!((e.event, e.volume), (7, 10));
        let k = i.min(5) as u64;
        assert_eq!(*at, t0 + Duration::from_millis(20 * k));
        if i < 5 {
            assert!(!e.end);
            assert_eq!(
                e.duration,
                160 * i as u16,
                "durations increase by one ptime"
            );
        } else {
            assert!(e.end, "three end packets with the E bit");
            assert_eq!(e.duration, 800);
        }
    }
    assert_eq!(expected_seq, 6, "sequence wrapped through 65535");
}

#[test]
fn generated_event_is_detected_once() {
    let t0 = Instant::now();
    let mut g = DtmfGenerator::new(DtmfGeneratorConfig::default());
    let stream = OutboundStream {
        ssrc: 9,
        last_seq: 10,
        last_ts: 0,
        last_sent_at: t0,
    };
    g.start(t0, 11, Duration::from_millis(250), stream)
        .expect("idle");
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    for (at, p) in run(&mut g, t0) {
        let h = RtpHeader::parse(&p).expect("valid");
        d.on_packet(at, &h, h.payload(&p)).expect("valid event");
    }
    let ev = d.poll_event().expect("one event");
    assert_eq!(
        (ev.digit, ev.duration_ms, ev.end),
        (Some('#'), 250, DtmfEndReason::EndPacket)
    );
    assert_eq!(d.poll_event(), None);
}

#[test]
fn start_rejects_bad_input_and_short_buffer_waits() {
    let t0 = Instant::now();
    let stream = OutboundStream {
        ssrc: 1,
        last_seq: 1,
        last_ts: 1,
        last_sent_at: t0,
    };
    let mut g = DtmfGenerator::new(DtmfGeneratorConfig::default());
    assert_eq!(
        g.start(t0, 17, Duration::from_millis(100), stream),
        Err(DtmfGeneratorError::BadEvent(17))
    );
    assert_eq!(
        g.start(t0, 1, Duration::ZERO, stream),
        Err(DtmfGeneratorError::BadDuration)
    );
    assert_eq!(
        g.start(t0, 1, Duration::from_secs(9), stream),
        Err(DtmfGeneratorError::BadDuration)
    );
    g.start(t0, 1, Duration::from_millis(100), stream)
        .expect("idle");
    assert_eq!(g.poll_transmit(t0, &mut [0u8; 15]), None);
    assert_eq!(g.poll_transmit(t0, &mut [0u8; 16]), Some(16));
    assert_eq!(
        g.poll_transmit(t0, &mut [0u8; 16]),
        None,
        "next update not due yet"
    );
    assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_millis(50)));
}

#[test]
fn seq_offset_keeps_relayed_stream_contiguous() {
    // Audio 100..=102 relayed, then 8 event packets inserted (103..=110) while audio 103..=107 is
    // suppressed; audio 108 must go out as 111.
    let mut off = SeqOffset::default();
    off.inserted(8);
    off.suppressed(5);
    let mut p = vec![0u8; 12];
    write_header(&mut p, 0, false, 108, 0, 1).expect("12 bytes");
    let h = RtpHeader::parse(&p).expect("valid");
    assert_eq!(off.apply(&mut p, &h), Ok(111));
    assert_eq!(RtpHeader::parse(&p).expect("valid").sequence, 111);
    assert_eq!(off.value(), 3);
}
