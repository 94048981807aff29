//! The driver runs no transport code: each run's client is a process of its own
//! (`transport-bench --client`), so a client that aborts, is killed (as the OOM killer kills)
//! or faults (as iceoryx2 does on truncated shared memory) fails its case, with the cause
//! named, and every other case runs; the summary and the exports are complete. And the
//! children die with the driver: a driver killed mid-case leaves no server, no client and no
//! object for more than a moment.

mod common {
    pub mod driver;
    pub mod process;
}

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::driver::{clients_of, driver_leftovers, eventually, servers_of, Driver};
use common::process::{bin, shm_entries, Spawned};

/// Reads the JSON export at `path`.
fn export(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The result of `transport` in the export `doc`.
fn result<'a>(doc: &'a serde_json::Value, transport: &str) -> &'a serde_json::Value {
    let results = doc["results"].as_array().unwrap();
    (results.iter())
        .find(|r| r["transport"] == transport)
        .unwrap_or_else(|| panic!("no result for {transport}: {doc}"))
}

#[test]
fn a_client_that_aborts_is_killed_or_faults_fails_only_its_case_naming_the_signal() {
    for (fault, signal) in [("abort", "SIGABRT"), ("kill", "SIGKILL"), ("bus", "SIGBUS")] {
        let out = tempfile::tempdir().unwrap();
        let json = out.path().join("r.json");
        let injected = format!("shm-posix:{fault}");
        let driver = Driver::start(&[
            "--transports",
            "shm-posix,pipe",
            "--sizes",
            "small",
            "--iterations",
            "3000",
            "--inject-client-fault",
            &injected,
            "--export-json",
            json.to_str().unwrap(),
        ]);
        let (status, stdout, stderr) = driver.finish_clean();
        assert_eq!(status.code(), Some(1), "{fault}: {stdout}\n{stderr}");
        assert!(stdout.contains("OVERALL SUMMARY"), "{fault}: {stdout}");
        let doc = export(&json);
        assert_eq!(doc["state"], "complete", "{fault}: {doc}");
        let failed = result(&doc, "shm-posix");
        assert_eq!(failed["status"], "failed", "{fault}: {failed}");
        let error = failed["error"].as_str().unwrap();
        assert!(error.contains("client process"), "{fault}: {error}");
        assert!(error.contains(signal), "{fault}: {error}");
        assert!(error.contains("injected client fault"), "{fault}: {error}");
        assert_eq!(result(&doc, "pipe")["status"], "ok", "{fault}: {doc}");
    }
}

#[test]
fn a_client_fault_in_one_pair_fails_the_run_and_stops_the_other_pairs() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    // The first pair's client dies at its first progress report; the run lasts 10 minutes
    // unless the other pairs are stopped, and `finish_clean` gives up long before that.
    let driver = Driver::start(&[
        "--transports",
        "unix-stream",
        "--sizes",
        "small",
        "--pairs",
        "3",
        "--duration",
        "600s",
        "--inject-client-fault",
        "unix-stream:kill",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let doc = export(&json);
    let failed = result(&doc, "unix-stream");
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("pair 1: the client process"), "{error}");
    assert!(error.contains("SIGKILL"), "{error}");
}

/// Starts a driver on a case whose server holds `size` of `/dev/shm`, and returns it once its
/// server and client are both running, the server's objects made.
fn driver_mid_case(size: &str) -> (Driver, Vec<u32>) {
    let driver = Driver::start(&[
        "--transports",
        "shm-posix",
        "--sizes",
        size,
        "--duration",
        "60s",
        "--warmup",
        "2",
    ]);
    let pid = driver.pid();
    eventually("the server's objects and the client", || {
        !driver_leftovers(pid).is_empty()
            && servers_of(pid).len() == 1
            && clients_of(pid).len() == 1
    });
    let children = [servers_of(pid), clients_of(pid)].concat();
    (driver, children)
}

#[test]
fn a_driver_killed_mid_case_takes_its_server_client_and_their_objects_with_it() {
    let (mut driver, children) = driver_mid_case("256MiB");
    let pid = driver.pid();
    assert!(
        !shm_entries(&format!("srb_tb_{pid}_")).is_empty(),
        "the server holds its segments"
    );
    driver.spawned.child.kill().unwrap();
    driver.spawned.child.wait().unwrap();
    // Generous: a loaded machine may be slow to schedule them; a bound that holds a server
    // for 25 s (issue 27) fails it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim()
                .starts_with('Z')
        })
    };
    while (children.iter().any(alive) || !driver_leftovers(pid).is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let living: Vec<&u32> = children.iter().filter(|pid| alive(pid)).collect();
    assert!(
        living.is_empty(),
        "children outlived their driver: {living:?}"
    );
    assert_eq!(driver_leftovers(pid), Vec::<String>::new(), "objects left");
}

/// A stop signal sent to a client alone (not to its driver) ends that case early: the case
/// fails, saying so, and the run goes on and exits 1; it is never a short run reported as an
/// interrupted one with its figures, with the run "complete" and exit 0.
#[test]
fn a_stop_signal_to_a_client_alone_fails_its_case() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let driver = Driver::start(&[
        "--transports",
        "shm-posix,pipe",
        "--sizes",
        "small",
        "--duration",
        "2s",
        "--export-json",
        json.to_str().unwrap(),
    ]);
    let pid = driver.pid();
    // Once it handles SIGTERM: before that, the signal's default action would kill it, a
    // different failure (seen on a loaded machine).
    eventually("the first case's client, handling SIGTERM", || {
        let clients = clients_of(pid);
        clients.len() == 1 && catches(clients[0], nix::sys::signal::Signal::SIGTERM)
    });
    let client = clients_of(pid)[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let doc = export(&json);
    assert_eq!(doc["state"], "complete", "{doc}");
    let failed = result(&doc, "shm-posix");
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("signal the driver did not receive"),
        "{error}"
    );
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
}

/// Whether process `pid` has a handler for `signal` (its bit in `SigCgt` of /proc/PID/status):
/// a child that was just spawned takes a signal's default action until it installs one.
pub fn catches(pid: u32, signal: nix::sys::signal::Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal as u32 - 1)) != 0)
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
}

/// A driver on shm-posix then pipe, 3 s each, with `extra` arguments; returned once the first
/// case's clients (`clients` of them) are running, with the export's path.
fn driver_in_first_case(extra: &[&str], clients: usize) -> (Driver, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let args = ["--transports", "shm-posix,pipe", "--sizes", "small"];
    let args = [&args[..], &["--duration", "3s", "--timeout", "2s"], extra].concat();
    let driver = Driver::start(&[&args[..], &["--export-json", json.to_str().unwrap()]].concat());
    let pid = driver.pid();
    eventually("the first case's clients", || {
        clients_of(pid).len() == clients
    });
    (driver, out)
}

/// Issue 27: a client stopped with SIGSTOP sends nothing, and a pair that does not report
/// progress sends nothing for its whole run either; the driver waited for ever. The kernel
/// says the client is stopped: after `--timeout` of that, the case fails naming the client,
/// which is killed with its server, and the next case runs.
#[test]
fn a_stopped_client_fails_its_case_naming_it_and_the_next_case_runs() {
    let (driver, out) = driver_in_first_case(&["--pairs", "2"], 2);
    // Either pair's; the second is spawned second.
    let client = clients_of(driver.pid())[1];
    signal(client, nix::sys::signal::Signal::SIGSTOP);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let doc = export(&out.path().join("r.json"));
    assert_eq!(doc["state"], "complete", "{doc}");
    let failed = result(&doc, "shm-posix");
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    let expected = format!("client {client} stopped (SIGSTOP) for more than 2s; killed it");
    assert!(
        error.starts_with("pair ") && error.contains(&expected),
        "{error}"
    );
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
}

/// A server stopped with SIGSTOP: its client's wait runs out at `--timeout`, and the driver,
/// the server's parent, says why: the server is named as stopped; it is killed, its objects
/// removed, and the next case runs.
#[test]
fn a_stopped_server_fails_its_case_naming_it_and_the_next_case_runs() {
    let (driver, out) = driver_in_first_case(&[], 1);
    let server = servers_of(driver.pid())[0];
    signal(server, nix::sys::signal::Signal::SIGSTOP);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let doc = export(&out.path().join("r.json"));
    let failed = result(&doc, "shm-posix");
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    let expected = format!("server {server} stopped (SIGSTOP): timed out after 2s");
    assert!(error.starts_with(&expected), "{error}");
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
}

/// The same with `--pairs 2`: a pair's timeout is a timeout too (`RunError::is_timeout` did
/// not look inside a pair's error), so the driver asks that pair's server why.
#[test]
fn a_stopped_server_of_one_pair_fails_the_run_naming_the_pair_and_the_server() {
    let (driver, out) = driver_in_first_case(&["--pairs", "2"], 2);
    let server = servers_of(driver.pid())[1];
    signal(server, nix::sys::signal::Signal::SIGSTOP);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let doc = export(&out.path().join("r.json"));
    let failed = result(&doc, "shm-posix");
    let error = failed["error"].as_str().unwrap();
    let expected = format!(": server {server} stopped (SIGSTOP): timed out after 2s");
    assert!(
        error.starts_with("pair ") && error.contains(&expected),
        "{error}"
    );
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
}

/// The driver stopped (Ctrl-Z, `kill -STOP`) for longer than `--timeout` mid-case, then
/// continued: its clients and servers ran on meanwhile, and the run completes as if nothing
/// had happened.
#[test]
fn a_driver_stopped_and_continued_completes_its_run() {
    let (driver, out) = driver_in_first_case(&[], 1);
    signal(driver.pid(), nix::sys::signal::Signal::SIGSTOP);
    // Longer than --timeout: nothing may take the driver's pause for a peer's silence.
    std::thread::sleep(Duration::from_secs(3));
    signal(driver.pid(), nix::sys::signal::Signal::SIGCONT);
    let (status, stdout, stderr) = driver.finish_clean();
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    let doc = export(&out.path().join("r.json"));
    assert_eq!(result(&doc, "shm-posix")["status"], "ok", "{doc}");
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
}

#[test]
fn a_client_command_line_that_is_not_json_is_a_usage_error() {
    let mut command = Command::new(bin());
    command.args(["--client", "{"]);
    let (status, _, stderr) = Spawned::start(&mut command).finish();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("client mode's JSON"), "{stderr}");
}

/// Defect 1 of issue 27: `/dev/shm` a private tmpfs, and iceoryx2 asked for 1 MB stream
/// messages. The tmpfs has room when the run starts (so the check of what a case takes before
/// anything starts lets the case run), and is filled to 3 MiB free while the pipe case before
/// it runs (its server's appearance is the signal), as another program could fill it. iceoryx2's
/// shared memory then cannot be had; the library faults (SIGBUS) or fails, in the client or the
/// server, never in the driver: the case fails with its cause, the run completes with its
/// summary and exports, and nothing is left in `/dev/shm` or `/tmp/iceoryx2`.
#[test]
#[ignore = "needs root: private mount namespace"]
fn iceoryx2_on_a_full_dev_shm_fails_its_case_and_the_run_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let before = iceoryx2_files();
    let script = r#"
        mount --make-rprivate / && mount -t tmpfs -o size=120m tmpfs /dev/shm || exit 99
        "$0" "$@" &
        driver=$!
        until pgrep -P "$driver" -f -- "--transport pipe" >/dev/null; do
            kill -0 "$driver" 2>/dev/null || break
            sleep 0.01
        done
        free_kib=$(df --output=avail -k /dev/shm | tail -n 1)
        fallocate -l $(( (free_kib - 3072) * 1024 )) /dev/shm/filler || exit 98
        wait "$driver"
        code=$?
        rm -f /dev/shm/filler
        echo "LEFT IN /dev/shm: [$(ls -A /dev/shm | tr '\n' ' ')]"
        exit $code
    "#;
    let mut command = Command::new("unshare");
    command
        .args(["-m", "sh", "-c", script])
        .arg(bin())
        .args(["--transports", "pipe,iceoryx2", "--sizes", "1MB"])
        .args(["--pattern", "stream", "--iterations", "2000"])
        .args(["--export-json", json.to_str().unwrap()]);
    let (status, stdout, stderr) = Spawned::start(&mut command).finish();
    assert_ne!(status.code(), Some(99), "cannot mount a tmpfs: {stderr}");
    assert_ne!(status.code(), Some(98), "cannot fill the tmpfs: {stderr}");
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("OVERALL SUMMARY"), "{stdout}");
    assert!(stdout.contains("LEFT IN /dev/shm: []"), "{stdout}");
    let doc = export(&json);
    assert_eq!(doc["state"], "complete", "{doc}");
    let failed = result(&doc, "iceoryx2");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(!failed["error"].as_str().unwrap().is_empty(), "{failed}");
    assert_eq!(result(&doc, "pipe")["status"], "ok", "{doc}");
    assert_eq!(iceoryx2_files(), before, "files left in /tmp/iceoryx2");
}

/// The regular files under `/tmp/iceoryx2`, sorted.
fn iceoryx2_files() -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => walk(&path, found),
                Ok(_) => found.push(path.display().to_string()),
                Err(_) => {}
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/tmp/iceoryx2"), &mut found);
    found.sort();
    found
}
