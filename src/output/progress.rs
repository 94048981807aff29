//! Progress for one run of one case: an indicatif spinner on a terminal, plain lines otherwise.
//!
//! The spinner is redrawn only when the measuring loop reports (every 100 ms at most), never
//! from a background ticker thread that would compete with the measured processes for a CPU.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::console::Console;
use crate::report::format;

pub const INDENT: &str = "      ";

pub struct CaseProgress {
    console: Console,
    label: String,
    bar: Option<ProgressBar>,
}

impl CaseProgress {
    /// Starts the display for a run labelled like `[1/2] Running SHM POSIX benchmark...`.
    pub fn start(console: Console, label: String, iterations: u64) -> CaseProgress {
        let bar = if console.is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(iterations), console.draw_target());
            let style = ProgressStyle::with_template(
                "{spinner:.cyan} {msg} {human_pos}/{human_len} round trips",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(label.clone());
            bar.tick();
            Some(bar)
        } else {
            console.line(&label);
            None
        };
        CaseProgress {
            console,
            label,
            bar,
        }
    }

    fn end(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            self.console.line(&self.label);
        }
    }

    pub fn finish_ok(&self, elapsed: Duration, detail: &str) {
        self.end();
        self.console.line(format_args!(
            "{INDENT}Completed in {} {detail}",
            format::duration(elapsed)
        ));
    }

    pub fn finish_failed(&self, display_name: &str, cause: &str) {
        self.end();
        self.console.line(format_args!(
            "{INDENT}✗ {display_name} benchmark failed: {cause}"
        ));
    }

    pub fn finish_interrupted(&self, signal: &str) {
        self.end();
        self.console
            .line(format_args!("{INDENT}✗ interrupted by {signal}"));
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
