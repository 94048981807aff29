//! Starting threads so that the system's refusal is an error, not a panic: `std::thread::spawn`
//! panics when the kernel says no (`RLIMIT_NPROC` reached, `ulimit -u`, a cgroup's `pids.max`,
//! no memory for a stack), which would end the driver with its export still `"running"`. Every
//! thread of the tool is started here, named for what it does, so the failure says which one.

use std::thread::{Builder, JoinHandle, Scope, ScopedJoinHandle};

/// The system would not start a thread.
#[derive(Debug, thiserror::Error)]
#[error("cannot start a thread for {what}: {source}")]
pub struct ThreadError {
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

fn builder(what: &'static str) -> Builder {
    Builder::new().name(what.to_string())
}

/// Starts `work` on a thread of its own, named `what`.
pub fn start<T, F>(what: &'static str, work: F) -> Result<JoinHandle<T>, ThreadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    builder(what)
        .spawn(work)
        .map_err(|source| ThreadError { what, source })
}

/// Starts `work` on a thread of `scope`, named `what`.
pub fn start_scoped<'scope, 'env, T, F>(
    scope: &'scope Scope<'scope, 'env>,
    what: &'static str,
    work: F,
) -> Result<ScopedJoinHandle<'scope, T>, ThreadError>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    builder(what)
        .spawn_scoped(scope, work)
        .map_err(|source| ThreadError { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_thread_runs_under_its_name() {
        let name = start("naming", || std::thread::current().name().map(String::from));
        assert_eq!(name.unwrap().join().unwrap().as_deref(), Some("naming"));
    }

    #[test]
    fn a_refusal_names_the_thread_and_keeps_the_cause() {
        let error = ThreadError {
            what: "the server's stdout",
            source: std::io::Error::from_raw_os_error(libc::EAGAIN),
        };
        assert!(error.to_string().starts_with(
            "cannot start a thread for the server's stdout: Resource temporarily unavailable"
        ));
        assert!(std::error::Error::source(&error).is_some());
    }
}
