//! What a process's threads are doing in the kernel, from `/proc/PID/task/*/{comm,syscall}`:
//! a readiness signal for a test that must strike while the process waits in a given call.

/// Whether a thread of `pid` named by `named` (its `comm`, at most 15 bytes) is in system
/// call `number` now (`/proc`'s syscall line begins with it).
pub fn thread_in_syscall(pid: u32, number: u32, named: impl Fn(&str) -> bool) -> bool {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    let prefix = format!("{number} ");
    tasks.flatten().any(|task| {
        let read = |name: &str| std::fs::read_to_string(task.path().join(name));
        read("comm").is_ok_and(|comm| named(comm.trim()))
            && read("syscall").is_ok_and(|call| call.starts_with(&prefix))
    })
}
