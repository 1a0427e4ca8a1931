//! The `dh-migrate` binary: everything lives in the library; this only hands over.

/// Parsing thousands of configuration files makes millions of small allocations on a few
/// threads; mimalloc serves them with far less locking and heap growth than glibc's malloc.
/// The `system-alloc` feature leaves the system allocator in place, for heap profilers
/// (valgrind's massif) that watch malloc.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dh_migrate::cli::main()
}
