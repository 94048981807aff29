//! `--connect TRANSPORT:ADDRESS`: an echo server that is already running, which the driver
//! measures instead of spawning its own. Parsed once, when the command line is read; the
//! executor turns it into an [`Endpoint`] for each run ([`ExternalPeer::endpoint`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::transport::{Addressing, ChannelName, ChannelNameError, Endpoint, TransportKind};

/// A running server the driver connects to: its transport and its address as the user gave it.
#[derive(Debug, Clone)]
pub struct ExternalPeer {
    pub transport: TransportKind,
    /// The address as written after `TRANSPORT:`, which every message about the peer names.
    pub address: String,
    target: PeerTarget,
}

/// Where the peer is, in the form its transport's client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PeerTarget {
    Channel(ChannelName),
    SocketFile(PathBuf),
    Tcp(SocketAddr),
}

/// Why a `--connect` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerAddressError {
    #[error("'{0}' is not TRANSPORT:ADDRESS (for example shm-posix:CHANNEL or tcp:HOST:PORT)")]
    Form(String),
    #[error("unknown transport '{0}'")]
    UnknownTransport(String),
    #[error(
        "pipe cannot be reached from outside: its server inherits anonymous pipes from the \
driver that spawns it"
    )]
    Pipe,
    #[error("{transport}: {source}")]
    Channel {
        transport: &'static str,
        #[source]
        source: ChannelNameError,
    },
    #[error("{transport}: '{address}' is not a socket path such as {example}")]
    SocketPath {
        transport: &'static str,
        address: String,
        example: String,
    },
    #[error("{transport}: '{address}' is not an address such as {example}")]
    TcpForm {
        transport: &'static str,
        address: String,
        example: String,
    },
    #[error("{transport}: cannot resolve '{address}': {source}")]
    Resolve {
        transport: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl std::str::FromStr for ExternalPeer {
    type Err = PeerAddressError;

    fn from_str(text: &str) -> Result<ExternalPeer, PeerAddressError> {
        let (name, address) = text
            .split_once(':')
            .filter(|(_, address)| !address.is_empty())
            .ok_or_else(|| PeerAddressError::Form(text.to_string()))?;
        let transport = TransportKind::from_name(name)
            .ok_or_else(|| PeerAddressError::UnknownTransport(name.to_string()))?;
        let target = target(transport, address)?;
        Ok(ExternalPeer {
            transport,
            address: address.to_string(),
            target,
        })
    }
}

/// The peer's address, read as its transport's addressing has it. A socket file or TCP
/// address may be written with or without the transport's scheme (`ipc://`, `tcp://`).
fn target(transport: TransportKind, address: &str) -> Result<PeerTarget, PeerAddressError> {
    let name = transport.name();
    match transport.addressing() {
        Addressing::Channel => {
            ChannelName::new(address)
                .map(PeerTarget::Channel)
                .map_err(|source| PeerAddressError::Channel {
                    transport: name,
                    source,
                })
        }
        Addressing::SocketFile { scheme } => {
            let path = address.strip_prefix(scheme).unwrap_or(address);
            if path.is_empty() || !path.starts_with('/') {
                return Err(PeerAddressError::SocketPath {
                    transport: name,
                    address: address.to_string(),
                    example: format!("{scheme}/run/app.sock"),
                });
            }
            Ok(PeerTarget::SocketFile(path.into()))
        }
        Addressing::Tcp { scheme } => {
            let host_port = scheme
                .and_then(|scheme| address.strip_prefix(scheme))
                .unwrap_or(address);
            resolve(name, host_port, scheme.unwrap_or_default()).map(PeerTarget::Tcp)
        }
        Addressing::InheritedPipes => Err(PeerAddressError::Pipe),
    }
}

/// The first address `HOST:PORT` resolves to.
fn resolve(
    transport: &'static str,
    host_port: &str,
    scheme: &str,
) -> Result<SocketAddr, PeerAddressError> {
    let form = || PeerAddressError::TcpForm {
        transport,
        address: host_port.to_string(),
        example: format!("{scheme}127.0.0.1:5555"),
    };
    if host_port
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(form());
    }
    let mut addresses =
        host_port
            .to_socket_addrs()
            .map_err(|source| PeerAddressError::Resolve {
                transport,
                address: host_port.to_string(),
                source,
            })?;
    addresses.next().ok_or_else(form)
}

impl ExternalPeer {
    /// The endpoint a client connects to, with a `buffer_size`-byte buffer.
    pub fn endpoint(&self, buffer_size: usize) -> Endpoint {
        match &self.target {
            PeerTarget::Channel(channel) => Endpoint::ShmChannel {
                channel: channel.as_str().to_string(),
                buffer_size,
            },
            PeerTarget::SocketFile(path) => Endpoint::SocketFile {
                path: path.clone(),
                buffer_size,
            },
            PeerTarget::Tcp(addr) => Endpoint::Tcp {
                addr: *addr,
                buffer_size,
            },
        }
    }

    /// The channel of a peer addressed by one.
    pub fn channel(&self) -> Option<&ChannelName> {
        match &self.target {
            PeerTarget::Channel(channel) => Some(channel),
            _ => None,
        }
    }
}

impl std::fmt::Display for ExternalPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.transport.name(), self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> ExternalPeer {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_addressing_but_pipes_is_reachable() {
        let endpoint = |text: &str| peer(text).endpoint(4096);
        assert_eq!(
            endpoint("shm-posix:myapp"),
            Endpoint::ShmChannel {
                channel: "myapp".into(),
                buffer_size: 4096
            }
        );
        for text in ["zmq-ipc:ipc:///run/app.sock", "unix-stream:/run/app.sock"] {
            assert_eq!(
                endpoint(text),
                Endpoint::SocketFile {
                    path: "/run/app.sock".into(),
                    buffer_size: 4096
                }
            );
        }
        let addr: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        for text in ["zmq-tcp:tcp://127.0.0.1:5555", "tcp:127.0.0.1:5555"] {
            assert_eq!(
                endpoint(text),
                Endpoint::Tcp {
                    addr,
                    buffer_size: 4096
                }
            );
        }
        assert_eq!(peer("tcp:127.0.0.1:5555").to_string(), "tcp:127.0.0.1:5555");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (text, expected) in [
            ("pipe:x", "pipe cannot be reached from outside"),
            ("shm-posix", "is not TRANSPORT:ADDRESS"),
            ("carrier-pigeon:x", "unknown transport"),
            ("shm-posix:a/b", "contains '/'"),
            ("unix-stream:relative.sock", "not a socket path"),
            ("tcp:5555", "not an address such as 127.0.0.1:5555"),
            ("zmq-tcp:tcp://host:port", "not an address such as tcp://"),
        ] {
            let error = text.parse::<ExternalPeer>().unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
