//! Names of the IPC objects one driver run creates, unique per run and per server process.
//!
//! Channels are `tb_<driver pid>_<counter>` and private directories `transport-bench-<pid>-*`,
//! so concurrent drivers never meet, and leftovers can be traced back to a (dead) driver.

use std::path::Path;

use crate::transport::{owner_lock, Endpoint, TransportKind, PRIVATE_DIR_PREFIX};

/// Prefix of every channel name this tool makes.
pub const CHANNEL_PREFIX: &str = "tb_";

/// Hands out a fresh endpoint for each server process of one driver run.
pub struct RunNames {
    pid: u32,
    counter: u64,
}

/// An endpoint plus the private directory it may live in; dropping it removes the directory.
pub struct EndpointLease {
    pub endpoint: Endpoint,
    // Field order is drop order: release the owner lock, then remove the directory.
    _dir_lock: Option<std::fs::File>,
    _dir: Option<tempfile::TempDir>,
}

impl RunNames {
    pub fn new() -> RunNames {
        RunNames {
            pid: std::process::id(),
            counter: 0,
        }
    }

    pub fn next_endpoint(
        &mut self,
        kind: TransportKind,
        buffer_size: usize,
    ) -> std::io::Result<EndpointLease> {
        self.counter += 1;
        let channel = format!("{CHANNEL_PREFIX}{}_{}", self.pid, self.counter);
        let dir = if kind.needs_private_dir() {
            // tempfile creates the directory 0700 with a random suffix: nobody else can
            // connect to, replace or pre-create our socket.
            Some(
                tempfile::Builder::new()
                    .prefix(&format!("{PRIVATE_DIR_PREFIX}{}-", self.pid))
                    .tempdir()?,
            )
        } else {
            None
        };
        let dir_path = dir.as_ref().map_or(Path::new(""), |d| d.path());
        // The lock tells a cleaner in any PID namespace that this directory is in use.
        let dir_lock = match &dir {
            Some(dir) => {
                let file = std::fs::File::open(dir.path())?;
                owner_lock::hold(&file)?;
                Some(file)
            }
            None => None,
        };
        Ok(EndpointLease {
            endpoint: kind.endpoint(&channel, dir_path, buffer_size),
            _dir_lock: dir_lock,
            _dir: dir,
        })
    }
}

impl Default for RunNames {
    fn default() -> Self {
        Self::new()
    }
}

/// The driver pid inside a channel name `tb_<pid>_<n>` (possibly followed by a suffix such as
/// `_req_empty`), if the name is one of ours.
pub fn channel_owner_pid(channel: &str) -> Option<u32> {
    let rest = channel.strip_prefix(CHANNEL_PREFIX)?;
    let (pid, _) = rest.split_once('_')?;
    pid.parse().ok()
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
    fn owner_pids_parse() {
        assert_eq!(channel_owner_pid("tb_123_4"), Some(123));
        assert_eq!(channel_owner_pid("tb_123_4_req_empty"), Some(123));
        assert_eq!(channel_owner_pid("other_123_4"), None);
        assert_eq!(channel_owner_pid("tb_x_4"), None);
        assert_eq!(dir_owner_pid("transport-bench-77-abc"), Some(77));
        assert_eq!(dir_owner_pid("transport-bench-abc"), None);
    }
}
