//! A peer that truncates shared memory: another process of the same user shrinks a `/dev/shm`
//! object to nothing while a driver or a server uses it, which used to kill them with SIGBUS.
//! Here the test is that process (`set_len(0)` on the file). The side that touches the object
//! fails with "... was truncated by another process"; a server exits 1 and unlinks its objects;
//! a driver fails the case, goes on, prints and exports everything, and leaves nothing behind.

mod common {
    pub mod busy;
    pub mod channel;
    pub mod client;
    pub mod driver;
    pub mod process;
    pub mod server;
    pub mod shm;
}

use std::fs::OpenOptions;
use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::channel::{channel_leftovers, unique_channel};
use common::client::connect;
use common::driver::{driver_leftovers, eventually, Driver};
use common::process::{Spawned, PATIENCE};
use common::server::{server_args, start_server};
use common::shm::{shm_endpoint, start_shm_server};
use transport_bench::transport::kinds::{shm_posix, shm_spin, shm_zc};
use transport_bench::transport::{TransportError, TransportKind};

/// Shrinks `/dev/shm/<entry>` to nothing, as a hostile or buggy process of the same user would.
fn truncate(entry: &str) {
    let file = OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{entry}"))
        .unwrap_or_else(|e| panic!("opening /dev/shm/{entry}: {e}"));
    file.set_len(0).unwrap();
}

/// The `/dev/shm` entry of the driver's current channel whose name ends with `suffix`.
fn driver_object(driver: &Driver, suffix: &str) -> String {
    let mut found = None;
    eventually(&format!("the driver's *{suffix} object"), || {
        found = driver_leftovers(driver.pid())
            .into_iter()
            .find(|entry| entry.ends_with(suffix));
        found.is_some()
    });
    found.unwrap()
}

/// The error a driver or server reports for the shared-memory object at `/dev/shm/<entry>`.
fn truncated_memory(entry: &str) -> String {
    format!("the shared memory object /{entry} was truncated by another process")
}

/// Runs a driver over `transports` with endless round trips and, once each case is measuring,
/// truncates its object ending in the paired suffix. Asserts what every such run must end in:
/// exit 1, a summary, a complete JSON export with every case failed, and nothing left. Returns
/// the printed output and the entries it truncated, in order.
fn truncate_under_a_driver(transports: &[(&str, &str)]) -> (String, Vec<String>) {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("results.json");
    let names: Vec<&str> = transports.iter().map(|(name, _)| *name).collect();
    let driver = Driver::start(&[
        "--iterations",
        "100000000",
        "--sizes",
        "small",
        "--timeout",
        "20s",
        "--transports",
        &names.join(","),
        "--export-json",
        json.to_str().unwrap(),
    ]);
    let mut truncated = Vec::new();
    for (transport, suffix) in transports {
        wait_until_busy(wait_for_server(&driver, transport));
        let entry = driver_object(&driver, suffix);
        truncate(&entry);
        truncated.push(entry);
    }
    let (status, out, err) = driver.finish_clean();
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("OVERALL SUMMARY"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["state"], "complete");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), transports.len());
    for (result, entry) in results.iter().zip(&truncated) {
        assert_eq!(result["status"], "failed", "{result}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains(&truncated_memory(entry)), "{error}");
    }
    (out, truncated)
}

/// The line saying why the `display_name` case failed.
fn failure_line<'a>(out: &'a str, display_name: &str) -> &'a str {
    let marker = format!("✗ {display_name} benchmark failed: ");
    out.lines()
        .find(|line| line.contains(&marker))
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"))
}

#[test]
fn a_driver_whose_request_buffer_or_spin_segment_is_truncated_fails_those_cases_and_goes_on() {
    // Each case runs after the one before failed: the run goes on past a truncation. SHM
    // zero-copy's segment is truncated while the driver writes requests into its loans and
    // reads echoes where they lie, outside the transport's own code.
    let (out, truncated) = truncate_under_a_driver(&[
        ("shm-posix", "_req"),
        ("shm-spin", "_spin"),
        ("shm-zc", "_zc"),
    ]);
    let names = ["SHM POSIX", "SHM spin", "SHM zero-copy"];
    for (display_name, entry) in names.iter().zip(&truncated) {
        let line = failure_line(&out, display_name);
        // The client may hit the truncation first, or the server, which then exits 1 saying so.
        assert!(line.contains(&truncated_memory(entry)), "{line}");
        assert!(line.ends_with("(100 B messages)"), "{line}");
    }
}

#[test]
fn a_driver_whose_response_buffer_is_truncated_fails_the_case() {
    let (out, truncated) = truncate_under_a_driver(&[("shm-posix", "_resp")]);
    let line = failure_line(&out, "SHM POSIX");
    assert!(line.contains(&truncated_memory(&truncated[0])), "{line}");
}

/// What the test's own client sees on its round trip after the truncation.
#[derive(Debug)]
enum ClientSees {
    /// It touched the object itself and got the truncation error naming it.
    Truncation,
    /// It waited for a reply from a server that died of the truncation.
    Timeout,
}

/// Starts a `kind` server on a fresh channel (by `start`), echoes once with a client of the
/// test's own, truncates the channel's entry `/dev/shm/<prefix>srb_<channel>_<suffix>`, and
/// tries one more round trip. Asserts that the client got `expected` (the test process lives
/// on: no SIGBUS), and that the server exited 1 saying `error` (given the object's name, with
/// its slash) and left no object. `start` gets the channel.
fn truncate_under_a_server(
    kind: TransportKind,
    start: impl FnOnce(&str) -> Spawned,
    (prefix, suffix): (&str, &str),
    expected: ClientSees,
    error: impl FnOnce(&str) -> String,
) {
    let channel = unique_channel("truncated");
    let server = start(&channel);
    let endpoint = shm_endpoint(&channel, 4096);
    let mut client = connect(kind, &endpoint, Duration::from_secs(5)).unwrap();
    let (request, mut response) = ([7u8; 100], [0u8; 4096]);
    assert_eq!(client.round_trip(&request, &mut response).unwrap(), 100);

    truncate(&format!("{prefix}srb_{channel}_{suffix}"));
    let object = format!("/srb_{channel}_{suffix}");
    match (client.round_trip(&request, &mut response), expected) {
        (Err(TransportError::Truncated { object: seen }), ClientSees::Truncation) => {
            assert_eq!(seen.name(), object)
        }
        (Err(TransportError::Timeout { .. }), ClientSees::Timeout) => {}
        (outcome, expected) => panic!("expected {expected:?}, got {outcome:?}"),
    }
    drop(client);
    let (status, _, stderr) = server.finish();
    assert_eq!(status.code(), Some(1), "{status:?}: {stderr}");
    assert!(stderr.contains(&error(&object)), "{stderr}");
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

fn memory_error(object: &str) -> String {
    format!("the shared memory object {object} was truncated by another process")
}

#[test]
fn a_server_whose_response_buffer_is_truncated_exits_1_and_unlinks_its_objects() {
    // The request goes through; the server faults on copying it into the response buffer,
    // and the client waits in vain for a reply.
    truncate_under_a_server(
        shm_posix::KIND,
        |channel| start_shm_server(channel, 4096),
        ("", "resp"),
        ClientSees::Timeout,
        memory_error,
    );
}

#[test]
fn a_spin_server_whose_segment_is_truncated_exits_1_and_unlinks_it() {
    // The client faults on writing its request; the idle server finds out on its own, at the
    // end of its current futex slice.
    truncate_under_a_server(
        shm_spin::KIND,
        |channel| {
            start_server(
                &server_args(shm_spin::KIND, &shm_endpoint(channel, 4096), PATIENCE),
                &[],
            )
        },
        ("", "spin"),
        ClientSees::Truncation,
        memory_error,
    );
}

#[test]
fn a_zero_copy_server_whose_segment_is_truncated_exits_1_and_unlinks_it() {
    // The client faults on writing its request into the loan; the idle server finds out on
    // its own, at the end of its current futex slice.
    truncate_under_a_server(
        shm_zc::KIND,
        |channel| {
            start_server(
                &server_args(shm_zc::KIND, &shm_endpoint(channel, 4096), PATIENCE),
                &[],
            )
        },
        ("", "zc"),
        ClientSees::Truncation,
        memory_error,
    );
}

#[test]
fn a_server_whose_request_semaphore_is_truncated_exits_1_and_unlinks_its_objects() {
    // glibc maps each semaphore from its own file: the idle server faults in its wait on
    // req_full, the client in its post to it.
    truncate_under_a_server(
        shm_posix::KIND,
        |channel| start_shm_server(channel, 4096),
        ("sem.", "req_full"),
        ClientSees::Truncation,
        |object| format!("the semaphore {object} was truncated by another process"),
    );
}
