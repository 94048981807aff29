//! Thin owners of named POSIX IPC objects: shared-memory mappings and semaphores.
//!
//! Both kinds outlive the processes that create them, so each wrapper remembers whether it
//! created its object and, if so, unlinks the name when dropped. Openers only close.
//!
//! Both are mappings another process can truncate, so each is registered with [`sigbus`] and
//! accessed only under an [`ObjectAccess`], which turns the truncation into an error.

use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{mmap, munmap, shm_open, shm_unlink, MapFlags, ProtFlags};
use nix::sys::stat::{fstat, Mode};

use super::sigbus::{self, Registration};
use super::spin_wait::spin_until;
use super::toolkit::{idle_until_request, WaitBudget, IDLE_SLICE, WAIT_SLICE};
use super::{mqueue, owner_lock, PeerWatch, TransportError};

fn c_name(name: &str) -> Result<CString, TransportError> {
    CString::new(name).map_err(|source| TransportError::InvalidObjectName {
        name: name.to_string(),
        source,
    })
}

/// Where Linux keeps POSIX shared memory and named semaphores (`sem.<name>`).
pub const SHM_DIR: &str = "/dev/shm";

/// A `MAP_SHARED` mapping of a named POSIX shared-memory object.
pub struct SharedMemory {
    name: String,
    ptr: NonNull<u8>,
    len: usize,
    owner: bool,
    /// The creator keeps its descriptor, and with it an owner lock ([`owner_lock`]): proof of
    /// life for cleaners in any PID namespace, released by the kernel however we end.
    owner_fd: Option<OwnedFd>,
    registration: Registration,
}

// SAFETY: the mapping is plain memory shared with another process; all access goes through raw
// pointers under the semaphore protocol of the transport that owns it, never through references.
unsafe impl Send for SharedMemory {}

impl SharedMemory {
    /// Creates the object exclusively (0600) with `len` bytes, all of them reserved now. Fails
    /// if the name exists: a squatter's object must never be used.
    pub fn create(name: &str, len: usize) -> Result<SharedMemory, TransportError> {
        let cname = c_name(name)?;
        let fd = shm_open(
            cname.as_c_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map_err(|e| TransportError::os(format!("creating shared memory {name}"), e))?;
        // From here on the name is ours: unlink it if anything below fails.
        let unlink_on_error = |e: TransportError| {
            let _ = shm_unlink(cname.as_c_str());
            e
        };
        let os_error = |op: &str| {
            let op = format!("{op} shared memory {name}");
            move |e: nix::Error| TransportError::os(op, e)
        };
        owner_lock::hold(&fd)
            .map_err(os_error("locking"))
            .map_err(unlink_on_error)?;
        set_size(&fd, name, len).map_err(unlink_on_error)?;
        let ptr = map(&fd, len)
            .map_err(os_error("mapping"))
            .map_err(unlink_on_error)?;
        // Mapped first, so that an address space too small fails before any page is taken.
        let memory = SharedMemory::adopt(name, ptr, len, true, Some(fd))?;
        memory.reserve()?;
        Ok(memory)
    }

    /// The size of an existing object, read without mapping or changing it: what a server
    /// that is not ours made, before a client maps it.
    pub fn size_of(name: &str) -> Result<usize, TransportError> {
        let cname = c_name(name)?;
        let fd = shm_open(cname.as_c_str(), OFlag::O_RDONLY, Mode::empty())
            .map_err(|e| TransportError::os(format!("opening shared memory {name}"), e))?;
        let stat = fstat(fd.as_raw_fd())
            .map_err(|e| TransportError::os(format!("inspecting shared memory {name}"), e))?;
        Ok(usize::try_from(stat.st_size).unwrap_or(0))
    }

    /// Opens an existing object and maps its first `len` bytes, refusing one that is smaller.
    pub fn open(name: &str, len: usize) -> Result<SharedMemory, TransportError> {
        let cname = c_name(name)?;
        let fd = shm_open(cname.as_c_str(), OFlag::O_RDWR, Mode::empty())
            .map_err(|e| TransportError::os(format!("opening shared memory {name}"), e))?;
        let stat = fstat(fd.as_raw_fd())
            .map_err(|e| TransportError::os(format!("inspecting shared memory {name}"), e))?;
        let actual = usize::try_from(stat.st_size).unwrap_or(0);
        if actual < len {
            return Err(TransportError::ObjectTooSmall {
                name: name.to_string(),
                actual,
                required: len,
            });
        }
        let ptr = map(&fd, len)
            .map_err(|e| TransportError::os(format!("mapping shared memory {name}"), e))?;
        SharedMemory::adopt(name, ptr, len, false, None)
    }

    /// Takes over a fresh mapping of `name` and registers it with the SIGBUS handler. If that
    /// fails, the mapping is released (and the name unlinked, for its owner) before returning.
    fn adopt(
        name: &str,
        ptr: NonNull<u8>,
        len: usize,
        owner: bool,
        owner_fd: Option<OwnedFd>,
    ) -> Result<SharedMemory, TransportError> {
        // SAFETY: ptr/len are one MAP_SHARED mapping as mmap returned it; the SharedMemory owns
        // both it and the registration, so it stays mapped while an access (which borrows the
        // SharedMemory) is alive, and it is only reached through raw pointers and atomics.
        match unsafe { sigbus::register(ptr, len) } {
            Ok(registration) => Ok(SharedMemory {
                name: name.to_string(),
                ptr,
                len,
                owner,
                owner_fd,
                registration,
            }),
            Err(source) => {
                release_mapping(ptr, len, owner.then_some(name));
                Err(TransportError::TruncationWatch {
                    name: name.to_string(),
                    source,
                })
            }
        }
    }

    /// Begins reading or writing the mapping: every access to it goes under one of these.
    pub fn access(&self) -> ObjectAccess<'_> {
        ObjectAccess {
            guard: self.registration.begin_access(),
            name: &self.name,
            kind: PosixObject::SharedMemory,
        }
    }

    /// Reserves every page of an object we created. tmpfs allocates a page when it is first
    /// touched, so without the reservation a full /dev/shm shows up later as SIGBUS in
    /// whichever process touches the page first; `posix_fallocate` makes it ENOSPC here, at
    /// creation. (Dropping `self` on failure unlinks the name.)
    fn reserve(&self) -> Result<(), TransportError> {
        let fd = self.owner_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        // len fits off_t: set_size checked it.
        let size = self.len as libc::off_t;
        match nix::fcntl::posix_fallocate(fd, 0, size) {
            Ok(()) => Ok(()),
            Err(Errno::ENOSPC) => Err(TransportError::NoSpace {
                what: self.name.clone(),
                bytes: self.len,
                free: shm_free_bytes(),
            }),
            Err(e) => Err(TransportError::os(
                format!("reserving shared memory {}", self.name),
                e,
            )),
        }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn set_size(fd: &OwnedFd, name: &str, len: usize) -> Result<(), TransportError> {
    let size = libc::off_t::try_from(len)
        .map_err(|source| TransportError::BufferTooLarge { len, source })?;
    nix::unistd::ftruncate(fd, size)
        .map_err(|e| TransportError::os(format!("sizing shared memory {name}"), e))
}

/// Bytes still free in /dev/shm for us, if the file system says.
pub fn shm_free_bytes() -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(SHM_DIR).ok()?;
    Some(stat.blocks_available().saturating_mul(stat.fragment_size()))
}

fn map(fd: &impl AsFd, len: usize) -> Result<NonNull<u8>, nix::Error> {
    let length = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    // SAFETY: a fresh mapping at an address the kernel chooses aliases no Rust object; the fd is
    // valid for the call and the mapping stays valid after it is closed.
    let ptr = unsafe {
        mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            fd,
            0,
        )?
    };
    Ok(ptr.cast())
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // The registration is dropped just after this unmaps: no access can be in progress
        // while we are dropped, and the handler only looks at mappings being accessed.
        release_mapping(self.ptr, self.len, self.owner.then_some(&self.name));
    }
}

/// Unmaps a mapping and, if `unlink` names its object, removes the name.
fn release_mapping(ptr: NonNull<u8>, len: usize, unlink: Option<&str>) {
    // SAFETY: ptr/len are exactly what mmap returned and nothing borrows the mapping now.
    let _ = unsafe { munmap(ptr.cast(), len) };
    if let Some(name) = unlink {
        unlink_shared_memory(name);
    }
}

/// An access in progress to a mapped object (its memory, or a semaphore call), watched for
/// truncation by [`sigbus`]. Ask [`check`](ObjectAccess::check) after the access: if another
/// process truncated the object, the access completed on zeros and this is the error to return.
pub struct ObjectAccess<'a> {
    guard: sigbus::Access<'a>,
    name: &'a str,
    kind: fn(String) -> PosixObject,
}

impl ObjectAccess<'_> {
    /// Fails if the object was truncated, during this access or before it.
    pub fn check(&self) -> Result<(), TransportError> {
        if self.guard.truncated() {
            return Err(TransportError::Truncated {
                object: (self.kind)(self.name.to_string()),
            });
        }
        Ok(())
    }

    /// `result` of an operation on the object, unless the object was truncated meanwhile: then
    /// the truncation, which explains whatever else went wrong (zeros read as a length, a futex
    /// call on a lost page).
    pub fn checked<T>(&self, result: Result<T, TransportError>) -> Result<T, TransportError> {
        self.check()?;
        result
    }
}

/// Bytes of a shared mapping lent, in place, to code outside the transport: a request being
/// written straight into shared memory, or a reply read where it lies. The access to the
/// mapping stays open for as long as the bytes are lent, so a truncation by another process
/// meanwhile completes on zeros instead of killing us, and [`release`](SharedBytes::release)
/// reports it: trust what was read, or count what was written as sent, only once `release`
/// said Ok.
///
/// The only place where Rust code holds a reference into a mapping (elsewhere raw pointers
/// and atomics): the bytes are plain data, read for their values or compared, never trusted for
/// a length, an index or a pointer; nothing the handler's zeros or a misbehaving peer's writes
/// do to them can do more than fail the echo check, and `release` names the truncation first.
pub struct SharedBytes<'a> {
    ptr: NonNull<u8>,
    len: usize,
    access: ObjectAccess<'a>,
}

impl<'a> SharedBytes<'a> {
    /// # Safety
    /// `[ptr, ptr + len)` must lie inside the mapping that `access` is an access to, and the
    /// transport's protocol must give this side those bytes (no other process of the protocol
    /// touches them) for as long as the `SharedBytes` lives.
    pub unsafe fn new(access: ObjectAccess<'a>, ptr: NonNull<u8>, len: usize) -> SharedBytes<'a> {
        SharedBytes { ptr, len, access }
    }

    /// Ends the loan: fails if the mapping was truncated while (or before) the bytes were lent,
    /// which makes whatever was read from them zeros, and whatever was written lost.
    pub fn release(self) -> Result<(), TransportError> {
        self.access.check()
    }
}

impl std::ops::Deref for SharedBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: inside a live mapping, ours by the protocol while lent (see new); the access
        // open since then turns a truncation into zeros instead of SIGBUS.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for SharedBytes<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for deref; `&mut self` makes this the only view of the bytes in-process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// Removes a shared-memory name; true if it existed.
pub fn unlink_shared_memory(name: &str) -> bool {
    c_name(name)
        .map(|cname| shm_unlink(cname.as_c_str()).is_ok())
        .unwrap_or(false)
}

/// A named POSIX semaphore (`sem_open`), which nix does not wrap. glibc maps each one from its
/// own file, `/dev/shm/sem.<name>`, at a page boundary: a mapping like any other, watched for
/// truncation the same way. One window stays open: a truncation in the instant between glibc's
/// atomic on the semaphore and its `FUTEX_WAIT` makes the kernel answer EFAULT, on which glibc
/// aborts the process.
pub struct NamedSemaphore {
    name: String,
    sem: NonNull<libc::sem_t>,
    owner: bool,
    /// The creator's owner lock on the semaphore's file, as for [`SharedMemory`].
    _owner_file: Option<std::fs::File>,
    registration: Registration,
    /// How long a wait spins on `sem_trywait` before it blocks; 0 (the default) blocks at once.
    spin_budget: Duration,
}

// SAFETY: a sem_t from sem_open is designed for use from any thread and process.
unsafe impl Send for NamedSemaphore {}

impl NamedSemaphore {
    /// Creates the semaphore exclusively (0600) with `initial` as its value.
    pub fn create(name: &str, initial: u32) -> Result<NamedSemaphore, TransportError> {
        let cname = c_name(name)?;
        let mode: libc::c_uint = 0o600;
        // SAFETY: cname is a valid C string; O_CREAT takes exactly the mode and value varargs.
        let sem = unsafe {
            libc::sem_open(
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL,
                mode,
                initial as libc::c_uint,
            )
        };
        let mut semaphore = Self::from_raw(name, sem, true, "creating")?;
        semaphore._owner_file = lock_semaphore_file(name);
        Ok(semaphore)
    }

    /// Opens an existing semaphore.
    pub fn open(name: &str) -> Result<NamedSemaphore, TransportError> {
        let cname = c_name(name)?;
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

    /// Begins a semaphore call: every sem_* call goes under one of these.
    fn access(&self) -> ObjectAccess<'_> {
        ObjectAccess {
            guard: self.registration.begin_access(),
            name: &self.name,
            kind: PosixObject::Semaphore,
        }
    }

    /// Increments the semaphore. A release operation: writes before it are visible to whoever
    /// acquires the semaphore next (POSIX lists sem_post among the memory-synchronising calls).
    pub fn post(&self) -> Result<(), TransportError> {
        let access = self.access();
        // SAFETY: self.sem is a live semaphore from sem_open.
        let posted = unsafe { libc::sem_post(self.sem.as_ptr()) } == 0;
        let errno = Errno::last();
        access.check()?;
        if posted {
            Ok(())
        } else {
            Err(TransportError::os(
                format!("posting semaphore {}", self.name),
                errno,
            ))
        }
    }

    /// Decrements the semaphore, waiting at most `timeout` in total (plus up to one slice, see
    /// [`WaitBudget`]). Waits in slices and asks `watch` between them, so a dead peer or an
    /// interrupt ends the wait early.
    pub fn wait(&self, timeout: Duration, watch: &dyn PeerWatch) -> Result<(), TransportError> {
        if self.try_wait()? || self.spin_wait()? {
            return Ok(());
        }
        let mut budget = WaitBudget::new(timeout, watch);
        loop {
            if self.timed_wait(WAIT_SLICE)? {
                return Ok(());
            }
            budget.slice_expired(&format!("semaphore {}", self.name))?;
        }
    }

    /// Decrements the semaphore, waiting as long as it takes unless `stop` is set.
    /// Returns false if it stopped without decrementing.
    pub fn wait_unless_stopped(&self, stop: &AtomicBool) -> Result<bool, TransportError> {
        // The fast path does not read the clock, as timed_wait must.
        if self.try_wait()? || self.spin_wait()? {
            return Ok(true);
        }
        idle_until_request(stop, || self.timed_wait(IDLE_SLICE))
    }

    /// Decrements the semaphore if it is free, without waiting; false if it was not.
    fn try_wait(&self) -> Result<bool, TransportError> {
        // SAFETY: self.sem is a live semaphore from sem_open.
        self.decrement(Errno::EAGAIN, || unsafe {
            libc::sem_trywait(self.sem.as_ptr())
        })
    }

    /// Tries to decrement the semaphore for up to the spin budget; false once it is spent.
    fn spin_wait(&self) -> Result<bool, TransportError> {
        let decremented = spin_until(self.spin_budget, || match self.try_wait() {
            Ok(false) => None,
            other => Some(other),
        });
        decremented.unwrap_or(Ok(false))
    }

    /// One blocking wait of at most `slice`; true if the semaphore was decremented.
    fn timed_wait(&self, slice: Duration) -> Result<bool, TransportError> {
        let deadline = realtime_deadline_after(slice)?;
        // SAFETY: self.sem is a live semaphore; deadline is a valid timespec that outlives the call.
        self.decrement(Errno::ETIMEDOUT, || unsafe {
            libc::sem_timedwait(self.sem.as_ptr(), &deadline)
        })
    }

    /// Runs `sem_call` (a sem_*wait) again while a signal interrupts it: true if it decremented
    /// the semaphore, false if it failed with `not_now` (not free, or the slice ran out).
    fn decrement(
        &self,
        not_now: Errno,
        sem_call: impl Fn() -> libc::c_int,
    ) -> Result<bool, TransportError> {
        loop {
            let access = self.access();
            let decremented = sem_call() == 0;
            let errno = Errno::last();
            access.check()?;
            if decremented {
                return Ok(true);
            }
            match errno {
                Errno::EINTR => continue,
                e if e == not_now => return Ok(false),
                e => {
                    return Err(TransportError::os(
                        format!("waiting on semaphore {}", self.name),
                        e,
                    ))
                }
            }
        }
    }
}

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

/// Takes the owner lock on a semaphore's file, where glibc keeps it (`/dev/shm/sem.<name>`).
/// Without it (another C library), cleaners fall back on the pid in the name.
fn lock_semaphore_file(name: &str) -> Option<std::fs::File> {
    let path = format!("{SHM_DIR}/sem.{}", name.trim_start_matches('/'));
    let file = std::fs::File::open(path).ok()?;
    owner_lock::hold(&file).ok()?;
    Some(file)
}

/// Removes a semaphore name; true if it existed.
pub fn unlink_semaphore(name: &str) -> bool {
    match c_name(name) {
        // SAFETY: cname is a valid C string.
        Ok(cname) => unsafe { libc::sem_unlink(cname.as_ptr()) == 0 },
        Err(_) => false,
    }
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

    /// Removes the name; true if it existed.
    pub fn unlink(&self) -> bool {
        match self {
            PosixObject::SharedMemory(name) => unlink_shared_memory(name),
            PosixObject::Semaphore(name) => unlink_semaphore(name),
            PosixObject::MessageQueue(name) => mqueue::unlink_queue(name),
        }
    }

    /// Whether the name exists, found by name alone (no `/dev/mqueue` needed). One that exists
    /// but is someone else's counts as existing.
    pub fn exists(&self) -> bool {
        let bare = self.name().trim_start_matches('/');
        match self {
            PosixObject::SharedMemory(_) => Path::new(SHM_DIR).join(bare).exists(),
            PosixObject::Semaphore(_) => Path::new(SHM_DIR).join(format!("sem.{bare}")).exists(),
            PosixObject::MessageQueue(name) => mqueue::queue_exists(name),
        }
    }
}
