//! A whole recorded history: every operation of a run, in file order.

use std::collections::BTreeMap;
use std::io::BufRead;

use crate::error::HistoryError;
use crate::operation::{FailReason, OpKind, Operation, Outcome};

/// The operations of one run. Each record was checked on load for the fields its kind and outcome
/// need, so that the checks can rely on them.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub ops: Vec<Operation>,
}

impl History {
    /// Reads JSON lines, one operation each; blank lines are skipped.
    pub fn from_reader(reader: impl BufRead) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let op: Operation =
                serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                    line: i + 1,
                    source,
                })?;
            validate(&op).map_err(|problem| HistoryError::Invalid {
                line: i + 1,
                problem,
            })?;
            ops.push(op);
        }
        Ok(History { ops })
    }

    /// Builds a history from records made in memory (tests, generators), checking each.
    pub fn from_ops(ops: Vec<Operation>) -> Result<History, HistoryError> {
        for (i, op) in ops.iter().enumerate() {
            validate(op).map_err(|problem| HistoryError::Invalid {
                line: i + 1,
                problem,
            })?;
        }
        Ok(History { ops })
    }

    /// How many operations there are of each kind and outcome.
    pub fn counts(&self) -> BTreeMap<(OpKind, Outcome), usize> {
        let mut counts = BTreeMap::new();
        for op in &self.ops {
            *counts.entry((op.kind, op.outcome)).or_insert(0) += 1;
        }
        counts
    }
}

/// Says what is missing from a record for its kind and outcome, if anything.
fn validate(op: &Operation) -> Result<(), String> {
    if let Some(complete) = op.complete_ns
        && complete < op.invoke_ns
    {
        return Err(format!(
            "completes ({complete}) before it is invoked ({})",
            op.invoke_ns
        ));
    }
    if op.outcome != Outcome::Info && op.complete_ns.is_none() {
        return Err(format!("an {} operation needs complete_ns", op.outcome));
    }
    let writes = matches!(
        op.kind,
        OpKind::Write | OpKind::Cas | OpKind::Create | OpKind::CreateSeq
    );
    if writes && op.value.is_none() {
        return Err(format!("a {} needs the value it writes", op.kind));
    }
    if op.kind == OpKind::Cas && op.expected_version.is_none() {
        return Err("a cas needs expected_version".to_string());
    }
    match op.outcome {
        Outcome::Ok => validate_result(op),
        Outcome::Fail => validate_failure(op),
        Outcome::Info => Ok(()),
    }
}

/// Says whether a `fail` record names a definite failure its kind can have.
fn validate_failure(op: &Operation) -> Result<(), String> {
    let reason = op.error.as_deref().and_then(FailReason::parse);
    let possible = match (op.kind, reason) {
        (_, None) => false,
        (OpKind::Read | OpKind::Write, Some(reason)) => reason == FailReason::NoNode,
        (OpKind::Cas, Some(reason)) => reason != FailReason::NodeExists,
        (OpKind::Create | OpKind::CreateSeq, Some(reason)) => reason != FailReason::BadVersion,
        (OpKind::List, Some(reason)) => reason == FailReason::NoNode,
    };
    if possible {
        Ok(())
    } else {
        Err(format!(
            "a failed {} cannot end with {:?}: a definite failure is NoNode, NodeExists or \
             BadVersion as its kind allows (an error that may have taken effect is info)",
            op.kind, op.error
        ))
    }
}

/// Says which field an `ok` record lacks for its kind, if any.
fn validate_result(op: &Operation) -> Result<(), String> {
    let result = op.result.clone().unwrap_or_default();
    let missing = match op.kind {
        OpKind::Read if result.value.is_none() || result.version.is_none() => "value and version",
        OpKind::Write | OpKind::Cas if result.version.is_none() => "version",
        OpKind::CreateSeq if result.path.is_none() => "path",
        OpKind::List if result.children.is_none() => "children",
        _ => return Ok(()),
    };
    Err(format!("an ok {} needs result.{missing}", op.kind))
}
