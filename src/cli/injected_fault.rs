//! `--inject-server-fault TRANSPORT:FAULT`, the benchmark's testing aid: which transport's
//! servers misbehave, and how. The fault's own syntax is [`Fault`]'s, which server mode reads
//! too.

use crate::peer::client_args::{ClientFault, ClientFaultError};
use crate::peer::server::{Fault, FaultParseError};
use crate::transport::TransportKind;
use crate::values::{parse_transport, ValueError};

/// Why a `TRANSPORT:FAULT` was refused.
#[derive(Debug, thiserror::Error)]
pub enum InjectedFaultError {
    #[error("'{0}' is not TRANSPORT:FAULT")]
    NotTransportFault(String),
    #[error(transparent)]
    Transport(#[from] ValueError),
    #[error(transparent)]
    Fault(#[from] FaultParseError),
    #[error(transparent)]
    ClientFault(#[from] ClientFaultError),
}

/// `--inject-client-fault TRANSPORT:FAULT`.
pub fn parse_injected_client_fault(
    text: &str,
) -> Result<(TransportKind, ClientFault), InjectedFaultError> {
    let (transport, fault) = text
        .split_once(':')
        .ok_or_else(|| InjectedFaultError::NotTransportFault(text.to_string()))?;
    Ok((parse_transport(transport)?, fault.parse()?))
}

pub fn parse_injected_fault(text: &str) -> Result<(TransportKind, Fault), InjectedFaultError> {
    let (transport, fault) = text
        .split_once(':')
        .ok_or_else(|| InjectedFaultError::NotTransportFault(text.to_string()))?;
    Ok((parse_transport(transport)?, fault.parse()?))
}
