//! The server: tonic's HTTP/2 server serving the [`EchoService`] on tokio's multi-thread runtime,
//! and the synchronous loop's side of it, a [`TransportServer`] that takes the requests the
//! service hands over ([`Handed`]) one at a time and answers them.
//!
//! The loop waits for a request in slices of [`IDLE_SLICE`] and looks at its stop flag between
//! them; once it is set, it tells tonic to shut down (`serve_with_incoming_shutdown`'s signal),
//! which closes the listening socket and ends the connections, waited for at most
//! [`SHUTDOWN_GRACE`] before the runtime is dropped with whatever is left.

use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use super::service::{
    encoded_limit, window_bytes, Answer, EchoService, Handed, Limits, Payload, CONNECTION_WINDOW,
};
use crate::transport::blocks::framing::{bounded, TokioRuntime};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::error::TransportError;
use crate::transport::spec::{EchoOutcome, Reply, TransportServer};
use crate::transport::wait::{StopFlag, IDLE_SLICE};
use crate::transport::wire::payload_capacity;

/// How long a stopping server waits for tonic to end its connections (a client still connected
/// is sent HTTP/2's `GOAWAY`) before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// Requests the service may hand over ahead of the loop: one, so that a stream's messages
/// wait in HTTP/2's flow control, not in a queue of the server's.
const QUEUE_DEPTH: usize = 1;

type Serving = JoinHandle<Result<(), tonic::transport::Error>>;

/// The server's loop side; tonic serves on `runtime` meanwhile.
pub struct GrpcServer {
    /// The request handed out by `next_request`, until it is answered or consumed.
    pending: Option<Handed>,
    queue: mpsc::Receiver<Handed>,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<Serving>,
    capacity: usize,
    timeout: Duration,
    // After everything that runs on it.
    runtime: Runtime,
    // Last: the listening socket closes with the runtime, before its file is removed.
    _file: SocketFile,
}

impl GrpcServer {
    /// Serves on `listener`, bound to `file`, with a `buffer_size`-byte buffer's payload
    /// capacity as the largest message; a reply waits at most `timeout`.
    pub fn serve(
        listener: UnixListener,
        file: SocketFile,
        buffer_size: usize,
        timeout: Duration,
    ) -> Result<GrpcServer, TransportError> {
        let capacity = payload_capacity(buffer_size);
        let runtime = TokioRuntime::MultiThread.start()?;
        let (handing, queue) = mpsc::channel(QUEUE_DEPTH);
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let service = EchoService {
            queue: handing,
            // The encoding limit takes one byte more than a request may have: a misframed
            // reply (an injected fault) goes out, and the client refuses it.
            limits: Limits {
                decoding: encoded_limit(capacity),
                encoding: encoded_limit(capacity + 1),
            },
        };
        let window = window_bytes(encoded_limit(capacity + 1));
        let serving = {
            let _entered = runtime.enter();
            listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixListener::from_std(listener))
                .map(|listener| {
                    let incoming = UnixListenerStream::new(listener);
                    let server = Server::builder()
                        .initial_stream_window_size(window)
                        .initial_connection_window_size(CONNECTION_WINDOW)
                        .serve_with_incoming_shutdown(service, incoming, async {
                            let _ = shutdown_signal.await;
                        });
                    runtime.spawn(server)
                })
                .map_err(|e| TransportError::io("handing the listening socket to tokio", e))?
        };
        Ok(GrpcServer {
            pending: None,
            queue,
            shutdown: Some(shutdown),
            serving: Some(serving),
            capacity,
            timeout,
            runtime,
            _file: file,
        })
    }

    /// The next request the service hands over, waiting in slices of [`IDLE_SLICE`]: None
    /// once `stop` is set first. tonic's server ending on its own (it cannot accept) is an
    /// error, with tonic's.
    ///
    /// `stop` is looked at before each request too, not only when a slice runs out: a client
    /// that keeps sending never lets a slice run out, and SIGTERM would be held up until it
    /// paused (as other transports' servers look at it before each request).
    fn next_handed(&mut self, stop: &AtomicBool) -> Result<Option<Handed>, TransportError> {
        let (queue, serving) = (&mut self.queue, &self.serving);
        let waited = self.runtime.block_on(async {
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Some(None);
                }
                match tokio::time::timeout(IDLE_SLICE, queue.recv()).await {
                    Ok(Some(handed)) => return Some(Some(handed)),
                    // Only tonic's server holds the service that sends: it ended.
                    Ok(None) => return None,
                    Err(_) if serving.as_ref().is_some_and(JoinHandle::is_finished) => return None,
                    Err(_) => continue,
                }
            }
        });
        waited.map_or_else(|| Err(self.why_serving_ended()), Ok)
    }

    /// Why tonic's server task ended, from its outcome.
    fn why_serving_ended(&mut self) -> TransportError {
        let Some(serving) = self.serving.take() else {
            return TransportError::Protocol("tonic's server was shut down".into());
        };
        match self.runtime.block_on(serving) {
            Ok(Err(e)) => TransportError::library("tonic", "serving gRPC", e),
            Err(e) => TransportError::library("tokio", "tonic's server task", e),
            Ok(Ok(())) => TransportError::Protocol("tonic's server ended unasked".into()),
        }
    }

    /// The reply's payload as `reply` says: the request's own bytes (no copy), or a copy with
    /// a byte flipped, or one byte more than a request may have.
    fn reply_payload(&self, request: &Bytes, reply: Reply) -> Bytes {
        match reply {
            Reply::Echo => request.clone(),
            Reply::FlipByte(offset) => {
                let mut flipped = request.to_vec();
                if let Some(byte) = flipped.get_mut(offset) {
                    *byte ^= 0xff;
                }
                Bytes::from(flipped)
            }
            Reply::Misframed => Bytes::from(vec![0; self.capacity + 1]),
        }
    }

    /// Stops tonic: its listening socket closes, its connections are told to go and waited
    /// for, within [`SHUTDOWN_GRACE`].
    fn shut_down(&mut self) {
        self.pending = None;
        self.queue.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(serving) = self.serving.take() {
            // The timer is made inside the runtime: `timeout` needs its context when it is called.
            let ended = async { tokio::time::timeout(SHUTDOWN_GRACE, serving).await };
            let _ = self.runtime.block_on(ended);
        }
    }
}

impl TransportServer for GrpcServer {
    fn next_request(&mut self, stop: &AtomicBool) -> Result<Option<usize>, TransportError> {
        // A request not replied to is dropped unanswered: its caller learns it from tonic.
        self.pending = None;
        let handed = self.next_handed(stop)?;
        let len = handed.as_ref().map(|handed| handed.payload.len());
        self.pending = handed;
        Ok(len)
    }

    fn reply(&mut self, stop: &AtomicBool, reply: Reply) -> Result<EchoOutcome, TransportError> {
        let handed = self.pending.take().ok_or(TransportError::NoRequest)?;
        let data = self.reply_payload(&handed.payload, reply);
        let delivered = match handed.answer {
            // The caller's task sends it; a caller gone (its client left) takes nothing.
            Answer::Unary(answer) => answer.send(data).is_ok(),
            Answer::Stream(answers) => {
                let watch = StopFlag(stop);
                let phase = std::cell::Cell::new("room for the acknowledgement");
                let send = async { Ok(answers.send(Ok(Payload { data })).await.is_ok()) };
                let sent = (self.runtime).block_on(bounded(send, self.timeout, &watch, &phase));
                match sent {
                    Ok(delivered) => delivered,
                    Err(_) if stop.load(Ordering::Relaxed) => return Ok(EchoOutcome::Stopped),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(if delivered {
            EchoOutcome::Echoed
        } else {
            EchoOutcome::PeerLeft
        })
    }

    fn inspect(&mut self, look: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        let handed = self.pending.as_ref().ok_or(TransportError::NoRequest)?;
        look(&handed.payload);
        Ok(())
    }

    fn consume(&mut self) -> Result<(), TransportError> {
        self.pending
            .take()
            .map(drop)
            .ok_or(TransportError::NoRequest)
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
