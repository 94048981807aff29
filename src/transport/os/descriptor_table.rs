//! A helper thread's own descriptor table: see [`leave_shared`].

use std::os::fd::RawFd;

use nix::sched::CloneFlags;

/// Standard input and standard error, which helpers that read the driver's commands keep.
pub const STDIN: RawFd = 0;
pub const STDERR: RawFd = 2;

/// For a helper thread of a client or server process (one that reads the driver's commands,
/// the wait watchdog): gives it a descriptor table of its own that holds only `keep`, so that
/// the measuring thread's table is its alone again.
///
/// Why: while a table is shared, every system call on a descriptor takes and drops a reference
/// to its file (the kernel's `fdget`); with a table of its own the measuring thread's calls
/// borrow the file instead, as a single-threaded program's do. In C, one idle thread sharing
/// the table made a Unix stream of 10 KB messages on one CPU 3% slower (docs/own-cost.md). The
/// helper closes its copies of everything else, so that a descriptor the measuring thread
/// closes is closed (a socket's peer sees its end) and none opened meanwhile is kept alive.
/// A refusal (no memory for the copy) leaves the table shared: slower, not wrong.
pub fn leave_shared(keep: &[RawFd]) {
    if nix::sched::unshare(CloneFlags::CLONE_FILES).is_err() {
        return;
    }
    let mut first: RawFd = 0;
    let mut kept: Vec<RawFd> = keep.to_vec();
    kept.sort_unstable();
    for end in kept.into_iter().chain([RawFd::MAX]) {
        if end > first {
            close_range(first, end - 1);
        }
        first = end.saturating_add(1);
    }
}

/// Closes descriptors `first..=last` of this thread's table (`close_range`, Linux 5.9).
fn close_range(first: RawFd, last: RawFd) {
    let (first, last) = (first as libc::c_uint, last as libc::c_uint);
    // SAFETY: close_range takes no memory; it only closes descriptors of the calling thread's
    // table, which here is the helper's own copy.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_helper_with_a_table_of_its_own_keeps_only_what_it_was_told() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = file.as_raw_fd();
        let open = |fd: RawFd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok();
        let highest = fd + 16;
        let helper = std::thread::Builder::new().spawn(move || {
            leave_shared(&[2]);
            (0..=highest).filter(|&fd| open(fd)).collect::<Vec<RawFd>>()
        });
        let helpers = helper.unwrap().join().unwrap();
        assert_eq!(
            helpers,
            [2],
            "the helper's table holds what it kept and nothing else"
        );
        assert!(open(fd), "this thread's descriptor is untouched");
        assert!(
            open(0) && open(2),
            "this thread's standard descriptors are untouched"
        );
        drop(file);
    }
}
