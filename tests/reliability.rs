//! Faults created for real: signals to the driver and the server, servers that die, hang or
//! lie, concurrent drivers, stale and squatted objects. Every test checks that nothing is left.

mod common {
    pub mod busy;
    pub mod channel;
    pub mod cleanup;
    pub mod driver;
    pub mod interrupt;
    pub mod process;
    pub mod server;
    pub mod shm;
    pub mod signals;
    pub mod summary;
    pub mod syscall;
    pub mod zmq_peer;
}

use std::process::Command;
use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::channel::*;
use common::cleanup::remove_objects;
use common::driver::*;
use common::interrupt::interrupt_mid_measurement;
use common::process::bin;
use common::server::*;
use common::shm::{shm_endpoint, start_shm_server};
use common::signals::*;
use common::summary::SummaryTable;
#[cfg(target_arch = "x86_64")]
use common::syscall::thread_in_syscall;
use common::zmq_peer::ZmqTestServer;
use std::os::fd::AsRawFd;

use common::process::PATIENCE;
use nix::mqueue::{mq_close, mq_open, MQ_OFlag, MqAttr};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use transport_bench::transport::kinds::mqueue;
use transport_bench::transport::os::semaphore::NamedSemaphore;
use transport_bench::transport::os::shm::SharedMemory;
use transport_bench::transport::{TransportKind, HEADER_LEN};
use transport_bench::values::DEFAULT_BUFFER_SIZE;

/// Whether a thread of `pid` sleeps in `clock_nanosleep` now (syscall 230 on x86_64): a
/// paced client waiting for its next slot.
#[cfg(target_arch = "x86_64")]
fn sleeping_for_a_slot(pid: u32) -> bool {
    thread_in_syscall(pid, 230, |_| true)
}

/// SIGINT while a paced client sleeps for its next slot (`--interval 10s`) ends the wait: no
/// request leaves early, so no sample has a latency below its service time (before, the
/// interrupted sleep sent at once and recorded 0.0 µs). One round trip at a time, and four in
/// flight, whose client sleeps the same way once its window is empty.
#[cfg(target_arch = "x86_64")]
#[test]
fn sigint_during_a_paced_wait_records_no_early_request() {
    for in_flight in ["1", "4"] {
        let out_dir = tempfile::tempdir().unwrap();
        let json = out_dir.path().join("paced.json");
        let driver = Driver::start(&[
            "--iterations",
            "5",
            "--warmup",
            "0",
            "--interval",
            "10s",
            "--in-flight",
            in_flight,
            "--sizes",
            "small",
            "--transports",
            "pipe",
            "--export-json",
            json.to_str().unwrap(),
        ]);
        wait_for_server(&driver, "pipe");
        // The client is a process of the driver's own (`--client`); SIGINT goes to the driver,
        // which passes it on.
        eventually("the paced client's sleep", || {
            clients_of(driver.pid())
                .into_iter()
                .any(sleeping_for_a_slot)
        });
        signal(driver.pid(), Signal::SIGINT);
        let (status, out, err) = driver.finish_clean();
        assert_eq!(status.code(), Some(130), "{out}\n{err}");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let result = &doc["results"][0];
        assert_eq!(result["status"], "interrupted", "{result}");
        assert_eq!(
            result["iterations"], 1,
            "only the first slot's request left: {result}"
        );
        let (latency, service) = (&result["latency_us"], &result["service_us"]);
        for key in ["min", "max"] {
            let (l, s) = (
                latency[key].as_f64().unwrap(),
                service[key].as_f64().unwrap(),
            );
            assert!(
                l >= s && l > 0.0,
                "in flight {in_flight}, {key}: latency {l}, service {s}"
            );
        }
    }
}

#[test]
fn sigint_mid_measurement_shm() {
    interrupt_mid_measurement("shm-posix", Signal::SIGINT, 130);
}

#[test]
fn sigterm_mid_measurement_zmq() {
    interrupt_mid_measurement("zmq-ipc", Signal::SIGTERM, 143);
}

#[test]
fn sigint_during_warmup() {
    let driver = Driver::start(&[
        "--warmup",
        "100000000",
        "--sizes",
        "small",
        "--transports",
        "shm-posix",
    ]);
    let server = wait_for_server(&driver, "shm-posix");
    wait_until_busy(server);
    signal(driver.pid(), Signal::SIGINT);
    let (status, out, _) = driver.finish_clean();
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted by SIGINT"), "{out}");
}

#[test]
fn sigterm_between_cases_keeps_completed_results() {
    // The first case is short; the second never starts measuring because it cannot get READY.
    let driver = Driver::start(&[
        "--iterations",
        "50",
        "--sizes",
        "small",
        "--timeout",
        "60s",
        "--inject-server-fault",
        "zmq-ipc:no-ready",
    ]);
    wait_for_line(&driver.spawned, "[2/2] Running ZeroMQ IPC benchmark");
    wait_for_server(&driver, "zmq-ipc");
    signal(driver.pid(), Signal::SIGTERM);
    let (status, out, _) = driver.finish_clean();
    assert_eq!(status.code(), Some(143), "{out}");
    let table = SummaryTable::parse(&out);
    assert_eq!(table.row_count(), 2, "{out}");
    assert_eq!(
        table.cell("100 B", "ZeroMQ IPC", "Total time"),
        "interrupted",
        "{out}"
    );
    let shm_mean = table.cell("100 B", "SHM POSIX", "Mean (µs/call)");
    assert!(
        shm_mean.parse::<f64>().is_ok_and(|mean| mean > 0.0),
        "{out}"
    );
    let shm_total = table.cell("100 B", "SHM POSIX", "Total time");
    assert!(shm_total.starts_with(|c: char| c.is_ascii_digit()), "{out}");
}

#[test]
fn sigkill_of_each_server_fails_its_case_and_the_run_goes_on() {
    let driver = Driver::start(&[
        "--iterations",
        "100000000",
        "--sizes",
        "small",
        "--timeout",
        "20s",
        "--transports",
        "all",
    ]);
    for transport in TransportKind::all().iter().map(|kind| kind.name()) {
        let server = wait_for_server(&driver, transport);
        wait_until_busy(server);
        signal(server, Signal::SIGKILL);
    }
    let (status, out, _) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{out}");
    for name in TransportKind::all().iter().map(|kind| kind.display_name()) {
        let line =
            format!("✗ {name} benchmark failed: server exited: killed by signal 9 (SIGKILL)");
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("(100 B messages)"), "{out}");
}

#[test]
fn a_server_that_exits_by_itself_is_reported_and_exported() {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("r.json");
    let csv = out_dir.path().join("r.csv");
    let driver = Driver::start(&[
        "--iterations",
        "200",
        "--sizes",
        "small",
        "--inject-server-fault",
        "shm-posix:exit@150",
        "--export-json",
        json.to_str().unwrap(),
        "--export-csv",
        csv.to_str().unwrap(),
    ]);
    let (status, out, _) = driver.finish_clean();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["state"], "complete");
    assert_eq!(doc["results"][0]["status"], "failed");
    assert!(doc["results"][0]["error"]
        .as_str()
        .unwrap()
        .contains("server exited: exit code 3"));
    assert_eq!(
        doc["results"][0]["iterations"], 49,
        "the 49 timed round trips before the exit are kept"
    );
    assert_eq!(doc["results"][1]["status"], "ok");
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv_text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("shm-posix,100,failed,49,"),
        "{csv_text}"
    );
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("SHM POSIX benchmark failed: server exited: exit code 3"),
        "{out}"
    );
    assert!(
        out.contains("fault injected: exiting on request 150"),
        "{out}"
    );
    assert!(
        out.contains("[2/2] Running ZeroMQ IPC benchmark...\n      Completed in"),
        "{out}"
    );
}

#[test]
fn a_server_that_never_says_ready_times_out() {
    let driver = Driver::start(&[
        "--iterations",
        "50",
        "--sizes",
        "small",
        "--timeout",
        "1s",
        "--inject-server-fault",
        "zmq-ipc:no-ready",
    ]);
    let (status, out, _) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "ZeroMQ IPC benchmark failed: timed out after 1s waiting for the server to print READY"
        ),
        "{out}"
    );
}

#[test]
fn sigkill_of_the_driver_takes_its_server_down_cleanly() {
    for transport in TransportKind::all().iter().map(|kind| kind.name()) {
        let driver = Driver::start(&[
            "--iterations",
            "100000000",
            "--sizes",
            "small",
            "--transports",
            transport,
        ]);
        let pid = driver.pid();
        let server = wait_for_server(&driver, transport);
        wait_until_busy(server);
        signal(pid, Signal::SIGKILL);
        // The server gets SIGTERM from the kernel (PR_SET_PDEATHSIG) and cleans up itself.
        eventually("the orphaned server to exit", || {
            processes_with(&format!("tb_{pid}_")).is_empty() && servers_of(pid).is_empty()
        });
        let tmp = driver.tmp.path().to_path_buf();
        let _ = driver.spawned.finish();
        assert_nothing_left(pid, &tmp);
        if transport == "iceoryx2" {
            // A SIGKILLed driver may leave its own iceoryx2 node (its server removes its own):
            // the sweep of dead runs' objects takes it, so that the machine is left as found.
            let swept = std::process::Command::new(bin())
                .arg("cleanup")
                .output()
                .unwrap();
            assert!(swept.status.success(), "{swept:?}");
        }
    }
}

#[test]
fn concurrent_drivers_do_not_meet() {
    let args = ["--iterations", "300", "--sizes", "small,medium"];
    let drivers: Vec<Driver> = (0..3).map(|_| Driver::start(&args)).collect();
    for driver in drivers {
        let (status, out, err) = driver.finish_clean();
        assert!(status.success(), "{out}\n{err}");
    }
}

#[test]
fn cleanup_of_one_channel_removes_a_killed_servers_objects() {
    let channel = unique_channel("killed");
    let server = start_shm_server(&channel, 4096);
    assert_eq!(channel_leftovers(&channel).len(), 6);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    assert_eq!(
        channel_leftovers(&channel).len(),
        6,
        "SIGKILL leaves objects: the case cleanup exists for"
    );
    let output = Command::new(bin())
        .args(["cleanup", "--channel", &channel])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert_eq!(out.matches("Removed ").count(), 6, "{out}");
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn creation_is_exclusive_and_a_squatter_is_left_alone() {
    let channel = unique_channel("squat");
    // Someone else owns one of the six names.
    std::mem::forget(NamedSemaphore::create(&format!("/srb_{channel}_resp_full"), 0).unwrap());
    let output = Command::new(bin())
        .args([
            "--server",
            "--transport",
            "shm-posix",
            "--channel",
            &channel,
            "--buffer-size",
            "4096",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let left = channel_leftovers(&channel);
    remove_objects(&channel);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("creating semaphore /srb_{channel}_resp_full")),
        "{stderr}"
    );
    assert!(stderr.contains("EEXIST"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("READY"));
    assert_eq!(
        left,
        vec![format!("sem.srb_{channel}_resp_full")],
        "only the squatter's object remains"
    );

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("taken.sock");
    std::fs::write(&socket, b"not a socket").unwrap();
    let endpoint = format!("ipc://{}", socket.display());
    let output = Command::new(bin())
        .args([
            "--server",
            "--transport",
            "zmq-ipc",
            "--endpoint",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&socket).unwrap(), b"not a socket");
}

#[test]
fn objects_are_created_owner_only() {
    let channel = unique_channel("mode");
    let server = start_shm_server(&channel, 4096);
    for entry in channel_leftovers(&channel) {
        let meta = std::fs::metadata(format!("/dev/shm/{entry}")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{entry}");
    }
    stop_server_clean(server, &channel);
}

/// Runs with `fault` injected and asserts that the run fails (exit 1) saying `expected`.
fn assert_fault_fails(fault: &str, extra: &[&str], expected: &str) {
    let (code, out) = run_with_fault(fault, extra);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
}

fn run_with_fault(fault: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "--iterations",
        "100",
        "--warmup",
        "100",
        "--sizes",
        "small",
        "--inject-server-fault",
        fault,
    ];
    args.extend_from_slice(extra);
    let driver = Driver::start(&args);
    let (status, out, _) = driver.finish_clean();
    (status.code().unwrap_or(-1), out)
}

#[test]
fn corrupted_sequence_number_is_caught_on_every_round_trip() {
    assert_fault_fails(
        "shm-posix:flip@150:3",
        &[],
        "round trip 150: the reply differs from the request at byte offset 3 (sequence number)",
    );
}

#[test]
fn corrupted_payload_is_caught_during_warmup() {
    assert_fault_fails(
        "zmq-ipc:flip@10:40",
        &[],
        "round trip 10: the reply differs from the request at byte offset 40 (payload)",
    );
}

#[test]
fn corrupted_payload_mid_run_needs_verify_all() {
    let (code, out) = run_with_fault("shm-posix:flip@150:40", &[]);
    assert_eq!(
        code, 0,
        "only the sequence number is checked mid-run by default:\n{out}"
    );
    assert_fault_fails(
        "shm-posix:flip@150:40",
        &["--verify-all"],
        "round trip 150: the reply differs from the request at byte offset 40",
    );
}

#[test]
fn corrupted_payload_on_the_last_round_trip_is_caught() {
    assert_fault_fails(
        "zmq-ipc:flip@200:99",
        &[],
        "round trip 200: the reply differs from the request at byte offset 99",
    );
}

/// What a client says when a `bad-length` server announces one byte more than the default
/// buffer carries.
fn bad_length_error() -> String {
    let capacity = DEFAULT_BUFFER_SIZE - HEADER_LEN;
    format!(
        "peer announced a {}-byte message, more than the {capacity} bytes",
        capacity + 1
    )
}

#[test]
fn hostile_length_headers_are_errors_not_crashes() {
    assert_fault_fails(
        "shm-posix:bad-length@120",
        &[],
        &format!("SHM POSIX benchmark failed: {}", bad_length_error()),
    );
    assert_fault_fails(
        "zmq-ipc:bad-length@120",
        &[],
        "round trip 120: the reply has 101 bytes, the request had 100",
    );
}

#[test]
fn a_hostile_client_header_stops_the_server_cleanly() {
    let channel = unique_channel("hostile");
    let server = start_shm_server(&channel, 4096);
    {
        let memory = SharedMemory::open(&format!("/srb_{channel}_req"), 4096).unwrap();
        let empty = NamedSemaphore::open(&format!("/srb_{channel}_req_empty")).unwrap();
        let full = NamedSemaphore::open(&format!("/srb_{channel}_req_full")).unwrap();
        empty
            .wait(
                Duration::from_secs(10),
                &transport_bench::transport::NoWatch,
            )
            .unwrap();
        // SAFETY: a 4096-byte mapping; we hold req_empty.
        unsafe {
            std::ptr::copy_nonoverlapping(
                u32::MAX.to_ne_bytes().as_ptr(),
                memory.as_ptr(),
                HEADER_LEN,
            )
        };
        full.post().unwrap();
    }
    let (status, _, stderr) = server.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let expected = format!(
        "peer announced a {}-byte message, more than the {} bytes",
        u32::MAX,
        4096 - HEADER_LEN
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn a_multipart_zmq_request_is_echoed_whole_and_the_server_goes_on() {
    let peer = ZmqTestServer::start(4096);
    let req = peer.raw_client();
    req.set_rcvtimeo(60_000).unwrap();
    req.send_multipart([b"one".as_slice(), b"two".as_slice()], 0)
        .unwrap();
    assert_eq!(
        req.recv_multipart(0).unwrap(),
        [b"one".to_vec(), b"two".to_vec()]
    );
    req.send(b"single".as_slice(), 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"single");
    signal(peer.server.pid(), Signal::SIGTERM);
    let (status, _, stderr) = peer.server.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("echoed 1 request(s) of more than one part whole"),
        "{stderr}"
    );
    assert!(!peer.socket_path.exists());
}

#[test]
fn faults_in_the_message_transports_are_caught() {
    // A ZeroMQ or mqueue reply carries its own length: a bad one is a reply of the wrong length.
    for (transport, name) in [("zmq-tcp", "ZeroMQ TCP"), ("mqueue", "POSIX mqueue")] {
        let only = ["--transports", transport];
        assert_fault_fails(
            &format!("{transport}:exit@150"),
            &only,
            &format!("{name} benchmark failed: server exited: exit code 3"),
        );
        assert_fault_fails(
            &format!("{transport}:flip@150:3"),
            &only,
            "round trip 150: the reply differs from the request at byte offset 3",
        );
        assert_fault_fails(
            &format!("{transport}:bad-length@120"),
            &only,
            "round trip 120: the reply has 101 bytes, the request had 100",
        );
    }
}

#[test]
fn a_killed_mqueue_servers_queues_are_found_and_removed_by_name() {
    // /dev/mqueue is not mounted here: cleanup must find the queues by the channel's name.
    let channel = unique_channel("mqkilled");
    let endpoint = shm_endpoint(&channel, 4096);
    let server = start_server(&server_args(mqueue::KIND, &endpoint, PATIENCE), &[]);
    let queues = [format!("/{channel}_req"), format!("/{channel}_resp")];
    assert_eq!(channel_leftovers(&channel), queues);
    signal(server.pid(), Signal::SIGKILL);
    let _ = server.finish();
    assert_eq!(channel_leftovers(&channel), queues, "SIGKILL leaves queues");
    let output = Command::new(bin())
        .args(["cleanup", "--channel", &channel])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    for queue in &queues {
        assert!(
            out.contains(&format!("Removed message queue {queue}")),
            "{out}"
        );
    }
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn an_mqueue_server_refuses_a_squatted_queue_and_leaves_it_alone() {
    let channel = unique_channel("mqsquat");
    let squatted = format!("/{channel}_resp");
    let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDONLY;
    let attributes = MqAttr::new(0, 1, 16, 0);
    let squatter = mq_open(squatted.as_str(), flags, Mode::S_IRUSR, Some(&attributes)).unwrap();
    mq_close(squatter).unwrap();
    let output = Command::new(bin())
        .args(["--server", "--transport", "mqueue", "--channel", &channel])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let left = channel_leftovers(&channel);
    remove_objects(&channel);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("creating message queue {squatted}")) && stderr.contains("EEXIST"),
        "{stderr}"
    );
    assert_eq!(left, vec![squatted], "only the squatter's queue remains");
}

#[test]
fn mqueue_queues_are_created_owner_only() {
    let channel = unique_channel("mqmode");
    let endpoint = shm_endpoint(&channel, 4096);
    let server = start_server(&server_args(mqueue::KIND, &endpoint, PATIENCE), &[]);
    for queue in channel_leftovers(&channel) {
        let opened = mq_open(queue.as_str(), MQ_OFlag::O_RDONLY, Mode::empty(), None).unwrap();
        let mode = nix::sys::stat::fstat(opened.as_raw_fd()).unwrap().st_mode;
        mq_close(opened).unwrap();
        assert_eq!(mode & 0o777, 0o600, "{queue}");
    }
    stop_server_clean(server, &channel);
}

#[test]
fn faults_in_the_added_transports_are_caught() {
    for (transport, name) in [
        ("unix-stream", "Unix stream"),
        ("shm-spin", "SHM spin"),
        ("shm-zc", "SHM zero-copy"),
        ("pipe", "Pipe"),
        ("tcp", "TCP"),
    ] {
        let only = ["--transports", transport];
        assert_fault_fails(
            &format!("{transport}:exit@150"),
            &only,
            &format!("{name} benchmark failed: server exited: exit code 3"),
        );
        assert_fault_fails(
            &format!("{transport}:flip@150:3"),
            &only,
            "round trip 150: the reply differs from the request at byte offset 3",
        );
        assert_fault_fails(
            &format!("{transport}:bad-length@120"),
            &only,
            &format!("{name} benchmark failed: {}", bad_length_error()),
        );
    }
}
