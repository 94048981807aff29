//! The helper threads of a client and of a server process (the one that reads the driver's
//! commands, or waits for its end, and the wait watchdog) leave the process's descriptor table
//! for one of their own, holding standard input and error at most, so that the measuring
//! thread's system calls borrow their files as a single-threaded program's do
//! (src/transport/os/descriptor_table.rs). Read from `/proc/<pid>/task/<tid>/fd`, which lists
//! the table of that thread.

mod common {
    pub mod driver;
    pub mod process;
}

use std::collections::BTreeMap;

use common::driver::{clients_of, eventually, servers_of, Driver};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The names a helper thread shows (`comm`, cut at 15 bytes).
const HELPERS: [&str; 3] = ["the driver's co", "the driver's en", "wait watchdog"];

/// Each thread of `pid` by name, with the descriptors of its table.
fn tables(pid: u32) -> BTreeMap<String, Vec<u32>> {
    let mut found = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let mut fds: Vec<u32> = (std::fs::read_dir(task.path().join("fd"))
            .into_iter()
            .flatten())
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
        fds.sort_unstable();
        let name = match task.file_name().to_str() == Some(&pid.to_string()) {
            true => "main".to_string(),
            false => name.trim_end().to_string(),
        };
        found.insert(name, fds);
    }
    found
}

/// Both helpers of the process running with their own tables, and its main thread's table.
fn settled(tables: &BTreeMap<String, Vec<u32>>) -> bool {
    let helpers = HELPERS.iter().filter_map(|name| tables.get(*name));
    helpers
        .filter(|fds| fds.iter().all(|fd| [0, 2].contains(fd)))
        .count()
        == 2
}

#[test]
fn helper_threads_of_clients_and_servers_hold_tables_of_their_own() {
    let driver = Driver::start(&[
        "--transports",
        "unix-stream",
        "--sizes",
        "100",
        "--duration",
        "60s",
        "--warmup",
        "0",
    ]);
    let pid = driver.pid();
    let mut seen = Vec::new();
    eventually(
        "a client and a server whose helpers left the shared table",
        || {
            seen = (clients_of(pid).into_iter().chain(servers_of(pid)))
                .map(|process| (process, tables(process)))
                .collect();
            seen.len() == 2 && seen.iter().all(|(_, tables)| settled(tables))
        },
    );
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
    driver.finish_clean();
    for (process, tables) in &seen {
        let main = &tables["main"];
        // The socket the main thread measures with is in its table alone.
        assert!(
            main.len() > 3,
            "process {process}: main thread's table {main:?}"
        );
        for name in HELPERS {
            if let Some(fds) = tables.get(name) {
                assert!(
                    fds.len() < main.len(),
                    "{process} {name}: {fds:?}, main {main:?}"
                );
            }
        }
    }
}
