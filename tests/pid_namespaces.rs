//! Names unique per host, not per PID namespace (issue 27, #8): two runs started at once in
//! two `unshare -pfm --mount-proc` namespaces have the same small pid (here both [`DRIVER_PID`],
//! set through `ns_last_pid`), and `/dev/shm`, `/tmp/iceoryx2` and the message queues (one IPC
//! namespace) are shared. With names made of the pid alone both made `tb_10_1`, and each
//! failed the other's cases with EEXIST; the PID namespace in each name keeps them apart.
//!
//! Needs root (`unshare`): ignored by a plain `cargo test`, run by `.ci/run`'s ignored tests,
//! where a kernel that refuses the namespace is a failure, not a skip.

mod common {
    // Only `bin` and `shm_entries` are needed here; the rest serves the files that spawn
    // servers.
    #[allow(dead_code)]
    pub mod process;
}

use std::process::{Child, Command, Stdio};

use common::process::{bin, shm_entries};

/// The pid of both drivers, each in its own namespace.
const DRIVER_PID: u32 = 10;

/// Waits at a barrier of files in `$WORK` (each run marks itself ready, then waits for the
/// other), so that both drivers start together and their cases overlap; then makes the next
/// pid of its namespace [`DRIVER_PID`] and runs a driver, which says its pid in its channels.
const RUN_SCRIPT: &str = r#"touch "$WORK/ready.$ID"
    while [ ! -e "$WORK/ready.a" ] || [ ! -e "$WORK/ready.b" ]; do sleep 0.01; done
    echo $((DRIVER_PID - 1)) > /proc/sys/kernel/ns_last_pid || exit 9
    "$TB" --transports shm-posix,mqueue,iceoryx2 --sizes 100 --duration 1s --warmup 100 \
        --timeout 10s; echo "exit $?""#;

fn run_in_a_pid_namespace(id: &str, work: &std::path::Path) -> Child {
    Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount",
            "--mount-proc",
            "sh",
            "-c",
            RUN_SCRIPT,
        ])
        .env("TB", bin())
        .env("WORK", work)
        .env("ID", id)
        .env("DRIVER_PID", DRIVER_PID.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running unshare")
}

#[test]
#[ignore = "needs root: PID namespaces (.ci/run runs it)"]
fn two_runs_with_the_same_pid_in_two_pid_namespaces_at_once_both_succeed() {
    let work = tempfile::tempdir().unwrap();
    let runs = [
        run_in_a_pid_namespace("a", work.path()),
        run_in_a_pid_namespace("b", work.path()),
    ];
    for run in runs {
        let output = run.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.starts_with("unshare:"),
            "needs root: the kernel refused the namespace: {stderr}"
        );
        assert!(stdout.contains("exit 0"), "{stdout}\n{stderr}");
    }
    // Nothing left: a pid this small is a kernel thread out here, never a driver.
    assert_eq!(
        shm_entries(&format!("srb_tb_{DRIVER_PID}_")),
        Vec::<String>::new()
    );
}
