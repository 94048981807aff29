//! Names unique per host, not per PID namespace (issue 27, #8), and what a dead run with this
//! run's pid in this PID namespace left (issue 27, remaining items): two runs started at once in
//! two `unshare -pfm --mount-proc` namespaces have the same small pid (here both [`DRIVER_PID`],
//! set through `ns_last_pid`), and `/dev/shm`, `/tmp/iceoryx2` and the message queues (one IPC
//! namespace) are shared. With names made of the pid alone both made `tb_10_1`, and each
//! failed the other's cases with EEXIST; the PID namespace in each name keeps them apart.
//!
//! Needs root (`unshare`): ignored by a plain `cargo test`, run by `.ci/run`'s ignored tests,
//! where a kernel that refuses the namespace is a failure, not a skip.

mod common {
    // Only `bin`, `shm_entries` and `leave_library_dirs_as_found` are needed here; the rest
    // serves the files that spawn servers.
    #[allow(dead_code)]
    pub mod process;
}

use std::process::{Child, Command, Stdio};

use common::process::{bin, leave_library_dirs_as_found, shm_entries};
use transport_bench::peer::lease::channel_name;
use transport_bench::transport::kinds::iceoryx2;
use transport_bench::transport::{channel_objects, ChannelName, PosixObject};

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
    leave_library_dirs_as_found(iceoryx2::KIND);
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

/// The pid of the runs of [`KILLED_RUNS_SCRIPT`]: not [`DRIVER_PID`], so that the test beside
/// it, which may run at the same time, does not take their objects for its own leftovers.
const KILLED_DRIVER_PID: u32 = 20;

/// In one PID namespace, runs with pid [`KILLED_DRIVER_PID`] killed with everything in it
/// (`kill -KILL -1`, as when the namespace's init is killed) while their servers hold their
/// objects, then a new run with that pid. A namespace's inode is reused once it is gone, so the
/// same names meet a run in a new namespace just as they meet one here. First a mqueue run with
/// two pairs (queues of channels 1 and 2), an iceoryx2 run (its start removes the queues of
/// its channel 1; it leaves its segments in `/dev/shm` and its node under `/tmp/iceoryx2`),
/// then a shm-posix run (its start removes iceoryx2's dead node, which a sweep of `/dev/shm`
/// alone would have cut off from its segments, and leaves its own shared memory); the last
/// run's channel 1 is shm-posix and its channel 2 mqueue: each met EEXIST before.
const KILLED_RUNS_SCRIPT: &str = r#"killed_run() {
        echo $((DRIVER_PID - 1)) > /proc/sys/kernel/ns_last_pid || exit 9
        "$TB" "$@" --sizes 100 --duration 600s --timeout 10s >/dev/null 2>&1 &
        until [ "$(pgrep -c -f -- "$CLIENT_FLAG")" = "$CLIENTS" ]; do sleep 0.05; done
        kill -KILL -1
        while pgrep -f -- "$TB" >/dev/null; do sleep 0.05; done
    }
    echo "NAMESPACE $(stat -L -c %i /proc/self/ns/pid)"
    CLIENTS=2 killed_run --transports mqueue --pairs 2
    CLIENTS=1 killed_run --transports iceoryx2
    CLIENTS=1 killed_run --transports shm-posix
    echo "LEFT BEFORE: $(ls /dev/shm | grep -c "srb_tb_${DRIVER_PID}_p")"
    echo $((DRIVER_PID - 1)) > /proc/sys/kernel/ns_last_pid || exit 9
    "$TB" --transports shm-posix,mqueue --sizes 100 --duration 1s --timeout 10s
    echo "exit $?""#;

#[test]
#[ignore = "needs root: PID namespaces (.ci/run runs it)"]
fn a_run_removes_what_a_dead_run_with_its_pid_in_its_pid_namespace_left() {
    // Killed runs cannot remove iceoryx2's directories they made.
    leave_library_dirs_as_found(iceoryx2::KIND);
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount", "--mount-proc"])
        .args(["sh", "-c", KILLED_RUNS_SCRIPT])
        .env("TB", bin())
        .env("DRIVER_PID", KILLED_DRIVER_PID.to_string())
        // Not in the script's text, which `pgrep -f` would match in the shell's own command line.
        .env("CLIENT_FLAG", "--client")
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.starts_with("unshare:"),
        "needs root: the kernel refused the namespace: {stderr}"
    );
    assert!(stdout.contains("LEFT BEFORE: 6"), "{stdout}\n{stderr}");
    assert!(stdout.contains("exit 0"), "{stdout}\n{stderr}");
    let namespace = (stdout.lines())
        .find_map(|line| line.strip_prefix("NAMESPACE "))
        .and_then(|inode| inode.trim().parse::<u64>().ok())
        .expect("the namespace's inode");
    let channel = |n| channel_name(KILLED_DRIVER_PID, Some(namespace), n);
    for removed in [
        format!("removed stale shared memory /srb_{}_req", channel(1)),
        format!("removed stale message queue /{}_req", channel(2)),
    ] {
        assert!(stdout.contains(&removed), "{removed}: {stdout}");
    }
    // Nothing left of the namespace's runs: not in /dev/shm, not as a queue.
    let queues: Vec<String> = (1..=2)
        .flat_map(|n| channel_objects(&ChannelName::new(&channel(n)).unwrap()))
        .filter(|object| matches!(object, PosixObject::MessageQueue(_)) && object.exists())
        .map(|queue| queue.name().to_string())
        .collect();
    assert_eq!(queues, Vec::<String>::new());
    let prefix = format!("srb_tb_{KILLED_DRIVER_PID}_p{namespace}_");
    assert_eq!(shm_entries(&prefix), Vec::<String>::new());
    assert_eq!(files_under("/tmp/iceoryx2", &prefix), Vec::<String>::new());
}

/// The paths under `root` whose name contains `needle`.
fn files_under(root: &str, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                dirs.push(entry.path());
            }
            if entry.file_name().to_string_lossy().contains(needle) {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}
