//! The tree state machine: restart and replay, snapshots, the apply observer, responses.

mod common;

use std::time::Duration;

use common::{
    CrashableStore, batch_entry, blank_entry, command_entry, create, log_id, membership,
    membership_entry, reference_tree, set_data, snapshot_bytes, varied_log,
};
use openraft::StorageHelper;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine};
use polis_raft::{
    APPLY_CHUNK_ENTRIES_MAX, AppliedEntry, ApplyNotice, ApplyObserver, LogEntry,
    RAFT_LOG_FILE_NAME, RaftStoreError, RedbLogStore, SNAPSHOT_FILE_NAME, StoredMembership,
    TreeStateMachine, ZXIDS_PER_ENTRY, polis_raft_config, zxid_of,
};
use polis_tree::{Caller, ErrorCode, Limits, OpResult, TxnKind, WriteOp};
use tokio::sync::mpsc;

/// How long a test waits for a notice the state machine must already have sent.
const NOTICE_WAIT: Duration = Duration::from_secs(10);

fn open_log(dir: &std::path::Path) -> RedbLogStore {
    RedbLogStore::open(dir.join(RAFT_LOG_FILE_NAME)).expect("open the log")
}

/// Receives notices until `count` applied entries arrived, failing after [`NOTICE_WAIT`].
async fn receive_applied(
    receiver: &mut mpsc::Receiver<ApplyNotice>,
    count: usize,
) -> Vec<AppliedEntry> {
    let mut received = Vec::new();
    while received.len() < count {
        let notice = tokio::time::timeout(NOTICE_WAIT, receiver.recv())
            .await
            .expect("a notice in time")
            .expect("the channel is open");
        match notice {
            ApplyNotice::Applied(batch) => received.extend(batch.entries),
            other => panic!("unexpected notice {other:?}"),
        }
    }
    received
}

#[tokio::test]
async fn restart_replays_the_log_after_the_trees_stored_zxid() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(40);
    {
        let mut log = open_log(dir.path());
        log.blocking_append(entries.clone()).await.expect("append");
        log.save_committed(Some(log_id(1, 40)))
            .await
            .expect("save committed");
        let mut state_machine =
            TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, None).expect("open");
        // The node stops after applying up to index 25 of the 40 committed entries.
        state_machine
            .apply(entries[..=25].to_vec())
            .await
            .expect("apply");
    }

    let mut log = open_log(dir.path());
    let (observer, mut notices) = ApplyObserver::channel(64);
    let mut state_machine =
        TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
            .expect("reopen");
    let (last_applied, stored_membership) = state_machine.applied_state().await.expect("state");
    assert_eq!(
        last_applied,
        Some(log_id(1, 25)),
        "positioned at the tree's zxid"
    );
    assert_eq!(
        stored_membership,
        StoredMembership::new(Some(log_id(0, 0)), membership(&[1, 2, 3]))
    );

    // Openraft's start-up re-applies the committed entries after the state machine's position.
    StorageHelper::new(&mut log, &mut state_machine)
        .get_initial_state()
        .await
        .expect("initial state");
    let replayed = receive_applied(&mut notices, 15).await;
    let replayed_zxids: Vec<i64> = replayed.iter().map(|entry| entry.applied.zxid).collect();
    let expected: Vec<i64> = (26..=40)
        .map(|index| zxid_of(index, 0).expect("a zxid"))
        .collect();
    assert_eq!(replayed_zxids, expected);

    let (reference, _) = reference_tree(&entries);
    let reader = state_machine.reader();
    assert_eq!(
        snapshot_bytes(&*reader.read().await),
        snapshot_bytes(&reference)
    );
    assert_eq!(reader.last_applied().await, Some(log_id(1, 40)));
}

#[tokio::test]
async fn restart_after_a_crash_replays_from_the_last_checkpoint() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(30);
    let store = CrashableStore::default();
    let mut log = open_log(dir.path());
    log.blocking_append(entries.clone()).await.expect("append");
    log.save_committed(Some(log_id(1, 30)))
        .await
        .expect("save committed");
    {
        let mut state_machine = TreeStateMachine::open(
            dir.path(),
            Box::new(store.clone()),
            Limits::default(),
            &log,
            None,
        )
        .expect("open");
        state_machine
            .apply(entries[..=12].to_vec())
            .await
            .expect("apply");
        // Building a snapshot takes a checkpoint: the tree store is synced at index 12.
        state_machine
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        state_machine
            .apply(entries[13..=20].to_vec())
            .await
            .expect("apply more");
    }

    // The crash loses the tree store's commits after the checkpoint.
    let recovered = store.after_crash();
    let mut state_machine = TreeStateMachine::open(
        dir.path(),
        Box::new(recovered),
        Limits::default(),
        &log,
        None,
    )
    .expect("reopen");
    assert_eq!(
        state_machine.applied_state().await.expect("state").0,
        Some(log_id(1, 12))
    );
    StorageHelper::new(&mut log, &mut state_machine)
        .get_initial_state()
        .await
        .expect("initial state");
    let (reference, _) = reference_tree(&entries);
    assert_eq!(
        snapshot_bytes(&*state_machine.reader().read().await),
        snapshot_bytes(&reference)
    );
}

#[tokio::test]
async fn a_snapshot_installs_on_another_node_as_an_identical_tree() {
    let leader_dir = tempfile::tempdir().expect("a temporary directory");
    let follower_dir = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(50);
    let leader_log = open_log(leader_dir.path());
    let mut leader =
        TreeStateMachine::open_redb(leader_dir.path(), Limits::default(), &leader_log, None)
            .expect("open the leader");
    leader.apply(entries.clone()).await.expect("apply");
    let built = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    assert_eq!(built.meta.last_log_id, Some(log_id(1, 50)));
    let built_bytes = built.snapshot.get_ref().clone();

    {
        let follower_log = open_log(follower_dir.path());
        let mut follower = TreeStateMachine::open_redb(
            follower_dir.path(),
            Limits::default(),
            &follower_log,
            None,
        )
        .expect("open the follower");
        let mut receiving = follower.begin_receiving_snapshot().await.expect("begin");
        receiving.get_mut().extend_from_slice(&built_bytes);
        follower
            .install_snapshot(&built.meta, receiving)
            .await
            .expect("install");

        assert_eq!(
            follower.applied_state().await.expect("state"),
            leader.applied_state().await.expect("state")
        );
        // The follower's own snapshot of the installed tree is byte-identical to the leader's.
        let rebuilt = follower
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("rebuild");
        assert_eq!(rebuilt.meta, built.meta);
        assert_eq!(rebuilt.snapshot.get_ref(), &built_bytes);
        assert_eq!(
            snapshot_bytes(&*follower.reader().read().await),
            snapshot_bytes(&*leader.reader().read().await)
        );
    }

    // The installed snapshot and tree survive a restart of the follower.
    let follower_log = open_log(follower_dir.path());
    let mut follower =
        TreeStateMachine::open_redb(follower_dir.path(), Limits::default(), &follower_log, None)
            .expect("reopen the follower");
    let current = follower
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a current snapshot");
    assert_eq!(current.meta, built.meta);
    assert_eq!(current.snapshot.get_ref(), &built_bytes);
    assert_eq!(
        follower.applied_state().await.expect("state").0,
        Some(log_id(1, 50))
    );

    // Both go on applying the same entries and stay identical.
    let more: Vec<LogEntry> = (51..=55)
        .map(|index| command_entry(1, index, create(&format!("/after-{index}"), b"y")))
        .collect();
    leader.apply(more.clone()).await.expect("leader applies");
    follower.apply(more).await.expect("follower applies");
    assert_eq!(
        snapshot_bytes(&*follower.reader().read().await),
        snapshot_bytes(&*leader.reader().read().await)
    );
}

#[tokio::test]
async fn open_restores_the_tree_from_a_snapshot_newer_than_the_tree_store() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(20);
    let log = open_log(dir.path());
    let expected = {
        let mut state_machine = TreeStateMachine::open(
            dir.path(),
            Box::new(CrashableStore::default()),
            Limits::default(),
            &log,
            None,
        )
        .expect("open");
        state_machine.apply(entries).await.expect("apply");
        state_machine
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        snapshot_bytes(&*state_machine.reader().read().await)
    };

    // A tree store that lost everything (as after a crash between writing an installed snapshot
    // and replacing the tree store): the snapshot file brings the tree back.
    let mut state_machine = TreeStateMachine::open(
        dir.path(),
        Box::new(CrashableStore::default()),
        Limits::default(),
        &log,
        None,
    )
    .expect("reopen");
    assert_eq!(
        snapshot_bytes(&*state_machine.reader().read().await),
        expected
    );
    assert_eq!(
        state_machine.applied_state().await.expect("state").0,
        Some(log_id(1, 20))
    );

    drop(state_machine);

    // Without the snapshot file, the checkpoint names more than the empty tree store holds.
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE_NAME)).expect("remove the snapshot");
    let refused = TreeStateMachine::open(
        dir.path(),
        Box::new(CrashableStore::default()),
        Limits::default(),
        &log,
        None,
    );
    assert!(
        matches!(refused, Err(RaftStoreError::Corrupt(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_observer_receives_every_applied_entry_in_order() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = open_log(dir.path());
    let (observer, mut notices) = ApplyObserver::channel(2);
    let mut state_machine =
        TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
            .expect("open");

    // More entries in one apply than one chunk holds, then a few small applies.
    let count = APPLY_CHUNK_ENTRIES_MAX as u64 * 2 + 100;
    let entries = varied_log(count);
    let consumer = tokio::spawn(async move { receive_applied(&mut notices, count as usize).await });
    let first_cut = count as usize - 10;
    let responses = state_machine
        .apply(entries[..first_cut].to_vec())
        .await
        .expect("apply");
    assert_eq!(responses.len(), first_cut);
    for entry in &entries[first_cut..] {
        state_machine
            .apply(vec![entry.clone()])
            .await
            .expect("apply one");
    }

    let received = consumer.await.expect("the consumer");
    let (_, reference) = reference_tree(&entries);
    assert_eq!(received.len(), reference.len());
    for (entry, expected) in received.iter().zip(&reference) {
        assert_eq!(entry.applied, *expected);
        assert_eq!(
            zxid_of(entry.log_id.index, 0).expect("a zxid"),
            expected.zxid
        );
    }
    assert!(
        received
            .iter()
            .any(|entry| !entry.applied.events.is_empty()),
        "the log fires watch events"
    );
}

#[tokio::test]
async fn a_stalled_observer_fails_apply_instead_of_blocking_raft() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = open_log(dir.path());
    let (sender, _never_read) = mpsc::channel(1);
    let observer = ApplyObserver::new(sender).with_stall_timeout(Duration::from_millis(50));
    let mut state_machine =
        TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
            .expect("open");
    let entries = varied_log(3);
    state_machine
        .apply(entries[..2].to_vec())
        .await
        .expect("the first batch fits the channel");
    let stalled = state_machine.apply(entries[2..].to_vec()).await;
    assert!(
        stalled.is_err(),
        "a full channel that nobody drains fails the node"
    );
}

#[tokio::test]
async fn responses_carry_results_and_error_codes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = open_log(dir.path());
    let mut state_machine =
        TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, None).expect("open");
    let failing_multi = TxnKind::Multi {
        caller: Caller::anonymous(0),
        ops: vec![
            WriteOp::Check {
                path: "/a".to_string(),
                version: -1,
            },
            WriteOp::Delete {
                path: "/missing".to_string(),
                version: -1,
            },
        ],
    };
    let responses: Vec<polis_raft::CommandResponse> = state_machine
        .apply(vec![
            command_entry(1, 1, create("/a", b"1")),
            command_entry(1, 2, create("/a", b"2")),
            command_entry(1, 3, failing_multi),
        ])
        .await
        .expect("apply")
        .into_iter()
        .map(|entry| {
            assert_eq!(entry.txns.len(), 1, "one response per transaction");
            entry.txns.into_iter().next().expect("a response")
        })
        .collect();

    assert_eq!(responses[0].zxid, zxid_of(1, 0).expect("a zxid"));
    assert!(matches!(
        &responses[0].result,
        Ok(OpResult::Created { path, .. }) if path == "/a"
    ));
    assert!(!responses[0].events.is_empty());

    let exists = responses[1].result.as_ref().expect_err("the node exists");
    assert_eq!(exists.error_code(), Some(ErrorCode::NodeExists));
    assert_eq!(exists.multi_index, None);

    let multi = responses[2].result.as_ref().expect_err("the multi fails");
    assert_eq!(multi.error_code(), Some(ErrorCode::NoNode));
    assert_eq!(multi.multi_index, Some(1));
    assert!(responses[2].events.is_empty());

    // The response survives the serialization openraft's serde feature asks of it.
    let encoded = postcard::to_allocvec(&responses).expect("encode");
    let decoded: Vec<polis_raft::CommandResponse> = postcard::from_bytes(&encoded).expect("decode");
    assert_eq!(decoded, responses);
}

#[tokio::test]
async fn an_entry_of_many_transactions_applies_each_at_its_own_zxid_and_replays_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let packed = vec![
        create("/a", b"1"),
        create("/a", b"again"),
        set_data("/a", b"2"),
        create("/b", b""),
    ];
    let entries = vec![
        membership_entry(0, 0, &[1, 2, 3]),
        batch_entry(1, 1, packed),
        blank_entry(1, 2),
        batch_entry(1, 3, vec![set_data("/b", b"x"), create("/c", b"")]),
    ];
    {
        let mut log = open_log(dir.path());
        log.blocking_append(entries.clone()).await.expect("append");
        log.save_committed(Some(log_id(1, 3)))
            .await
            .expect("save committed");
        let mut state_machine =
            TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, None).expect("open");
        let responses = state_machine
            .apply(entries[..2].to_vec())
            .await
            .expect("apply");
        assert_eq!(responses.len(), 2, "one response per entry");
        let packed_responses = &responses[1].txns;
        assert_eq!(packed_responses.len(), 4, "one response per transaction");
        let zxids: Vec<i64> = packed_responses.iter().map(|txn| txn.zxid).collect();
        let first = zxid_of(1, 0).expect("a zxid");
        assert_eq!(zxids, vec![first, first + 1, first + 2, first + 3]);
        // Transactions of one entry are independent: the failed second create undoes nothing.
        let exists = packed_responses[1].result.as_ref().expect_err("exists");
        assert_eq!(exists.error_code(), Some(ErrorCode::NodeExists));
        assert!(packed_responses[2].result.is_ok());
        assert!(packed_responses[3].result.is_ok());
        let tree = state_machine.reader();
        assert_eq!(tree.read().await.last_zxid(), first + 3);
        let stat = tree
            .read()
            .await
            .exists("/a")
            .expect("a valid path")
            .expect("/a exists");
        assert_eq!((stat.czxid, stat.mzxid), (first, first + 2));
    }

    // The tree's zxid lies inside entry 1's span: a restart positions the state machine at
    // entry 1 and replays entries 2 and 3.
    let mut log = open_log(dir.path());
    let (observer, mut notices) = ApplyObserver::channel(64);
    let mut state_machine =
        TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
            .expect("reopen");
    let (last_applied, _) = state_machine.applied_state().await.expect("state");
    assert_eq!(last_applied, Some(log_id(1, 1)));
    StorageHelper::new(&mut log, &mut state_machine)
        .get_initial_state()
        .await
        .expect("initial state");
    let replayed = receive_applied(&mut notices, 3).await;
    let replayed_zxids: Vec<i64> = replayed.iter().map(|entry| entry.applied.zxid).collect();
    let third = zxid_of(3, 0).expect("a zxid");
    assert_eq!(
        replayed_zxids,
        vec![zxid_of(2, 0).expect("a zxid"), third, third + 1]
    );
    assert!(third + 1 < zxid_of(4, 0).expect("a zxid"));
    assert_eq!(
        ZXIDS_PER_ENTRY,
        (zxid_of(4, 0).expect("a zxid") - third) as u64
    );

    let (reference, _) = reference_tree(&entries);
    assert_eq!(
        snapshot_bytes(&*state_machine.reader().read().await),
        snapshot_bytes(&reference)
    );
}

#[test]
fn the_raft_config_is_valid() {
    let config = polis_raft_config("polis-test").expect("a valid configuration");
    assert!(config.replication_lag_threshold > polis_raft::SNAPSHOT_INTERVAL_ENTRIES);
}

/// A tree store on a disk that stalls: its commits wait until the test opens the gate.
struct StalledStore {
    inner: polis_store::MemoryStore,
    gate: Gate,
}

/// The stall's gate; it opens when dropped, so that a failing test never waits for it forever.
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().expect("gate") = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let (open, opened) = &*self.0;
        let mut open = open.lock().expect("gate");
        while !*open {
            open = opened.wait(open).expect("gate");
        }
    }
}

impl polis_store::TreeStore for StalledStore {
    fn load_state(&self) -> Result<Option<polis_tree::TreeState>, polis_store::StoreError> {
        self.inner.load_state()
    }

    fn commit(&mut self, changes: &polis_tree::ChangeSet) -> Result<(), polis_store::StoreError> {
        self.gate.wait();
        self.inner.commit(changes)
    }

    fn sync(&mut self) -> Result<(), polis_store::StoreError> {
        self.gate.wait();
        self.inner.sync()
    }

    fn last_zxid(&self) -> Result<polis_tree::Zxid, polis_store::StoreError> {
        self.inner.last_zxid()
    }

    fn children(&self, path: &str) -> Result<Vec<String>, polis_store::StoreError> {
        self.inner.children(path)
    }

    fn view(&self) -> Result<Box<dyn polis_store::StoreView>, polis_store::StoreError> {
        self.inner.view()
    }

    fn replace(&mut self, tree: &polis_tree::DataTree) -> Result<(), polis_store::StoreError> {
        self.inner.replace(tree)
    }
}

/// Committing the tree store and syncing it for a checkpoint take milliseconds to hundreds of
/// them under load; the applies behind them, and the local reads that wait for the tree's lock,
/// must not wait with them (the store is not the point of durability: the Raft log is).
#[tokio::test]
async fn a_stalled_tree_store_holds_up_neither_applies_nor_reads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let interval = polis_raft::TREE_COMMIT_INTERVAL_ENTRIES;
    let entries = varied_log(interval + 8);
    let log = open_log(dir.path());
    let gate = Gate::default();
    let store = StalledStore {
        inner: polis_store::MemoryStore::default(),
        gate: gate.clone(),
    };
    let mut state_machine =
        TreeStateMachine::open(dir.path(), Box::new(store), Limits::default(), &log, None)
            .expect("open");
    let _opens_on_drop = GateOpener(gate.clone());
    // Past the commit interval, a tree commit is queued that the store cannot finish.
    tokio::time::timeout(NOTICE_WAIT, state_machine.apply(entries.clone()))
        .await
        .expect("the apply does not wait for the store")
        .expect("apply");
    let last = entries.last().expect("entries").log_id;
    let reader = state_machine.reader();
    let (reference, _) = reference_tree(&entries);
    let read = tokio::time::timeout(NOTICE_WAIT, reader.read())
        .await
        .expect("a read does not wait for the store");
    assert_eq!(snapshot_bytes(&read), snapshot_bytes(&reference));
    drop(read);
    assert_eq!(reader.last_applied().await, Some(last));
    gate.open();
}

/// Opens the gate when the test ends, however it ends, before the state machine (declared
/// earlier, dropped later) waits for its writer.
struct GateOpener(Gate);

impl Drop for GateOpener {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// A tree store whose views write their snapshot only once the test opens the gate, as a large
/// tree's snapshot takes long to write (0.42–0.47 s at a million znodes, measured). It tells the
/// test when a view has begun to write.
struct SlowSnapshotStore {
    inner: polis_store::MemoryStore,
    gate: Gate,
    writing: std::sync::mpsc::SyncSender<()>,
}

struct SlowView {
    inner: Box<dyn polis_store::StoreView>,
    gate: Gate,
    writing: std::sync::mpsc::SyncSender<()>,
}

impl polis_store::StoreView for SlowView {
    fn last_zxid(&self) -> Result<polis_tree::Zxid, polis_store::StoreError> {
        self.inner.last_zxid()
    }

    fn export_snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), polis_store::StoreError> {
        let _ = self.writing.try_send(());
        self.gate.wait();
        self.inner.export_snapshot(out)
    }
}

impl polis_store::TreeStore for SlowSnapshotStore {
    fn load_state(&self) -> Result<Option<polis_tree::TreeState>, polis_store::StoreError> {
        self.inner.load_state()
    }

    fn commit(&mut self, changes: &polis_tree::ChangeSet) -> Result<(), polis_store::StoreError> {
        self.inner.commit(changes)
    }

    fn sync(&mut self) -> Result<(), polis_store::StoreError> {
        self.inner.sync()
    }

    fn last_zxid(&self) -> Result<polis_tree::Zxid, polis_store::StoreError> {
        polis_store::TreeStore::last_zxid(&self.inner)
    }

    fn children(&self, path: &str) -> Result<Vec<String>, polis_store::StoreError> {
        self.inner.children(path)
    }

    fn view(&self) -> Result<Box<dyn polis_store::StoreView>, polis_store::StoreError> {
        Ok(Box::new(SlowView {
            inner: self.inner.view()?,
            gate: self.gate.clone(),
            writing: self.writing.clone(),
        }))
    }

    fn replace(&mut self, tree: &polis_tree::DataTree) -> Result<(), polis_store::StoreError> {
        self.inner.replace(tree)
    }
}

/// Openraft builds snapshots while it applies. A snapshot is written from a view of the tree
/// store taken at the last applied entry, without the state machine's lock, so applies and local
/// reads go on while it is written, and the snapshot still holds exactly the state it started at.
#[tokio::test]
async fn a_snapshot_being_written_holds_up_neither_applies_nor_reads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let entries = varied_log(60);
    let (first, rest) = entries.split_at(25);
    let log = open_log(dir.path());
    let gate = Gate::default();
    let (writing, began_writing) = std::sync::mpsc::sync_channel(1);
    let store = SlowSnapshotStore {
        inner: polis_store::MemoryStore::default(),
        gate: gate.clone(),
        writing,
    };
    let mut state_machine =
        TreeStateMachine::open(dir.path(), Box::new(store), Limits::default(), &log, None)
            .expect("open");
    let _opens_on_drop = GateOpener(gate.clone());
    state_machine.apply(first.to_vec()).await.expect("apply");
    let mut builder = state_machine.get_snapshot_builder().await;
    let building = tokio::spawn(async move { builder.build_snapshot().await });
    tokio::task::spawn_blocking(move || began_writing.recv_timeout(NOTICE_WAIT))
        .await
        .expect("join")
        .expect("the builder begins writing its snapshot");

    tokio::time::timeout(NOTICE_WAIT, state_machine.apply(rest.to_vec()))
        .await
        .expect("an apply does not wait for the snapshot being written")
        .expect("apply");
    let reader = state_machine.reader();
    let read = tokio::time::timeout(NOTICE_WAIT, reader.read())
        .await
        .expect("a read does not wait for the snapshot being written");
    assert_eq!(
        snapshot_bytes(&read),
        snapshot_bytes(&reference_tree(&entries).0)
    );
    drop(read);

    gate.open();
    let built = tokio::time::timeout(NOTICE_WAIT, building)
        .await
        .expect("the snapshot is built once written")
        .expect("join")
        .expect("build");
    let at_start = first.last().expect("entries").log_id;
    assert_eq!(built.meta.last_log_id, Some(at_start));
    assert_eq!(
        built.snapshot.get_ref(),
        &snapshot_bytes(&reference_tree(first).0),
        "the snapshot holds the state it was started at, not what was applied meanwhile"
    );
    let current = state_machine
        .get_current_snapshot()
        .await
        .expect("read the current snapshot")
        .expect("a current snapshot");
    assert_eq!(current.meta, built.meta);
    assert_eq!(current.snapshot.get_ref(), built.snapshot.get_ref());
    assert!(
        !dir.path()
            .join(format!("{SNAPSHOT_FILE_NAME}.built"))
            .exists(),
        "the staged file became the current one"
    );
}
