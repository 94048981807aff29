//! Progress for one run of one case: an indicatif spinner on a terminal, plain lines otherwise.
//!
//! The spinner is redrawn only when the measuring loop reports (every 100 ms at most), never
//! from a background ticker thread that would compete with the measured processes for a CPU.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::format;

pub const INDENT: &str = "      ";

/// Whether stdout is an interactive terminal (spinners, colours) or a pipe/file (plain lines).
pub fn interactive() -> bool {
    std::io::stdout().is_terminal()
}

pub struct CaseProgress {
    label: String,
    bar: Option<ProgressBar>,
}

impl CaseProgress {
    /// Starts the display for a run labelled like `[1/2] Running SHM POSIX benchmark...`.
    pub fn start(label: String, iterations: u64) -> CaseProgress {
        let bar = if interactive() {
            let bar = ProgressBar::with_draw_target(Some(iterations), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{spinner:.cyan} {msg} {human_pos}/{human_len} round trips",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(label.clone());
            bar.tick();
            Some(bar)
        } else {
            println!("{label}");
            None
        };
        CaseProgress { label, bar }
    }

    fn end(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            println!("{}", self.label);
        }
    }

    pub fn finish_ok(&self, elapsed: Duration, detail: &str) {
        self.end();
        println!(
            "{INDENT}Completed in {} {detail}",
            format::duration(elapsed)
        );
    }

    pub fn finish_failed(&self, display_name: &str, cause: &str) {
        self.end();
        println!("{INDENT}✗ {display_name} benchmark failed: {cause}");
    }

    pub fn finish_interrupted(&self, signal: &str) {
        self.end();
        println!("{INDENT}✗ interrupted by {signal}");
    }
}

impl CaseProgress {
    /// Timed round trips done so far.
    pub fn update(&mut self, round_trips_done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(round_trips_done);
        }
    }
}
