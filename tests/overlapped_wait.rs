//! A client that spins for its replies runs the caller's work while the reply is on its way
//! ([`TransportClient::overlaps_reply_wait`]): the timed loop records the round trip before
//! there, where it costs the loop nothing (docs/own-cost.md). Against a server of the same
//! transport bound in this process, on a thread that hands the request over to the test and
//! answers only once the caller's work has run:
//! 1. the work runs after the server has taken the request (else it would wait for a request
//!    never sent) and before the client waits for the reply (else the client would time out
//!    waiting for an answer held back until the work ran), once, and the echo is the request;
//! 2. SHM spin, SHM zero-copy and iceoryx2 overlap (so that 1 is not vacuous), and a client
//!    whose spin budget is zero does not: its waits sleep at once, and the work is left
//!    between round trips, outside the timed region.
//!
//! The conformance set holds every transport to the rest of the contract: the work runs once
//! and before the wait, also where the client does not overlap.

mod common {
    pub mod channel;
    // For its `leave_library_dirs_as_found` and `PATIENCE` alone.
    #[allow(dead_code)]
    pub mod process;
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::channel::{channel_leftovers, unique_channel};
use common::process::{leave_library_dirs_as_found, PATIENCE};
use transport_bench::transport::{
    Endpoint, NoWatch, Pattern, Reply, TransportClient, TransportKind, TransportOptions,
    TransportServer,
};

const BUFFER: usize = 4096;

/// A client's timeout: long enough for a healthy round trip on a loaded machine, short
/// enough to wait for when the work runs after the wait.
const GIVE_UP: Duration = Duration::from_secs(3);

fn options(spin_budget: Option<Duration>) -> TransportOptions {
    TransportOptions {
        timeout: GIVE_UP,
        spin_budget,
        pattern: Pattern::RoundTrip,
        ring_depth: None,
        in_flight: 1,
    }
}

/// Waits until `flag` is set, for at most [`PATIENCE`]; whether it was.
fn wait_for(flag: &AtomicBool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !flag.load(Ordering::Acquire) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// What the server thread and the caller's work tell each other.
#[derive(Default)]
struct Handshake {
    /// The server has taken the request.
    taken: AtomicBool,
    /// The caller's work has run.
    worked: AtomicBool,
    /// The test is over: a server still waiting for a request gives up.
    over: AtomicBool,
}

/// Takes one request, says so, and answers it once the caller's work has run; what went wrong.
fn serve_one(server: &mut dyn TransportServer, handshake: &Handshake) -> Result<(), String> {
    match server.next_request(&handshake.over) {
        Ok(Some(_)) => handshake.taken.store(true, Ordering::Release),
        Ok(None) => return Err("no request came".into()),
        Err(e) => return Err(format!("taking the request: {e}")),
    }
    if !wait_for(&handshake.worked) {
        return Err("the caller's work never ran".into());
    }
    (server.reply(&handshake.over, Reply::Echo))
        .map(drop)
        .map_err(|e| format!("answering: {e}"))
}

/// `kind`'s client with `spin_budget`, against a server of its own in this process: whether
/// the client overlaps its wait, and, if it does, the round trip of case 1 (panics on any
/// breach).
fn overlaps(kind: TransportKind, spin_budget: Option<Duration>) -> bool {
    leave_library_dirs_as_found(kind);
    let channel = unique_channel("overlap");
    let dir = tempfile::tempdir().unwrap();
    let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
    assert!(
        matches!(endpoint, Endpoint::ShmChannel { .. }),
        "{kind:?}: not a channel's endpoint: {endpoint:?}"
    );
    let mut server = kind.bind(&endpoint, options(None)).unwrap();
    let mut client = kind
        .connect(&endpoint, options(spin_budget), Arc::new(NoWatch))
        .unwrap();
    let overlapped = client.overlaps_reply_wait();
    if overlapped {
        for loaned in [false, true] {
            exchange_with_work_meanwhile(kind, client.as_mut(), server.as_mut(), loaned);
        }
    }
    drop((client, server));
    assert_eq!(
        channel_leftovers(&channel),
        Vec::<String>::new(),
        "{kind:?}"
    );
    overlapped
}

/// Case 1 for one client and its server; with the request in a loan if `loaned` and the
/// client lends one.
fn exchange_with_work_meanwhile(
    kind: TransportKind,
    client: &mut dyn TransportClient,
    server: &mut dyn TransportServer,
    loaned: bool,
) {
    let handshake = Handshake::default();
    let request: Vec<u8> = (0..100u8).map(|i| i ^ 0x5a).collect();
    let mut scratch = vec![0u8; BUFFER];
    let (mut ran, mut taken_first) = (0, false);
    let served = std::thread::scope(|scope| {
        let serving = scope.spawn(|| serve_one(server, &handshake));
        let mut work = || {
            ran += 1;
            taken_first = wait_for(&handshake.taken);
            handshake.worked.store(true, Ordering::Release);
        };
        let outcome =
            match loaned && lend(client, &request) {
                true => (client.round_trip_loaned_meanwhile(request.len(), &mut work)).and_then(
                    |reply| Ok(*reply == *request).and_then(|same| reply.release().map(|()| same)),
                ),
                false => (client.round_trip_in_place_meanwhile(&request, &mut scratch, &mut work))
                    .map(|reply| reply == request.as_slice()),
            };
        handshake.worked.store(true, Ordering::Release);
        handshake.over.store(true, Ordering::Release);
        let served = serving.join().unwrap();
        assert_eq!(
            outcome.ok(),
            Some(true),
            "{kind:?}: the round trip or its echo"
        );
        served
    });
    assert_eq!(served, Ok(()), "{kind:?}: the server");
    assert_eq!(ran, 1, "{kind:?}: the work ran {ran} times");
    assert!(
        taken_first,
        "{kind:?}: the work ran before the request was sent"
    );
}

/// Writes `request` into a loan of `client`'s, if it lends one; whether it did.
fn lend(client: &mut dyn TransportClient, request: &[u8]) -> bool {
    match client.loan(request.len()).unwrap() {
        Some(mut loan) => {
            loan.copy_from_slice(request);
            loan.release().unwrap();
            true
        }
        None => false,
    }
}

#[test]
fn a_spinning_client_runs_the_callers_work_between_its_request_and_its_wait() {
    let spinning: Vec<&str> = (TransportKind::all().iter())
        .filter(|kind| {
            kind.spin_budget(None)
                .is_some_and(|budget| !budget.is_zero())
        })
        .filter(|&&kind| overlaps(kind, None))
        .map(|kind| kind.name())
        .collect();
    assert_eq!(spinning, ["shm-spin", "shm-zc", "iceoryx2"]);
}

#[test]
fn a_client_whose_spin_budget_is_zero_leaves_the_work_between_round_trips() {
    for name in ["shm-spin", "shm-zc", "iceoryx2"] {
        let kind = TransportKind::from_name(name).unwrap();
        assert!(
            !overlaps(kind, Some(Duration::ZERO)),
            "{name}: overlaps with no spin"
        );
    }
}
