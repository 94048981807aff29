//! Text made safe to show, at the bottom of the house beside [`numbers`](crate::numbers): every
//! output for people (the terminal, `compare`, Markdown, HTML, SVG, CSV) passes the free text
//! it shows through here, because that text may come from anywhere: a saved report written by
//! hand, a CPU name from a hypervisor, a server's stderr.
//!
//! What is replaced, each character by U+FFFD (�), so that a reader sees that something was
//! there: the control characters (C0 but the line's own `\n` and `\t` where a text keeps its
//! lines, DEL, and C1, whose U+009B is a terminal's one-byte CSI), which would let a report
//! move the cursor, retitle the terminal or rewrite what was printed before; the Unicode
//! noncharacters (U+FFFE, U+FFFF and the rest), which XML 1.0 forbids, so that an SVG or an
//! XHTML page holding one is not well-formed; and the bidirectional overrides and isolates,
//! which make a terminal show text in another order than it is written.

use std::borrow::Cow;

/// Whether `c` is replaced wherever text is shown (see the module's doc). `\n` and `\t` are
/// among them: [`text`] keeps those two, [`field`] does not.
pub fn is_unprintable(c: char) -> bool {
    let code = c as u32;
    c.is_control()
        || (0xFDD0..=0xFDEF).contains(&code)
        || code & 0xFFFE == 0xFFFE
        || matches!(code, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

/// `text` with every unprintable character replaced but its line breaks and tabs: for a text
/// of several lines (a table, a document).
pub fn text(text: &str) -> Cow<'_, str> {
    replace_where(text, |c| is_unprintable(c) && !matches!(c, '\n' | '\t'))
}

/// `text` with every unprintable character replaced, line breaks too: for one field of a
/// line or a table cell, which a line break would end.
pub fn field(text: &str) -> Cow<'_, str> {
    replace_where(text, is_unprintable)
}

fn replace_where(text: &str, replaced: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&replaced) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        (text.chars())
            .map(|c| if replaced(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_csi_and_noncharacters_are_replaced() {
        assert_eq!(text("a\u{1b}[2Jb"), "a\u{fffd}[2Jb");
        assert_eq!(text("\u{9b}31m"), "\u{fffd}31m");
        assert_eq!(
            text("x\u{fffe}\u{ffff}\u{1fffe}\u{fdd0}"),
            "x\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
        );
        assert_eq!(text("\u{202e}txt.exe"), "\u{fffd}txt.exe");
        assert_eq!(
            text("over\rwrite\u{7f}\0"),
            "over\u{fffd}write\u{fffd}\u{fffd}"
        );
    }

    #[test]
    fn a_text_keeps_its_lines_and_a_field_does_not() {
        assert_eq!(text("a\n\tb"), "a\n\tb");
        assert_eq!(field("a\n\tb"), "a\u{fffd}\u{fffd}b");
    }

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        for plain in [
            "",
            "Intel(R) Xeon(R) 2.20GHz",
            "µs ✗ │ 12,345 — ünïcödé 日本",
        ] {
            assert!(matches!(text(plain), Cow::Borrowed(t) if t == plain));
            assert!(matches!(field(plain), Cow::Borrowed(t) if t == plain));
        }
    }
}
