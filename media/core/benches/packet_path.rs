//! Per-packet cost of the sans-IO packet path: parse + latch + stats, DTMF detection, SRTP.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_media_core::dtmf::{DtmfDetector, DtmfDetectorConfig, EventPayload};
use switchboard_media_core::latch::{LatchConfig, SourceLatch};
use switchboard_media_core::rtp::{RtpHeader, set_sequence, write_header};
use switchboard_media_core::srtp::{SdesCrypto, SrtpSession, SrtpSuite};
use switchboard_media_core::stats::{StatsConfig, StreamStats};

fn packet(seq: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0xd5u8; len];
    write_header(&mut p, 0, false, seq, u32::from(seq) * 160, 7).expect("len >= 12");
    p
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();
    let src: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
    let mut pkt = packet(1, 172);
    let mut latch = SourceLatch::new(LatchConfig::default(), None);
    let mut stats = StreamStats::new(StatsConfig::default());
    let mut seq = 0u16;
    c.bench_function("rtp_parse_latch_stats", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            set_sequence(&mut pkt, seq).expect("len");
            let h = RtpHeader::parse(black_box(&pkt)).expect("valid");
            let now = t0 + Duration::from_millis(u64::from(seq) * 20);
            black_box(latch.on_packet(now, src));
            stats.on_rtp(now, &h, pkt.len());
        })
    });

    let mut det = DtmfDetector::new(DtmfDetectorConfig::default());
    let mut ev = packet(1, 16);
    let mut k = 0u32;
    c.bench_function("dtmf_detect_packet", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            let dur = (k % 10) as u16 * 160;
            EventPayload {
                event: 5,
                end: k % 10 == 9,
                volume: 10,
                duration: dur,
            }
            .write(&mut ev[12..])
            .expect("4");
            let mut h = RtpHeader::parse(&ev).expect("valid");
            h.timestamp = k / 10 * 8000;
            det.on_packet(t0, &h, h.payload(&ev)).expect("valid");
            black_box(det.poll_event());
        })
    });

    let a = SdesCrypto::generate(1, SrtpSuite::AesCm128HmacSha1_80, &[1; 30]);
    let z = SdesCrypto::generate(1, SrtpSuite::AesCm128HmacSha1_80, &[2; 30]);
    let mut node = SrtpSession::new(&a, &z).expect("keys");
    let mut phone = SrtpSession::new(&z, &a).expect("keys");
    let (mut wire, mut plain) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut s = 0u16;
    c.bench_function("srtp_protect_unprotect_172B", |b| {
        b.iter(|| {
            s = s.wrapping_add(1);
            let p = packet(s, 172);
            node.protect_rtp(&p, &mut wire).expect("protect");
            phone.unprotect_rtp(&wire, &mut plain).expect("unprotect");
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
