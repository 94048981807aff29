//! Which loop measures a workload: [`timed_loop`] picks, for a [`Workload`], the
//! implementation of [`TimedLoop`] in that workload's file: round trips in [`round_trip`],
//! requests in flight in [`in_flight`], a one-way stream in [`stream`], one-way latencies in
//! [`one_way`]. The trait and what the
//! loops share are in [`crate::benchmark::measure`]; the value itself, with everything the
//! reports say of it, sits in the transport vocabulary (`transport::workload`), where the
//! transports name it too.
//!
//! The loop is chosen once per run, so a run pays one virtual call for its warm-up and one for
//! its timed run, never one per round trip.
//!
//! Adding a workload: its variant in `transport::workload`, its file in `benchmark/`
//! implementing [`TimedLoop`], and its line here.

use crate::benchmark::in_flight;
use crate::benchmark::measure::TimedLoop;
use crate::benchmark::one_way;
use crate::benchmark::round_trip;
use crate::benchmark::stream;
use crate::transport::Workload;

/// The loop that measures `workload`.
pub fn timed_loop(workload: Workload) -> &'static dyn TimedLoop {
    match workload {
        Workload::RoundTrip => &round_trip::RoundTrips,
        Workload::InFlight(_) => &in_flight::InFlight,
        Workload::Stream => &stream::Stream,
        Workload::OneWay => &one_way::OneWay,
    }
}
