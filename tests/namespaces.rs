//! Attacks that need a private mount or PID namespace: `unshare` as root. They are ignored by
//! a plain `cargo test` (which may run without root) and run by `.ci/run` with
//! `--include-ignored`; there, a kernel that refuses the namespace is a failure, not a skip.

mod common;

use std::process::{Command, Output};

use common::*;

const NEEDS_ROOT: &str = "needs root for unshare; .ci/run runs it";

/// Runs `script` with sh in new namespaces (`unshare` flags), the binary's path in `$TB`.
fn in_namespaces(flags: &[&str], script: &str) -> Output {
    let output = Command::new("unshare")
        .args(flags)
        .args(["sh", "-c", script])
        .env("TB", bin())
        .output()
        .expect("running unshare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.starts_with("unshare:"),
        "{NEEDS_ROOT}: the kernel refused the namespace: {stderr}"
    );
    output
}

#[test]
#[ignore = "needs root for unshare; .ci/run runs it"]
fn an_export_to_dev_stdout_writes_through_it_and_leaves_dev_alone() {
    // A /dev of its own, so that a regression could only damage a throwaway one; it needs a
    // /dev/null (for the server's stdin) and a /dev/shm.
    let script = r#"mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 &&
        mkdir /dev/shm && mount -t tmpfs none /dev/shm && ln -s /proc/self/fd/1 /dev/stdout &&
        "$TB" --iterations 20 --sizes small --transports shm-posix --export-json /dev/stdout &&
        [ -L /dev/stdout ] && echo STILL-A-LINK"#;
    let output = in_namespaces(&["--mount", "--propagation", "private"], script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("STILL-A-LINK"), "{stdout}");
    assert!(stdout.contains(r#""state": "complete""#), "{stdout}");
}
