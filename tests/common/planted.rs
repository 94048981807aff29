//! Special files a test plants where a name is expected (a FIFO, a directory, a link), in
//! `/dev/shm`, `/tmp` or a test's own directory, removed whatever the test's outcome.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

/// What to plant.
pub enum What<'a> {
    Fifo,
    Dir,
    /// A symbolic link to this target.
    Link(&'a Path),
    /// A plain file of this many bytes (as a shared-memory object shows in `/dev/shm`).
    File(u64),
}

/// Something a test put under a name, removed on drop. A FIFO is first opened for reading and
/// writing (which never blocks on Linux), so that anything stuck opening it (a build without
/// the fix, or another program sweeping the same directory) is let go before the name goes.
pub struct Planted(PathBuf);

impl Planted {
    pub fn new(path: impl Into<PathBuf>, what: What<'_>) -> Planted {
        let path = path.into();
        match what {
            What::Fifo => nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR)
                .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display())),
            What::Dir => std::fs::create_dir(&path).unwrap(),
            What::Link(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            What::File(len) => std::fs::File::create(&path)
                .and_then(|file| file.set_len(len))
                .unwrap(),
        }
        Planted(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let meta = std::fs::symlink_metadata(&self.0);
        if meta.as_ref().is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir_all(&self.0);
            return;
        }
        if meta.is_ok_and(|m| m.file_type().is_fifo()) {
            let _release = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.0);
        }
        let _ = std::fs::remove_file(&self.0);
    }
}
