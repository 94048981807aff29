//! A client that spins for its replies runs the caller's work while the reply is on its way
//! ([`TransportClient::overlaps_reply_wait`]): the timed loop records the round trip before
//! there, where it costs the loop nothing (docs/own-cost.md). Against a server of the same
//! transport bound in this process, on a thread that hands the request over to the test and
//! answers only once the caller's work has run:
//! 1. the work runs after the server has taken the request (else it would wait for a request
//!    never sent) and before the client waits for the reply (else the client would time out
//!    waiting for an answer held back until the work ran), once, and the echo is the request;
//! 2. SHM spin, SHM zero-copy and iceoryx2 overlap (so that 1 is not vacuous), and so does
//!    SHM POSIX given a spin budget; a client whose spin budget is zero does not: its waits
//!    sleep at once, and the work is left between round trips, outside the timed region.
//!
//! 3. the timed loop, through a real SHM spin client and server process: it records its
//!    latencies during the next round trip only where the two sides may run at once (not on one
//!    CPU, not paced), and records every round trip once, or, when a round trip fails before or
//!    after its request left, every round trip before it, as a loop that does not overlap does.
//!
//! The conformance set holds every transport to the rest of the contract: the work runs once
//! and before the wait, also where the client does not overlap.

mod common {
    pub mod channel;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
}

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::channel::{channel_leftovers, unique_channel};
use common::process::{leave_library_dirs_as_found, PATIENCE};
use common::reached::start_reachable;
use common::signals::stop_server_clean;
use transport_bench::benchmark::cpu::CpuWatch;
use transport_bench::benchmark::measure::{
    EchoBuffers, LoopInput, MeasureConfig, ProgressSink, StopCheck, Watchers,
};
use transport_bench::benchmark::workload::timed_loop;
use transport_bench::transport::kinds::shm_spin;
use transport_bench::transport::{
    payload_capacity, Endpoint, NoWatch, Pattern, Reply, TransportClient, TransportError,
    TransportKind, TransportOptions, TransportServer, Workload,
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

/// Lets the server thread go when dropped: the work counts as done and the test as over, so
/// that a server still waiting for a request or for the work returns (also when the client's
/// side panicked).
struct ReleaseServer<'a>(&'a Handshake);

impl Drop for ReleaseServer<'_> {
    fn drop(&mut self) {
        self.0.worked.store(true, Ordering::Release);
        self.0.over.store(true, Ordering::Release);
    }
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
    let loaned = loaned && lend(client, &request);
    let served = std::thread::scope(|scope| {
        // Whatever happens on the client's side, the server thread is let go.
        let release = ReleaseServer(&handshake);
        let serving = scope.spawn(|| serve_one(server, &handshake));
        let mut work = || {
            ran += 1;
            taken_first = wait_for(&handshake.taken);
            handshake.worked.store(true, Ordering::Release);
        };
        let outcome = match loaned {
            true => {
                (client.round_trip_loaned_meanwhile(request.len(), &mut work)).and_then(|reply| {
                    let same = *reply == *request;
                    reply.release().map(|()| same)
                })
            }
            false => (client.round_trip_in_place_meanwhile(&request, &mut scratch, &mut work))
                .map(|reply| reply == request.as_slice()),
        };
        drop(release);
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
fn shm_posix_overlaps_once_its_wait_spins() {
    let kind = TransportKind::from_name("shm-posix").unwrap();
    assert!(!overlaps(kind, None), "shm-posix overlaps by default");
    assert!(
        overlaps(kind, Some(Duration::from_micros(20))),
        "shm-posix does not overlap with a spin budget"
    );
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

/// A real client, seen by the timed loop as it is except for what the test asks: whether it
/// overlaps its wait, and a failure of round trip `fail_at` (from 1), before its request
/// left or after its reply came.
struct Observed {
    client: Box<dyn TransportClient>,
    overlaps: bool,
    /// Whether it runs the caller's work as it says it does (else it breaks the contract by
    /// never running it).
    runs_the_work: bool,
    fail_at: Option<(u64, Failure)>,
    round_trips: u64,
    with_work_meanwhile: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    BeforeTheRequestLeft,
    AfterTheReplyCame,
}

impl Observed {
    /// Counts a round trip; the failure due before its request leaves, if this is the one.
    fn next(&mut self) -> Result<(), TransportError> {
        self.round_trips += 1;
        match self.fail_at {
            Some((n, Failure::BeforeTheRequestLeft)) if n == self.round_trips => Err(
                TransportError::Protocol("failed before the request left".into()),
            ),
            _ => Ok(()),
        }
    }

    /// The failure due after the reply came, if this round trip is the one.
    fn failure_after(&self) -> Result<(), TransportError> {
        match self.fail_at == Some((self.round_trips, Failure::AfterTheReplyCame)) {
            true => Err(TransportError::Protocol(
                "failed after the reply came".into(),
            )),
            false => Ok(()),
        }
    }
}

impl TransportClient for Observed {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.next()?;
        let len = self.client.round_trip(request, response)?;
        self.failure_after().map(|()| len)
    }

    fn overlaps_reply_wait(&self) -> bool {
        self.overlaps && self.client.overlaps_reply_wait()
    }

    fn round_trip_in_place_meanwhile<'a>(
        &'a mut self,
        request: &[u8],
        scratch: &'a mut [u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<&'a [u8], TransportError> {
        self.with_work_meanwhile += 1;
        self.next()?;
        let failure = self.failure_after();
        let reply = match self.runs_the_work {
            true => (self.client).round_trip_in_place_meanwhile(request, scratch, meanwhile)?,
            false => self.client.round_trip_in_place(request, scratch)?,
        };
        failure.map(|()| reply)
    }
}

struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&mut self, _round_trips_done: u64) {}
}

/// The latencies a timed run through `client` recorded, and its error.
fn timed_run(client: &mut Observed, config: &MeasureConfig) -> (u64, Option<String>) {
    let mut buffers = EchoBuffers::new(100, payload_capacity(BUFFER), 0).unwrap();
    let no_other_pair = AtomicBool::new(false);
    let mut input = LoopInput {
        client,
        buffers: &mut buffers,
        config,
        stop: StopCheck::new(&no_other_pair),
    };
    let watchers = Watchers {
        sampler: None,
        cpu: CpuWatch::new(None),
    };
    let run = timed_loop(Workload::RoundTrip).timed_run(&mut input, &mut NoProgress, watchers);
    (run.latencies.count(), run.error.map(|e| e.to_string()))
}

/// 50 round trips, each echo checked byte for byte, no warm-up.
fn config(peers_share_a_cpu: bool, interval: Option<Duration>) -> MeasureConfig {
    MeasureConfig {
        warmup: 0,
        iterations: 50,
        verify_all: true,
        interval,
        duration: None,
        peers_share_a_cpu,
    }
}

/// Runs `body` with an SHM spin client of a real server process, as [`Observed`].
fn with_observed_client(body: impl FnOnce(&mut Observed)) {
    let kind = shm_spin::KIND;
    let channel = unique_channel("overlap_loop");
    let dir = tempfile::tempdir().unwrap();
    let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
    let reachable = start_reachable(kind, endpoint, PATIENCE, None);
    let client = kind
        .connect(&reachable.endpoint, options(None), Arc::new(NoWatch))
        .unwrap();
    let mut observed = Observed {
        client,
        overlaps: true,
        runs_the_work: true,
        fail_at: None,
        round_trips: 0,
        with_work_meanwhile: 0,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut observed)));
    drop(observed);
    if let Err(panic) = outcome {
        // Dropped, the server is killed; its channel's objects are removed here, so that a
        // failed test leaves nothing in /dev/shm.
        drop(reachable.server);
        reachable.lease.endpoint.remove_leftovers();
        resume_unwind(panic);
    }
    stop_server_clean(reachable.server, &channel);
    drop(reachable.lease);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

#[test]
fn the_loop_records_during_the_next_round_trip_only_where_both_sides_may_run_at_once() {
    with_observed_client(|client| {
        for (shares, interval, overlapped) in [
            (false, None, true),
            (true, None, false),
            (false, Some(Duration::from_micros(20)), false),
        ] {
            (client.round_trips, client.with_work_meanwhile) = (0, 0);
            let (recorded, error) = timed_run(client, &config(shares, interval));
            let case = format!("sharing a CPU: {shares}, paced: {interval:?}");
            assert_eq!(error, None, "{case}");
            assert_eq!(recorded, 50, "{case}: latencies recorded");
            assert_eq!(client.round_trips, 50, "{case}: round trips");
            let expected = if overlapped { 50 } else { 0 };
            assert_eq!(
                client.with_work_meanwhile, expected,
                "{case}: with work meanwhile"
            );
        }
    });
}

#[test]
fn a_failed_round_trip_keeps_every_latency_before_it_overlapped_or_not() {
    with_observed_client(|client| {
        for failure in [Failure::BeforeTheRequestLeft, Failure::AfterTheReplyCame] {
            for overlaps in [true, false] {
                client.round_trips = 0;
                client.overlaps = overlaps;
                client.fail_at = Some((20, failure));
                let (recorded, error) = timed_run(client, &config(false, None));
                let case = format!("{failure:?}, overlapped: {overlaps}");
                assert!(error.is_some_and(|e| e.contains("failed")), "{case}");
                assert_eq!(recorded, 19, "{case}: latencies recorded");
            }
        }
    });
}

#[test]
fn a_client_that_never_runs_the_work_loses_no_latency() {
    with_observed_client(|client| {
        client.runs_the_work = false;
        let (recorded, error) = timed_run(client, &config(false, None));
        assert_eq!(error, None);
        assert_eq!(client.with_work_meanwhile, 50);
        assert_eq!(recorded, 50, "latencies recorded");
    });
}
