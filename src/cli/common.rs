//! Pieces several subcommands share: opening a bundle with a progress bar, turning core
//! errors into CLI errors, choosing an output format.

use crate::bundle::{Bundle, BundleError, Progress};
use crate::error::{CliError, ErrorKind};
use crate::tree::{ConfigTree, TreeError};
use std::io::IsTerminal;
use std::path::Path;

/// Output formats for data printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

impl From<BundleError> for CliError {
    fn from(e: BundleError) -> CliError {
        let kind = match &e {
            BundleError::NotUtf8 { .. } => ErrorKind::Parse,
            _ => ErrorKind::Bundle,
        };
        CliError::new(kind, e.to_string())
    }
}

impl From<TreeError> for CliError {
    fn from(e: TreeError) -> CliError {
        match e {
            TreeError::Bundle(b) => b.into(),
            e @ TreeError::Parse { .. } => CliError::new(ErrorKind::Parse, e.to_string()),
        }
    }
}

/// Opens and verifies a bundle (or a target directory), showing progress on a terminal,
/// then parses its configuration files.
pub fn open_tree(path: &Path) -> Result<(Bundle, ConfigTree), CliError> {
    let bundle = open_bundle(path)?;
    let tree = ConfigTree::from_bundle(&bundle)?;
    Ok((bundle, tree))
}

/// Opens and verifies a bundle (or a target directory), showing progress on a terminal.
pub fn open_bundle(path: &Path) -> Result<Bundle, CliError> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("reading bundle");
        bar
    });
    let mut on_progress = |p: Progress| {
        if let Some(bar) = &bar {
            match p {
                Progress::Started { total_bytes } => bar.set_length(total_bytes.unwrap_or(0)),
                Progress::Advanced { bytes } => bar.set_position(bytes),
                Progress::Finished => bar.finish_and_clear(),
            }
        }
    };
    let bundle = Bundle::open_with_progress(path, &mut on_progress)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(bundle)
}

/// Writes `text` to stdout, mapping a closed pipe to a quiet success.
pub fn print(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            ErrorKind::Io,
            format!("writing to stdout: {e}"),
        )),
    }
}

/// JSON for stdout.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CliError::new(ErrorKind::Internal, format!("encoding JSON: {e}")))
}
