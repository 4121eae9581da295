//! Relay benchmark: the media node versus a minimal UDP forwarder (one socket per leg, one task
//! per stream) and versus a direct path with no relay, all driven in the same run by the same
//! load generator.
//!
//! Run: `cargo bench -p switchboard-media --bench relay` (about 1 minute). Both relays run for the
//! whole benchmark; the one under test (the node's worker thread or the baseline's thread) is
//! pinned to core 1 and the other one waits on core 0 at nice 19. Every other thread of
//! the process, including the generator/receiver loop, to core 0 (`taskset` on thread ids), and
//! both run at nice `NICE` (-15; needs root, `NICE=0` to leave it) so that the compile jobs of a
//! shared machine take less of their cores: the benchmark re-runs itself in its own session
//! (`setsid`) and raises that session's scheduler autogroup as well as its threads. The relay's
//! thread also gets `SCHED_FIFO` priority `RELAY_FIFO` (10; 0 = off) so that, as on a dedicated
//! core, no other task preempts it while it has packets (it sleeps when idle, so this takes
//! nothing from the machine but what the relay uses).
//!
//! 1. Latency: `LAT_STREAMS` (1000) streams x 50 packets/s for `LAT_SECS` (3) s, paced so stream
//!    `i` sends at `i * 20 ms / LAT_STREAMS` into each 20 ms period; the send time (monotonic
//!    clock) travels in the payload. Measured through the relay and on the direct path
//!    (generator -> receiver socket) right before it: added latency = through minus direct.
//!    Split into three rounds that alternate between the node and the baseline.
//! 2. Saturation: over `SAT_STREAMS` (1000) streams, the offered rate starts at `STEP_START`
//!    (40000) packets/s and rises by `STEP_PPS` (20000) per `STEP_SECS` (1) s step until a step
//!    fails (retried once; a step the generator cannot offer counts as failing), then the gap is
//!    refined in quarter steps; at most `MAX_STEPS` (20) steps per path. The node's and the
//!    baseline's searches are interleaved, one step of each in turn, so a busy minute on the
//!    shared machine weighs on both. Packets go out in bursts of `BURST` (16, one packet to each
//!    of 16 streams back to back; 1 = paced per packet like the latency runs), so the relay finds
//!    several packets per wake-up as a busy relay does. A step fails when a packet is lost or
//!    when, as sending stops, more than `MAX_BEHIND_MS` (10) ms of traffic is still in flight (a
//!    relay that cannot keep up queues in its socket buffers for a while before it drops; 1 %
//!    too slow is 10 ms behind after 1 s, while a momentary stall is a few ms) beyond the time
//!    another task held the relay's core (its `run_delay`: even a `SCHED_FIFO` thread loses 50 ms
//!    of every second to ordinary tasks waiting on its core, the kernel's fair server, and above
//!    ~90 % busy it cannot catch that up within the step). Reports the highest passing step, its
//!    50-pps stream equivalent and the relay thread's CPU per packet, and the node/baseline CPU
//!    per packet at the rates both passed (the steadier comparison). The direct path's search
//!    shows the generator's own ceiling; through a relay it is lower (~230-260k packets/s here:
//!    every packet lands in another socket, whose receive queue the relay's core empties).
//! 3. Resident memory per node session (`MEM_SESSIONS`, 1000 sessions).
//!
//! `STATS_MS` overrides the node's statistics tick (for experiments on its effect).
//!
//! Every loop is bounded in count and time; this is a benchmark: it prints, it asserts nothing.

mod load;
mod relays;
mod search;
mod setup;
mod sys;

use load::{Load, Outcome};
use relays::{Relays, latencies, relay_path};
use search::{End, Knobs, Path, Search};
use switchboard_media::{Node, NodeConfig, PortRange};

/// Resident memory a relayed session may cost (issue 3).
const RSS_TARGET: f64 = 4096.0;

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every figure of one path.
struct Measured {
    direct: Outcome,
    through: Outcome,
    sat: Search,
}

/// What to run, from the environment.
pub(crate) struct Plan {
    nice: i32,
    fifo: u32,
    lat_streams: usize,
    lat_secs: f64,
    sat_streams: usize,
    knobs: Knobs,
}

impl Plan {
    fn from_env() -> Self {
        Plan {
            nice: env_or("NICE", -15.0).clamp(-20.0, 19.0) as i32,
            fifo: env_or("RELAY_FIFO", 10.0).clamp(0.0, 99.0) as u32,
            lat_streams: env_or("LAT_STREAMS", 1000.0).clamp(1.0, 5000.0) as usize,
            lat_secs: env_or("LAT_SECS", 3.0).clamp(0.1, 60.0),
            sat_streams: env_or("SAT_STREAMS", 1000.0).clamp(1.0, 5000.0) as usize,
            knobs: Knobs {
                step_secs: env_or("STEP_SECS", 1.0).clamp(0.1, 30.0),
                start: env_or("STEP_START", 40000.0).max(100.0),
                step: env_or("STEP_PPS", 20000.0).max(100.0),
                max_steps: env_or("MAX_STEPS", 20.0).clamp(1.0, 100.0) as usize,
                burst: env_or("BURST", 16.0).clamp(1.0, 64.0) as u64,
                max_behind_ms: env_or("MAX_BEHIND_MS", 10.0).max(0.0),
            },
        }
    }

    fn streams(&self) -> usize {
        self.lat_streams.max(self.sat_streams)
    }
}

fn node_config(streams: usize) -> NodeConfig {
    // Below the kernel's ephemeral range (32768+), with slack for ports other programs hold.
    let base = 20000 + (std::process::id() % 10) as u16 * 200;
    let span = (4 * streams + 401).min(12000) as u16;
    let default = NodeConfig::default();
    // STATS_MS: the sessions' statistics tick (the node's default unless set).
    let stats_ms = env_or("STATS_MS", default.stats_interval.as_millis() as f64);
    NodeConfig {
        ports: PortRange::new(base, base + span).expect("range"),
        workers: 1,
        max_sessions: 2 * streams as u32 + 10,
        stats_interval: std::time::Duration::from_millis(stats_ms.clamp(10.0, 3_600_000.0) as u64),
        ..default
    }
}

fn main() {
    if let Some(code) = sys::rerun_in_own_session() {
        std::process::exit(code);
    }
    let plan = Plan::from_env();
    sys::pin_process(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut load = Load::new().expect("generator sockets");
    let me = std::process::id().to_string();
    println!(
        "relay benchmark: {} bytes/packet; generator+receiver on CPU {} at nice {} ({}); load {}",
        load::PKT,
        sys::allowed_cpus(&me),
        sys::renice(&me, plan.nice),
        sys::raise_session(plan.nice),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let direct_targets = vec![load.rx_addr(); plan.sat_streams];
    let direct = search::search(
        &mut load,
        &Path {
            name: "direct",
            targets: &direct_targets,
            tid: None,
            ingress_ports: Vec::new(),
        },
        &plan.knobs,
    );

    let node = Node::new(node_config(plan.streams())).expect("node");
    let node_tid = sys::tid_of("media-relay-0").expect("relay thread");
    let rss = rt.block_on(setup::session_memory(
        &node,
        env_or("MEM_SESSIONS", 1000.0).clamp(10.0, 5000.0) as usize,
    ));
    let node_in = rt.block_on(setup::node_streams(
        &node,
        plan.streams(),
        load.tx_addr(),
        load.rx_addr(),
    ));
    let base = setup::Baseline::start(plan.streams(), load.rx_addr());
    let base_tid = sys::tid_of("baseline").expect("baseline thread");
    let mut relays = Relays {
        plan: &plan,
        tids: [node_tid.clone(), base_tid.clone()],
        active: None,
        shown: [false; 2],
    };
    let [node_lat, base_lat] = latencies(&mut load, &plan, &mut relays, [&node_in, &base.ingress]);
    let paths = [
        relay_path("node", &node_in, &node_tid, plan.sat_streams),
        relay_path("baseline", &base.ingress, &base_tid, plan.sat_streams),
    ];
    let mut sats =
        search::search_interleaved(&mut load, &paths, &plan.knobs, |i| relays.activate(i))
            .into_iter();
    let (node_sat, base_sat) = (
        sats.next().expect("node search"),
        sats.next().expect("baseline search"),
    );
    rt.block_on(node.release_all("bench done"));
    base.stop();
    let node_m = Measured {
        direct: node_lat.direct,
        through: node_lat.through,
        sat: node_sat,
    };
    let base_m = Measured {
        direct: base_lat.direct,
        through: base_lat.through,
        sat: base_sat,
    };

    summary(&plan, &direct, &node_m, &base_m, rss);
}

fn end_note(end: End) -> &'static str {
    match end {
        End::Loss => "the next step lost packets or fell behind",
        End::Generator => "a lower bound: the generator could not offer the next step",
        End::Receiver => "a lower bound: the next step's loss was at the receiver's socket",
        End::Steps => "a lower bound: step limit reached",
    }
}

fn saturation_line(name: &str, s: &Search) -> f64 {
    let Some(b) = s.best() else {
        println!("  {name:9} no step without loss ({})", end_note(s.end));
        return 0.0;
    };
    let held: Vec<f64> = s
        .steps
        .iter()
        .map(search::Step::held_off_ms)
        .filter(|ms| *ms >= 1.0)
        .collect();
    let held_note = if held.is_empty() || name == "direct" {
        String::new()
    } else {
        format!(
            "; held off its core >= 1 ms in {} of {} steps (at most {:.0} ms)",
            held.len(),
            s.steps.len(),
            held.iter().copied().fold(0.0, f64::max)
        )
    };
    println!(
        "  {name:9} {:>7.0} pkt/s = {:>5.0} streams @50pps; relay CPU {:>5.0} ns/pkt ({:.0} % busy) ({}){held_note}",
        b.rate,
        b.rate / 50.0,
        b.cpu_per_pkt(),
        100.0 * b.busy(),
        end_note(s.end)
    );
    b.rate
}

/// Added latency (through minus direct) at quantile `p`, microseconds.
fn added(m: &Measured, p: f64) -> f64 {
    m.through.latency_us(p) - m.direct.latency_us(p)
}

fn summary(plan: &Plan, direct: &Search, node: &Measured, base: &Measured, rss: f64) {
    println!(
        "summary (relay pinned to CPU 1, generator/receiver to CPU 0; load {}):",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "latency, {} streams x 50 pps paced over each 20 ms, one-way (us): through p50/p99, direct p50/p99, added p50/p99",
        plan.lat_streams
    );
    for (name, m) in [("node", node), ("baseline", base)] {
        println!(
            "  {name:9} {:>7.1} {:>7.1}   {:>6.1} {:>6.1}   {:>7.1} {:>7.1}   (loss {} of {})",
            m.through.latency_us(0.5),
            m.through.latency_us(0.99),
            m.direct.latency_us(0.5),
            m.direct.latency_us(0.99),
            added(m, 0.5),
            added(m, 0.99),
            m.through.lost(),
            m.through.sent
        );
    }
    let ratio = |p: f64| {
        let b = added(base, p);
        if b > 0.0 {
            format!("{:.2}", added(node, p) / b)
        } else {
            "n/a".into()
        }
    };
    println!(
        "  target: node added p50 < 100 us ({:.1}), p99 < 1000 us ({:.1}); node/baseline added latency p50 {} p99 {}",
        added(node, 0.5),
        added(node, 0.99),
        ratio(0.5),
        ratio(0.99)
    );
    println!(
        "highest step with 0 loss and < {} ms behind, over {} streams, {} s steps, bursts of {}:",
        plan.knobs.max_behind_ms, plan.sat_streams, plan.knobs.step_secs, plan.knobs.burst
    );
    saturation_line("direct", direct);
    let n = saturation_line("node", &node.sat);
    let b = saturation_line("baseline", &base.sat);
    let bound = match (node.sat.end, base.sat.end) {
        (End::Loss, End::Loss) => "",
        (End::Generator, End::Generator) => {
            " (both relays reached the generator's ceiling: the ratio says only that neither is below it)"
        }
        _ => " (from a lower bound: see above)",
    };
    println!(
        "  ratio node/baseline packets/s: {:.1} % (target >= 85 %){bound}",
        100.0 * n / b.max(1.0)
    );
    if let Some((r, steps)) = search::cpu_ratio(&node.sat, &base.sat) {
        println!(
            "  relay CPU per packet node/baseline at the {steps} rates both passed: {r:.2} (node packets per CPU-second = {:.0} % of the baseline's)",
            100.0 / r
        );
    }
    println!(
        "node RSS per session: {rss:.0} bytes, target < {RSS_TARGET:.0} (VmRSS delta over idle sessions after their first stats publish)"
    );
}
