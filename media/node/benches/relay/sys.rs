//! Linux introspection for the relay benchmark: thread ids, CPU pinning (`taskset`), per-thread
//! CPU time, resident memory and per-socket UDP receive-queue drops. Everything is read from
//! `/proc/self`, so only this process's own threads are touched.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

/// Thread id of the first thread of this process whose name starts with `prefix` (waits up to 1 s
/// for the thread to appear).
pub(crate) fn tid_of(prefix: &str) -> Option<String> {
    for _ in 0..100 {
        if let Some(t) = find_tid(prefix) {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn find_tid(prefix: &str) -> Option<String> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    dir.flatten().find_map(|e| {
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        comm.starts_with(prefix)
            .then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// Pins every current thread of this process to `core` (threads created later inherit it).
pub(crate) fn pin_process(core: usize) {
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-apc", &core.to_string(), &pid])
        .output();
}

/// Pins one thread of this process to `core`; returns the CPU list the kernel now allows it.
pub(crate) fn pin_thread(tid: &str, core: usize) -> String {
    let _ = Command::new("taskset")
        .args(["-pc", &core.to_string(), tid])
        .output();
    allowed_cpus(tid)
}

/// The `Cpus_allowed_list` of a thread of this process ("?" when unreadable).
pub(crate) fn allowed_cpus(tid: &str) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
}

/// CPU time (user + system) a thread of this process has used, in nanoseconds: the scheduler's
/// `sum_exec_runtime` from `schedstat`, the figure `getrusage(RUSAGE_THREAD)` is derived from,
/// read from outside the thread.
pub(crate) fn thread_cpu_ns(tid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Time a thread of this process spent runnable but waiting for a CPU, in nanoseconds (the
/// scheduler's `run_delay`, second field of `schedstat`): for the relay, how long other tasks held
/// its core while it had packets to relay.
pub(crate) fn run_delay_ns(tid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of this process in KiB.
pub(crate) fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Receive-queue drops (packets the kernel discarded because the socket's buffer was full) per
/// local port, for the IPv4 UDP sockets of this network namespace.
pub(crate) fn udp_drops() -> HashMap<u16, u64> {
    let table = std::fs::read_to_string("/proc/self/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = f.get(1)?.rsplit(':').next()?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let drops = f.last()?.parse::<u64>().ok()?;
            Some((port, drops))
        })
        .collect()
}

/// Sum of the drops of `ports` in a [`udp_drops`] table.
pub(crate) fn drops_of(table: &HashMap<u16, u64>, ports: &[u16]) -> u64 {
    ports.iter().filter_map(|p| table.get(p)).sum()
}

/// How often a thread of this process was preempted (`nonvoluntary_ctxt_switches`): another
/// runnable task took its CPU, which on a shared machine is the main source of latency spikes.
pub(crate) fn preemptions(tid: &str) -> u64 {
    status_field(tid, "nonvoluntary_ctxt_switches:")
}

/// How often a thread of this process went to sleep (`voluntary_ctxt_switches`): for a relay,
/// how many times it found no packet waiting.
pub(crate) fn sleeps(tid: &str) -> u64 {
    status_field(tid, "voluntary_ctxt_switches:")
}

fn status_field(tid: &str, name: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Sets the nice value of one thread of this process (`renice`; lowering it needs root) and
/// returns the value now in force. A low nice value makes the scheduler give the benchmark's
/// threads their core before the compile jobs of a shared machine.
pub(crate) fn renice(tid: &str, nice: i32) -> i32 {
    let _ = Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", tid])
        .output();
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    // Fields after the command name start at field 3 (state); nice is field 19.
    after
        .split_whitespace()
        .nth(16)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Packets the kernel dropped because a CPU's input backlog (which loopback traffic passes
/// through) was full, summed over CPUs (machine-wide: `/proc/net/softnet_stat`, second column).
pub(crate) fn backlog_drops() -> u64 {
    let table = std::fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    table
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// Marks the re-run of the benchmark in its own session.
const OWN_SESSION: &str = "SWITCHBOARD_RELAY_BENCH_SESSION";

/// With the scheduler's autogroups, a thread's nice value only counts inside its session's
/// group, and every session's group gets an equal share of a CPU. So the benchmark re-runs itself
/// in a session of its own (`setsid --wait`) whose group it can then raise ([`raise_session`]).
/// Returns the exit code in the parent; `None` in the re-run (or when `setsid` cannot be run,
/// in which case the benchmark runs in the caller's session).
pub(crate) fn rerun_in_own_session() -> Option<i32> {
    if std::env::var_os(OWN_SESSION).is_some() {
        exit_with_parent();
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let status = Command::new("setsid")
        .arg("--wait")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(OWN_SESSION, "1")
        .status()
        .ok()?;
    Some(status.code().unwrap_or(1))
}

/// Sets the nice value of this process's autogroup (only when it runs in its own session, see
/// [`rerun_in_own_session`]; lowering it needs root) and returns the group's line as read back.
pub(crate) fn raise_session(nice: i32) -> String {
    if std::env::var_os(OWN_SESSION).is_some() {
        let _ = std::fs::write("/proc/self/autogroup", nice.to_string());
    }
    std::fs::read_to_string("/proc/self/autogroup")
        .unwrap_or_else(|_| "no autogroup".into())
        .trim()
        .to_owned()
}

/// Gives one thread of this process the real-time `SCHED_FIFO` policy at `priority` (`chrt`;
/// needs root) so no ordinary task preempts it: the relay then has its core to itself whenever it
/// has work, as on a dedicated core (the kernel still keeps 5 % of each second for others).
/// Returns the policy now in force ("SCHED_FIFO 10" or "SCHED_OTHER").
pub(crate) fn realtime(tid: &str, priority: u32) -> String {
    let _ = Command::new("chrt")
        .args(["-f", "-p", &priority.to_string(), tid])
        .output();
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 40 (rt_priority) and 41 (policy), counted from 1 with the state as field 3.
    match (f.get(37), f.get(38)) {
        (Some(prio), Some(&"1")) => format!("SCHED_FIFO {prio}"),
        _ => "SCHED_OTHER".to_owned(),
    }
}

/// Gives one thread of this process the ordinary `SCHED_OTHER` policy back (`chrt`).
pub(crate) fn ordinary(tid: &str) {
    let _ = Command::new("chrt").args(["-o", "-p", "0", tid]).output();
}

/// In the re-run: a thread that ends this process when the parent that waits for it is gone
/// (interrupted or killed), since signals sent to the caller's session do not reach this one.
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            while std::os::unix::process::parent_id() == parent {
                std::thread::sleep(Duration::from_millis(200));
            }
            std::process::exit(130);
        });
}
