//! Showing text that came from objects, files or requests: escaped, so a name cannot start a line of its
//! own in a report or log, send terminal sequences, or reorder what a terminal shows.

use std::{borrow::Cow, fmt};

/// Whether a character must not reach a terminal or log as it is: controls (newline, escape, …),
/// bidirectional overrides and isolates, zero-width and byte-order marks.
fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Displays its text with hostile characters escaped (`\n`, `\u{1b}`, `\u{202e}`) and everything else as
/// it is, without building a string first.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| hostile(c)) {
            f.write_str(&rest[..at])?;
            write!(f, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// [`Printable`] as a string, borrowed when nothing needs escaping.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(hostile) { Cow::Owned(Printable(text).to_string()) } else { Cow::Borrowed(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_forge_a_line_or_steer_a_terminal() {
        assert_eq!(printable("a\nforged.yaml:1: error"), "a\\nforged.yaml:1: error");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("migration-\u{202e}evil"), "migration-\\u{202e}evil");
        assert_eq!(printable("zero\u{200b}width\u{feff}"), "zero\\u{200b}width\\u{feff}");
        assert_eq!(printable("tab\there\r"), "tab\\there\\r");
    }

    #[test]
    fn leaves_ordinary_text_alone_and_borrowed() {
        for text in ["migration-bridge", "migration-网络", "mïgration-ǅ", "quotes \" ' and \\ stay", ""] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }
}
