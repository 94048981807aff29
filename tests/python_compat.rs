//! Byte compatibility with the Python library the SHM POSIX transport is modelled on: the real
//! shm-rpc-bridge 0.2.4 talks to our server, and our client talks to its server.
//!
//! Needs a Python with shm-rpc-bridge, which `scripts/setup-python-compat.sh` installs into
//! `.venv-compat`. So the tests are `#[ignore]`d: a plain `cargo test` lists them as ignored,
//! and `cargo test --test python_compat -- --include-ignored` (as CI runs it) fails, never
//! skips, when the interpreter is missing.

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod server;
    pub mod shm;
    pub mod signals;
}

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::channel::*;
use common::client::connect;
use common::process::Spawned;
use common::server::*;
use common::shm::{shm_endpoint, start_shm_server};
use common::signals::*;
use transport_bench::transport::kinds::shm_posix;
use transport_bench::transport::HEADER_LEN;

const BUFFER: usize = 64 * 1024;
const SIZES: [usize; 5] = [0, 1, 100, 10_000, BUFFER - HEADER_LEN];

/// The Python of `.venv-compat`; a test that needs it fails without it.
fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-compat/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup-python-compat.sh first",
        venv.display()
    );
    venv
}

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/srb_peer.py")
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + size) % 256) as u8).collect()
}

#[test]
#[ignore = "needs scripts/setup-python-compat.sh"]
fn python_client_against_our_server() {
    let python = python();
    let channel = unique_channel("py_client");
    let server = start_shm_server(&channel, BUFFER);
    let sizes: Vec<String> = SIZES.iter().map(|s| s.to_string()).collect();
    let output = Command::new(python)
        .arg(peer_script())
        .args(["client", &channel, &BUFFER.to_string(), &sizes.join(",")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), SIZES.len(), "{stdout}");
    stop_server_clean(server, &channel);
}

#[test]
#[ignore = "needs scripts/setup-python-compat.sh"]
fn our_client_against_the_python_server() {
    let python = python();
    let channel = unique_channel("py_server");
    let server = Spawned::start(Command::new(python).arg(peer_script()).args([
        "server",
        &channel,
        &BUFFER.to_string(),
        &SIZES.len().to_string(),
    ]));
    wait_for_line(&server, "READY");
    {
        let endpoint = shm_endpoint(&channel, BUFFER);
        let mut client = connect(shm_posix::KIND, &endpoint, Duration::from_secs(30)).unwrap();
        let mut response = vec![0u8; BUFFER];
        for size in SIZES {
            let request = payload(size);
            let len = client.round_trip(&request, &mut response).unwrap();
            assert_eq!(&response[..len], &request[..], "{size}-byte echo");
        }
    }
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{stderr}");
    assert_eq!(channel_leftovers(&channel), Vec::<String>::new());
}
