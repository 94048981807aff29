//! One send or receive on a connected stream socket that never blocks, whatever the socket's
//! own timeouts say (`MSG_DONTWAIT` per call, so the descriptor's flags, and every other caller's
//! blocking reads and writes, stay as they are).

use std::io::{IoSlice, Result};
use std::os::fd::{AsRawFd, BorrowedFd};

/// One `sendmsg` of `parts` that takes what fits and fails with `WouldBlock` when nothing does.
/// `MSG_NOSIGNAL`: a peer that is gone is an `EPIPE`, never a `SIGPIPE`.
pub fn send_now(socket: BorrowedFd<'_>, parts: &[IoSlice<'_>]) -> Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no address, no control data, no flags).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix; the kernel only reads them.
    header.msg_iov = parts.as_ptr() as *mut libc::iovec;
    header.msg_iovlen = parts.len() as _;
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: the descriptor is open (borrowed); `header` and the slices it points to outlive
    // the call.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, flags) };
    usize::try_from(sent).map_err(|_| std::io::Error::last_os_error())
}

/// One `recv` into `buffer` of whatever has arrived, failing with `WouldBlock` when nothing has;
/// 0 once the peer closed its end.
pub fn receive_now(socket: BorrowedFd<'_>, buffer: &mut [u8]) -> Result<usize> {
    // SAFETY: the descriptor is open (borrowed); the kernel writes at most `buffer.len()` bytes
    // into the buffer, which outlives the call.
    let received = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(received).map_err(|_| std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn nothing_to_read_or_no_room_is_would_block_not_a_wait() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let mut buffer = [0u8; 16];
        let empty = receive_now(ours.as_fd(), &mut buffer).unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::WouldBlock);
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0;
        let full = loop {
            match send_now(
                theirs.as_fd(),
                &[IoSlice::new(b"head"), IoSlice::new(&chunk)],
            ) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(full.kind(), ErrorKind::WouldBlock);
        assert!(sent > 0);
        assert_eq!(receive_now(ours.as_fd(), &mut buffer).unwrap(), 16);
        assert_eq!(&buffer[..4], b"head");
        drop(theirs);
        let mut rest = Vec::new();
        ours.read_to_end(&mut rest).unwrap();
        assert_eq!(receive_now(ours.as_fd(), &mut buffer).unwrap(), 0);
    }
}
