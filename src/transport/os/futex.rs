//! The futex calls under `blocks::sequence`: sleep while a shared word holds a value, and wake
//! one sleeper. The word lives in shared memory, so neither call is `FUTEX_PRIVATE`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::errno::Errno;

use crate::transport::error::TransportError;

/// Sleeps while `*word == expected`, at most `timeout`. Wakes, time-outs, signals and a changed
/// value all return Ok: the caller re-checks the word.
pub fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Duration,
) -> Result<(), TransportError> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: word is a valid, aligned u32 in shared memory; ts outlives the call. Not
    // FUTEX_PRIVATE: the word is shared between processes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR => Ok(()),
        e => Err(futex_error(word, "futex wait", e)),
    }
}

pub fn futex_wake(word: &AtomicU32) -> Result<(), TransportError> {
    // SAFETY: word is a valid, aligned u32 in shared memory.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1i32) };
    if rc < 0 {
        return Err(futex_error(word, "futex wake", Errno::last()));
    }
    Ok(())
}

/// The error of a failed futex call. EFAULT means the kernel found no page behind the word:
/// another process truncated the segment since we last touched it. Touching the word from user
/// space raises the SIGBUS that the caller's access then reports as the truncation it is.
fn futex_error(word: &AtomicU32, op: &str, errno: Errno) -> TransportError {
    if errno == Errno::EFAULT {
        std::hint::black_box(word.load(Ordering::Relaxed));
    }
    TransportError::os(op, errno)
}
