//! The shared test suite of the [`TreeStore`] contract.
//!
//! Every backend runs every check here (as openraft's storage suite does for its stores):
//! [`store_contract_tests!`](crate::store_contract_tests) expands to one `#[test]` per check for a
//! backend given a constructor of fresh, empty stores. Each check panics with a message naming the
//! broken promise.

use polis_tree::{
    Acl, Caller, CloseReason, CreateMode, DataTree, Limits, Txn, TxnKind, WriteOp, Zxid,
};

use crate::TreeStore;

/// Expands to one test per contract check, for stores made by `$new_store` (an expression that
/// evaluates to a fresh, empty store each time it is called).
#[macro_export]
macro_rules! store_contract_tests {
    ($new_store:expr) => {
        #[test]
        fn contract_fresh_store_loads_genesis() {
            $crate::contract::fresh_store_loads_genesis(&mut $new_store);
        }
        #[test]
        fn contract_committed_batches_load_back_equal() {
            $crate::contract::committed_batches_load_back_equal(&mut $new_store);
        }
        #[test]
        fn contract_older_change_set_is_refused() {
            $crate::contract::older_change_set_is_refused(&mut $new_store);
        }
        #[test]
        fn contract_children_index_matches_tree() {
            $crate::contract::children_index_matches_tree(&mut $new_store);
        }
        #[test]
        fn contract_history_window_is_stored_and_trimmed() {
            $crate::contract::history_window_is_stored_and_trimmed(&mut $new_store);
        }
        #[test]
        fn contract_exported_snapshot_equals_tree_snapshot() {
            $crate::contract::exported_snapshot_equals_tree_snapshot(&mut $new_store);
        }
        #[test]
        fn contract_a_view_keeps_its_state_while_later_batches_commit() {
            $crate::contract::a_view_keeps_its_state_while_later_batches_commit(&mut $new_store);
        }
        #[test]
        fn contract_replace_swaps_the_whole_state() {
            $crate::contract::replace_swaps_the_whole_state(&mut $new_store);
        }
        #[test]
        fn contract_corrupt_snapshot_import_changes_nothing() {
            $crate::contract::corrupt_snapshot_import_changes_nothing(&mut $new_store);
        }
    };
}

/// Small limits so that the history window fills in a few operations.
pub fn test_limits() -> Limits {
    Limits {
        history_events_max: 16,
        ..Limits::default()
    }
}

/// Builds a tree through a varied workload and commits it to `store` in batches of `batch_len`
/// transactions. Returns the tree.
pub fn apply_workload(
    store: &mut dyn TreeStore,
    first_zxid: Zxid,
    transactions: usize,
    batch_len: usize,
) -> DataTree {
    let mut tree = store.load(test_limits()).expect("load");
    let txns = workload(first_zxid, transactions);
    for batch in txns.chunks(batch_len) {
        for txn in batch {
            let _ = tree.apply(txn);
        }
        store.commit(&tree.take_changes()).expect("commit");
    }
    tree
}

/// A deterministic mixed workload: sessions, every create mode, sets, deletes, multis, writes
/// applied once (one of them proposed twice), closes.
pub fn workload(first_zxid: Zxid, transactions: usize) -> Vec<Txn> {
    let mut txns = Vec::with_capacity(transactions);
    let mut session_id = 0;
    for step in 0..transactions {
        let zxid = first_zxid + step as Zxid;
        let time_ms = 1_000_000 + zxid * 10;
        let caller = Caller::anonymous(session_id);
        let name = format!("/n{}", step % 7);
        let kind = match step % 12 {
            0 => TxnKind::OpenSession {
                timeout_ms: 10_000,
                password: [step as u8; 16],
            },
            1 => TxnKind::once(zxid as u64, create(caller, &name, CreateMode::Persistent)),
            2 => create(
                caller,
                &format!("{name}/e"),
                CreateMode::EphemeralSequential,
            ),
            3 => create(caller, &format!("{name}/c"), CreateMode::Container),
            4 => create(
                caller,
                &format!("{name}/t"),
                CreateMode::PersistentWithTtl { ttl_ms: 5 },
            ),
            5 => TxnKind::Write {
                caller,
                op: WriteOp::SetData {
                    path: name.clone(),
                    // Every third write clears the data to null, which a store keeps apart
                    // from empty data.
                    data: (!step.is_multiple_of(3)).then(|| vec![step as u8; step % 300]),
                    version: -1,
                },
            },
            6 => TxnKind::Multi {
                caller,
                ops: vec![
                    WriteOp::Create {
                        path: format!("{name}/m"),
                        data: Some(b"multi".to_vec()),
                        acl: Acl::open().to_vec(),
                        mode: CreateMode::Persistent,
                    },
                    WriteOp::Check {
                        path: name.clone(),
                        version: -1,
                    },
                ],
            },
            7 => TxnKind::Write {
                caller,
                op: WriteOp::Delete {
                    path: format!("{name}/m"),
                    version: -1,
                },
            },
            // Step 1 of this round proposed again: answered from the session's record.
            8 => TxnKind::once(
                zxid as u64 - 7,
                create(
                    caller,
                    &format!("/n{}", (step - 7) % 7),
                    CreateMode::Persistent,
                ),
            ),
            9 => TxnKind::RemoveExpiredNode {
                path: format!("{name}/t"),
            },
            10 => TxnKind::CloseSession {
                session_id,
                reason: CloseReason::Expired,
            },
            _ => TxnKind::Noop,
        };
        if let TxnKind::OpenSession { .. } = kind {
            session_id = zxid;
        }
        txns.push(Txn {
            zxid,
            time_ms,
            kind,
        });
    }
    txns
}

fn create(caller: Caller, path: &str, mode: CreateMode) -> TxnKind {
    TxnKind::Write {
        caller,
        op: WriteOp::Create {
            path: path.to_string(),
            data: Some(path.as_bytes().to_vec()),
            acl: Acl::open().to_vec(),
            mode,
        },
    }
}

pub fn fresh_store_loads_genesis<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let store = new_store();
    assert!(
        store.load_state().expect("load_state").is_none(),
        "a fresh store holds no state"
    );
    assert_eq!(
        store.last_zxid().expect("last_zxid"),
        0,
        "a fresh store is at zxid 0"
    );
    let tree = store.load(test_limits()).expect("load");
    assert_eq!(
        tree,
        DataTree::new(test_limits()),
        "a fresh store loads the genesis tree"
    );
}

pub fn committed_batches_load_back_equal<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    for batch_len in [1, 7, 100] {
        let mut store = new_store();
        let tree = apply_workload(&mut store, 1, 200, batch_len);
        assert!(tree.node_count() > 10, "the workload builds a real tree");
        let loaded = store.load(test_limits()).expect("load");
        assert_eq!(
            loaded, tree,
            "load after batches of {batch_len} equals the tree"
        );
        assert_eq!(store.last_zxid().expect("last_zxid"), tree.last_zxid());
    }
}

pub fn older_change_set_is_refused<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    let tree = apply_workload(&mut store, 1, 30, 10);
    let mut stale = DataTree::new(test_limits());
    let _ = stale.apply(&workload(1, 1)[0]);
    assert!(
        store.commit(&stale.take_changes()).is_err(),
        "a change set older than the stored state is refused"
    );
    assert_eq!(
        store.load(test_limits()).expect("load"),
        tree,
        "a refused batch changes nothing"
    );
}

pub fn children_index_matches_tree<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    let tree = apply_workload(&mut store, 1, 150, 9);
    let mut paths = vec!["/".to_string()];
    while let Some(node_path) = paths.pop() {
        let (_, children) = tree.node(&node_path).expect("listed node exists");
        let expected: Vec<String> = children.iter().map(|name| name.to_string()).collect();
        assert_eq!(
            store.children(&node_path).expect("children"),
            expected,
            "children of {node_path}"
        );
        paths.extend(
            children
                .iter()
                .map(|name| polis_tree::path::join(&node_path, name)),
        );
    }
    assert!(store.children("/missing").expect("children").is_empty());
}

pub fn history_window_is_stored_and_trimmed<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    let tree = apply_workload(&mut store, 1, 120, 5);
    let state = store.load_state().expect("load_state").expect("written");
    assert!(
        state.history.len() <= test_limits().history_events_max,
        "history is bounded"
    );
    assert!(
        tree.history().compacted_through() > 0,
        "the workload overflows the window"
    );
    assert_eq!(
        state.history_compacted_through,
        tree.history().compacted_through()
    );
    let stored: Vec<_> = state.history.iter().collect();
    let live: Vec<_> = tree.history().entries().collect();
    assert_eq!(stored, live, "the stored window equals the tree's");
}

pub fn exported_snapshot_equals_tree_snapshot<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    let mut genesis_bytes = Vec::new();
    store.export_snapshot(&mut genesis_bytes).expect("export");
    // A store that never committed knows no limits of a cluster: it exports the genesis of the
    // defaults.
    let expected = DataTree::new(Limits::default())
        .write_snapshot(Vec::new())
        .expect("write");
    assert_eq!(
        genesis_bytes, expected,
        "a fresh store exports the genesis snapshot"
    );
    let tree = apply_workload(&mut store, 1, 200, 13);
    let mut exported = Vec::new();
    store.export_snapshot(&mut exported).expect("export");
    let expected = tree.write_snapshot(Vec::new()).expect("write");
    assert_eq!(
        exported, expected,
        "the store's snapshot is the tree's, byte for byte"
    );
}

pub fn a_view_keeps_its_state_while_later_batches_commit<S: TreeStore>(
    new_store: &mut impl FnMut() -> S,
) {
    let mut store = new_store();
    let genesis_view = store.view().expect("view of a fresh store");
    let tree = apply_workload(&mut store, 1, 150, 11);
    let view = store.view().expect("view");
    let later = apply_workload(&mut store, 151, 90, 7);
    assert!(later.last_zxid() > tree.last_zxid(), "the workload went on");

    assert_eq!(genesis_view.last_zxid().expect("zxid"), 0);
    let mut genesis_bytes = Vec::new();
    genesis_view
        .export_snapshot(&mut genesis_bytes)
        .expect("export");
    let genesis = DataTree::new(Limits::default())
        .write_snapshot(Vec::new())
        .expect("write");
    assert_eq!(
        genesis_bytes, genesis,
        "a view of a fresh store stays genesis"
    );

    assert_eq!(view.last_zxid().expect("zxid"), tree.last_zxid());
    let mut exported = Vec::new();
    view.export_snapshot(&mut exported).expect("export");
    let expected = tree.write_snapshot(Vec::new()).expect("write");
    assert_eq!(
        exported, expected,
        "a view exports the state it was taken at, whatever was committed after it"
    );
    let mut current = Vec::new();
    store.export_snapshot(&mut current).expect("export");
    let expected = later.write_snapshot(Vec::new()).expect("write");
    assert_eq!(current, expected, "the store itself moved on");
}

pub fn replace_swaps_the_whole_state<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    apply_workload(&mut store, 1, 100, 10);
    let mut other_store = new_store();
    let other = apply_workload(&mut other_store, 1, 60, 60);
    let mut snapshot = Vec::new();
    other_store.export_snapshot(&mut snapshot).expect("export");
    let installed = store
        .import_snapshot(&mut snapshot.as_slice(), test_limits())
        .expect("import");
    assert_eq!(installed, other, "import returns the snapshot's tree");
    assert_eq!(
        store.load(test_limits()).expect("load"),
        other,
        "nothing of the old state remains"
    );
    assert_eq!(store.last_zxid().expect("last_zxid"), other.last_zxid());
    let mut reexported = Vec::new();
    store.export_snapshot(&mut reexported).expect("export");
    assert_eq!(
        reexported, snapshot,
        "an installed snapshot exports the same bytes"
    );
    // Batches continue on top of the installed state.
    let mut tree = installed;
    for txn in workload(other.last_zxid() + 1, 40) {
        let _ = tree.apply(&txn);
    }
    store.commit(&tree.take_changes()).expect("commit");
    assert_eq!(store.load(test_limits()).expect("load"), tree);
}

pub fn corrupt_snapshot_import_changes_nothing<S: TreeStore>(new_store: &mut impl FnMut() -> S) {
    let mut store = new_store();
    let tree = apply_workload(&mut store, 1, 80, 8);
    let mut snapshot = Vec::new();
    store.export_snapshot(&mut snapshot).expect("export");
    let middle = snapshot.len() / 2;
    snapshot[middle] ^= 0x5a;
    assert!(
        store
            .import_snapshot(&mut snapshot.as_slice(), test_limits())
            .is_err(),
        "a corrupted snapshot is refused"
    );
    let truncated = &snapshot[..middle];
    assert!(
        store
            .import_snapshot(&mut &truncated[..], test_limits())
            .is_err(),
        "a truncated snapshot is refused"
    );
    assert_eq!(
        store.load(test_limits()).expect("load"),
        tree,
        "a refused snapshot changes nothing"
    );
}
