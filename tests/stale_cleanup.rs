//! Stale objects and the `cleanup` subcommand. These tests sweep machine-wide state (objects of
//! dead drivers, every `/srb_*`), so they live in their own test binary (cargo runs test
//! binaries one at a time) and take a lock so they never run alongside each other.

mod common {
    pub mod channel;
    pub mod cleanup;
    pub mod driver;
    pub mod planted;
    pub mod process;
    pub mod server;
    pub mod shm;
    pub mod signals;
}

use std::process::Command;
use std::sync::Mutex;

use common::channel::*;
use common::cleanup::remove_objects;
use common::driver::Driver;
use common::planted::{Planted, What};
use common::process::{bin, dead_pid, Spawned};
use common::shm::start_shm_server;
use common::signals::stop_server_clean;
use std::ffi::CString;

use nix::fcntl::OFlag;
use nix::sys::mman::shm_open;
use nix::sys::stat::Mode;

static MACHINE_WIDE: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    MACHINE_WIDE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Leaves objects behind on purpose, as a crashed program would: names in /dev/shm that no
/// process holds open (so no owner lock is held either).
fn leak_objects(channel: &str) {
    let memory = CString::new(format!("/srb_{channel}_req")).unwrap();
    let mode = Mode::S_IRUSR | Mode::S_IWUSR;
    let fd = shm_open(memory.as_c_str(), OFlag::O_CREAT | OFlag::O_RDWR, mode).unwrap();
    nix::unistd::ftruncate(&fd, 4096).unwrap();
    drop(fd);
    let semaphore = CString::new(format!("/srb_{channel}_req_empty")).unwrap();
    // SAFETY: a valid C string; O_CREAT takes exactly the mode and value varargs.
    let sem =
        unsafe { libc::sem_open(semaphore.as_ptr(), libc::O_CREAT, 0o600 as libc::c_uint, 1) };
    assert_ne!(sem, libc::SEM_FAILED);
    // SAFETY: sem came from sem_open and is closed once.
    unsafe { libc::sem_close(sem) };
}

#[test]
fn cleanup_removes_only_dead_runs_objects() {
    let _guard = lock();
    let dead = format!("tb_{}_1", dead_pid());
    let live = format!("tb_{}_9{}", std::process::id(), std::process::id());
    let foreign = unique_channel("foreign");
    for channel in [&dead, &live, &foreign] {
        leak_objects(channel);
    }
    let tmp = tempfile::tempdir().unwrap();
    let stale_dir = tmp
        .path()
        .join(format!("transport-bench-{}-abc", dead_pid()));
    std::fs::create_dir(&stale_dir).unwrap();
    let output = Command::new(bin())
        .arg("cleanup")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    let leftovers = (
        channel_leftovers(&dead),
        channel_leftovers(&live).len(),
        channel_leftovers(&foreign).len(),
    );
    remove_objects(&live);
    remove_objects(&foreign);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains(&format!("Removed shared memory /srb_{dead}_req")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Removed semaphore /srb_{dead}_req_empty")),
        "{out}"
    );
    assert!(out.contains("Removed directory"), "{out}");
    assert_eq!(
        leftovers,
        (Vec::<String>::new(), 2, 2),
        "dead removed, live and foreign kept"
    );
    assert!(!stale_dir.exists());
}

#[test]
fn the_driver_removes_stale_objects_at_start() {
    let _guard = lock();
    let dead = format!("tb_{}_7", dead_pid());
    leak_objects(&dead);
    let driver = Driver::start(&[
        "--iterations",
        "20",
        "--sizes",
        "small",
        "--transports",
        "shm-posix",
    ]);
    let (status, out, _) = driver.finish_clean();
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("removed stale shared memory /srb_{dead}_req")),
        "{out}"
    );
    assert_eq!(channel_leftovers(&dead), Vec::<String>::new());
}

#[test]
#[ignore = "cleanup --all removes every /srb_* object on the machine, a running shm-rpc-bridge \
            program's too; CI runs it with --ignored"]
fn cleanup_all_says_what_it_removes_then_removes_every_srb_object() {
    let _guard = lock();
    let foreign = unique_channel("all");
    leak_objects(&foreign);
    let output = Command::new(bin())
        .args(["cleanup", "--all"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    let announce = out.find("Removing ").expect("announces before removing");
    let removed = out
        .find(&format!("Removed shared memory /srb_{foreign}_req"))
        .expect(&out);
    assert!(announce < removed, "{out}");
    assert!(
        out.contains(&format!("  semaphore /srb_{foreign}_req_empty")),
        "{out}"
    );
    assert_eq!(channel_leftovers(&foreign), Vec::<String>::new());
    let again = Command::new(bin())
        .args(["cleanup", "--all"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("Nothing to remove."));
}

#[test]
fn a_live_server_is_kept_whatever_pid_its_channel_name_shows() {
    // As a run in another PID namespace looks from here: its pid does not exist, yet it lives.
    let _guard = lock();
    let channel = format!("tb_{}_1", dead_pid());
    let server = start_shm_server(&channel, 4096);
    let output = Command::new(bin()).arg("cleanup").output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    let kept = channel_leftovers(&channel).len();
    stop_server_clean(server, &channel);
    assert!(output.status.success(), "{out}");
    assert_eq!(kept, 6, "the live server's objects were removed:\n{out}");
}

/// `transport-bench cleanup ARGS` with `tmp` as its TMPDIR, bounded: `Spawned::finish` kills it
/// and fails the test if it hangs. Returns its exit status and standard output.
fn cleanup_bounded(args: &[&str], tmp: &std::path::Path) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(bin());
    command.arg("cleanup").args(args).env("TMPDIR", tmp);
    let (status, out, err) = Spawned::start(&mut command).finish();
    (status, format!("{out}{err}"))
}

#[test]
fn a_fifo_a_link_or_a_directory_under_a_stale_name_is_left_alone_and_reported() {
    let _guard = lock();
    let dead = dead_pid();
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = Planted::new(tmp.path().join("elsewhere"), What::Fifo);
    let planted = [
        (
            format!("/dev/shm/srb_tb_{dead}_1_req"),
            What::Fifo,
            "a FIFO",
        ),
        (
            format!("/dev/shm/srb_tb_{dead}_2_req"),
            What::Link(elsewhere.path()),
            "a symbolic link",
        ),
        (
            format!("/dev/shm/srb_tb_{dead}_3_req"),
            What::Dir,
            "a directory",
        ),
        (
            format!("/dev/shm/sem.srb_tb_{dead}_4_req_empty"),
            What::Fifo,
            "a FIFO",
        ),
    ];
    let in_tmp = [
        (
            format!("transport-bench-{dead}-abcdef"),
            What::Fifo,
            "a FIFO",
        ),
        (
            format!("transport-bench-{dead}-link"),
            What::Link(elsewhere.path()),
            "a symbolic link",
        ),
    ];
    let in_tmp = in_tmp.map(|(name, what, kind)| {
        let path = tmp.path().join(name);
        (path.display().to_string(), what, kind)
    });
    let planted: Vec<(Planted, &str)> = (planted.into_iter().chain(in_tmp))
        .map(|(path, what, kind)| (Planted::new(path, what), kind))
        .collect();
    let (status, out) = cleanup_bounded(&[], tmp.path());
    assert!(status.success(), "{out}");
    for (thing, kind) in &planted {
        let line = format!("Left alone: {} is {kind}", thing.path().display());
        assert!(out.contains(&line), "{line:?} not in {out}");
        assert!(thing.path().symlink_metadata().is_ok(), "{out}");
    }
    // Only what was planted here: a stale object of another, dead run (an earlier test's
    // SIGKILLed driver) may be removed by the same sweep, as it should be.
    let removed_ours = out
        .lines()
        .any(|line| line.starts_with("Removed") && line.contains(&format!("_{dead}_")));
    assert!(!removed_ours, "{out}");
}

#[test]
fn the_drivers_start_up_sweep_passes_a_fifo_under_a_stale_name() {
    let _guard = lock();
    let dead = dead_pid();
    let fifo = Planted::new(format!("/dev/shm/srb_tb_{dead}_1_req"), What::Fifo);
    let driver = Driver::start(&[
        "--iterations",
        "20",
        "--sizes",
        "small",
        "--transports",
        "unix-stream",
    ]);
    let (status, out, _) = driver.finish_clean();
    assert!(status.success(), "{out}");
    assert!(
        fifo.path().symlink_metadata().is_ok(),
        "the FIFO is not ours"
    );
}

#[test]
fn cleanup_removes_a_dead_runs_socket_but_leaves_a_directory_holding_anything_else() {
    let _guard = lock();
    let dead = dead_pid();
    let tmp = tempfile::tempdir().unwrap();
    let dir = |suffix: &str| tmp.path().join(format!("transport-bench-{dead}-{suffix}"));
    // What a killed run leaves: its directory and the server's socket in it.
    let ours = dir("ours");
    std::fs::create_dir(&ours).unwrap();
    drop(std::os::unix::net::UnixListener::bind(ours.join("echo.sock")).unwrap());
    // Someone else's content under our names: a file, a plain file named like the socket, a
    // directory.
    let foreign = [
        ("precious.txt", What::File(5)),
        ("echo.sock", What::File(0)),
        ("sub", What::Dir),
    ];
    let foreign: Vec<(std::path::PathBuf, Planted)> = (foreign.into_iter().enumerate())
        .map(|(i, (name, what))| {
            let holder = dir(&format!("foreign{i}"));
            std::fs::create_dir(&holder).unwrap();
            (holder.clone(), Planted::new(holder.join(name), what))
        })
        .collect();
    let (status, out) = cleanup_bounded(&[], tmp.path());
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("Removed directory {}", ours.display())),
        "{out}"
    );
    assert!(!ours.exists(), "{out}");
    for (holder, content) in &foreign {
        let name = content.path().file_name().unwrap().to_string_lossy();
        let line = format!("Left alone: {} holds \"{name}\"", holder.display());
        assert!(out.contains(&line), "{line:?} not in {out}");
        assert!(content.path().symlink_metadata().is_ok(), "{out}");
    }
}

#[test]
fn cleanup_of_one_channel_removes_its_objects_but_not_a_fifo_under_its_name() {
    let _guard = lock();
    let channel = unique_channel("fifo");
    leak_objects(&channel);
    // leak_objects made the request memory; the reply memory's name holds a FIFO.
    let fifo = Planted::new(format!("/dev/shm/srb_{channel}_resp"), What::Fifo);
    let tmp = tempfile::tempdir().unwrap();
    let (status, out) = cleanup_bounded(&["--channel", &channel], tmp.path());
    let left = channel_leftovers(&channel);
    drop(fifo);
    remove_objects(&channel);
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("Removed shared memory /srb_{channel}_req")),
        "{out}"
    );
    let line = format!("Left alone: /dev/shm/srb_{channel}_resp is a FIFO");
    assert!(out.contains(&line), "{out}");
    assert_eq!(left, [format!("srb_{channel}_resp")], "{out}");
}

/// What `cleanup` cannot remove it names, one line each, and it fails; run as uid 65534 against
/// root's object (a sticky `/dev/shm` lets only its owner remove it).
#[test]
#[ignore = "needs root: runs cleanup as uid 65534 (setpriv) against an object of root's"]
fn cleanup_names_each_object_it_cannot_remove() {
    // The `cleanup --all` of the test beside it would remove the object first.
    let _guard = lock();
    let channel = unique_channel("notmine");
    let path = format!("/dev/shm/srb_{channel}_req");
    std::fs::write(&path, b"").unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["cleanup", "--channel", &channel])
        .output()
        .unwrap();
    let still_there = std::path::Path::new(&path).exists();
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(still_there);
    let named = format!("error: shared memory /srb_{channel}_req could not be removed");
    assert!(stderr.contains(&named), "{stderr}");
}
