//! Facts and controls of the machine the processes run on: what it is ([`machine`]), the clock
//! of one-way latencies and whether two processes share it ([`clock`]), the CPU
//! time a process has used ([`cpu_time`]), which CPU each process runs on ([`placement`]), the
//! PID namespaces a process can see ([`pid_namespace`]), the stop-signal handling (SIGINT,
//! SIGTERM, SIGHUP, SIGQUIT) both processes share ([`signals`]), starting threads whose refusal
//! is an error ([`threads`]), lines on stderr that never panic ([`stderr`]), standard output
//! written so that a failed write is seen ([`stdout`]), how much memory this process can
//! still take ([`memory`]), whether the OOM killer killed a given child ([`oom`]), and
//! whether a process is stopped ([`process_state`]).

pub mod clock;
pub mod cpu_time;
pub mod machine;
pub mod memory;
pub mod oom;
pub mod pid_namespace;
pub mod placement;
pub mod process_state;
pub mod signals;
pub mod stderr;
pub mod stdout;
pub mod threads;
