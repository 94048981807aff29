//! How a transport addressed by a channel name ([`Addressing::Channel`]) builds its two sides
//! from an endpoint: its client and server say how they are made from the channel and the buffer
//! size ([`ChannelClient`], [`ChannelServer`]), and its spec's `connect` and `bind` are
//! [`connect_on_channel`] and [`bind_on_channel`].
//!
//! [`Addressing::Channel`]: crate::transport::spec::Addressing::Channel

use std::sync::Arc;

use crate::transport::endpoint::Endpoint;
use crate::transport::error::TransportError;
use crate::transport::spec::{TransportClient, TransportKind, TransportOptions, TransportServer};
use crate::transport::wait::PeerWatch;

/// A client made from a channel name and the server's buffer size.
pub trait ChannelClient: Sized {
    /// The transport, named when the endpoint is not a channel.
    const KIND: TransportKind;

    fn connect(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
        watch: Arc<dyn PeerWatch>,
    ) -> Result<Self, TransportError>;
}

/// A server made from a channel name and its buffer size.
pub trait ChannelServer: Sized {
    /// The transport, named when the endpoint is not a channel.
    const KIND: TransportKind;

    fn create(
        channel: &str,
        buffer_size: usize,
        options: TransportOptions,
    ) -> Result<Self, TransportError>;
}

/// A channel transport's [`ConnectFn`](crate::transport::spec::ConnectFn).
pub fn connect_on_channel<C: ChannelClient + TransportClient + 'static>(
    endpoint: &Endpoint,
    options: TransportOptions,
    watch: Arc<dyn PeerWatch>,
) -> Result<Box<dyn TransportClient>, TransportError> {
    let (channel, buffer_size) = endpoint.channel(C::KIND.name())?;
    Ok(Box::new(C::connect(channel, buffer_size, options, watch)?))
}

/// A channel transport's [`BindFn`](crate::transport::spec::BindFn).
pub fn bind_on_channel<S: ChannelServer + TransportServer + 'static>(
    endpoint: &Endpoint,
    options: TransportOptions,
) -> Result<Box<dyn TransportServer>, TransportError> {
    let (channel, buffer_size) = endpoint.channel(S::KIND.name())?;
    Ok(Box::new(S::create(channel, buffer_size, options)?))
}
