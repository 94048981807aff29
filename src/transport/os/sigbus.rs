//! Shared memory that another process truncates: an error for the transport, not a crash.
//!
//! Any process of the same user can `ftruncate` a `/dev/shm` object we have mapped. The kernel
//! then answers every access to the lost pages with SIGBUS, whose default action kills us before
//! anything is unlinked. Wayland compositors meet the same with clients that shrink a `wl_shm`
//! pool, and this module handles it as libwayland's `wl_shm_buffer_begin_access` does:
//!
//! - every mapping is [`register`]ed in a fixed table of atomics ([`CAPACITY`] slots), written by
//!   normal code when a mapping is made or dropped, read by the handler;
//! - code that reads or writes a mapping holds an [`Access`] guard meanwhile
//!   ([`Registration::begin_access`]), which sets the slot's bit in a per-thread mask;
//! - the SIGBUS handler (`sigaction`, `SA_SIGINFO`) looks only at the mappings the faulting thread
//!   is accessing. If the kernel reports an access beyond the end of the object (`BUS_ADRERR`) at
//!   an address inside one of them, it maps anonymous zero-filled memory over that whole mapping
//!   (`MAP_FIXED|MAP_PRIVATE|MAP_ANONYMOUS`), marks the slot truncated and returns: the access
//!   completes on zeros, and [`Access::truncated`] tells the transport, which fails with a typed
//!   error. The object is lost to us from then on.
//! - Any other SIGBUS (no access in progress on that thread, an address outside its mappings, a
//!   hardware memory error, a signal sent with `kill`) gets the default disposition back and is
//!   raised again, so it kills the process exactly as it did before this module.
//!
//! **The whole mapping, not only the faulting page** (libwayland does the same): one signal per
//! mapping instead of one per page of a 2 MB copy, and no page of it stays shared with the peer
//! afterwards. A half-repaired mapping would still carry our writes to the peer: shm-spin could
//! publish a sequence number (its control page still shared) for a payload that went to
//! private zeros.
//!
//! **Per-thread state.** The driver has other threads (pipe readers, ZeroMQ's I/O threads); a fault
//! on one of them must not be excused by an access on another, so the "accessing" mask (a bit
//! per slot of the table) is a `thread_local!` with a `const` initializer around an array of
//! `AtomicU64`s. A type without a destructor, initialised by a constant, is a plain ELF TLS
//! variable on Linux: no lazy initialisation, no destructor registration, no allocation, never
//! torn down. This crate is linked statically into
//! executables (the tool and the test binaries), where the linker turns TLS access into an
//! offset from the thread pointer (`%fs` on x86-64); even the general-dynamic model's
//! `__tls_get_addr` allocates only for libraries loaded with `dlopen`, which this is not. Rust's
//! own SIGSEGV handler (stack-overflow reports) reads its thread-locals the same way. A
//! process-wide counter would need a locked read-modify-write on a shared cache line twice per
//! access, and could not tell the threads apart.
//!
//! **Moving a mapping between threads.** What a registration holds is process-wide (an index
//! into the table); only an [`Access`] is per-thread, and it borrows its [`Registration`] and
//! is not `Send`. So the owner of a mapping may move to another thread between accesses (the
//! transports' clients and servers are `Send`), and its next access marks the new thread, which
//! is the one that would fault.
//!
//! **Cost on the hot path.** Beginning an access is a call to the 3-instruction thread-local
//! accessor, a load, a bit set and a store; ending it the same with a bit clear; asking
//! `truncated` is one relaxed load from the table, which nothing writes while all is well, so it
//! stays in every core's cache. No locked instruction, no system call. A round trip takes one
//! guard per side over SHM spin (one access spans the whole exchange) and about seven over SHM
//! POSIX (two buffer accesses, five semaphore calls): tens of instructions against round trips
//! of 150 ns and 4.5 µs at best (estimated from the generated code, not measured).
//!
//! Installing the handler replaces Rust's own SIGBUS handler, which only reports stack
//! overflows on systems that signal them with SIGBUS; Linux uses SIGSEGV, left untouched.
//!
//! Memory ordering: the handler runs on the thread whose access faulted, so the only reordering
//! that matters is the compiler's; `compiler_fence` keeps the mask update before the access and
//! the flag read after it. Slot fields are relaxed: a thread accessing a mapping got its
//! [`Registration`] through program order or a transfer that already synchronises.

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::transport::error::SigbusError;

/// How many mappings can be watched at once: the bits of the per-thread mask. A SHM POSIX
/// server or client uses six (two buffers, four semaphores), SHM spin one; the driver holds a
/// client of each of up to 64 pairs (`--pairs`) at once, so 64 × 6 and room to spare.
pub const CAPACITY: usize = 512;

/// The per-thread mask's words of 64 bits.
const MASK_WORDS: usize = CAPACITY / 64;

/// One watched mapping.
struct Slot {
    /// Held by a live [`Registration`].
    taken: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    /// Set by the handler once it replaced the mapping; stays set until the slot is reused.
    truncated: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            taken: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            truncated: AtomicBool::new(false),
        }
    }
}

static SLOTS: [Slot; CAPACITY] = [const { Slot::new() }; CAPACITY];

thread_local! {
    /// Bit `i % 64` of word `i / 64` set: this thread is accessing the mapping of slot `i` right
    /// now. Written only by its own thread's normal code; read by the handler on the same thread.
    static ACCESSING: [AtomicU64; MASK_WORDS] = const { [const { AtomicU64::new(0) }; MASK_WORDS] };
}

/// The word of the mask and the bit in it that stand for slot `index`.
#[inline]
fn mask_bit(index: usize) -> (usize, u64) {
    (index / 64, 1u64 << (index % 64))
}

/// Installs the SIGBUS handler, once per process; later calls return the first call's result.
/// [`register`] calls it, so a process that maps nothing never changes its SIGBUS disposition.
pub fn install() -> Result<(), SigbusError> {
    static INSTALLED: OnceLock<Result<(), Errno>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let action = SigAction::new(
            SigHandler::SigAction(on_sigbus),
            SaFlags::SA_SIGINFO,
            SigSet::empty(),
        );
        // SAFETY: on_sigbus is async-signal-safe (see its doc) and valid for the whole process.
        unsafe { sigaction(Signal::SIGBUS, &action) }.map(drop)
    });
    installed.map_err(SigbusError::Install)
}

/// Watches the mapping `[start, start + len)` until the registration is dropped.
///
/// # Safety
/// The range must be one `mmap` of a shared file or object (`start` as `mmap` returned it), and
/// stay mapped while any [`Access`] of the registration is alive. Rust code must reach it only
/// through raw pointers and atomics, or as plain bytes whose values nothing but a comparison
/// depends on (`posix::SharedBytes`): the handler may replace its contents with zeros.
pub unsafe fn register(start: NonNull<u8>, len: usize) -> Result<Registration, SigbusError> {
    install()?;
    let start = start.as_ptr() as usize;
    if !start.is_multiple_of(page_size()) {
        return Err(SigbusError::Unaligned { start });
    }
    // The first free slot; the compare-exchange claims it against concurrent registrations.
    let index = SLOTS
        .iter()
        .position(|slot| {
            slot.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or(SigbusError::RegistryFull { capacity: CAPACITY })?;
    let slot = &SLOTS[index];
    slot.start.store(start, Ordering::Relaxed);
    slot.len.store(len, Ordering::Relaxed);
    slot.truncated.store(false, Ordering::Relaxed);
    Ok(Registration { index })
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always available on Linux.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// A mapping watched for truncation, from [`register`] until dropped.
#[derive(Debug)]
pub struct Registration {
    index: usize,
}

impl Registration {
    /// Marks an access to the mapping as in progress on this thread until the guard drops.
    /// Every read, write, atomic operation or system call on the mapping must happen under one.
    #[inline]
    pub fn begin_access(&self) -> Access<'_> {
        let (word, bit) = mask_bit(self.index);
        // Load and store rather than fetch_or: only this thread writes its mask, and the
        // handler only reads it, so no locked instruction is needed.
        let already = ACCESSING.with(|mask| {
            let mask = &mask[word];
            let before = mask.load(Ordering::Relaxed);
            mask.store(before | bit, Ordering::Relaxed);
            before & bit != 0
        });
        // The handler runs on this thread: keep the compiler from moving the access above.
        compiler_fence(Ordering::SeqCst);
        Access {
            registration: self,
            clears_bit: !already,
            _this_thread: PhantomData,
        }
    }

    /// Whether the handler has replaced this mapping.
    #[inline]
    pub fn was_truncated(&self) -> bool {
        SLOTS[self.index].truncated.load(Ordering::Relaxed)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let slot = &SLOTS[self.index];
        // An empty range: a guard leaked with mem::forget leaves its bit set on its thread, and
        // must not match whatever is mapped at the old address next.
        slot.len.store(0, Ordering::Relaxed);
        // Release: a later owner of the slot (Acquire in register) writes after we are done.
        slot.taken.store(false, Ordering::Release);
    }
}

/// An access to a registered mapping in progress on this thread. Guards on different mappings
/// may overlap freely; on the same mapping they nest (the inner one leaves the bit to the outer
/// one), so the inner one must end first, as scopes end.
pub struct Access<'a> {
    registration: &'a Registration,
    clears_bit: bool,
    /// The mask is this thread's: the guard must end on the thread that began it.
    _this_thread: PhantomData<*const ()>,
}

impl Access<'_> {
    /// Whether another process truncated the object during this access (or before it). Once
    /// true, what was read is zeros and what was written reached no one.
    #[inline]
    pub fn truncated(&self) -> bool {
        // The handler ran on this thread, inside the access: read the flag after the access.
        compiler_fence(Ordering::SeqCst);
        self.registration.was_truncated()
    }
}

impl Drop for Access<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.clears_bit {
            // Keep the access above the end of the guard.
            compiler_fence(Ordering::SeqCst);
            let (word, bit) = mask_bit(self.registration.index);
            ACCESSING.with(|mask| {
                let mask = &mask[word];
                mask.store(mask.load(Ordering::Relaxed) & !bit, Ordering::Relaxed)
            });
        }
    }
}

/// The SIGBUS handler. Async-signal-safe: it reads atomics (one of them thread-local), calls
/// `mmap`, `sigaction` and `raise` (system calls, no locks), saves and restores `errno`, and
/// neither allocates nor formats.
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let saved_errno = Errno::last_raw();
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; si_addr is the faulting
    // address for a fault, and only read as a number.
    let (code, address) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    let repaired = code == libc::BUS_ADRERR && repair_accessed_mapping(address);
    if !repaired {
        die_as_before(signal);
    }
    Errno::set_raw(saved_errno);
}

/// If `address` lies in a mapping this thread is accessing, replaces that mapping with zeros
/// and marks it truncated. False if it does not, or if the replacement failed.
fn repair_accessed_mapping(address: usize) -> bool {
    // `with` cannot fail: a const-initialised thread-local without a destructor is never torn down.
    for word in 0..MASK_WORDS {
        let mut accessing = ACCESSING.with(|mask| mask[word].load(Ordering::Relaxed));
        while accessing != 0 {
            let index = word * 64 + accessing.trailing_zeros() as usize;
            accessing &= accessing - 1;
            let slot = &SLOTS[index];
            let start = slot.start.load(Ordering::Relaxed);
            let len = slot.len.load(Ordering::Relaxed);
            if address.wrapping_sub(start) < len {
                if !replace_with_zeros(start, len) {
                    return false;
                }
                slot.truncated.store(true, Ordering::Relaxed);
                return true;
            }
        }
    }
    false
}

/// Maps private zero pages over `[start, start + len)`, in place, with the same protection.
fn replace_with_zeros(start: usize, len: usize) -> bool {
    // SAFETY: the range is a live mapping: this thread holds an Access of its registration,
    // and `register`'s contract keeps it mapped meanwhile and reached only through raw pointers
    // and atomics. MAP_FIXED swaps its pages for fresh anonymous ones in one system call.
    let mapped = unsafe {
        libc::mmap(
            start as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    mapped != libc::MAP_FAILED
}

/// Gives `signal` its default disposition back and raises it: blocked while the handler runs,
/// it is delivered as the handler returns and kills the process as if no handler existed.
fn die_as_before(signal: libc::c_int) {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid default disposition (empty mask, no
    // flags); sigaction and raise are async-signal-safe.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, std::ptr::null_mut());
        libc::raise(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

    /// A registered two-page `MAP_SHARED` mapping of a temporary file, which a test truncates
    /// through the file as another process would.
    struct TruncatableMapping {
        file: std::fs::File,
        ptr: NonNull<u8>,
        len: usize,
        registration: Registration,
    }

    impl TruncatableMapping {
        fn new() -> TruncatableMapping {
            let file = tempfile::tempfile().unwrap();
            let len = 2 * page_size();
            file.set_len(len as u64).unwrap();
            // SAFETY: a fresh mapping at an address the kernel chooses aliases nothing.
            let ptr = unsafe {
                mmap(
                    None,
                    NonZeroUsize::new(len).unwrap(),
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                    MapFlags::MAP_SHARED,
                    &file,
                    0,
                )
            }
            .unwrap()
            .cast::<u8>();
            // SAFETY: one shared mapping as mmap returned it, unmapped only by our Drop, and
            // reached only through raw pointers.
            let registration = unsafe { register(ptr, len) }.unwrap();
            TruncatableMapping {
                file,
                ptr,
                len,
                registration,
            }
        }

        fn truncate(&self) {
            self.file.set_len(0).unwrap();
        }

        fn read(&self, offset: usize) -> u8 {
            assert!(offset < self.len);
            // SAFETY: offset is inside the mapping, which lives as long as self.
            unsafe { self.ptr.as_ptr().add(offset).read_volatile() }
        }

        fn write(&self, offset: usize, value: u8) {
            assert!(offset < self.len);
            // SAFETY: as in read.
            unsafe { self.ptr.as_ptr().add(offset).write_volatile(value) }
        }
    }

    impl Drop for TruncatableMapping {
        fn drop(&mut self) {
            // SAFETY: exactly what mmap returned; no access is alive while we are dropped.
            let _ = unsafe { munmap(self.ptr.cast(), self.len) };
        }
    }

    #[test]
    fn a_truncated_mapping_completes_the_access_on_zeros_and_says_so() {
        let truncated = TruncatableMapping::new();
        let bystander = TruncatableMapping::new();
        let last = truncated.len - 1;
        {
            let access = truncated.registration.begin_access();
            truncated.write(last, 0xab);
            assert_eq!(truncated.read(last), 0xab);
            assert!(!access.truncated());
        }
        truncated.truncate();
        let access = truncated.registration.begin_access();
        let beside = bystander.registration.begin_access();
        assert_eq!(truncated.read(last), 0, "the fault is repaired with zeros");
        truncated.write(0, 7);
        bystander.write(0, 9);
        assert!(access.truncated());
        assert!(!beside.truncated(), "only the faulting mapping is replaced");
        drop(access);
        drop(beside);
        // Replaced as a whole: later accesses find private memory, not another fault.
        assert_eq!(truncated.read(0), 7);
        assert!(truncated.registration.was_truncated());
        assert_eq!(bystander.read(0), 9);
    }

    /// A mapping whose slot is past the first 64 (the driver of 64 SHM POSIX pairs watches
    /// 384) is repaired as the first ones are.
    #[test]
    fn a_mapping_past_the_first_word_of_the_mask_is_repaired_too() {
        let many: Vec<TruncatableMapping> = (0..70).map(|_| TruncatableMapping::new()).collect();
        let last = many.last().unwrap();
        assert!(last.registration.index >= 64, "{}", last.registration.index);
        last.truncate();
        let access = last.registration.begin_access();
        assert_eq!(
            last.read(last.len - 1),
            0,
            "the fault is repaired with zeros"
        );
        assert!(access.truncated());
        drop(access);
        assert!(!many[0].registration.was_truncated());
    }

    /// A mapping registered on one thread and moved to another (as a transport's client or
    /// server may be) is guarded on the thread that accesses it.
    #[test]
    fn a_mapping_moved_to_another_thread_is_guarded_there() {
        struct Moved(TruncatableMapping);
        // SAFETY: the mapping moves as a whole, with no access open (the test's own stand-in
        // for SharedMemory's Send).
        unsafe impl Send for Moved {}
        let moved = Moved(TruncatableMapping::new());
        {
            let _here = moved.0.registration.begin_access();
            moved.0.write(0, 1);
        }
        let moved = std::thread::Builder::new().spawn(move || {
            let mapping = &moved.0;
            mapping.truncate();
            let access = mapping.registration.begin_access();
            assert_eq!(
                mapping.read(0),
                0,
                "the fault is repaired on the new thread"
            );
            assert!(access.truncated());
            drop(access);
            moved
        });
        let moved = moved.expect("starting the test thread").join().unwrap();
        assert!(moved.0.registration.was_truncated());
    }

    /// Set in a child test process to the fault it must commit.
    const CHILD_FAULT_ENV: &str = "TRANSPORT_BENCH_SIGBUS_CHILD_FAULT";

    /// Not a test of its own: `faults_outside_an_access_still_kill` runs it in a child process,
    /// which it must kill with SIGBUS. Without the variable (`cargo test -- --ignored`) it does
    /// nothing.
    #[test]
    #[ignore = "run in a child process by faults_outside_an_access_still_kill"]
    fn commit_fault_in_child() {
        let Ok(fault) = std::env::var(CHILD_FAULT_ENV) else {
            return;
        };
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit; a dying child needs no core file.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
        let mapping = TruncatableMapping::new();
        let other = TruncatableMapping::new();
        mapping.truncate();
        match fault.as_str() {
            "no-access" => {
                mapping.read(0);
            }
            "other-mapping" => {
                let _access = other.registration.begin_access();
                mapping.read(0);
            }
            "other-thread" => {
                let _access = mapping.registration.begin_access();
                let address = mapping.ptr.as_ptr() as usize;
                std::thread::scope(|scope| {
                    // SAFETY: the mapping outlives the scope, and the thread with it.
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || unsafe {
                            (address as *const u8).read_volatile()
                        })
                        .expect("starting the reading thread");
                });
            }
            "sent-signal" => {
                let _access = mapping.registration.begin_access();
                // SAFETY: raise has no preconditions.
                unsafe { libc::raise(libc::SIGBUS) };
            }
            _ => panic!("unknown fault {fault}"),
        }
        panic!("{fault}: still alive");
    }

    #[test]
    fn faults_outside_an_access_still_kill() {
        let test_binary = std::env::current_exe().unwrap();
        for fault in ["no-access", "other-mapping", "other-thread", "sent-signal"] {
            let status = Command::new(&test_binary)
                .args([
                    "--exact",
                    "transport::os::sigbus::tests::commit_fault_in_child",
                ])
                .args(["--ignored", "--test-threads=1"])
                .env(CHILD_FAULT_ENV, fault)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert_eq!(status.signal(), Some(libc::SIGBUS), "{fault}: {status:?}");
        }
    }
}
