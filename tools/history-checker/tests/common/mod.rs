//! Builders for hand-written histories: each function makes one operation on the key `/k`
//! (`on` moves it), called at `t.0` and completed at `t.1` (nanoseconds).

#![allow(dead_code)]

use std::collections::BTreeMap;

use polis_history_checker::{CheckOptions, History, OpKind, OpResult, Operation, Outcome, Report};

pub const KEY: &str = "/k";

fn op(process: u64, kind: OpKind, t: (u64, u64), outcome: Outcome) -> Operation {
    Operation {
        process,
        kind,
        key: KEY.to_string(),
        value: None,
        expected_version: None,
        invoke_ns: t.0,
        complete_ns: Some(t.1),
        outcome,
        result: None,
        error: None,
        is_final: false,
    }
}

fn fail(mut op: Operation, error: &str) -> Operation {
    op.error = Some(error.to_string());
    op
}

fn info(mut op: Operation) -> Operation {
    op.error = Some("ConnectionLoss".to_string());
    op
}

fn with_version(mut op: Operation, version: i64) -> Operation {
    op.result = Some(OpResult {
        version: Some(version),
        ..OpResult::default()
    });
    op
}

fn writing(mut op: Operation, value: &str) -> Operation {
    op.value = Some(value.to_string());
    op
}

pub fn on(key: &str, mut op: Operation) -> Operation {
    op.key = key.to_string();
    op
}

pub fn finally(mut op: Operation) -> Operation {
    op.is_final = true;
    op
}

pub fn read_ok(p: u64, t: (u64, u64), value: &str, version: i64) -> Operation {
    let mut op = op(p, OpKind::Read, t, Outcome::Ok);
    op.result = Some(OpResult {
        value: Some(value.to_string()),
        version: Some(version),
        ..OpResult::default()
    });
    op
}

pub fn read_no_node(p: u64, t: (u64, u64)) -> Operation {
    fail(op(p, OpKind::Read, t, Outcome::Fail), "NoNode")
}

pub fn write_ok(p: u64, t: (u64, u64), value: &str, version: i64) -> Operation {
    with_version(
        writing(op(p, OpKind::Write, t, Outcome::Ok), value),
        version,
    )
}

pub fn write_info(p: u64, t: (u64, u64), value: &str) -> Operation {
    info(writing(op(p, OpKind::Write, t, Outcome::Info), value))
}

fn cas(p: u64, t: (u64, u64), outcome: Outcome, expected: i64, value: &str) -> Operation {
    let mut op = writing(op(p, OpKind::Cas, t, outcome), value);
    op.expected_version = Some(expected);
    op
}

pub fn cas_ok(p: u64, t: (u64, u64), expected: i64, value: &str, version: i64) -> Operation {
    with_version(cas(p, t, Outcome::Ok, expected, value), version)
}

pub fn cas_bad_version(p: u64, t: (u64, u64), expected: i64, value: &str) -> Operation {
    fail(cas(p, t, Outcome::Fail, expected, value), "BadVersion")
}

pub fn cas_info(p: u64, t: (u64, u64), expected: i64, value: &str) -> Operation {
    info(cas(p, t, Outcome::Info, expected, value))
}

pub fn create_ok(p: u64, t: (u64, u64), value: &str) -> Operation {
    writing(op(p, OpKind::Create, t, Outcome::Ok), value)
}

pub fn create_exists(p: u64, t: (u64, u64), value: &str) -> Operation {
    fail(
        writing(op(p, OpKind::Create, t, Outcome::Fail), value),
        "NodeExists",
    )
}

pub fn create_info(p: u64, t: (u64, u64), value: &str) -> Operation {
    info(writing(op(p, OpKind::Create, t, Outcome::Info), value))
}

pub fn create_seq_ok(p: u64, t: (u64, u64), parent: &str, value: &str, number: u64) -> Operation {
    let mut op = on(
        parent,
        writing(op(p, OpKind::CreateSeq, t, Outcome::Ok), value),
    );
    op.result = Some(OpResult {
        path: Some(format!("{parent}/s-{number:010}")),
        ..OpResult::default()
    });
    op
}

pub fn create_seq_info(p: u64, t: (u64, u64), parent: &str, value: &str) -> Operation {
    on(
        parent,
        info(writing(op(p, OpKind::CreateSeq, t, Outcome::Info), value)),
    )
}

/// The final listing of `parent`: (sequence number, data) per child.
pub fn list_final(p: u64, t: (u64, u64), parent: &str, children: &[(u64, &str)]) -> Operation {
    let mut op = finally(on(parent, op(p, OpKind::List, t, Outcome::Ok)));
    let children: BTreeMap<String, String> = children
        .iter()
        .map(|(number, data)| (format!("s-{number:010}"), data.to_string()))
        .collect();
    op.result = Some(OpResult {
        children: Some(children),
        ..OpResult::default()
    });
    op
}

pub fn check(ops: Vec<Operation>) -> Report {
    check_with(ops, CheckOptions::default())
}

pub fn check_with(ops: Vec<Operation>, options: CheckOptions) -> Report {
    let history = History::from_ops(ops).expect("a well-formed history");
    Report::check(&history, options)
}
