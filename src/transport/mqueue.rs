//! POSIX mqueue: two kernel message queues per channel, `/<channel>_req` and `/<channel>_resp`
//! (the driver's channels are `tb_<pid>_<n>`, so `/tb_<pid>_<n>_req`).
//!
//! The kernel keeps the message boundaries, so there is no length header: a message is exactly
//! the payload, copied into the kernel by `mq_timedsend` and out by `mq_timedreceive`, and each
//! direction wakes its reader once. A queue holds one message (`mq_maxmsg` 1: a request waits
//! for its reply), of at most `mq_msgsize` bytes: the buffer's payload capacity, capped by
//! `/proc/sys/fs/mqueue/msgsize_max` (8,192 by default), which an unprivileged process cannot
//! exceed. Larger messages are skipped, not failed ([`max_message`]).
//!
//! Every wait is an `mq_timed*` call of one slice (absolute `CLOCK_REALTIME` deadlines, as
//! `sem_timedwait`'s); a client asks its [`PeerWatch`] between slices and gives up after
//! `--timeout`, an idle server looks at its stop flag between slices of [`IDLE_SLICE`].
//!
//! The server creates both queues (`O_EXCL`, 0600) and unlinks them when dropped, by name: no
//! file system is involved, so none needs to be mounted. On Linux a queue descriptor is a file
//! descriptor, and the creator holds an owner lock ([`owner_lock`]) on it, which cleaners see
//! through `/dev/mqueue` where that is mounted.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::mqueue::{mq_attr_member_t, mq_getattr, mq_open, mq_unlink, MQ_OFlag, MqAttr, MqdT};
use nix::sys::stat::Mode;

use super::posix::{realtime_deadline_after, PosixObject};
use super::toolkit::{
    check_message_fits, check_reply_fits, checked_payload_capacity, idle_until_request,
    payload_capacity, retry_until_created, shm_object_missing, zeroed_buffer, ChannelName,
    WaitBudget, IDLE_SLICE, WAIT_SLICE,
};
use super::{
    owner_lock, Addressing, EchoOutcome, MessageLimit, PeerWatch, StopFlag, Tamper,
    TransportClient, TransportError, TransportKind, TransportOptions, TransportServer,
    TransportSpec,
};

/// Where Linux shows message queues, when the mqueue file system is mounted there.
pub const MQUEUE_DIR: &str = "/dev/mqueue";

/// The largest `mq_msgsize` an unprivileged process may ask for.
const MSGSIZE_MAX_FILE: &str = "/proc/sys/fs/mqueue/msgsize_max";

/// Linux's default for that file, assumed when it cannot be read.
const DEFAULT_MSGSIZE_MAX: usize = 8192;

/// Messages a queue holds: one, as a client waits for each reply before it sends again.
const MAX_MESSAGES: mq_attr_member_t = 1;

/// The name of one of the channel's queues, `/<channel>_<direction>`.
fn queue_name(channel: &ChannelName, direction: &str) -> String {
    format!("/{channel}_{direction}")
}

fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    ["req", "resp"]
        .map(|direction| PosixObject::MessageQueue(queue_name(channel, direction)))
        .to_vec()
}

/// What `/proc/sys/fs/mqueue/msgsize_max` allows.
pub fn msgsize_max() -> usize {
    std::fs::read_to_string(MSGSIZE_MAX_FILE)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_MSGSIZE_MAX)
}

/// The message size of both queues for a `buffer_size`-byte buffer.
fn queue_message_size(buffer_size: usize) -> Result<usize, TransportError> {
    Ok(checked_payload_capacity(buffer_size)?.min(msgsize_max()))
}

/// The largest message the queues carry, when msgsize_max caps it below the buffer's capacity.
fn max_message(buffer_size: usize) -> Option<MessageLimit> {
    let limit = msgsize_max();
    (limit < payload_capacity(buffer_size)).then(|| MessageLimit {
        bytes: limit,
        reason: format!("larger than msgsize_max {limit}"),
    })
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "mqueue",
    display_name: "POSIX mqueue",
    addressing: Addressing::Channel,
    connect: |endpoint, options, watch| {
        let (channel, _) = endpoint.channel(KIND)?;
        Ok(Box::new(MqueueClient::connect(channel, options, watch)?))
    },
    bind: |endpoint, options| {
        let (channel, buffer_size) = endpoint.channel(KIND)?;
        Ok(Box::new(MqueueServer::create(
            channel,
            buffer_size,
            options,
        )?))
    },
    channel_objects,
    max_message,
};

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
fn owned(queue: MqdT) -> OwnedFd {
    // SAFETY: on Linux an mqd_t is a file descriptor, and this one is ours alone: it was just
    // returned by mq_open and is handed over whole.
    unsafe { OwnedFd::from_raw_fd(queue.into_raw_fd()) }
}

/// One open queue. The creator unlinks the name when dropped; the descriptor closes either way.
struct MessageQueue {
    name: String,
    fd: OwnedFd,
    /// `mq_msgsize`: the longest message, and the least a receive buffer may hold.
    message_size: usize,
    owner: bool,
}

impl MessageQueue {
    /// Creates the queue exclusively (0600), for messages of up to `message_size` bytes.
    fn create(name: &str, message_size: usize, access: MQ_OFlag) -> Result<Self, TransportError> {
        let size = mq_attr_member_t::try_from(message_size).unwrap_or(mq_attr_member_t::MAX);
        let attributes = MqAttr::new(0, MAX_MESSAGES, size, 0);
        let flags = access | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL;
        let mode = Mode::S_IRUSR | Mode::S_IWUSR;
        let sizes = format!("mq_msgsize {message_size}, mq_maxmsg {MAX_MESSAGES}");
        let queue = mq_open(name, flags, mode, Some(&attributes)).map_err(|e| {
            TransportError::os(format!("creating message queue {name} ({sizes})"), e)
        })?;
        let fd = owned(queue);
        // Proof of life for cleaners, where the kernel allows it; without it they fall back on
        // the pid in the name, as for semaphores that cannot be locked.
        let _ = owner_lock::hold(&fd);
        Ok(MessageQueue {
            name: name.to_string(),
            fd,
            message_size,
            owner: true,
        })
    }

    /// Opens an existing queue and learns its message size.
    fn open(name: &str, access: MQ_OFlag) -> Result<Self, TransportError> {
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
            owner: false,
        })
    }

    /// Sends `message`, waiting for room in slices, at most `timeout` in all.
    fn send(
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
    fn receive(
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

    /// One `mq_timedsend` of at most `slice`: false if the slice ran out or a signal came first.
    fn send_within(&self, message: &[u8], slice: Duration) -> Result<bool, TransportError> {
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
    fn receive_within(
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
    fn completed(&self, rc: isize, op: &str) -> Result<Option<usize>, TransportError> {
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

impl Drop for MessageQueue {
    fn drop(&mut self) {
        if self.owner {
            unlink_queue(&self.name);
        }
    }
}

/// The requesting side: opens the server's queues, never unlinks them.
pub struct MqueueClient {
    request: MessageQueue,
    response: MessageQueue,
    /// For callers whose receive buffer is shorter than the queue's message size, which
    /// mq_receive refuses: the reply lands here and is copied if it fits. The driver's buffers
    /// are never that short, so its replies land in its own buffer.
    whole_message: Vec<u8>,
    timeout: Duration,
    watch: Arc<dyn PeerWatch>,
}

impl MqueueClient {
    /// Opens `channel`'s queues, waiting up to `options.timeout` for the server to create them.
    pub fn connect(
        channel: &str,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<MqueueClient, TransportError> {
        let channel = ChannelName::new(channel)?;
        let mut budget = WaitBudget::new(options.timeout, watch.as_ref());
        let mut open = |direction, access| {
            let name = queue_name(&channel, direction);
            retry_until_created(
                &mut budget,
                || MessageQueue::open(&name, access),
                shm_object_missing,
            )
        };
        let request = open("req", MQ_OFlag::O_WRONLY)?;
        let response = open("resp", MQ_OFlag::O_RDONLY)?;
        let whole_message = zeroed_buffer("reply buffer", response.message_size)?;
        Ok(MqueueClient {
            request,
            response,
            whole_message,
            timeout: options.timeout,
            watch,
        })
    }
}

impl TransportClient for MqueueClient {
    fn round_trip(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let watch = self.watch.as_ref();
        check_message_fits(request.len(), self.request.message_size)?;
        self.request.send(request, self.timeout, watch)?;
        if response.len() >= self.response.message_size {
            return self.response.receive(response, self.timeout, watch);
        }
        let len = (self.response).receive(&mut self.whole_message, self.timeout, watch)?;
        check_reply_fits(len, response.len())?;
        response[..len].copy_from_slice(&self.whole_message[..len]);
        Ok(len)
    }
}

/// The echoing side: creates both queues, and unlinks them when dropped.
pub struct MqueueServer {
    request: MessageQueue,
    response: MessageQueue,
    /// The request being echoed: received here, sent back from here.
    message: Vec<u8>,
    timeout: Duration,
}

impl MqueueServer {
    pub fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<MqueueServer, TransportError> {
        let channel = ChannelName::new(channel)?;
        let message_size = queue_message_size(buffer_size)?;
        let message = zeroed_buffer("request buffer", message_size)?;
        // Declaration order is drop order: if the second queue fails, the first is unlinked.
        let request = MessageQueue::create(
            &queue_name(&channel, "req"),
            message_size,
            MQ_OFlag::O_RDONLY,
        )?;
        let response = MessageQueue::create(
            &queue_name(&channel, "resp"),
            message_size,
            MQ_OFlag::O_WRONLY,
        )?;
        Ok(MqueueServer {
            request,
            response,
            message,
            timeout: options.timeout,
        })
    }

    /// The length of the reply to a `len`-byte request, after `tamper` (which may change it).
    fn tampered_reply_len(&mut self, len: usize, tamper: Tamper) -> usize {
        match tamper {
            Tamper::FlipByte(offset) if offset < len => {
                self.message[offset] ^= 0xff;
                len
            }
            // A queue carries nothing longer than its message size: the wrong length is one
            // byte more where that fits, else one byte less.
            Tamper::BadLength if len < self.message.len() => {
                self.message[len] = 0;
                len + 1
            }
            Tamper::BadLength => len.saturating_sub(1),
            Tamper::None | Tamper::FlipByte(_) | Tamper::Swallow => len,
        }
    }
}

impl TransportServer for MqueueServer {
    fn echo_one(
        &mut self,
        stop: &AtomicBool,
        tamper: Tamper,
    ) -> Result<EchoOutcome, TransportError> {
        let mut len = 0;
        let (request, message) = (&self.request, &mut self.message);
        let received = idle_until_request(stop, || {
            let got = request.receive_within(message, IDLE_SLICE)?;
            len = got.unwrap_or(0);
            Ok(got.is_some())
        })?;
        if !received {
            return Ok(EchoOutcome::Stopped);
        }
        if tamper == Tamper::Swallow {
            return Ok(EchoOutcome::Echoed);
        }
        let reply_len = self.tampered_reply_len(len, tamper);
        // The client waits for its reply before sending again, so the response queue has room;
        // the timeout only matters for a client that died with a reply still queued.
        match (self.response).send(&self.message[..reply_len], self.timeout, &StopFlag(stop)) {
            Err(TransportError::Interrupted) => Ok(EchoOutcome::Stopped),
            sent => sent.map(|()| EchoOutcome::Echoed),
        }
    }
}
