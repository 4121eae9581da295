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
