//! The conformance set: the contract EVERY transport of the registry must keep, as iceoryx2's
//! `conformance-tests` are for each of its traits. Each test runs its case over
//! `TransportKind::all()`, so a new transport gets the whole set by its registry line alone.
//!
//! Against a real `--server` process of each transport, with the library's client:
//! 1. 0 B, 1 B, 100 B and the largest message it carries echo byte for byte;
//! 2. one byte more than the largest is refused with a clear error, and the channel goes on;
//! 3. a server that answers nothing (frozen) times the round trip out; one that swallows a
//!    request (`--fault exit@N`) fails it, never ok;
//! 4. a SIGKILLed server fails the round trip (peer gone or timed out), never ok, never a hang;
//! 5. after each, nothing is left: no channel object (`/dev/shm`, message queues), no socket
//!    file; after a kill, once the driver's sweep of the endpoint ran.
//!
//! And end to end, through the real binary with its own TMPDIR (checked empty afterwards, with
//! no object of the run and no server left): 1 B and the largest message are reported ok with
//! the sizes sent, a 0-byte size and one byte over the largest are never ok, and injected
//! faults and a killed server fail the case (exit 1), never ok; and every workload (round
//! trips, requests in flight, a stream, one-way latencies), with one pair and with two, runs
//! ok on every transport whose spec supports it, and is skipped with the transport and the
//! reason on the others.
//!
//! Each transport's case runs on its own; a failure names the transport, and the others still
//! run: the test then fails listing every transport that broke the contract.

mod common {
    pub mod bounded;
    pub mod busy;
    pub mod channel;
    pub mod client;
    pub mod conformance;
    pub mod driver;
    pub mod process;
    pub mod server;
    pub mod signals;
}

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::busy::{wait_for_server, wait_until_busy};
use common::conformance::*;
use common::driver::Driver;
use common::process::PATIENCE;
use common::signals::signal;
use nix::sys::signal::Signal;
use serde_json::Value;

/// A client's timeout where the case expects it to run out: long enough for a healthy round
/// trip on a loaded machine, short enough to wait for (the transports wait at once).
const GIVE_UP: Duration = Duration::from_secs(3);

/// Timed round trips per case of a run of the binary, and untimed ones before them.
const ITERATIONS: u64 = 20;
const WARMUP: u64 = 5;

/// Runs `case` for every transport of the registry, one after another, each on its own: a
/// transport that fails does not hide the ones after it. Fails listing every transport that
/// failed.
fn for_every_transport(case: impl Fn(TransportKind)) {
    let failed = transports()
        .iter()
        .copied()
        .filter_map(|kind| {
            let outcome = catch_unwind(AssertUnwindSafe(|| case(kind)));
            outcome.err().map(|panic| failure(kind, &*panic))
        })
        .collect();
    assert_none_failed(failed);
}

/// [`for_every_transport`] for cases that mostly wait (for a client's timeout to run out): all
/// transports at once, each in a thread of its own.
fn for_every_transport_at_once(case: impl Fn(TransportKind) + Sync) {
    let case = &case;
    let failed = std::thread::scope(|scope| {
        let runs: Vec<_> = (transports().iter().copied())
            .map(|kind| (kind, scope.spawn(move || case(kind))))
            .collect();
        (runs.into_iter())
            .filter_map(|(kind, run)| run.join().err().map(|panic| failure(kind, &*panic)))
            .collect()
    });
    assert_none_failed(failed);
}

fn failure(kind: TransportKind, panic: &(dyn std::any::Any + Send)) -> String {
    format!("{kind:?}: {}", panic_text(panic))
}

fn assert_none_failed(failed: Vec<String>) {
    assert!(!transports().is_empty(), "the registry lists no transport");
    assert!(
        failed.is_empty(),
        "{} of {} transports failed:\n{}",
        failed.len(),
        transports().len(),
        failed.join("\n")
    );
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(text), _) => text.clone(),
        (None, Some(text)) => text.to_string(),
        (None, None) => "a panic without a message".into(),
    }
}

/// Round-trips `len` patterned bytes into a reply buffer of `capacity` bytes and asserts that
/// the echo is the request, byte for byte.
fn assert_echoes(
    kind: TransportKind,
    client: &mut dyn TransportClient,
    len: usize,
    capacity: usize,
) {
    let request = pattern(len);
    let reply = round_trip(client, &request, capacity)
        .unwrap_or_else(|e| panic!("{kind:?}: a {len}-byte round trip failed: {e}"));
    assert_eq!(
        reply.len(),
        len,
        "{kind:?}: reply length of a {len}-byte request"
    );
    if let Some(at) = reply.iter().zip(&request).position(|(a, b)| a != b) {
        panic!("{kind:?}: the echo of a {len}-byte request differs at byte {at}");
    }
}

// Against a real server process, with the library's client.

#[test]
fn every_transport_echoes_zero_one_and_the_largest_message_byte_for_byte() {
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let peer = Peer::start(kind, None);
        // The reply buffer is exactly as large as the largest message: a reply fits a buffer
        // of its own size. A small message after the largest shows nothing of it is left over.
        peer.with_client(PATIENCE, move |client| {
            for len in [0, 1, 100, largest, 1, 0] {
                assert_echoes(kind, client, len, largest);
            }
        });
        peer.stop();
    });
}

#[test]
fn every_transport_refuses_one_byte_more_than_the_largest_message_and_goes_on_echoing() {
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let peer = Peer::start(kind, None);
        // The ZeroMQ clients once sent such a request; the server's ZMQ_MAXMSGSIZE dropped the
        // frame unanswered, and the client waited out its timeout instead of refusing it.
        peer.with_client(GIVE_UP, move |client| {
            // Room for the reply, so that only the request can be what is refused.
            let refused = round_trip(client, &pattern(largest + 1), largest + 1);
            let error = match refused {
                Ok(reply) => panic!(
                    "{kind:?}: a {}-byte request, one more than the largest ({largest}), \
                     was carried: {}-byte reply",
                    largest + 1,
                    reply.len()
                ),
                Err(error) => error,
            };
            let expected = format!(
                "MessageTooLarge: a {}-byte message does not fit: the buffer carries at most \
                 {largest} bytes",
                largest + 1
            );
            assert_eq!(
                error, expected,
                "{kind:?}: one byte more than the largest is not refused clearly"
            );
            assert_echoes(kind, client, 100, largest);
        });
        peer.stop();
    });
}

/// A round trip with work of the caller's to run `meanwhile` (the timed loop's recording of
/// the round trip before, where the client spins for its replies): every transport runs it
/// once and echoes byte for byte, and runs it before it waits for the reply: the server is
/// stopped (SIGSTOP) until `meanwhile` resumes it, so a client that ran it after its wait
/// would time out. A transport that lends its memory does the same with a loan.
#[test]
fn every_transport_runs_a_round_trips_meanwhile_once_before_it_waits_for_the_reply() {
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let peer = Peer::start(kind, None);
        let server = Signalled::new(peer.pid());
        peer.with_client(GIVE_UP, move |client| {
            for len in [1, 100, largest] {
                let request = pattern(len);
                let mut scratch = vec![0u8; largest];
                let mut ran = 0;
                stop_and_wait_until_stopped(&server);
                let mut resume = || {
                    ran += 1;
                    server.send(Signal::SIGCONT);
                };
                let outcome =
                    (client.round_trip_in_place_meanwhile(&request, &mut scratch, &mut resume))
                        .map(|reply| reply.to_vec());
                server.send(Signal::SIGCONT);
                let reply = outcome.unwrap_or_else(|e| {
                    panic!(
                        "{kind:?}: a {len}-byte round trip with work meanwhile: {}",
                        describe(&e)
                    )
                });
                assert_eq!(ran, 1, "{kind:?}: `meanwhile` ran {ran} times");
                assert!(reply == request, "{kind:?}: the echo of {len} B differs");
                assert_loaned_meanwhile(kind, client, &server, len);
            }
        });
        peer.stop();
    });
}

/// [`every_transport_runs_a_round_trips_meanwhile_once_before_it_waits_for_the_reply`] with
/// a loan, where the transport lends one.
fn assert_loaned_meanwhile(
    kind: TransportKind,
    client: &mut dyn TransportClient,
    server: &Signalled,
    len: usize,
) {
    let request = pattern(len);
    match client.loan(len) {
        Ok(Some(mut loan)) => {
            loan.copy_from_slice(&request);
            loan.release().expect("the loan");
        }
        Ok(None) => return,
        Err(e) => panic!("{kind:?}: a loan of {len} B: {}", describe(&e)),
    }
    let mut ran = 0;
    stop_and_wait_until_stopped(server);
    let mut resume = || {
        ran += 1;
        server.send(Signal::SIGCONT);
    };
    let outcome = client
        .round_trip_loaned_meanwhile(len, &mut resume)
        .and_then(|reply| {
            let echo = reply.to_vec();
            reply.release().map(|()| echo)
        });
    server.send(Signal::SIGCONT);
    let reply = outcome.unwrap_or_else(|e| {
        panic!(
            "{kind:?}: a loaned {len}-byte round trip with work meanwhile: {}",
            describe(&e)
        )
    });
    assert_eq!(ran, 1, "{kind:?}: `meanwhile` ran {ran} times with a loan");
    assert!(
        reply == request,
        "{kind:?}: the loaned echo of {len} B differs"
    );
}

#[test]
fn every_transport_times_out_on_a_server_that_answers_nothing() {
    for_every_transport_at_once(|kind| {
        let peer = Peer::start(kind, None);
        // Frozen, the server takes no request and answers none; it is alive, so nothing can
        // tell the client it is gone: only the client's timeout ends the wait.
        signal(peer.pid(), Signal::SIGSTOP);
        let outcome = peer.with_client(GIVE_UP, |client| round_trip(client, b"ping", 64));
        signal(peer.pid(), Signal::SIGCONT);
        match outcome {
            Ok(reply) => panic!("{kind:?}: a frozen server answered: {reply:?}"),
            Err(error) => assert!(
                error.starts_with("Timeout: timed out after 3s waiting for "),
                "{kind:?}: not a timeout of the client's 3s: {error}"
            ),
        }
        peer.stop();
    });
}

#[test]
fn every_transport_fails_a_round_trip_whose_request_the_server_swallows() {
    for_every_transport_at_once(|kind| {
        // The first request is echoed; the second is taken and never answered, and the server
        // exits: the client learns it from the connection's end or its own timeout.
        let peer = Peer::start(kind, Some(Fault::ExitAt(2)));
        let outcome = peer.with_client(GIVE_UP, move |client| {
            assert_echoes(kind, client, 100, 100);
            round_trip(client, &pattern(100), 100)
        });
        match &outcome {
            Ok(reply) => panic!("{kind:?}: a swallowed request was answered: {reply:?}"),
            Err(error) => assert!(
                error.starts_with("Timeout: timed out after 3s waiting for ")
                    || error.starts_with("PeerGone: "),
                "{kind:?}: neither a timeout nor the peer gone: {error}"
            ),
        }
        let ended = peer.finish();
        assert_eq!(
            ended.status.code(),
            Some(i32::from(FAULT_EXIT_CODE)),
            "{kind:?}: {}",
            ended.stderr
        );
        assert!(
            ended
                .stderr
                .contains("fault injected: exiting on request 2"),
            "{kind:?}: {}",
            ended.stderr
        );
    });
}

#[test]
fn every_transport_fails_a_round_trip_to_a_killed_server_and_its_endpoint_is_swept_clean() {
    for_every_transport_at_once(|kind| {
        let mut peer = Peer::start(kind, None);
        let pid = peer.pid();
        // One client across the kill: echoing before it, asking again after it.
        let outcome = peer.with_client(GIVE_UP, move |client| {
            assert_echoes(kind, client, 100, 100);
            kill_and_wait_until_dead(pid);
            round_trip(client, &pattern(100), 100)
        });
        peer.reap_killed();
        match &outcome {
            Ok(reply) => panic!("{kind:?}: a killed server answered: {reply:?}"),
            Err(error) => assert!(
                error.starts_with("Timeout: timed out after 3s waiting for ")
                    || error.starts_with("PeerGone: "),
                "{kind:?}: neither the peer gone nor a timeout: {error}"
            ),
        }
        peer.sweep_after_kill();
    });
}

// End to end, through the real binary.

/// The binary's arguments for a run of `kind` alone at `sizes`, with the set's buffer size,
/// exporting JSON to standard output.
fn run_args(kind: TransportKind, sizes: &str) -> Vec<String> {
    [
        "--transports",
        kind.name(),
        "--sizes",
        sizes,
        "--buffer-size",
        &BUFFER.to_string(),
        "--iterations",
        &ITERATIONS.to_string(),
        "--warmup",
        &WARMUP.to_string(),
        "--timeout",
        "20s",
        "--export-json",
        "-",
    ]
    .map(String::from)
    .to_vec()
}

/// A run of the binary with `args`, checked to leave nothing behind; its exit code, its JSON
/// document (None if it printed none) and its human output.
fn run(args: &[String]) -> (Option<i32>, Option<Value>, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stdout, stderr) = Driver::start(&args).finish_clean();
    let doc = (!stdout.trim().is_empty()).then(|| {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
    });
    (status.code(), doc, stderr)
}

/// The results of a run's JSON document.
fn results(doc: &Value) -> &Vec<Value> {
    doc["results"].as_array().expect("a results array")
}

#[test]
fn the_binary_reports_every_transport_ok_at_one_byte_and_the_largest_message_with_the_sizes_sent() {
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let (code, doc, out) = run(&run_args(kind, &format!("1,{largest}")));
        assert_eq!(code, Some(0), "{kind:?}: {out}");
        let doc = doc.unwrap_or_else(|| panic!("{kind:?}: no JSON; {out}"));
        assert_eq!(doc["state"], "complete", "{kind:?}");
        assert_eq!(
            doc["config"]["sizes"],
            serde_json::json!([1, largest]),
            "{kind:?}"
        );
        let results = results(&doc);
        assert_eq!(results.len(), 2, "{kind:?}: {results:?}");
        for (result, size) in results.iter().zip([1, largest]) {
            assert_eq!(result["transport"], kind.name(), "{kind:?}: {result}");
            assert_eq!(result["size_bytes"], size, "{kind:?}: {result}");
            assert_eq!(result["status"], "ok", "{kind:?} at {size} B: {result}");
            assert_eq!(result["error"], Value::Null, "{kind:?} at {size} B");
            assert_eq!(result["skip_reason"], Value::Null, "{kind:?} at {size} B");
            assert_eq!(result["iterations"], ITERATIONS, "{kind:?} at {size} B");
        }
    });
}

#[test]
fn the_binary_refuses_a_zero_byte_size_for_every_transport_before_anything_starts() {
    // The library carries 0 B (above); the binary's cases stamp a sequence number in each
    // request and refuse a size of 0 as a usage error.
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let (code, doc, out) = run(&run_args(kind, &format!("0,1,{largest}")));
        assert_eq!(code, Some(2), "{kind:?}: {out}");
        assert!(doc.is_none(), "{kind:?}: a refused run exported {doc:?}");
        assert!(
            out.contains("'0' is zero bytes; sizes must be at least 1 byte"),
            "{kind:?}: {out}"
        );
    });
}

#[test]
fn the_binary_never_reports_one_byte_more_than_a_transports_largest_message_ok() {
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        let (code, doc, out) = run(&run_args(kind, &(largest + 1).to_string()));
        match own_limit(kind, BUFFER) {
            // More than the buffer carries: refused before anything starts.
            None => {
                assert_eq!(code, Some(2), "{kind:?}: {out}");
                assert!(doc.is_none(), "{kind:?}: a refused run exported {doc:?}");
                assert!(
                    out.contains(&format!("--buffer-size {BUFFER} is too small")),
                    "{kind:?}: {out}"
                );
            }
            // More than the transport's own limit: skipped, saying why; nothing was measured.
            Some(reason) => {
                assert_eq!(code, Some(1), "{kind:?}: {out}");
                let doc = doc.unwrap_or_else(|| panic!("{kind:?}: no JSON; {out}"));
                let results = results(&doc);
                assert_eq!(results.len(), 1, "{kind:?}: {results:?}");
                let result = &results[0];
                assert_eq!(result["size_bytes"], largest + 1, "{kind:?}: {result}");
                assert_eq!(result["status"], "skipped", "{kind:?}: {result}");
                assert_eq!(result["skip_reason"], reason, "{kind:?}: {result}");
            }
        }
    });
}

#[test]
fn the_binary_fails_every_transports_case_whose_server_swallows_corrupts_or_misframes_a_reply() {
    // Request 15 is a timed round trip (after 5 of warm-up); offset 3 is in the sequence
    // number, which every round trip checks.
    let faults = [
        ("exit@15", "server exited: exit code 3"),
        (
            "flip@15:3",
            "round trip 15: the reply differs from the request at byte offset 3",
        ),
        ("bad-length@15", ""),
    ];
    for_every_transport(|kind| {
        let largest = largest_message(kind, BUFFER);
        for (fault, expected) in faults {
            let mut args = run_args(kind, &largest.to_string());
            args.extend([
                "--inject-server-fault".into(),
                format!("{}:{fault}", kind.name()),
            ]);
            let (code, doc, out) = run(&args);
            assert_eq!(code, Some(1), "{kind:?} with {fault}: {out}");
            let doc = doc.unwrap_or_else(|| panic!("{kind:?} with {fault}: no JSON; {out}"));
            let results = results(&doc);
            assert_eq!(results.len(), 1, "{kind:?} with {fault}: {results:?}");
            let result = &results[0];
            assert_eq!(
                result["status"], "failed",
                "{kind:?} with {fault}: {result}"
            );
            let error = result["error"].as_str().unwrap_or_default();
            assert!(
                !error.is_empty() && error.contains(expected),
                "{kind:?} with {fault}: error {error:?}, expected {expected:?}"
            );
        }
    });
}

#[test]
fn the_binary_fails_every_transports_case_whose_server_is_killed_mid_run_and_leaves_nothing() {
    for_every_transport(|kind| {
        let mut args = run_args(kind, "1");
        let at = args.iter().position(|a| a == "--iterations").unwrap() + 1;
        args[at] = "100000000".into();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let driver = Driver::start(&args);
        let server = wait_for_server(&driver, kind.name());
        wait_until_busy(server);
        signal(server, Signal::SIGKILL);
        // finish_clean: no object of the run, no server, nothing in its TMPDIR.
        let (status, stdout, out) = driver.finish_clean();
        assert_eq!(status.code(), Some(1), "{kind:?}: {out}");
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{kind:?}: not JSON ({e}):\n{stdout}"));
        let results = results(&doc);
        assert_eq!(results.len(), 1, "{kind:?}: {results:?}");
        let result = &results[0];
        assert_eq!(result["status"], "failed", "{kind:?}: {result}");
        assert_eq!(
            result["error"], "server exited: killed by signal 9 (SIGKILL)",
            "{kind:?}: {result}"
        );
    });
}

/// The binary's arguments for a run of every transport of the registry at 100 B in
/// `workload`, with `pairs` client/server pairs at once.
fn workload_run_args(workload: Workload, pairs: usize) -> Vec<String> {
    let names: Vec<&str> = transports().iter().map(|kind| kind.name()).collect();
    let mut args = run_args(transports()[0], "100");
    args[1] = names.join(",");
    args.extend(workload_args(workload));
    args.extend(["--pairs".to_string(), pairs.to_string()]);
    args
}

/// Runs every workload over every transport of the registry with `pairs` pairs: a transport
/// that supports the workload measures it, every message accounted for; one that does not is
/// skipped before anything starts, saying which transport and why. The JSON keeps the
/// workload as `config.pattern` and `config.in_flight`.
fn every_workload_runs_on_every_transport_that_supports_it(pairs: usize) {
    for workload in workloads() {
        let (code, doc, out) = run(&workload_run_args(workload, pairs));
        assert_eq!(code, Some(0), "{workload}: {out}");
        let doc = doc.unwrap_or_else(|| panic!("{workload}: no JSON; {out}"));
        assert_eq!(doc["config"]["pattern"], workload.pattern().name());
        assert_eq!(doc["config"]["in_flight"], workload.in_flight());
        let results = results(&doc);
        assert_eq!(results.len(), transports().len(), "{workload}: {results:?}");
        for (result, &kind) in results.iter().zip(transports()) {
            let case = format!("{kind:?} in {workload} with {pairs} pair(s): {result}");
            assert_eq!(result["transport"], kind.name(), "{case}");
            assert_eq!(result["pattern"], workload.pattern().name(), "{case}");
            match kind.supports(workload) {
                Ok(()) => {
                    assert_eq!(result["status"], "ok", "{case}");
                    assert_eq!(result["iterations"], ITERATIONS * pairs as u64, "{case}");
                    let per_pair = result["per_pair"].as_array().map_or(0, Vec::len);
                    assert_eq!(per_pair, if pairs > 1 { pairs } else { 0 }, "{case}");
                }
                Err(reason) => {
                    assert_eq!(result["status"], "skipped", "{case}");
                    let skip = result["skip_reason"].as_str().unwrap_or_default();
                    assert!(skip.contains(kind.display_name()), "{case}");
                    assert!(skip.contains(&reason.to_string()), "{case}");
                }
            }
        }
    }
}

#[test]
fn the_binary_runs_every_workload_on_every_transport_that_supports_it() {
    every_workload_runs_on_every_transport_that_supports_it(1);
}

#[test]
fn the_binary_runs_every_workload_with_two_pairs_on_every_transport_that_supports_it() {
    every_workload_runs_on_every_transport_that_supports_it(2);
}
