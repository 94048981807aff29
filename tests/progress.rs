//! The per-case progress line of a real run: on a terminal (a pseudo-terminal from util-linux's
//! `script`) it shows the round trips done, the rate and the time left, laid out to fit the
//! terminal's width, and the summary table says what it left out to fit; into a pipe nothing
//! is drawn, only the plain lines.

mod common {
    pub mod driver;
    pub mod process;
}

use common::driver::Driver;
use common::process::{bin, PATIENCE};

/// A short run of one transport whose sockets live in the run's TMPDIR.
const RUN: [&str; 8] = [
    "--iterations",
    "300",
    "--warmup",
    "5",
    "--sizes",
    "100",
    "--transports",
    "unix-stream",
];

const LABEL: &str = "[1/1] Running Unix stream benchmark...";

/// What a run of `RUN` and `extra` draws on a pseudo-terminal `columns` wide (from
/// util-linux's `script`, which copies what is drawn there to ours; --return passes on the
/// run's exit status, which must be success). Leaves nothing in its TMPDIR.
fn drawn_on_a_terminal(columns: u16, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let command = format!(
        "stty cols {columns} rows 24 && exec {:?} {} {}",
        bin(),
        RUN.join(" "),
        extra.join(" ")
    );
    let mut script = assert_cmd::Command::new("script");
    script
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TMPDIR", tmp.path())
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .timeout(PATIENCE);
    let output = script.output().expect("running script");
    let drawn = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{drawn}");
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(entries.is_empty(), "temp files left: {entries:?}");
    drawn
}

/// Each line as it shows on the terminal: split where the cursor goes back to the start of
/// the line (a redraw) or down, without the colour and erase sequences.
fn shown_lines(drawn: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = drawn.chars();
    while let Some(c) = chars.next() {
        match c {
            // CSI: ESC [ parameters, then one final letter.
            '\x1b' => {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                plain.push('\r');
            }
            c => plain.push(c),
        }
    }
    plain.split(['\r', '\n']).map(String::from).collect()
}

#[test]
fn at_80_columns_the_line_and_the_summary_fit_and_say_what_they_left_out() {
    let drawn = drawn_on_a_terminal(80, &["--runs", "2"]);
    let lines = shown_lines(&drawn);
    let progress: Vec<&String> = (lines.iter())
        .filter(|l| l.contains("[1/1] Unix stream (run ") && l.contains("/s, "))
        .collect();
    assert!(!progress.is_empty(), "no short progress line in {drawn:?}");
    // The summary table, from its first rule to the line under it.
    let summary = drawn.split("OVERALL SUMMARY").nth(1).unwrap();
    let table = (summary.lines()).skip_while(|l| !l.starts_with('─'));
    let table: Vec<&str> = table.take_while(|l| !l.starts_with("Latencies")).collect();
    assert!(table.len() > 3, "{summary}");
    for line in progress
        .iter()
        .map(|l| l.as_str())
        .chain(table.iter().copied())
    {
        assert!(line.trim_end().chars().count() <= 80, "{line:?} in {drawn}");
    }
    // The compact table: Total time and CPU left out, and said so instead of CPU's legend.
    let header = table.join("\n");
    assert!(
        !header.contains("Total") && !header.contains("CPU"),
        "{summary}"
    );
    assert!(!summary.contains("CPU: CPU time"), "{summary}");
    assert!(summary.contains("Left out at this width: the Total time and CPU columns."));
}

#[test]
fn on_a_terminal_the_line_shows_the_rate_and_the_time_left() {
    let drawn = drawn_on_a_terminal(200, &[]);
    let line = (drawn.split(['\r', '\n']))
        .find(|l| l.contains(LABEL) && l.contains(" round trips, "))
        .unwrap_or_else(|| panic!("no progress line in {drawn:?}"));
    let after = line.split(" round trips, ").nth(1).unwrap();
    let (rate, left) = after.split_once(", ").unwrap_or_else(|| panic!("{line:?}"));
    assert!(rate.ends_with("/s"), "{line:?}");
    let rate = rate.trim_end_matches("/s").replace(',', "");
    assert!(rate.parse::<u64>().is_ok(), "a whole rate: {line:?}");
    assert!(left.trim_end().ends_with(" left"), "{line:?}");
    assert!(drawn.contains("Completed in"), "{drawn}");
}

#[test]
fn into_a_pipe_nothing_is_drawn() {
    let (status, out, err) = Driver::start(&RUN).finish_clean();
    assert!(status.success(), "{out}\n{err}");
    assert!(out.lines().any(|l| l == LABEL), "{out}");
    for drawing in ["\r", "\x1b[", " round trips, ", "/s, "] {
        assert!(!out.contains(drawing), "{drawing:?} in {out}");
        assert!(!err.contains(drawing), "{drawing:?} in {err}");
    }
}
