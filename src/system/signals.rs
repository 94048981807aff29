//! SIGINT/SIGTERM handling shared by the driver and the server: the handler only records the
//! signal; loops poll [`received`] (or [`STOP`]) and unwind normally, so every destructor that
//! unlinks an IPC object runs.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Set by the first SIGINT or SIGTERM.
pub static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    // Only async-signal-safe work here: two atomic stores.
    SIGNAL.store(signal, Ordering::Relaxed);
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the recording handler for SIGINT and SIGTERM.
pub fn install() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(record),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// The signal that asked us to stop, if any.
pub fn received() -> Option<Signal> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The conventional exit code after a fatal signal: 128 + its number.
pub fn exit_code(signal: Signal) -> u8 {
    128u8.saturating_add(signal as i32 as u8)
}
