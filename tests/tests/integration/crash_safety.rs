//! Crash safety of the redb store: a writer process killed with SIGKILL at a random moment leaves
//! the file at some whole committed batch, never a torn one, and never older than what it had
//! acknowledged as durable.
//!
//! Each round re-executes this test binary to run [`crash_writer_child_commits_batches_until_killed`]
//! in a child process. The child commits the batches of a [`BatchWorkload`] one after the other
//! and prints `committed <batch> <last zxid>` after each commit (and `synced <batch> <last zxid>`
//! after each `sync` in deferred mode). The parent reads those lines, kills the child with a real
//! SIGKILL after a randomly chosen number of commits, reopens the file, and checks the stored tree
//! against the same workload replayed in memory.
//!
//! The kill points come from a seed printed at the start of each test; set `POLIS_CRASH_SEED` to
//! that value to replay a failure.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use polis_store::contract::test_limits;
use polis_store::{CommitDurability, RedbStore, TreeStore};
use polis_tests::{BatchWorkload, SplitMix64};
use polis_tree::{DataTree, Zxid};

/// The name of the child test, as libtest's `--exact` filter wants it: its path inside the
/// integration test binary.
const CHILD_TEST: &str = "crash_safety::crash_writer_child_commits_batches_until_killed";
/// Set only in the child: the redb file to write.
const ENV_CHILD_DB: &str = "POLIS_CRASH_CHILD_DB";
/// Set only in the child: the workload seed.
pub(crate) const ENV_CHILD_SEED: &str = "POLIS_CRASH_CHILD_SEED";
/// Set only in the child: 0 for immediate durability, otherwise deferred durability with a `sync`
/// after every batch whose number is a multiple of this.
const ENV_CHILD_SYNC_EVERY: &str = "POLIS_CRASH_CHILD_SYNC_EVERY";
/// Overrides the test's random seed, to replay a failure.
pub(crate) const ENV_SEED: &str = "POLIS_CRASH_SEED";

/// Rounds per test, each with its own kill point, workload and file.
pub(crate) const ROUNDS: u64 = 8;
/// How long the child may stay silent before the test gives up on it.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A writer that is never killed stops after this many batches rather than fill the disk.
const CHILD_BATCHES_MAX: u64 = 200_000;
const SIGKILL: i32 = 9;

#[test]
fn killed_writer_leaves_a_committed_prefix() {
    let seed = test_seed("killed_writer_leaves_a_committed_prefix");
    let mut rng = SplitMix64::new(seed);
    for round in 0..ROUNDS {
        let round_seed = rng.next_u64();
        let kill_after = rng.between(1, 120);
        let context = format!(
            "{ENV_SEED}={seed}, round {round}, workload seed {round_seed}, \
             immediate durability, kill after {kill_after} commits"
        );
        let outcome = crash_round(round_seed, kill_after, 0, &context);
        // Every acknowledged commit was durable: nothing it printed may be missing.
        assert!(
            outcome.stored_zxid >= outcome.last_committed_zxid,
            "{context}: the store is at zxid {} but the writer had acknowledged zxid {} as \
             committed with immediate durability",
            outcome.stored_zxid,
            outcome.last_committed_zxid
        );
        println!(
            "round {round}: killed after batch {} (zxid {}), recovered batch {} (zxid {})",
            outcome.last_committed_batch,
            outcome.last_committed_zxid,
            outcome.stored_batch,
            outcome.stored_zxid
        );
    }
}

#[test]
fn killed_deferred_writer_leaves_a_committed_prefix_covering_its_last_sync() {
    let seed = test_seed("killed_deferred_writer_leaves_a_committed_prefix_covering_its_last_sync");
    let mut rng = SplitMix64::new(seed);
    for round in 0..ROUNDS {
        let round_seed = rng.next_u64();
        let kill_after = rng.between(1, 300);
        let sync_every = rng.between(1, 10);
        let context = format!(
            "{ENV_SEED}={seed}, round {round}, workload seed {round_seed}, deferred durability \
             with a sync every {sync_every} batches, kill after {kill_after} commits"
        );
        let outcome = crash_round(round_seed, kill_after, sync_every, &context);
        // Commits since the last sync may be lost; synced ones may not.
        assert!(
            outcome.stored_zxid >= outcome.last_synced_zxid,
            "{context}: the store is at zxid {} but the writer had synced through zxid {}",
            outcome.stored_zxid,
            outcome.last_synced_zxid
        );
        println!(
            "round {round}: killed after batch {} (zxid {}, synced through zxid {}), \
             recovered batch {} (zxid {})",
            outcome.last_committed_batch,
            outcome.last_committed_zxid,
            outcome.last_synced_zxid,
            outcome.stored_batch,
            outcome.stored_zxid
        );
    }
}

/// The writer process. It does nothing unless a crash test started it.
#[test]
#[ignore = "the writer process of the crash tests, which start it themselves"]
fn crash_writer_child_commits_batches_until_killed() {
    let Ok(db) = std::env::var(ENV_CHILD_DB) else {
        return;
    };
    let seed: u64 = env_number(ENV_CHILD_SEED);
    let sync_every: u64 = env_number(ENV_CHILD_SYNC_EVERY);
    let durability = if sync_every == 0 {
        CommitDurability::Immediate
    } else {
        CommitDurability::Deferred
    };
    let mut store = RedbStore::open(&db, durability).expect("child: open the store");
    let mut tree = store.load(test_limits()).expect("child: load");
    let mut workload = BatchWorkload::new(seed);
    let mut out = std::io::stdout().lock();
    loop {
        let (batch, txns) = workload.next_batch();
        assert!(batch <= CHILD_BATCHES_MAX, "child: never killed");
        for txn in &txns {
            let _ = tree.apply(txn);
        }
        store
            .commit(&tree.take_changes())
            .expect("child: commit a batch");
        // A write error (the parent is gone and the pipe closed) ends the child.
        writeln!(out, "committed {batch} {}", tree.last_zxid()).expect("child: report");
        out.flush().expect("child: flush");
        if sync_every > 0 && batch.is_multiple_of(sync_every) {
            store.sync().expect("child: sync");
            writeln!(out, "synced {batch} {}", tree.last_zxid()).expect("child: report");
            out.flush().expect("child: flush");
        }
    }
}

/// What one round saw.
#[derive(Debug, Default)]
struct Outcome {
    /// The last batch the writer reported as committed, and its last zxid.
    last_committed_batch: u64,
    last_committed_zxid: Zxid,
    /// The last zxid the writer reported as synced (0 if none).
    last_synced_zxid: Zxid,
    /// The batch and zxid the reopened store holds.
    stored_batch: u64,
    stored_zxid: Zxid,
}

/// Runs one writer until it has reported `kill_after` commits, kills it, and checks that the file
/// holds a whole committed batch that still accepts new batches.
fn crash_round(seed: u64, kill_after: u64, sync_every: u64, context: &str) -> Outcome {
    let directory = tempfile::tempdir().expect("tempdir");
    let db = directory.path().join("tree.redb");
    let env = [
        (ENV_CHILD_DB, db.display().to_string()),
        (ENV_CHILD_SEED, seed.to_string()),
        (ENV_CHILD_SYNC_EVERY, sync_every.to_string()),
    ];
    let mut writer = Writer::spawn(CHILD_TEST, &env, context);
    let mut outcome = Outcome::default();
    while outcome.last_committed_batch < kill_after {
        let line = writer.next_line(context);
        record(&mut outcome, &line, context);
    }
    for line in writer.kill(context) {
        record(&mut outcome, &line, context);
    }
    let (stored_batch, stored_zxid) = check_committed_prefix(&db, seed, context);
    outcome.stored_batch = stored_batch;
    outcome.stored_zxid = stored_zxid;
    outcome
}

/// Applies one line of the writer's output to the outcome; other lines (libtest's) are ignored.
fn record(outcome: &mut Outcome, line: &str, context: &str) {
    let mut words = line.split_whitespace();
    let kind = words.next();
    if !matches!(kind, Some("committed" | "synced")) {
        return;
    }
    let mut number = || -> i64 {
        words
            .next()
            .and_then(|word| word.parse().ok())
            .unwrap_or_else(|| panic!("{context}: a malformed writer line {line:?}"))
    };
    let (batch, zxid) = (number() as u64, number());
    if kind == Some("committed") {
        assert!(
            batch > outcome.last_committed_batch && zxid > outcome.last_committed_zxid,
            "{context}: the writer reported {line:?} after batch {} at zxid {}",
            outcome.last_committed_batch,
            outcome.last_committed_zxid
        );
        outcome.last_committed_batch = batch;
        outcome.last_committed_zxid = zxid;
    } else {
        outcome.last_synced_zxid = zxid;
    }
}

/// Reopens the file after a crash and checks that it holds exactly the tree after some whole batch
/// of the workload, and that it takes the next batch. Returns that batch's number and last zxid.
fn check_committed_prefix(db: &Path, seed: u64, context: &str) -> (u64, Zxid) {
    let mut store = RedbStore::open(db, CommitDurability::Immediate)
        .unwrap_or_else(|error| panic!("{context}: reopening after the kill failed: {error}"));
    let stored_zxid = store.last_zxid().expect("last_zxid");
    let loaded = store
        .load(test_limits())
        .unwrap_or_else(|error| panic!("{context}: loading after the kill failed: {error}"));
    assert_eq!(
        loaded.last_zxid(),
        stored_zxid,
        "{context}: the loaded tree is at the stored zxid"
    );

    let mut workload = BatchWorkload::new(seed);
    let mut replayed = DataTree::new(test_limits());
    let mut batch = 0;
    while replayed.last_zxid() < stored_zxid {
        let (number, txns) = workload.next_batch();
        for txn in &txns {
            let _ = replayed.apply(txn);
        }
        batch = number;
    }
    assert_eq!(
        replayed.last_zxid(),
        stored_zxid,
        "{context}: the stored zxid {stored_zxid} falls inside batch {batch}, which ends at \
         zxid {}: a torn batch",
        replayed.last_zxid()
    );
    assert!(
        loaded == replayed,
        "{context}: the stored tree differs from batches 1..={batch} replayed in memory: {}",
        describe_difference(&loaded, &replayed)
    );

    // The recovered file is a working store: the next batch, applied to the loaded tree as a
    // restarted server would, commits and loads back.
    let mut restarted = loaded;
    let (next, txns) = workload.next_batch();
    for txn in &txns {
        let _ = restarted.apply(txn);
        let _ = replayed.apply(txn);
    }
    store
        .commit(&restarted.take_changes())
        .unwrap_or_else(|error| {
            panic!("{context}: committing batch {next} after recovery: {error}")
        });
    drop(store);
    let reopened = RedbStore::open(db, CommitDurability::Immediate).expect("reopen");
    assert!(
        reopened.load(test_limits()).expect("load") == replayed,
        "{context}: batch {next} committed after recovery does not load back"
    );
    (batch, stored_zxid)
}

/// The first difference between two trees, short enough for an assertion message.
fn describe_difference(stored: &DataTree, expected: &DataTree) -> String {
    let (stored, expected) = (stored.to_state(), expected.to_state());
    if stored.last_zxid != expected.last_zxid {
        return format!(
            "last zxid {} instead of {}",
            stored.last_zxid, expected.last_zxid
        );
    }
    let stored_paths: Vec<&str> = stored.nodes.iter().map(|(path, _)| path.as_str()).collect();
    let expected_paths: Vec<&str> = expected
        .nodes
        .iter()
        .map(|(path, _)| path.as_str())
        .collect();
    if stored_paths != expected_paths {
        let extra: Vec<_> = stored_paths
            .iter()
            .filter(|path| !expected_paths.contains(path))
            .take(5)
            .collect();
        let missing: Vec<_> = expected_paths
            .iter()
            .filter(|path| !stored_paths.contains(path))
            .take(5)
            .collect();
        return format!("unexpected nodes {extra:?}, missing nodes {missing:?}");
    }
    if let Some(((path, got), (_, want))) = stored
        .nodes
        .iter()
        .zip(&expected.nodes)
        .find(|(got, want)| got != want)
    {
        return format!("node {path}: stored {got:?}, expected {want:?}");
    }
    if stored.sessions != expected.sessions {
        let ids = |sessions: &[(i64, polis_tree::Session)]| -> Vec<i64> {
            sessions.iter().map(|(id, _)| *id).collect()
        };
        return format!(
            "sessions {:?}, expected {:?}",
            ids(&stored.sessions),
            ids(&expected.sessions)
        );
    }
    if stored.history != expected.history
        || stored.history_compacted_through != expected.history_compacted_through
    {
        return format!(
            "history of {} entries compacted through {}, expected {} through {}",
            stored.history.len(),
            stored.history_compacted_through,
            expected.history.len(),
            expected.history_compacted_through
        );
    }
    "the trees differ in a derived index".to_string()
}

/// A running writer process and the threads that read its output.
pub(crate) struct Writer {
    child: Child,
    lines: Receiver<String>,
    stdout: JoinHandle<()>,
    /// Taken once, when the child ended early and its stderr explains why.
    stderr: Option<JoinHandle<String>>,
}

impl Writer {
    /// Runs the ignored test `child_test` of this binary in a child process, with `env` set.
    pub(crate) fn spawn(child_test: &str, env: &[(&str, String)], context: &str) -> Writer {
        let test_binary = std::env::current_exe().expect("the test binary");
        let mut child = Command::new(test_binary)
            .args([
                "--exact",
                child_test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{context}: spawning the writer: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        let stdout = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Writer {
            child,
            lines,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// The child's next line. Fails the test if the child stays silent for [`SILENCE_LIMIT`]
    /// or ends before it is killed (with its stderr).
    pub(crate) fn next_line(&mut self, context: &str) -> String {
        match self.lines.recv_timeout(SILENCE_LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{context}: the child printed nothing for {} s",
                    SILENCE_LIMIT.as_secs()
                );
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("wait for the child");
                let stderr = self
                    .stderr
                    .take()
                    .and_then(|stderr| stderr.join().ok())
                    .unwrap_or_default();
                panic!("{context}: the child exited ({status}) before it was killed:\n{stderr}");
            }
        }
    }

    /// Kills the child with a real SIGKILL (`Child::kill` on Unix: no destructor, no flush, no
    /// clean close of its files) and returns the lines it printed that were not read yet: it
    /// may have gone on past the kill decision, and whatever it printed before it died, it had
    /// done.
    pub(crate) fn kill(mut self, context: &str) -> Vec<String> {
        self.child.kill().expect("kill the child");
        let status = self.child.wait().expect("wait for the child");
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "{context}: the child ended by SIGKILL, not {status}"
        );
        self.stdout.join().expect("the stdout reader");
        self.lines.try_iter().collect()
    }
}

/// The test's seed: `POLIS_CRASH_SEED` if set, otherwise fresh from the clock. Printed either way.
pub(crate) fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var(ENV_SEED) {
        Ok(text) => parse_seed(&text).unwrap_or_else(|| panic!("{ENV_SEED}={text:?} is no number")),
        Err(_) => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64;
            SplitMix64::new(nanos ^ u64::from(std::process::id())).next_u64()
        }
    };
    println!("{test}: seed {seed} (replay with {ENV_SEED}={seed})");
    seed
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

pub(crate) fn env_number(name: &str) -> u64 {
    let text = std::env::var(name).unwrap_or_else(|_| panic!("child: {name} is not set"));
    text.parse()
        .unwrap_or_else(|_| panic!("child: {name}={text:?} is no number"))
}
