//! What several transports are built from, so that they agree on it: buffers at a page offset,
//! the checks on a message's length, the framing of byte streams and their one-connection server loop, the sequence signal
//! of the spinning transports, the skeleton of their segment and a stream's ring of slots in it,
//! socket files, sockets bounded by the wait watchdog, and ZeroMQ's sockets (REQ/REP, and a stream's DEALER/ROUTER) and their sends that a signal
//! does not end.

pub mod aligned;
pub mod channel;
pub mod framing;
pub mod grpc;
pub mod payload;
pub mod ring;
pub mod segment;
pub mod sequence;
pub mod slots;
pub mod socket_file;
pub mod watched_socket;
pub mod zmq_events;
pub mod zmq_reqrep;
pub mod zmq_send;
