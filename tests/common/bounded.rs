//! A client's work on a thread of its own, bounded: if it does not return in time the test
//! fails saying what hung, instead of hanging itself. A panic in it is the test's.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Runs `body` on a thread of its own and returns what it returns; fails the test with
/// `what` hung if that takes more than `limit`.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, outcome) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = done.send(body());
    });
    match outcome.recv_timeout(limit) {
        Ok(value) => {
            worker.join().expect("the client thread");
            value
        }
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the client thread ended without an outcome"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what} hung: no outcome within {limit:?}"),
    }
}
