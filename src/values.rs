//! Single option values, parsed for clap, with their limits and defaults: each parser returns a
//! typed [`ValueError`], which clap prints after the flag's name (and exits 2). Both command
//! lines use them: the benchmark's ([`crate::cli`]) and server mode's
//! ([`crate::peer::server_args`]), so they sit below both; each command line keeps its own clap
//! glue. Checks across several options live in `cli/options.rs`.

use std::time::Duration;

use crate::report::size::{parse_byte_count, parse_message_size, MessageSize, SizeError};
use crate::system::placement::PinMode;
use crate::transport::stream::MAX_RING_DEPTH;
use crate::transport::wait::MAX_SPIN_BUDGET;
use crate::transport::{registry, TransportKind, HEADER_LEN};

/// The buffer size the seed benchmark used, and our minimum default (the driver's and a
/// server's).
pub const DEFAULT_BUFFER_SIZE: usize = 2_500_000;

/// The largest message a `tcp` or `zmq-tcp` server accepts unless told otherwise (`--max-size`).
pub const DEFAULT_MAX_SIZE: usize = 16 * 1024 * 1024;

/// The largest payload: with its header, it still fits a buffer whose size is a u32.
pub const MAX_MESSAGE_BYTES: usize = u32::MAX as usize - HEADER_LEN;

/// The largest `--buffer-size`: the header's u32 must describe every payload the buffer holds.
pub const MAX_BUFFER_SIZE: usize = MAX_MESSAGE_BYTES + HEADER_LEN;

/// The shortest `--timeout`: below it not even a server's start-up fits.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest `--timeout`: a bound on one wait, so a day is already generous, and deadlines
/// computed from it stay far from the clock's limits.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Sizes in the order given.
#[derive(Debug, Clone)]
pub struct SizeList(pub Vec<MessageSize>);

/// Transports in the order given.
#[derive(Debug, Clone)]
pub struct TransportList(pub Vec<TransportKind>);

/// Why one option value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// A word that stands for a whole list, given with other items.
    #[error("'{word}' stands for a whole list and cannot be combined with other items ('{list}'): give '{word}' alone, or the items you want")]
    NotAlone { word: &'static str, list: String },
    #[error("'{0}' is not a whole number")]
    NotANumber(String),
    #[error("must be at least 1")]
    Zero,
    #[error("'{0}' is too large")]
    TooLarge(String),
    #[error("must be at least 1 byte")]
    ZeroBytes,
    #[error("'{0}' is more than the {MAX_BUFFER_SIZE} bytes a 4-byte length header can describe")]
    BufferTooLarge(String),
    #[error("'{text}' is not a duration such as 10s or 500ms ({source})")]
    Duration {
        text: String,
        #[source]
        source: humantime::DurationError,
    },
    #[error("must be at least 1ms")]
    TimeoutTooShort,
    #[error("must be at most 24h (it bounds a single wait)")]
    TimeoutTooLong,
    #[error("'{0}' has an empty item")]
    EmptyItem(String),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error("'{0}' is zero bytes; sizes must be at least 1 byte")]
    ZeroSize(String),
    #[error("'{0}' is larger than the {MAX_MESSAGE_BYTES} bytes a message can carry")]
    SizeTooLarge(String),
    #[error("{0} bytes is listed twice")]
    DuplicateSize(usize),
    #[error("unknown transport '{name}'{did_you_mean}; known: {known}")]
    UnknownTransport {
        name: String,
        /// " (did you mean ...?)", or empty when no name is close.
        did_you_mean: String,
        known: String,
    },
    #[error("transport '{0}' is listed twice")]
    DuplicateTransport(String),
    #[error("'{0}' is more than the {MAX_RING_DEPTH} slots a ring may have")]
    RingTooDeep(String),
    #[error("'{0}' is more than the {MAX_PAIRS} pairs a run may have")]
    TooManyPairs(String),
    #[error("'{0}' is more than the {MAX_RUNS} runs a case may have")]
    TooManyRuns(String),
    #[error("{0} sizes are more than the {MAX_SIZES} a run may have")]
    TooManySizes(usize),
    #[error("'{0}' is more than the {MAX_IN_FLIGHT} requests that may be in flight")]
    TooManyInFlight(String),
    #[error("'{0}' is not none, same, split or two CPU numbers A,B")]
    Pin(String),
    #[error("must be at least 1us")]
    IntervalTooShort,
    #[error("must be at most 1h")]
    IntervalTooLong,
    #[error(
        "must be at most {} (a spinning wait watches neither the timeout nor a stop request)",
        humantime::format_duration(MAX_SPIN_BUDGET)
    )]
    SpinBudgetTooLong,
    #[error("'{0}' is not a percentage from 0 to 1000000, such as 5 or 2.5")]
    Percent(String),
    #[error("'{0}' is neither a whole number of runs nor auto")]
    NotRuns(String),
    #[error("must be at least 2: a confidence interval needs two run means")]
    TooFewRuns,
    #[error("'{0}' is not a percentage above 0 and at most 100, such as 5 or 2.5")]
    CiTarget(String),
    #[error("must be at least 1ms")]
    DurationTooShort,
    #[error("must be at most 24h")]
    DurationTooLong,
}

pub fn parse_u64(text: &str) -> Result<u64, ValueError> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| ValueError::NotANumber(text.to_string()))
}

pub fn parse_positive_u64(text: &str) -> Result<u64, ValueError> {
    match parse_u64(text)? {
        0 => Err(ValueError::Zero),
        n => Ok(n),
    }
}

pub fn parse_positive_u32(text: &str) -> Result<u32, ValueError> {
    u32::try_from(parse_positive_u64(text)?).map_err(|_| ValueError::TooLarge(text.to_string()))
}

/// The most runs `--runs` repeats a case: the report keeps every run's mean, and must stay
/// within what `plot` and `compare` read back (`report::saved::MAX_REPORT_BYTES`).
pub const MAX_RUNS: u32 = 100;

/// `--runs`: 1 to [`MAX_RUNS`].
pub fn parse_runs(text: &str) -> Result<u32, ValueError> {
    match parse_positive_u32(text)? {
        n if n > MAX_RUNS => Err(ValueError::TooManyRuns(text.to_string())),
        n => Ok(n),
    }
}

/// `--runs`: a number of runs, or `auto` (until confident, [`crate::benchmark::confidence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    Fixed(u32),
    Auto,
}

/// `--runs`: 1 to [`MAX_RUNS`], or `auto`.
pub fn parse_runs_arg(text: &str) -> Result<Runs, ValueError> {
    if text.trim() == "auto" {
        return Ok(Runs::Auto);
    }
    match parse_runs(text) {
        Err(ValueError::NotANumber(text)) => Err(ValueError::NotRuns(text)),
        other => other.map(Runs::Fixed),
    }
}

/// `--min-runs`: 2 (the fewest run means with a spread) to [`MAX_RUNS`].
pub fn parse_min_runs(text: &str) -> Result<u32, ValueError> {
    match parse_runs(text)? {
        1 => Err(ValueError::TooFewRuns),
        n => Ok(n),
    }
}

/// `--runs auto` stops a case whose confidence interval is within ±this many percent of its
/// mean (`--ci-target`), (netperf's `-I 99,5` asks for ±2.5% at 99%).
pub const DEFAULT_CI_TARGET_PCT: f64 = 5.0;

/// The fewest runs of a case under `--runs auto` (`--min-runs`), as netperf's `-i 30,3`.
pub const DEFAULT_MIN_RUNS: u32 = 3;

/// The most runs of a case under `--runs auto` (`--max-runs`), as netperf's `-i 30,3`.
pub const DEFAULT_MAX_RUNS: u32 = 30;

/// What `--runs auto` asks of each case: a value of the command line; whether a case has
/// reached it is the benchmark's to compute ([`crate::benchmark::confidence`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceTarget {
    /// The half width of the interval that is enough, in percent of the mean (`--ci-target`).
    pub target_pct: f64,
    /// `--min-runs`, at least 2.
    pub min_runs: u32,
    /// `--max-runs`, at least `min_runs`.
    pub max_runs: u32,
}

/// `--ci-target`: a percentage above 0 (a target of 0 is never reached) and at most 100.
pub fn parse_ci_target(text: &str) -> Result<f64, ValueError> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(pct) if pct > 0.0 && pct <= 100.0 => Ok(pct),
        _ => Err(ValueError::CiTarget(text.to_string())),
    }
}

/// `--duration`: how long each run's timed loop lasts, 1 ms to 24 h.
pub fn parse_run_duration(text: &str) -> Result<Duration, ValueError> {
    match parse_duration(text)? {
        d if d < Duration::from_millis(1) => Err(ValueError::DurationTooShort),
        d if d > MAX_TIMEOUT => Err(ValueError::DurationTooLong),
        d => Ok(d),
    }
}

/// The most sizes one run measures, for the same reason as [`MAX_RUNS`]: every case is in
/// the report.
pub const MAX_SIZES: usize = 256;

/// The most pairs `--pairs` runs at once: each is a process and a thread.
pub const MAX_PAIRS: u32 = 64;

/// `--pairs`: 1 to [`MAX_PAIRS`].
pub fn parse_pairs(text: &str) -> Result<u32, ValueError> {
    match parse_positive_u32(text)? {
        n if n > MAX_PAIRS => Err(ValueError::TooManyPairs(text.to_string())),
        n => Ok(n),
    }
}

/// The most requests `--in-flight` keeps outstanding.
pub const MAX_IN_FLIGHT: u32 = 4096;

/// `--in-flight`: 1 to [`MAX_IN_FLIGHT`].
pub fn parse_in_flight(text: &str) -> Result<u32, ValueError> {
    match parse_positive_u32(text)? {
        n if n > MAX_IN_FLIGHT => Err(ValueError::TooManyInFlight(text.to_string())),
        n => Ok(n),
    }
}

/// A stream's ring depth: 1 to [`MAX_RING_DEPTH`] slots.
pub fn parse_ring_depth(text: &str) -> Result<usize, ValueError> {
    match parse_positive_u64(text)? {
        n if n > MAX_RING_DEPTH as u64 => Err(ValueError::RingTooDeep(text.to_string())),
        n => Ok(n as usize),
    }
}

/// A threshold in percent, such as `5` or `2.5` (a `%` sign is allowed): 0 or more, finite.
pub fn parse_percent(text: &str) -> Result<f64, ValueError> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(pct) if (0.0..=1e6).contains(&pct) => Ok(pct),
        _ => Err(ValueError::Percent(text.to_string())),
    }
}

pub fn parse_buffer_size(text: &str) -> Result<usize, ValueError> {
    match parse_byte_count(text)? {
        0 => Err(ValueError::ZeroBytes),
        n if n > MAX_BUFFER_SIZE => Err(ValueError::BufferTooLarge(text.to_string())),
        n => Ok(n),
    }
}

/// A server's `--max-size`: at least 1 byte, and with its header no more than a u32 describes.
pub fn parse_max_size(text: &str) -> Result<usize, ValueError> {
    match parse_byte_count(text)? {
        0 => Err(ValueError::ZeroBytes),
        n if n > MAX_MESSAGE_BYTES => Err(ValueError::SizeTooLarge(text.to_string())),
        n => Ok(n),
    }
}

fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    humantime::parse_duration(text.trim()).map_err(|source| ValueError::Duration {
        text: text.to_string(),
        source,
    })
}

pub fn parse_timeout(text: &str) -> Result<Duration, ValueError> {
    let duration = parse_duration(text)?;
    if duration < MIN_TIMEOUT {
        return Err(ValueError::TimeoutTooShort);
    }
    if duration > MAX_TIMEOUT {
        return Err(ValueError::TimeoutTooLong);
    }
    Ok(duration)
}

fn split_list(text: &str) -> Result<Vec<&str>, ValueError> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(ValueError::EmptyItem(text.to_string()));
    }
    Ok(items)
}

/// `--sizes sweep`: every power of two from 64 B to 4 MiB. Four sizes hide effects that
/// depend on size (a copy that falls off a cliff between 10 KB and 1.5 MB); a curve shows them.
pub fn sweep_sizes() -> Vec<MessageSize> {
    (6..=22)
        .map(|power| MessageSize {
            bytes: 1 << power,
            name: None,
        })
        .collect()
}

/// Refuses `word` (`sweep`, `all`: a whole list by itself) among other items of `items`, which
/// would otherwise be read as an item and refused as an unknown one.
fn alone_or_absent(items: &[&str], word: &'static str) -> Result<(), ValueError> {
    if items.len() > 1 && items.contains(&word) {
        return Err(ValueError::NotAlone {
            word,
            list: items.join(","),
        });
    }
    Ok(())
}

pub fn parse_size_list(text: &str) -> Result<SizeList, ValueError> {
    if text.trim() == "sweep" {
        return Ok(SizeList(sweep_sizes()));
    }
    let mut sizes: Vec<MessageSize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let items = split_list(text)?;
    alone_or_absent(&items, "sweep")?;
    if items.len() > MAX_SIZES {
        return Err(ValueError::TooManySizes(items.len()));
    }
    for item in items {
        let size = parse_message_size(item)?;
        if size.bytes == 0 {
            return Err(ValueError::ZeroSize(item.to_string()));
        }
        if size.bytes > MAX_MESSAGE_BYTES {
            return Err(ValueError::SizeTooLarge(item.to_string()));
        }
        if !seen.insert(size.bytes) {
            return Err(ValueError::DuplicateSize(size.bytes));
        }
        sizes.push(size);
    }
    Ok(SizeList(sizes))
}

pub fn parse_transport(text: &str) -> Result<TransportKind, ValueError> {
    TransportKind::from_name(text.trim()).ok_or_else(|| {
        let known: Vec<&str> = TransportKind::all().iter().map(|k| k.name()).collect();
        ValueError::UnknownTransport {
            name: text.to_string(),
            did_you_mean: registry::did_you_mean(text),
            known: known.join(", "),
        }
    })
}

pub fn parse_transport_list(text: &str) -> Result<TransportList, ValueError> {
    if text.trim() == "all" {
        return Ok(TransportList(TransportKind::all().to_vec()));
    }
    let mut kinds = Vec::new();
    let items = split_list(text)?;
    alone_or_absent(&items, "all")?;
    for item in items {
        let kind = parse_transport(item)?;
        if kinds.contains(&kind) {
            return Err(ValueError::DuplicateTransport(item.to_string()));
        }
        kinds.push(kind);
    }
    Ok(TransportList(kinds))
}

pub fn parse_pin(text: &str) -> Result<PinMode, ValueError> {
    let bad = || ValueError::Pin(text.to_string());
    match text.trim() {
        "none" => Ok(PinMode::None),
        "same" => Ok(PinMode::Same),
        "split" => Ok(PinMode::Split),
        pair => {
            let (a, b) = pair.split_once(',').ok_or_else(bad)?;
            let cpu = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
            Ok(PinMode::Cpus(cpu(a)?, cpu(b)?))
        }
    }
}

/// How long a waiter spins before it sleeps: from 0 (always sleep) to [`MAX_SPIN_BUDGET`].
pub fn parse_spin_budget(text: &str) -> Result<Duration, ValueError> {
    match parse_duration(text)? {
        d if d > MAX_SPIN_BUDGET => Err(ValueError::SpinBudgetTooLong),
        d => Ok(d),
    }
}

/// The pacing interval: from 1 µs (below it no sleep is shorter than the round trip it
/// paces) to an hour.
pub fn parse_interval(text: &str) -> Result<Duration, ValueError> {
    match parse_duration(text)? {
        d if d < Duration::from_micros(1) => Err(ValueError::IntervalTooShort),
        d if d > Duration::from_secs(3600) => Err(ValueError::IntervalTooLong),
        d => Ok(d),
    }
}
