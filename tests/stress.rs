//! The stress case of the transports that hand requests over by a sequence number in shared
//! memory (SHM spin, SHM zero-copy): many round trips of random sizes, every byte verified,
//! with the default spin budget and with none, where every wait sleeps on the futex, so that a
//! lost wake-up would stall a round trip until its timeout. SHM zero-copy alternates between its
//! loan (the request written into shared memory, the echo checked where it lies) and its
//! copying round trip.
//!
//! CI runs it with `cargo test --release`, where each case makes [`RELEASE_ROUND_TRIPS`]; a
//! debug build makes [`DEBUG_ROUND_TRIPS`], a few seconds in all.

mod common {
    pub mod channel;
    pub mod process;
    pub mod server;
    pub mod signals;
    pub mod spinning;
}

use std::time::Duration;

use common::channel::unique_channel;
use common::process::PATIENCE;
use common::server::start_server;
use common::signals::stop_server_clean;
use common::spinning::{connect_spinning, spinning_server_args};
use transport_bench::transport::kinds::{shm_spin, shm_zc};
use transport_bench::transport::{TransportClient, TransportKind, HEADER_LEN};

const BUFFER: usize = 256 * 1024;
const CAPACITY: usize = BUFFER - HEADER_LEN;
const RELEASE_ROUND_TRIPS: u64 = 50_000;
const DEBUG_ROUND_TRIPS: u64 = 10_000;

/// xorshift64*: reproducible random numbers without a dependency; the seed is in every
/// failure message.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// Mostly small messages, where a hand-over dominates, some of a page or so, and some up
    /// to the whole capacity, where the copies do; 0 and the capacity itself included.
    fn size(&mut self) -> usize {
        match self.below(10) {
            0 => [0, 1, CAPACITY][self.below(3)],
            1..=5 => self.below(65),
            6..=8 => self.below(8193),
            _ => self.below(CAPACITY + 1),
        }
    }
}

/// `len` bytes of `noise` from a random offset, stamped with `round_trip` in their first bytes,
/// so that a stale or shifted echo differs from the request.
fn make_request<'a>(
    request: &'a mut [u8],
    noise: &[u8],
    random: &mut Random,
    round_trip: u64,
) -> &'a [u8] {
    let len = random.size();
    let start = random.below(noise.len() - len + 1);
    request[..len].copy_from_slice(&noise[start..start + len]);
    let stamp = round_trip.to_le_bytes();
    let stamped = len.min(stamp.len());
    request[..stamped].copy_from_slice(&stamp[..stamped]);
    &request[..len]
}

/// One round trip of `request`, through the loan (the echo checked in place) or the copying
/// API; panics naming `what` if the echo differs.
fn echo_and_verify(
    client: &mut dyn TransportClient,
    request: &[u8],
    response: &mut [u8],
    through_loan: bool,
    what: &str,
) {
    if through_loan {
        let mut loan = client.loan(request.len()).unwrap().expect("a loan");
        loan.copy_from_slice(request);
        loan.release().unwrap();
        let reply = client
            .round_trip_loaned(request.len())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(*reply == *request, "{what}: the echo in place differs");
        reply.release().unwrap();
    } else {
        let len = client
            .round_trip(request, response)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(response[..len] == *request, "{what}: the echo differs");
    }
}

/// `round_trips` round trips of random sizes against a `kind` server, both sides spinning for
/// `spin_budget` (None: the default).
fn stress(kind: TransportKind, spin_budget: Option<Duration>, round_trips: u64, seed: u64) {
    let channel = unique_channel("stress");
    let endpoint = kind.endpoint(&channel, std::path::Path::new("/nonexistent"), BUFFER);
    let args = spinning_server_args(kind, &endpoint, PATIENCE, spin_budget);
    let server = start_server(&args, &[]);
    let mut client = connect_spinning(kind, &endpoint, PATIENCE, spin_budget).unwrap();
    let mut random = Random(seed);
    let noise: Vec<u8> = (0..2 * BUFFER).map(|_| random.next() as u8).collect();
    let (mut request, mut response) = (vec![0u8; CAPACITY], vec![0u8; CAPACITY]);
    let lends = client.loan(0).unwrap().is_some();
    for round_trip in 0..round_trips {
        let request = make_request(&mut request, &noise, &mut random, round_trip);
        let what = format!(
            "{kind:?}, spin budget {spin_budget:?}, seed {seed}, round trip {round_trip} of {} bytes",
            request.len()
        );
        let through_loan = lends && round_trip % 2 == 0;
        echo_and_verify(client.as_mut(), request, &mut response, through_loan, &what);
    }
    drop(client);
    stop_server_clean(server, &channel);
}

#[test]
fn many_round_trips_of_random_sizes_echo_exactly_spinning_or_sleeping() {
    let round_trips = if cfg!(debug_assertions) {
        DEBUG_ROUND_TRIPS
    } else {
        RELEASE_ROUND_TRIPS
    };
    let mut seed = 0x5eed_0001;
    for kind in [shm_spin::KIND, shm_zc::KIND] {
        for spin_budget in [None, Some(Duration::ZERO)] {
            stress(kind, spin_budget, round_trips, seed);
            seed += 1;
        }
    }
}
