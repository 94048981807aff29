//! Interprocess: the `interprocess` crate's `local_socket` streams (on Linux a `SOCK_STREAM`
//! Unix domain socket at a file path), each message framed as in Unix stream by
//! [`framing`](crate::transport::blocks::framing).
//!
//! The crate is what many Rust programs use for portable local IPC; Unix stream is the same
//! socket with the standard library alone. Both sides go through the crate's public API: its
//! `ListenerOptions` makes the listener at the name, `Stream::connect` connects, its
//! `set_recv_timeout`/`set_send_timeout` cut every wait into slices, and every read and write
//! goes through its `Read`/`Write` implementations (an enum dispatch to the `UnixStream`
//! inside). The framing, the one-connection server and the waits are Unix stream's, so that
//! the two rows differ only by what the crate adds. Only the requests in flight reach past the
//! crate: their never-waiting reads and writes (`MSG_DONTWAIT`) use the descriptor the crate's
//! stream exposes (`AsFd`), as they do Unix stream's, so that round trips keep the timeouts.

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{GenericFilePath, ListenerOptions};

use crate::transport::blocks::framing::{
    ConnectionServer, FramedClient, Listener, NonBlockingStream,
};
use crate::transport::blocks::socket_file::SocketFile;
use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::names::checked_path;
use crate::transport::os::socket::{receive_now, send_now};
use crate::transport::spec::{
    any_workload, Addressing, TransportKind, TransportOptions, TransportSpec,
};
use crate::transport::wait::{retry_until_created, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE};

pub const KIND: TransportKind = TransportKind::new(&SPEC);

const SPEC: TransportSpec = TransportSpec {
    name: "interprocess",
    display_name: "interprocess",
    addressing: Addressing::SocketFile {
        scheme: "interprocess://",
    },
    connect: |endpoint, options, watch| Ok(Box::new(connect(endpoint, options, watch)?)),
    bind: |endpoint, options| Ok(Box::new(bind(endpoint, options)?)),
    summary: "the interprocess crate's local_socket stream (a Unix socket), length-framed",
    supports: any_workload,
    ..TransportSpec::DEFAULTS
};

/// The crate's stream, with what the framing needs of it: `Read`/`Write` are the crate's own,
/// and the descriptor it exposes serves the never-waiting calls of requests in flight.
pub struct LocalStream(LocalSocketStream);

impl Read for LocalStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.0.read_vectored(bufs)
    }
}

impl Write for LocalStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl AsFd for LocalStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.0 {
            LocalSocketStream::UdSocket(stream) => stream.as_fd(),
        }
    }
}

impl NonBlockingStream for LocalStream {
    fn read_now(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        receive_now(self.as_fd(), buf)
    }

    fn write_now(&mut self, parts: &[IoSlice<'_>]) -> std::io::Result<usize> {
        send_now(self.as_fd(), parts)
    }

    fn ends(&self) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
        (self.as_fd(), self.as_fd())
    }
}

/// Makes every blocking read and write wait for at most one `slice`, through the crate's own
/// timeouts (`SO_RCVTIMEO`/`SO_SNDTIMEO` underneath): no system call per message.
fn set_slices(stream: &LocalSocketStream, slice: Duration) -> Result<(), TransportError> {
    stream
        .set_recv_timeout(Some(slice))
        .and_then(|()| stream.set_send_timeout(Some(slice)))
        .map_err(|e| TransportError::io("setting the local socket's timeouts", e))
}

/// For [`retry_until_created`]: no socket file yet, or nobody listening on it yet.
fn no_server_yet(path: &Path) -> impl Fn(&TransportError) -> Option<String> + '_ {
    move |e| match e {
        TransportError::Io { source, .. }
            if matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            Some(format!("a server at {} ({source})", path.display()))
        }
        _ => None,
    }
}

fn connect(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<FramedClient<LocalStream>, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    checked_path(path)?;
    let connect = || {
        let name = path
            .to_fs_name::<GenericFilePath>()
            .map_err(|e| TransportError::io(format!("naming {}", path.display()), e))?;
        LocalSocketStream::connect(name)
            .map_err(|e| TransportError::io(format!("connecting to {}", path.display()), e))
    };
    let stream = retry_until_created(
        &mut WaitBudget::new(options.timeout, watch.as_ref()),
        connect,
        no_server_yet(path),
    )?;
    // Slices of WAIT_SLICE: between them the watch asks waitpid whether the server died.
    set_slices(&stream, WAIT_SLICE)?;
    Ok(FramedClient::new(
        LocalStream(stream),
        buffer_size,
        options.timeout,
        watch,
    ))
}

/// The crate's listener and the socket file it listens at.
struct LocalListener {
    // Field order is drop order: close the listener (which also reclaims its name) before
    // removing the file and its private directory.
    listener: LocalSocketListener,
    _file: SocketFile,
}

impl AsFd for LocalListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.listener {
            LocalSocketListener::UdSocket(listener) => listener.as_fd(),
        }
    }
}

impl Listener for LocalListener {
    type Stream = LocalStream;

    fn accept(&self) -> std::io::Result<LocalStream> {
        self.listener.accept().map(LocalStream)
    }

    /// As Unix stream's: the idle server's reads wait in IDLE_SLICE slices, after each of
    /// which it looks at its stop flag (see `unix_stream.rs`).
    fn prepare(stream: &LocalStream) -> Result<(), TransportError> {
        set_slices(&stream.0, IDLE_SLICE)
    }
}

fn bind(
    endpoint: &Endpoint,
    options: TransportOptions,
) -> Result<ConnectionServer<LocalListener>, TransportError> {
    let (path, buffer_size) = endpoint.socket_file(KIND.name())?;
    let file = SocketFile::claim(path)?;
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|e| TransportError::io(format!("naming {}", path.display()), e))?;
    let listener = ListenerOptions::new()
        .name(name)
        .create_sync()
        .map_err(|e| TransportError::io(format!("binding {}", path.display()), e))?;
    let listener = LocalListener {
        listener,
        _file: file,
    };
    ConnectionServer::new(listener, buffer_size, options.timeout)
}
