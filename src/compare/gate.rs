//! The CI gate of `compare --fail-above PERCENT`, which fails closed: a case of BASE that NEW
//! did not measure, or whose change cannot be tested, fails it as surely as a case that got
//! slower beyond the noise, each with its name and the reason. A gate that only failed on a
//! proven regression passed every comparison of single runs (nothing is testable), of a NEW
//! whose cases failed, and of a NEW that lacked them.
//!
//! Two relaxations, asked for by name: `--allow-missing` (a case of BASE that NEW lacks or
//! skipped) and `--allow-unassessable` (a change the test cannot judge). A case that failed or
//! was interrupted in NEW always fails the gate.

use super::welch::NotTestable;
use super::{CaseKey, Comparison, NotCompared, Side};
use crate::report::result::Status;

/// `--fail-above` and what it lets pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatePolicy {
    /// A case whose mean got slower by more than this many percent, beyond the noise, fails.
    pub threshold_pct: f64,
    /// `--allow-missing`: a case of BASE that NEW lacks or skipped does not fail the gate.
    pub allow_missing: bool,
    /// `--allow-unassessable`: a change the test cannot judge does not fail the gate.
    pub allow_unassessable: bool,
}

/// Why one case fails the gate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateFailure {
    #[error("got slower by {pct:.1}% (mean), beyond the noise")]
    Slower { pct: f64 },
    #[error("{} in NEW{}", status_word(*status), reason_suffix(reason))]
    FailedInNew {
        status: Status,
        reason: Option<String>,
    },
    #[error("missing from NEW (it is in BASE){}", allow_hint("--allow-missing"))]
    Missing,
    #[error(
        "skipped in NEW{}{}",
        reason_suffix(reason),
        allow_hint("--allow-missing")
    )]
    SkippedInNew { reason: Option<String> },
    #[error(
        "cannot be assessed: {}{}",
        too_few_runs_fix(reason),
        allow_hint("--allow-unassessable")
    )]
    Unassessable { reason: NotTestable },
    #[error("cannot be assessed: {why}{}", allow_hint("--allow-unassessable"))]
    NotComparable { why: String },
    #[error("no case was measured in both reports: nothing was shown not to have got slower")]
    NothingCompared,
}

/// One case that fails the gate, and why; `case` is None when no case was compared at all.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedCase {
    pub case: Option<CaseKey>,
    pub why: GateFailure,
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Ok => "no latency",
        Status::Failed => "failed",
        Status::Interrupted => "interrupted",
        Status::Skipped => "skipped",
    }
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map_or(String::new(), |reason| format!(" ({reason})"))
}

fn allow_hint(flag: &str) -> String {
    format!("; {flag} lets it pass")
}

/// The test's reason, with the fix when there were too few runs.
fn too_few_runs_fix(reason: &NotTestable) -> String {
    match reason {
        NotTestable::TooFewRuns { .. } => {
            format!("{reason}: make both reports with --runs 5 or --runs auto")
        }
        other => other.to_string(),
    }
}

impl Comparison {
    /// Every case that fails the gate of `policy`, in the order of BASE's cases; none means it
    /// passes. A comparison of no case at all fails it: nothing was shown not to regress.
    pub fn gate(&self, policy: &GatePolicy) -> Vec<FailedCase> {
        let mut failed = Vec::new();
        for change in &self.changes {
            let why = match &change.test {
                Err(reason) if !policy.allow_unassessable => {
                    Some(GateFailure::Unassessable { reason: *reason })
                }
                Err(_) => None,
                Ok(_) if change.regressed_beyond(policy.threshold_pct) => {
                    let pct = change.mean_change_pct().unwrap_or_default();
                    Some(GateFailure::Slower { pct })
                }
                Ok(_) => None,
            };
            failed.extend(why.map(|why| FailedCase {
                case: Some(change.case),
                why,
            }));
        }
        for skipped in &self.not_compared {
            failed.extend(not_compared_failure(skipped, policy).map(|why| FailedCase {
                case: Some(skipped.case),
                why,
            }));
        }
        if !policy.allow_missing {
            failed.extend(self.only_in_base.iter().map(|&case| FailedCase {
                case: Some(case),
                why: GateFailure::Missing,
            }));
        }
        if self.changes.is_empty() && failed.is_empty() {
            failed.push(FailedCase {
                case: None,
                why: GateFailure::NothingCompared,
            });
        }
        failed
    }
}

/// Why a case both reports have, but one did not measure, fails the gate: NEW's failure
/// always; NEW's skip unless BASE skipped it too (the same limit on both sides, as a
/// `--transports all` run has); a BASE that did not measure it, unless it skipped it (then the
/// case is new in NEW, as one only NEW has).
fn not_compared_failure(skipped: &NotCompared, policy: &GatePolicy) -> Option<GateFailure> {
    let side = |wanted: Side| skipped.why.iter().find(|(side, ..)| *side == wanted);
    let base_skipped = side(Side::Base).is_some_and(|(_, status, _)| *status == Status::Skipped);
    match side(Side::New) {
        Some((_, Status::Skipped, _)) if base_skipped || policy.allow_missing => None,
        Some((_, Status::Skipped, reason)) => Some(GateFailure::SkippedInNew {
            reason: reason.clone(),
        }),
        Some((_, status, reason)) => Some(GateFailure::FailedInNew {
            status: *status,
            reason: reason.clone(),
        }),
        None if base_skipped || policy.allow_unassessable => None,
        None => {
            let (_, status, reason) = side(Side::Base)?;
            Some(GateFailure::NotComparable {
                why: format!("{} in BASE{}", status_word(*status), reason_suffix(reason)),
            })
        }
    }
}
