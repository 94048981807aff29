//! What the tool's endpoints and IPC objects are called, checked once where they are made:
//! channel names and the `/srb_<channel>_*` object names shm-rpc-bridge uses ([`ChannelName`]),
//! named POSIX objects by kind ([`PosixObject`]), socket paths ([`checked_path`]), the private
//! directories of file endpoints, and the descriptor numbers of inherited pipes ([`PipeFds`]).
//!
//! The bottom layer of the transports: it imports nothing of the crate, so every other layer,
//! the error type included, can name these values.

use std::fmt;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// The longest channel name: keeps `sem.srb_<channel>_resp_empty` within NAME_MAX (255).
pub const MAX_CHANNEL_LEN: usize = 200;

/// Why a string cannot be a channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    #[error("the channel name is empty")]
    Empty,
    #[error("the channel name is {len} bytes long; at most {MAX_CHANNEL_LEN} are allowed")]
    TooLong { len: usize },
    #[error(
        "the channel name {channel:?} contains {bad:?}; use letters, digits, '_', '-' and '.'"
    )]
    BadCharacter { channel: String, bad: char },
}

/// A channel name that makes valid, unambiguous POSIX object names: 1 to [`MAX_CHANNEL_LEN`]
/// ASCII letters, digits, `_`, `-` and `.` (no `/`, which would make a path of the name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn new(channel: &str) -> Result<ChannelName, ChannelNameError> {
        if channel.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        if channel.len() > MAX_CHANNEL_LEN {
            return Err(ChannelNameError::TooLong { len: channel.len() });
        }
        if let Some(bad) = channel
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(ChannelNameError::BadCharacter {
                channel: channel.to_string(),
                bad,
            });
        }
        Ok(ChannelName(channel.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of one of the channel's POSIX objects, `/srb_<channel>_<suffix>`: the scheme of
    /// shm-rpc-bridge, whose peers must find our objects under the same names.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("/srb_{}_{suffix}", self.0)
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a channel name given on the command line, where only the verdict is needed.
pub fn validate_channel(channel: &str) -> Result<(), ChannelNameError> {
    ChannelName::new(channel).map(drop)
}

/// A named POSIX IPC object, by kind: what a transport leaves behind until unlinked (shared
/// memory and semaphores in `/dev/shm`; message queues in the kernel, shown in `/dev/mqueue`
/// only where that is mounted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PosixObject {
    SharedMemory(String),
    Semaphore(String),
    MessageQueue(String),
}

impl PosixObject {
    /// What kind of object it is, for people: `shared memory object`, `semaphore`.
    pub fn kind(&self) -> &'static str {
        match self {
            PosixObject::SharedMemory(_) => "shared memory object",
            PosixObject::Semaphore(_) => "semaphore",
            PosixObject::MessageQueue(_) => "message queue",
        }
    }

    /// The object's name, with its leading slash.
    pub fn name(&self) -> &str {
        match self {
            PosixObject::SharedMemory(name)
            | PosixObject::Semaphore(name)
            | PosixObject::MessageQueue(name) => name,
        }
    }
}

/// Prefix of the private directories the driver makes for file-based endpoints.
pub const PRIVATE_DIR_PREFIX: &str = "transport-bench-";

/// The one file the driver has a server make in its private directory: its socket. A cleaner
/// removes this, by name, and nothing else it finds there.
pub const SOCKET_FILE_NAME: &str = "echo.sock";

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Why a path cannot be a server's socket file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketPathError {
    #[error("socket path {} is not UTF-8", .0.display())]
    NotUtf8(PathBuf),
    #[error("socket path {path} is {len} bytes long; Unix sockets allow at most {MAX_SOCKET_PATH} (set TMPDIR to a shorter directory)")]
    TooLong { path: String, len: usize },
    #[error("{} already exists; refusing to replace it", .0.display())]
    AlreadyExists(PathBuf),
}

/// Checks that `path` fits a Unix socket address and is UTF-8; returns it as text.
pub fn checked_path(path: &Path) -> Result<&str, SocketPathError> {
    let text = path
        .to_str()
        .ok_or_else(|| SocketPathError::NotUtf8(path.to_path_buf()))?;
    if text.len() > MAX_SOCKET_PATH {
        return Err(SocketPathError::TooLong {
            path: text.to_string(),
            len: text.len(),
        });
    }
    Ok(text)
}

/// The descriptors of the two pipe ends one side uses, in its own process: it reads from
/// `receive` and writes to `send`. On a command line, `RECEIVE,SEND` (`--fds 3,4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeFds {
    pub receive: RawFd,
    pub send: RawFd,
}

impl fmt::Display for PipeFds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.receive, self.send)
    }
}

/// Where a spawned server finds its ends: the first descriptors after stdin, stdout and
/// stderr, the request pipe's read end at 3 and the reply pipe's write end at 4.
pub const SERVER_FDS: PipeFds = PipeFds {
    receive: 3,
    send: 4,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_checked_and_named_as_shm_rpc_bridge_does() {
        let channel = ChannelName::new("tb_1_2").unwrap();
        assert_eq!(channel.object_name("req_empty"), "/srb_tb_1_2_req_empty");
        assert_eq!(ChannelName::new(""), Err(ChannelNameError::Empty));
        let long = "x".repeat(MAX_CHANNEL_LEN + 1);
        assert_eq!(
            validate_channel(&long).unwrap_err().to_string(),
            "the channel name is 201 bytes long; at most 200 are allowed"
        );
        assert_eq!(
            validate_channel("a/b").unwrap_err().to_string(),
            "the channel name \"a/b\" contains '/'; use letters, digits, '_', '-' and '.'"
        );
    }
}
