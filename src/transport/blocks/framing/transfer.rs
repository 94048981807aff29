//! How one read or write of a frame is judged: bytes moved (inline, the case of every
//! message), or, out of line, a slice that ran out, a signal, or a peer that is gone, explained
//! by the watch when it knows why.

use std::io::ErrorKind;

use crate::transport::error::TransportError;
use crate::transport::wait::{is_hang_up, objection_within, WaitBudget, EXIT_SEEN_GRACE};

/// Which way a transfer moves bytes, for its error texts.
#[derive(Clone, Copy)]
pub(super) enum Direction {
    Receive,
    Send,
}

/// Judges one read or write of a transfer of `what`: Some(bytes moved), or None to try again
/// (a signal interrupted it, or a slice ran out within the budget). Bytes moved, the case of
/// every message, inline; the rest out of line, as every call on a round trip's path is kept
/// small (docs/own-cost.md).
#[inline(always)]
pub(super) fn progress(
    result: std::io::Result<usize>,
    budget: &mut WaitBudget<'_>,
    direction: Direction,
    what: &str,
) -> Result<Option<usize>, TransportError> {
    match result {
        Ok(n) if n > 0 => Ok(Some(n)),
        other => no_progress(other, budget, direction, what),
    }
}

#[cold]
#[inline(never)]
fn no_progress(
    result: std::io::Result<usize>,
    budget: &mut WaitBudget<'_>,
    direction: Direction,
    what: &str,
) -> Result<Option<usize>, TransportError> {
    let (closed_while, op) = match direction {
        Direction::Receive => ("we waited for", "reading"),
        Direction::Send => ("we sent", "sending"),
    };
    match result {
        Ok(0) => Err(peer_gone(
            budget,
            &format!("closed while {closed_while} {what}"),
        )),
        Ok(n) => Ok(Some(n)),
        // The watchdog's signal ends a slice (see `watched_socket`); another signal may be
        // the one that asks us to stop, which the watch knows.
        Err(e) if e.kind() == ErrorKind::Interrupted => budget.slice_expired(what).map(|()| None),
        Err(e) if is_hang_up(&e) => Err(peer_gone(budget, &e.to_string())),
        Err(e) if is_timeout(&e) => budget.slice_expired(what).map(|()| None),
        Err(e) => Err(TransportError::io(format!("{op} {what}"), e)),
    }
}

/// The connection broke: give the watch a moment to say why (a dead server), else report the
/// socket's own words.
pub(super) fn peer_gone(budget: &WaitBudget<'_>, how: &str) -> TransportError {
    objection_within(budget.watch(), EXIT_SEEN_GRACE).unwrap_or_else(|| {
        TransportError::PeerGone(format!("the connection to the peer broke: {how}"))
    })
}

/// A slice of the stream's own timeout ran out.
pub(super) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
