//! Streams (`--pattern stream`) through the rings of the spinning transports, SHM spin and SHM
//! zero-copy, against real server processes that check every byte of every message: small and
//! large messages at ring depths 1, 2 and the default, two streams on one connection, each
//! ended by a round trip whose echo is the acknowledgement; round trips on a round-trip segment
//! as before; a client of the other pattern refused; a stalled server that times the writer
//! out once the ring is full; a server that exits mid-stream; and peers that break the ring's
//! protocol, played by the test on the segment's documented layout
//! (`src/transport/blocks/ring.rs`). Nothing is timed; nothing may be left in /dev/shm.

mod common {
    pub mod bounded;
    pub mod channel;
    pub mod process;
    pub mod server;
    pub mod signals;
    pub mod streaming;
}

use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::channel::{channel_leftovers, unique_channel};
use common::process::Spawned;
use common::server::{server_args, start_server};
use common::signals::stop_server_clean;
use common::streaming::{
    connect_for, stamp, stream_message, stream_server_args, within_patience, ProcessWatch,
};
use transport_bench::peer::server::{Fault, FAULT_EXIT_CODE};
use transport_bench::peer::server_args::ServerArgs;
use transport_bench::transport::kinds::{shm_spin, shm_zc};
use transport_bench::transport::os::shm::SharedMemory;
use transport_bench::transport::stream::STREAM_END;
use transport_bench::transport::{
    Endpoint, NoWatch, Pattern, TransportClient, TransportError, TransportKind, HEADER_LEN,
};

/// The two transports that keep rings.
const KINDS: [TransportKind; 2] = [shm_spin::KIND, shm_zc::KIND];

/// Message sizes, and a buffer whose payload holds the larger.
const SMALL: usize = 100;
const LARGE: usize = 64 * 1024;
const BUFFER: usize = LARGE + HEADER_LEN;
/// A buffer of one page, for the cases that look at the layout.
const PAGE_BUFFER: usize = 4096;

/// A client's timeout where nothing should run out: long, as the server checks every byte.
const HEALTHY: Duration = Duration::from_secs(20);

/// The segment's words, by offset (`blocks/ring.rs`): the header's, the write index (the
/// request line's `seq`), the read index, and the length table.
const PATTERN_WORD: usize = 0;
const DEPTH_WORD: usize = 4;
const WRITE_INDEX: usize = 64;
const READ_INDEX: usize = 256;
const LENGTHS: usize = 4096;

/// A server process on a fresh channel, and where to reach it. If a test fails half-way,
/// dropping it kills the server and removes what it left.
struct Served {
    /// None once the server was waited for.
    server: Option<Spawned>,
    channel: String,
    endpoint: Endpoint,
}

impl Served {
    fn start(
        kind: TransportKind,
        buffer: usize,
        args: impl FnOnce(&Endpoint) -> ServerArgs,
    ) -> Served {
        let channel = unique_channel(&format!("ring_{}", object(kind)));
        let endpoint = Endpoint::ShmChannel {
            channel: channel.clone(),
            buffer_size: buffer,
        };
        let server = Some(start_server(&args(&endpoint), &[]));
        Served {
            server,
            channel,
            endpoint,
        }
    }

    fn stream(
        kind: TransportKind,
        buffer: usize,
        depth: Option<usize>,
        fault: Option<Fault>,
    ) -> Served {
        Served::start(kind, buffer, |endpoint| {
            stream_server_args(kind, endpoint, depth, fault)
        })
    }

    fn round_trips(kind: TransportKind, buffer: usize) -> Served {
        Served::start(kind, buffer, |endpoint| {
            server_args(kind, endpoint, common::process::PATIENCE)
        })
    }

    /// The server's segment, `/srb_<channel>_<object>`.
    fn segment(&self, kind: TransportKind) -> String {
        format!("/srb_{}_{}", self.channel, object(kind))
    }

    fn running(&self) -> &Spawned {
        self.server.as_ref().expect("a running server")
    }

    fn pid(&self) -> u32 {
        self.running().pid()
    }

    fn stderr(&self) -> String {
        self.running().stderr.lock().unwrap().clone()
    }

    /// SIGTERM, as the driver stops a server: it must exit 0 and leave nothing.
    fn stop(mut self) {
        let server = self.server.take().expect("a running server");
        stop_server_clean(server, &self.channel);
    }

    /// Waits for the server to exit by itself, which must leave nothing; its status and
    /// what it said on stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        let server = self.server.take().expect("a running server");
        let (status, _, stderr) = server.finish();
        assert_eq!(channel_leftovers(&self.channel), Vec::<String>::new());
        (status, stderr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server);
            self.endpoint.remove_leftovers();
        }
    }
}

/// What a transport's segment is called after the channel.
fn object(kind: TransportKind) -> &'static str {
    if kind == shm_zc::KIND {
        "zc"
    } else {
        "spin"
    }
}

/// The u32 at `offset` of a mapping the test holds.
fn word(memory: &SharedMemory, offset: usize) -> &AtomicU32 {
    assert!(offset + 4 <= memory.len() && offset.is_multiple_of(4));
    // SAFETY: inside the live, page-aligned mapping (which the borrow keeps mapped), 4-aligned,
    // and touched by both processes only atomically.
    unsafe { &*memory.as_ptr().add(offset).cast::<AtomicU32>() }
}

/// Streams `count` messages of `len` bytes numbered from `first` with `send`, then the end as
/// a round trip, whose echo must be the end byte for byte.
fn stream_copied(
    client: &mut dyn TransportClient,
    first: u64,
    count: u64,
    len: usize,
) -> Result<(), String> {
    let mut message = stream_message(first, len);
    for sequence in first..first + count {
        stamp(&mut message, sequence);
        client
            .send(&message)
            .map_err(|e| format!("sending message {sequence}: {e}"))?;
    }
    let end = stream_message(STREAM_END, len);
    let mut ack = vec![0u8; len];
    let got = (client.round_trip(&end, &mut ack)).map_err(|e| format!("the end: {e}"))?;
    if got != len || ack != end {
        return Err(format!(
            "the acknowledgement ({got} bytes) is not the {len}-byte end"
        ));
    }
    Ok(())
}

/// The same through loans: each message written into the ring slot lent for it, and the end's
/// echo read where it lies, in the slot the end was lent.
fn stream_loaned(
    client: &mut dyn TransportClient,
    first: u64,
    count: u64,
    len: usize,
) -> Result<(), String> {
    let payload = stream_message(0, len);
    for sequence in first..first + count {
        let failed = |e: TransportError| format!("message {sequence}: {e}");
        let mut loan = client
            .loan(len)
            .map_err(failed)?
            .expect("shm-zc lends its slots");
        loan.copy_from_slice(&payload);
        stamp(&mut loan[..], sequence);
        loan.release().map_err(failed)?;
        client.send_loaned(len).map_err(failed)?;
    }
    let end = stream_message(STREAM_END, len);
    let failed = |e: TransportError| format!("the end: {e}");
    let mut loan = client.loan(len).map_err(failed)?.expect("a loan");
    loan.copy_from_slice(&end);
    let lent_at = loan.as_ptr();
    loan.release().map_err(failed)?;
    let echo = client.round_trip_loaned(len).map_err(failed)?;
    let (at, same) = (echo.as_ptr(), *echo == *end);
    echo.release().map_err(failed)?;
    if at != lent_at || !same {
        return Err("the end was not echoed byte for byte in the slot it was lent".into());
    }
    Ok(())
}

#[test]
fn both_rings_carry_small_and_large_streams_at_depths_one_two_and_the_default() {
    for kind in KINDS {
        for depth in [Some(1), Some(2), None] {
            let served = Served::stream(kind, BUFFER, depth, None);
            let endpoint = served.endpoint.clone();
            // Two streams on one connection, numbered on from one to the next as the
            // driver's are; SHM zero-copy sends its second through loans.
            let outcome = within_patience(move || {
                let watch = Arc::new(NoWatch);
                let mut client = connect_for(kind, &endpoint, Pattern::Stream, HEALTHY, watch)
                    .map_err(|e| format!("connecting: {e}"))?;
                stream_copied(client.as_mut(), 1, 500, SMALL)?;
                if kind == shm_zc::KIND {
                    stream_loaned(client.as_mut(), 501, 200, LARGE)
                } else {
                    stream_copied(client.as_mut(), 501, 200, LARGE)
                }
            });
            if let Err(e) = outcome {
                panic!(
                    "{kind:?}, depth {depth:?}: {e}; server said:\n{}",
                    served.stderr()
                );
            }
            served.stop();
        }
    }
}

#[test]
fn a_message_corrupted_in_its_slot_is_found_by_the_server_reading_it_in_place() {
    for kind in KINDS {
        let served = Served::stream(kind, PAGE_BUFFER, Some(8), None);
        let (endpoint, pid) = (served.endpoint.clone(), served.pid());
        let error = within_patience(move || {
            let watch = Arc::new(ProcessWatch(pid));
            let mut client = connect_for(kind, &endpoint, Pattern::Stream, HEALTHY, watch).unwrap();
            for sequence in 1..=3 {
                client.send(&stream_message(sequence, SMALL)).unwrap();
            }
            let mut corrupt = stream_message(4, SMALL);
            corrupt[50] ^= 0xff;
            client.send(&corrupt).unwrap();
            // The server ends at message 4, so the end is never acknowledged.
            let end = stream_message(STREAM_END, SMALL);
            client.round_trip(&end, &mut [0u8; SMALL]).unwrap_err()
        });
        assert!(
            matches!(error, TransportError::PeerGone(_)),
            "{kind:?}: {error}"
        );
        let (status, stderr) = served.finish();
        assert_eq!(status.code(), Some(1), "{kind:?}: {stderr}");
        assert!(
            stderr.contains("stream message 4 (counted from 1, warm-up included): message 4 differs from what was sent at byte offset 50"),
            "{kind:?}: {stderr}"
        );
    }
}

#[test]
fn a_round_trip_segment_is_laid_out_as_before_and_still_echoes() {
    for kind in KINDS {
        let served = Served::round_trips(kind, PAGE_BUFFER);
        // The control page and two payload areas of a page: no ring, no header of note.
        let size = SharedMemory::size_of(&served.segment(kind)).unwrap();
        assert_eq!(size, 3 * 4096, "{kind:?}");
        let endpoint = served.endpoint.clone();
        let (echoed, refused) = within_patience(move || {
            let mut client = connect_for(
                kind,
                &endpoint,
                Pattern::RoundTrip,
                HEALTHY,
                Arc::new(NoWatch),
            )
            .unwrap();
            let mut reply = [0u8; 64];
            let echoed = (client.round_trip(b"still a round trip", &mut reply))
                .map(|len| reply[..len].to_vec());
            (echoed.unwrap(), client.send(b"one way").unwrap_err())
        });
        assert_eq!(echoed, b"still a round trip", "{kind:?}");
        assert!(
            matches!(
                refused,
                TransportError::PatternUnsupported {
                    pattern: Pattern::Stream,
                    ..
                }
            ),
            "{kind:?}: {refused}"
        );
        assert!(
            refused.to_string().contains("connected for round trips"),
            "{refused}"
        );
        served.stop();
    }
}

#[test]
fn a_client_of_the_other_pattern_is_refused_naming_both() {
    for kind in KINDS {
        for (server, client) in [
            (Pattern::RoundTrip, Pattern::Stream),
            (Pattern::Stream, Pattern::RoundTrip),
        ] {
            let served = match server {
                Pattern::RoundTrip => Served::round_trips(kind, PAGE_BUFFER),
                Pattern::Stream => Served::stream(kind, PAGE_BUFFER, Some(4), None),
                Pattern::OneWay => unreachable!("a one-way run is a stream to the transport"),
            };
            let refused = connect_for(kind, &served.endpoint, client, HEALTHY, Arc::new(NoWatch))
                .err()
                .unwrap_or_else(|| {
                    panic!("{kind:?}: a {client} client connected to a {server} server")
                });
            assert!(
                matches!(refused, TransportError::PatternMismatch { server: s, client: c, .. } if s == server && c == client),
                "{kind:?}: {refused}"
            );
            let text = refused.to_string();
            assert!(
                text.contains(&format!(
                    "started for the {server} pattern, this client for {client}"
                )),
                "{text}"
            );
            served.stop();
        }
    }
}

#[test]
fn a_stalled_server_times_the_writer_out_once_the_ring_is_full() {
    const DEPTH: usize = 4;
    const STALL_AT: u64 = 3;
    for kind in KINDS {
        let served = Served::stream(
            kind,
            PAGE_BUFFER,
            Some(DEPTH),
            Some(Fault::StallAt(STALL_AT)),
        );
        let endpoint = served.endpoint.clone();
        let (sent, error) = within_patience(move || {
            let timeout = Duration::from_millis(500);
            let mut client =
                connect_for(kind, &endpoint, Pattern::Stream, timeout, Arc::new(NoWatch)).unwrap();
            let mut message = stream_message(1, SMALL);
            for sequence in 1..=100u64 {
                stamp(&mut message, sequence);
                // SHM zero-copy waits for room in its loan, SHM spin in its send.
                let sent = if kind == shm_zc::KIND {
                    send_through_a_loan(client.as_mut(), &message)
                } else {
                    client.send(&message)
                };
                if let Err(error) = sent {
                    return (sequence - 1, error);
                }
            }
            panic!("{kind:?}: 100 messages went into a ring of {DEPTH} slots of a stalled server");
        });
        // The server took the messages before the stall; the ring holds DEPTH more.
        let most = DEPTH as u64 + STALL_AT - 1;
        assert!(
            (DEPTH as u64..=most).contains(&sent),
            "{kind:?}: {sent} messages went in"
        );
        assert!(
            matches!(error, TransportError::Timeout { .. }),
            "{kind:?}: {error}"
        );
        assert_eq!(
            error.to_string(),
            "timed out after 500ms waiting for a free slot in the ring (the server took none of the messages in it)"
        );
        served.stop();
    }
}

/// One message sent through a loan of SHM zero-copy.
fn send_through_a_loan(
    client: &mut dyn TransportClient,
    message: &[u8],
) -> Result<(), TransportError> {
    let mut loan = client.loan(message.len())?.expect("a loan");
    loan.copy_from_slice(message);
    loan.release()?;
    client.send_loaned(message.len())
}

#[test]
fn a_server_that_exits_mid_stream_fails_the_writer_instead_of_hanging() {
    for kind in KINDS {
        let served = Served::stream(kind, PAGE_BUFFER, None, Some(Fault::ExitAt(10)));
        let (endpoint, pid) = (served.endpoint.clone(), served.pid());
        let error = within_patience(move || {
            // A timeout the test never reaches: only the watch can end the wait in time.
            let watch = Arc::new(ProcessWatch(pid));
            let timeout = Duration::from_secs(40);
            let mut client = connect_for(kind, &endpoint, Pattern::Stream, timeout, watch).unwrap();
            let mut message = stream_message(1, SMALL);
            for sequence in 1..=100_000u64 {
                stamp(&mut message, sequence);
                if let Err(error) = client.send(&message) {
                    return error;
                }
            }
            panic!("{kind:?}: 100000 messages went to a server that exited at the 10th");
        });
        assert!(
            matches!(error, TransportError::PeerGone(_)),
            "{kind:?}: {error}"
        );
        let (status, stderr) = served.finish();
        assert_eq!(
            status.code(),
            Some(i32::from(FAULT_EXIT_CODE)),
            "{kind:?}: {stderr}"
        );
    }
}

#[test]
fn a_server_ends_with_the_reason_when_a_client_breaks_the_ring() {
    let cases = [
        (
            9,
            100,
            "the client's write index 9 is not within the ring's 4 slots ahead of the read index 0",
        ),
        (
            u32::MAX,
            100,
            "the client's write index 4294967295 is not within the ring's 4 slots",
        ),
        (
            1,
            999_999,
            "peer announced a 999999-byte message, more than the 4092 bytes the buffer can carry",
        ),
    ];
    for (write_index, length, expected) in cases {
        let kind = shm_spin::KIND;
        let served = Served::stream(kind, PAGE_BUFFER, Some(4), None);
        {
            // The header page and the length table's page.
            let memory = SharedMemory::open(&served.segment(kind), 2 * 4096).unwrap();
            let access = memory.access();
            assert_eq!(word(&memory, DEPTH_WORD).load(Ordering::Acquire), 4);
            word(&memory, LENGTHS).store(length, Ordering::Relaxed);
            // No wake: the idle server looks again after each of its 100 ms slices.
            word(&memory, WRITE_INDEX).store(write_index, Ordering::Release);
            access.check().unwrap();
        }
        let (status, stderr) = served.finish();
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// A SHM zero-copy stream segment made by the test for a one-page buffer and a ring of 4: the
/// header page, the length table's page and 4 slots of a page.
fn hand_made_zc_segment(channel: &str) -> SharedMemory {
    let memory = SharedMemory::create(&format!("/srb_{channel}_zc"), (2 + 4) * 4096).unwrap();
    word(&memory, DEPTH_WORD).store(4, Ordering::Relaxed);
    word(&memory, PATTERN_WORD).store(1, Ordering::Release);
    memory
}

#[test]
fn a_client_refuses_a_server_whose_read_index_leaves_the_ring() {
    let endpoint = |channel: &str| Endpoint::ShmChannel {
        channel: channel.to_string(),
        buffer_size: PAGE_BUFFER,
    };
    let connect = |channel: &str| {
        connect_for(
            shm_zc::KIND,
            &endpoint(channel),
            Pattern::Stream,
            HEALTHY,
            Arc::new(NoWatch),
        )
    };
    // A read index ahead of the write index, found on connect.
    let channel = unique_channel("ring_hostile");
    let memory = hand_made_zc_segment(&channel);
    word(&memory, READ_INDEX).store(3, Ordering::Release);
    let refused = connect(&channel).err().expect("a refused segment");
    assert_eq!(
        refused.to_string(),
        "the server's read index 3 is not within the ring's 4 slots behind the write index 0"
    );
    drop(memory);

    // One that jumps ahead of the write index while the writer waits for room.
    let channel = unique_channel("ring_hostile");
    let memory = hand_made_zc_segment(&channel);
    let mut client = connect(&channel).unwrap();
    let message = stream_message(1, SMALL);
    for _ in 0..4 {
        send_through_a_loan(client.as_mut(), &message).unwrap();
    }
    assert_eq!(word(&memory, WRITE_INDEX).load(Ordering::Acquire), 4);
    word(&memory, READ_INDEX).store(9, Ordering::Release);
    let refused = send_through_a_loan(client.as_mut(), &message).unwrap_err();
    assert!(matches!(refused, TransportError::Protocol(_)), "{refused}");
    assert_eq!(
        refused.to_string(),
        "the server's read index 9 is not within the ring's 4 slots behind the write index 4"
    );
    drop(client);
    drop(memory);
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}
