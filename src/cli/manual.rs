//! The parts of the manual that clap does not derive from the options: the examples at the end
//! of `--help` and the EXAMPLES and EXIT STATUS sections of the man page. Both are written once
//! here, as data, so that the help and the page cannot say different things.

/// Commands a new user would start from, each with what it does.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "transport-bench",
        "The default pair (shm-posix, zmq-ipc) at the four named sizes.",
    ),
    (
        "transport-bench --transports all --sizes sweep --plot all.svg",
        "Every transport at every power of two from 64 B to 4 MiB, drawn as an SVG plot.",
    ),
    (
        "transport-bench --transports shm-spin,tcp --pin split --runs 5",
        "Two transports on two chosen CPUs, each case repeated five times.",
    ),
    (
        "transport-bench --pattern stream --sizes small,64KiB",
        "One-way streams of messages (messages/s) instead of round trips.",
    ),
    (
        "transport-bench --runs 5 --export-json new.json",
        "Save a report to compare with an earlier one:",
    ),
    (
        "transport-bench compare base.json new.json --fail-above 10",
        "Exit 1 when a case got more than 10% slower beyond the noise.",
    ),
];

/// The exit codes of `src/main.rs` and of the modes it runs, with when each is given.
pub const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "Every case was measured (a size skipped with its reason is fine).",
    ),
    (
        "1",
        "A case failed, every case was skipped, an export could not be written at the end, \
         or standard output could not be written; compare: the gate failed.",
    ),
    (
        "2",
        "Usage: an unknown flag, a bad value, options that do not go together, an export path \
         that cannot be written (checked before anything runs); compare and plot: a report \
         that cannot be read.",
    ),
    (
        "128+N",
        "Interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM): what was measured is \
         printed and exported, marked as interrupted.",
    ),
];

/// The examples as `--help` and `-h` end with them.
pub fn after_help() -> String {
    let mut text = String::from("Examples:\n");
    for (command, what) in EXAMPLES {
        text.push_str(&format!("  {what}\n      {command}\n"));
    }
    text
}

/// `--help`'s end: the examples, then the exit statuses.
pub fn after_long_help() -> String {
    let mut text = after_help();
    text.push_str("\nExit status:\n");
    for (code, when) in EXIT_STATUSES {
        text.push_str(&format!("  {code:<6} {when}\n"));
    }
    text
}

/// The EXAMPLES and EXIT STATUS sections of the man page, in roff.
pub fn man_sections() -> String {
    let mut roff = String::from(".SH EXAMPLES\n");
    for (command, what) in EXAMPLES {
        roff.push_str(&format!(
            ".TP\n.B {}\n{}\n",
            roff_escape(command),
            roff_escape(what)
        ));
    }
    roff.push_str(".SH \"EXIT STATUS\"\n");
    for (code, when) in EXIT_STATUSES {
        roff.push_str(&format!(
            ".TP\n.B {}\n{}\n",
            roff_escape(code),
            roff_escape(when)
        ));
    }
    roff
}

/// Text as roff prints it literally: a backslash and a hyphen escaped (a bare `-` may become
/// a hyphen that does not copy as the minus of an option), and a line never starting with a
/// control character.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.starts_with(['.', '\'']) {
        true => format!("\\&{escaped}"),
        false => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_names_the_binary_and_parses() {
        for (command, _) in EXAMPLES {
            let words: Vec<&str> = command.split_whitespace().collect();
            assert_eq!(words[0], "transport-bench", "{command}");
            let parsed = <super::super::Cli as clap::Parser>::try_parse_from(&words);
            assert!(parsed.is_ok(), "{command}: {}", parsed.unwrap_err());
        }
    }

    #[test]
    fn roff_escapes_hyphens_and_leading_dots() {
        assert_eq!(roff_escape("--pin a-b"), "\\-\\-pin a\\-b");
        assert_eq!(roff_escape(".x"), "\\&.x");
    }
}
