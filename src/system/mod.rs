//! Facts and controls of the machine the processes run on: what it is ([`machine`]), the CPU
//! time a process has used ([`cpu_time`]), which CPU each process runs on ([`placement`]), and
//! the stop-signal handling (SIGINT, SIGTERM, SIGHUP, SIGQUIT) both processes share ([`signals`]),
//! and starting threads whose refusal is an error ([`threads`]).

pub mod cpu_time;
pub mod machine;
pub mod oom;
pub mod placement;
pub mod signals;
pub mod threads;
