//! `transport-bench compare BASE.json NEW.json`: the change of every case present in both saved
//! reports (mean, p50, p99), whether it stands out from the run-to-run noise (Welch's t-test
//! on the run means, [`welch`]), the cases only one report has, and what differs between the
//! machines and configurations. With `--fail-above PERCENT` it is a CI gate that fails closed
//! ([`gate`]).
//!
//! Data flows one way: both files are read and checked ([`saved`]), compared into a
//! [`Comparison`] (no printing), which [`render`] turns into text.

pub mod gate;
pub mod render;
pub mod saved;
pub mod welch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value};

use crate::printable;
use crate::report::result::Status;
use crate::system::stdout;
use crate::transport::{TransportKind, Workload};
use gate::GatePolicy;
use saved::{Latency, SavedCase, SavedRun};
use welch::{welch_t_test, NotTestable, WelchTest};

/// What to compare, and the gate.
#[derive(Debug, Clone)]
pub struct CompareRequest {
    pub base: PathBuf,
    pub new: PathBuf,
    /// `--fail-above` and its relaxations: exit 1 when a case got slower beyond the noise, or
    /// cannot be shown not to have (see [`gate`]).
    pub gate: Option<GatePolicy>,
}

/// The fields of `machine` whose difference makes two reports' figures hard to compare.
const MACHINE_FIELDS: [&str; 4] = ["cpu", "cores", "kernel", "os"];

/// The fields of `config` that change what a case measures (transports and sizes only decide
/// which cases there are; those are listed as one-sided).
const CONFIG_FIELDS: [&str; 10] = [
    "iterations",
    "duration_s",
    "warmup",
    "runs",
    "buffer_size",
    "timeout_s",
    "verify_all",
    "pin",
    "interval_s",
    "ring_depth",
];

/// A case: transport × size × workload × pairs. Reports from before the last two existed
/// have round trips, one in flight, one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaseKey {
    pub transport: TransportKind,
    pub size_bytes: usize,
    pub workload: Workload,
    pub pairs: usize,
}

impl CaseKey {
    /// What the case exchanged, after its transport's name when it is not one round trip at a
    /// time over one pair: ` (stream)`, ` (4 in flight)`, ` (2 pairs)`.
    pub fn workload(&self) -> String {
        let mut marks = String::new();
        if self.workload != Workload::RoundTrip {
            marks.push_str(&format!(" ({})", self.workload));
        }
        if self.pairs > 1 {
            marks.push_str(&format!(" ({} pairs)", self.pairs));
        }
        marks
    }
}

/// Everything the comparison found, in the order of BASE's cases then NEW's.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub changes: Vec<CaseChange>,
    pub only_in_base: Vec<CaseKey>,
    pub only_in_new: Vec<CaseKey>,
    /// Cases in both whose latency one side lacks or did not complete.
    pub not_compared: Vec<NotCompared>,
    /// `machine`, `config` and `version` fields that differ.
    pub differences: Vec<Difference>,
    /// Reports whose `state` is not `complete`: (which, state).
    pub incomplete: Vec<(Side, String)>,
}

/// BASE or NEW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    New,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Base => "BASE",
            Side::New => "NEW",
        }
    }
}

/// A case measured on both sides.
#[derive(Debug, Clone)]
pub struct CaseChange {
    pub case: CaseKey,
    pub base: Latency,
    pub new: Latency,
    /// The test of the run means, or why there is none.
    pub test: Result<WelchTest, NotTestable>,
}

impl CaseChange {
    /// (new − base) / base of the mean, in percent; None when base is 0.
    pub fn mean_change_pct(&self) -> Option<f64> {
        change_pct(self.base.mean, self.new.mean)
    }

    /// Whether the run means differ beyond the noise.
    pub fn stands_out(&self) -> bool {
        self.test.as_ref().is_ok_and(WelchTest::stands_out)
    }

    /// Slower by more than `threshold_pct` (by mean), and beyond the noise.
    pub fn regressed_beyond(&self, threshold_pct: f64) -> bool {
        self.stands_out()
            && self
                .mean_change_pct()
                .is_some_and(|pct| pct > threshold_pct)
    }
}

/// (new − base) / base in percent; None when base is 0.
pub fn change_pct(base: f64, new: f64) -> Option<f64> {
    (base > 0.0).then(|| (new - base) / base * 100.0)
}

/// A case in both reports that has no latency to compare on at least one side.
#[derive(Debug, Clone)]
pub struct NotCompared {
    pub case: CaseKey,
    /// Each side that did not complete: its status and reason.
    pub why: Vec<(Side, Status, Option<String>)>,
}

/// One field that differs: its path (`config.iterations`), and each side's value as JSON
/// (`absent` when a report lacks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub base: String,
    pub new: String,
}

impl Comparison {
    pub fn new(base: &SavedRun, new: &SavedRun) -> Comparison {
        let mut comparison = Comparison {
            changes: Vec::new(),
            only_in_base: Vec::new(),
            only_in_new: Vec::new(),
            not_compared: Vec::new(),
            differences: differences(base, new),
            incomplete: [(Side::Base, base), (Side::New, new)]
                .into_iter()
                .filter_map(|(side, run)| {
                    let state = run.state.as_deref().unwrap_or("absent");
                    (state != "complete").then(|| (side, state.to_string()))
                })
                .collect(),
        };
        // Indexed, so that matching is linear in the cases (139k of them took 21 s by search).
        let (base_index, new_index) = (index(base), index(new));
        for base_case in &base.cases {
            match new_index.get(&key(base_case)) {
                Some(new_case) => comparison.add(base_case, new_case),
                None => (comparison.only_in_base).push(key(base_case)),
            }
        }
        comparison.only_in_new = (new.cases.iter())
            .filter(|c| !base_index.contains_key(&key(c)))
            .map(key)
            .collect();
        comparison
    }

    /// Compares a case both reports have, if both completed it with a latency.
    fn add(&mut self, base: &SavedCase, new: &SavedCase) {
        match (completed(base), completed(new)) {
            (Some(base_latency), Some(new_latency)) => self.changes.push(CaseChange {
                case: key(base),
                base: base_latency,
                new: new_latency,
                test: welch_t_test(&base.run_means_us, &new.run_means_us),
            }),
            _ => self.not_compared.push(NotCompared {
                case: key(base),
                why: [(Side::Base, base), (Side::New, new)]
                    .into_iter()
                    .filter(|(_, case)| completed(case).is_none())
                    .map(|(side, case)| (side, case.status, not_completed_because(case)))
                    .collect(),
            }),
        }
    }
}

fn key(case: &SavedCase) -> CaseKey {
    case.key
}

/// A report's cases by key; of two with one key, the first, as a search would find.
fn index(run: &SavedRun) -> HashMap<CaseKey, &SavedCase> {
    let mut index = HashMap::with_capacity(run.cases.len());
    for case in &run.cases {
        index.entry(key(case)).or_insert(case);
    }
    index
}

/// The latency of a case that ran to completion; a failed or interrupted case's partial
/// figures, a null latency, and a mean that is not a positive time (no change can be a ratio
/// of it) are never compared.
fn completed(case: &SavedCase) -> Option<Latency> {
    match case.status {
        Status::Ok => case
            .latency_us
            .filter(|l| l.mean.is_finite() && l.mean > 0.0),
        Status::Failed | Status::Interrupted | Status::Skipped => None,
    }
}

/// Why a side's case is not compared: its status and reason, or what is wrong with its mean.
fn not_completed_because(case: &SavedCase) -> Option<String> {
    match (case.status, case.latency_us) {
        (Status::Ok, Some(latency)) => Some(format!(
            "its mean latency is {} µs: not a time a change can be a ratio of",
            latency.mean
        )),
        (Status::Ok, None) => Some("it has no latency".to_string()),
        _ => case.reason.clone(),
    }
}

/// Every compared field that differs between the two reports.
fn differences(base: &SavedRun, new: &SavedRun) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut check = |field: String, base: Option<&Value>, new: Option<&Value>| {
        let shown = |value: Option<&Value>| value.map_or("absent".into(), ToString::to_string);
        let (base, new) = (shown(base), shown(new));
        if base != new {
            found.push(Difference { field, base, new });
        }
    };
    let version = |run: &SavedRun| run.version.clone().map(Value::String);
    check(
        "version".into(),
        version(base).as_ref(),
        version(new).as_ref(),
    );
    for field in MACHINE_FIELDS {
        check(
            format!("machine.{field}"),
            base.machine.get(field),
            new.machine.get(field),
        );
    }
    for field in CONFIG_FIELDS {
        check(
            format!("config.{field}"),
            base.config.get(field),
            new.config.get(field),
        );
    }
    // Which server was measured: one the tool spawned (null, or absent in a report older than
    // `--connect`) or an external one. Two different servers are two configurations.
    let connect = |run: &SavedRun| run.config.get("connect").cloned().unwrap_or(Value::Null);
    check(
        "config.connect".into(),
        Some(&connect(base)),
        Some(&connect(new)),
    );
    // Spin budgets are listed per transport of the run: compare those both runs have.
    let budgets = |run: &SavedRun| match run.config.get("spin_budget_us") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let (base_budgets, new_budgets) = (budgets(base), budgets(new));
    for (transport, base_budget) in &base_budgets {
        if let Some(new_budget) = new_budgets.get(transport) {
            let field = format!("config.spin_budget_us.{transport}");
            check(field, Some(base_budget), Some(new_budget));
        }
    }
    found
}

/// Compares, prints, and exits: 2 for bad input, 1 when a case fails the `--fail-above` gate
/// (a regression beyond the noise, or a case it cannot clear), 0 otherwise.
pub fn run(request: &CompareRequest) -> ExitCode {
    let runs =
        SavedRun::read(&request.base).and_then(|base| Ok((base, SavedRun::read(&request.new)?)));
    let (base, new) = match runs {
        Ok(runs) => runs,
        Err(e) => {
            // A saved report's text may be quoted in the error (an unknown name).
            eprintln!("error: {}", printable::text(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let comparison = Comparison::new(&base, &new);
    // Both reports' text (a state, a kernel, a CPU name) is as anyone wrote it.
    let rendered = render::render(&comparison, &base, &new, request.gate.as_ref());
    stdout::print(printable::text(&rendered));
    match &request.gate {
        Some(policy) if !comparison.gate(policy).is_empty() => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transport::kinds::{shm_posix, shm_spin};

    fn key_of(transport: TransportKind, workload: Workload) -> CaseKey {
        CaseKey {
            transport,
            size_bytes: 100,
            workload,
            pairs: 1,
        }
    }

    fn case(transport: TransportKind, mean: f64, runs: &[f64]) -> SavedCase {
        SavedCase {
            key: key_of(transport, Workload::RoundTrip),
            status: Status::Ok,
            reason: None,
            latency_us: Some(Latency {
                mean,
                p50: Some(mean),
                p99: Some(mean * 2.0),
            }),
            run_means_us: runs.to_vec(),
        }
    }

    fn run(config: Value, cases: Vec<SavedCase>) -> SavedRun {
        SavedRun {
            path: "r.json".into(),
            version: Some("0.1.0".into()),
            config: config.as_object().unwrap().clone(),
            machine: Map::new(),
            state: Some("complete".into()),
            cases,
        }
    }

    fn strict(threshold_pct: f64) -> GatePolicy {
        GatePolicy {
            threshold_pct,
            allow_missing: false,
            allow_unassessable: false,
        }
    }

    #[test]
    fn only_a_slowdown_beyond_the_noise_and_the_threshold_fails_the_gate() {
        let base = run(
            json!({}),
            vec![case(shm_posix::KIND, 10.0, &[9.5, 10.0, 10.5])],
        );
        let slower = run(
            json!({}),
            vec![case(shm_posix::KIND, 20.0, &[19.0, 20.0, 21.0])],
        );
        let comparison = Comparison::new(&base, &slower);
        assert_eq!(comparison.changes[0].mean_change_pct(), Some(100.0));
        let failed = comparison.gate(&strict(50.0));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].why, gate::GateFailure::Slower { pct: 100.0 });
        assert!(comparison.gate(&strict(100.0)).is_empty());
        assert!(Comparison::new(&slower, &base)
            .gate(&strict(0.0))
            .is_empty());
    }

    /// The gate fails closed: what it cannot judge fails it unless the user lets it pass.
    #[test]
    fn an_untestable_or_missing_case_fails_the_gate_unless_allowed() {
        let base = run(
            json!({}),
            vec![
                case(shm_posix::KIND, 10.0, &[9.5, 10.0, 10.5]),
                case(shm_spin::KIND, 10.0, &[9.5, 10.0, 10.5]),
            ],
        );
        let single = run(json!({}), vec![case(shm_posix::KIND, 20.0, &[20.0])]);
        let comparison = Comparison::new(&base, &single);
        let failed = comparison.gate(&strict(0.0));
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(matches!(
            failed[0].why,
            gate::GateFailure::Unassessable {
                reason: NotTestable::TooFewRuns { base: 3, new: 1 }
            }
        ));
        assert_eq!(failed[1].why, gate::GateFailure::Missing);
        let relaxed = GatePolicy {
            allow_missing: true,
            allow_unassessable: true,
            ..strict(0.0)
        };
        assert!(comparison.gate(&relaxed).is_empty());
        let nothing = Comparison::new(&run(json!({}), vec![]), &run(json!({}), vec![]));
        assert_eq!(
            nothing.gate(&relaxed).len(),
            1,
            "nothing compared passes nothing"
        );
    }

    #[test]
    fn spin_budgets_differ_only_for_transports_both_ran() {
        let base = run(
            json!({"iterations": 10, "spin_budget_us": {"shm-posix": 0.0, "shm-spin": 20.0}}),
            vec![],
        );
        let new = run(
            json!({"iterations": 10, "spin_budget_us": {"shm-spin": 5.0, "shm-zc": 20.0}}),
            vec![case(shm_spin::KIND, 1.0, &[])],
        );
        let comparison = Comparison::new(&base, &new);
        assert_eq!(
            comparison.differences,
            [Difference {
                field: "config.spin_budget_us.shm-spin".into(),
                base: "20.0".into(),
                new: "5.0".into(),
            }]
        );
        assert_eq!(
            comparison.only_in_new,
            [key_of(shm_spin::KIND, Workload::RoundTrip)]
        );
    }

    /// A stream and a round trip of the same transport and size are different cases.
    #[test]
    fn a_stream_is_compared_with_a_stream_only() {
        let round_trip = run(json!({}), vec![case(shm_posix::KIND, 10.0, &[10.0])]);
        let mut stream_case = case(shm_posix::KIND, 1.0, &[1.0]);
        stream_case.key.workload = Workload::Stream;
        let stream = run(json!({}), vec![stream_case]);
        let comparison = Comparison::new(&round_trip, &stream);
        assert!(comparison.changes.is_empty());
        assert_eq!(
            comparison.only_in_new,
            [key_of(shm_posix::KIND, Workload::Stream)]
        );
    }
}
