//! Every check of one history, and how it is printed.

use std::collections::BTreeMap;
use std::fmt;

use crate::history::History;
use crate::key_history::KeyHistory;
use crate::operation::{OpKind, Operation, Outcome};
use crate::register::RegisterState;
use crate::search::{SEARCH_STATES_MAX, Verdict, check};
use crate::sets::SetReport;
use crate::witness::Witness;

/// How long a check may search and how much of a violation it prints.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Per key; see `SEARCH_STATES_MAX`.
    pub states_max: usize,
    /// The most operations printed around one violation.
    pub shown_max: usize,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            states_max: SEARCH_STATES_MAX,
            shown_max: 40,
        }
    }
}

/// A key that is not (or not known to be) linearizable.
#[derive(Debug, Clone)]
pub struct KeyReport {
    pub key: String,
    pub ops: usize,
    pub verdict: Verdict,
    /// The printed explanation: the failing prefix's operations around the point of failure.
    pub explanation: Vec<String>,
    /// The failing prefix's operations, as indices into the history, to save for a regression.
    pub witness_sources: Vec<usize>,
}

/// The overall result, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Clean,
    Anomalies,
    /// No anomaly found, but some key's search hit its limit.
    Unknown,
}

/// The result of every check of one history.
#[derive(Debug, Clone)]
pub struct Report {
    pub counts: BTreeMap<(OpKind, Outcome), usize>,
    pub keys_checked: usize,
    /// The (linearized set, state) pairs remembered, summed over keys.
    pub states_total: usize,
    /// Keys that failed or ran out of search, in key order.
    pub keys: Vec<KeyReport>,
    pub sets: SetReport,
}

impl Report {
    pub fn check(history: &History, options: CheckOptions) -> Report {
        let mut report = Report {
            counts: history.counts(),
            keys_checked: 0,
            states_total: 0,
            keys: Vec::new(),
            sets: SetReport::check(history),
        };
        for key in KeyHistory::split(history) {
            report.keys_checked += 1;
            let verdict = check(&key.ops, RegisterState::Absent, options.states_max);
            match &verdict {
                Verdict::Linearizable { states } => report.states_total += states,
                Verdict::Unknown { states } => {
                    report.states_total += states;
                    report.keys.push(KeyReport {
                        key: key.key.clone(),
                        ops: key.ops.len(),
                        verdict,
                        explanation: Vec::new(),
                        witness_sources: Vec::new(),
                    });
                }
                Verdict::Violation(_) => report.keys.push(explain(history, &key, verdict, options)),
            }
        }
        report
    }

    pub fn violations(&self) -> usize {
        let failed = |k: &&KeyReport| matches!(k.verdict, Verdict::Violation(_));
        self.keys.iter().filter(failed).count()
    }

    pub fn unknown(&self) -> usize {
        self.keys.len() - self.violations()
    }

    /// Non-linearizable keys plus the set checks' anomalies.
    pub fn anomalies(&self) -> usize {
        self.violations() + self.sets.anomalies()
    }

    pub fn status(&self) -> Status {
        if self.anomalies() > 0 {
            Status::Anomalies
        } else if self.unknown() > 0 {
            Status::Unknown
        } else {
            Status::Clean
        }
    }
}

/// Finds a small failing prefix of a violating key and describes it.
fn explain(
    history: &History,
    key: &KeyHistory,
    verdict: Verdict,
    options: CheckOptions,
) -> KeyReport {
    let t0 = history.ops.iter().map(|op| op.invoke_ns).min().unwrap_or(0);
    let mut explanation = Vec::new();
    let mut witness_sources = Vec::new();
    match Witness::find(&key.ops, RegisterState::Absent, options.states_max) {
        Some(witness) => {
            explanation.push(format!(
                "smallest failing prefix found: {} of {} operations, cut at t+{}",
                witness.ops.len(),
                key.ops.len(),
                millis(witness.cut_ns, t0)
            ));
            let stuck = &witness.stuck;
            explanation.push(format!(
                "the search linearized at most {} operations with a result; the model then held {}",
                stuck.linearized_max,
                describe_state(stuck.state, key)
            ));
            for &i in &stuck.order_tail {
                let op = &history.ops[witness.ops[i].source];
                explanation.push(format!("  linearized: {}", describe(op, t0)));
            }
            if let Some(blocked) = stuck.blocked {
                let op = &history.ops[witness.ops[blocked].source];
                explanation.push(format!("  could not place: {}", describe(op, t0)));
            }
            explanation.push("operations around the failure (by call time):".to_string());
            for i in witness.window(options.shown_max) {
                let op = &history.ops[witness.ops[i].source];
                explanation.push(format!("  {}", describe(op, t0)));
            }
            witness_sources = witness.ops.iter().map(|op| op.source).collect();
            witness_sources.sort_unstable();
        }
        None => explanation.push("no failing prefix found within the search limit".to_string()),
    }
    KeyReport {
        key: key.key.clone(),
        ops: key.ops.len(),
        verdict,
        explanation,
        witness_sources,
    }
}

fn millis(ns: u64, t0: u64) -> String {
    format!("{:.3} ms", ns.saturating_sub(t0) as f64 / 1e6)
}

fn describe_state(state: RegisterState, key: &KeyHistory) -> String {
    match state {
        RegisterState::Absent => "no node".to_string(),
        RegisterState::Present { value, version } => format!(
            "value {:?} version {version}",
            key.values.get(value as usize).map_or("?", String::as_str)
        ),
    }
}

/// One operation on one line: who, what, when (from the history's first call) and the outcome.
fn describe(op: &Operation, t0: u64) -> String {
    let mut line = format!("p{} {} {}", op.process, op.kind, op.key);
    if let Some(value) = &op.value {
        line += &format!(" value={value:?}");
    }
    if let Some(expected) = op.expected_version {
        line += &format!(" expected_version={expected}");
    }
    let complete = op.complete_ns.map_or("?".to_string(), |c| millis(c, t0));
    line += &format!(
        " [{} .. {}] {}",
        millis(op.invoke_ns, t0),
        complete,
        op.outcome
    );
    if let Some(result) = &op.result {
        if let Some(value) = &result.value {
            line += &format!(" value={value:?}");
        }
        if let Some(version) = result.version {
            line += &format!(" version={version}");
        }
    }
    if let Some(error) = &op.error {
        line += &format!(" ({error})");
    }
    line
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "operations by kind and outcome:")?;
        let mut kinds: BTreeMap<OpKind, [usize; 3]> = BTreeMap::new();
        for (&(kind, outcome), &n) in &self.counts {
            kinds.entry(kind).or_default()[outcome as usize] += n;
        }
        for (kind, [ok, fail, info]) in &kinds {
            writeln!(f, "  {kind:<10} ok {ok:>7}  fail {fail:>7}  info {info:>7}")?;
        }
        writeln!(
            f,
            "linearizability: {} keys checked ({} search states), {} not linearizable, {} unknown",
            self.keys_checked,
            self.states_total,
            self.violations(),
            self.unknown()
        )?;
        for key in &self.keys {
            match &key.verdict {
                Verdict::Unknown { states } => writeln!(
                    f,
                    "UNKNOWN {} ({} operations): search limit reached after {states} states",
                    key.key, key.ops
                )?,
                _ => writeln!(f, "NOT LINEARIZABLE {} ({} operations)", key.key, key.ops)?,
            }
            for line in &key.explanation {
                writeln!(f, "  {line}")?;
            }
        }
        write!(f, "{}", self.sets)?;
        writeln!(f, "anomalies: {}", self.anomalies())?;
        writeln!(f, "lost acknowledged creates: {}", self.sets.lost_creates())
    }
}
