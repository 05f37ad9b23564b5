//! One recorded client operation: the JSON line the fault harness (`bench/faults/history.py`)
//! writes for every operation it attempted.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// `getData`: returns the value and the version.
    Read,
    /// `setData` without a version: sets the value and bumps the version.
    Write,
    /// `setData` with an expected version: a compare-and-set on the version.
    Cas,
    /// A create of a path the client chose.
    Create,
    /// A sequential create below `key`, the parent; the server chose the path.
    CreateSeq,
    /// `getChildren` of a parent with each child's data: the final state of a sequential set.
    List,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::Create => "create",
            OpKind::CreateSeq => "create_seq",
            OpKind::List => "list",
        };
        f.pad(name)
    }
}

/// How an operation ended, as far as the client can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect, and `result` says what it returned.
    Ok,
    /// It definitely did not take effect; `error` says which precondition it found false.
    Fail,
    /// Indeterminate (a timeout, a lost connection): it may or may not have taken effect, at any
    /// time after its invocation.
    Info,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        f.pad(name)
    }
}

/// What an `ok` operation returned; which fields are set depends on the kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// The value a read returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The version a read returned, or the new version a write or compare-and-set returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The path a sequential create returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A listing's children (names, not paths) with their data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<BTreeMap<String, String>>,
}

/// One operation: who, what, on which key, when (monotonic nanoseconds on one clock for every
/// client) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client (one session) that issued it.
    pub process: u64,
    pub kind: OpKind,
    /// The register's path, a created path, or a sequential set's parent.
    pub key: String,
    /// The value written by a write, compare-and-set or create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The version a compare-and-set expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
    pub invoke_ns: u64,
    /// When the client learnt the outcome; an `info` operation is treated as completing never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ns: Option<u64>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OpResult>,
    /// For `fail`: `NoNode`, `NodeExists` or `BadVersion`; for `info`, a description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Issued after the faults stopped, to observe the final state.
    #[serde(default, rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub is_final: bool,
}

/// The precondition a `fail` operation found false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    NoNode,
    NodeExists,
    BadVersion,
}

impl FailReason {
    /// Reads the harness's name for a definite failure; other names are not definite.
    pub fn parse(name: &str) -> Option<FailReason> {
        match name {
            "NoNode" => Some(FailReason::NoNode),
            "NodeExists" => Some(FailReason::NodeExists),
            "BadVersion" => Some(FailReason::BadVersion),
            _ => None,
        }
    }
}
