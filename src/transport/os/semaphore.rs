//! Named POSIX semaphores (`sem_open`, shown as `/dev/shm/sem.<name>`): an owner that
//! unlinks the name it created, waits bounded by a [`WaitBudget`] and optionally spinning on
//! `sem_trywait` first, and the realtime deadlines `sem_timedwait` takes.

use std::fs::File;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::linkat;

use crate::transport::error::TransportError;
use crate::transport::names::PosixObject;
use crate::transport::os::file_kind::FileKind;
use crate::transport::os::owner_lock;
use crate::transport::os::shm::{c_name, ObjectAccess, SHM_DIR};
use crate::transport::os::sigbus::{self, Registration};
use crate::transport::os::watchdog;
use crate::transport::wait::{
    idle_until_request, spin_until, PeerWatch, WaitBudget, IDLE_SLICE, WAIT_SLICE,
};

/// A named POSIX semaphore (`sem_open`), which nix does not wrap. glibc maps each one from its
/// own file, `/dev/shm/sem.<name>`, at a page boundary: a mapping like any other, watched for
/// truncation the same way. One window stays open: a truncation in the instant between glibc's
/// atomic on the semaphore and its `FUTEX_WAIT` makes the kernel answer EFAULT, on which glibc
/// aborts the process.
pub struct NamedSemaphore {
    name: String,
    sem: NonNull<libc::sem_t>,
    owner: bool,
    /// The creator's owner lock on the semaphore's file, as for [`SharedMemory`](super::shm::SharedMemory).
    _owner_file: Option<std::fs::File>,
    registration: Registration,
    /// How long a wait spins on `sem_trywait` before it blocks; 0 (the default) blocks at once.
    spin_budget: Duration,
}

impl NamedSemaphore {
    /// Creates the semaphore exclusively (0600) with `initial` as its value.
    ///
    /// Not with glibc's `sem_open(O_CREAT)`, which writes the semaphore into a file of a random
    /// name (`sem.XXXXXX`) and then links it to its own: a creator killed in between (a server
    /// torn down while it makes its semaphores) leaves a file that no cleaner can tell from
    /// anyone's. Here the file has no name until it is whole ([`make_semaphore_file`]), and
    /// glibc then opens it by name as it opens any semaphore.
    pub fn create(name: &str, initial: u32) -> Result<NamedSemaphore, TransportError> {
        let cname = c_name(name)?;
        let owner_file = make_semaphore_file(name, initial)?;
        // SAFETY: cname is a valid C string; without O_CREAT no varargs are read.
        let sem = unsafe { libc::sem_open(cname.as_ptr(), 0) };
        if sem.is_null() || sem == libc::SEM_FAILED {
            let opening = TransportError::os(format!("creating semaphore {name}"), Errno::last());
            // The name this process just linked (glibc's own unlink might resolve it otherwise).
            let _ = std::fs::remove_file(semaphore_path(name));
            return Err(opening);
        }
        let mut semaphore = Self::from_raw(name, sem, true, "creating")?;
        semaphore._owner_file = Some(owner_file);
        Ok(semaphore)
    }

    /// Opens an existing semaphore. glibc opens its file without following a link and maps
    /// it, which fails on anything but a file; a look first names what is there instead.
    pub fn open(name: &str) -> Result<NamedSemaphore, TransportError> {
        let cname = c_name(name)?;
        let path = semaphore_path(name);
        match FileKind::of_name(Path::new(&path)) {
            Ok(Some(found)) if found != FileKind::Regular => {
                return Err(TransportError::NotAnObject {
                    object: PosixObject::Semaphore(name.to_string()),
                    path,
                    found: found.describe(),
                })
            }
            _ => {}
        }
        // SAFETY: cname is a valid C string; without O_CREAT no varargs are read.
        let sem = unsafe { libc::sem_open(cname.as_ptr(), 0) };
        Self::from_raw(name, sem, false, "opening")
    }

    fn from_raw(
        name: &str,
        sem: *mut libc::sem_t,
        owner: bool,
        op: &str,
    ) -> Result<NamedSemaphore, TransportError> {
        // SEM_FAILED is NULL on Linux; checking both keeps the NonNull honest anywhere.
        let sem = NonNull::new(sem)
            .filter(|sem| sem.as_ptr() != libc::SEM_FAILED)
            .ok_or_else(|| TransportError::os(format!("{op} semaphore {name}"), Errno::last()))?;
        // SAFETY: glibc's sem_open returns the start of its own MAP_SHARED mapping of the
        // semaphore's file, unmapped by sem_close in our Drop; accesses borrow the semaphore,
        // and only glibc's atomics touch the sem_t.
        match unsafe { sigbus::register(sem.cast(), std::mem::size_of::<libc::sem_t>()) } {
            Ok(registration) => Ok(NamedSemaphore {
                name: name.to_string(),
                sem,
                owner,
                _owner_file: None,
                registration,
                spin_budget: Duration::ZERO,
            }),
            Err(source) => {
                close_semaphore(sem, owner.then_some(name));
                Err(TransportError::TruncationWatch {
                    name: name.to_string(),
                    source,
                })
            }
        }
    }

    /// The same semaphore, whose waits spin on `sem_trywait` for up to `budget` before they
    /// block. The semaphore and what is posted to it stay the same: only the waiter differs.
    pub fn spinning_for(mut self, budget: Duration) -> NamedSemaphore {
        self.spin_budget = budget;
        self
    }

    /// Whether its waits spin before they block (a spin budget above zero).
    pub fn spins(&self) -> bool {
        !self.spin_budget.is_zero()
    }

    /// Begins a semaphore call: every sem_* call goes under one of these.
    #[inline(always)]
    fn access(&self) -> ObjectAccess<'_> {
        ObjectAccess {
            guard: self.registration.begin_access(),
            name: &self.name,
            kind: PosixObject::Semaphore,
        }
    }

    /// Increments the semaphore. A release operation: writes before it are visible to whoever
    /// acquires the semaphore next (POSIX lists sem_post among the memory-synchronising calls).
    // Inlined, as every call on the round trip's path, and with its errors built out of
    // line: the server's echo costs less the fewer cache lines of code it runs through after
    // each switch between the processes (docs/own-cost.md).
    #[inline(always)]
    pub fn post(&self) -> Result<(), TransportError> {
        let access = self.access();
        // SAFETY: self.sem is a live semaphore from sem_open.
        let posted = unsafe { libc::sem_post(self.sem.as_ptr()) } == 0;
        // errno is read only on failure: nix's conversion of it is a long match.
        let errno = (!posted).then(Errno::last);
        access.check()?;
        match errno {
            None => Ok(()),
            Some(errno) => Err(self.failed("posting", errno)),
        }
    }

    /// The error of a sem_* call that failed, built out of line.
    #[cold]
    #[inline(never)]
    fn failed(&self, doing: &str, errno: Errno) -> TransportError {
        TransportError::os(format!("{doing} semaphore {}", self.name), errno)
    }

    /// Decrements the semaphore, waiting at most `timeout` in total (plus up to one slice, see
    /// [`WaitBudget`]). Waits in slices and asks `watch` between them, so a dead peer or an
    /// interrupt ends the wait early.
    pub fn wait(&self, timeout: Duration, watch: &dyn PeerWatch) -> Result<(), TransportError> {
        if self.spin_wait()? {
            return Ok(());
        }
        let mut budget = WaitBudget::new(timeout, watch);
        loop {
            if self.wait_one_slice(WAIT_SLICE)? {
                return Ok(());
            }
            budget.slice_expired(&format!("semaphore {}", self.name))?;
        }
    }

    /// Decrements the semaphore, waiting as long as it takes unless `stop` is set.
    /// Returns false if it stopped without decrementing.
    #[inline(always)]
    pub fn wait_unless_stopped(&self, stop: &AtomicBool) -> Result<bool, TransportError> {
        if self.spin_wait()? {
            return Ok(true);
        }
        // The closure inlined too: a call of its own per request on the server's path.
        idle_until_request(
            stop,
            #[inline(always)]
            || self.wait_one_slice(IDLE_SLICE),
        )
    }

    /// Decrements the semaphore if it is free, without waiting; false if it was not.
    #[inline(always)]
    pub fn try_wait(&self) -> Result<bool, TransportError> {
        // SAFETY: self.sem is a live semaphore from sem_open.
        self.decrement(Errno::EAGAIN, || unsafe {
            libc::sem_trywait(self.sem.as_ptr())
        })
    }

    /// Tries to decrement the semaphore for up to the spin budget; false once it is spent, at
    /// once without a budget (the blocking wait then tries first, without a system call).
    #[inline(always)]
    fn spin_wait(&self) -> Result<bool, TransportError> {
        let decremented = spin_until(self.spin_budget, || match self.try_wait() {
            Ok(false) => None,
            other => Some(other),
        });
        decremented.unwrap_or(Ok(false))
    }

    /// One blocking wait, of one slice; true if the semaphore was decremented. The slice is
    /// the [`watchdog`]'s, which interrupts a plain `sem_wait` after one to two periods, or,
    /// where this process has no watchdog, `slice`, given to `sem_timedwait` (which arms a
    /// kernel timer on every call that sleeps). A signal (SIGTERM, SIGINT) ends a slice early.
    #[inline(always)]
    fn wait_one_slice(&self, slice: Duration) -> Result<bool, TransportError> {
        if let Some(_watched) = watchdog::begin() {
            // glibc's sem_wait decrements a free semaphore without a system call.
            // SAFETY: self.sem is a live semaphore from sem_open.
            return self.decrement(Errno::EINTR, || unsafe {
                libc::sem_wait(self.sem.as_ptr())
            });
        }
        self.wait_one_timed_slice(slice)
    }

    /// [`wait_one_slice`](NamedSemaphore::wait_one_slice) without a watchdog: out of line.
    #[cold]
    #[inline(never)]
    fn wait_one_timed_slice(&self, slice: Duration) -> Result<bool, TransportError> {
        // The fast path does not read the clock, as the deadline must.
        if self.try_wait()? {
            return Ok(true);
        }
        let deadline = realtime_deadline_after(slice)?;
        // SAFETY: self.sem is a live semaphore; deadline is a valid timespec that outlives the call.
        self.decrement(Errno::ETIMEDOUT, || unsafe {
            libc::sem_timedwait(self.sem.as_ptr(), &deadline)
        })
    }

    /// Runs `sem_call` (a sem_*wait): true if it decremented the semaphore, false if it failed
    /// with `not_now` (not free, or the slice ran out) or was interrupted by a signal, which
    /// ends the slice: the caller asks its budget and its watch before it waits again.
    #[inline(always)]
    fn decrement(
        &self,
        not_now: Errno,
        sem_call: impl Fn() -> libc::c_int,
    ) -> Result<bool, TransportError> {
        let access = self.access();
        let decremented = sem_call() == 0;
        // errno is read only on failure: nix's conversion of it is a long match.
        let errno = (!decremented).then(Errno::last);
        access.check()?;
        let Some(errno) = errno else {
            return Ok(true);
        };
        match errno {
            e if e == not_now || e == Errno::EINTR => Ok(false),
            e => Err(self.failed("waiting on", e)),
        }
    }
}

// SAFETY: a sem_t from sem_open is designed for use from any thread and process; its mapping is
// owned by the struct (closed when dropped) and moves with it. Its SIGBUS guard survives a move
// to another thread as SharedMemory's does: the registration is process-wide, and the per-thread
// bit is set only for the length of one call, by an access that borrows the semaphore and is not
// Send.
unsafe impl Send for NamedSemaphore {}

/// The absolute `CLOCK_REALTIME` deadline `slice` from now, as `sem_timedwait` and
/// `mq_timedreceive` take it. Slices are short, so a wall clock step costs at most one extra
/// slice, and the overall bound (a [`WaitBudget`] on the monotonic clock) stays monotonic.
pub fn realtime_deadline_after(slice: Duration) -> Result<libc::timespec, TransportError> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .map_err(|e| TransportError::os("reading the clock", e))?;
    let total_ns = now.tv_nsec() as u64 + u64::from(slice.subsec_nanos());
    Ok(libc::timespec {
        tv_sec: now.tv_sec()
            + slice.as_secs() as libc::time_t
            + (total_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (total_ns % 1_000_000_000) as libc::c_long,
    })
}

impl Drop for NamedSemaphore {
    fn drop(&mut self) {
        close_semaphore(self.sem, self.owner.then_some(&self.name));
    }
}

/// Closes a semaphore from sem_open and, if `unlink` names it, removes the name.
fn close_semaphore(sem: NonNull<libc::sem_t>, unlink: Option<&str>) {
    // SAFETY: sem came from sem_open and is closed exactly once: by its owner's Drop, or on
    // the error path of from_raw, which then builds no owner.
    unsafe { libc::sem_close(sem.as_ptr()) };
    if let Some(name) = unlink {
        unlink_semaphore(name);
    }
}

/// Makes the file of a new semaphore `name`, holding `initial`, and returns it with its owner
/// lock held: written and locked while it has no name (`O_TMPFILE` in `/dev/shm`), then given
/// the semaphore's name ([`give_name`]), which fails if anything has it. A creator killed at
/// any moment leaves either nothing or the whole semaphore under its own name, which the
/// channel's cleaners know.
fn make_semaphore_file(name: &str, initial: u32) -> Result<File, TransportError> {
    let creating = |errno| TransportError::os(format!("creating semaphore {name}"), errno);
    // As glibc refuses it: a name is one file of /dev/shm, never a path through a directory.
    let bare = name.trim_start_matches('/');
    if bare.is_empty() || bare.contains('/') {
        return Err(creating(Errno::EINVAL));
    }
    let bytes = semaphore_bytes(initial).map_err(creating)?;
    let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(SHM_DIR, flags, Mode::S_IRUSR | Mode::S_IWUSR).map_err(creating)?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    owner_lock::hold(&file).map_err(creating)?;
    (file.write_all(&bytes))
        .map_err(|e| TransportError::io(format!("creating semaphore {name}"), e))?;
    give_name(&file, &semaphore_path(name)).map_err(|(how, errno)| {
        TransportError::os(format!("creating semaphore {name}{how}"), errno)
    })?;
    Ok(file)
}

/// Links the unnamed `file` at `path`, which fails if anything is there (a link is not
/// followed). Through the descriptor itself (`AT_EMPTY_PATH`: Linux lets the file's opener do
/// it since 6.10, before only a process with CAP_DAC_READ_SEARCH), else through its entry in
/// `/proc/self/fd` (open(2) on `O_TMPFILE`). What got the name is then checked to be this
/// file, which a `/proc` other than the kernel's could make another; if not, the name is taken
/// back. The error says how it was named when that is what failed.
fn give_name(file: &File, path: &str) -> Result<(), (String, Errno)> {
    let fd = file.as_raw_fd();
    match linkat(Some(fd), "", None, path, AtFlags::AT_EMPTY_PATH) {
        Err(Errno::ENOENT | Errno::EPERM) => link_through_proc(file, path)?,
        other => other.map_err(|errno| (String::new(), errno))?,
    }
    match nix::sys::stat::fstat(fd) {
        Ok(stat) if stat.st_nlink == 1 => Ok(()),
        checked => {
            let _ = nix::unistd::unlink(path);
            Err(match checked {
                Err(errno) => (" (checking the name it was given)".to_string(), errno),
                Ok(_) => (
                    ": /proc/self/fd named another file".to_string(),
                    Errno::EXDEV,
                ),
            })
        }
    }
}

/// Links the unnamed `file` at `path` through its entry in `/proc/self/fd`.
fn link_through_proc(file: &File, path: &str) -> Result<(), (String, Errno)> {
    let entry = format!("/proc/self/fd/{}", file.as_raw_fd());
    let linked = linkat(None, entry.as_str(), None, path, AtFlags::AT_SYMLINK_FOLLOW);
    linked.map_err(|errno| match errno {
        Errno::EEXIST => (String::new(), errno),
        _ => (format!(" (naming it through {entry})"), errno),
    })
}

/// The bytes of a process-shared semaphore holding `initial`: what this C library's `sem_init`
/// makes of one, which is what its `sem_open` writes into a new semaphore's file (glibc on
/// x86_64: an 8-byte word, the value in its low half and the waiters in its high half, then a
/// 4-byte word holding 128, `FUTEX_SHARED`, then zeros).
fn semaphore_bytes(initial: u32) -> Result<[u8; SEM_SIZE], Errno> {
    let mut sem = MaybeUninit::<libc::sem_t>::zeroed();
    // SAFETY: sem is writable memory of a sem_t's size; pshared 1 asks for a shared semaphore.
    Errno::result(unsafe { libc::sem_init(sem.as_mut_ptr(), 1, initial) })?;
    // SAFETY: zeroed, then initialised by sem_init: every byte is set. A sem_t holds no
    // resource (sem_destroy frees nothing), so a copy of its bytes is all there is.
    Ok(unsafe { std::mem::transmute::<libc::sem_t, [u8; SEM_SIZE]>(sem.assume_init()) })
}

const SEM_SIZE: usize = std::mem::size_of::<libc::sem_t>();

/// Where glibc keeps a semaphore: `/dev/shm/sem.<name>`.
fn semaphore_path(name: &str) -> String {
    format!("{SHM_DIR}/sem.{}", name.trim_start_matches('/'))
}

/// Removes a semaphore name; true if it existed.
pub fn unlink_semaphore(name: &str) -> bool {
    match c_name(name) {
        // SAFETY: cname is a valid C string.
        Ok(cname) => unsafe { libc::sem_unlink(cname.as_ptr()) == 0 },
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::transport::os::owner_lock::{liveness, Liveness};

    /// A semaphore name of this test process that no driver's cleaner takes for its own.
    fn unique_name(tag: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("/tbtest_sem_{}_{tag}_{n}", std::process::id())
    }

    fn file_of(name: &str) -> std::path::PathBuf {
        Path::new(&semaphore_path(name)).to_path_buf()
    }

    /// glibc's own `sem_open(O_CREAT | O_EXCL)` of `name`, closed again: its file stays.
    fn glibc_creates(name: &str, initial: u32) {
        let cname = CString::new(name).unwrap();
        // SAFETY: a valid C string; O_CREAT takes exactly the mode and value varargs.
        let sem = unsafe {
            libc::sem_open(
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL,
                0o600 as libc::c_uint,
                initial as libc::c_uint,
            )
        };
        assert!(
            !sem.is_null() && sem != libc::SEM_FAILED,
            "{}",
            Errno::last()
        );
        // SAFETY: sem came from sem_open just now.
        unsafe { libc::sem_close(sem) };
    }

    #[test]
    fn a_new_semaphore_file_is_byte_for_byte_what_sem_open_makes() {
        for initial in [0, 1, 2, 65_537] {
            let (ours, glibcs) = (unique_name("ours"), unique_name("glibc"));
            let semaphore = NamedSemaphore::create(&ours, initial).unwrap();
            glibc_creates(&glibcs, initial);
            let theirs = std::fs::read(file_of(&glibcs)).unwrap();
            unlink_semaphore(&glibcs);
            let made = std::fs::read(file_of(&ours)).unwrap();
            drop(semaphore);
            assert_eq!(made.len(), SEM_SIZE);
            assert_eq!(made, theirs, "initial value {initial}");
        }
    }

    #[test]
    fn a_new_semaphore_counts_from_its_value_and_is_held_until_its_creator_drops_it() {
        let name = unique_name("count");
        let created = NamedSemaphore::create(&name, 2).unwrap();
        let opened = NamedSemaphore::open(&name).unwrap();
        let taken: Vec<bool> = (0..3).map(|_| opened.try_wait().unwrap()).collect();
        assert_eq!(taken, [true, true, false]);
        created.post().unwrap();
        assert!(
            opened.try_wait().unwrap(),
            "a post through the creator's mapping counts"
        );
        assert_eq!(liveness(&file_of(&name), FileKind::Regular), Liveness::Held);
        drop(opened);
        drop(created);
        assert_eq!(liveness(&file_of(&name), FileKind::Regular), Liveness::Gone);
    }

    #[test]
    fn creating_over_a_taken_name_fails_and_leaves_what_is_there() {
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("never-made");
        for tag in ["file", "link", "fifo"] {
            let name = unique_name(tag);
            let path = file_of(&name);
            match tag {
                "file" => (std::fs::OpenOptions::new().write(true).create_new(true))
                    .open(&path)
                    .and_then(|mut file| file.write_all(b"someone's"))
                    .unwrap(),
                "link" => std::os::unix::fs::symlink(&target, &path).unwrap(),
                _ => nix::unistd::mkfifo(&path, Mode::S_IRWXU).unwrap(),
            }
            let before = std::fs::symlink_metadata(&path).unwrap();
            let error = NamedSemaphore::create(&name, 1)
                .err()
                .map(|e| e.to_string());
            let after = std::fs::symlink_metadata(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            let error = error.unwrap_or_else(|| panic!("created over a {tag}"));
            assert!(
                error.contains(&format!("creating semaphore {name}")),
                "{error}"
            );
            assert!(error.contains("File exists"), "{error}");
            assert_eq!(after.ino(), before.ino(), "the {tag} is the same");
            assert_eq!(after.len(), before.len(), "the {tag} is untouched");
        }
        assert!(!target.exists(), "the link was not followed");
    }

    #[test]
    fn a_value_past_the_largest_is_refused_before_anything_is_made() {
        let name = unique_name("toolarge");
        let error = NamedSemaphore::create(&name, u32::MAX)
            .err()
            .map(|e| e.to_string());
        assert_eq!(FileKind::of_name(&file_of(&name)).unwrap(), None);
        let error = error.expect("a value past SEM_VALUE_MAX was taken");
        assert!(error.contains("Invalid argument"), "{error}");
    }

    /// The way kernels before 6.10 leave an unprivileged creator (this kernel may take the
    /// direct way first, so this one is tried on its own).
    #[test]
    fn an_unnamed_file_is_named_through_proc_as_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir.path(), flags, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        // SAFETY: a new descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let path = dir.path().join("named");
        link_through_proc(&file, path.to_str().unwrap()).unwrap();
        let (named, opened) = (std::fs::metadata(&path).unwrap(), file.metadata().unwrap());
        assert_eq!((named.dev(), named.ino()), (opened.dev(), opened.ino()));
        let again = link_through_proc(&file, path.to_str().unwrap()).unwrap_err();
        assert_eq!(again, (String::new(), Errno::EEXIST));
    }

    #[test]
    fn a_name_that_is_a_path_is_refused_before_anything_is_made() {
        let dir = unique_name("dir");
        std::fs::create_dir(file_of(&dir)).unwrap();
        let through = format!("{dir}/inside");
        let error = NamedSemaphore::create(&through, 1)
            .err()
            .map(|e| e.to_string());
        let made = std::fs::read_dir(file_of(&dir)).unwrap().count();
        std::fs::remove_dir_all(file_of(&dir)).unwrap();
        assert_eq!(made, 0);
        let error = error.expect("a name through a directory was taken");
        assert!(error.contains("Invalid argument"), "{error}");
        for name in ["/", ""] {
            assert!(
                NamedSemaphore::create(name, 1).is_err(),
                "'{name}' was taken"
            );
        }
    }
}
