//! `--listen` and `--connect` across a real network interface, not loopback: two network
//! namespaces made by the test, joined by a veth pair with addresses from 192.0.2.0/24 (TEST-NET-1,
//! the documentation range), a standalone server in one and the driver in the other. Every echo
//! is verified; the namespaces (and with them the link) are removed on every path, a failing
//! assertion's too. No address outside the namespaces the test made is used.
//!
//! Root-only (`ip netns` needs CAP_SYS_ADMIN): ignored by a plain `cargo test`, run by `.ci/run`.

// Only part of each shared helper is used here (no shm, no driver-spawned servers).
mod common {
    #[allow(dead_code)]
    pub mod process;
    #[allow(dead_code)]
    pub mod server;
}

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::process::{bin, Spawned};
use common::server::wait_for_line;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const NEEDS_ROOT: &str = "needs root for ip netns; .ci/run runs it";

/// The server's host and the client's, on the link between them.
const SERVER_ADDRESS: &str = "192.0.2.1";
const CLIENT_ADDRESS: &str = "192.0.2.2";

/// Runs `ip` with `args`; fails the test with what it said if it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        output.status.success(),
        "{NEEDS_ROOT}: ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two hosts: a namespace each, a veth link between them. Dropping it deletes both namespaces,
/// which deletes the link with them.
struct TwoHosts {
    server: String,
    client: String,
}

impl TwoHosts {
    fn new() -> TwoHosts {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hosts = TwoHosts {
            server: format!("tb-server-{id}"),
            client: format!("tb-client-{id}"),
        };
        ip(&["netns", "add", &hosts.server]);
        ip(&["netns", "add", &hosts.client]);
        // Interface names have at most 15 bytes: made from the id's digits.
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        let (server_end, client_end) = (format!("tbs{digits}"), format!("tbc{digits}"));
        ip(&[
            "link",
            "add",
            &server_end,
            "netns",
            &hosts.server,
            "type",
            "veth",
            "peer",
            "name",
            &client_end,
            "netns",
            &hosts.client,
        ]);
        for (host, end, address) in [
            (&hosts.server, &server_end, SERVER_ADDRESS),
            (&hosts.client, &client_end, CLIENT_ADDRESS),
        ] {
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                end,
            ]);
            ip(&["-n", host, "link", "set", end, "up"]);
            ip(&["-n", host, "link", "set", "lo", "up"]);
        }
        hosts
    }

    /// `ip netns exec HOST` and the binary, ready for its arguments.
    fn command(&self, host: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", host]).arg(bin());
        command
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for host in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", host]).status();
        }
    }
}

/// Deletes both hosts and returns those of their namespaces still listed (none, unless the
/// deletion failed).
fn remove(hosts: TwoHosts) -> Vec<String> {
    let names = [hosts.server.clone(), hosts.client.clone()];
    drop(hosts);
    let listed = Command::new("ip").args(["netns", "list"]).output();
    String::from_utf8_lossy(&listed.map(|o| o.stdout).unwrap_or_default())
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| names.iter().any(|mine| mine == name))
        .map(String::from)
        .collect()
}

/// A standalone `transport` server on the server host (`server_args` say where it listens),
/// measured by the driver on the client host at `connect_prefix` + the address the server
/// printed after READY: every echo verified, every case ok, the server ends cleanly.
fn measured_across_the_link(transport: &str, server_args: &[&str], connect_prefix: &str) {
    let hosts = TwoHosts::new();
    let mut server_command = hosts.command(&hosts.server);
    server_command.args(["--server", "--transport", transport]);
    let server = Spawned::start(server_command.args(server_args));
    let ready = wait_for_line(&server, "READY");
    let address = ready.trim_start_matches("READY").trim();
    assert!(address.contains(SERVER_ADDRESS), "{transport}: {ready}");

    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("across.json");
    let target = format!("{connect_prefix}{address}");
    let driver = hosts
        .command(&hosts.client)
        .args([
            "--connect",
            &target,
            "--sizes",
            "100,64KiB",
            "--iterations",
            "50",
        ])
        .args(["--warmup", "5", "--verify-all", "--timeout", "20s"])
        .arg("--export-json")
        .arg(&json)
        .output()
        .expect("running the driver");
    let stdout = String::from_utf8_lossy(&driver.stdout);
    assert!(driver.status.success(), "{transport}: {stdout}\n{}", {
        String::from_utf8_lossy(&driver.stderr)
    });
    // Another host is not labelled a loopback.
    assert!(!stdout.contains("loopback"), "{transport}: {stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["state"], "complete", "{report}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report}");
    for result in results {
        assert_eq!(result["status"], "ok", "{transport}: {result}");
        assert_eq!(result["iterations"], 50, "{transport}: {result}");
    }
    assert_eq!(
        report["config"]["connect"]["address"].as_str(),
        Some(address)
    );

    kill(Pid::from_raw(server.pid() as i32), Signal::SIGTERM).unwrap();
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{transport} server: {status}: {stderr}");
    assert_eq!(remove(hosts), Vec::<String>::new());
}

#[test]
#[ignore = "needs root for ip netns; .ci/run runs it"]
fn a_tcp_server_on_another_host_is_measured_across_the_link() {
    let listen = format!("{SERVER_ADDRESS}:0");
    measured_across_the_link("tcp", &["--listen", &listen], "tcp:");
}

#[test]
#[ignore = "needs root for ip netns; .ci/run runs it"]
fn a_zmq_tcp_server_on_another_host_is_measured_across_the_link() {
    let endpoint = format!("tcp://{SERVER_ADDRESS}:0");
    measured_across_the_link("zmq-tcp", &["--endpoint", &endpoint], "zmq-tcp:");
}

/// The client host reaches the server host only by the link's address: the server's own
/// loopback is another host's, where nothing listens, and the case fails, naming the cause.
#[test]
#[ignore = "needs root for ip netns; .ci/run runs it"]
fn the_other_hosts_loopback_is_not_the_servers() {
    let hosts = TwoHosts::new();
    let mut server_command = hosts.command(&hosts.server);
    let server = Spawned::start(
        server_command
            .args(["--server", "--transport", "tcp"])
            .args(["--listen", &format!("{SERVER_ADDRESS}:0")]),
    );
    let ready = wait_for_line(&server, "READY");
    let port = ready.rsplit(':').next().unwrap().trim().to_string();
    let driver = hosts
        .command(&hosts.client)
        .args([
            "--connect",
            &format!("tcp:127.0.0.1:{port}"),
            "--sizes",
            "100",
        ])
        .args(["--iterations", "10", "--timeout", "5s"])
        .output()
        .expect("running the driver");
    let stdout = String::from_utf8_lossy(&driver.stdout);
    assert!(!driver.status.success(), "{stdout}");
    assert!(stdout.contains("refused"), "{stdout}");
    kill(Pid::from_raw(server.pid() as i32), Signal::SIGTERM).unwrap();
    let (status, _, stderr) = server.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(remove(hosts), Vec::<String>::new());
}
