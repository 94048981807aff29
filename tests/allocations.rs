//! The timed loop allocates nothing, for every transport whose code we own: a counting global
//! allocator compares a short timed run with a long one. (libzmq allocates with C's malloc,
//! which this allocator does not see; docs/transports.md says what it costs.) Three libraries
//! allocate per round trip, their real cost: ipc-channel's client a fresh buffer per reply (its
//! own receive), iceoryx2 0.10 a sample's shared state per loan, tonic 16 allocations per call
//! on the caller's thread (the request, its headers, the call's futures).

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod reached;
    pub mod server;
    pub mod signals;
}

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::client::connect;
use common::process::PATIENCE;
use common::reached::start_reachable;
use common::signals::stop_server_clean;
use transport_bench::benchmark::cpu::CpuWatch;
use transport_bench::benchmark::measure::{
    EchoBuffers, LoopInput, MeasureConfig, ProgressSink, StopCheck, Watchers,
};
use transport_bench::benchmark::workload::timed_loop;
use transport_bench::transport::kinds::{grpc_uds, iceoryx2, ipc_channel};
use transport_bench::transport::Workload;
use transport_bench::transport::{payload_capacity, TransportClient, TransportKind};

/// Counts the allocations of each thread; the test reads its own thread's count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; the count is a thread-local
// Cell with a const initializer, which allocates nothing when first touched.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as the caller promised for `alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as the caller promised for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&mut self, _round_trips_done: u64) {}
}

const BUFFER: usize = 64 * 1024;

/// Allocations of this thread during one timed run of `iterations` round trips.
fn allocations_of_a_timed_run(client: &mut dyn TransportClient, iterations: u64) -> u64 {
    let config = MeasureConfig {
        warmup: 10,
        iterations,
        verify_all: true,
        interval: None,
        duration: None,
        peers_share_a_cpu: false,
    };
    let mut buffers =
        EchoBuffers::new(1000, payload_capacity(BUFFER), client.payload_page_offset()).unwrap();
    let no_other_pair = AtomicBool::new(false);
    let mut input = LoopInput {
        client,
        buffers: &mut buffers,
        config: &config,
        stop: StopCheck::new(&no_other_pair),
    };
    let round_trips = timed_loop(Workload::RoundTrip);
    round_trips.warm_up(&mut input).unwrap();
    let before = ALLOCATIONS.with(Cell::get);
    let watchers = Watchers {
        sampler: None,
        cpu: CpuWatch::new(None),
    };
    let run = round_trips.timed_run(&mut input, &mut NoProgress, watchers);
    let after = ALLOCATIONS.with(Cell::get);
    assert!(run.error.is_none(), "{:?}", run.error);
    after - before
}

#[test]
fn the_timed_loop_allocates_nothing_per_round_trip() {
    for &kind in TransportKind::all() {
        let channel = common::channel::unique_channel("alloc");
        let dir = tempfile::tempdir().unwrap();
        let endpoint = kind.endpoint(&channel, dir.path(), BUFFER);
        let reachable = start_reachable(kind, endpoint, PATIENCE, None);
        let mut client = connect(kind, &reachable.endpoint, Duration::from_secs(30)).unwrap();
        let short = allocations_of_a_timed_run(client.as_mut(), 10);
        let long = allocations_of_a_timed_run(client.as_mut(), 2_000);
        drop(client);
        stop_server_clean(reachable.server, &channel);
        drop(reachable.lease);
        // Setting up a run (its histogram) allocates; the round trips themselves must not,
        // except where a library allocates: ipc-channel's receive makes a fresh buffer for
        // every reply, iceoryx2 0.10 a sample's shared state per loan, tonic a call's request,
        // headers and futures (their real costs, docs/transports.md), and nothing else.
        let grown = long - short;
        let message = format!(
            "{}: allocations grow with round trips ({short} in 10, {long} in 2,000)",
            kind.name()
        );
        if kind == grpc_uds::KIND {
            // Counted: 16 per call on the client's thread (31,841 over 1,990 round trips: the
            // one more is HTTP/2's own bookkeeping, which comes when it comes).
            let per_call = grown as f64 / (2_000 - 10) as f64;
            assert!((15.5..16.5).contains(&per_call), "{message}");
            continue;
        }
        let per_round_trip = u64::from(kind == ipc_channel::KIND || kind == iceoryx2::KIND);
        assert_eq!(grown, per_round_trip * (2_000 - 10), "{message}");
    }
}
