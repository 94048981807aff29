//! Records the git revision the binary is built from, for the JSON report's `provenance`
//! (docs/json-schema.md): `TRANSPORT_BENCH_GIT_REVISION` (the commit of HEAD) and
//! `TRANSPORT_BENCH_GIT_DIRTY` (`true` when tracked files differ from it). Only when this
//! crate's own directory is the top of a git work tree: a build from a crates.io download or a
//! tarball (no git, no `.git`, or one of an enclosing project) records nothing and still
//! builds; the report then says `null`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    if !is_top_of_work_tree(&manifest_dir) {
        return;
    }
    let Some(revision) = git(&manifest_dir, &["rev-parse", "HEAD"]) else {
        return;
    };
    // Tracked files only: an untracked scratch file does not change what was built. Without
    // optional locks, `git status` leaves the index as it is: a refreshed index would make the
    // next build run this script again and recompile the crate (38 s), once after every clone.
    let dirty = git(
        &manifest_dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .map(|status| !status.is_empty());
    println!("cargo:rustc-env=TRANSPORT_BENCH_GIT_REVISION={revision}");
    if let Some(dirty) = dirty {
        println!("cargo:rustc-env=TRANSPORT_BENCH_GIT_DIRTY={dirty}");
    }
    rerun_when_the_revision_or_the_tree_changes(&manifest_dir);
}

/// Whether `dir` is the top of a git work tree (not a directory inside another project's).
fn is_top_of_work_tree(dir: &Path) -> bool {
    let Some(top) = git(dir, &["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    let canonical = |path: &Path| std::fs::canonicalize(path).ok();
    canonical(Path::new(&top)).is_some() && canonical(Path::new(&top)) == canonical(dir)
}

/// A commit or a checkout moves HEAD or its branch; an edit of the sources changes `src` (cargo
/// scans a directory whole). Not the index: any `git status` (a shell prompt's, an editor's)
/// rewrites it, and each rewrite would recompile the crate on the next `./run_benchmark.sh`.
fn rerun_when_the_revision_or_the_tree_changes(dir: &Path) {
    let mut watched = vec!["src".to_string(), "Cargo.toml".to_string()];
    for git_path in ["HEAD", "packed-refs"] {
        watched.extend(git(dir, &["rev-parse", "--git-path", git_path]));
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.extend(git(dir, &["rev-parse", "--git-path", &branch]));
    }
    for path in watched {
        let path = dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// `git ARGS` in `dir`: its output, trimmed, when it ran and succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}
