//! Named POSIX shared memory (`shm_open`, shown as `/dev/shm/<name>`): a mapping's owner
//! ([`SharedMemory`]), the access under which it is read and written ([`ObjectAccess`]), and
//! bytes of it lent to a caller ([`SharedBytes`]).
//!
//! The object outlives the processes that create it, so the owner remembers whether it created
//! it and, if so, unlinks the name when dropped; openers only close. Another process can
//! truncate it, so every mapping (and every semaphore, `semaphore.rs`, which is one too) is
//! registered with [`sigbus`] and touched only under an [`ObjectAccess`], which turns the
//! truncation into an error.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{mmap, munmap, shm_open, shm_unlink, MapFlags, ProtFlags};
use nix::sys::stat::{fstat, Mode};
use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;

use crate::transport::error::TransportError;
use crate::transport::names::PosixObject;
use crate::transport::os::file_kind::FileKind;
use crate::transport::os::owner_lock;
use crate::transport::os::sigbus::{self, Registration};

pub fn c_name(name: &str) -> Result<CString, TransportError> {
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

// SAFETY: the mapping is plain memory shared with another process, owned by this struct (it
// unmaps it when dropped) and moving with it; nothing about it belongs to the thread that mapped
// it. All access goes through raw pointers and atomics under the protocol of the transport that
// owns it, never through references. The SIGBUS guard stays correct across a move: the
// registration is an index into a process-wide table of atomics, and the per-thread part (the
// "accessing" bit) is set only by an `ObjectAccess`, which borrows the SharedMemory (so the
// struct cannot move while one is open) and is not Send (so it ends on the thread that began
// it). After a move, the next access sets its bit on the new thread, where the fault would be.
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
        let (_fd, size) = open_existing(name, OFlag::O_RDONLY)?;
        Ok(size)
    }

    /// Opens an existing object and maps its first `len` bytes, refusing one that is smaller.
    pub fn open(name: &str, len: usize) -> Result<SharedMemory, TransportError> {
        let (fd, actual) = open_existing(name, OFlag::O_RDWR)?;
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
    #[inline(always)]
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

/// Opens an object someone else made, and its size. `/dev/shm` is world-writable, so the name
/// may hold anything: a FIFO would block an open for reading until a writer came (forever, deaf
/// to signals) and a directory would read as a 40-byte object. So the open neither follows a
/// link nor waits, and what it opened must be a plain file, as every object is.
fn open_existing(name: &str, access: OFlag) -> Result<(OwnedFd, usize), TransportError> {
    let cname = c_name(name)?;
    let path = format!("{SHM_DIR}/{}", name.trim_start_matches('/'));
    let planted = |found: FileKind| TransportError::NotAnObject {
        object: PosixObject::SharedMemory(name.to_string()),
        path: path.clone(),
        found: found.describe(),
    };
    let flags = access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd = shm_open(cname.as_c_str(), flags, Mode::empty()).map_err(|e| {
        // A link fails as ELOOP and a directory as EINVAL (glibc folds EISDIR into it): say
        // what is there rather than the errno.
        match FileKind::of_name(Path::new(&path)) {
            Ok(Some(found)) if e != Errno::ENOENT && found != FileKind::Regular => planted(found),
            _ => TransportError::os(format!("opening shared memory {name}"), e),
        }
    })?;
    let stat = fstat(fd.as_raw_fd())
        .map_err(|e| TransportError::os(format!("inspecting shared memory {name}"), e))?;
    match FileKind::of_mode(stat.st_mode) {
        FileKind::Regular => Ok((fd, usize::try_from(stat.st_size).unwrap_or(0))),
        found => Err(planted(found)),
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
    pub(super) guard: sigbus::Access<'a>,
    pub(super) name: &'a str,
    pub(super) kind: fn(String) -> PosixObject,
}

impl ObjectAccess<'_> {
    /// Fails if the object was truncated, during this access or before it.
    #[inline(always)]
    pub fn check(&self) -> Result<(), TransportError> {
        if self.guard.truncated() {
            return Err(self.truncated());
        }
        Ok(())
    }

    /// The error of a truncated object: out of line, so that the checks stay small.
    #[cold]
    #[inline(never)]
    fn truncated(&self) -> TransportError {
        TransportError::Truncated {
            object: (self.kind)(self.name.to_string()),
        }
    }

    /// `result` of an operation on the object, unless the object was truncated meanwhile: then
    /// the truncation, which explains whatever else went wrong (zeros read as a length, a futex
    /// call on a lost page).
    #[inline(always)]
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
