//! The two relays under test, both running for the whole benchmark: which one has the measured
//! core, and their latency runs.

use std::net::SocketAddr;

use crate::load::{Load, Outcome};
use crate::search::Path;
use crate::{Plan, sys};

/// Latency of one path: through the relay, and on the direct path right before it.
pub(crate) struct Latency {
    pub(crate) direct: Outcome,
    pub(crate) through: Outcome,
}

/// Rounds the latency runs are split into, alternating between the relays.
const LAT_ROUNDS: usize = 3;

/// The latency runs of both relays (`targets[i]` has one address per stream of relay `i`), in
/// [`LAT_ROUNDS`] rounds that alternate between them (each round: the direct path, then through
/// the relay), so a busy moment of the machine weighs on both.
pub(crate) fn latencies(
    load: &mut Load,
    plan: &Plan,
    relays: &mut Relays<'_>,
    targets: [&[SocketAddr]; 2],
) -> [Latency; 2] {
    let rate = 50.0 * plan.lat_streams as f64;
    let secs = plan.lat_secs / LAT_ROUNDS as f64;
    let direct_targets = vec![load.rx_addr(); plan.lat_streams];
    let mut out: [Option<Latency>; 2] = [None, None];
    let mut cpu = [(0u64, 0u64); 2];
    for _ in 0..LAT_ROUNDS {
        for (i, lat) in targets.iter().enumerate() {
            let lat = &lat[..plan.lat_streams];
            relays.activate(i);
            let tid = relays.tids[i].clone();
            load.run(lat, (rate, 0.2, 1), false); // warm-up: latching, caches, socket buffers
            let direct = load.run(&direct_targets, (rate, secs, 1), true);
            let (pre0, cpu0) = (sys::preemptions(&tid), sys::thread_cpu_ns(&tid));
            let through = load.run(lat, (rate, secs, 1), true);
            cpu[i].0 += sys::preemptions(&tid) - pre0;
            cpu[i].1 += sys::thread_cpu_ns(&tid) - cpu0;
            out[i] = Some(match out[i].take() {
                None => Latency { direct, through },
                Some(mut l) => {
                    l.direct.merge(direct);
                    l.through.merge(through);
                    l
                }
            });
        }
    }
    let [Some(node), Some(base)] = out else {
        unreachable!("LAT_ROUNDS > 0")
    };
    for (i, l) in [&node, &base].into_iter().enumerate() {
        let (through, direct) = (&l.through, &l.direct);
        println!(
            "  {:9} latency: through p50 {:.1} us p99 {:.1} us max {:.0} us (loss {}), direct p50 {:.1} us p99 {:.1} us; \
             relay {:.0} ns/pkt, preempted {}",
            Relays::NAMES[i],
            through.latency_us(0.5),
            through.latency_us(0.99),
            through.latency_us(1.0),
            through.lost(),
            direct.latency_us(0.5),
            direct.latency_us(0.99),
            cpu[i].1 as f64 / through.got.max(1) as f64,
            cpu[i].0
        );
    }
    [node, base]
}

/// The saturation search's view of a relay: its first `streams` ingress addresses, its thread.
pub(crate) fn relay_path<'a>(
    name: &'static str,
    targets: &'a [SocketAddr],
    tid: &'a str,
    streams: usize,
) -> Path<'a> {
    Path {
        name,
        targets: &targets[..streams],
        tid: Some(tid),
        ingress_ports: targets.iter().map(SocketAddr::port).collect(),
    }
}

/// The two relays under test, both running; one at a time has the measured core.
pub(crate) struct Relays<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) tids: [String; 2],
    pub(crate) active: Option<usize>,
    /// Relays whose placement was printed (at their first activation).
    pub(crate) shown: [bool; 2],
}

impl Relays<'_> {
    pub(crate) const NAMES: [&'static str; 2] = ["node", "baseline"];

    /// Gives relay `i` core 1 at real-time priority and moves the other one to core 0 at the
    /// lowest priority, where its idle work (the node's statistics ticks) cannot take the
    /// measured relay's core or delay the generator.
    pub(crate) fn activate(&mut self, i: usize) {
        if self.active == Some(i) {
            return;
        }
        for (j, tid) in self.tids.iter().enumerate() {
            if j != i {
                sys::ordinary(tid);
                sys::renice(tid, 19);
                sys::pin_thread(tid, 0);
            }
        }
        prepare_relay(Self::NAMES[i], &self.tids[i], self.plan, self.shown[i]);
        self.shown[i] = true;
        self.active = Some(i);
    }
}

/// Pins the relay's thread to core 1 and raises its priority (printing the outcome unless `quiet`).
fn prepare_relay(name: &str, tid: &str, plan: &Plan, quiet: bool) {
    let cpus = sys::pin_thread(tid, 1);
    let nice = sys::renice(tid, plan.nice);
    let policy = if plan.fifo > 0 {
        sys::realtime(tid, plan.fifo)
    } else {
        "SCHED_OTHER".to_owned()
    };
    if !quiet {
        println!("  {name} thread on CPU {cpus}, nice {nice}, {policy}");
    }
}
