//! The C echo servers of `baselines/` speak the tool's own layouts: the tool's client reaches
//! each with `--connect` and every echo checks out, which `baselines/own_cost.sh`'s split cases
//! rely on to hold the tool's client against a server with no cost of the tool's own. Should
//! a transport's layout change, the server that copies it fails here, not in a figure. Each
//! server, stopped with SIGTERM, exits 0 and leaves nothing of its channel behind.

mod common {
    pub mod channel;
    pub mod cleanup;
    pub mod process;
    // For wait_for_line alone: the rest of it starts the tool's own servers.
    #[allow(dead_code)]
    pub mod server;
    pub mod signals;
}

use std::path::{Path, PathBuf};
use std::process::Command;

use common::channel::unique_channel;
use common::cleanup::remove_objects;
use common::process::{bin, Spawned};
use common::server::wait_for_line;
use common::signals::stop_server_clean;

/// The buffer size both sides are given (the tool's default for the four named sizes).
const BUFFER: &str = "2500000";

/// Builds `baselines/NAME.c` into `dir` with the warnings own_cost.sh builds with, as errors.
fn compile(name: &str, dir: &Path) -> PathBuf {
    compile_with(name, dir, &[])
}

/// [`compile`] with `defines` (`-DWRITEV`, for example).
fn compile_with(name: &str, dir: &Path, defines: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("baselines")
        .join(format!("{name}.c"));
    let program = dir.join(name);
    let output = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .args(defines)
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .output()
        .expect("running the C compiler (the crate's build needs one too)");
    assert!(
        output.status.success(),
        "{name}.c does not build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    program
}

/// Unlinks a channel's objects when dropped: a server killed by an unwinding test (dropping
/// its [`Spawned`] kills it with SIGKILL) cannot unlink them itself.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        remove_objects(&self.0);
    }
}

/// Starts the C echo server `name` on a fresh channel, measures it with the tool's `transport`
/// client at 100 B and 10 KB, every byte of every echo checked, with `extra` options, and stops
/// it.
fn the_tools_client_measures(name: &str, transport: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let program = compile(name, dir.path());
    let channel = unique_channel(name);
    let _sweep = Sweep(channel.clone());
    let server = Spawned::start(Command::new(&program).args([channel.as_str(), BUFFER]));
    wait_for_line(&server, "READY");
    let json = dir.path().join("report.json");
    let output = Command::new(bin())
        .arg("--connect")
        .arg(format!("{transport}:{channel}"))
        .args([
            "--sizes",
            "100,10000",
            "--iterations",
            "300",
            "--warmup",
            "10",
        ])
        .args(["--buffer-size", BUFFER, "--timeout", "30s", "--verify-all"])
        .args(extra)
        .arg("--export-json")
        .arg(&json)
        .output()
        .expect("running the driver");
    // Stopped before anything is asserted, so that a failed case leaves no segment behind.
    stop_server_clean(server, &channel);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{name}: driver failed:\n{stdout}\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{name}: {report}");
    for result in results {
        assert_eq!(result["status"], "ok", "{name}: {result}");
        assert_eq!(result["iterations"], 300, "{name}: {result}");
    }
}

#[test]
fn echo_spin_speaks_shm_spin() {
    the_tools_client_measures("echo_spin", "shm-spin", &[]);
}

/// With no spin budget the tool's client sleeps on its futex for every reply, so each reply
/// goes through echo_spin's wake. A lost wake would not fail this (the client's slices, 50 ms
/// each, end every sleep): it checks that the path carries every echo intact, and the time it
/// takes is no test's business.
#[test]
fn echo_spin_wakes_a_client_that_sleeps() {
    the_tools_client_measures("echo_spin", "shm-spin", &["--spin-budget", "0"]);
}

#[test]
fn echo_shm_sem_speaks_shm_posix() {
    the_tools_client_measures("echo_shm_sem", "shm-posix", &[]);
}

/// The Unix stream baseline in each build docs/own-cost.md compares (plain, with the tool's
/// `writev`, with helper threads, with both) carries every message whole and in order, every
/// byte checked (`-v`): a wrong frame ends its server, and the program, with an error.
/// clock_cost.c builds without a warning and says what each read costs, in three rounds.
#[test]
fn the_clock_cost_program_prices_every_clock_in_each_round() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile("clock_cost", dir.path());
    let output = Command::new(&program).arg("100000").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = String::from_utf8_lossy(&output.stdout);
    let clocks: &[&str] = if cfg!(target_arch = "x86_64") {
        &["clock_gettime", "rdtsc", "lfence;rdtsc", "rdtscp"]
    } else {
        &["clock_gettime"]
    };
    let rounds: Vec<&str> = report.lines().collect();
    assert_eq!(rounds.len(), 3, "{report}");
    for (n, line) in rounds.iter().enumerate() {
        assert!(line.starts_with(&format!("round {}: ", n + 1)), "{line}");
        for clock in clocks {
            let figure = line
                .split(&format!(" {clock} "))
                .nth(1)
                .and_then(|rest| rest.split(" ns").next())
                .and_then(|ns| ns.parse::<f64>().ok());
            assert!(figure.is_some_and(|ns| ns > 0.0), "{clock}: {line}");
        }
    }
    let refused = Command::new(&program).arg("0").output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn the_socketpair_stream_carries_every_byte_in_each_build_compared() {
    let dir = tempfile::tempdir().unwrap();
    let builds: [&[&str]; 4] = [
        &[],
        &["-DWRITEV"],
        &["-DHELPER_THREAD"],
        &["-DWRITEV", "-DHELPER_THREAD"],
    ];
    for defines in builds {
        let program = compile_with("stream_socketpair", dir.path(), defines);
        for size in ["100", "10000"] {
            let output = Command::new(&program)
                .args([size, "2000", "-v"])
                .output()
                .expect("running stream_socketpair");
            let said = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{defines:?} {size}: {said}");
            let report = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<&str> = report.split_whitespace().collect();
            assert_eq!(
                fields[..3],
                ["socketpair", size, "2000"],
                "{defines:?}: {report}"
            );
        }
    }
}
