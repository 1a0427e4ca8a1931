//! The seam between the wizard's questions and the terminal: a small trait the session
//! talks to, and its terminal implementation (which draws on stderr). Tests of the flow
//! can answer through the trait without a terminal.
//!
//! Lists are drawn here rather than by dialoguer's `Select`, which ignores Home, End,
//! Page Up and Page Down; they are drawn with the same theme, so they look the same. In a
//! list Ctrl-D is the end of input (the terminal is in raw mode: it never reports one).

use console::Key;
use dialoguer::theme::{ColorfulTheme, Theme};
use dialoguer::Input;
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
    /// Ctrl-C while a key was read.
    #[error("interrupted")]
    Interrupted,
    #[error("terminal error: {0}")]
    Io(io::Error),
}

impl From<dialoguer::Error> for AskError {
    fn from(e: dialoguer::Error) -> AskError {
        let dialoguer::Error::IO(e) = e;
        match e.kind() {
            io::ErrorKind::UnexpectedEof => AskError::Eof,
            io::ErrorKind::NotConnected => AskError::NoTerminal,
            io::ErrorKind::Interrupted => AskError::Interrupted,
            _ => AskError::Io(e),
        }
    }
}

impl From<io::Error> for AskError {
    fn from(e: io::Error) -> AskError {
        AskError::from(dialoguer::Error::IO(e))
    }
}

/// Where a key moves the highlighted entry of a list of `len` entries shown `page` at a
/// time; None for a key that does not move it. Up and Down wrap around, the others stop
/// at the ends.
pub fn moved(key: &Key, sel: usize, len: usize, page: usize) -> Option<usize> {
    let last = len.checked_sub(1)?;
    let page = page.max(1);
    Some(match key {
        Key::ArrowUp | Key::BackTab | Key::Char('k') => {
            if sel == 0 {
                last
            } else {
                sel - 1
            }
        }
        Key::ArrowDown | Key::Tab | Key::Char('j') => {
            if sel >= last {
                0
            } else {
                sel + 1
            }
        }
        Key::Home => 0,
        Key::End => last,
        Key::PageUp => sel.saturating_sub(page),
        Key::PageDown => (sel + page).min(last),
        _ => return None,
    })
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

impl Terminal {
    /// The list loop: draw the page holding the highlighted entry, read a key, move.
    fn pick(&mut self, prompt: &str, items: &[String], mut sel: usize) -> Result<usize, AskError> {
        // Rows for entries: the terminal's height less the prompt line and a spare one.
        let rows = usize::from(self.term.size().0);
        let page = rows.saturating_sub(2).clamp(3, items.len().max(3));
        let pages = items.len().div_ceil(page);
        let mut drawn = 0;
        loop {
            let first = sel / page * page;
            let mut frame = String::new();
            let _ = self.theme.format_select_prompt(&mut frame, prompt);
            if pages > 1 {
                frame.push_str(&format!(" [page {}/{}]", first / page + 1, pages));
            }
            for (i, item) in items.iter().enumerate().skip(first).take(page) {
                frame.push('\n');
                let _ = self
                    .theme
                    .format_select_prompt_item(&mut frame, item, i == sel);
            }
            self.term.clear_last_lines(drawn)?;
            self.term.write_line(&frame)?;
            drawn = frame.lines().count();
            let key = self.term.read_key()?;
            match key {
                Key::Enter | Key::Char(' ') => {
                    self.term.clear_last_lines(drawn)?;
                    let mut done = String::new();
                    let _ =
                        self.theme
                            .format_select_prompt_selection(&mut done, prompt, &items[sel]);
                    self.term.write_line(&done)?;
                    return Ok(sel);
                }
                Key::Char('\u{4}') => return Err(AskError::Eof),
                k => {
                    if let Some(n) = moved(&k, sel, items.len(), page) {
                        sel = n;
                    }
                }
            }
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
        if !self.term.is_term() {
            return Err(AskError::NoTerminal);
        }
        if items.is_empty() {
            return Err(AskError::Io(io::Error::other("a list without entries")));
        }
        self.term.hide_cursor()?;
        let picked = self.pick(prompt, items, default.min(items.len() - 1));
        // The cursor comes back whatever happened (Ctrl-D, a terminal error).
        self.term.show_cursor()?;
        picked
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

#[cfg(test)]
mod tests {
    use super::moved;
    use console::Key;

    #[test]
    fn home_end_and_page_keys_move_within_the_list() {
        // 25 entries, 10 a page, from entry 12.
        let m = |k: Key| moved(&k, 12, 25, 10);
        assert_eq!(m(Key::Home), Some(0));
        assert_eq!(m(Key::End), Some(24));
        assert_eq!(m(Key::PageUp), Some(2));
        assert_eq!(m(Key::PageDown), Some(22));
        assert_eq!(moved(&Key::PageDown, 20, 25, 10), Some(24));
        assert_eq!(moved(&Key::PageUp, 3, 25, 10), Some(0));
        assert_eq!(m(Key::ArrowUp), Some(11));
        assert_eq!(moved(&Key::ArrowUp, 0, 25, 10), Some(24));
        assert_eq!(moved(&Key::ArrowDown, 24, 25, 10), Some(0));
        assert_eq!(m(Key::Char('x')), None);
        assert_eq!(moved(&Key::Home, 0, 0, 10), None);
    }
}
