//! `--connect TRANSPORT:ADDRESS`: an echo server that is already running, which the driver
//! measures instead of spawning its own. Parsed once, when the command line is read, by the
//! peer's one address syntax ([`address`]); the executor gets its [`Endpoint`] for each run
//! ([`ExternalPeer::endpoint`]).

use crate::peer::address::{self, AddressError, Written};
use crate::transport::{registry, Endpoint, TransportKind};

/// A running server the driver connects to: its transport and its address as the user gave it.
#[derive(Debug, Clone)]
pub struct ExternalPeer {
    pub transport: TransportKind,
    /// The address as written after `TRANSPORT:`, which every message about the peer names.
    pub address: String,
    /// Where the peer is, read from `address` once; each run gives it its buffer size.
    endpoint: Endpoint,
}

/// Why a `--connect` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerAddressError {
    #[error("'{0}' is not TRANSPORT:ADDRESS (for example shm-posix:CHANNEL or tcp:HOST:PORT)")]
    Form(String),
    #[error("unknown transport '{name}'{did_you_mean}")]
    UnknownTransport { name: String, did_you_mean: String },
    #[error(
        "pipe cannot be reached from outside: its server inherits anonymous pipes from the \
driver that spawns it"
    )]
    Pipe,
    #[error("{transport}: {source}")]
    Address {
        transport: &'static str,
        #[source]
        source: AddressError,
    },
}

impl std::str::FromStr for ExternalPeer {
    type Err = PeerAddressError;

    /// `TRANSPORT:ADDRESS`, the address read as a person writes it: a socket file or TCP address
    /// with or without the transport's scheme (`ipc://`, `tcp://`), a host name resolved now.
    fn from_str(text: &str) -> Result<ExternalPeer, PeerAddressError> {
        let (name, address) = text
            .split_once(':')
            .filter(|(_, address)| !address.is_empty())
            .ok_or_else(|| PeerAddressError::Form(text.to_string()))?;
        let transport =
            TransportKind::from_name(name).ok_or_else(|| PeerAddressError::UnknownTransport {
                name: name.to_string(),
                did_you_mean: registry::did_you_mean(name),
            })?;
        // The buffer size is each run's (`endpoint`); 0 until then.
        let endpoint = address::parse(transport, address, Written::ForClient, 0).map_err(
            |source| match source {
                AddressError::Unreachable => PeerAddressError::Pipe,
                source => PeerAddressError::Address {
                    transport: transport.name(),
                    source,
                },
            },
        )?;
        Ok(ExternalPeer {
            transport,
            address: address.to_string(),
            endpoint,
        })
    }
}

impl ExternalPeer {
    /// The endpoint a client connects to, with a `buffer_size`-byte buffer.
    pub fn endpoint(&self, buffer_size: usize) -> Endpoint {
        address::with_buffer_size(&self.endpoint, buffer_size)
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
        let addr: std::net::SocketAddr = "127.0.0.1:5555".parse().unwrap();
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
