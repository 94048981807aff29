//! The IPC transports under test, in layers that import downward only (as iceoryx2's
//! `bb/posix` → `cal` → service layers do):
//!
//! 1. [`names`], [`wire`], [`pattern`], [`workload`], [`stream`], [`error`], [`wait`], [`footprint`]: the vocabulary every layer shares: what
//!    endpoints and objects are called, the length header, the one error type, how a wait
//!    is bounded, and what a pair of processes takes of the machine's memory.
//! 2. [`os`]: thin owners of OS objects (shared memory, semaphores, message queues, futexes,
//!    pipes, the SIGBUS guard, the owner lock) and a socket's calls that never wait. No
//!    transport is named there.
//! 3. [`endpoint`], [`spec`]: where a server listens, the client and server traits, and the
//!    [`TransportSpec`] each transport declares.
//! 4. [`blocks`]: what several transports are built from: message checks, stream framing, the
//!    sequence signal and the spinning transports' segment skeleton, the building of a
//!    channel transport's two sides, socket files, ZeroMQ REQ/REP.
//! 5. [`kinds`]: the transports, one file each (reached as `transport::kinds::<name>`, or by
//!    name through the registry), and [`registry`], which lists them.
//!
//! A transport has a client side that performs one round trip into a caller's buffer
//! ([`TransportClient`]) and a server side that hands out requests and answers them
//! ([`TransportServer`]; [`echo_one`] is the one echo of a request, faults included). A
//! zero-copy client also lends the caller its shared memory to build the request in and returns
//! the echo where it lies ([`TransportClient::loan`], [`SharedBytes`]). Adding a transport means
//! adding its file to `kinds/`, its `mod` line there, and one line in the registry.
//!
//! This file only declares the layers and names what the rest of the crate uses.

pub mod blocks;
pub mod endpoint;
pub mod error;
pub mod footprint;
pub mod kinds;
pub mod names;
pub mod os;
pub mod pattern;
pub mod registry;
pub mod request_room;
pub mod spec;
pub mod stream;
pub mod wait;
pub mod wire;
pub mod workload;

pub use endpoint::Endpoint;
pub use error::TransportError;
pub use names::{
    validate_channel, ChannelName, ChannelNameError, PipeFds, PosixObject, PRIVATE_DIR_PREFIX,
    SOCKET_FILE_NAME,
};
pub use os::shm::SharedBytes;
pub use registry::{channel_objects, unlink_channel_objects};
pub use spec::{
    buffers_only, echo_one, Addressing, BindFn, CaseShape, ChannelRun, ConnectFn, EchoOutcome,
    Footprint, MessageLimit, OwnObjects, Pattern, Reply, Tamper, TransportClient, TransportKind,
    TransportOptions, TransportServer, TransportSpec,
};
pub use wait::{NoWatch, PeerWatch, StopFlag, WaitBudget, WAIT_SLICE};
pub use wire::{payload_capacity, HEADER_LEN};
pub use workload::{Reason, Workload};
