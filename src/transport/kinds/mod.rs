//! The transports, one file each. Each declares its [`TransportSpec`](super::TransportSpec) as
//! the constant behind its `KIND`; the registry lists them.

pub mod grpc_uds;
pub mod iceoryx2;
pub mod interprocess;
pub mod ipc_channel;
pub mod mqueue;
pub mod pipe;
pub mod shm_posix;
pub mod shm_spin;
pub mod shm_zc;
pub mod tcp;
pub mod tokio_tcp;
pub mod tokio_unix;
pub mod unix_stream;
pub mod zmq_ipc;
pub mod zmq_tcp;
