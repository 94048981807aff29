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

/// The lines for a terminal too narrow for those (80 columns, a label with its run number):
/// the short label, no "round trips" (`[1/2] SHM POSIX (run 1/3) 12,000/50,000, 11,828/s, 3s
/// left`). A line longer than the terminal wraps, and each redraw then leaves a line behind.
const NARROW_LINE_TEMPLATE: &str =
    "{spinner:.cyan} {msg} {human_pos}/{human_len}, {rate}, {eta} left";
const NARROW_TIMED_LINE_TEMPLATE: &str = "{spinner:.cyan} {msg} {human_pos}, {rate}, {left} left";

/// The narrowest: the short label and the count.
const NARROWEST_LINE_TEMPLATE: &str = "{spinner:.cyan} {msg} {human_pos}/{human_len}";
const NARROWEST_TIMED_LINE_TEMPLATE: &str = "{spinner:.cyan} {msg} {human_pos}";

/// Widest texts the placeholders take: a rate of eight digits with its commas and `/s`, a
/// time left in indicatif's short form (`3s`, `59m`, `100d`: its largest unit only), a count
/// of a time-bounded run.
const RATE_WIDTH: usize = "12,345,678/s".len();
const TIME_LEFT_WIDTH: usize = "100d".len();
const OPEN_COUNT_WIDTH: usize = "123,456,789".len();

/// The width assumed for a terminal that does not say, as the summary table assumes.
const ASSUMED_WIDTH: usize = 80;

/// What a run is called on its line: in full (`[1/2] Running SHM POSIX benchmark (run
/// 1/3)...`), and short for a narrow terminal (`[1/2] SHM POSIX (run 1/3)`).
#[derive(Debug, Clone)]
pub struct RunLabel {
    pub full: String,
    pub short: String,
}

/// The widest the line of `template` gets with `label`, counting to `count` (None: a
/// time-bounded run), in columns.
fn widest_line(template: &str, label: &str, count: Option<u64>) -> usize {
    let count_width = count.map_or(OPEN_COUNT_WIDTH, |n| HumanCount(n).to_string().len());
    let placeholders = [
        ("{spinner:.cyan}", 1),
        ("{msg}", label.chars().count()),
        ("{human_pos}", count_width),
        ("{human_len}", count_width),
        ("{rate}", RATE_WIDTH),
        ("{eta}", TIME_LEFT_WIDTH),
        ("{left}", TIME_LEFT_WIDTH),
    ];
    let mut width = template.chars().count();
    for (placeholder, shown) in placeholders {
        let times = template.matches(placeholder).count();
        width = width + times * shown - times * placeholder.len();
    }
    width
}

/// The template and the label of the widest line that fits `width` columns (the narrowest
/// when none does).
fn fitting_line(label: &RunLabel, count: Option<u64>, width: usize) -> (&'static str, &str) {
    let layouts = match count {
        Some(_) => [
            (LINE_TEMPLATE, label.full.as_str()),
            (NARROW_LINE_TEMPLATE, label.short.as_str()),
            (NARROWEST_LINE_TEMPLATE, label.short.as_str()),
        ],
        None => [
            (TIMED_LINE_TEMPLATE, label.full.as_str()),
            (NARROW_TIMED_LINE_TEMPLATE, label.short.as_str()),
            (NARROWEST_TIMED_LINE_TEMPLATE, label.short.as_str()),
        ],
    };
    (layouts.into_iter())
        .find(|(template, label)| widest_line(template, label, count) <= width)
        .unwrap_or(layouts[2])
}

/// A counted run's line, whose `{rate}` is indicatif's `{per_sec}` rounded to a whole number:
/// `{per_sec}` shows four decimals (`11,827.7125/s`), which change at every redraw.
fn line_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|style| style.with_key("rate", rate))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn rate(state: &ProgressState, out: &mut dyn fmt::Write) {
    let _ = write!(out, "{}/s", HumanCount(state.per_sec().round() as u64));
}

/// A time-bounded run's line: the time left is what remains of `duration`.
fn timed_line_style(template: &str, duration: Duration) -> ProgressStyle {
    let left = move |state: &ProgressState, out: &mut dyn fmt::Write| {
        // The short form, as indicatif writes `{eta}`: `3s`, not `3 seconds`.
        let _ = write!(
            out,
            "{:#}",
            HumanDuration(duration.saturating_sub(state.elapsed()))
        );
    };
    ProgressStyle::with_template(template)
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
    /// `iterations` round trips, or of `duration` when given. On a terminal the line is laid
    /// out to fit its width.
    pub fn start(
        console: Console,
        label: RunLabel,
        iterations: u64,
        duration: Option<Duration>,
    ) -> CaseProgress {
        let bar = if console.is_terminal() {
            let length = duration.is_none().then_some(iterations);
            let width = console.width().map_or(ASSUMED_WIDTH, usize::from);
            let (template, shown) = fitting_line(&label, length, width);
            let bar = ProgressBar::with_draw_target(length, console.draw_target());
            bar.set_style(match duration {
                None => line_style(template),
                Some(duration) => timed_line_style(template, duration),
            });
            bar.set_message(shown.to_string());
            bar.tick();
            Some(bar)
        } else {
            console.line(&label.full);
            None
        };
        CaseProgress {
            console,
            label: label.full,
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
        bar.set_style(line_style(LINE_TEMPLATE));
        bar.set_message("[1/2] Running SHM POSIX benchmark...");
        bar.tick();
        let drawn = term.0.lock().unwrap().clone();
        // Nothing has been timed yet, so both estimates are still zero.
        let expected = "[1/2] Running SHM POSIX benchmark... 0/50,000 round trips, 0/s, 0s left";
        assert!(drawn.contains(expected), "{drawn:?}");
    }

    #[test]
    fn the_line_fits_the_terminal_with_a_short_label_then_without_the_rate() {
        let label = RunLabel {
            full: "[10/12] Running ZeroMQ IPC benchmark (run 2/3)...".into(),
            short: "[10/12] ZeroMQ IPC (run 2/3)".into(),
        };
        let count = Some(50_000);
        let wide = fitting_line(&label, count, 200);
        assert_eq!(wide, (LINE_TEMPLATE, label.full.as_str()));
        let at_80 = fitting_line(&label, count, 80);
        assert_eq!(at_80, (NARROW_LINE_TEMPLATE, label.short.as_str()));
        assert!(widest_line(at_80.0, at_80.1, count) <= 80);
        assert_eq!(fitting_line(&label, count, 50).0, NARROWEST_LINE_TEMPLATE);
        assert_eq!(fitting_line(&label, None, 80).0, NARROW_TIMED_LINE_TEMPLATE);
        // The widest line counted as it would be drawn.
        let drawn = "⠁ [1/2] x 9,999,999/9,999,999 round trips, 12,345,678/s, 100d left";
        let count = Some(9_999_999);
        assert_eq!(
            widest_line(LINE_TEMPLATE, "[1/2] x", count),
            drawn.chars().count()
        );
    }
}
