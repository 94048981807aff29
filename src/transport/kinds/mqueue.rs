//! POSIX mqueue: two kernel message queues per channel, `/<channel>_req` and `/<channel>_resp`
//! (the driver's channels are `tb_<pid>_p<namespace>_<n>`, so `/tb_<pid>_p<namespace>_<n>_req`).
//!
//! The kernel keeps the message boundaries, so there is no length header: a message is exactly
//! the payload, copied into the kernel by `mq_timedsend` and out by `mq_timedreceive`, and each
//! direction wakes its reader once. A queue of round trips holds one message (`mq_maxmsg` 1: a
//! request waits for its reply), of at most `mq_msgsize` bytes: the buffer's payload capacity, capped by
//! `/proc/sys/fs/mqueue/msgsize_max` (8,192 by default), which an unprivileged process cannot
//! exceed. Larger messages are skipped, not failed (the spec's `max_message`).
//!
//! Requests in flight (`--in-flight N`) wait as whole messages in the request queue, their
//! replies in the response queue, in order: [`submit`](TransportClient::submit) is a timed send
//! on the one, [`collect`](TransportClient::collect) a timed receive on the other. The server
//! (started with the same `--in-flight`) makes both queues N deep, so that neither side ever
//! waits on a full queue: with less, a server blocked on a full response queue and a client
//! blocked on a full request queue would wait for each other. A queue can be no deeper than
//! `/proc/sys/fs/mqueue/msg_max` (10 by default), read at run time, so a larger N is skipped
//! (the spec's `supports`), and a client refuses a server whose queues are too shallow.
//!
//! A one-way stream (`--pattern stream`) sends its messages on the request queue alone, which
//! then holds up to [`stream_depth`] messages (`msg_max`, at most 10): the client sends on
//! until the queue is full and waits only then, and the server takes each message from the
//! queue into its buffer and answers nothing; the end's acknowledgement goes back on the
//! response queue, as every reply does.
//!
//! Every wait is an `mq_timed*` call of one slice (absolute `CLOCK_REALTIME` deadlines, as
//! `sem_timedwait`'s); a client asks its [`PeerWatch`] between slices and gives up after
//! `--timeout`, an idle server looks at its stop flag between slices of [`IDLE_SLICE`].
//!
//! The server creates both queues (`O_EXCL`, 0600) and unlinks them when dropped, by name: no
//! file system is involved, so none needs to be mounted. On Linux a queue descriptor is a file
//! descriptor, and the creator holds an owner lock ([`owner_lock`](crate::transport::os::owner_lock)) on it, which cleaners see
//! through `/dev/mqueue` where that is mounted.

use nix::mqueue::{mq_attr_member_t, MQ_OFlag};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::blocks::payload::{
    check_message_fits, check_reply_fits, checked_payload_capacity, shm_object_missing,
    zeroed_buffer,
};
use crate::transport::error::{HeldRequest, TransportError};
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::os::mqueue::{
    charged_bytes, msg_max, msgsize_max, stream_depth, MessageQueue, MAX_MESSAGES,
};
use crate::transport::spec::{
    buffers_only, Addressing, CaseShape, EchoOutcome, Footprint, MessageLimit, Pattern, Reply,
    TransportClient, TransportKind, TransportOptions, TransportServer, TransportSpec,
};
use crate::transport::wait::{
    idle_until_request, ready_before, retry_until_created, PeerWatch, StopFlag, WaitBudget,
    IDLE_SLICE,
};
use crate::transport::wire::payload_capacity;
use crate::transport::workload::{Reason, Workload};

/// The name of one of the channel's queues, `/<channel>_<direction>`.
fn queue_name(channel: &ChannelName, direction: &str) -> String {
    format!("/{channel}_{direction}")
}

fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    ["req", "resp"]
        .map(|direction| PosixObject::MessageQueue(queue_name(channel, direction)))
        .to_vec()
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

/// Whether the queues can carry `workload`: requests in flight no more than `msg_max` allows.
fn supports(workload: Workload) -> Result<(), Reason> {
    let most = msg_max();
    if workload.in_flight() > most {
        return Err(Reason::QueueTooShallow {
            setting: "msg_max",
            most,
        });
    }
    Ok(())
}

/// How deep the server makes its request and response queues for `options`. Round trips: one
/// message each, or each request in flight (see the module's doc). A stream's messages wait in
/// the request queue; its one reply, the end's, needs one.
fn queue_depths(options: &TransportOptions) -> (mq_attr_member_t, mq_attr_member_t) {
    let in_flight = mq_attr_member_t::try_from(options.in_flight)
        .unwrap_or(mq_attr_member_t::MAX)
        .max(MAX_MESSAGES);
    match options.pattern {
        Pattern::RoundTrip => (in_flight, in_flight),
        Pattern::Stream | Pattern::OneWay => (stream_depth(), MAX_MESSAGES),
    }
}

/// What a pair takes for `case`: both sides' buffers, and its two queues, which the kernel
/// charges to the user's `RLIMIT_MSGQUEUE` (what ends many pairs' servers, not memory).
fn footprint(case: &CaseShape) -> Footprint {
    let message_size = queue_message_size(case.buffer_size).unwrap_or(0);
    let (request_depth, response_depth) = queue_depths(&case.options);
    let charged = |depth: mq_attr_member_t| {
        charged_bytes(message_size, usize::try_from(depth).unwrap_or(usize::MAX))
    };
    Footprint {
        message_queue_bytes: charged(request_depth).saturating_add(charged(response_depth)),
        ..buffers_only(case)
    }
}

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "mqueue",
    display_name: "POSIX mqueue",
    addressing: Addressing::Channel,
    connect: |endpoint, options, watch| {
        let (channel, _) = endpoint.channel(KIND.name())?;
        Ok(Box::new(MqueueClient::connect(channel, options, watch)?))
    },
    bind: |endpoint, options| {
        let (channel, buffer_size) = endpoint.channel(KIND.name())?;
        Ok(Box::new(MqueueServer::create(
            channel,
            buffer_size,
            options,
        )?))
    },
    channel_objects,
    max_message,
    summary: "two POSIX message queues (sizes up to msgsize_max)",
    supports,
    footprint,
    ..TransportSpec::DEFAULTS
};

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
    /// Requests submitted whose replies were not collected yet.
    in_flight: usize,
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
        check_depth(&request, &response, options.in_flight)?;
        let whole_message = zeroed_buffer("reply buffer", response.message_size)?;
        Ok(MqueueClient {
            request,
            response,
            whole_message,
            timeout: options.timeout,
            watch,
            in_flight: 0,
        })
    }
}

/// Refuses queues shallower than the requests a client keeps in flight (a server started
/// without the same `--in-flight`): their sides could wait for each other until the timeout.
fn check_depth(
    request: &MessageQueue,
    response: &MessageQueue,
    in_flight: usize,
) -> Result<(), TransportError> {
    let depth = request.depth.min(response.depth);
    if in_flight > 1 && depth < in_flight {
        return Err(TransportError::Protocol(format!(
            "the server's message queues hold {depth} message(s), fewer than the {in_flight} \
             requests in flight: start it with --in-flight {in_flight}"
        )));
    }
    Ok(())
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

    /// One `mq_timedsend` on the request queue, in slices while the queue is full (the
    /// stream's flow control), at most the timeout in all.
    fn send(&mut self, message: &[u8]) -> Result<(), TransportError> {
        check_message_fits(message.len(), self.request.message_size)?;
        (self.request).send(message, self.timeout, self.watch.as_ref())
    }

    /// One `mq_timedsend` on the request queue, which has room for every request in flight.
    fn submit(&mut self, request: &[u8]) -> Result<(), TransportError> {
        check_message_fits(request.len(), self.request.message_size)?;
        (self.request).send(request, self.timeout, self.watch.as_ref())?;
        self.in_flight += 1;
        Ok(())
    }

    /// One `mq_timedreceive` on the response queue: the oldest reply, in `scratch` when it
    /// holds a whole message of the queue, else in the client's own buffer.
    fn collect<'a>(&'a mut self, scratch: &'a mut [u8]) -> Result<&'a [u8], TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let watch = self.watch.as_ref();
        if scratch.len() >= self.response.message_size {
            let len = self.response.receive(scratch, self.timeout, watch)?;
            self.in_flight -= 1;
            return Ok(&scratch[..len]);
        }
        let len = (self.response).receive(&mut self.whole_message, self.timeout, watch)?;
        self.in_flight -= 1;
        check_reply_fits(len, scratch.len())?;
        Ok(&self.whole_message[..len])
    }

    /// A reply is there once the response queue holds a message: replies come in order.
    fn await_reply_until(&mut self, until: Instant) -> Result<bool, TransportError> {
        if self.in_flight == 0 {
            return Err(TransportError::NoRequest);
        }
        let response = &self.response;
        ready_before(until, self.watch.as_ref(), |slice| {
            response.has_message_within(slice)
        })
    }
}

/// The echoing side: creates both queues, and unlinks them when dropped.
pub struct MqueueServer {
    request: MessageQueue,
    response: MessageQueue,
    /// The request being echoed: received here, sent back from here.
    message: Vec<u8>,
    /// The length of the request in `message` handed out and not answered yet.
    pending: Option<usize>,
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
        let (request_depth, response_depth) = queue_depths(&options);
        // Declaration order is drop order: if the second queue fails, the first is unlinked.
        let request = MessageQueue::create(
            &queue_name(&channel, "req"),
            message_size,
            request_depth,
            MQ_OFlag::O_RDONLY,
        )?;
        let response = MessageQueue::create(
            &queue_name(&channel, "resp"),
            message_size,
            response_depth,
            MQ_OFlag::O_WRONLY,
        )?;
        Ok(MqueueServer {
            request,
            response,
            message,
            pending: None,
            timeout: options.timeout,
        })
    }

    /// The length of the reply to the `len`-byte request in `message`, answered as `reply`
    /// says (which may change the message, or the length).
    fn reply_len(&mut self, len: usize, reply: Reply) -> usize {
        match reply {
            Reply::FlipByte(offset) if offset < len => {
                self.message[offset] ^= 0xff;
                len
            }
            // A queue carries nothing longer than its message size: the wrong length is one
            // byte more where that fits, else one byte less.
            Reply::Misframed if len < self.message.len() => {
                self.message[len] = 0;
                len + 1
            }
            Reply::Misframed => len.saturating_sub(1),
            Reply::Echo | Reply::FlipByte(_) => len,
        }
    }
}

impl TransportServer for MqueueServer {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        self.pending = None;
        let mut len = 0;
        let (request, message) = (&self.request, &mut self.message);
        let received = idle_until_request(stop, || {
            let got = request.receive_within(message, IDLE_SLICE)?;
            len = got.unwrap_or(0);
            Ok(got.is_some())
        })?;
        if !received {
            return Ok(None);
        }
        self.pending = Some(len);
        Ok(Some(len))
    }

    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let len = self.pending.take().or_no_request()?;
        let reply_len = self.reply_len(len, reply);
        // The client has no more requests out than the response queue holds (one, or as many as
        // it keeps in flight), so it has room; the timeout only matters for a client that died
        // with replies still queued.
        match (self.response).send(&self.message[..reply_len], self.timeout, &StopFlag(stop)) {
            Err(TransportError::Interrupted) => Ok(EchoOutcome::Stopped),
            sent => sent.map(|()| EchoOutcome::Echoed),
        }
    }

    /// The message as it came off the queue, in the server's own buffer.
    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        let len = self.pending.or_no_request()?;
        look(self.message.get(..len).or_no_request()?);
        Ok(())
    }

    /// The queue already gave the message up: nothing is answered, and the next
    /// `next_request` takes the next one.
    fn consume(&mut self) -> Result<(), TransportError> {
        self.pending.take().map(drop).or_no_request()
    }
}
