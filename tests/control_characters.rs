//! Control characters in what the tool shows (issue 27, #12): free text from a saved report
//! (its `state`, the machine's `kernel` and `cpu`) or from `/dev/shm` reaches the terminal, the
//! SVG and the other outputs with its control characters, C1's one-byte CSI (U+009B) and the
//! noncharacters XML forbids (U+FFFE, U+FFFF) replaced by U+FFFD: no escape sequence of a
//! report's author reaches the terminal, and the SVG stays well-formed XML.

mod common {
    // Only `shm_entries`, `bin` and `PATIENCE` of it are needed here; the rest serves the
    // files that spawn servers.
    #[allow(dead_code)]
    pub mod process;
    pub mod subcommand;
}

use std::path::{Path, PathBuf};

use common::process::{dead_pid, shm_entries};
use common::subcommand::run_bounded;
use serde_json::Value;

/// What none of the outputs may hold.
const UNSHOWABLE: [char; 6] = ['\u{1b}', '\u{7}', '\u{9b}', '\u{fffe}', '\u{ffff}', '\r'];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture `name` with its state, kernel and CPU name made hostile, written into `dir`.
fn hostile_copy(dir: &Path, name: &str) -> PathBuf {
    let mut report: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    report["state"] = "partial\u{1b}]0;owned\u{7}\u{1b}[2J\r".into();
    report["machine"]["kernel"] = "6.1.0\u{9b}31mred".into();
    report["machine"]["cpu"] = "Xeon\u{fffe}\u{ffff}\u{1b}[5m".into();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    path
}

fn assert_showable(what: &str, text: &str) {
    for bad in UNSHOWABLE {
        assert!(!text.contains(bad), "{what} holds {bad:?}:\n{text}");
    }
}

/// `transport-bench SUBCOMMAND ARGS`, bounded: its exit code, stdout and stderr.
fn run(subcommand: &str, args: &[&Path]) -> (Option<i32>, String, String) {
    let output = run_bounded(subcommand, args, b"");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8 output");
    (
        output.status.code(),
        text(output.stdout),
        text(output.stderr),
    )
}

#[test]
fn compare_shows_a_hostile_reports_state_kernel_and_cpu_without_their_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("compare-base.json");
    let new = hostile_copy(dir.path(), "compare-new.json");
    let (code, stdout, stderr) = run("compare", &[&base, &new]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_showable("compare's output", &format!("{stdout}{stderr}"));
    // Each was shown, replaced: the state in its warning, the kernel and CPU as differences.
    assert!(
        stdout.contains("state: partial\u{fffd}]0;owned\u{fffd}\u{fffd}[2J\u{fffd}"),
        "{stdout}"
    );
    assert!(stdout.contains("6.1.0\u{fffd}31mred"), "{stdout}");
    assert!(stdout.contains("Xeon"), "{stdout}");
}

#[test]
fn plot_of_a_report_whose_cpu_name_holds_noncharacters_is_well_formed_xml() {
    let dir = tempfile::tempdir().unwrap();
    let report = hostile_copy(dir.path(), "compare-base.json");
    let svg_path = dir.path().join("plot.svg");
    let (code, stdout, stderr) = run("plot", &[&report, Path::new("--out"), &svg_path]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert_showable("the SVG", &svg);
    assert!(svg.contains("Xeon\u{fffd}\u{fffd}\u{fffd}[5m"), "{svg}");
}

/// `cleanup` names what it removes from `/dev/shm`, where anyone names files as they like.
#[test]
fn cleanup_names_a_leftover_whose_name_holds_an_escape_sequence_without_it() {
    let dead = dead_pid();
    let name = format!("srb_tb_{dead}_1_req\u{1b}[2J\u{9b}0m");
    let path = Path::new("/dev/shm").join(&name);
    std::fs::write(&path, b"").unwrap();
    let (code, stdout, stderr) = run("cleanup", &[]);
    let left = shm_entries(&format!("srb_tb_{dead}_1_req"));
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_showable("cleanup's output", &stdout);
    assert!(
        stdout.contains(&format!("srb_tb_{dead}_1_req\u{fffd}[2J\u{fffd}0m")),
        "{stdout}"
    );
    assert!(left.is_empty(), "not removed: {left:?}");
}
