//! Phase timings for benchmarks: with `DH_MIGRATE_TIMINGS` set, each [`mark`] prints the
//! time since the first mark, the phase's name, the process's CPU time so far and its
//! resident set size to stderr (`timing   0.123 s  phase  (cpu 0.180 s, rss 52 MiB)`):
//! CPU time above the wall time says a phase ran on several cores.
//! Without it, a mark costs one atomic load. Not for users' output: benchmark scripts
//! and profiling only.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

/// Marks the end of a phase.
pub fn mark(phase: &str) {
    let start =
        START.get_or_init(|| std::env::var_os("DH_MIGRATE_TIMINGS").map(|_| Instant::now()));
    if let Some(t0) = start {
        let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let cpu = cpu.tv_sec as f64 + cpu.tv_nsec as f64 / 1e9;
        // Resident set size, from the second field of /proc/self/statm (pages, counted
        // as 4 KiB: the page size of the x86-64 and arm64 Linux machines this runs on).
        let rss_mib = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096 / (1024 * 1024));
        eprintln!(
            "timing {:7.3} s  {phase}  (cpu {cpu:.3} s, rss {rss_mib} MiB)",
            t0.elapsed().as_secs_f64()
        );
    }
}
