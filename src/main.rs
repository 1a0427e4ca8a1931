//! The `dh-migrate` binary: everything lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    dh_migrate::cli::main()
}
