//! Randomised histories: a real sequential register model run under random concurrency windows
//! gives histories linearizable by construction, which must pass; one read made stale or bogus
//! must then fail.
//!
//! Each test prints its seed; `POLIS_CHECK_SEED=<seed> cargo test -p polis-history-checker`
//! replays it.

use std::collections::HashMap;

use polis_history_checker::rng::SplitMix64;
use polis_history_checker::{
    CheckOptions, History, OpKind, OpResult, Operation, Outcome, Report, Status,
};

/// Histories generated per test run.
const HISTORIES_PER_RUN: u64 = 40;

/// One seed per run: `POLIS_CHECK_SEED` if set, else from the clock.
fn base_seed() -> u64 {
    let seed = std::env::var("POLIS_CHECK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.as_nanos() as u64)
        });
    println!("seed {seed} (replay with POLIS_CHECK_SEED={seed})");
    seed
}

/// An operation in flight: called, maybe applied to the model, not yet returned.
#[derive(Debug)]
struct Pending {
    op: Operation,
    applied: bool,
}

/// A generated history and, per key, the register's states by version (for stale reads).
#[derive(Debug)]
struct Generated {
    ops: Vec<Operation>,
    states: HashMap<String, Vec<String>>,
}

/// Runs `processes` clients against a sequential model of `keys` registers until `target`
/// operations have returned. Each operation takes effect at one instant between its call and
/// its return; some are indeterminate: lost before taking effect, or their reply lost after.
fn generate(seed: u64, processes: usize, keys: usize, target: usize) -> Generated {
    let mut rng = SplitMix64::new(seed);
    let mut states: HashMap<String, Vec<String>> = HashMap::new();
    let mut ops = Vec::new();
    let mut pending: Vec<Option<Pending>> = (0..processes).map(|_| None).collect();
    let mut now = 0u64;
    let mut written = 0u64;
    while ops.len() < target || pending.iter().any(Option::is_some) {
        now += 1 + rng.below(3);
        let p = rng.below(processes as u64) as usize;
        match pending[p].take() {
            None if ops.len() < target => {
                written += 1;
                let key = format!("/k{}", rng.below(keys as u64));
                let op = invoke(&mut rng, p as u64, key, now, written, &states);
                pending[p] = Some(Pending { op, applied: false });
            }
            None => {}
            Some(Pending {
                mut op,
                applied: false,
            }) => {
                if rng.percent(5) {
                    finish_info(&mut op, now);
                    ops.push(op);
                } else {
                    let key = op.key.clone();
                    apply(&mut op, states.entry(key).or_default());
                    pending[p] = Some(Pending { op, applied: true });
                }
            }
            Some(Pending {
                mut op,
                applied: true,
            }) => {
                op.complete_ns = Some(now);
                if rng.percent(5) {
                    finish_info(&mut op, now);
                }
                ops.push(op);
            }
        }
    }
    Generated { ops, states }
}

/// Calls a random operation; a compare-and-set expects the current version or a near one.
fn invoke(
    rng: &mut SplitMix64,
    process: u64,
    key: String,
    now: u64,
    serial: u64,
    states: &HashMap<String, Vec<String>>,
) -> Operation {
    let version = states.get(&key).map_or(0, |s| s.len() as i64 - 1);
    let kind = match rng.below(100) {
        0..40 => OpKind::Read,
        40..65 => OpKind::Write,
        65..90 => OpKind::Cas,
        _ => OpKind::Create,
    };
    Operation {
        process,
        kind,
        key,
        value: (kind != OpKind::Read).then(|| format!("p{process}-{serial}")),
        expected_version: (kind == OpKind::Cas).then(|| version + rng.below(3) as i64 - 1),
        invoke_ns: now,
        complete_ns: None,
        outcome: Outcome::Ok,
        result: None,
        error: None,
        is_final: false,
    }
}

/// Applies `op` to the register whose states by version are `states` (empty: absent), and
/// records what it returned.
fn apply(op: &mut Operation, states: &mut Vec<String>) {
    let version = states.len() as i64 - 1;
    let value = op.value.clone().unwrap_or_default();
    let (outcome, result, error) = match op.kind {
        _ if states.is_empty() && op.kind != OpKind::Create => {
            (Outcome::Fail, None, Some("NoNode"))
        }
        OpKind::Create if !states.is_empty() => (Outcome::Fail, None, Some("NodeExists")),
        OpKind::Create => {
            states.push(value);
            (Outcome::Ok, None, None)
        }
        OpKind::Cas if op.expected_version != Some(version) => {
            (Outcome::Fail, None, Some("BadVersion"))
        }
        OpKind::Read => {
            let result = OpResult {
                value: states.last().cloned(),
                version: Some(version),
                ..OpResult::default()
            };
            (Outcome::Ok, Some(result), None)
        }
        _ => {
            states.push(value);
            let result = OpResult {
                version: Some(version + 1),
                ..OpResult::default()
            };
            (Outcome::Ok, Some(result), None)
        }
    };
    op.outcome = outcome;
    op.result = result;
    op.error = error.map(str::to_string);
}

/// Makes `op` indeterminate: its client never learns what happened.
fn finish_info(op: &mut Operation, now: u64) {
    op.outcome = Outcome::Info;
    op.result = None;
    op.error = Some("ConnectionLoss".to_string());
    op.complete_ns = Some(now);
}

fn check(ops: Vec<Operation>) -> Report {
    let history = History::from_ops(ops).expect("a well-formed history");
    Report::check(&history, CheckOptions::default())
}

#[test]
fn histories_of_a_real_register_under_random_concurrency_are_linearizable() {
    let base = base_seed();
    for i in 0..HISTORIES_PER_RUN {
        let seed = base.wrapping_add(i);
        let generated = generate(seed, 2 + (i % 6) as usize, 1 + (i % 3) as usize, 300);
        let report = check(generated.ops);
        assert_eq!(report.status(), Status::Clean, "seed {seed}:\n{report}");
    }
}

#[test]
fn a_read_given_a_never_written_value_fails() {
    let base = base_seed();
    for i in 0..HISTORIES_PER_RUN {
        let seed = base.wrapping_add(i);
        let mut generated = generate(seed, 2 + (i % 6) as usize, 1 + (i % 3) as usize, 300);
        let Some(read) = pick_read(&generated.ops, seed, |_| true) else {
            continue;
        };
        if let Some(result) = generated.ops[read].result.as_mut() {
            result.value = Some("never written".to_string());
        }
        let report = check(generated.ops);
        assert_eq!(report.violations(), 1, "seed {seed}: read {read}\n{report}");
    }
}

#[test]
fn a_read_made_stale_after_an_acknowledged_write_fails() {
    let base = base_seed();
    let mut mutated = 0;
    for i in 0..HISTORIES_PER_RUN {
        let seed = base.wrapping_add(i);
        let mut generated = generate(seed, 2 + (i % 6) as usize, 1 + (i % 3) as usize, 300);
        let ops = &generated.ops;
        // A read called after an acknowledged write of version v returned: it must see v or later.
        let stale_candidate = |read: &Operation| {
            ops.iter().any(|w| {
                w.key == read.key
                    && matches!(w.kind, OpKind::Write | OpKind::Cas)
                    && w.outcome == Outcome::Ok
                    && w.complete_ns < Some(read.invoke_ns)
                    && w.result.as_ref().and_then(|r| r.version)
                        == read.result.as_ref().and_then(|r| r.version)
            })
        };
        let Some(read) = pick_read(ops, seed, stale_candidate) else {
            continue;
        };
        let op = &mut generated.ops[read];
        let states = &generated.states[&op.key];
        let result = op.result.as_mut().expect("an ok read has a result");
        let version = result.version.expect("a read's version") - 1;
        result.value = Some(states[version as usize].clone());
        result.version = Some(version);
        mutated += 1;
        let report = check(generated.ops);
        assert_eq!(report.violations(), 1, "seed {seed}: read {read}\n{report}");
    }
    assert!(
        mutated > HISTORIES_PER_RUN / 2,
        "only {mutated} histories had a read to make stale"
    );
}

/// A random successful read that `eligible` accepts.
fn pick_read(ops: &[Operation], seed: u64, eligible: impl Fn(&Operation) -> bool) -> Option<usize> {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].kind == OpKind::Read && ops[i].outcome == Outcome::Ok)
        .filter(|&i| eligible(&ops[i]))
        .collect();
    let mut rng = SplitMix64::new(seed ^ 0xa5a5);
    (!reads.is_empty()).then(|| reads[rng.below(reads.len() as u64) as usize])
}
