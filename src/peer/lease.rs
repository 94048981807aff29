//! Names of the IPC objects one driver run creates, unique per run and per server process, and
//! what the driver holds for each endpoint while it is in use ([`EndpointLease`]).
//!
//! Channels are `tb_<driver pid>_p<PID namespace>_<counter>` and private directories
//! `transport-bench-<pid>-*` (with a random suffix), so concurrent drivers never meet, even two
//! in different PID namespaces with the same pid (`unshare -pf` gives each pid 1 or 2, and
//! `/dev/shm` and the message queues are shared unless the mount and IPC namespaces are
//! private too), and leftovers can be traced back to a (dead) driver. The namespace is the
//! inode of `/proc/self/ns/pid` ([`pid_namespace`]), 10 digits today: the names stay far within
//! [`MAX_CHANNEL_LEN`](crate::transport::names::MAX_CHANNEL_LEN) and NAME_MAX, and are made of the
//! characters shm-rpc-bridge's names allow. A process without `/proc` names its channels
//! `tb_<pid>_<counter>`, as before, and the cleaners still read both forms.

use std::path::Path;

use crate::peer::client_args::CLIENT_PIPE_FDS;
use crate::peer::spawn::InheritedFd;
use crate::system::pid_namespace;
use crate::transport::os::owner_lock;
use crate::transport::os::pipe::PipePair;
use crate::transport::{Endpoint, TransportError, TransportKind, PRIVATE_DIR_PREFIX};

/// Prefix of every channel name this tool makes.
pub const CHANNEL_PREFIX: &str = "tb_";

/// Hands out a fresh endpoint for each server process of one driver run.
pub struct RunNames {
    pid: u32,
    /// The driver's PID namespace, which makes its pid unique on the host.
    pid_namespace: Option<u64>,
    counter: u64,
}

/// An endpoint, as its server is told it, plus what the driver holds for it: the private
/// directory it may live in, or the pipes it is made of. Dropping it removes the directory and
/// closes the pipes.
pub struct EndpointLease {
    pub endpoint: Endpoint,
    pipes: Option<PipePair>,
    // Field order is drop order: release the owner lock, then remove the directory.
    _dir_lock: Option<std::fs::File>,
    _dir: Option<tempfile::TempDir>,
}

/// Why the driver could not prepare an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot create a private directory for the endpoint: {0}")]
    PrivateDir(#[source] std::io::Error),
    #[error("cannot create the pipes for the server: {0}")]
    Pipes(#[source] nix::Error),
}

impl EndpointLease {
    /// A lease on an endpoint the caller named and placed: it creates the pipes of a pipe
    /// endpoint, and holds no directory (the caller owns any).
    pub fn new(endpoint: Endpoint) -> Result<EndpointLease, LeaseError> {
        let pipes = match endpoint {
            Endpoint::Pipes { .. } => Some(PipePair::new().map_err(LeaseError::Pipes)?),
            _ => None,
        };
        Ok(EndpointLease {
            endpoint,
            pipes,
            _dir_lock: None,
            _dir: None,
        })
    }

    /// The descriptors the server must inherit, at the numbers its command line names: the
    /// server's ends of the pipes, until [`EndpointLease::close_server_ends`].
    pub fn inherited_fds(&self) -> Vec<InheritedFd<'_>> {
        let ends = self.pipes.as_ref().and_then(PipePair::server_ends);
        ends.into_iter()
            .flatten()
            .map(|(fd, at)| InheritedFd { fd, at })
            .collect()
    }

    /// The descriptors a client process must inherit: the client's ends of the pipes, at the
    /// numbers its command line names ([`CLIENT_PIPE_FDS`]).
    pub fn client_inherited_fds(&self) -> Vec<InheritedFd<'_>> {
        let Some(pipes) = &self.pipes else {
            return Vec::new();
        };
        let [receive, send] = pipes.client_ends();
        vec![
            InheritedFd {
                fd: receive,
                at: CLIENT_PIPE_FDS.receive,
            },
            InheritedFd {
                fd: send,
                at: CLIENT_PIPE_FDS.send,
            },
        ]
    }

    /// Closes the driver's copies of the server's pipe ends, once the server was spawned with
    /// them (or failed to be). Kept open, they would keep the pipes open after the server died,
    /// and the client would wait for the end of a pipe that has another writer.
    pub fn close_server_ends(&mut self) {
        if let Some(pipes) = &mut self.pipes {
            pipes.close_server_ends();
        }
    }

    /// Where a client reaches the server: the client's ends of the pipes, the address the
    /// server `reported` in its READY line, or the endpoint itself.
    pub fn client_endpoint(&self, reported: Option<&str>) -> Result<Endpoint, TransportError> {
        match (&self.pipes, &self.endpoint, reported) {
            (Some(pipes), Endpoint::Pipes { buffer_size, .. }, _) => Ok(Endpoint::Pipes {
                fds: pipes.client_fds(),
                buffer_size: *buffer_size,
            }),
            (_, endpoint, Some(reported)) => endpoint.at_reported_address(reported),
            (_, endpoint, None) => Ok(endpoint.clone()),
        }
    }
}

impl RunNames {
    pub fn new() -> RunNames {
        RunNames {
            pid: std::process::id(),
            pid_namespace: pid_namespace::own(),
            counter: 0,
        }
    }

    pub fn next_endpoint(
        &mut self,
        kind: TransportKind,
        buffer_size: usize,
    ) -> Result<EndpointLease, LeaseError> {
        self.counter += 1;
        let channel = channel_name(self.pid, self.pid_namespace, self.counter);
        let (dir, dir_lock) = if kind.needs_private_dir() {
            let (dir, lock) = self.private_dir().map_err(LeaseError::PrivateDir)?;
            (Some(dir), Some(lock))
        } else {
            (None, None)
        };
        let dir_path = dir.as_ref().map_or(Path::new(""), |d| d.path());
        let lease = EndpointLease::new(kind.endpoint(&channel, dir_path, buffer_size))?;
        Ok(EndpointLease {
            _dir_lock: dir_lock,
            _dir: dir,
            ..lease
        })
    }

    /// A fresh private directory, and the lock that tells a cleaner in any PID namespace that
    /// it is in use. tempfile creates it 0700 with a random suffix: nobody else can connect to,
    /// replace or pre-create our socket.
    fn private_dir(&self) -> std::io::Result<(tempfile::TempDir, std::fs::File)> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PRIVATE_DIR_PREFIX}{}-", self.pid))
            .tempdir()?;
        let lock = std::fs::File::open(dir.path())?;
        owner_lock::hold(&lock)?;
        Ok((dir, lock))
    }
}

impl Default for RunNames {
    fn default() -> Self {
        Self::new()
    }
}

/// The name of the `counter`th channel of the driver `pid` in `pid_namespace`:
/// `tb_<pid>_p<namespace>_<counter>`, or `tb_<pid>_<counter>` where the namespace is unknown.
pub fn channel_name(pid: u32, pid_namespace: Option<u64>, counter: u64) -> String {
    match pid_namespace {
        Some(namespace) => format!("{CHANNEL_PREFIX}{pid}_p{namespace}_{counter}"),
        None => format!("{CHANNEL_PREFIX}{pid}_{counter}"),
    }
}

/// The driver that made a channel: its pid, and its PID namespace where the name says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOwner {
    pub pid: u32,
    pub pid_namespace: Option<u64>,
}

/// The driver inside a channel name `tb_<pid>_p<namespace>_<n>` or `tb_<pid>_<n>` (possibly
/// followed by a suffix such as `_req_empty`), if the name is one of ours.
pub fn channel_owner(channel: &str) -> Option<ChannelOwner> {
    let rest = channel.strip_prefix(CHANNEL_PREFIX)?;
    let (pid, rest) = rest.split_once('_')?;
    let pid_namespace = (rest.strip_prefix('p'))
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(namespace, _)| namespace.parse().ok());
    Some(ChannelOwner {
        pid: pid.parse().ok()?,
        pid_namespace,
    })
}

/// The driver pid inside a private directory name `transport-bench-<pid>-XXXX`.
pub fn dir_owner_pid(dir_name: &str) -> Option<u32> {
    let rest = dir_name.strip_prefix(PRIVATE_DIR_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_parse_with_and_without_a_namespace() {
        let owner = |pid, pid_namespace| Some(ChannelOwner { pid, pid_namespace });
        assert_eq!(channel_owner("tb_123_4"), owner(123, None));
        assert_eq!(channel_owner("tb_123_4_req_empty"), owner(123, None));
        assert_eq!(
            channel_owner("tb_2_p4026532290_1"),
            owner(2, Some(4026532290))
        );
        assert_eq!(
            channel_owner("tb_2_p4026532290_1_resp"),
            owner(2, Some(4026532290))
        );
        assert_eq!(channel_owner("tb_2_px_1"), owner(2, None));
        assert_eq!(channel_owner("other_123_4"), None);
        assert_eq!(channel_owner("tb_x_4"), None);
        assert_eq!(dir_owner_pid("transport-bench-77-abc"), Some(77));
        assert_eq!(dir_owner_pid("transport-bench-abc"), None);
    }

    #[test]
    fn a_channel_name_says_its_driver_and_namespace_and_fits_every_limit() {
        let name = channel_name(4_194_304, Some(u32::MAX as u64), u64::MAX);
        assert_eq!(
            channel_owner(&name),
            Some(ChannelOwner {
                pid: 4_194_304,
                pid_namespace: Some(u32::MAX as u64)
            })
        );
        // Its longest object name (`sem.srb_<channel>_resp_empty`) within NAME_MAX.
        crate::transport::ChannelName::new(&name).unwrap();
        assert!(format!("sem.srb_{name}_resp_empty").len() <= 255);
        assert_eq!(channel_name(7, None, 3), "tb_7_3");
        assert_eq!(channel_owner("tb_7_3").unwrap().pid_namespace, None);
    }
}
