//! What machine the numbers came from, for the header, the JSON and the plot title; and what
//! on it decides IPC figures on a VM: how an idle CPU waits (the cpuidle driver and haltpoll),
//! the frequency governor, SMT, transparent huge pages, and the CPUs online and usable. Read
//! from /sys, /proc and `sched_getaffinity`; whatever is missing is "unknown", never an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// What a fact is when its file is missing or unreadable.
pub const UNKNOWN: &str = "unknown";

/// The `machine` object of the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    /// The CPUs this process may use (as `available_parallelism` counts them).
    pub cores: usize,
    pub kernel: String,
    pub os: String,
    /// How idle CPUs wait and which CPUs there are, as fields of `machine` itself; always
    /// read by a benchmark, left out only by reports built in unit tests.
    #[serde(flatten)]
    pub idle: Option<MachineFacts>,
}

/// What decides a cross-CPU wake-up and a round trip's cost, beyond the CPU model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineFacts {
    /// /sys/devices/system/cpu/cpuidle/current_driver: `haltpoll`, `intel_idle`, `acpi_idle`, ...
    pub cpuidle_driver: String,
    /// /sys/module/haltpoll/parameters/*, by name (`guest_halt_poll_ns`, ...); empty without
    /// the module.
    pub haltpoll_parameters: BTreeMap<String, String>,
    /// The kernel command line's `cpuidle_haltpoll.force` and `haltpoll.guest_halt_poll_ns`,
    /// as given; null when absent.
    pub cmdline_cpuidle_haltpoll_force: Option<String>,
    pub cmdline_haltpoll_guest_halt_poll_ns: Option<String>,
    /// cpu0's cpufreq scaling governor; "unknown" when the kernel exposes none (as on most VMs).
    pub cpufreq_governor: String,
    /// /sys/devices/system/cpu/smt/control (`on`, `off`, `notsupported`, ...).
    pub smt_control: String,
    /// cpu0's SMT siblings, itself included (/sys/.../cpu0/topology/thread_siblings_list).
    pub smt_siblings_of_cpu0: String,
    /// The selected transparent huge pages mode: `always`, `madvise` or `never`.
    pub transparent_hugepages: String,
    /// /sys/devices/system/cpu/online, as a list (`0-1`), and how many that is.
    pub online_cpus: String,
    pub online_cpu_count: Option<usize>,
    /// The CPUs this process may run on (`sched_getaffinity`).
    pub allowed_cpus: Vec<usize>,
}

/// Where [`MachineFacts`] come from: the real files, or fixture text in tests.
pub trait FactSource {
    /// The file's contents, trimmed; None when it cannot be read.
    fn read(&self, path: &str) -> Option<String>;
    /// The names in a directory, sorted; empty when it cannot be read.
    fn list(&self, dir: &str) -> Vec<String>;
}

/// This machine's /sys and /proc.
pub struct LiveSystem;

impl FactSource for LiveSystem {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path)
            .ok()
            .map(|text| text.trim().to_string())
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(Path::new(dir))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

const HALTPOLL_PARAMETERS: &str = "/sys/module/haltpoll/parameters";

/// The value of `key=` on a kernel command line, the last one given winning as in the kernel.
pub fn cmdline_value(cmdline: &str, key: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .take_while(|word| *word != "--")
        .filter_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .last()
        .map(str::to_string)
}

/// The bracketed choice of a sysfs selection such as `always [madvise] never`.
pub fn selected(choices: &str) -> Option<String> {
    let start = choices.find('[')? + 1;
    let end = start + choices[start..].find(']')?;
    Some(choices[start..end].to_string())
}

/// How many CPUs a kernel CPU list (`0-3,8,10-11`) names; None if it is no such list.
pub fn cpu_list_count(list: &str) -> Option<usize> {
    let mut count = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (first.parse::<usize>().ok()?, last.parse::<usize>().ok()?);
                last.checked_sub(first)? + 1
            }
            None => part.parse::<usize>().map(|_| 1).ok()?,
        };
    }
    Some(count)
}

impl MachineFacts {
    /// The facts as `source` gives them, with `allowed_cpus` from the caller.
    pub fn read(source: &dyn FactSource, allowed_cpus: Vec<usize>) -> MachineFacts {
        let fact = |path: &str| source.read(path).unwrap_or_else(|| UNKNOWN.into());
        let cmdline = source.read("/proc/cmdline").unwrap_or_default();
        let haltpoll_parameters = (source.list(HALTPOLL_PARAMETERS).into_iter())
            .filter_map(|name| {
                let value = source.read(&format!("{HALTPOLL_PARAMETERS}/{name}"))?;
                Some((name, value))
            })
            .collect();
        let online_cpus = fact("/sys/devices/system/cpu/online");
        MachineFacts {
            cpuidle_driver: fact("/sys/devices/system/cpu/cpuidle/current_driver"),
            haltpoll_parameters,
            cmdline_cpuidle_haltpoll_force: cmdline_value(&cmdline, "cpuidle_haltpoll.force"),
            cmdline_haltpoll_guest_halt_poll_ns: cmdline_value(
                &cmdline,
                "haltpoll.guest_halt_poll_ns",
            ),
            cpufreq_governor: fact("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            smt_control: fact("/sys/devices/system/cpu/smt/control"),
            smt_siblings_of_cpu0: fact(
                "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list",
            ),
            transparent_hugepages: source
                .read("/sys/kernel/mm/transparent_hugepage/enabled")
                .and_then(|choices| selected(&choices))
                .unwrap_or_else(|| UNKNOWN.into()),
            online_cpu_count: cpu_list_count(&online_cpus),
            online_cpus,
            allowed_cpus,
        }
    }

    /// The guest halt-polls for no time at all: the haltpoll driver runs with a poll time of 0
    /// (as `cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0` boots it), so an idle vCPU
    /// halts at once, traps to the host, and a wake-up from another CPU waits for the host to
    /// run it again.
    pub fn halts_without_polling(&self) -> bool {
        let poll_ns = (self.haltpoll_parameters.get("guest_halt_poll_ns"))
            .or(self.cmdline_haltpoll_guest_halt_poll_ns.as_ref());
        self.cpuidle_driver == "haltpoll" && poll_ns.is_some_and(|ns| ns == "0")
    }

    /// The one line of these facts the header shows without `--verbose`: what bears on the
    /// figures, in words (`CPUs: 2 usable of 2 online, no SMT; idle: haltpoll, halting
    /// without polling (see --verbose)`). [`Self::header_lines`] has them all, the JSON too.
    pub fn brief_line(&self) -> String {
        let online = self.online_cpu_count.map(|n| format!(" of {n} online"));
        let cpus = match self.allowed_cpus.len() {
            0 => format!("CPUs: {}", self.online_cpus),
            usable => format!("CPUs: {usable} usable{}", online.unwrap_or_default()),
        };
        let smt = match self.smt_control.as_str() {
            "on" => format!(
                "SMT on (cpu0 shares its core with {})",
                self.smt_siblings_of_cpu0
            ),
            "off" | "forceoff" => "SMT off".into(),
            "notsupported" => "no SMT".into(),
            _ => "SMT unknown".into(),
        };
        let governor = (self.cpufreq_governor != UNKNOWN)
            .then(|| format!(", governor {}", self.cpufreq_governor));
        let idle = match self.cpuidle_driver.as_str() {
            UNKNOWN => String::new(),
            _ if self.halts_without_polling() => format!(
                "; idle: {}, halting without polling (a cross-CPU wake-up waits for the host: \
                 see --verbose)",
                self.cpuidle_driver
            ),
            driver => format!("; idle: {driver}"),
        };
        format!("{cpus}, {smt}{}{idle}", governor.unwrap_or_default())
    }

    /// The header's lines about these facts, the haltpoll warning last when it applies.
    pub fn header_lines(&self) -> Vec<String> {
        let haltpoll = if self.haltpoll_parameters.is_empty() {
            String::new()
        } else {
            let params: Vec<String> = (self.haltpoll_parameters.iter())
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            format!(" (haltpoll: {})", params.join(" "))
        };
        let cmdline: Vec<String> = [
            (
                "cpuidle_haltpoll.force",
                &self.cmdline_cpuidle_haltpoll_force,
            ),
            (
                "haltpoll.guest_halt_poll_ns",
                &self.cmdline_haltpoll_guest_halt_poll_ns,
            ),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some(format!("{key}={}", value.as_ref()?)))
        .collect();
        let cmdline = match cmdline.is_empty() {
            true => String::new(),
            false => format!(", boot: {}", cmdline.join(" ")),
        };
        let online = match self.online_cpu_count {
            Some(n) => format!("{} ({n})", self.online_cpus),
            None => self.online_cpus.clone(),
        };
        let allowed = match self.allowed_cpus.is_empty() {
            true => UNKNOWN.to_string(),
            false => format!(
                "{} ({})",
                (self.allowed_cpus.iter())
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                self.allowed_cpus.len()
            ),
        };
        let mut lines = vec![
            format!("CPU idle: driver {}{haltpoll}{cmdline}", self.cpuidle_driver),
            format!(
                "CPUs: online {online}, usable by this process {allowed}; SMT {} (cpu0 siblings {}); governor {}; transparent huge pages {}",
                self.smt_control,
                self.smt_siblings_of_cpu0,
                self.cpufreq_governor,
                self.transparent_hugepages
            ),
        ];
        if self.halts_without_polling() {
            lines.push(HALTPOLL_NOTE.into());
        }
        lines
    }
}

/// Said in the header when [`MachineFacts::halts_without_polling`].
pub const HALTPOLL_NOTE: &str = "Note: haltpoll with guest_halt_poll_ns=0: an idle vCPU halts at once, without polling, so a wake-up from the other CPU waits for the host to run it again (about 100 µs on this project's VM): cross-CPU round trips of the sleeping transports pay it, same-CPU and spinning ones do not";

/// The CPUs this process may run on; empty when the kernel does not say.
fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// This host's name, as the kernel has it (`uname -n`); None when it cannot be read.
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string()).filter(|name| !name.is_empty())
}

/// This machine, read from /proc/cpuinfo, uname and /etc/os-release ("unknown" where absent).
pub fn describe() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_string())
        })
        .or_else(|| uname.map(|u| u.sysname().to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpu,
        cores,
        kernel,
        os,
        idle: Some(MachineFacts::read(&LiveSystem, allowed_cpus())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixture files: path → contents.
    struct Fixture(BTreeMap<&'static str, &'static str>);

    impl FactSource for Fixture {
        fn read(&self, path: &str) -> Option<String> {
            self.0.get(path).map(|text| text.trim().to_string())
        }

        fn list(&self, dir: &str) -> Vec<String> {
            let prefix = format!("{dir}/");
            (self.0.keys())
                .filter_map(|path| path.strip_prefix(&prefix))
                .map(str::to_string)
                .collect()
        }
    }

    /// This project's VM, as its files read.
    fn haltpoll_vm() -> Fixture {
        Fixture(BTreeMap::from([
            ("/sys/devices/system/cpu/cpuidle/current_driver", "haltpoll\n"),
            ("/sys/module/haltpoll/parameters/guest_halt_poll_ns", "0\n"),
            ("/sys/module/haltpoll/parameters/guest_halt_poll_grow", "2\n"),
            (
                "/proc/cmdline",
                "console=ttyS0 cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0 rdinit=/init -- --addr x=1\n",
            ),
            ("/sys/devices/system/cpu/smt/control", "notsupported\n"),
            ("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "0\n"),
            ("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n"),
            ("/sys/devices/system/cpu/online", "0-1\n"),
        ]))
    }

    #[test]
    fn the_haltpoll_vm_is_read_and_its_wake_up_cost_is_named() {
        let facts = MachineFacts::read(&haltpoll_vm(), vec![0, 1]);
        assert_eq!(facts.cpuidle_driver, "haltpoll");
        assert_eq!(
            facts.haltpoll_parameters,
            BTreeMap::from([
                ("guest_halt_poll_grow".to_string(), "2".to_string()),
                ("guest_halt_poll_ns".to_string(), "0".to_string()),
            ])
        );
        assert_eq!(facts.cmdline_cpuidle_haltpoll_force.as_deref(), Some("1"));
        assert_eq!(
            facts.cmdline_haltpoll_guest_halt_poll_ns.as_deref(),
            Some("0")
        );
        assert_eq!(facts.cpufreq_governor, UNKNOWN);
        assert_eq!(facts.transparent_hugepages, "madvise");
        assert_eq!(
            (facts.online_cpus.as_str(), facts.online_cpu_count),
            ("0-1", Some(2))
        );
        assert!(facts.halts_without_polling());
        let lines = facts.header_lines();
        assert_eq!(
            lines[0],
            "CPU idle: driver haltpoll (haltpoll: guest_halt_poll_grow=2 guest_halt_poll_ns=0), boot: cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0"
        );
        assert_eq!(
            lines[1],
            "CPUs: online 0-1 (2), usable by this process 0,1 (2); SMT notsupported (cpu0 siblings 0); governor unknown; transparent huge pages madvise"
        );
        assert_eq!(lines[2], HALTPOLL_NOTE);
        assert_eq!(
            facts.brief_line(),
            "CPUs: 2 usable of 2 online, no SMT; idle: haltpoll, halting without polling (a \
             cross-CPU wake-up waits for the host: see --verbose)"
        );
    }

    #[test]
    fn missing_files_are_unknown_and_no_note_is_made() {
        let facts = MachineFacts::read(&Fixture(BTreeMap::new()), Vec::new());
        assert_eq!(facts.cpuidle_driver, UNKNOWN);
        assert!(facts.haltpoll_parameters.is_empty());
        assert_eq!(facts.cmdline_cpuidle_haltpoll_force, None);
        assert_eq!(facts.transparent_hugepages, UNKNOWN);
        assert_eq!(
            (facts.online_cpus.as_str(), facts.online_cpu_count),
            (UNKNOWN, None)
        );
        assert!(!facts.halts_without_polling());
        let lines = facts.header_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "CPU idle: driver unknown");
        assert!(lines[1].starts_with("CPUs: online unknown, usable by this process unknown;"));
        assert_eq!(facts.brief_line(), "CPUs: unknown, SMT unknown");
    }

    #[test]
    fn a_polling_guest_or_another_driver_gets_no_note() {
        let mut vm = haltpoll_vm();
        vm.0.insert(
            "/sys/module/haltpoll/parameters/guest_halt_poll_ns",
            "200000",
        );
        assert!(!MachineFacts::read(&vm, vec![0]).halts_without_polling());
        let mut host = haltpoll_vm();
        host.0.insert(
            "/sys/devices/system/cpu/cpuidle/current_driver",
            "intel_idle",
        );
        assert!(!MachineFacts::read(&host, vec![0]).halts_without_polling());
    }

    #[test]
    fn command_lines_selections_and_cpu_lists_parse() {
        let cmdline = "a=1 haltpoll.guest_halt_poll_ns=5 haltpoll.guest_halt_poll_ns=0 -- haltpoll.guest_halt_poll_ns=9";
        assert_eq!(
            cmdline_value(cmdline, "haltpoll.guest_halt_poll_ns").as_deref(),
            Some("0")
        );
        assert_eq!(cmdline_value("xhaltpoll.force=1", "haltpoll.force"), None);
        assert_eq!(
            selected("[always] madvise never").as_deref(),
            Some("always")
        );
        assert_eq!(selected("always madvise never"), None);
        assert_eq!(cpu_list_count("0-3,8,10-11"), Some(7));
        assert_eq!(cpu_list_count("0"), Some(1));
        assert_eq!(cpu_list_count("3-1"), None);
        assert_eq!(cpu_list_count("x"), None);
    }
}
