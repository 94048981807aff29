//! Lines on stderr that never panic: `eprintln!` panics when the write fails, and a server's
//! stderr is a pipe to its driver, which may be gone (the driver killed, its reader ended) or
//! interrupted by a signal. A server says what went wrong on its way out; failing to say it must
//! not turn an orderly exit into a panic (exit 101) that hides the reason.

use std::fmt;
use std::io::Write;

/// Writes `line` and a newline to stderr in one write where it fits. `write_all` retries a
/// write that a signal interrupted (`EINTR`: the wait watchdog's `SIGURG` has a handler without
/// `SA_RESTART`); any other failure (a broken pipe, a full disk, a closed descriptor) is
/// ignored, as there is nowhere left to say it.
pub fn say(line: fmt::Arguments<'_>) {
    let text = format!("{line}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_line_to_a_broken_stderr_is_dropped_without_a_panic() {
        // Run in a child, whose stderr becomes a pipe nobody reads (as a server's is once its
        // driver is gone): `eprintln!` panics there with EPIPE.
        let exe = std::env::current_exe().unwrap();
        if std::env::var_os("TB_SAY_CLOSED_STDERR").is_some() {
            let (read_end, write_end) = nix::unistd::pipe().unwrap();
            drop(read_end);
            // SAFETY: replaces this child process's own stderr; nothing else uses it.
            assert_eq!(unsafe { libc::dup2(write_end.as_raw_fd(), 2) }, 2);
            say(format_args!("nobody reads this: {}", 1));
            return;
        }
        let status = std::process::Command::new(exe)
            // Uncaptured: the test harness would otherwise take the line before stderr does.
            .args([
                "--nocapture",
                "--exact",
                "system::stderr::tests::a_line_to_a_broken_stderr_is_dropped_without_a_panic",
            ])
            .env("TB_SAY_CLOSED_STDERR", "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}
