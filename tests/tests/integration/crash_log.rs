//! Crash safety of the Raft log: a process appending to the log (its journal and redb) killed
//! with SIGKILL at a random moment loses no append whose flush it had reported, brings back no
//! entry a truncation removed, and leaves a log that takes the next append.
//!
//! As in `crash_safety`, each round re-executes this test binary to run
//! [`crash_log_child_appends_until_killed`] in a child process. The child appends batches of
//! entries of random size (so that the journal is checkpointed by bytes and by records at random
//! points), now and then truncates its tail as a new leader would make it, and now and then purges
//! its head; after each step is durable it prints what it did. The parent kills it after a random
//! number of lines, reopens the log, and checks it against what was printed.
//!
//! The kill points come from a seed printed at the start; `POLIS_CRASH_SEED` replays a failure.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader};
use polis_raft::{Command, LogEntry, LogId, RAFT_LOG_FILE_NAME, RedbLogStore};
use polis_tests::SplitMix64;
use polis_tree::{Acl, Caller, CreateMode, TxnKind, WriteOp};

use super::crash_safety::{ENV_CHILD_SEED, ENV_SEED, ROUNDS, Writer, env_number, test_seed};

/// The name of the child test, as libtest's `--exact` filter wants it.
const CHILD_TEST: &str = "crash_log::crash_log_child_appends_until_killed";
/// Set only in the child: the log file to write.
const ENV_CHILD_LOG: &str = "POLIS_CRASH_CHILD_LOG";
/// A child that is never killed stops after this many entries rather than fill the disk.
const CHILD_ENTRIES_MAX: u64 = 1_000_000;
/// The most znode data bytes in one entry: big enough that a few hundred appends fill the
/// journal's byte bound, so rounds cross checkpoints of both kinds.
const ENTRY_DATA_BYTES_MAX: u64 = 24 * 1024;

#[test]
fn killed_log_writer_keeps_every_flushed_append_and_no_truncated_entry() {
    let seed = test_seed("killed_log_writer_keeps_every_flushed_append_and_no_truncated_entry");
    let mut rng = SplitMix64::new(seed);
    for round in 0..ROUNDS {
        let round_seed = rng.next_u64();
        let kill_after = rng.between(1, 1500);
        let context = format!(
            "{ENV_SEED}={seed}, round {round}, child seed {round_seed}, kill after {kill_after} \
             lines"
        );
        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join(RAFT_LOG_FILE_NAME);
        let printed = run_until_killed(&file, round_seed, kill_after, &context);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let stored_last = runtime.block_on(check_log(&file, &printed, &context));
        println!(
            "round {round}: {} entries reported flushed through index {:?}, purged through \
             {:?}; the reopened log ends at {stored_last}",
            printed.terms.len(),
            printed.terms.last_key_value().map(|(index, _)| *index),
            printed.purged
        );
    }
}

/// The child: appends, truncates and purges until it is killed, printing each durable step.
#[test]
#[ignore = "the writer process of the log crash test, which starts it itself"]
fn crash_log_child_appends_until_killed() {
    let Ok(file) = std::env::var(ENV_CHILD_LOG) else {
        return;
    };
    let mut rng = SplitMix64::new(env_number(ENV_CHILD_SEED));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("child: a runtime");
    runtime.block_on(async move {
        let mut log = RedbLogStore::open(&file).expect("child: open the log");
        let mut out = std::io::stdout().lock();
        let (mut next, mut term) = (1u64, 1u64);
        let mut terms: BTreeMap<u64, u64> = BTreeMap::new();
        let mut purged = 0u64;
        loop {
            assert!(next <= CHILD_ENTRIES_MAX, "child: never killed");
            if next > purged + 4 && rng.percent(3) {
                // A new leader overwrote the tail: the entries from `from` on are gone.
                let from = next - rng.between(1, 3);
                log.truncate(log_id(terms[&from], from))
                    .await
                    .expect("child: truncate");
                terms.split_off(&from);
                term += 1;
                next = from;
                writeln!(out, "truncated {from}").expect("child: report");
            } else if next > purged + 200 && rng.percent(1) {
                let through = next - 100;
                log.purge(log_id(terms[&through], through))
                    .await
                    .expect("child: purge");
                purged = through;
                writeln!(out, "purged {through}").expect("child: report");
            } else {
                let count = rng.between(1, 8);
                let batch: Vec<LogEntry> = (next..next + count)
                    .map(|index| entry(term, index))
                    .collect();
                log.blocking_append(batch).await.expect("child: append");
                for index in next..next + count {
                    terms.insert(index, term);
                }
                writeln!(out, "flushed {next} {} {term}", next + count - 1).expect("child: report");
                next += count;
            }
            out.flush().expect("child: flush");
        }
    });
}

/// What the child reported before it died: the term of every entry it had flushed and not
/// truncated since, and the last purge point.
#[derive(Debug, Default)]
struct Printed {
    terms: BTreeMap<u64, u64>,
    purged: Option<u64>,
}

impl Printed {
    fn record(&mut self, line: &str, context: &str) {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let numbers: Vec<u64> = words.filter_map(|word| word.parse().ok()).collect();
        match (kind, numbers.as_slice()) {
            (Some("flushed"), [first, last, term]) => {
                for index in *first..=*last {
                    self.terms.insert(index, *term);
                }
            }
            (Some("truncated"), [from]) => {
                self.terms.split_off(from);
            }
            (Some("purged"), [through]) => self.purged = Some(*through),
            (Some("flushed" | "truncated" | "purged"), _) => {
                panic!("{context}: a malformed child line {line:?}")
            }
            _ => {}
        }
    }
}

/// Runs a child until it has printed `kill_after` lines, kills it, and returns what it printed.
fn run_until_killed(file: &Path, seed: u64, kill_after: u64, context: &str) -> Printed {
    let env = [
        (ENV_CHILD_LOG, file.display().to_string()),
        (ENV_CHILD_SEED, seed.to_string()),
    ];
    let mut writer = Writer::spawn(CHILD_TEST, &env, context);
    let mut printed = Printed::default();
    for _ in 0..kill_after {
        let line = writer.next_line(context);
        printed.record(&line, context);
    }
    // No destructor runs in the killed child, so no checkpoint on close.
    for line in writer.kill(context) {
        printed.record(&line, context);
    }
    printed
}

/// Reopens the log and checks it against what the child printed; returns its last index.
async fn check_log(file: &Path, printed: &Printed, context: &str) -> u64 {
    let mut log = RedbLogStore::open(file)
        .unwrap_or_else(|error| panic!("{context}: reopening after the kill failed: {error}"));
    let state = log.get_log_state().await.expect("log state");
    let purged = state.last_purged_log_id.map(|log_id| log_id.index);
    assert!(
        purged >= printed.purged,
        "{context}: purged through {purged:?}, but the child had purged through {:?}",
        printed.purged
    );
    let stored = log.try_get_log_entries(..).await.expect("read the log");
    // The child's log starts at index 1, as a follower's does before any purge.
    let first = purged.map_or(1, |index| index + 1);
    for (offset, stored_entry) in stored.iter().enumerate() {
        let index = first + offset as u64;
        assert_eq!(
            stored_entry.log_id.index, index,
            "{context}: the log has a gap or disorder at index {index}"
        );
    }
    let stored_last = state.last_log_id.map_or(0, |log_id| log_id.index);
    let by_index: BTreeMap<u64, &LogEntry> = stored
        .iter()
        .map(|stored_entry| (stored_entry.log_id.index, stored_entry))
        .collect();
    for (index, term) in printed.terms.range(first..) {
        let stored_entry = by_index.get(index).unwrap_or_else(|| {
            panic!(
                "{context}: entry {index} was reported flushed but the log ends at {stored_last}"
            )
        });
        assert!(
            **stored_entry == entry(*term, *index),
            "{context}: entry {index} of term {term} was reported flushed, and the log holds \
             another: {:?}",
            stored_entry.log_id
        );
    }
    // The recovered log is a working log: the next append lands and survives a clean reopen.
    let next = entry(1_000, stored_last + 1);
    log.blocking_append([next.clone()])
        .await
        .unwrap_or_else(|error| panic!("{context}: appending after recovery: {error}"));
    drop(log);
    let mut reopened = RedbLogStore::open(file).expect("reopen");
    let again = reopened
        .try_get_log_entries(stored_last + 1..stored_last + 2)
        .await
        .expect("read");
    assert_eq!(again, vec![next], "{context}: the append after recovery");
    stored_last
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// The entry of `term` at `index`: a create whose data size and bytes follow from both, so that
/// the parent can tell an entry of another term or a damaged one.
fn entry(term: u64, index: u64) -> LogEntry {
    let mut rng = SplitMix64::new(term.wrapping_mul(1_000_003) ^ index);
    let data = vec![(term as u8) ^ (index as u8); rng.below(ENTRY_DATA_BYTES_MAX) as usize];
    let kind = TxnKind::Write {
        caller: Caller::anonymous(0),
        op: WriteOp::Create {
            path: format!("/n{index}"),
            data: Some(data),
            acl: Acl::open().to_vec(),
            mode: CreateMode::Persistent,
        },
    };
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::new(index as i64, kind)),
    }
}
