//! The stop signals, handled alike by the driver and every server: SIGINT and SIGTERM, and the
//! two a terminal sends besides, SIGHUP (the terminal closed, treated as SIGTERM) and SIGQUIT
//! (Ctrl-\, treated as SIGINT). Left at their defaults, those two would end the process on the
//! spot: no summary, an export left `"running"`, a hand-run server's objects left behind. The
//! handler only records the signal; loops poll [`received`] (or [`STOP`]) and unwind normally,
//! so every destructor that unlinks an IPC object runs. The exit code still names the signal
//! that came (128 + its number, [`exit_code`]), as a shell reports it. A SIGHUP or SIGQUIT the
//! parent set to be ignored stays ignored: that is how `nohup` keeps a server running after its
//! terminal closes, and a background job of a script keeps out of the terminal's Ctrl-\.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Every signal that asks the driver or a server to stop and clean up.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Set by the first of the [`STOP_SIGNALS`].
pub static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// How many stop signals came: a wait that must end at the *next* one (the last export's
/// write, after a first Ctrl-C ended the run) compares it before and after.
static COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn record(signal: libc::c_int) {
    // Only async-signal-safe work here: atomic stores and an atomic add.
    SIGNAL.store(signal, Ordering::Relaxed);
    STOP.store(true, Ordering::Relaxed);
    COUNT.fetch_add(1, Ordering::Relaxed);
}

/// How many stop signals have come so far.
pub fn count() -> u32 {
    COUNT.load(Ordering::Relaxed)
}

/// The stop signals whose inherited "ignored" is kept (see the module's doc). SIGINT and SIGTERM
/// are always caught, as they were before SIGHUP and SIGQUIT were.
const KEEP_IGNORED: [Signal; 2] = [Signal::SIGHUP, Signal::SIGQUIT];

/// Installs the recording handler for every one of the [`STOP_SIGNALS`].
pub fn install() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(record),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in STOP_SIGNALS {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        let previous = unsafe { sigaction(signal, &action) }?;
        if KEEP_IGNORED.contains(&signal) && previous.handler() == SigHandler::SigIgn {
            // SAFETY: putting back the disposition the process was started with.
            unsafe { sigaction(signal, &previous) }?;
        }
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

/// The conventional exit code after a fatal signal: 128 + its number (130 SIGINT, 143
/// SIGTERM, 129 SIGHUP, 131 SIGQUIT).
pub fn exit_code(signal: Signal) -> u8 {
    128u8.saturating_add(signal as i32 as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_signal_has_its_shell_exit_code() {
        let codes: Vec<u8> = STOP_SIGNALS.iter().map(|&s| exit_code(s)).collect();
        assert_eq!(codes, [130, 143, 129, 131]);
    }
}
