//! Where people's output goes: standard output, or standard error when standard output carries
//! an export (`--export-json -`), so that `transport-bench --export-json - | jq` works.
//!
//! A closed stream (`transport-bench | head`) is not a reason to stop: the run still measures,
//! exports and cleans up. Standard output goes through [`stdout`], which keeps a failed write
//! (a full disk, a closed descriptor) for the exit code and says it at the end.

use std::io::{IsTerminal, Write};

use crate::system::stdout;

use indicatif::ProgressDrawTarget;

use crate::printable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Stdout,
    Stderr,
}

impl Console {
    /// Writes `text` and a newline, its control characters replaced (it may hold a saved
    /// report's fields, a CPU name, a server's stderr: [`printable`]).
    pub fn line(self, text: impl std::fmt::Display) {
        let text = text.to_string();
        let text = printable::text(&text);
        match self {
            Console::Stdout => stdout::line(text),
            Console::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Whether it is an interactive terminal (spinners) or a pipe or file (plain lines).
    pub fn is_terminal(self) -> bool {
        match self {
            Console::Stdout => std::io::stdout().is_terminal(),
            Console::Stderr => std::io::stderr().is_terminal(),
        }
    }

    /// The width of its terminal in columns; None for a pipe or a file, or a terminal that
    /// does not say (a pseudo-terminal without a window size says 0).
    pub fn width(self) -> Option<u16> {
        let size = match self {
            Console::Stdout => terminal_size::terminal_size_of(std::io::stdout()),
            Console::Stderr => terminal_size::terminal_size_of(std::io::stderr()),
        };
        size.map(|(width, _)| width.0)
            .filter(|&columns| columns > 0)
    }

    /// Where a spinner on this stream draws.
    pub fn draw_target(self) -> ProgressDrawTarget {
        match self {
            Console::Stdout => ProgressDrawTarget::stdout(),
            Console::Stderr => ProgressDrawTarget::stderr(),
        }
    }
}
