//! One key's operations, translated for the register model (P-compositionality: a history is
//! linearizable exactly when each key's sub-history is, so every key is checked alone).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::history::History;
use crate::operation::{FailReason, OpKind, Operation, Outcome};
use crate::register::{RegisterInput, RegisterOutput, VALUE_UNOBSERVED, ValueId};

/// An operation as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterOp {
    /// Its index in the whole history, to print or save the original record.
    pub source: usize,
    pub call: u64,
    /// `None` for an indeterminate operation: it may take effect at any time after `call`.
    pub ret: Option<u64>,
    pub input: RegisterInput,
    pub output: RegisterOutput,
}

impl RegisterOp {
    /// Whether the search must place it (it has a known result) rather than may.
    pub fn is_required(&self) -> bool {
        self.ret.is_some()
    }
}

/// The register operations on one key, sorted by invocation, and the values' names.
#[derive(Debug, Clone)]
pub struct KeyHistory {
    pub key: String,
    pub ops: Vec<RegisterOp>,
    /// The name of each observed value by its number (index 0: every unobserved value).
    pub values: Vec<String>,
}

impl KeyHistory {
    /// Splits the register kinds (read, write, cas, create) of `history` by key. Indeterminate
    /// reads are left out: they changed nothing and nobody saw what they returned.
    pub fn split(history: &History) -> Vec<KeyHistory> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in history.ops.iter().enumerate() {
            let register_kind = matches!(
                op.kind,
                OpKind::Read | OpKind::Write | OpKind::Cas | OpKind::Create
            );
            let info_read = op.kind == OpKind::Read && op.outcome == Outcome::Info;
            if register_kind && !info_read {
                by_key.entry(op.key.as_str()).or_default().push(i);
            }
        }
        by_key
            .into_iter()
            .map(|(key, indices)| KeyHistory::build(key, &history.ops, &indices))
            .collect()
    }

    fn build(key: &str, all: &[Operation], indices: &[usize]) -> KeyHistory {
        let observed: HashSet<&str> = indices
            .iter()
            .map(|&i| &all[i])
            .filter(|op| op.kind == OpKind::Read && op.outcome == Outcome::Ok)
            .filter_map(|op| op.result.as_ref()?.value.as_deref())
            .collect();
        let mut values = vec!["(unobserved)".to_string()];
        let mut ids: HashMap<String, ValueId> = HashMap::new();
        let mut id_of = |name: &str| -> ValueId {
            if let Some(&id) = ids.get(name) {
                return id;
            }
            let id = values.len() as ValueId;
            values.push(name.to_string());
            ids.insert(name.to_string(), id);
            id
        };
        let mut ops: Vec<RegisterOp> = indices
            .iter()
            .map(|&i| {
                let op = &all[i];
                let written = match op.value.as_deref() {
                    Some(v) if observed.contains(v) => id_of(v),
                    _ => VALUE_UNOBSERVED,
                };
                translate(i, op, written, &mut id_of)
            })
            .collect();
        ops.sort_by_key(|op| (op.call, op.source));
        KeyHistory {
            key: key.to_string(),
            ops,
            values,
        }
    }
}

/// Translates one record; `written` is the number of the value it writes, if any.
fn translate(
    source: usize,
    op: &Operation,
    written: ValueId,
    id_of: &mut impl FnMut(&str) -> ValueId,
) -> RegisterOp {
    let input = match op.kind {
        OpKind::Write => RegisterInput::Write { value: written },
        OpKind::Cas => RegisterInput::Cas {
            expected: op.expected_version.unwrap_or_default(),
            value: written,
        },
        OpKind::Create => RegisterInput::Create { value: written },
        _ => RegisterInput::Read,
    };
    let result = op.result.clone().unwrap_or_default();
    let output = match (op.outcome, op.kind) {
        (Outcome::Info, _) => RegisterOutput::Unknown,
        (Outcome::Fail, _) => match op.error.as_deref().and_then(FailReason::parse) {
            Some(FailReason::NoNode) => RegisterOutput::NoNode,
            Some(FailReason::NodeExists) => RegisterOutput::NodeExists,
            Some(FailReason::BadVersion) | None => RegisterOutput::BadVersion,
        },
        (Outcome::Ok, OpKind::Read) => RegisterOutput::Read {
            value: id_of(result.value.as_deref().unwrap_or_default()),
            version: result.version.unwrap_or_default(),
        },
        (Outcome::Ok, OpKind::Create) => RegisterOutput::Created,
        (Outcome::Ok, _) => RegisterOutput::Written {
            version: result.version.unwrap_or_default(),
        },
    };
    RegisterOp {
        source,
        call: op.invoke_ns,
        ret: match op.outcome {
            Outcome::Info => None,
            _ => op.complete_ns,
        },
        input,
        output,
    }
}
