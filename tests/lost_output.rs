//! Output that cannot be written is never lost in silence: every subcommand that prints (the
//! benchmark's summary, `cleanup`, `compare`, `completions`, `man`, `plot --out -`) exits
//! non-zero and says so on stderr when its standard output is full (`>/dev/full`) or closed
//! (`>&-`); a reader that went away (`| head`) is no error: exit 0, nothing said, no panic.
//! Exports to standard output (`--export-json -`) are written as exports, and a reader of
//! theirs that went away is no error either.

mod common {
    // Only `bin` of it is needed here; the rest serves the files that spawn servers.
    #[allow(dead_code)]
    pub mod process;
}

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::process::bin;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    path.join(name).display().to_string()
}

/// Each subcommand that prints to standard output, with arguments that make it print.
fn printing_commands() -> Vec<Vec<String>> {
    let benchmark = "--transports unix-stream --iterations 20 --warmup 2 --sizes 100";
    let words = |text: &str| text.split(' ').map(str::to_string).collect::<Vec<_>>();
    let base = fixture("compare-base.json");
    vec![
        words(benchmark),
        words("cleanup --channel lost_output_nothing_here"),
        vec!["compare".into(), base.clone(), fixture("compare-new.json")],
        words("completions zsh"),
        words("man"),
        vec!["plot".into(), base, "--out".into(), "-".into()],
        words(&format!("{benchmark} --export-json -")),
    ]
}

/// The binary with `args` and its standard output on `stdout` (standard error captured), in
/// a TMPDIR of its own that it must leave empty.
fn run(args: &[String], stdout: Stdio) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(bin())
        .args(args)
        .env("TMPDIR", tmp.path())
        .stdout(stdout)
        .output()
        .expect("running the binary");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "{args:?}"
    );
    output
}

fn assert_failed_saying_so(args: &[String], output: &Output, cause: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stderr.contains(cause), "{args:?}: no {cause:?} in {stderr}");
}

#[test]
fn a_full_standard_output_fails_every_printing_subcommand_with_the_cause() {
    for args in printing_commands() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = run(&args, Stdio::from(full));
        assert_failed_saying_so(&args, &output, "No space left on device");
    }
}

#[test]
fn a_closed_standard_output_fails_every_printing_subcommand_with_the_cause() {
    for args in printing_commands() {
        let tmp = tempfile::tempdir().unwrap();
        // Only a shell closes a descriptor for the program it starts.
        let output = Command::new("bash")
            .args(["-c", "exec \"$0\" \"$@\" >&-"])
            .arg(bin())
            .args(&args)
            .env("TMPDIR", tmp.path())
            .output()
            .expect("running the binary under bash");
        assert_failed_saying_so(&args, &output, "Bad file descriptor");
    }
}

#[test]
fn a_reader_that_went_away_is_no_error_and_no_panic() {
    for args in printing_commands() {
        // A pipe whose reading end is closed before the program writes: every write is EPIPE.
        let (read_end, write_end): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        drop(read_end);
        let output = run(&args, Stdio::from(write_end));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("standard output"), "{args:?}: {stderr}");
    }
}
