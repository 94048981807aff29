//! `transport-bench completions SHELL` and `transport-bench man`: the shell completions
//! (clap_complete) and the man page (clap_mangen), both generated from the one clap definition
//! ([`Cli`]), so that neither can fall behind a flag. Server mode's own command line is an
//! internal one the driver renders and is left out of both.
//!
//! What goes to standard output is generated whole into memory and then written through
//! [`stdout`]: clap_complete panics on a write error, and a write that fails (`>/dev/full`, a
//! closed descriptor) must be said and fail the exit code, while a reader that goes away
//! (`transport-bench man | head`) is no error at all.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{completion_values, manual, Cli};
use crate::export::directory::NamedFilesDir;
use crate::system::stdout;

/// The binary's name, as completions register it and the man page titles it.
const BIN_NAME: &str = "transport-bench";

/// Why a generated text was not written.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("rendering the man page: {0}")]
    Render(#[source] io::Error),
    #[error("writing the man pages into {}: {source}", dir.display())]
    WriteDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The command the pages describe. `help` is left out: the subcommands' pages and `--help`
/// say it all, and its page would only repeat this one.
fn documented_command() -> clap::Command {
    Cli::command().name(BIN_NAME).disable_help_subcommand(true)
}

/// The completion script of `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    match shell {
        Shell::Bash => {
            let script = repair_bash_subcommand_arms(script);
            completion_values::comma_lists_in_bash(&String::from_utf8_lossy(&script)).into_bytes()
        }
        _ => script,
    }
}

/// clap_complete's bash script names the state of `transport-bench plot` two ways, so that no
/// subcommand's options ever complete (clap-rs/clap#6421, open): its loop escapes the binary's
/// name and each subcommand apart (`transport__bench__subcmd__plot`), its case arms the whole
/// path at once, turning the binary's own hyphen into the subcommand separator
/// (`transport__subcmd__bench__subcmd__plot`). The arms are renamed as the loop spells them;
/// once clap_complete is fixed there is nothing to rename.
fn repair_bash_subcommand_arms(script: Vec<u8>) -> Vec<u8> {
    const SEPARATOR: &str = "__subcmd__";
    let text = String::from_utf8_lossy(&script);
    let broken = format!("{}{SEPARATOR}", BIN_NAME.replace('-', SEPARATOR));
    let loop_spelling = format!("{}{SEPARATOR}", BIN_NAME.replace('-', "__"));
    text.replace(&broken, &loop_spelling).into_bytes()
}

/// The man page, in roff: the top-level command with its options and subcommands.
pub fn man_page() -> Result<Vec<u8>, GenerateError> {
    main_page(documented_command()).map_err(GenerateError::Render)
}

/// The main page: clap_mangen's, with EXAMPLES and EXIT STATUS ([`manual`]) before its VERSION
/// section. clap_mangen would print `after_help` (the examples `--help` ends with) under a
/// heading of its own, EXTRA, and has no EXIT STATUS: that text is left out of its page and
/// the two sections are written by hand.
fn main_page(command: clap::Command) -> io::Result<Vec<u8>> {
    let command = command.after_help(None).after_long_help(None);
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    let mut text = String::from_utf8(page).map_err(io::Error::other)?;
    let at = text.find("\n.SH VERSION\n").map_or(text.len(), |at| at + 1);
    text.insert_str(at, &manual::man_sections());
    Ok(text.into_bytes())
}

/// Writes `transport-bench.1` and a page per subcommand (`transport-bench-plot.1`, which the
/// main page's SUBCOMMANDS section refers to) into `dir`. Every page is rendered before the
/// first is written, and each is written as a new file renamed over its name
/// ([`NamedFilesDir`]): a FIFO or a link planted under a page's name is replaced, never
/// opened or written through (clap_mangen's own `generate_to` would do both).
pub fn write_man_pages(dir: &Path) -> Result<(), GenerateError> {
    let write_error = |source| GenerateError::WriteDir {
        dir: dir.to_path_buf(),
        source,
    };
    let pages = man_pages().map_err(GenerateError::Render)?;
    let named = NamedFilesDir::open(dir).map_err(write_error)?;
    for (name, page) in &pages {
        named.replace(name, page).map_err(write_error)?;
    }
    Ok(())
}

/// Every page with its file name: the subcommands' (not hidden ones), then the main one.
fn man_pages() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut command = documented_command();
    command.build();
    let mut pages = Vec::new();
    let subcommands = command.get_subcommands().filter(|s| !s.is_hide_set());
    for subcommand in subcommands.cloned().collect::<Vec<_>>() {
        let man = clap_mangen::Man::new(subcommand);
        let mut page = Vec::new();
        man.render(&mut page)?;
        pages.push((man.get_filename(), page));
    }
    let name = clap_mangen::Man::new(command.clone()).get_filename();
    pages.push((name, main_page(command)?));
    Ok(pages)
}

/// Writes the completion script of `shell` to standard output. A failed write is kept by
/// [`stdout`], which `main` asks for the exit code.
pub fn print_completions(shell: Shell) -> ExitCode {
    let _ = stdout::write_all(&completion_script(shell));
    ExitCode::SUCCESS
}

/// Writes the man page to standard output, or every page into `out_dir`.
pub fn man(out_dir: Option<&Path>) -> ExitCode {
    finish(match out_dir {
        Some(dir) => write_man_pages(dir),
        None => man_page().map(|page| {
            let _ = stdout::write_all(&page);
        }),
    })
}

fn finish(written: Result<(), GenerateError>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_shell_gets_a_script_that_names_the_binary_and_its_subcommands() {
        for &shell in Shell::value_variants() {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            assert!(script.contains(BIN_NAME), "{shell}");
            for subcommand in ["cleanup", "plot", "compare", "completions", "man"] {
                assert!(script.contains(subcommand), "{shell}: {subcommand}");
            }
        }
    }

    #[test]
    fn the_man_page_lists_the_options_and_hides_the_testing_aid() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
        assert!(page.contains(".TH transport-bench 1"), "{page}");
        for flag in ["iterations", "transports", "export\\-json"] {
            assert!(page.contains(flag), "{flag}");
        }
        assert!(!page.contains("inject"), "hidden flags stay hidden");
        assert!(page.contains("transport\\-bench\\-compare(1)"), "{page}");
        assert!(!page.contains("bench\\-help"), "{page}");
    }

    #[test]
    fn the_pages_written_into_a_directory_are_one_per_command() {
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(dir.path()).unwrap();
        let mut names: Vec<String> = (std::fs::read_dir(dir.path()).unwrap())
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort_unstable();
        let mut expected = ["", "-cleanup", "-compare", "-completions", "-man", "-plot"]
            .map(|sub| format!("{BIN_NAME}{sub}.1"));
        expected.sort_unstable();
        assert_eq!(names, expected);
        let main = std::fs::read(dir.path().join("transport-bench.1")).unwrap();
        assert_eq!(main, man_page().unwrap());
    }
}
