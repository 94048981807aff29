//! `transport-bench completions SHELL` and `transport-bench man`, checked by the programs that
//! read them: the bash script loaded into a real `bash` and asked to complete, the man pages
//! rendered by `man -l` (man-db and groff; .ci/run installs them where they are missing).

mod common {
    // Only `bin` and `PATIENCE` of it are needed here; the rest serves the files that spawn
    // servers.
    #[allow(dead_code)]
    pub mod process;
    pub mod usage;
}

use std::path::Path;

use assert_cmd::Command;
use common::process::{bin, PATIENCE};
use common::usage::assert_usage_error;

fn tb() -> Command {
    let mut cmd = Command::cargo_bin("transport-bench").unwrap();
    cmd.timeout(PATIENCE);
    cmd
}

/// `script` run by a real bash after the completion script of this binary has been sourced;
/// its standard output.
fn in_bash_with_completions(script: &str) -> String {
    let setup = format!("source <({:?} completions bash) || exit 9\n", bin());
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c"])
        .arg(setup + script)
        .timeout(PATIENCE)
        .output()
        .expect("running bash");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bash: {stderr}");
    assert!(stderr.is_empty(), "bash complained: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// What `man -l` prints for `page` (roff, on its standard input), with groff's warnings on.
fn rendered(page: &[u8]) -> String {
    let output = Command::new("man")
        .args(["--warnings", "-l", "-"])
        .env("MANWIDTH", "100")
        .write_stdin(page.to_vec())
        .timeout(PATIENCE)
        .output()
        .expect("running man");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "man: {stderr}");
    assert!(stderr.is_empty(), "man or groff warned: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// What bash's programmable completion offers for `transport-bench WORDS… <TAB>`, in its order.
fn completions_of(words: &str) -> Vec<String> {
    let script = format!(
        "words=(transport-bench {words})\n\
         function=$(complete -p transport-bench | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\
         COMP_WORDS=(\"${{words[@]}}\"); COMP_CWORD=$((${{#words[@]}} - 1))\n\
         COMP_LINE=\"${{words[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n\
         \"$function\" transport-bench \"${{words[-1]}}\" \"${{words[-2]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let replies = in_bash_with_completions(&script);
    replies.lines().map(str::to_string).collect()
}

#[test]
fn the_bash_completion_loads_and_registers_the_binary() {
    let registered = in_bash_with_completions("complete -p transport-bench");
    assert!(
        registered.starts_with("complete ") && registered.trim_end().ends_with(" transport-bench"),
        "{registered}"
    );
    assert!(registered.contains(" -F "), "{registered}");
}

#[test]
fn bash_completes_subcommands_flags_and_shells() {
    let subcommands = completions_of("comp");
    assert_eq!(subcommands, ["compare", "completions"]);
    let flags = completions_of("--export-");
    for flag in ["--export-json", "--export-csv", "--export-markdown"] {
        assert!(flags.contains(&flag.to_string()), "{flags:?}");
    }
    assert_eq!(completions_of("completions p"), ["powershell"]);
    assert_eq!(completions_of("compare --fail"), ["--fail-above"]);
}

#[test]
fn bash_completes_the_values_of_transports_sizes_pattern_and_pin() {
    let complete = |words: &str| {
        let mut replies = completions_of(words);
        replies.sort_unstable();
        replies
    };
    assert_eq!(
        complete("--transports sh"),
        ["shm-posix", "shm-spin", "shm-zc"]
    );
    assert_eq!(complete("--transports a"), ["all"]);
    // The item after the last comma completes, the ones before it kept.
    assert_eq!(
        complete("--iterations 10 --transports tcp,zmq-"),
        ["tcp,zmq-ipc", "tcp,zmq-tcp"]
    );
    assert_eq!(complete("--sizes small,s"), ["small,small", "small,sweep"]);
    assert_eq!(complete("--pattern s"), ["stream"]);
    assert_eq!(complete("--pin s"), ["same", "split"]);
    let transports = ["iceoryx2", "interprocess", "ipc-channel"];
    assert_eq!(complete("--baseline i"), transports);
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = tb().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains("transport-bench"), "{shell}: {script}");
    }
    assert_usage_error(
        &["completions", "tcsh"],
        "[possible values: bash, elvish, fish",
    );
    assert_usage_error(&["completions"], "<SHELL>");
}

#[test]
fn the_man_page_renders_with_man_and_describes_every_option() {
    let page = tb().arg("man").output().unwrap();
    assert!(page.status.success());
    let text = rendered(&page.stdout);
    let headings = [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXAMPLES",
        "EXIT STATUS",
        "VERSION",
    ];
    let mut at = Vec::new();
    for heading in headings {
        let found = text.lines().position(|l| l == heading);
        at.push(found.unwrap_or_else(|| panic!("{heading}:\n{text}")));
    }
    assert!(at.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    assert!(!text.contains("EXTRA"), "{text}");
    // The codes of src/main.rs, each at the start of its entry.
    let exit_status = text.split("EXIT STATUS").nth(1).unwrap();
    for code in ["0", "1", "2", "128+N"] {
        let listed = (exit_status.lines()).any(|l| l.trim_start().starts_with(&format!("{code} ")));
        assert!(listed, "{code}:\n{exit_status}");
    }
    assert!(
        text.contains("transport-bench compare base.json new.json"),
        "{text}"
    );
    for option in ["--iterations", "--transports", "--export-json", "--connect"] {
        assert!(text.contains(option), "{option}:\n{text}");
    }
    assert!(text.contains("transport-bench-compare(1)"), "{text}");
}

#[test]
fn man_out_dir_writes_a_page_per_subcommand_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    std::fs::create_dir(&out_dir).unwrap();
    tb().args(["man", "--out-dir"])
        .arg(&out_dir)
        .assert()
        .success()
        .stdout("");
    let page = |name: &str| std::fs::read(out_dir.join(name)).unwrap();
    assert!(rendered(&page("transport-bench.1")).contains("--export-json"));
    let compare = rendered(&page("transport-bench-compare.1"));
    assert!(compare.contains("--fail-above"), "{compare}");
    let completions = rendered(&page("transport-bench-completions.1"));
    assert!(completions.contains("powershell"), "{completions}");
}

#[test]
fn man_into_a_missing_directory_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let output = tb()
        .args(["man", "--out-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let named = format!("writing the man pages into {}", missing.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(!Path::new(&missing).exists());
}

#[test]
fn man_out_dir_replaces_a_planted_fifo_and_link_without_blocking_or_following() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let keep = elsewhere.path().join("keep.txt");
    std::fs::write(&keep, "not a man page").unwrap();
    let fifo = dir.path().join("transport-bench.1");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let link = dir.path().join("transport-bench-plot.1");
    std::os::unix::fs::symlink(&keep, &link).unwrap();
    // A FIFO opened for writing blocks until a reader comes: the timeout would end it.
    tb().args(["man", "--out-dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "not a man page");
    for page in [&fifo, &link] {
        let meta = std::fs::symlink_metadata(page).unwrap();
        assert!(meta.is_file(), "{}: {meta:?}", page.display());
    }
    assert!(rendered(&std::fs::read(&link).unwrap()).contains("--out"));
    // Six pages and no temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 6);
}
