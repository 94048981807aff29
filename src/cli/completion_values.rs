//! The words a shell completes an option's value to: transport names, size names, patterns,
//! placements. Each option keeps its own parser (the functions of [`crate::values`]); a
//! [`Completing`] parser wraps it and only adds the words, which clap_complete's static scripts
//! (bash, zsh, fish, PowerShell, elvish) list for the option.
//!
//! Why not clap's `PossibleValuesParser`: it accepts exactly one listed word, so
//! `--transports shm-posix,tcp` and `--sizes 4096` would be refused. Why not clap_complete's
//! dynamic completion (`ArgValueCandidates`): it sits behind an unstable feature and makes
//! the shell run the binary on every TAB. The two list options (`--transports`, `--sizes`)
//! complete the item after the last comma in bash through [`comma_lists_in_bash`].

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};

use crate::report::size::NAMED_SIZES;
use crate::transport::pattern::UnknownPattern;
use crate::transport::{Pattern, TransportKind};

/// The error an option's parser may return: what clap can quote after the flag's name.
type ParseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An option's own parser, and the words its value completes to.
pub struct Completing<T, E> {
    parse: fn(&str) -> Result<T, E>,
    words: fn() -> Vec<&'static str>,
}

impl<T, E> Completing<T, E> {
    pub fn new(parse: fn(&str) -> Result<T, E>, words: fn() -> Vec<&'static str>) -> Self {
        Completing { parse, words }
    }
}

// Two function pointers: a copy whatever T and E are (a derive would ask them to be Clone).
impl<T, E> Clone for Completing<T, E> {
    fn clone(&self) -> Self {
        Completing {
            parse: self.parse,
            words: self.words,
        }
    }
}

impl<T, E> TypedValueParser for Completing<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Into<ParseError> + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        // The function's own parsing, errors and all (clap names the flag and exits 2).
        self.parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.words)().into_iter().map(PossibleValue::new)))
    }
}

/// Every transport's name.
pub fn transport_names() -> Vec<&'static str> {
    TransportKind::all()
        .iter()
        .map(|kind| kind.name())
        .collect()
}

/// `--transports`: every transport's name, and `all`.
pub fn transport_list_words() -> Vec<&'static str> {
    let mut words = transport_names();
    words.push("all");
    words
}

/// `--sizes`: the named sizes, and `sweep` (a byte count is typed, not completed).
pub fn size_list_words() -> Vec<&'static str> {
    let mut words: Vec<&str> = NAMED_SIZES.iter().map(|&(name, _)| name).collect();
    words.push("sweep");
    words
}

/// `--pattern`: both patterns.
pub fn pattern_words() -> Vec<&'static str> {
    Pattern::ALL.iter().map(|pattern| pattern.name()).collect()
}

/// `--pin`: the named placements of [`crate::values::parse_pin`] (CPU numbers A,B are typed).
pub fn pin_words() -> Vec<&'static str> {
    vec!["none", "same", "split"]
}

/// `--pattern`'s parser: [`Pattern`]'s own `FromStr`, as clap used it before.
pub fn parse_pattern(text: &str) -> Result<Pattern, UnknownPattern> {
    text.parse()
}

/// Makes bash complete the item after the last comma of `--transports` and `--sizes`
/// (`shm-posix,sh` → `shm-posix,shm-spin`, ...): clap_complete completes the whole word
/// against the list, so that only a first item would ever complete.
pub fn comma_lists_in_bash(script: &str) -> String {
    let mut script = script.to_string();
    for words in [transport_list_words(), size_list_words()] {
        let whole_word = format!("compgen -W \"{}\" -- \"${{cur}}\"", words.join(" "));
        let last_item = format!(
            "compgen -P \"${{cur%\"${{cur##*,}}\"}}\" -W \"{}\" -- \"${{cur##*,}}\"",
            words.join(" ")
        );
        script = script.replace(&whole_word, &last_item);
    }
    script
}
