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

/// Rewrites a store file as the build before null data left it: format 1, every node record in
/// the old encoding (null data, which format 1 could not hold, as empty).
fn downgrade_to_format_1(file: &std::path::Path) {
    const NODES: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("nodes");
    const META: redb::TableDefinition<&str, i64> = redb::TableDefinition::new("meta");
    let database = redb::Database::open(file).expect("open with redb");
    let transaction = database.begin_write().unwrap();
    {
        let mut nodes = transaction.open_table(NODES).unwrap();
        let mut old = Vec::new();
        for row in redb::ReadableTable::iter(&nodes).unwrap() {
            let (key, value) = row.unwrap();
            let record: polis_tree::NodeRecord = postcard::from_bytes(value.value()).unwrap();
            let bytes =
                postcard::to_allocvec(&polis_tree::NodeRecordWithoutNull::from(&record)).unwrap();
            old.push((key.value().to_string(), bytes));
        }
        for (key, bytes) in &old {
            nodes.insert(key.as_str(), bytes.as_slice()).unwrap();
        }
        let mut meta = transaction.open_table(META).unwrap();
        meta.insert("format_version", 1).unwrap();
    }
    transaction.commit().unwrap();
}

/// A store written by the build before null data was kept (format 1) is upgraded in place on
/// open: the same tree, every node's data as data, and the upgrade is kept.
#[test]
fn a_store_of_format_1_is_upgraded_in_place_with_its_data() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("tree.redb");
    let tree = {
        let mut store = RedbStore::open(&file, CommitDurability::Immediate).expect("open");
        apply_workload(&mut store, 1, 300, 10)
    };
    downgrade_to_format_1(&file);
    for _ in 0..2 {
        let store = RedbStore::open(&file, CommitDurability::Immediate).expect("upgrade");
        let upgraded = store.load(test_limits()).expect("load").to_state();
        let expected = tree.to_state();
        assert_eq!(upgraded.nodes.len(), expected.nodes.len());
        for ((path, record), (expected_path, expected_record)) in
            upgraded.nodes.iter().zip(&expected.nodes)
        {
            assert_eq!(path, expected_path);
            let mut expected_record = expected_record.clone();
            expected_record.data = Some(expected_record.data_or_empty().into());
            assert_eq!(*record, expected_record, "{path}");
        }
        assert_eq!(upgraded.sessions, expected.sessions);
        assert_eq!(upgraded.last_zxid, expected.last_zxid);
    }
}
