//! The seam between the wizard's questions and the terminal: a small trait the session
//! talks to, and its dialoguer implementation (which draws on stderr). Tests of the flow
//! can answer through the trait without a terminal.

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Input, Select};
use std::io;

/// Why a question got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// Standard input ended before the session finished.
    #[error("input ended before the wizard finished")]
    Eof,
    /// stdin or stderr is not (or no longer) a terminal.
    #[error("the wizard needs a terminal")]
    NoTerminal,
    #[error("terminal error: {0}")]
    Io(io::Error),
}

impl From<dialoguer::Error> for AskError {
    fn from(e: dialoguer::Error) -> AskError {
        let dialoguer::Error::IO(e) = e;
        match e.kind() {
            io::ErrorKind::UnexpectedEof => AskError::Eof,
            io::ErrorKind::NotConnected => AskError::NoTerminal,
            _ => AskError::Io(e),
        }
    }
}

/// A validator for typed answers: Ok, or the reason shown before asking again.
pub type Check<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// What the session needs from a terminal.
pub trait Ask {
    /// Shows text (already escaped for the terminal).
    fn say(&mut self, text: &str) -> Result<(), AskError>;
    /// One choice among `items`, `default` highlighted first.
    fn select(&mut self, prompt: &str, items: &[String], default: usize)
        -> Result<usize, AskError>;
    /// A typed answer, starting as `initial` (editable), trimmed; `check` refuses invalid
    /// input with a reason and the question is asked again.
    fn input(&mut self, prompt: &str, initial: &str, check: Check<'_>) -> Result<String, AskError>;
}

/// The real terminal, through dialoguer, on stderr.
pub struct Terminal {
    theme: ColorfulTheme,
    term: console::Term,
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal {
            theme: ColorfulTheme::default(),
            term: console::Term::stderr(),
        }
    }
}

impl Ask for Terminal {
    fn say(&mut self, text: &str) -> Result<(), AskError> {
        self.term.write_str(text).map_err(AskError::Io)
    }

    fn select(
        &mut self,
        prompt: &str,
        items: &[String],
        default: usize,
    ) -> Result<usize, AskError> {
        Ok(Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default.min(items.len().saturating_sub(1)))
            .interact_on(&self.term)?)
    }

    fn input(&mut self, prompt: &str, initial: &str, check: Check<'_>) -> Result<String, AskError> {
        let value: String = Input::with_theme(&self.theme)
            .with_prompt(prompt)
            .with_initial_text(initial)
            .allow_empty(true)
            .validate_with(|v: &String| check(v.trim()))
            .interact_text_on(&self.term)?;
        Ok(value.trim().to_string())
    }
}
