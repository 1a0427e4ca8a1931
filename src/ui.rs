//! The output layer of the command line: data goes to stdout, status, warnings, progress
//! and prompts to stderr. Whether stdin, stdout and stderr are terminals is asked once,
//! here; colour follows `--color` and, for `auto`, console's reading of `NO_COLOR`,
//! `CLICOLOR`, `CLICOLOR_FORCE` and `TERM=dumb`. Every value that comes from a file or a
//! file name goes through [`esc`] before it reaches a terminal (views do this; this module
//! escapes what it is handed as status text).

use std::io::{IsTerminal, Write};

/// The one escaping helper: control characters become visible escapes, so a crafted file
/// or file name cannot move the cursor, ring the bell or recolour the screen.
pub use crate::text::escape_for_terminal as esc;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// When the output is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always colour, even into a pipe.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether stdout output gets colour. `Auto` defers to console, which honours
    /// NO_COLOR, CLICOLOR, CLICOLOR_FORCE and TERM=dumb.
    pub fn for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => console::colors_enabled(),
        }
    }
}

/// Writing to stdout or stderr failed (other than a closed pipe on stdout, which ends the
/// output quietly).
#[derive(Debug, thiserror::Error)]
#[error("writing to {stream}: {source}")]
pub struct UiError {
    pub stream: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// The terminals and the colour choice, found out once per process.
#[derive(Debug, Clone)]
pub struct Ui {
    stdin_tty: bool,
    stderr_tty: bool,
    color: bool,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui::detect(ColorChoice::Auto)
    }
}

impl Ui {
    /// Asks the operating system which streams are terminals (the one place that does).
    pub fn detect(color: ColorChoice) -> Ui {
        Ui {
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            color: false,
        }
        .with_color(color)
    }

    /// The same terminals with a command's `--color` choice.
    pub fn with_color(mut self, color: ColorChoice) -> Ui {
        match color {
            ColorChoice::Always => console::set_colors_enabled(true),
            ColorChoice::Never => console::set_colors_enabled(false),
            ColorChoice::Auto => {}
        }
        self.color = color.for_stdout();
        self
    }

    /// A Ui for tests and other callers without terminals: no prompts, no progress.
    pub fn headless() -> Ui {
        Ui {
            stdin_tty: false,
            stderr_tty: false,
            color: false,
        }
    }

    /// Whether data on stdout gets colour.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether the user can be asked: stdin and stderr are both terminals.
    pub fn interactive(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    /// Data on stdout. A closed pipe (`| head`) ends the output quietly.
    pub fn out(&self, text: &str) -> Result<(), UiError> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(source) => Err(UiError {
                stream: "stdout",
                source,
            }),
        }
    }

    /// A JSON document on stdout (pretty, with a final newline).
    pub fn json<T: serde::Serialize>(&self, value: &T) -> Result<(), UiError> {
        let mut text = serde_json::to_string_pretty(value).map_err(|e| UiError {
            stream: "stdout",
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        self.out(&text)
    }

    /// One status line on stderr (a newline is added).
    pub fn status(&self, line: &str) -> Result<(), UiError> {
        let mut err = std::io::stderr().lock();
        writeln!(err, "{line}").map_err(|source| UiError {
            stream: "stderr",
            source,
        })
    }

    /// A progress bar on stderr counting `unit`s, shown only when stderr is a terminal
    /// and there is something to count.
    pub fn progress(&self, total: u64, label: &str) -> Progress {
        if !self.stderr_tty || total == 0 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        Progress(Some(bar))
    }

    /// A progress display for reading `label` in bytes. Until the size is known (and for
    /// a stream of unknown size) it shows the bytes read so far, never `0 B/0 B`.
    pub fn byte_progress(&self, label: &str) -> ByteProgress {
        if !self.stderr_tty {
            return ByteProgress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(label.to_string());
        ByteProgress(Some(bar))
    }
}

/// A counting progress bar (or nothing, off a terminal).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn set(&self, done: usize, total: usize) {
        if let Some(b) = &self.0 {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A byte-counting progress display (or nothing, off a terminal).
pub struct ByteProgress(Option<indicatif::ProgressBar>);

impl ByteProgress {
    /// Follows a bundle being read.
    pub fn update(&self, p: crate::bundle::Progress) {
        use crate::bundle::Progress as P;
        let Some(bar) = &self.0 else {
            return;
        };
        match p {
            P::Started {
                total_bytes: Some(total),
            } if total > 0 => {
                bar.set_length(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} {bar:40} {bytes}/{total_bytes} ({eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
            }
            P::Started { .. } => {}
            P::Advanced { bytes } => bar.set_position(bytes),
            P::Finished => bar.finish_and_clear(),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
