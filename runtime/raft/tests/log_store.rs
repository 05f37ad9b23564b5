//! The redb log store: what survives a reopen, and the bounds on reads.

mod common;

use common::{command_entry, create, log_id};
use openraft::RaftLogReader;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use polis_raft::{LOG_READ_BYTES_MAX, LogEntry, RAFT_LOG_FILE_NAME, RedbLogStore, Vote};

fn entries(first: u64, last: u64) -> Vec<LogEntry> {
    (first..=last)
        .map(|index| command_entry(2, index, create(&format!("/n{index}"), b"x")))
        .collect()
}

#[tokio::test]
async fn vote_committed_entries_and_purge_point_survive_reopen() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join(RAFT_LOG_FILE_NAME);
    {
        let mut log = RedbLogStore::open(&file).expect("open");
        log.save_vote(&Vote::new(2, 1))
            .await
            .expect("save the vote");
        log.blocking_append(entries(1, 10)).await.expect("append");
        log.save_committed(Some(log_id(2, 7)))
            .await
            .expect("save committed");
        log.purge(log_id(2, 3)).await.expect("purge");
        log.truncate(log_id(2, 9)).await.expect("truncate");
    }

    let mut log = RedbLogStore::open(&file).expect("reopen");
    assert_eq!(log.read_vote().await.expect("vote"), Some(Vote::new(2, 1)));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(2, 7))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 3)));
    assert_eq!(state.last_log_id, Some(log_id(2, 8)));
    let stored = log.try_get_log_entries(0..100).await.expect("entries");
    assert_eq!(stored, entries(4, 8));
}

#[tokio::test]
async fn purging_everything_keeps_the_purge_point_as_last_log_id() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join(RAFT_LOG_FILE_NAME);
    {
        let mut log = RedbLogStore::open(&file).expect("open");
        log.blocking_append(entries(1, 5)).await.expect("append");
        log.purge(log_id(2, 5)).await.expect("purge all");
        // An older purge point is ignored: purging never moves back.
        log.purge(log_id(2, 2)).await.expect("purge older");
    }
    let mut log = RedbLogStore::open(&file).expect("reopen");
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 5)));
    assert_eq!(state.last_log_id, Some(log_id(2, 5)));
    assert!(
        log.try_get_log_entries(..)
            .await
            .expect("entries")
            .is_empty()
    );

    log.blocking_append(entries(6, 7))
        .await
        .expect("append after");
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_log_id, Some(log_id(2, 7)));
}

#[tokio::test]
async fn a_reader_sees_appended_entries_once_append_returns() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open");
    let mut reader = log.get_log_reader().await;
    log.blocking_append(entries(1, 3)).await.expect("append");
    assert_eq!(
        reader.try_get_log_entries(1..4).await.expect("read"),
        entries(1, 3)
    );
}

#[tokio::test]
async fn limited_reads_stop_at_the_byte_bound() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open");
    let data = vec![7u8; 1024 * 1024 - 1];
    let count = (LOG_READ_BYTES_MAX / data.len()) as u64 + 4;
    let big: Vec<LogEntry> = (1..=count)
        .map(|index| command_entry(1, index, create(&format!("/big{index}"), &data)))
        .collect();
    log.blocking_append(big.clone()).await.expect("append");

    let limited = log
        .limited_get_log_entries(1, count + 1)
        .await
        .expect("limited read");
    assert!(!limited.is_empty());
    assert!((limited.len() as u64) < count, "the byte bound applies");
    assert_eq!(limited[..], big[..limited.len()]);

    // However the bound falls, a non-empty range returns at least one entry, so replication always
    // progresses.
    let one = log
        .limited_get_log_entries(count, count + 1)
        .await
        .expect("one entry");
    assert_eq!(one.len(), 1);

    let all = log.try_get_log_entries(1..=count).await.expect("full read");
    assert_eq!(all.len() as u64, count);
}

/// Reads of recent entries are served from memory (`RecentEntries`); whatever the log went
/// through, what a reader sees must equal what the file holds, which a fresh open reads.
#[tokio::test]
async fn reads_of_recent_entries_agree_with_the_file_after_truncation_and_purge() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join(RAFT_LOG_FILE_NAME);
    let mut log = RedbLogStore::open(&file).expect("open");
    let mut reader = log.get_log_reader().await;
    log.blocking_append(entries(1, 10)).await.expect("append");
    // A new leader overwrites the tail from index 8 in term 3.
    log.truncate(log_id(2, 8)).await.expect("truncate");
    let rewritten: Vec<LogEntry> = (8..=9)
        .map(|index| command_entry(3, index, create(&format!("/m{index}"), b"y")))
        .collect();
    log.blocking_append(rewritten.clone())
        .await
        .expect("append the new tail");
    log.purge(log_id(2, 3)).await.expect("purge");

    let mut expected = entries(4, 7);
    expected.extend(rewritten);
    assert_eq!(
        reader.try_get_log_entries(4..10).await.expect("read"),
        expected
    );
    assert_eq!(
        reader
            .limited_get_log_entries(4, 10)
            .await
            .expect("limited read"),
        expected
    );
    assert!(
        reader
            .try_get_log_entries(1..4)
            .await
            .expect("read")
            .is_empty(),
        "purged entries are gone from memory too"
    );
    drop((log, reader));
    let mut reopened = RedbLogStore::open(&file).expect("reopen");
    assert_eq!(
        reopened.try_get_log_entries(1..11).await.expect("read"),
        expected
    );
}
