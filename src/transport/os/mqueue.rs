//! POSIX message queues (`mq_open`): an owner of one queue that unlinks it if it created it,
//! timed sends and receives in slices, and the kernel's limits (`msgsize_max`, `msg_max`, and
//! the per-user `RLIMIT_MSGQUEUE`, which a refusal names rather than `EMFILE`'s "too many open
//! files").

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::mqueue::{mq_attr_member_t, mq_getattr, mq_open, mq_unlink, MQ_OFlag, MqAttr, MqdT};
use nix::sys::stat::Mode;

use crate::transport::error::TransportError;
use crate::transport::os::readiness::readable_within;
use crate::transport::os::semaphore::realtime_deadline_after;
use crate::transport::os::{headroom, owner_lock};
use crate::transport::wait::{PeerWatch, WaitBudget, WAIT_SLICE};

/// Messages a queue of round trips holds without requests in flight: one, as a client waits
/// for each reply before it sends again.
pub const MAX_MESSAGES: mq_attr_member_t = 1;

/// The most messages a stream's request queue holds ([`stream_depth`]): Linux's default
/// `msg_max`. More would not fit many servers of one user in `RLIMIT_MSGQUEUE` (800 KiB by
/// default), which charges a queue its depth × its message size.
pub const MAX_STREAM_DEPTH: mq_attr_member_t = 10;

/// The largest `mq_maxmsg` an unprivileged process may ask for.
pub const MSG_MAX_FILE: &str = "/proc/sys/fs/mqueue/msg_max";

/// Linux's default for that file, assumed when it cannot be read.
pub const DEFAULT_MSG_MAX: usize = 10;

/// Where Linux shows message queues, when the mqueue file system is mounted there.
pub const MQUEUE_DIR: &str = "/dev/mqueue";

/// The largest `mq_msgsize` an unprivileged process may ask for.
pub const MSGSIZE_MAX_FILE: &str = "/proc/sys/fs/mqueue/msgsize_max";

/// Linux's default for that file, assumed when it cannot be read.
pub const DEFAULT_MSGSIZE_MAX: usize = 8192;

/// What the kernel keeps per message besides its bytes, charged with them to `RLIMIT_MSGQUEUE`:
/// a `struct msg_msg` and a priority tree node (ipc/mqueue.c, 48 bytes each on 64-bit Linux).
const KERNEL_BYTES_PER_MESSAGE: u64 = 96;

/// What the kernel charges a queue of `depth` messages of `message_size` bytes against the
/// user's `RLIMIT_MSGQUEUE`, at least (ipc/mqueue.c, `mqueue_get_inode`).
pub fn charged_bytes(message_size: usize, depth: usize) -> u64 {
    (depth as u64).saturating_mul((message_size as u64).saturating_add(KERNEL_BYTES_PER_MESSAGE))
}

/// The per-user limit on message queues' bytes (`RLIMIT_MSGQUEUE`, `ulimit -q`), or None where
/// there is none (or it cannot be read).
pub fn user_limit_bytes() -> Option<u64> {
    let (soft, _hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MSGQUEUE).ok()?;
    (soft != nix::sys::resource::RLIM_INFINITY).then_some(soft)
}

/// What `/proc/sys/fs/mqueue/msgsize_max` allows.
pub fn msgsize_max() -> usize {
    std::fs::read_to_string(MSGSIZE_MAX_FILE)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_MSGSIZE_MAX)
}

/// What `/proc/sys/fs/mqueue/msg_max` allows: the deepest queue this process may create.
pub fn msg_max() -> usize {
    std::fs::read_to_string(MSG_MAX_FILE)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_MSG_MAX)
}

/// How many messages a stream's request queue holds: as many as `msg_max` allows, up to
/// [`MAX_STREAM_DEPTH`]. The client sends on until the queue is full, so this is how far a
/// stream runs ahead of its server.
pub fn stream_depth() -> mq_attr_member_t {
    mq_attr_member_t::try_from(msg_max())
        .unwrap_or(MAX_STREAM_DEPTH)
        .clamp(MAX_MESSAGES, MAX_STREAM_DEPTH)
}

/// Removes a queue's name; true if it existed.
pub fn unlink_queue(name: &str) -> bool {
    mq_unlink(name).is_ok()
}

/// Whether a queue of this name exists, asked of the kernel by name. One we may not open
/// (someone else's) exists too.
pub fn queue_exists(name: &str) -> bool {
    match mq_open(name, MQ_OFlag::O_RDONLY, Mode::empty(), None) {
        Ok(queue) => {
            drop(owned(queue));
            true
        }
        Err(e) => e != Errno::ENOENT,
    }
}

/// A queue descriptor as what it is on Linux, a file descriptor, which closes (`mq_close`)
/// when dropped: nix's `MqdT` does not close itself.
pub fn owned(queue: MqdT) -> OwnedFd {
    // SAFETY: on Linux an mqd_t is a file descriptor, and this one is ours alone: it was just
    // returned by mq_open and is handed over whole.
    unsafe { OwnedFd::from_raw_fd(queue.into_raw_fd()) }
}

/// One open queue. The creator unlinks the name when dropped; the descriptor closes either way.
pub struct MessageQueue {
    name: String,
    fd: OwnedFd,
    /// `mq_msgsize`: the longest message, and the least a receive buffer may hold.
    pub message_size: usize,
    /// `mq_maxmsg`: how many messages it holds before a send waits.
    pub depth: usize,
    owner: bool,
}

impl MessageQueue {
    /// Creates the queue exclusively (0600), for up to `depth` messages of up to
    /// `message_size` bytes.
    pub fn create(
        name: &str,
        message_size: usize,
        depth: mq_attr_member_t,
        access: MQ_OFlag,
    ) -> Result<Self, TransportError> {
        let size = mq_attr_member_t::try_from(message_size).unwrap_or(mq_attr_member_t::MAX);
        let attributes = MqAttr::new(0, depth, size, 0);
        let flags = access | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL;
        let mode = Mode::S_IRUSR | Mode::S_IWUSR;
        let sizes = format!("mq_msgsize {message_size}, mq_maxmsg {depth}");
        let queue = mq_open(name, flags, mode, Some(&attributes)).map_err(|e| {
            let queue_bytes = charged_bytes(message_size, usize::try_from(depth).unwrap_or(0));
            creation_refused(name, sizes, queue_bytes, e)
        })?;
        let fd = owned(queue);
        // Proof of life for cleaners, where the kernel allows it; without it they fall back on
        // the pid in the name, as for semaphores that cannot be locked.
        let _ = owner_lock::hold(&fd);
        Ok(MessageQueue {
            name: name.to_string(),
            fd,
            message_size,
            depth: usize::try_from(depth).unwrap_or(0),
            owner: true,
        })
    }

    /// Opens an existing queue and learns its message size.
    pub fn open(name: &str, access: MQ_OFlag) -> Result<Self, TransportError> {
        let queue = mq_open(name, access, Mode::empty(), None)
            .map_err(|e| TransportError::os(format!("opening message queue {name}"), e))?;
        let attributes = mq_getattr(&queue);
        let fd = owned(queue);
        let attributes = attributes
            .map_err(|e| TransportError::os(format!("inspecting message queue {name}"), e))?;
        Ok(MessageQueue {
            name: name.to_string(),
            fd,
            message_size: usize::try_from(attributes.msgsize()).unwrap_or(0),
            depth: usize::try_from(attributes.maxmsg()).unwrap_or(0),
            owner: false,
        })
    }

    /// Sends `message`, waiting for room in slices, at most `timeout` in all.
    pub fn send(
        &self,
        message: &[u8],
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<(), TransportError> {
        let mut budget = WaitBudget::new(timeout, watch);
        while !self.send_within(message, WAIT_SLICE)? {
            budget.slice_expired(&format!("room in message queue {}", self.name))?;
        }
        Ok(())
    }

    /// Receives the next message into `buffer` (at least `message_size` bytes), waiting in
    /// slices, at most `timeout` in all; returns its length.
    pub fn receive(
        &self,
        buffer: &mut [u8],
        timeout: Duration,
        watch: &dyn PeerWatch,
    ) -> Result<usize, TransportError> {
        let mut budget = WaitBudget::new(timeout, watch);
        loop {
            if let Some(len) = self.receive_within(buffer, WAIT_SLICE)? {
                return Ok(len);
            }
            budget.slice_expired(&format!("a message in queue {}", self.name))?;
        }
    }

    /// Waits at most `slice` until the queue holds a message (a queue descriptor polls as
    /// readable then, on Linux); false if the slice ran out or a signal came first.
    pub fn has_message_within(&self, slice: Duration) -> Result<bool, TransportError> {
        readable_within(self.fd.as_fd(), slice)
            .map_err(|e| TransportError::os(format!("polling message queue {}", self.name), e))
    }

    /// One `mq_timedsend` of at most `slice`: false if the slice ran out or a signal came first.
    pub fn send_within(&self, message: &[u8], slice: Duration) -> Result<bool, TransportError> {
        let deadline = realtime_deadline_after(slice)?;
        // SAFETY: fd is an open queue descriptor; the message and the deadline outlive the call.
        let rc = unsafe {
            libc::mq_timedsend(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                &deadline,
            )
        };
        self.completed(rc as isize, "sending to")
            .map(|sent| sent.is_some())
    }

    /// One `mq_timedreceive` of at most `slice`: the message's length, or None if the slice
    /// ran out or a signal came first.
    pub fn receive_within(
        &self,
        buffer: &mut [u8],
        slice: Duration,
    ) -> Result<Option<usize>, TransportError> {
        let deadline = realtime_deadline_after(slice)?;
        // SAFETY: fd is an open queue descriptor; the kernel writes at most `buffer.len()` bytes
        // into the buffer; the buffer and the deadline outlive the call; a null priority
        // pointer asks for no priority.
        let rc = unsafe {
            libc::mq_timedreceive(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                std::ptr::null_mut(),
                &deadline,
            )
        };
        self.completed(rc, "receiving from")
    }

    /// What an `mq_timed*` call's return value `rc` means: Some(bytes) when it completed, None
    /// when its slice ran out or a signal interrupted it, else the error.
    pub fn completed(&self, rc: isize, op: &str) -> Result<Option<usize>, TransportError> {
        if let Ok(len) = usize::try_from(rc) {
            return Ok(Some(len));
        }
        match Errno::last() {
            Errno::ETIMEDOUT | Errno::EINTR => Ok(None),
            e => Err(TransportError::os(
                format!("{op} message queue {}", self.name),
                e,
            )),
        }
    }
}

/// Why `mq_open` refused to create `name`: `EMFILE` is the per-user `RLIMIT_MSGQUEUE` when
/// this process can still open a descriptor (else it is `ulimit -n`, as the errno says).
fn creation_refused(name: &str, sizes: String, queue_bytes: u64, errno: Errno) -> TransportError {
    let limit = user_limit_bytes();
    match (errno, limit) {
        (Errno::EMFILE, Some(limit_bytes)) if headroom::descriptor_refused().is_none() => {
            TransportError::MessageQueueLimit {
                name: name.to_string(),
                sizes,
                queue_bytes,
                limit_bytes,
                source: errno,
            }
        }
        _ => TransportError::os(format!("creating message queue {name} ({sizes})"), errno),
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        if self.owner {
            unlink_queue(&self.name);
        }
    }
}
