//! Every transport the tool knows, in the order in which they run and print. Adding a transport
//! means adding its file to this folder, its `mod` line in `mod.rs`, and one line here.

use super::{
    mqueue, pipe, shm_posix, shm_spin, shm_zc, tcp, unix_stream, zmq_ipc, zmq_tcp, TransportKind,
};

pub const TRANSPORTS: [TransportKind; 9] = [
    shm_posix::KIND,
    zmq_ipc::KIND,
    unix_stream::KIND,
    shm_spin::KIND,
    zmq_tcp::KIND,
    mqueue::KIND,
    shm_zc::KIND,
    pipe::KIND,
    tcp::KIND,
];

/// What runs without `--transports`: the seed benchmark's pair.
pub const DEFAULT_TRANSPORTS: [TransportKind; 2] = [shm_posix::KIND, zmq_ipc::KIND];
