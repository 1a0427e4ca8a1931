//! The bundle size-limit flags, global to every subcommand (any of them may read a bundle),
//! resolved once into the bundle reader's process-wide [`Limits`].

use crate::bundle::{parse_size, set_limits, Limits, DEFAULT_BUNDLE_LIMIT, DEFAULT_FILE_LIMIT};

#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Largest configuration file read from a bundle (bytes, or with a K, M or G suffix;
    /// files under files/ and nodes/: 64M or this if higher); a larger one makes the bundle
    /// invalid (exit 3). Default 16M.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Largest total of configuration read from a bundle into memory. Default 256M.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub max_bundle_size: Option<u64>,
}

impl LimitArgs {
    /// Makes these the limits of every bundle read by this process.
    pub fn install(&self) {
        set_limits(Limits {
            file: self.max_file_size.unwrap_or(DEFAULT_FILE_LIMIT),
            bundle: self.max_bundle_size.unwrap_or(DEFAULT_BUNDLE_LIMIT),
        });
    }
}
