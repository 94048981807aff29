//! The comparison as text: a heading, warnings about differing machines and configurations,
//! the comfy-table of changes, the cases that could not be compared, and the gate's verdict.

use std::fmt::Write;

use comfy_table::{presets, Cell, CellAlignment, Table};

use super::gate::GatePolicy;
use super::saved::SavedRun;
use super::welch::MIN_RUNS;
use super::{change_pct, CaseChange, CaseKey, Comparison, Side};
use crate::report::format;
use crate::report::result::Status;
use crate::report::size::format_bytes;

const HEADER: [&str; 8] = [
    "Size",
    "Transport",
    "Mean BASE → NEW (µs)",
    "Δ mean",
    "Δ p50",
    "Δ p99",
    "Welch |t| / critical",
    "Change",
];

/// The whole text `compare` prints.
pub fn render(
    comparison: &Comparison,
    base: &SavedRun,
    new: &SavedRun,
    gate_policy: Option<&GatePolicy>,
) -> String {
    let mut text = format!(
        "BASE: {}\nNEW:  {}\nChange of NEW against BASE. Stands out: Welch's t-test on the run means, 95% two-sided (at least {MIN_RUNS} runs each).\n",
        base.path.display(),
        new.path.display()
    );
    for (side, state) in &comparison.incomplete {
        let _ = writeln!(
            text,
            "warning: {} is not complete (state: {state})",
            side.name()
        );
    }
    if !comparison.differences.is_empty() {
        text.push_str("warning: the reports come from different machines or configurations:\n");
        for d in &comparison.differences {
            let _ = writeln!(text, "  {}: {} in BASE, {} in NEW", d.field, d.base, d.new);
        }
    }
    if comparison.changes.is_empty() {
        text.push_str("No case was measured in both reports.\n");
    } else {
        let _ = writeln!(text, "{}", table(&comparison.changes));
    }
    text.push_str(&notes(comparison));
    if let Some(policy) = gate_policy {
        text.push_str(&gate(comparison, policy));
    }
    text
}

fn name(case: CaseKey) -> String {
    format!(
        "{}{} at {}",
        case.transport.name(),
        case.workload(),
        format_bytes(case.size_bytes)
    )
}

fn table(changes: &[CaseChange]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(HEADER);
    for change in changes {
        let cells = row(change);
        table.add_row(cells.into_iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            if i < 2 {
                cell
            } else {
                cell.set_alignment(CellAlignment::Right)
            }
        }));
    }
    table
}

/// A test statistic to two decimals, or in scientific notation when it is too large for that
/// to fit a column (a |t| of 1e160 is 161 digits otherwise).
fn statistic(value: f64) -> String {
    match value.abs() < 1e4 {
        true => format!("{value:.2}"),
        false => format!("{value:.2e}"),
    }
}

fn row(change: &CaseChange) -> [String; 8] {
    let (base, new) = (change.base, change.new);
    let (test, verdict) = match &change.test {
        Ok(test) => {
            let verdict = match (test.stands_out(), test.t > 0.0) {
                (false, _) => "within noise",
                (true, true) => "slower",
                (true, false) => "faster",
            };
            let shown = format!(
                "{} / {}",
                statistic(test.t.abs()),
                statistic(test.critical_t)
            );
            (shown, verdict)
        }
        Err(_) => ("-".to_string(), "not assessable"),
    };
    [
        format_bytes(change.case.size_bytes),
        format!("{}{}", change.case.transport.name(), change.case.workload()),
        format!(
            "{} → {}",
            format::figure(base.mean),
            format::figure(new.mean)
        ),
        signed_pct(change_pct(base.mean, new.mean)),
        percentile_change(base.p50, new.p50),
        percentile_change(base.p99, new.p99),
        test,
        verdict.to_string(),
    ]
}

/// A percentile's change, or `n/a` for a stream, which has none.
fn percentile_change(base: Option<f64>, new: Option<f64>) -> String {
    match (base, new) {
        (Some(base), Some(new)) => signed_pct(change_pct(base, new)),
        _ => "n/a".into(),
    }
}

/// `+12.3%`, `-4.0%`, or `n/a` when the base was 0.
fn signed_pct(pct: Option<f64>) -> String {
    pct.map_or("n/a".into(), |pct| format!("{pct:+.1}%"))
}

/// One-sided, uncompared and untestable cases, one line each.
fn notes(comparison: &Comparison) -> String {
    let mut text = String::new();
    for (side, cases) in [
        (Side::Base, &comparison.only_in_base),
        (Side::New, &comparison.only_in_new),
    ] {
        for &case in cases {
            let _ = writeln!(text, "only in {}: {}", side.name(), name(case));
        }
    }
    for skipped in &comparison.not_compared {
        let why: Vec<String> = (skipped.why.iter())
            .map(|(side, status, reason)| {
                let status = status_name(*status);
                match reason {
                    Some(reason) => format!("{status} in {} ({reason})", side.name()),
                    None => format!("{status} in {}", side.name()),
                }
            })
            .collect();
        let _ = writeln!(
            text,
            "not compared: {}: {}",
            name(skipped.case),
            why.join(", ")
        );
    }
    for change in &comparison.changes {
        if let Err(reason) = &change.test {
            let _ = writeln!(text, "not assessable: {}: {reason}", name(change.case));
        }
    }
    text
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "no latency",
        Status::Failed => "failed",
        Status::Interrupted => "interrupted",
        Status::Skipped => "skipped",
    }
}

/// The verdict of `--fail-above`: each case that fails it, with why, or that none does.
fn gate(comparison: &Comparison, policy: &GatePolicy) -> String {
    let threshold_pct = policy.threshold_pct;
    let failed = comparison.gate(policy);
    if failed.is_empty() {
        return format!(
            "--fail-above {threshold_pct}%: passed: no case got slower by more than that beyond the noise{}\n",
            relaxations(policy)
        );
    }
    let mut text = String::new();
    for failure in failed {
        // The case first, when the failure is one case's.
        let case = failure
            .case
            .map_or(String::new(), |case| format!("{}: ", name(case)));
        let _ = writeln!(text, "--fail-above {threshold_pct}%: {case}{}", failure.why);
    }
    text
}

/// What the gate was told to let pass, for its verdict.
fn relaxations(policy: &GatePolicy) -> &'static str {
    match (policy.allow_missing, policy.allow_unassessable) {
        (false, false) => "",
        (true, false) => " (--allow-missing: cases missing from NEW were let pass)",
        (false, true) => " (--allow-unassessable: changes the test cannot judge were let pass)",
        (true, true) => {
            " (--allow-missing and --allow-unassessable: cases missing from NEW and changes the test cannot judge were let pass)"
        }
    }
}
