//! What the socket-file transports (ZeroMQ IPC, Unix stream) share: checking the socket path,
//! refusing one that already exists, and removing the file and its private directory.

use std::path::{Path, PathBuf};

use super::{TransportError, PRIVATE_DIR_PREFIX};

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

/// Owns a server's socket file: refuses to take over an existing one, and on drop removes the
/// file and, if the driver made it, the private directory around it.
pub struct SocketFile {
    path: PathBuf,
}

impl SocketFile {
    /// Claims `path` for a server about to bind there. Binding would silently replace an
    /// existing file: refuse it, as the SHM transport refuses a squatter's object.
    pub fn claim(path: &Path) -> Result<SocketFile, TransportError> {
        checked_path(path)?;
        if path.symlink_metadata().is_ok() {
            return Err(SocketPathError::AlreadyExists(path.to_path_buf()).into());
        }
        Ok(SocketFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // If the driver is gone (killed), nobody else will remove its private directory.
        // rmdir only succeeds on an empty directory, so this never loses anything.
        if let Some(dir) = self.path.parent() {
            let ours = dir
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(PRIVATE_DIR_PREFIX));
            if ours {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}
