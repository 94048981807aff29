//! Standard output, written so that losing it is seen: every subcommand that prints (the
//! benchmark's progress and summary, `cleanup`, `compare`, `completions`, `man`) writes
//! through here, and its exit code goes through [`finish`].
//!
//! std's own ways lose it: `println!` panics on a failed write (exit 101 and a backtrace, for
//! `>/dev/full`), a write error ignored says nothing and exits 0, and std's `Stdout` takes a
//! closed descriptor 1 (EBADF, `>&-`) for a sink that accepts everything. So each write goes
//! to descriptor 1 itself, with no buffer of std's in between; the first failure is kept and
//! later writes are skipped (the rest of the run still measures, exports and cleans up), and
//! [`finish`] says it on stderr and makes the exit code a failure.
//!
//! A closed descriptor 1 cannot be seen from `main`: std's runtime opens `/dev/null` on it
//! first (so that no file opened later lands on descriptor 1). The binary registers
//! [`note_if_closed`] as an ELF constructor, which runs before that, and the first write here
//! then fails with EBADF as it would have.
//!
//! A reader that went away (`| head`: EPIPE, as SIGPIPE is ignored by Rust's runtime) is not a
//! failure of ours: the output was wanted only that far. It is skipped quietly and the exit
//! code left as it was, as a tool killed by SIGPIPE says nothing.

use std::fmt::Display;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;

/// Whether standard output still takes writes, or why not.
enum State {
    Open,
    /// The reader went away (EPIPE): quiet.
    Closed,
    /// A write failed: said by [`finish`].
    Failed(io::Error),
}

/// Whether descriptor 1 was closed when the process started (see [`note_if_closed`]).
static CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

/// Notes whether descriptor 1 is closed. For the binary to run as an ELF constructor, before
/// std's runtime opens `/dev/null` on a closed standard descriptor; it only asks the kernel.
pub extern "C" fn note_if_closed() {
    let closed = nix::fcntl::fcntl(libc::STDOUT_FILENO, nix::fcntl::FcntlArg::F_GETFD);
    CLOSED_AT_START.store(closed == Err(Errno::EBADF), Ordering::Relaxed);
}

/// Whether descriptor 1 was closed when the process started: an export to `-` then has
/// nowhere to go (descriptor 1 is std's `/dev/null` by now).
pub fn closed_at_start() -> bool {
    CLOSED_AT_START.load(Ordering::Relaxed)
}

/// One writer at a time, so that lines of two threads do not interleave mid-line.
static STATE: Mutex<State> = Mutex::new(State::Open);

/// Writes `bytes` whole to descriptor 1, unless an earlier write failed. Returns this write's
/// failure too, for a caller that stops on it.
pub fn write_all(bytes: &[u8]) -> io::Result<()> {
    let mut state = STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !matches!(*state, State::Open) {
        return Ok(());
    }
    let written = match closed_at_start() {
        true => Err(closed_error()),
        false => write_fd1(bytes),
    };
    match &written {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => *state = State::Closed,
        Err(e) => *state = State::Failed(io::Error::new(e.kind(), e.to_string())),
    }
    written
}

/// Writes `text` and a newline (see [`write_all`]); a failure is kept for [`finish`].
pub fn line(text: impl Display) {
    let _ = write_all(format!("{text}\n").as_bytes());
}

/// Writes `text` as it is (see [`write_all`]); a failure is kept for [`finish`].
pub fn print(text: impl Display) {
    let _ = write_all(text.to_string().as_bytes());
}

/// The exit code of a mode that printed: `code`, or a failure (said on stderr) if a write to
/// standard output failed and `code` was a success.
pub fn finish(code: ExitCode) -> ExitCode {
    let state = STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*state {
        State::Failed(e) => {
            eprintln!("error: writing to standard output: {e}");
            if code == ExitCode::SUCCESS {
                ExitCode::FAILURE
            } else {
                code
            }
        }
        State::Open | State::Closed => code,
    }
}

/// Why nothing can be written to a descriptor 1 that was closed at the start.
pub fn closed_error() -> io::Error {
    io::Error::other("it was closed when the program started (Bad file descriptor)")
}

fn write_fd1(mut bytes: &[u8]) -> io::Result<()> {
    let stdout = io::stdout();
    while !bytes.is_empty() {
        match nix::unistd::write(&stdout, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
