//! Phase timings for benchmarks: with `DH_MIGRATE_TIMINGS` set, each [`mark`] prints the
//! time since the first mark and the phase's name to stderr (`timing  0.123 s  phase`).
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
        eprintln!("timing {:7.3} s  {phase}", t0.elapsed().as_secs_f64());
    }
}
