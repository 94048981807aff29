//! How an endpoint is written as text: one syntax per way a transport is addressed
//! ([`Addressing`]), rendered by [`render`] and read back by [`parse`].
//!
//! A channel is its name; a socket file is its path after the transport's scheme
//! (`ipc:///run/app.sock`); a TCP address is `ADDR:PORT`, after the scheme of a transport that
//! has one (`tcp://`); inherited pipes are the descriptors `RECEIVE,SEND`. The driver renders a
//! spawned server's endpoint into the server's command line
//! ([`ServerArgs`](crate::peer::server_args::ServerArgs)), the server parses it back, and
//! `--connect TRANSPORT:ADDRESS` ([`ExternalPeer`](crate::peer::external::ExternalPeer)) is
//! parsed by the same code, read as a person writes it ([`Written`]).

use std::net::{SocketAddr, ToSocketAddrs};

use crate::transport::names::checked_path;
use crate::transport::{
    Addressing, ChannelName, ChannelNameError, Endpoint, PipeFds, TransportError, TransportKind,
};

/// Who wrote an address, which decides how strictly it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// On a server's command line, as [`render`] writes it (or as a person starting a server
    /// by hand does): with the transport's scheme, and a TCP address as a literal IP and port.
    ForServer,
    /// After `--connect TRANSPORT:`, by a person: the scheme may be left out, a socket path
    /// is absolute, and a host name is resolved. Inherited pipes cannot be reached this way.
    ForClient,
}

/// Why an address was refused. Its reader says where the address was written.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Not of the form at all: no scheme where one is required, or nothing after it.
    #[error("no address after the scheme")]
    Missing,
    #[error(transparent)]
    Channel(#[from] ChannelNameError),
    #[error("'{address}' is not a socket path such as {scheme}/run/app.sock")]
    NotSocketPath {
        address: String,
        scheme: &'static str,
    },
    /// `address` is what followed the scheme, if the transport has one.
    #[error("'{address}' is not an address such as {scheme}127.0.0.1:5555")]
    NotTcpAddress {
        address: String,
        scheme: &'static str,
    },
    #[error("cannot resolve '{address}': {source}")]
    Resolve {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    PipeFds(#[from] PipeFdsError),
    /// Pipes are inherited from the driver that spawns the server; nobody else can reach them.
    #[error("inherited pipes cannot be reached from outside")]
    Unreachable,
}

/// `--fds` text that is not two pipe ends a server can inherit.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not two different descriptors RECEIVE,SEND above 2, such as 3,4 (0, 1 and 2 are stdio)")]
pub struct PipeFdsError(String);

/// The address of `endpoint`, as `kind`'s server reads it on its command line ([`parse`] with
/// [`Written::ForServer`] gives the endpoint back).
pub fn render(kind: TransportKind, endpoint: &Endpoint) -> Result<String, TransportError> {
    Ok(match kind.addressing() {
        Addressing::Channel => endpoint.channel(kind.name())?.0.to_string(),
        Addressing::SocketFile { scheme } => {
            format!(
                "{scheme}{}",
                checked_path(endpoint.socket_file(kind.name())?.0)?
            )
        }
        Addressing::Tcp { scheme } => {
            format!(
                "{}{}",
                scheme.unwrap_or_default(),
                endpoint.tcp(kind.name())?.0
            )
        }
        Addressing::InheritedPipes => endpoint.pipes(kind.name())?.0.to_string(),
    })
}

/// The endpoint of `kind` that `text` names, with a `buffer_size`-byte buffer, read as
/// `written`.
pub fn parse(
    kind: TransportKind,
    text: &str,
    written: Written,
    buffer_size: usize,
) -> Result<Endpoint, AddressError> {
    Ok(match kind.addressing() {
        Addressing::Channel => Endpoint::ShmChannel {
            channel: ChannelName::new(text)?.as_str().to_string(),
            buffer_size,
        },
        Addressing::SocketFile { scheme } => Endpoint::SocketFile {
            path: socket_path(text, scheme, written)?.into(),
            buffer_size,
        },
        Addressing::Tcp { scheme } => Endpoint::Tcp {
            addr: tcp_address(text, scheme, written)?,
            buffer_size,
        },
        Addressing::InheritedPipes => match written {
            Written::ForServer => Endpoint::Pipes {
                fds: parse_pipe_fds(text)?,
                buffer_size,
            },
            Written::ForClient => return Err(AddressError::Unreachable),
        },
    })
}

/// What follows `scheme` in `text`: the scheme is required on a server's command line (and
/// something after it), optional after `--connect`.
fn after_scheme<'a>(text: &'a str, scheme: &str, written: Written) -> Option<&'a str> {
    match written {
        Written::ForServer => text.strip_prefix(scheme).filter(|rest| !rest.is_empty()),
        Written::ForClient => Some(text.strip_prefix(scheme).unwrap_or(text)),
    }
}

/// The socket path in `text`.
fn socket_path<'a>(
    text: &'a str,
    scheme: &'static str,
    written: Written,
) -> Result<&'a str, AddressError> {
    let path = after_scheme(text, scheme, written).ok_or(AddressError::Missing)?;
    if written == Written::ForClient && !path.starts_with('/') {
        return Err(AddressError::NotSocketPath {
            address: text.to_string(),
            scheme,
        });
    }
    Ok(path)
}

/// The TCP address in `text`: for a server the literal address it binds (port 0 for any free
/// one), for a client the first address `HOST:PORT` resolves to.
fn tcp_address(
    text: &str,
    scheme: Option<&'static str>,
    written: Written,
) -> Result<SocketAddr, AddressError> {
    let host_port = match scheme {
        Some(scheme) => after_scheme(text, scheme, written).ok_or(AddressError::Missing)?,
        None => text,
    };
    let scheme = scheme.unwrap_or_default();
    let not_tcp = || AddressError::NotTcpAddress {
        address: host_port.to_string(),
        scheme,
    };
    if written == Written::ForServer {
        return host_port.parse().map_err(|_| not_tcp());
    }
    if host_port
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(not_tcp());
    }
    let mut addresses = host_port
        .to_socket_addrs()
        .map_err(|source| AddressError::Resolve {
            address: host_port.to_string(),
            source,
        })?;
    addresses.next().ok_or_else(not_tcp)
}

/// The pipe ends a server inherited, `RECEIVE,SEND`: two different descriptors past stdin,
/// stdout and stderr (stdout carries READY, so it can never be a pipe end). Whether they are
/// open pipes is for the server to check, where they are open.
pub fn parse_pipe_fds(text: &str) -> Result<PipeFds, PipeFdsError> {
    let bad = || PipeFdsError(text.to_string());
    let (receive, send) = text.split_once(',').ok_or_else(bad)?;
    let fd = |s: &str| {
        s.trim()
            .parse::<i32>()
            .ok()
            .filter(|&fd| fd > 2)
            .ok_or_else(bad)
    };
    let fds = PipeFds {
        receive: fd(receive)?,
        send: fd(send)?,
    };
    if fds.receive == fds.send {
        return Err(bad());
    }
    Ok(fds)
}

/// The size of `endpoint`'s buffer.
pub fn buffer_size(endpoint: &Endpoint) -> usize {
    match endpoint {
        Endpoint::ShmChannel { buffer_size, .. }
        | Endpoint::SocketFile { buffer_size, .. }
        | Endpoint::Tcp { buffer_size, .. }
        | Endpoint::Pipes { buffer_size, .. } => *buffer_size,
    }
}

/// `endpoint`, with a `buffer_size`-byte buffer.
pub fn with_buffer_size(endpoint: &Endpoint, buffer_size: usize) -> Endpoint {
    let mut endpoint = endpoint.clone();
    match &mut endpoint {
        Endpoint::ShmChannel { buffer_size: b, .. }
        | Endpoint::SocketFile { buffer_size: b, .. }
        | Endpoint::Tcp { buffer_size: b, .. }
        | Endpoint::Pipes { buffer_size: b, .. } => *b = buffer_size,
    }
    endpoint
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::transport::kinds::{mqueue, pipe, shm_zc, tcp, unix_stream, zmq_ipc, zmq_tcp};

    #[test]
    fn every_addressing_renders_what_a_server_parses_back() {
        let socket = Endpoint::SocketFile {
            path: "/tmp/transport-bench-1-x/echo.sock".into(),
            buffer_size: 4096,
        };
        let tcp_any = Endpoint::Tcp {
            addr: ([127, 0, 0, 1], 0).into(),
            buffer_size: 4096,
        };
        let pipes = pipe::KIND.endpoint("unused", Path::new("unused"), 4096);
        let channel = shm_zc::KIND.endpoint("tb_1_2", Path::new("unused"), 4096);
        for (kind, endpoint, text) in [
            (shm_zc::KIND, &channel, "tb_1_2"),
            (mqueue::KIND, &channel, "tb_1_2"),
            (
                zmq_ipc::KIND,
                &socket,
                "ipc:///tmp/transport-bench-1-x/echo.sock",
            ),
            (
                unix_stream::KIND,
                &socket,
                "unix:///tmp/transport-bench-1-x/echo.sock",
            ),
            (zmq_tcp::KIND, &tcp_any, "tcp://127.0.0.1:0"),
            (tcp::KIND, &tcp_any, "127.0.0.1:0"),
            (pipe::KIND, &pipes, "3,4"),
        ] {
            assert_eq!(render(kind, endpoint).unwrap(), text, "{kind:?}");
            let back = parse(kind, text, Written::ForServer, 4096).unwrap();
            assert_eq!(&back, endpoint, "{kind:?}");
        }
        assert!(render(tcp::KIND, &channel).is_err());
    }

    #[test]
    fn a_server_needs_the_scheme_and_a_client_does_not() {
        let (server, client) = (Written::ForServer, Written::ForClient);
        assert!(matches!(
            parse(zmq_ipc::KIND, "/run/app.sock", server, 1),
            Err(AddressError::Missing)
        ));
        assert!(parse(zmq_ipc::KIND, "/run/app.sock", client, 1).is_ok());
        assert!(parse(zmq_ipc::KIND, "ipc://relative.sock", server, 1).is_ok());
        let relative = parse(zmq_ipc::KIND, "ipc://relative.sock", client, 1).unwrap_err();
        assert_eq!(
            relative.to_string(),
            "'ipc://relative.sock' is not a socket path such as ipc:///run/app.sock"
        );
        assert!(parse(tcp::KIND, "localhost:5555", server, 1).is_err());
        assert!(parse(pipe::KIND, "3,4", client, 1).is_err());
    }

    #[test]
    fn pipe_ends_are_two_different_descriptors_past_stdio() {
        let fds = parse_pipe_fds(" 5, 6").unwrap();
        assert_eq!((fds.receive, fds.send), (5, 6));
        for bad in ["3", "3,3", "2,4", "a,b", "3,4,5"] {
            assert!(parse_pipe_fds(bad).is_err(), "{bad}");
        }
    }
}
