//! What the socket-file transports (ZeroMQ IPC, Unix stream) share: a server's socket file
//! ([`SocketFile`]), which refuses one that already exists and on drop removes the file and
//! its private directory. The path itself is checked where names are (`names::checked_path`).

use std::path::{Path, PathBuf};

use crate::transport::error::TransportError;
use crate::transport::names::{checked_path, SocketPathError, PRIVATE_DIR_PREFIX};

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
