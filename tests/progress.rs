//! The per-case progress line of a real run: on a terminal (a pseudo-terminal from util-linux's
//! `script`) it shows the round trips done, the rate and the time left; into a pipe nothing is
//! drawn, only the plain lines.

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

#[test]
fn on_a_terminal_the_line_shows_the_rate_and_the_time_left() {
    let tmp = tempfile::tempdir().unwrap();
    let command = format!("exec {:?} {}", bin(), RUN.join(" "));
    // `script` gives the run a pseudo-terminal as its standard output and copies what is
    // drawn there to ours; -e passes on the run's exit status.
    let mut script = assert_cmd::Command::new("script");
    script
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TMPDIR", tmp.path())
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .timeout(PATIENCE);
    let output = script.output().expect("running script");
    let drawn = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{drawn}");
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
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(entries.is_empty(), "temp files left: {entries:?}");
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
