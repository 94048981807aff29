//! A run leaves iceoryx2's root (`/tmp/iceoryx2`, with its `nodes` and `services`) as it found
//! it: gone again if it was not there. A file of its own because the other iceoryx2 tests
//! (`tests/iceoryx2.rs`) run in parallel threads of one process and keep the root in use.

// Only the binary's path is used here.
mod common {
    #[allow(dead_code)]
    pub mod process;
}

use std::path::Path;
use std::process::Command;

use common::process::bin;

const ROOT: &str = "/tmp/iceoryx2";

#[test]
fn a_run_that_found_no_iceoryx2_root_leaves_none() {
    // Empty directories only (`rmdir`): whatever another process keeps there stays, and then
    // this test cannot run and says so.
    for dir in ["nodes", "services", ""] {
        let _ = std::fs::remove_dir(Path::new(ROOT).join(dir));
    }
    assert!(
        !Path::new(ROOT).exists(),
        "{ROOT} holds another process's files: this test needs a machine without it"
    );
    let output = Command::new(bin())
        .args(["--transports", "iceoryx2", "--sizes", "100"])
        .args(["--iterations", "200", "--warmup", "10", "--timeout", "30s"])
        .output()
        .expect("running the driver");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!Path::new(ROOT).exists(), "the run left {ROOT}");
}
