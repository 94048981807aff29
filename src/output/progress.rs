//! Progress for one run of one case: an indicatif spinner on a terminal, with the rate and the
//! time left; plain lines otherwise (a pipe or a file gets no drawing).
//!
//! The spinner is redrawn only when the measuring loop reports (every 100 ms at most), never
//! from a background ticker thread that would compete with the measured processes for a CPU.

use std::fmt;
use std::time::Duration;

use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressState, ProgressStyle};

use super::console::Console;
use crate::report::format;

pub const INDENT: &str = "      ";

/// The line on a terminal: the label, round trips done of all, the rate, and the time left
/// (`[1/2] Running SHM POSIX benchmark... 12,000/50,000 round trips, 11,828/s, 3s left`), so
/// that a minute-long case (2 MB over ZeroMQ) can be planned around.
const LINE_TEMPLATE: &str =
    "{spinner:.cyan} {msg} {human_pos}/{human_len} round trips, {rate}, {eta} left";

/// The line of a time-bounded run (`--duration`): no total to count towards, and the time
/// left is the run's own.
const TIMED_LINE_TEMPLATE: &str =
    "{spinner:.cyan} {msg} {human_pos} round trips, {rate}, {left} left";

/// [`LINE_TEMPLATE`], whose `{rate}` is indicatif's `{per_sec}` rounded to a whole number:
/// `{per_sec}` shows four decimals (`11,827.7125/s`), which change at every redraw.
fn line_style() -> ProgressStyle {
    ProgressStyle::with_template(LINE_TEMPLATE)
        .map(|style| style.with_key("rate", rate))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn rate(state: &ProgressState, out: &mut dyn fmt::Write) {
    let _ = write!(out, "{}/s", HumanCount(state.per_sec().round() as u64));
}

/// [`TIMED_LINE_TEMPLATE`]: the time left is what remains of `duration`.
fn timed_line_style(duration: Duration) -> ProgressStyle {
    let left = move |state: &ProgressState, out: &mut dyn fmt::Write| {
        let _ = write!(
            out,
            "{}",
            HumanDuration(duration.saturating_sub(state.elapsed()))
        );
    };
    ProgressStyle::with_template(TIMED_LINE_TEMPLATE)
        .map(|style| style.with_key("rate", rate).with_key("left", left))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

pub struct CaseProgress {
    console: Console,
    label: String,
    bar: Option<ProgressBar>,
}

impl CaseProgress {
    /// Starts the display for a run labelled like `[1/2] Running SHM POSIX benchmark...`, of
    /// `iterations` round trips, or of `duration` when given.
    pub fn start(
        console: Console,
        label: String,
        iterations: u64,
        duration: Option<Duration>,
    ) -> CaseProgress {
        let bar = if console.is_terminal() {
            let length = duration.is_none().then_some(iterations);
            let bar = ProgressBar::with_draw_target(length, console.draw_target());
            bar.set_style(duration.map_or_else(line_style, timed_line_style));
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct RecordingTerm(Arc<Mutex<String>>);

    impl TermLike for RecordingTerm {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_line_shows_the_count_the_rate_and_the_time_left() {
        let term = RecordingTerm::default();
        let target = ProgressDrawTarget::term_like(Box::new(term.clone()));
        let bar = ProgressBar::with_draw_target(Some(50_000), target);
        bar.set_style(line_style());
        bar.set_message("[1/2] Running SHM POSIX benchmark...");
        bar.tick();
        let drawn = term.0.lock().unwrap().clone();
        // Nothing has been timed yet, so both estimates are still zero.
        let expected = "[1/2] Running SHM POSIX benchmark... 0/50,000 round trips, 0/s, 0s left";
        assert!(drawn.contains(expected), "{drawn:?}");
    }
}
