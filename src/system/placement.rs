//! Which CPU each process runs on: pinning (`--pin`), and reading where a process is and how
//! often it was switched out.
//!
//! On a VM a blocking round trip between processes on one CPU costs a few µs, and between two
//! CPUs many more (waking a halted vCPU), so an unpinned result depends on where the scheduler
//! happened to put the peers. Pinning makes that a choice; reading it back makes it visible.

use std::fmt;

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use serde::Serialize;

/// Where the client and the server run, as `--pin` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// Wherever the scheduler puts them.
    None,
    /// Both on one CPU.
    Same,
    /// On two different CPUs.
    Split,
    /// The client on the first CPU, the server on the second.
    Cpus(usize, usize),
}

/// A `--pin` resolved to CPUs: which CPU the client and the server are pinned to (the
/// client's keeps its name from before the client left the driver's process: `driver_cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pinning {
    pub mode: &'static str,
    pub driver_cpu: usize,
    pub server_cpu: usize,
}

impl Pinning {
    /// Where pair `index` (from 0) of `--pairs` runs, among the `allowed` CPUs (in order):
    /// `same` puts each pair's two processes together, pair i on the i-th CPU; `split` gives
    /// pair i the CPUs 2i and 2i + 1; both wrap around, so that on a machine with fewer CPUs
    /// than that the pairs share them. Explicit CPUs hold for every pair. Pair 0 is where
    /// `--pin` puts a single pair.
    pub fn for_pair(self, index: usize, allowed: &[usize]) -> Pinning {
        let cpu = |i: usize| allowed.get(i % allowed.len().max(1)).copied();
        let (driver_cpu, server_cpu) = match self.mode {
            "same" => (cpu(index), cpu(index)),
            "split" => (cpu(2 * index), cpu(2 * index + 1)),
            _ => (None, None),
        };
        Pinning {
            driver_cpu: driver_cpu.unwrap_or(self.driver_cpu),
            server_cpu: server_cpu.unwrap_or(self.server_cpu),
            ..self
        }
    }
}

/// Why a `--pin` cannot be served on this machine.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("cannot read the CPUs this process may use: {0}")]
    Affinity(#[source] nix::Error),
    #[error("CPU {cpu} is not among the CPUs this process may use ({allowed})")]
    NotAllowed { cpu: usize, allowed: String },
    #[error("split needs two CPUs; this process may use only CPU {0}")]
    OneCpu(usize),
    #[error("pinning to CPU {cpu}: {source}")]
    Pin {
        cpu: usize,
        #[source]
        source: nix::Error,
    },
}

impl fmt::Display for PinMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinMode::None => write!(f, "none"),
            PinMode::Same => write!(f, "same"),
            PinMode::Split => write!(f, "split"),
            PinMode::Cpus(a, b) => write!(f, "{a},{b}"),
        }
    }
}

impl PinMode {
    /// The CPUs for this mode among those this process may use; None for `none`.
    pub fn resolve(self) -> Result<Option<Pinning>, PinError> {
        let allowed = allowed_cpus()?;
        let first = allowed[0];
        let (mode, driver_cpu, server_cpu) = match self {
            PinMode::None => return Ok(None),
            PinMode::Same => ("same", first, first),
            PinMode::Split => match allowed.get(1) {
                Some(&second) => ("split", first, second),
                None => return Err(PinError::OneCpu(first)),
            },
            PinMode::Cpus(a, b) => {
                for cpu in [a, b] {
                    if !allowed.contains(&cpu) {
                        let allowed = allowed.iter().map(ToString::to_string).collect();
                        let allowed: Vec<String> = allowed;
                        return Err(PinError::NotAllowed {
                            cpu,
                            allowed: allowed.join(","),
                        });
                    }
                }
                ("explicit", a, b)
            }
        };
        Ok(Some(Pinning {
            mode,
            driver_cpu,
            server_cpu,
        }))
    }
}

/// The CPUs this process may run on, in ascending order (never empty).
pub fn allowed_cpus() -> Result<Vec<usize>, PinError> {
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(PinError::Affinity)?;
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect();
    if cpus.is_empty() {
        return Err(PinError::Affinity(nix::Error::EINVAL));
    }
    Ok(cpus)
}

/// Pins the calling thread (and whatever it spawns from now on) to `cpu`.
pub fn pin_current_thread(cpu: usize) -> Result<(), PinError> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|source| PinError::Pin { cpu, source })?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|source| PinError::Pin { cpu, source })
}

/// The CPU the calling thread runs on now.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments and only returns a number.
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// The CPU the main thread of process `pid` last ran on: field 39 of `/proc/<pid>/stat`.
pub fn last_cpu_of(pid: u32) -> Option<usize> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count fields after its end.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(39 - 3)?.parse().ok()
}

/// Voluntary and involuntary context switches so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContextSwitches {
    pub voluntary: u64,
    pub involuntary: u64,
}

impl ContextSwitches {
    /// Those of the calling thread.
    pub fn of_current_thread() -> ContextSwitches {
        match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD) {
            Ok(usage) => ContextSwitches {
                voluntary: usage.voluntary_context_switches() as u64,
                involuntary: usage.involuntary_context_switches() as u64,
            },
            Err(_) => ContextSwitches::default(),
        }
    }

    /// Those of the main thread of process `pid` (the server's echo loop).
    pub fn of_main_thread(pid: u32) -> ContextSwitches {
        let path = format!("/proc/{pid}/task/{pid}/status");
        let status = std::fs::read_to_string(path).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0)
        };
        ContextSwitches {
            voluntary: field("voluntary_ctxt_switches:"),
            involuntary: field("nonvoluntary_ctxt_switches:"),
        }
    }

    /// How many happened since `earlier`.
    pub fn since(self, earlier: ContextSwitches) -> ContextSwitches {
        ContextSwitches {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_take_cpus_in_turn_and_share_them_when_there_are_too_few() {
        let pin = |mode, driver_cpu, server_cpu| Pinning {
            mode,
            driver_cpu,
            server_cpu,
        };
        let four = [0, 1, 2, 3];
        let at = |p: Pinning| (p.driver_cpu, p.server_cpu);
        assert_eq!(at(pin("split", 0, 1).for_pair(0, &four)), (0, 1));
        assert_eq!(at(pin("split", 0, 1).for_pair(1, &four)), (2, 3));
        assert_eq!(at(pin("split", 0, 1).for_pair(1, &[0, 1])), (0, 1));
        assert_eq!(at(pin("same", 0, 0).for_pair(3, &four)), (3, 3));
        assert_eq!(at(pin("same", 0, 0).for_pair(1, &[0, 1])), (1, 1));
        assert_eq!(at(pin("explicit", 3, 2).for_pair(1, &four)), (3, 2));
        assert_eq!(at(pin("split", 5, 7).for_pair(1, &[])), (5, 7));
    }

    #[test]
    fn modes_resolve_to_allowed_cpus() {
        let allowed = allowed_cpus().unwrap();
        let same = PinMode::Same.resolve().unwrap().unwrap();
        assert_eq!((same.driver_cpu, same.server_cpu), (allowed[0], allowed[0]));
        assert!(PinMode::None.resolve().unwrap().is_none());
        match PinMode::Split.resolve() {
            Ok(Some(split)) => assert_ne!(split.driver_cpu, split.server_cpu),
            Err(PinError::OneCpu(_)) => assert_eq!(allowed.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            PinMode::Cpus(0, 100_000).resolve(),
            Err(PinError::NotAllowed { cpu: 100_000, .. })
        ));
    }

    #[test]
    fn where_a_process_runs_is_read_back() {
        let me = std::process::id();
        let allowed = allowed_cpus().unwrap();
        assert!(allowed.contains(&last_cpu_of(me).unwrap()));
        assert!(allowed.contains(&current_cpu().unwrap()));
        let before = ContextSwitches::of_main_thread(me);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let after = ContextSwitches::of_main_thread(me);
        assert!(after.voluntary >= before.voluntary);
    }
}
