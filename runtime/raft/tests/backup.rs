//! Backup and restore: a stopped node's tree, restored as the state of a new cluster.

mod common;

use std::collections::BTreeMap;

use common::{log_id, reference_tree, snapshot_bytes, varied_log};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use polis_raft::{PeerNode, RAFT_LOG_FILE_NAME, RedbLogStore, TreeStateMachine, backup, restore};
use polis_tree::Limits;

fn members(ids: &[u64]) -> BTreeMap<u64, PeerNode> {
    ids.iter()
        .map(|id| {
            (
                *id,
                PeerNode::new(format!("node{id}:7182"), format!("node{id}:7181")),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_backup_restores_as_the_applied_state_of_a_new_clusters_nodes() {
    let old = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(30);
    {
        let mut log = RedbLogStore::open(old.path().join(RAFT_LOG_FILE_NAME)).expect("open");
        log.blocking_append(entries.clone()).await.expect("append");
        let mut state_machine =
            TreeStateMachine::open_redb(old.path(), Limits::default(), &log, None).expect("open");
        state_machine.apply(entries.clone()).await.expect("apply");
    }
    let (reference, _) = reference_tree(&entries);

    let taken = backup(old.path()).await.expect("backup");
    assert_eq!(taken.zxid, reference.last_zxid());

    let new = tempfile::tempdir().expect("a temporary directory");
    let started = restore(new.path(), &taken.data, members(&[4, 5, 6]))
        .await
        .expect("restore");
    assert_eq!(
        started.index,
        log_id(1, 30).index,
        "the log goes on from the backup"
    );

    let mut log = RedbLogStore::open(new.path().join(RAFT_LOG_FILE_NAME)).expect("reopen");
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(started));
    assert_eq!(state.last_log_id, Some(started));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(started)
    );
    let mut state_machine =
        TreeStateMachine::open_redb(new.path(), Limits::default(), &log, None).expect("open");
    let (applied, membership) = state_machine.applied_state().await.expect("state");
    assert_eq!(applied, Some(started));
    assert_eq!(
        membership.voter_ids().collect::<Vec<_>>(),
        vec![4, 5, 6],
        "the new cluster's voters"
    );
    assert_eq!(
        snapshot_bytes(&*state_machine.reader().read().await),
        snapshot_bytes(&reference),
        "the restored tree is the backed-up one"
    );
}

#[tokio::test]
async fn a_restore_refuses_a_directory_with_data_and_a_damaged_backup() {
    let old = tempfile::tempdir().expect("a temporary directory");
    {
        let mut log = RedbLogStore::open(old.path().join(RAFT_LOG_FILE_NAME)).expect("open");
        log.blocking_append(varied_log(3)).await.expect("append");
    }
    let error = restore(old.path(), b"", members(&[1]))
        .await
        .expect_err("a node's directory");
    assert!(error.to_string().contains("already holds"), "{error}");

    let empty = tempfile::tempdir().expect("a temporary directory");
    let taken = {
        let source = tempfile::tempdir().expect("a temporary directory");
        let mut log = RedbLogStore::open(source.path().join(RAFT_LOG_FILE_NAME)).expect("open");
        let entries = varied_log(5);
        log.blocking_append(entries.clone()).await.expect("append");
        let mut state_machine =
            TreeStateMachine::open_redb(source.path(), Limits::default(), &log, None)
                .expect("open");
        state_machine.apply(entries).await.expect("apply");
        drop((state_machine, log));
        backup(source.path()).await.expect("backup")
    };
    let mut damaged = taken.data.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xFF;
    assert!(
        restore(empty.path(), &damaged, members(&[1]))
            .await
            .is_err(),
        "a damaged backup is refused"
    );
    assert!(
        !empty.path().join(RAFT_LOG_FILE_NAME).exists(),
        "nothing is written from a damaged backup"
    );
}
