//! A ZeroMQ message sent whole though a signal interrupts its send.
//!
//! libzmq's `zmq_msg_send` looks at its command mailbox before it takes the message, and a
//! signal that lands meanwhile makes it fail with `EINTR`, the message untouched and still the
//! caller's. The zmq crate's `Socket::send` then drops that message, so a server that retried
//! would have nothing left to send: it failed instead ("sending the reply: Interrupted system
//! call"), ending the server. The signal may be the wait watchdog's late `SIGURG` (see
//! [`watchdog`](crate::transport::os::watchdog)) or anyone's `kill -URG`; `SIGURG`'s handler is
//! installed without `SA_RESTART`, so every blocking call of the process can see it.
//!
//! So the message is handed to libzmq as a loan of its own bytes (`zmq_msg_init_data`), whose
//! release drops the crate's message: on `EINTR` the loan is still ours and is sent again; once
//! sent, libzmq lets go of it when its I/O thread is done. No copy of the payload is made; the
//! loan costs two small allocations (the box and libzmq's reference count).

use std::ffi::c_void;

/// Sends `message` on `socket` with `flags`, again for as long as a signal interrupts the send.
pub fn send_whole(
    socket: &mut zmq::Socket,
    message: zmq::Message,
    flags: i32,
) -> Result<(), zmq::Error> {
    if message.is_empty() {
        // No bytes to lend: an empty message is made again for each try.
        return retry_interrupted(|| socket.send(zmq::Message::new(), flags));
    }
    // Boxed before its bytes are looked up: a small message keeps them inside itself (libzmq's
    // "very small message"), so they move with it, and the box does not move.
    let mut boxed = Box::new(message);
    let data = boxed.as_mut_ptr() as *mut c_void;
    let len = boxed.len();
    let owner = Box::into_raw(boxed) as *mut c_void;
    let mut loan = zmq_sys::zmq_msg_t::default();
    // SAFETY: `data` points at `len` bytes owned by the boxed message behind `owner`, which
    // stays alive and unmoved until libzmq calls `drop_owner`, exactly once, when it lets go
    // of the loan.
    let made = unsafe {
        let release = Some(drop_owner as unsafe extern "C" fn(*mut c_void, *mut c_void));
        zmq_sys::zmq_msg_init_data(&mut loan, data, len, release, owner)
    };
    if made != 0 {
        // SAFETY: libzmq refused the loan, so the box was not handed over and is still ours.
        drop(unsafe { Box::from_raw(owner as *mut zmq::Message) });
        return Err(last_error());
    }
    let raw_socket = socket.as_mut_ptr();
    loop {
        // SAFETY: `loan` is an initialised message, `raw_socket` an open socket of the caller.
        if unsafe { zmq_sys::zmq_msg_send(&mut loan, raw_socket, flags) } >= 0 {
            return Ok(());
        }
        let error = last_error();
        if error != zmq::Error::EINTR {
            // SAFETY: not sent, so still ours to close, which calls `drop_owner`.
            unsafe { zmq_sys::zmq_msg_close(&mut loan) };
            return Err(error);
        }
    }
}

/// Runs `send` again for as long as it fails with `EINTR` (which a send of bytes given by
/// value or reference survives: the crate makes the message anew each time).
pub fn retry_interrupted(
    mut send: impl FnMut() -> Result<(), zmq::Error>,
) -> Result<(), zmq::Error> {
    loop {
        match send() {
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    }
}

fn last_error() -> zmq::Error {
    // SAFETY: zmq_errno reads this thread's errno; no preconditions.
    zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() })
}

/// libzmq's release of a loan: drops the message whose bytes were lent.
unsafe extern "C" fn drop_owner(_data: *mut c_void, owner: *mut c_void) {
    // SAFETY: `owner` is the box `send_whole` leaked for this loan, released once.
    drop(unsafe { Box::from_raw(owner as *mut zmq::Message) });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages of every kind libzmq makes (empty, small ones kept inside the message, large
    /// ones on the heap) arrive whole through a loan.
    #[test]
    fn a_lent_message_arrives_whole() {
        let context = zmq::Context::new();
        let mut sender = context.socket(zmq::PAIR).unwrap();
        let receiver = context.socket(zmq::PAIR).unwrap();
        receiver.bind("inproc://zmq-send-test").unwrap();
        sender.connect("inproc://zmq-send-test").unwrap();
        for len in [0usize, 1, 30, 100, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            send_whole(&mut sender, zmq::Message::from(&payload[..]), 0).unwrap();
            assert_eq!(receiver.recv_bytes(0).unwrap(), payload, "{len} bytes");
        }
    }
}
