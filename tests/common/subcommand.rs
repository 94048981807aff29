//! A subcommand of the real binary (`plot`, `compare`) fed on standard input and bounded in time.

use std::path::Path;
use std::process::Output;

use super::process::{bin, PATIENCE};

/// `transport-bench SUBCOMMAND ARGS` with `stdin` on standard input, killed (failing the test
/// on its exit status) if it outlasts `PATIENCE`.
pub fn run_bounded(subcommand: &str, args: &[&Path], stdin: &[u8]) -> Output {
    assert_cmd::Command::new(bin())
        .arg(subcommand)
        .args(args)
        .write_stdin(stdin.to_vec())
        .timeout(PATIENCE)
        .output()
        .expect("running the binary")
}
