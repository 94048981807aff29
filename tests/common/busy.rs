//! A driver's server while the driver measures: found by its transport, and waited on until it
//! is echoing, so that a test strikes mid-measurement instead of guessing a sleep.

use super::driver::{eventually, servers_of, Driver};

/// Waits until the driver has a server up for `transport`, and returns the server's pid.
pub fn wait_for_server(driver: &Driver, transport: &str) -> u32 {
    let mut found = None;
    eventually(&format!("a {transport} server"), || {
        found = servers_of(driver.pid())
            .into_iter()
            .find(|&pid| serves(pid, transport));
        found.is_some()
    });
    found.unwrap()
}

/// Whether process `pid` is a server of `transport`: its command line has `--transport NAME`
/// (a name may be part of another's, `tcp` of `zmq-tcp`, or of a path).
fn serves(pid: u32, transport: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    args.windows(2)
        .any(|pair| pair[0] == b"--transport" && pair[1] == transport.as_bytes())
}

/// Waits until the driver is in its timed loop: past warm-up, the progress display is not
/// updated in plain mode, so we watch the server work instead of guessing a sleep. A server's
/// start-up alone can take 20 ms of CPU on a loaded machine (a large debug binary faulting in),
/// so CPU time is not enough: a blocking server also has to have switched out dozens of times
/// (once per request it waited for), and a spinning one, which rarely switches, to have spun
/// for far longer than any start-up takes.
pub fn wait_until_busy(server_pid: u32) {
    eventually("the server to be echoing", || {
        let ticks = cpu_ticks(server_pid);
        (ticks >= 2 && context_switches(server_pid) >= 50) || ticks >= 10
    });
}

/// The user and system ticks of process `pid` (all threads), 0 if it cannot be read.
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<String> = s
                .rsplit(')')
                .next()?
                .split_whitespace()
                .map(String::from)
                .collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// The context switches of all threads of process `pid`, voluntary and not.
fn context_switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    (tasks.flatten())
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            (status.lines())
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}
