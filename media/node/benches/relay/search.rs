//! The stepped 0-loss saturation search: the offered rate rises in fixed steps until a step loses
//! packets, then the gap below that step is refined in quarter steps. Bounded by `max_steps`
//! measured steps (each `step_secs` plus at most 1 s of drain, a lossy step measured twice).

use std::net::SocketAddr;
use std::time::Instant;

use crate::load::Load;
use crate::sys;

/// Search parameters (from the environment, see `main`).
pub(crate) struct Knobs {
    /// Seconds each step sends for.
    pub(crate) step_secs: f64,
    /// First offered rate, packets/s.
    pub(crate) start: f64,
    /// Coarse increment, packets/s.
    pub(crate) step: f64,
    /// Most steps measured per relay.
    pub(crate) max_steps: usize,
    /// Packets sent back to back per due time.
    pub(crate) burst: u64,
    /// A step whose relay is further behind than this when sending stops fails, lost or not.
    pub(crate) max_behind_ms: f64,
}

/// The path under test.
pub(crate) struct Path<'a> {
    /// Name printed in front of each line.
    pub(crate) name: &'static str,
    /// One generator target per stream.
    pub(crate) targets: &'a [SocketAddr],
    /// The relay's thread (for its CPU time), none for the direct path.
    pub(crate) tid: Option<&'a str>,
    /// The relay's ingress ports (for their receive-queue drops).
    pub(crate) ingress_ports: Vec<u16>,
}

/// One measured step.
pub(crate) struct Step {
    /// Rate asked for, packets/s.
    pub(crate) rate: f64,
    /// Rate the generator achieved, packets/s.
    pub(crate) offered: f64,
    /// Packets received.
    pub(crate) got: u64,
    /// Packets sent and not received.
    pub(crate) lost: u64,
    /// The step passed: nothing lost and not too far behind (set by the search).
    pub(crate) passed: bool,
    /// How far the relay was behind when sending stopped, in milliseconds of offered traffic
    /// (packets in flight / rate): a relay that cannot keep up builds a queue in its socket
    /// buffers before it drops anything.
    pub(crate) behind_ms: f64,
    /// Of those, dropped at the receiver's socket (a measurement limit, not the relay's).
    pub(crate) rx_drops: u64,
    /// Of those, dropped at the relay's ingress sockets (the relay did not keep up).
    pub(crate) relay_drops: u64,
    /// Of those, dropped at a full loopback input backlog (machine-wide counter).
    pub(crate) backlog_drops: u64,
    /// Relay thread CPU time during the step, ns.
    pub(crate) cpu_ns: u64,
    /// Generator thread CPU time during the step, ns.
    pub(crate) gen_cpu_ns: u64,
    /// Times the relay thread was preempted by another task during the step.
    pub(crate) relay_preempted: u64,
    /// Time the relay thread was runnable but waited for its CPU (another task ran), ns.
    pub(crate) relay_waited_ns: u64,
    /// Times the relay thread went to sleep (found nothing to do) during the step.
    pub(crate) relay_sleeps: u64,
    /// Times the generator thread was preempted during the step.
    pub(crate) gen_preempted: u64,
    /// Wall time of the step (sending and draining), ns.
    pub(crate) wall_ns: u64,
}

impl Step {
    /// Milliseconds another task held the relay's core while it had work (see [`Self::ok`]).
    pub(crate) fn held_off_ms(&self) -> f64 {
        self.relay_waited_ns as f64 / 1e6
    }

    /// Nothing lost, and the relay kept up: at most `max_behind_ms` of traffic in flight beyond
    /// the time another task held its core. On this shared machine the kernel gives ordinary
    /// tasks 50 ms of every second even on a core where a `SCHED_FIFO` relay is busy (the fair
    /// server); a relay held off for 50 ms is 50 ms behind through no fault of its own, and one
    /// above 90 % busy cannot catch up before the step ends. Without this allowance a step's
    /// verdict depended on whether a compile job happened to be runnable on the relay's core.
    fn ok(&self, max_behind_ms: f64) -> bool {
        self.lost == 0 && self.behind_ms - self.held_off_ms() <= max_behind_ms
    }

    /// The generator delivered (almost) the rate asked for.
    fn on_rate(&self) -> bool {
        self.offered >= 0.98 * self.rate
    }

    /// Relay CPU per relayed packet, ns.
    pub(crate) fn cpu_per_pkt(&self) -> f64 {
        self.cpu_ns as f64 / self.got.max(1) as f64
    }

    /// Fraction of the step the relay thread was on a CPU.
    pub(crate) fn busy(&self) -> f64 {
        self.cpu_ns as f64 / self.wall_ns.max(1) as f64
    }
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The relay lost packets or fell behind (at the refined step above the best one).
    Loss,
    /// The generator could not offer the step's rate: the measurement's ceiling, not the relay's.
    Generator,
    /// Every lost packet was dropped at the receiver's socket: the measurement's ceiling.
    Receiver,
    /// `max_steps` reached without loss.
    Steps,
}

/// A finished search.
pub(crate) struct Search {
    /// Every step that counted (a retried step appears once, with its second measurement).
    pub(crate) steps: Vec<Step>,
    /// Index of the highest step with 0 loss.
    pub(crate) best: Option<usize>,
    /// Why it ended.
    pub(crate) end: End,
}

impl Search {
    /// The highest 0-loss step.
    pub(crate) fn best(&self) -> Option<&Step> {
        self.best.and_then(|i| self.steps.get(i))
    }
}

fn measure(load: &mut Load, path: &Path<'_>, rate: f64, k: &Knobs) -> Step {
    let me = std::process::id().to_string();
    let threads = |f: fn(&str) -> u64| (path.tid.map_or(0, f), f(&me));
    let (drops0, backlog0) = (sys::udp_drops(), sys::backlog_drops());
    let (cpu0, pre0) = (threads(sys::thread_cpu_ns), threads(sys::preemptions));
    let sleeps0 = path.tid.map_or(0, sys::sleeps);
    let waited0 = path.tid.map_or(0, sys::run_delay_ns);
    let t = Instant::now();
    let out = load.run(path.targets, (rate, k.step_secs, k.burst), false);
    let wall_ns = t.elapsed().as_nanos() as u64;
    let (cpu1, pre1, drops1) = (
        threads(sys::thread_cpu_ns),
        threads(sys::preemptions),
        sys::udp_drops(),
    );
    let delta =
        |ports: &[u16]| sys::drops_of(&drops1, ports).saturating_sub(sys::drops_of(&drops0, ports));
    Step {
        rate,
        offered: out.offered(),
        got: out.got,
        lost: out.lost(),
        passed: false,
        behind_ms: out.in_flight as f64 * 1000.0 / rate,
        rx_drops: delta(&[load.rx_addr().port()]),
        relay_drops: delta(&path.ingress_ports),
        backlog_drops: sys::backlog_drops().saturating_sub(backlog0),
        cpu_ns: cpu1.0.saturating_sub(cpu0.0),
        gen_cpu_ns: cpu1.1.saturating_sub(cpu0.1),
        relay_preempted: pre1.0.saturating_sub(pre0.0),
        relay_sleeps: path.tid.map_or(0, sys::sleeps).saturating_sub(sleeps0),
        relay_waited_ns: path
            .tid
            .map_or(0, sys::run_delay_ns)
            .saturating_sub(waited0),
        gen_preempted: pre1.1.saturating_sub(pre0.1),
        wall_ns,
    }
}

fn print(path: &Path<'_>, s: &Step, note: &str) {
    let relay = if path.tid.is_some() {
        format!(
            "; relay {:>4.0} ns/pkt, {:>3.0} % busy, slept {}, preempted {} (held off {:.1} ms)",
            s.cpu_per_pkt(),
            100.0 * s.busy(),
            s.relay_sleeps,
            s.relay_preempted,
            s.held_off_ms()
        )
    } else {
        String::new()
    };
    println!(
        "  {:9} step {:>7.0} pkt/s: offered {:>7.0}, lost {:>5} (at receiver {}, at relay {}, in backlog {}), behind {:>5.2} ms; generator {:>3.0} % busy, preempted {}{relay}{note}",
        path.name,
        s.rate,
        s.offered,
        s.lost,
        s.rx_drops,
        s.relay_drops,
        s.backlog_drops,
        s.behind_ms,
        100.0 * s.gen_cpu_ns as f64 / s.wall_ns.max(1) as f64,
        s.gen_preempted
    );
}

/// Where a search is: the next rate to measure, the increment, the lowest failing rate.
struct Progress {
    rate: f64,
    inc: f64,
    ceiling: f64,
    /// Why the step at `ceiling` failed.
    ceiling_end: End,
    measured: usize,
    done: bool,
}

impl Search {
    fn new(k: &Knobs) -> (Self, Progress) {
        let search = Search {
            steps: Vec::new(),
            best: None,
            end: End::Steps,
        };
        let progress = Progress {
            rate: k.start,
            inc: k.step,
            ceiling: f64::INFINITY,
            ceiling_end: End::Loss,
            measured: 0,
            done: false,
        };
        (search, progress)
    }

    /// Measures the next step (a failing one twice), printing it; marks `p` done when finished.
    fn advance(&mut self, p: &mut Progress, load: &mut Load, path: &Path<'_>, k: &Knobs) {
        if p.measured >= k.max_steps || p.rate >= p.ceiling - 1.0 {
            p.done = true;
            return;
        }
        let mut s = measure(load, path, p.rate, k);
        p.measured += 1;
        if !(s.ok(k.max_behind_ms) && s.on_rate()) && p.measured < k.max_steps {
            // One retry tells a transient (another process on the relay's or the generator's
            // core) from the limit.
            print(path, &s, " -> retried");
            s = measure(load, path, p.rate, k);
            p.measured += 1;
        }
        let (ok, on_rate) = (s.ok(k.max_behind_ms), s.on_rate());
        s.passed = ok && on_rate;
        print(path, &s, if s.passed { "" } else { " -> fails" });
        let rx_bound = s.lost > 0 && s.rx_drops >= s.lost;
        self.steps.push(s);
        if ok && on_rate {
            self.best = Some(self.steps.len() - 1);
            p.rate += p.inc;
            return;
        }
        // A step the generator could not offer is refined below like a failing one: both relays
        // then end within a quarter step of the generator's ceiling instead of wherever the
        // generator first stumbled.
        self.end = match (on_rate, rx_bound) {
            (false, _) => End::Generator,
            (true, true) => End::Receiver,
            (true, false) => End::Loss,
        };
        p.ceiling_end = self.end;
        if rx_bound || p.ceiling.is_finite() {
            p.done = true;
        } else {
            p.ceiling = p.rate;
            p.inc /= 4.0;
            p.rate = self.best().map_or(p.inc, |b| b.rate + p.inc);
        }
    }

    fn finish(mut self, p: &Progress) -> Self {
        if self.best.is_some_and(|i| i + 1 == self.steps.len()) && p.ceiling.is_finite() {
            self.end = p.ceiling_end; // refined up to the step that failed
        }
        self
    }
}

/// Runs the search on `path`, printing every step.
pub(crate) fn search(load: &mut Load, path: &Path<'_>, k: &Knobs) -> Search {
    let (mut s, mut p) = Search::new(k);
    while !p.done {
        s.advance(&mut p, load, path, k);
    }
    s.finish(&p)
}

/// Runs the searches of several relays interleaved, one step of each in turn, so that what else
/// the machine does at a given moment weighs on all of them alike (a sequential search gives one
/// relay a quiet minute and the other a busy one). `activate(i)` is called before each step of
/// relay `i` (to give it the measured core).
pub(crate) fn search_interleaved(
    load: &mut Load,
    paths: &[Path<'_>],
    k: &Knobs,
    mut activate: impl FnMut(usize),
) -> Vec<Search> {
    let mut state: Vec<(Search, Progress)> = paths.iter().map(|_| Search::new(k)).collect();
    while state.iter().any(|(_, p)| !p.done) {
        for (i, (s, p)) in state.iter_mut().enumerate() {
            if p.done {
                continue;
            }
            activate(i);
            s.advance(p, load, &paths[i], k);
        }
    }
    state.into_iter().map(|(s, p)| s.finish(&p)).collect()
}

/// Mean of `a`'s over `b`'s relay CPU per packet at the rates both searches passed, and how
/// many such rates there were.
pub(crate) fn cpu_ratio(a: &Search, b: &Search) -> Option<(f64, usize)> {
    let passed = |s: &Search| -> Vec<(u64, f64)> {
        s.steps
            .iter()
            .filter(|st| st.passed)
            .map(|st| (st.rate as u64, st.cpu_per_pkt()))
            .collect()
    };
    let (pa, pb) = (passed(a), passed(b));
    let ratios: Vec<f64> = pa
        .iter()
        .filter_map(|(rate, ca)| pb.iter().find(|(r, _)| r == rate).map(|(_, cb)| ca / cb))
        .collect();
    (!ratios.is_empty()).then(|| {
        (
            ratios.iter().sum::<f64>() / ratios.len() as f64,
            ratios.len(),
        )
    })
}
