//! What libzmq tells a socket's monitor about its connections: the only place where it says
//! that a client connected but never finished ZeroMQ's handshake (the peer speaks another
//! protocol), or that a server could not accept a connection (`EMFILE`). libzmq handles both
//! on its I/O thread and tells the application nothing else: the client's receive just times
//! out. The events are read when something went wrong, or while a server is idle, never in a
//! timed loop.

use crate::transport::blocks::zmq_send::retry_interrupted;
use crate::transport::error::TransportError;

/// The events a monitor is asked for.
const WATCHED: [zmq::SocketEvent; 6] = [
    zmq::SocketEvent::CONNECTED,
    zmq::SocketEvent::ACCEPT_FAILED,
    zmq::SocketEvent::DISCONNECTED,
    zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
];

/// What the monitor reported so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionEvents {
    pub connected: u64,
    pub handshakes: u64,
    pub handshake_failures: u64,
    pub disconnects: u64,
    pub accept_failures: u64,
    /// The errno of the last failed accept.
    pub accept_errno: i32,
}

impl ConnectionEvents {
    /// The handshake failed, or the peer hung up before it completed: it does not speak ZMTP.
    /// (A peer that stays silent may be a frozen ZeroMQ server, or one that could not accept.)
    pub fn peer_broke_off(&self) -> bool {
        self.handshake_failures > 0 || (self.handshakes == 0 && self.disconnects > 0)
    }

    fn add(&mut self, event: u16, value: u32) {
        use zmq::SocketEvent as E;
        match zmq::SocketEvent::from_raw(event) {
            E::CONNECTED => self.connected += 1,
            E::HANDSHAKE_SUCCEEDED => self.handshakes += 1,
            E::HANDSHAKE_FAILED_PROTOCOL | E::HANDSHAKE_FAILED_NO_DETAIL => {
                self.handshake_failures += 1
            }
            E::DISCONNECTED => self.disconnects += 1,
            E::ACCEPT_FAILED => {
                self.accept_failures += 1;
                self.accept_errno = value as i32;
            }
            _ => {}
        }
    }
}

/// A PAIR socket that receives `socket`'s events over `inproc://`, in the same context.
pub struct Monitor {
    socket: zmq::Socket,
}

impl Monitor {
    /// Monitors `socket` through `endpoint` (an `inproc://` name unique in `context`).
    pub fn attach(
        context: &zmq::Context,
        socket: &zmq::Socket,
        endpoint: &str,
    ) -> Result<Monitor, TransportError> {
        let events = WATCHED.iter().fold(0, |all, &e| all | e as i32);
        let zmq_error = |op: &'static str| move |e| TransportError::zmq(op, e);
        // A signal (the watchdog's, anyone's SIGURG) can fail these at libzmq's mailbox before
        // they did anything: each is made again (a monitor asked for twice replaces the first).
        retry_interrupted(|| socket.monitor(endpoint, events))
            .map_err(zmq_error("monitoring the socket"))?;
        let monitor = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the monitor socket"))?;
        retry_interrupted(|| monitor.connect(endpoint))
            .map_err(zmq_error("connecting the monitor socket"))?;
        Ok(Monitor { socket: monitor })
    }

    /// Adds every event reported since the last look to `seen`, without waiting.
    pub fn read_into(&self, seen: &mut ConnectionEvents) {
        while let Ok(event) = self.socket.recv_multipart(zmq::DONTWAIT) {
            // The first frame: the event (u16) and its value (u32), little-endian.
            if let Some(frame) = event.first().filter(|frame| frame.len() >= 6) {
                let kind = u16::from_le_bytes([frame[0], frame[1]]);
                let value = u32::from_le_bytes([frame[2], frame[3], frame[4], frame[5]]);
                seen.add(kind, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hang_up_before_the_handshake_is_a_peer_of_another_protocol() {
        let mut seen = ConnectionEvents::default();
        seen.add(zmq::SocketEvent::CONNECTED as u16, 7);
        assert!(!seen.peer_broke_off(), "silent is not broken off");
        seen.add(zmq::SocketEvent::DISCONNECTED as u16, 7);
        assert!(seen.peer_broke_off());
        seen.add(zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16, 0);
        assert!(!seen.peer_broke_off());
    }

    #[test]
    fn a_failed_accept_keeps_its_errno() {
        let mut seen = ConnectionEvents::default();
        seen.add(zmq::SocketEvent::ACCEPT_FAILED as u16, libc::EMFILE as u32);
        assert_eq!((seen.accept_failures, seen.accept_errno), (1, libc::EMFILE));
    }
}
