//! The redb store passes the shared storage contract, and keeps its state across reopening.

use polis_store::contract::{apply_workload, test_limits, workload};
use polis_store::{CommitDurability, RedbStore, StoreError, TreeStore, store_contract_tests};

/// A store in a fresh temporary directory. The directory is removed when the closure returns while
/// the database file stays open: on Linux an unlinked file lives until its last handle closes, so
/// the test keeps a real file and leaves nothing behind.
fn fresh_store() -> RedbStore {
    let directory = tempfile::tempdir().expect("tempdir");
    RedbStore::open(
        directory.path().join("tree.redb"),
        CommitDurability::Immediate,
    )
    .expect("open")
}

fn fresh_deferred_store() -> RedbStore {
    let directory = tempfile::tempdir().expect("tempdir");
    RedbStore::open(
        directory.path().join("tree.redb"),
        CommitDurability::Deferred,
    )
    .expect("open")
}

mod immediate {
    use super::*;
    store_contract_tests!(fresh_store);
}

mod deferred {
    use super::*;
    store_contract_tests!(fresh_deferred_store);
}

#[test]
fn state_survives_closing_and_reopening_the_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("tree.redb");
    let tree = {
        let mut store = RedbStore::open(&file, CommitDurability::Immediate).expect("open");
        apply_workload(&mut store, 1, 300, 10)
    };
    let store = RedbStore::open(&file, CommitDurability::Immediate).expect("reopen");
    assert_eq!(store.load(test_limits()).expect("load"), tree);
    assert_eq!(store.last_zxid().expect("last_zxid"), 300);
}

#[test]
fn deferred_commits_are_durable_after_sync_and_reopen() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("tree.redb");
    let tree = {
        let mut store = RedbStore::open(&file, CommitDurability::Deferred).expect("open");
        let tree = apply_workload(&mut store, 1, 120, 4);
        store.sync().expect("sync");
        tree
    };
    let store = RedbStore::open(&file, CommitDurability::Deferred).expect("reopen");
    assert_eq!(store.load(test_limits()).expect("load"), tree);
}

#[test]
fn batches_continue_after_reopening() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("tree.redb");
    {
        let mut store = RedbStore::open(&file, CommitDurability::Immediate).expect("open");
        apply_workload(&mut store, 1, 50, 10);
    }
    let mut store = RedbStore::open(&file, CommitDurability::Immediate).expect("reopen");
    let mut tree = store.load(test_limits()).expect("load");
    for txn in workload(51, 50) {
        let _ = tree.apply(&txn);
    }
    store.commit(&tree.take_changes()).expect("commit");
    drop(store);
    let store = RedbStore::open(&file, CommitDurability::Immediate).expect("reopen");
    assert_eq!(store.load(test_limits()).expect("load"), tree);
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("garbage.redb");
    std::fs::write(&file, b"this is not a redb database, just some bytes").expect("write");
    let error = RedbStore::open(&file, CommitDurability::Immediate).expect_err("refused");
    assert!(matches!(error, StoreError::Redb(_)), "{error}");
}
