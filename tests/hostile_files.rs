//! Files the tool writes by name, in hostile places: `--export-hgrm` into a directory that is
//! not the user's own (another user's, or world-writable without the sticky bit) with a link
//! planted under a case's name; export paths that collide, refused before anything is made;
//! a TMPDIR whose path the READY line cannot carry.

mod common {
    pub mod driver;
    pub mod process;
}

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::driver::Driver;
use common::process::bin;

/// A short benchmark of one transport, with `extra` options.
fn short_run(extra: &[&str]) -> Vec<String> {
    let base = [
        "--transports",
        "unix-stream",
        "--iterations",
        "20",
        "--warmup",
        "2",
        "--sizes",
        "100",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// The binary run in `dir` (relative paths land there) with its own empty TMPDIR.
fn run_in(dir: &Path, args: &[String]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", tmp.path())
        .output()
        .expect("running the binary");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "{args:?}"
    );
    output
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn export_paths_that_cannot_all_be_written_are_usage_errors_that_create_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--export-hgrm", "same", "--export-json", "same"],
            "--export-json same and --export-hgrm same are one path",
        ),
        (
            &["--export-hgrm", "p.svg", "--plot", "p.svg"],
            "--plot p.svg and --export-hgrm p.svg are one path",
        ),
        (
            &["--export-hgrm", "r.json"],
            "--export-hgrm r.json: a file exists there; it needs a directory",
        ),
        (
            &["--export-csv", "sub"],
            "--export-csv sub: a directory exists there; it needs a file",
        ),
        (
            &[
                "--export-hgrm",
                "h",
                "--export-json",
                "h/unix-stream_100B_round-trip.hgrm",
            ],
            "is inside --export-hgrm h and named like its .hgrm files",
        ),
        (
            &["--export-json", "a.json", "--export-csv", "./a.json"],
            "--export-json a.json and --export-csv ./a.json are the same file",
        ),
    ];
    for (extra, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.json"), "mine").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let output = run_in(dir.path(), &short_run(extra));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(message),
            "{extra:?}: no {message:?} in {stderr}"
        );
        assert!(output.stdout.is_empty(), "{extra:?}");
        assert_eq!(
            entries(dir.path()),
            ["r.json", "sub"],
            "{extra:?} made something"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
            "mine"
        );
    }
}

#[test]
fn an_export_can_go_into_the_hgrm_directory_the_run_makes() {
    let dir = tempfile::tempdir().unwrap();
    let args = short_run(&[
        "--export-hgrm",
        "h/deeper",
        "--export-json",
        "h/deeper/r.json",
    ]);
    let output = run_in(dir.path(), &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made = entries(&dir.path().join("h/deeper"));
    assert_eq!(made, ["r.json", "unix-stream_100B_round-trip.hgrm"]);
}

/// `dir` holds, under the name of the run's one case, a link to `keep` (owned by `planter`,
/// if given); after a run with `--export-hgrm dir`, `keep` is as it was and the case's file
/// is a file of its own.
fn assert_hgrm_run_replaces_the_planted_link(dir: &Path, keep: &Path, planter: Option<u32>) {
    let case = dir.join("unix-stream_100B_round-trip.hgrm");
    std::os::unix::fs::symlink(keep, &case).unwrap();
    std::os::unix::fs::lchown(&case, planter, None).unwrap();
    let args = short_run(&["--export-hgrm", dir.to_str().unwrap()]);
    let driver = Driver::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, _, stderr) = driver.finish_clean();
    assert!(status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(keep).unwrap(), "keep me");
    let meta = std::fs::symlink_metadata(&case).unwrap();
    assert!(meta.is_file(), "{meta:?}");
    let text = std::fs::read_to_string(&case).unwrap();
    assert!(text.contains("Total count    ="), "{text}");
    assert_eq!(
        entries(dir).len(),
        1,
        "no temporary file left: {:?}",
        entries(dir)
    );
}

#[test]
fn hgrm_files_in_a_world_writable_directory_replace_a_planted_link_not_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("h");
    std::fs::create_dir(&hostile).unwrap();
    // World-writable without the sticky bit: anyone may have planted the link.
    std::fs::set_permissions(&hostile, std::fs::Permissions::from_mode(0o777)).unwrap();
    let keep = dir.path().join("keep.txt");
    std::fs::write(&keep, "keep me").unwrap();
    assert_hgrm_run_replaces_the_planted_link(&hostile, &keep, None);
}

/// A user made for one test, removed when dropped.
struct OtherUser(String);

impl OtherUser {
    fn add() -> OtherUser {
        let name = format!("tbh{}", std::process::id());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", &name])
            .status()
            .expect("running useradd");
        assert!(status.success(), "useradd {name}");
        OtherUser(name)
    }

    fn uid(&self) -> u32 {
        let id = Command::new("id").args(["-u", &self.0]).output().unwrap();
        String::from_utf8_lossy(&id.stdout)
            .trim()
            .parse()
            .expect("the new user's uid")
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

/// As the issue found it: another user's `/tmp/h` (mode 777, not sticky) holds a link named
/// like a case's `.hgrm`, pointing at one of root's files; root runs `--export-hgrm /tmp/h`.
#[test]
#[ignore = "needs root: another user"]
fn hgrm_files_in_another_users_directory_never_write_through_their_link() {
    let user = OtherUser::add();
    let hostile = tempfile::Builder::new()
        .prefix("tb-h-")
        .tempdir_in("/tmp")
        .unwrap();
    std::os::unix::fs::chown(hostile.path(), Some(user.uid()), None).unwrap();
    std::fs::set_permissions(hostile.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let roots = tempfile::tempdir().unwrap();
    let keep = roots.path().join("keep.txt");
    std::fs::write(&keep, "keep me").unwrap();
    assert_hgrm_run_replaces_the_planted_link(hostile.path(), &keep, Some(user.uid()));
}

/// ipc-channel's server names its socket under TMPDIR and reports it on its READY line: a
/// newline in TMPDIR would cut that line, and the driver would wait its whole timeout.
#[test]
fn a_tmpdir_with_a_newline_fails_the_ipc_channel_case_at_once_saying_why() {
    let parent = tempfile::tempdir().unwrap();
    let odd = parent.path().join("a\nb");
    std::fs::create_dir(&odd).unwrap();
    let output = Command::new(bin())
        .args([
            "--transports",
            "ipc-channel",
            "--iterations",
            "20",
            "--sizes",
            "100",
        ])
        .args(["--timeout", "60s"])
        .env("TMPDIR", &odd)
        .output()
        .expect("running the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("holds a control character"), "{stdout}");
    assert!(stdout.contains("choose a TMPDIR without one"), "{stdout}");
    assert!(!stdout.contains("timed out"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(&odd).unwrap().count(),
        0,
        "left in TMPDIR"
    );
}
