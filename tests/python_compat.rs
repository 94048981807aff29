//! Byte compatibility with the Python library the SHM POSIX transport is modelled on: the real
//! shm-rpc-bridge 0.2.4 talks to our server, and our client talks to its server.
//!
//! Needs a Python with shm-rpc-bridge: `scripts/setup-python-compat.sh` makes one in
//! `.venv-compat` (CI runs it and sets TB_REQUIRE_PYTHON_COMPAT=1, which turns a missing
//! interpreter into a failure instead of a skip).

mod common {
    pub mod channel;
    pub mod client;
    pub mod process;
    pub mod server;
}

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::channel::*;
use common::client::{connect, shm_endpoint};
use common::process::Spawned;
use common::server::*;
use transport_bench::transport::{TransportKind, HEADER_LEN};

const BUFFER: usize = 64 * 1024;
const SIZES: [usize; 5] = [0, 1, 100, 10_000, BUFFER - HEADER_LEN];

fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-compat/bin/python");
    let found = venv.exists().then_some(venv);
    if found.is_none() {
        assert!(
            std::env::var_os("TB_REQUIRE_PYTHON_COMPAT").is_none(),
            "TB_REQUIRE_PYTHON_COMPAT is set but .venv-compat is missing: run scripts/setup-python-compat.sh"
        );
        eprintln!("SKIPPED: no .venv-compat (run scripts/setup-python-compat.sh to enable)");
    }
    found
}

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/srb_peer.py")
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + size) % 256) as u8).collect()
}

#[test]
fn python_client_against_our_server() {
    let Some(python) = python() else { return };
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
fn our_client_against_the_python_server() {
    let Some(python) = python() else { return };
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
        let mut client =
            connect(TransportKind::ShmPosix, &endpoint, Duration::from_secs(30)).unwrap();
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
