//! SHM zero-copy's loans against a real server process: the echo is the lent slot itself,
//! handed back in place; the loan's rules; and peers that break the hand-over protocol,
//! played by the test on the segment's documented layout (`src/transport/shm_zc.rs`).

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod server;
    pub mod signals;
}

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::channel::{channel_leftovers, unique_channel};
use common::client::connect;
use common::process::{Spawned, PATIENCE};
use common::server::{server_args, start_server};
use common::signals::stop_server_clean;
use transport_bench::transport::kinds::{shm_spin, shm_zc};
use transport_bench::transport::os::shm::SharedMemory;
use transport_bench::transport::{
    Endpoint, TransportClient, TransportError, TransportKind, HEADER_LEN,
};

const BUFFER: usize = 4096;
const CAPACITY: usize = BUFFER - HEADER_LEN;

/// The segment's layout: two control lines of `seq`, `waiters`, `len`, `slot` (u32 each) at
/// 64 and 128, then two slots of one page each (the capacity, rounded up to a page).
const REQUEST_LINE: usize = 64;
const RESPONSE_LINE: usize = 128;
const SEGMENT_BYTES: usize = 4096 + 2 * 4096;

fn shm_endpoint(channel: &str, buffer_size: usize) -> Endpoint {
    Endpoint::ShmChannel {
        channel: channel.to_string(),
        buffer_size,
    }
}

/// A `kind` server on a fresh channel, and that channel.
fn server(kind: TransportKind) -> (Spawned, String) {
    let channel = unique_channel("zc");
    let server = start_server(
        &server_args(kind, &shm_endpoint(&channel, BUFFER), PATIENCE),
        &[],
    );
    (server, channel)
}

fn client(kind: TransportKind, channel: &str) -> Box<dyn TransportClient> {
    connect(kind, &shm_endpoint(channel, BUFFER), PATIENCE).unwrap()
}

#[test]
fn the_echo_is_the_lent_slot_itself_handed_back_at_every_size() {
    let (server, channel) = server(shm_zc::KIND);
    let mut client = client(shm_zc::KIND, &channel);
    let mut lent_at = Vec::new();
    for (round_trip, len) in [0, 1, 100, CAPACITY, 7, CAPACITY].into_iter().enumerate() {
        let request: Vec<u8> = (0..len).map(|i| (i * 7 + round_trip) as u8).collect();
        let mut loan = client.loan(len).unwrap().expect("shm-zc lends its slots");
        loan.copy_from_slice(&request);
        let at = loan.as_ptr();
        loan.release().unwrap();
        let reply = client.round_trip_loaned(len).unwrap();
        assert_eq!(reply.as_ptr(), at, "{len} bytes: not echoed in place");
        assert!(*reply == *request, "{len} bytes: the echo differs");
        reply.release().unwrap();
        lent_at.push(at);
    }
    // Two slots, lent in turn.
    assert_ne!(lent_at[0], lent_at[1]);
    assert!(lent_at.iter().step_by(2).all(|&at| at == lent_at[0]));
    assert!(lent_at
        .iter()
        .skip(1)
        .step_by(2)
        .all(|&at| at == lent_at[1]));
    drop(client);
    stop_server_clean(server, &channel);
}

#[test]
fn a_loaned_round_trip_sends_only_what_was_lent() {
    let (server, channel) = server(shm_zc::KIND);
    let mut client = client(shm_zc::KIND, &channel);
    let not_loaned = |e: TransportError| matches!(e, TransportError::NotLoaned { len: 10 });
    assert!(not_loaned(client.round_trip_loaned(10).err().unwrap()));
    client.loan(9).unwrap().unwrap().release().unwrap();
    assert!(not_loaned(client.round_trip_loaned(10).err().unwrap()));
    let too_large = client.loan(CAPACITY + 1).err().unwrap();
    assert!(
        matches!(too_large, TransportError::MessageTooLarge { len, capacity }
            if len == CAPACITY + 1 && capacity == CAPACITY),
        "{too_large}"
    );
    // Nothing was sent: the channel still echoes.
    let mut reply = [0u8; 16];
    assert_eq!(client.round_trip(b"still here", &mut reply).unwrap(), 10);
    assert_eq!(&reply[..10], b"still here");
    drop(client);
    stop_server_clean(server, &channel);
}

#[test]
fn a_copying_transport_lends_nothing() {
    let (server, channel) = server(shm_spin::KIND);
    let mut client = client(shm_spin::KIND, &channel);
    assert!(client.loan(10).unwrap().is_none());
    let err = client.round_trip_loaned(10).err().unwrap();
    assert!(err.to_string().contains("no loan of 10 bytes"), "{err}");
    drop(client);
    stop_server_clean(server, &channel);
}

/// The control words of a mapped segment, by offset; the segment outlives every use.
#[derive(Clone, Copy)]
struct Words {
    base: usize,
}

impl Words {
    fn of(memory: &SharedMemory) -> Words {
        assert_eq!(memory.len(), SEGMENT_BYTES);
        Words {
            base: memory.as_ptr() as usize,
        }
    }

    fn at(&self, offset: usize) -> &AtomicU32 {
        assert!(offset < 4096 && offset.is_multiple_of(4));
        // SAFETY: inside the first page of a live, page-aligned mapping (each test keeps it
        // mapped while it uses the words), 4-aligned, and touched by both processes only
        // atomically.
        unsafe { &*(self.base as *const u8).add(offset).cast::<AtomicU32>() }
    }
}

#[test]
fn a_request_naming_a_slot_the_segment_lacks_stops_the_server_cleanly() {
    let (server, channel) = server(shm_zc::KIND);
    {
        let memory = SharedMemory::open(&format!("/srb_{channel}_zc"), SEGMENT_BYTES).unwrap();
        let access = memory.access();
        let words = Words::of(&memory);
        words.at(REQUEST_LINE + 8).store(1, Ordering::Relaxed);
        words.at(REQUEST_LINE + 12).store(7, Ordering::Relaxed);
        // No wake: the idle server looks again after each of its 100 ms slices.
        words.at(REQUEST_LINE).store(1, Ordering::Release);
        access.check().unwrap();
    }
    let (status, _, stderr) = server.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("SHM zero-copy server: the peer named slot 7; the segment has 2"),
        "{stderr}"
    );
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}

/// Plays a server that answers request number 1 from the hand-over it computes from the
/// request's (slot, seq); returns what the library's client makes of that reply.
fn reply_from_a_hostile_server(answer: fn(u32, u32) -> (u32, u32)) -> TransportError {
    let channel = unique_channel("zc-hostile");
    let memory = SharedMemory::create(&format!("/srb_{channel}_zc"), SEGMENT_BYTES).unwrap();
    let mut client = client(shm_zc::KIND, &channel);
    let words = Words::of(&memory);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let deadline = Instant::now() + PATIENCE;
            while words.at(REQUEST_LINE).load(Ordering::Acquire) == 0 {
                assert!(Instant::now() < deadline, "no request came");
                std::thread::sleep(Duration::from_millis(1));
            }
            let (slot, seq) = answer(
                words.at(REQUEST_LINE + 12).load(Ordering::Relaxed),
                words.at(REQUEST_LINE).load(Ordering::Relaxed),
            );
            let len = words.at(REQUEST_LINE + 8).load(Ordering::Relaxed);
            words.at(RESPONSE_LINE + 8).store(len, Ordering::Relaxed);
            words.at(RESPONSE_LINE + 12).store(slot, Ordering::Relaxed);
            // No wake: the client looks again after each of its 50 ms slices.
            words.at(RESPONSE_LINE).store(seq, Ordering::Release);
        });
        let mut reply = [0u8; 16];
        (client.round_trip(b"hello", &mut reply)).expect_err("a refused reply")
    })
}

#[test]
fn a_reply_must_hand_back_the_slot_of_its_own_request() {
    let wrong_slot = reply_from_a_hostile_server(|slot, seq| (1 - slot, seq));
    let wrong_number = reply_from_a_hostile_server(|slot, seq| (slot, seq + 4));
    for (err, expected) in [
        (
            wrong_slot,
            "the reply hands back slot 1 as number 1; request 1 was in slot 0",
        ),
        (
            wrong_number,
            "the reply hands back slot 0 as number 5; request 1 was in slot 0",
        ),
    ] {
        assert!(matches!(err, TransportError::Protocol(_)), "{err}");
        assert_eq!(err.to_string(), expected);
    }
}
