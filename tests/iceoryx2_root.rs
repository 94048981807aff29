//! A run leaves iceoryx2's root (`/tmp/iceoryx2`, with its `nodes` and `services`) as it found
//! it: gone again if it was not there. So does a test process that starts iceoryx2 servers and
//! clients itself (`common::process::leave_library_dirs_as_found`), at its normal exit. A file
//! of its own because the other iceoryx2 tests (`tests/iceoryx2.rs`) run in parallel threads
//! of one process and keep the root in use; its checks take turns for the same reason.

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod server;
    pub mod signals;
}

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

use common::channel::unique_channel;
use common::client::connect;
use common::process::{bin, PATIENCE};
use common::server::{server_args, start_server};
use common::signals::stop_server_clean;
use transport_bench::transport::kinds::iceoryx2;
use transport_bench::transport::{Endpoint, Pattern};

/// iceoryx2's root directory (`/tmp/iceoryx2`), as the tool names it: the first of its
/// library directories, parents first.
fn root() -> PathBuf {
    iceoryx2::KIND.library_dirs().remove(0)
}

/// One check at a time: each needs the root missing when it starts and is what makes it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Removes the root if it is empty (`rmdir`: whatever another process keeps there stays, and
/// then the test cannot run and says so).
fn assert_no_root_to_start_with() {
    for dir in iceoryx2::KIND.library_dirs().iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
    assert!(
        !root().exists(),
        "{} holds another process's files: this test needs a machine without it",
        root().display()
    );
}

fn assert_succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_run_that_found_no_iceoryx2_root_leaves_none() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert_no_root_to_start_with();
    let output = Command::new(bin())
        .args(["--transports", "iceoryx2", "--sizes", "100"])
        .args(["--iterations", "200", "--warmup", "10", "--timeout", "30s"])
        .output()
        .expect("running the driver");
    assert_succeeded(&output);
    assert!(!root().exists(), "the run left {}", root().display());
}

/// Run by [`a_test_process_that_found_no_iceoryx2_root_leaves_none`] as a process of its own
/// (this file's binary, this test alone), whose exit is what it checks.
#[test]
#[ignore = "the child process of a_test_process_that_found_no_iceoryx2_root_leaves_none"]
fn an_iceoryx2_server_started_by_a_test_echoes_to_its_client() {
    // Alone in its child process; in turn with the others where all run together
    // (`--include-ignored`).
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let channel = unique_channel("ice_root");
    let endpoint = Endpoint::ShmChannel {
        channel: channel.clone(),
        buffer_size: 4096,
    };
    let args = server_args(iceoryx2::KIND, &endpoint, PATIENCE);
    let server = start_server(&args.exchanging(Pattern::RoundTrip, None, true), &[]);
    let mut client = connect(iceoryx2::KIND, &endpoint, PATIENCE).unwrap();
    let mut reply = [0; 64];
    let len = client.round_trip(b"ping", &mut reply).expect("an echo");
    assert_eq!(&reply[..len], b"ping");
    let nodes = root().join("nodes");
    assert!(nodes.is_dir(), "iceoryx2 did not make {}", nodes.display());
    drop(client);
    stop_server_clean(server, &channel);
}

#[test]
fn a_test_process_that_found_no_iceoryx2_root_leaves_none() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert_no_root_to_start_with();
    let name = "an_iceoryx2_server_started_by_a_test_echoes_to_its_client";
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture"])
        .output()
        .expect("running this file's tests again");
    assert_succeeded(&output);
    // It ran, and alone: a filter that matched nothing passes too.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    assert!(
        !root().exists(),
        "the test process left {}",
        root().display()
    );
}
