use super::*;

const SSRC: u32 = 0x1234;

fn hdr(seq: u16, ts: u32, marker: bool) -> RtpHeader {
    RtpHeader {
        payload_type: 101,
        marker,
        sequence: seq,
        timestamp: ts,
        ssrc: SSRC,
        csrc_count: 0,
        extension: false,
        padding_len: 0,
        payload_offset: 12,
        payload_len: 4,
    }
}

fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    EventPayload {
        event,
        end,
        volume: 10,
        duration,
    }
    .write(&mut b)
    .expect("4 bytes");
    b
}

/// Sends a realistic key press: start (M), updates every 20 ms (160 units), 3 end packets.
/// `skip` lists packet indexes to drop (0 = start; the last three are the end packets).
fn press(
    d: &mut DtmfDetector,
    t: Instant,
    seq0: u16,
    ts: u32,
    event: u8,
    updates: u16,
    skip: &[usize],
) {
    let total = updates * 160;
    let mut pkts = Vec::new();
    for k in 0..=updates {
        pkts.push((k * 160, false));
    }
    pkts.extend([(total, true); 3]);
    for (i, (dur, end)) in pkts.into_iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let at = t + Duration::from_millis(20 * u64::from(dur / 160));
        d.on_packet(
            at,
            &hdr(seq0 + i as u16, ts, i == 0),
            &payload(event, end, dur),
        )
        .expect("valid payload");
    }
}

fn drain(d: &mut DtmfDetector) -> Vec<DtmfEvent> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

#[test]
fn rfc4733_s2_5_2_three_end_packets_report_once() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    press(&mut d, t0, 100, 8000, 5, 10, &[]);
    let evs = drain(&mut d);
    assert_eq!(evs.len(), 1);
    let e = evs[0];
    assert_eq!(
        (e.event, e.digit, e.duration, e.duration_ms),
        (5, Some('5'), 1600, 200)
    );
    assert_eq!(
        (e.timestamp, e.ssrc, e.volume, e.end),
        (8000, SSRC, 10, DtmfEndReason::EndPacket)
    );
    assert_eq!(d.poll_timeout(), None);
    // A duplicated end packet arriving later is ignored too.
    d.on_packet(t0, &hdr(114, 8000, false), &payload(5, true, 1600))
        .expect("valid");
    d.handle_timeout(t0 + Duration::from_secs(5));
    assert!(drain(&mut d).is_empty());
}

#[test]
fn rfc4733_s2_5_2_lost_start_packet_still_detected() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    press(&mut d, t0, 1, 320, 11, 6, &[0, 1]);
    let evs = drain(&mut d);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].digit, evs[0].duration), (Some('#'), 960));
}

#[test]
fn rfc4733_s2_5_2_all_end_packets_lost_reports_on_timeout() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    press(&mut d, t0, 1, 320, 1, 4, &[5, 6, 7]);
    assert!(drain(&mut d).is_empty());
    let last = t0 + Duration::from_millis(80);
    assert_eq!(d.poll_timeout(), Some(last + Duration::from_millis(500)));
    d.handle_timeout(last + Duration::from_millis(499));
    assert!(drain(&mut d).is_empty());
    d.handle_timeout(last + Duration::from_millis(500));
    let evs = drain(&mut d);
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (evs[0].digit, evs[0].duration, evs[0].end),
        (Some('1'), 640, DtmfEndReason::Timeout)
    );
    // A straggling end packet of the reported event does not report it twice.
    d.on_packet(
        last + Duration::from_secs(1),
        &hdr(9, 320, false),
        &payload(1, true, 640),
    )
    .expect("valid");
    assert!(drain(&mut d).is_empty());
}

#[test]
fn two_digits_back_to_back() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    press(&mut d, t0, 1, 1000, 1, 5, &[]);
    press(&mut d, t0 + Duration::from_millis(200), 10, 3000, 2, 5, &[]);
    let digits: Vec<_> = drain(&mut d).iter().map(|e| (e.digit, e.end)).collect();
    assert_eq!(
        digits,
        [
            (Some('1'), DtmfEndReason::EndPacket),
            (Some('2'), DtmfEndReason::EndPacket)
        ]
    );
}

#[test]
fn new_event_before_end_supersedes_open_one() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    press(&mut d, t0, 1, 1000, 7, 5, &[6, 7, 8]); // ends of '7' lost
    // Next digit arrives with only its end packet (marker variations: no M bit anywhere).
    d.on_packet(
        t0 + Duration::from_millis(150),
        &hdr(20, 2600, false),
        &payload(9, true, 800),
    )
    .expect("valid");
    let evs = drain(&mut d);
    assert_eq!(evs.len(), 2);
    assert_eq!(
        (evs[0].digit, evs[0].duration, evs[0].end),
        (Some('7'), 800, DtmfEndReason::Superseded)
    );
    assert_eq!(
        (evs[1].digit, evs[1].duration, evs[1].end),
        (Some('9'), 800, DtmfEndReason::EndPacket)
    );
}

#[test]
fn reordered_old_packets_are_ignored() {
    let t0 = Instant::now();
    let mut d = DtmfDetector::new(DtmfDetectorConfig::default());
    d.on_packet(t0, &hdr(5, 5000, true), &payload(3, false, 160))
        .expect("valid");
    d.on_packet(t0, &hdr(4, 4000, false), &payload(2, false, 800))
        .expect("valid"); // older event's update
    d.on_packet(t0, &hdr(6, 5000, false), &payload(3, true, 320))
        .expect("valid");
    let evs = drain(&mut d);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].digit, evs[0].duration), (Some('3'), 320));
    // A timestamp far behind (new timestamp base, e.g. after a re-INVITE) is a new event, not a stale one.
    d.on_packet(
        t0,
        &hdr(8, 5000u32.wrapping_sub(8000 * 60), false),
        &payload(4, true, 480),
    )
    .expect("valid");
    assert_eq!(
        drain(&mut d).iter().map(|e| e.digit).collect::<Vec<_>>(),
        [Some('4')]
    );
    assert_eq!(
        d.on_packet(t0, &hdr(7, 6000, false), &[1, 2]),
        Err(DtmfPayloadError::TooShort(2))
    );
}
