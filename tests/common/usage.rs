//! Usage errors: refused with exit code 2 and a message, before anything starts.

use std::path::Path;
use std::process::Command;

use super::process::bin;

/// Runs the binary with `args`, which must be refused as a usage error whose message contains
/// `needle` (the flag, or the reason), with nothing printed to stdout and nothing created in
/// its temporary directory.
pub fn assert_usage_error(args: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(bin())
        .args(args)
        .env("TMPDIR", tmp.path())
        .output()
        .expect("running the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: no {needle:?} in {stderr}"
    );
    assert!(output.stdout.is_empty(), "{args:?} printed to stdout");
    assert!(nothing_in(tmp.path()), "{args:?} created files");
}

fn nothing_in(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}
