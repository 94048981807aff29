//! What one run of a case comes to, in the words every part of the benchmark shares: the
//! [`Case`], the run's [`RunOutcome`] and why it failed ([`RunError`]), including what a client
//! process reported ([`ReportedError`]), typed, as it crossed the pipe to the driver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::benchmark::measure::{MeasureError, RunMeasurement};
use crate::peer::client_args::ClientArgsError;
use crate::peer::client_process::ClientProcessError;
use crate::peer::lease::LeaseError;
use crate::peer::spawn::DriverError;
use crate::report::size::MessageSize;
use crate::system::process_state::Stopped;
use crate::system::signals;
use crate::transport::wait::objection_until;
use crate::transport::{PeerWatch, TransportError, TransportKind};

/// One (size, transport) pair of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub size: MessageSize,
    pub transport: TransportKind,
}

/// Why a run failed. The text is what the summary and the exports show.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error("the server exited but left {} behind", .0.join(", "))]
    Leftovers(Vec<String>),
    /// What went wrong in one of several pairs (`--pairs`), counted from 1.
    #[error("pair {pair}: {source}")]
    Pair {
        pair: usize,
        #[source]
        source: Box<RunError>,
    },
    /// A wait that ran out, and what the server said on its way out: the cause may be on its
    /// side, where the client cannot see it (a connection libzmq could not accept).
    #[error("{source} (the server said: {words})")]
    ServerSaid {
        #[source]
        source: Box<RunError>,
        words: String,
    },
    /// A wait that ran out because the server was stopped (`kill -STOP`, a debugger): the
    /// client saw silence; the driver, the server's parent, sees why.
    #[error("server {pid} {how}: {source}")]
    ServerStopped {
        pid: u32,
        how: Stopped,
        #[source]
        source: Box<RunError>,
    },
    /// A client process that could not start, or died: how (its signal, out of memory) and
    /// what it said.
    #[error(transparent)]
    Client(#[from] ClientProcessError),
    /// What a client process reported went wrong, with its text.
    #[error(transparent)]
    InClient(ReportedError),
    /// A client process that could not read its command line.
    #[error(transparent)]
    Args(#[from] ClientArgsError),
    /// A case not run against an external server whose channel an earlier case left in the
    /// middle of an exchange (see `ExternalExecutor`).
    #[error(
        "not run: an earlier case left the channel mid-exchange ({earlier}); the server may \
         still answer that request, and its reply would be taken for this case's: restart the \
         server to measure again"
    )]
    ChannelOutOfStep { earlier: String },
    /// A TCP peer that refused the connection: nothing listens at its address.
    #[error(
        "nothing listens at {addr} ({source}): --connect measures a server that is already \
         running; start it first, or check the address"
    )]
    Refused {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A one-way run whose server's latencies could not be had whole.
    #[error("one-way latencies: {0}")]
    OneWay(#[from] OneWayError),
    /// Anything that went wrong with a server this tool did not start, named by its address.
    #[error("external server {peer}: {source}")]
    External {
        peer: String,
        #[source]
        source: Box<RunError>,
    },
}

/// Why a one-way run has no latencies: the server's did not arrive whole, or do not fit the
/// client's stream, or were taken on another clock.
#[derive(Debug, thiserror::Error)]
pub enum OneWayError {
    #[error(transparent)]
    HandOver(#[from] crate::peer::one_way::HandOverError),
    #[error("the server timed {timed} messages, the client's stream delivered {delivered}")]
    Count { timed: u64, delivered: u64 },
    #[error("the server (pid {server}) runs in another time namespace, whose CLOCK_MONOTONIC is not the client's")]
    OtherClock { server: u32 },
    #[error("comparing the two processes' clocks: {0}")]
    ClockCheck(#[from] crate::system::clock::ClockCheckError),
    #[error("the client reported no stream end to take the server's latencies by")]
    NoEnd,
}

impl From<TransportError> for RunError {
    fn from(e: TransportError) -> RunError {
        RunError::Measure(e.into())
    }
}

impl RunError {
    /// A stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) ended the run, rather than a fault.
    pub fn is_interrupt(&self) -> bool {
        match self {
            RunError::Measure(e) => e.is_interrupt(),
            RunError::External { source, .. }
            | RunError::Pair { source, .. }
            | RunError::ServerSaid { source, .. } => source.is_interrupt(),
            _ => false,
        }
    }

    /// A wait ran out: the client saw no failure, only silence. Said of one pair of several,
    /// or of an external server, or with the server's last words, it is still a timeout.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            RunError::Measure(MeasureError::Transport(e)) => e.is_timeout(),
            RunError::InClient(reported) => reported.kind == FailureKind::Timeout,
            RunError::External { source, .. }
            | RunError::Pair { source, .. }
            | RunError::ServerSaid { source, .. }
            | RunError::ServerStopped { source, .. } => source.is_timeout(),
            _ => false,
        }
    }

    /// The pair (counted from 1) this error is of, when several pairs ran.
    pub(crate) fn pair(&self) -> Option<usize> {
        match self {
            RunError::Pair { pair, .. } => Some(*pair),
            _ => None,
        }
    }

    /// This error with `wrap` applied to what it says of its pair: inside [`RunError::Pair`],
    /// so that a pair's error keeps its `pair N:` first.
    pub(crate) fn within_pair(self, wrap: impl FnOnce(RunError) -> RunError) -> RunError {
        match self {
            RunError::Pair { pair, source } => RunError::Pair {
                pair,
                source: Box::new(wrap(*source)),
            },
            other => wrap(other),
        }
    }
}

/// What one run produced: its measurement if the timed loop started, and why it ended early.
#[derive(Default)]
pub struct RunOutcome {
    pub measurement: Option<RunMeasurement>,
    pub error: Option<RunError>,
}

impl RunOutcome {
    pub(crate) fn failed(error: impl Into<RunError>) -> RunOutcome {
        RunOutcome {
            measurement: None,
            error: Some(error.into()),
        }
    }
}

/// What kind of failure a client reported: the driver treats each as it treated the error
/// itself when the client was a thread of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// A stop signal ended the run.
    Interrupted,
    /// A wait ran out.
    Timeout,
    /// The server exited: the driver, which reaps it, says how.
    PeerGone,
    /// Another pair failed first.
    AnotherPairFailed,
    Other,
}

/// A client's error, typed and with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{text}")]
pub struct ReportedError {
    pub kind: FailureKind,
    pub text: String,
}

impl ReportedError {
    /// `error` as a client reports it.
    pub fn of(error: &RunError) -> ReportedError {
        let kind = match error {
            RunError::Measure(MeasureError::Transport(TransportError::Interrupted)) => {
                FailureKind::Interrupted
            }
            RunError::Measure(MeasureError::Transport(e)) if e.is_timeout() => FailureKind::Timeout,
            RunError::Measure(MeasureError::Transport(TransportError::PeerGone(_))) => {
                FailureKind::PeerGone
            }
            RunError::Measure(MeasureError::AnotherPairFailed) => FailureKind::AnotherPairFailed,
            _ => FailureKind::Other,
        };
        ReportedError {
            kind,
            text: error.to_string(),
        }
    }

    /// The driver's error for it. A server the client saw go stays in the client's words
    /// until [`RunOutcome::tell_server_exit`] puts it in the exit's.
    pub fn into_run_error(self) -> RunError {
        match self.kind {
            // The driver passes its own stop signals on to its clients: only then is the run
            // interrupted. A signal that reached a client alone ended that case early, which
            // is a failure, never a short run reported as measured.
            FailureKind::Interrupted if signals::received().is_some() => {
                RunError::from(TransportError::Interrupted)
            }
            FailureKind::Interrupted => RunError::InClient(ReportedError {
                text: format!(
                    "the client process was stopped by a signal the driver did not receive ({})",
                    self.text
                ),
                ..self
            }),
            FailureKind::AnotherPairFailed => RunError::Measure(MeasureError::AnotherPairFailed),
            FailureKind::PeerGone | FailureKind::Timeout | FailureKind::Other => {
                RunError::InClient(self)
            }
        }
    }
}

/// How long the driver waits to see the exit of a server its client saw go: longer than a
/// client's own wait
/// ([`EXIT_SEEN_GRACE`](crate::transport::wait::EXIT_SEEN_GRACE)), since a stopping gRPC
/// server says GOAWAY first and exits after its shutdown grace (200 ms, `grpc/server.rs`).
/// Only a failed run waits.
const SERVER_EXIT_GRACE: Duration = Duration::from_millis(500);

impl RunOutcome {
    /// A client's report, made `reported_at`, that its server went: put in the words of the
    /// server's exit as the driver's `server` watch (which reaps it) describes it, if seen
    /// within [`SERVER_EXIT_GRACE`] of the report. A client may see its server go before the
    /// driver can see the exit (see [`objection_until`]), the more so on a loaded machine.
    /// Asked once all of a run's clients have ended: each server has the grace from its own
    /// client's report, the waits overlap, and none holds up the run's other pairs.
    pub(crate) fn tell_server_exit(&mut self, server: &Arc<dyn PeerWatch>, reported_at: Instant) {
        let Some(RunError::InClient(reported)) = &self.error else {
            return;
        };
        if reported.kind != FailureKind::PeerGone {
            return;
        }
        let end = reported_at + SERVER_EXIT_GRACE;
        if let Some(gone @ TransportError::PeerGone(_)) = objection_until(server.as_ref(), end) {
            self.error = Some(RunError::from(gone));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::wait::ExitsAfter;

    fn gone_from_the_client() -> ReportedError {
        ReportedError {
            kind: FailureKind::PeerGone,
            text: "the server sent GOAWAY".into(),
        }
    }

    /// `reported`'s outcome once the driver has told it `server`'s exit, `ago` after the report.
    fn told(reported: ReportedError, server: &Arc<dyn PeerWatch>, ago: Duration) -> RunError {
        let mut outcome = RunOutcome::failed(reported.into_run_error());
        let reported_at = Instant::now().checked_sub(ago).unwrap();
        outcome.tell_server_exit(server, reported_at);
        outcome.error.unwrap()
    }

    #[test]
    fn a_client_that_saw_its_server_go_is_told_how_once_the_driver_sees_the_exit() {
        let later: Arc<dyn PeerWatch> = Arc::new(ExitsAfter::new(5, true));
        let error = told(gone_from_the_client(), &later, Duration::ZERO);
        assert_eq!(error.to_string(), "server exited: exit code 3");
        let never: Arc<dyn PeerWatch> = Arc::new(ExitsAfter::new(u32::MAX, true));
        let error = told(gone_from_the_client(), &never, Duration::ZERO);
        assert!(error.to_string().contains("GOAWAY"), "{error}");
    }

    #[test]
    fn each_report_has_the_grace_from_its_own_arrival_and_no_more() {
        // Reported a second ago: its grace is over, the server is asked once.
        let late = Arc::new(ExitsAfter::new(u32::MAX, true));
        let watch: Arc<dyn PeerWatch> = late.clone();
        let error = told(gone_from_the_client(), &watch, Duration::from_secs(1));
        assert!(error.to_string().contains("GOAWAY"), "{error}");
        assert_eq!(late.checks(), 1);
        // Only a server gone is told so: a timeout stays the client's, the server not asked.
        let asked = Arc::new(ExitsAfter::new(0, true));
        let watch: Arc<dyn PeerWatch> = asked.clone();
        let timed_out = ReportedError {
            kind: FailureKind::Timeout,
            text: "timed out".into(),
        };
        assert_eq!(
            told(timed_out, &watch, Duration::ZERO).to_string(),
            "timed out"
        );
        assert_eq!(asked.checks(), 0);
    }

    fn timeout() -> RunError {
        RunError::from(TransportError::Timeout {
            what: "the reply".into(),
            timeout: Duration::from_secs(2),
        })
    }

    #[test]
    fn a_timeout_is_a_timeout_when_said_of_a_pair_an_external_server_or_with_words() {
        let pair = |source| RunError::Pair {
            pair: 2,
            source: Box::new(source),
        };
        assert!(pair(timeout()).is_timeout());
        assert_eq!(pair(timeout()).pair(), Some(2));
        assert!(RunError::External {
            peer: "tcp:127.0.0.1:9".into(),
            source: Box::new(timeout()),
        }
        .is_timeout());
        let said = RunError::ServerSaid {
            source: Box::new(pair(timeout())),
            words: "EMFILE".into(),
        };
        assert!(said.is_timeout());
        assert!(!pair(RunError::Leftovers(vec!["x".into()])).is_timeout());
        assert!(!pair(RunError::from(TransportError::Interrupted)).is_timeout());
    }

    #[test]
    fn what_is_said_of_a_pairs_error_goes_after_its_pair_number() {
        let pair = RunError::Pair {
            pair: 2,
            source: Box::new(timeout()),
        };
        let said = pair.within_pair(|source| RunError::ServerSaid {
            source: Box::new(source),
            words: "EMFILE".into(),
        });
        assert_eq!(
            said.to_string(),
            "pair 2: timed out after 2s waiting for the reply (the server said: EMFILE)"
        );
        assert!(said.is_timeout());
    }
}
