//! The znode tree as openraft's state machine.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftLogId};
use polis_store::{CommitDurability, RedbStore, TreeStore};
use polis_tree::{DataTree, Limits, Txn, TxnKind, Zxid};
use tokio::sync::RwLock;

use crate::applied_checkpoint::AppliedCheckpointFile;
use crate::cluster_limits::ClusterLimits;
use crate::command::{TXNS_PER_ENTRY_MAX, entry_index_of_zxid, zxid_of};
use crate::tree_store_writer::{PendingView, TreeStoreWriter};
use crate::{
    APPLIED_CHECKPOINT_FILE_NAME, AppliedBatch, AppliedCheckpoint, AppliedEntry, ApplyHook,
    ApplyNotice, ApplyObserver, Command, CommandResponse, EntryResponse, LogEntry, LogId,
    RaftStoreError, RedbLogStore, Snapshot, SnapshotFile, SnapshotMeta, StorageError,
    StoredMembership, TreeReader, TreeSnapshotBuilder, TypeConfig,
};

/// The most entries applied, committed to the tree store and reported to the observer as one
/// unit. Openraft hands over every newly committed entry at once, which after a partition heals
/// can be tens of thousands; chunking bounds the time the tree's write lock is held (local reads
/// wait for it) and the size of one [`AppliedBatch`].
pub const APPLY_CHUNK_ENTRIES_MAX: usize = 1024;

/// A checkpoint (tree store sync plus a durable [`AppliedCheckpoint`]) is taken at least every
/// this many applied entries. The tree store commits without fsync because the Raft log is the
/// point of durability; this bounds how much of the log a restart re-reads and re-applies.
pub const CHECKPOINT_INTERVAL_ENTRIES: u64 = 4096;

/// The tree's change set is committed to the tree store at least every this many applied
/// entries, not after every apply. The tree store is not the point of durability (the Raft log
/// is, and a restart re-applies the log after the tree's stored zxid), so committing less often
/// loses nothing; it saves a redb transaction per entry, a tenth of a follower's work under a
/// write load. A change set holds each touched key once, so it is no larger than the keys those
/// entries wrote, and no larger than one apply chunk's was before.
pub const TREE_COMMIT_INTERVAL_ENTRIES: u64 = 64;

/// An apply call of at most this many entries, when no tree commit or checkpoint falls due,
/// runs on the async worker instead of a blocking thread: it only changes memory (microseconds
/// for a packed entry), and the hand-off to a blocking thread and back cost more than that.
const APPLY_INLINE_ENTRIES_MAX: usize = 4;

/// How many log entries opening reads at a time while rolling the checkpoint forward (entries
/// carry up to 1 MiB of data each, so the whole gap at once could be gigabytes).
const ROLL_FORWARD_READ_ENTRIES: u64 = 256;

/// The file name of the tree store inside a node's data directory.
pub const TREE_FILE_NAME: &str = "tree.redb";

/// Everything the state machine guards with one lock: the tree, the writer of its store and the
/// Raft positions that describe them. One lock keeps them consistent: a snapshot builder that
/// asks for a view of the tree store under it gets exactly the state `last_applied` names, and
/// the writer receives change sets and checkpoints in apply order.
pub(crate) struct MachineState {
    pub(crate) tree: DataTree,
    /// Writes the tree store and the applied checkpoint on a thread of its own, in order.
    writer: TreeStoreWriter,
    pub(crate) dir: PathBuf,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
    entries_since_checkpoint: u64,
    entries_since_tree_commit: u64,
    /// The metadata of the current snapshot, whose bytes stay in its file
    /// ([`crate::SNAPSHOT_FILE_NAME`]): a snapshot is as large as the tree, and keeping a copy in
    /// memory (cloned again for every follower or learner it was sent to) doubled what a large
    /// tree costs a node.
    pub(crate) current_snapshot: Option<SnapshotMeta>,
    /// Told the tree's limits after every applied batch, installed snapshot and restart.
    cluster_limits: Arc<ClusterLimits>,
    /// Called under the write lock after each applied entry and installed snapshot.
    hook: Option<Arc<dyn ApplyHook>>,
}

impl MachineState {
    /// Queues a checkpoint: the tree store made durable, then a record of what it holds.
    pub(crate) fn checkpoint(&mut self) -> Result<(), RaftStoreError> {
        self.commit_tree()?;
        self.writer.checkpoint(AppliedCheckpoint {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        })?;
        self.entries_since_checkpoint = 0;
        Ok(())
    }

    /// Brings the tree store level with the tree and asks the writer for a view of it there: the
    /// state `last_applied` names, readable without this lock (see [`TreeSnapshotBuilder`]).
    pub(crate) fn view_of_applied(&mut self) -> Result<PendingView, RaftStoreError> {
        self.commit_tree()?;
        self.writer.view()
    }

    /// Queues the tree's change set since the last commit for the tree store (without fsync).
    fn commit_tree(&mut self) -> Result<(), RaftStoreError> {
        let changes = self.tree.take_changes();
        self.writer.commit(changes)?;
        self.entries_since_tree_commit = 0;
        Ok(())
    }

    /// Whether applying `entries` more entries would commit the tree or take a checkpoint, work
    /// that may wait for room in the writer's queue and so belongs on a blocking thread.
    fn store_work_due_after(&self, entries: usize) -> bool {
        let entries = entries as u64;
        self.entries_since_tree_commit.saturating_add(entries) >= TREE_COMMIT_INTERVAL_ENTRIES
            || self.entries_since_checkpoint.saturating_add(entries) >= CHECKPOINT_INTERVAL_ENTRIES
    }

    /// Applies one chunk, committing the tree's change set when [`TREE_COMMIT_INTERVAL_ENTRIES`]
    /// entries have been applied since the last commit.
    fn apply_chunk(
        &mut self,
        chunk: Vec<LogEntry>,
    ) -> Result<(Vec<EntryResponse>, AppliedBatch), RaftStoreError> {
        let entry_count = chunk.len();
        let mut responses = Vec::with_capacity(entry_count);
        let mut batch = AppliedBatch {
            entries: Vec::with_capacity(entry_count),
        };
        for entry in chunk {
            let log_id = *entry.get_log_id();
            // Raft applies each committed entry once, in log order (state machine safety). The
            // one exception is entry 0 on a genesis tree: a tree at zxid 0 lies in entry 0's
            // span, so opening one names entry 0 applied, and entry 0 (membership) is a no-op.
            assert!(
                self.last_applied
                    .is_none_or(|last| last.index < log_id.index || log_id.index == 0),
                "entry {log_id} applied after {:?}",
                self.last_applied
            );
            let (command, membership) = match entry.payload {
                EntryPayload::Normal(command) => (command, None),
                // Blank and membership entries still occupy a log index, so they apply as no-ops:
                // the tree's zxid then always lies in the last applied entry's span, which is
                // what lets a restart find its place in the log from the tree's zxid alone.
                EntryPayload::Blank => (Command::default(), None),
                EntryPayload::Membership(membership) => (Command::default(), Some(membership)),
            };
            responses.push(self.apply_command(log_id, command, &mut batch)?);
            if let Some(membership) = membership {
                self.membership = StoredMembership::new(Some(log_id), membership.clone());
                if let Some(last) = batch.entries.last_mut()
                    && last.log_id == log_id
                {
                    last.membership = Some(membership);
                }
            }
            self.last_applied = Some(log_id);
            // The tree's zxid lies in the span of the entry it applied last: what lets a
            // restart find its place in the log from the tree alone.
            debug_assert_eq!(
                entry_index_of_zxid(self.tree.last_zxid()).ok(),
                Some(log_id.index),
                "the tree's zxid is in the last applied entry's span"
            );
        }
        self.entries_since_checkpoint = self
            .entries_since_checkpoint
            .saturating_add(entry_count as u64);
        self.entries_since_tree_commit = self
            .entries_since_tree_commit
            .saturating_add(entry_count as u64);
        if self.entries_since_checkpoint >= CHECKPOINT_INTERVAL_ENTRIES {
            self.checkpoint()?;
        } else if self.entries_since_tree_commit >= TREE_COMMIT_INTERVAL_ENTRIES {
            self.commit_tree()?;
        }
        debug_assert!(self.entries_since_tree_commit < TREE_COMMIT_INTERVAL_ENTRIES);
        debug_assert!(self.entries_since_checkpoint < CHECKPOINT_INTERVAL_ENTRIES);
        self.cluster_limits.observe(self.tree.limits());
        Ok((responses, batch))
    }

    /// Applies the transactions of the entry `log_id`, each at its own zxid in the entry's span,
    /// reporting each newly applied one to the hook and in `batch`.
    fn apply_command(
        &mut self,
        log_id: LogId,
        command: Command,
        batch: &mut AppliedBatch,
    ) -> Result<EntryResponse, RaftStoreError> {
        let mut txns = command.txns;
        if txns.is_empty() {
            // Only a faulty leader proposes an empty command; it still occupies its entry.
            txns.push(TxnKind::Noop);
        }
        if txns.len() > TXNS_PER_ENTRY_MAX {
            // Likewise: every replica drops the same excess, so they stay identical.
            tracing::error!(
                index = log_id.index,
                txns = txns.len(),
                "an entry carries more transactions than it has zxids; the excess is dropped"
            );
            txns.truncate(TXNS_PER_ENTRY_MAX);
        }
        let mut response = EntryResponse {
            txns: Vec::with_capacity(txns.len()),
        };
        for (position, kind) in txns.into_iter().enumerate() {
            let zxid = zxid_of(log_id.index, position)?;
            let time_ms = if kind == TxnKind::Noop {
                0
            } else {
                command.time_ms
            };
            let txn = Txn {
                zxid,
                time_ms,
                kind,
            };
            // A transaction the tree has already passed changes nothing and is not reported:
            // that is only openraft's initial membership entry at index 0 (before the first
            // zxid).
            let already_applied = zxid <= self.tree.last_zxid();
            let limits_before =
                matches!(txn.kind, TxnKind::SetLimits { .. }).then(|| self.tree.limits().clone());
            let applied = self.tree.apply(&txn);
            if let Some(before) = limits_before
                && before != *self.tree.limits()
            {
                tracing::info!(
                    zxid,
                    limits = ?self.tree.limits(),
                    "the cluster's limits changed (a leader proposed its configured ones)"
                );
            }
            response.txns.push(CommandResponse::from(&applied));
            if already_applied {
                continue;
            }
            debug_assert_eq!(self.tree.last_zxid(), zxid, "the tree took the zxid");
            if let Some(hook) = &self.hook {
                hook.applied(&log_id, &applied, &self.tree);
            }
            batch.entries.push(AppliedEntry {
                log_id,
                applied,
                membership: None,
            });
        }
        Ok(response)
    }

    /// Replaces the whole state with a snapshot's.
    fn install(&mut self, snapshot: SnapshotFile) -> Result<Zxid, RaftStoreError> {
        let tree = DataTree::read_snapshot(Limits::default(), snapshot.data.as_slice())?;
        let expected_index = snapshot.meta.last_log_id.map_or(0, |log_id| log_id.index);
        if entry_index_of_zxid(tree.last_zxid())? != expected_index {
            return Err(RaftStoreError::Corrupt(format!(
                "snapshot {} holds zxid {} but claims log index {expected_index}",
                snapshot.meta.snapshot_id,
                tree.last_zxid()
            )));
        }
        // The snapshot file first: if the node crashes before the tree store is replaced, opening
        // finds a snapshot newer than the tree and restores the tree from it.
        snapshot.write(&self.dir)?;
        self.writer
            .with_store(|store| store.replace(&tree).map_err(RaftStoreError::from))?;
        self.tree = tree;
        self.cluster_limits.observe(self.tree.limits());
        if let Some(hook) = &self.hook {
            hook.snapshot_installed(&self.tree);
        }
        self.last_applied = snapshot.meta.last_log_id;
        self.membership = snapshot.meta.last_membership.clone();
        self.checkpoint()?;
        self.current_snapshot = Some(snapshot.meta);
        Ok(self.tree.last_zxid())
    }
}

impl Drop for MachineState {
    /// A node that stops cleanly commits what it applied since the last tree commit, so that its
    /// restart re-applies nothing; a crash instead leaves the tree store at its last commit, and
    /// the restart re-applies the log from there.
    fn drop(&mut self) {
        if self.entries_since_tree_commit > 0
            && let Err(error) = self.commit_tree()
        {
            tracing::warn!(%error, "committing the tree store on close failed; a restart re-applies the log");
        }
    }
}

/// The znode tree as openraft's state machine.
///
/// Applying a normal entry applies each transaction of its [`crate::Command`] at its own zxid in
/// the entry's span ([`crate::zxid_of`]); blank and membership entries apply as `TxnKind::Noop`
/// at the span's first zxid, so the tree's zxid always lies in the last applied entry's span.
/// Every [`TREE_COMMIT_INTERVAL_ENTRIES`] entries the tree's change set goes to the tree store's
/// writer thread, which commits it without fsync (`CommitDurability::Deferred`): the Raft log is
/// the point of durability, and a restart replays the log after the tree's stored zxid.
///
/// Durability across restarts:
/// - the tree store holds some applied prefix, at least up to the last checkpoint;
/// - `raft-state-machine.redb` holds the last [`AppliedCheckpoint`] (log id and membership),
///   written only after the tree store was synced;
/// - `raft-snapshot.bin` holds the current snapshot with its metadata.
///
/// [`TreeStateMachine::open`] restores the tree from the snapshot if the tree store is behind
/// it, then rolls the checkpoint forward to the tree's zxid through the log, so that
/// `applied_state` names exactly the entry the tree reflects. Openraft then re-applies the
/// committed entries after it (`StorageHelper::get_initial_state`).
pub struct TreeStateMachine {
    state: Arc<RwLock<MachineState>>,
    observer: Option<ApplyObserver>,
}

impl fmt::Debug for TreeStateMachine {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TreeStateMachine")
            .field("observer", &self.observer)
            .finish_non_exhaustive()
    }
}

impl TreeStateMachine {
    /// Opens the state machine of the node whose data directory is `dir`, with the tree store
    /// `store` and the node's Raft log `log` (read to roll the checkpoint forward). `observer`,
    /// if given, receives every applied entry and every installed snapshot.
    ///
    /// Blocking: it reads the tree, the snapshot and part of the log. Call it before starting
    /// Raft, or from `spawn_blocking`.
    pub fn open(
        dir: impl AsRef<Path>,
        store: Box<dyn TreeStore + Send + Sync>,
        limits: Limits,
        log: &RedbLogStore,
        observer: Option<ApplyObserver>,
    ) -> Result<TreeStateMachine, RaftStoreError> {
        let dir = dir.as_ref().to_path_buf();
        let checkpoints = AppliedCheckpointFile::open(dir.join(APPLIED_CHECKPOINT_FILE_NAME))?;
        let mut checkpoint = checkpoints.read()?;
        let mut store = store;
        // The tree's limits are the cluster's, replicated, never this node's configuration: a
        // new tree starts from the defaults, as on every other node, and so does a tree (or a
        // snapshot) stored before limits were kept. The configured limits reach the tree only
        // as a `SetLimits` this node proposes when it leads (see `ClusterLimits`).
        let mut tree = store.load(Limits::default())?;
        let current_snapshot = SnapshotFile::read(&dir)?;

        if let Some(snapshot) = &current_snapshot {
            let snapshot_index = snapshot.meta.last_log_id.map_or(0, |log_id| log_id.index);
            if entry_index_of_zxid(tree.last_zxid())? < snapshot_index {
                // A crash between writing an installed snapshot and replacing the tree store.
                tree = DataTree::read_snapshot(Limits::default(), snapshot.data.as_slice())?;
                store.replace(&tree)?;
            }
            if checkpoint.last_applied < snapshot.meta.last_log_id {
                checkpoint = AppliedCheckpoint {
                    last_applied: snapshot.meta.last_log_id,
                    membership: snapshot.meta.last_membership.clone(),
                };
            }
        }

        let rolled = roll_forward(checkpoint.clone(), tree.last_zxid(), log)?;
        let mut state = MachineState {
            tree,
            writer: TreeStoreWriter::start(store, checkpoints)?,
            dir,
            last_applied: rolled.last_applied,
            membership: rolled.membership.clone(),
            entries_since_checkpoint: 0,
            entries_since_tree_commit: 0,
            current_snapshot: current_snapshot.map(|snapshot| snapshot.meta),
            cluster_limits: Arc::new(ClusterLimits::new(limits)),
            hook: None,
        };
        state.cluster_limits.observe(state.tree.limits());
        if rolled != checkpoint {
            state.checkpoint()?;
        }
        Ok(TreeStateMachine {
            state: Arc::new(RwLock::new(state)),
            observer,
        })
    }

    /// Opens the state machine with the production tree store: `dir/tree.redb`, committing
    /// without fsync ([`CommitDurability::Deferred`]) because the Raft log is durable.
    pub fn open_redb(
        dir: impl AsRef<Path>,
        limits: Limits,
        log: &RedbLogStore,
        observer: Option<ApplyObserver>,
    ) -> Result<TreeStateMachine, RaftStoreError> {
        let store = RedbStore::open(
            dir.as_ref().join(TREE_FILE_NAME),
            CommitDurability::Deferred,
        )?;
        TreeStateMachine::open(dir, Box::new(store), limits, log, observer)
    }

    /// Installs the hook called under the write lock for every applied entry (see
    /// [`ApplyHook`]). Call it before starting Raft: it waits for the state's lock.
    pub async fn set_apply_hook(&self, hook: Arc<dyn ApplyHook>) {
        self.state.write().await.hook = Some(hook);
    }

    /// The node's configured limits and whether the cluster has them, for the leader's sink
    /// ([`crate::RaftProposalSink::with_cluster_limits`]).
    pub async fn cluster_limits(&self) -> Arc<ClusterLimits> {
        self.state.read().await.cluster_limits.clone()
    }

    /// A handle for local reads of the tree, on any node.
    pub fn reader(&self) -> TreeReader {
        TreeReader::new(self.state.clone())
    }
}

/// Moves `checkpoint` forward to the log entry at `tree_zxid`, collecting membership changes on
/// the way, from the entries the log still holds after the checkpoint.
fn roll_forward(
    checkpoint: AppliedCheckpoint,
    tree_zxid: Zxid,
    log: &RedbLogStore,
) -> Result<AppliedCheckpoint, RaftStoreError> {
    let tree_index = entry_index_of_zxid(tree_zxid)?;
    let first_index = checkpoint.last_applied.map_or(0, |log_id| log_id.index + 1);
    if let Some(last_applied) = checkpoint.last_applied
        && last_applied.index > tree_index
    {
        return Err(RaftStoreError::Corrupt(format!(
            "the checkpoint names log index {} but the tree store holds only zxid {tree_zxid}; \
             the tree file was replaced or lost writes it had synced",
            last_applied.index
        )));
    }
    if first_index > tree_index {
        return Ok(checkpoint);
    }
    let mut rolled = checkpoint;
    let mut expected_index = first_index;
    while expected_index <= tree_index {
        let chunk_last =
            tree_index.min(expected_index.saturating_add(ROLL_FORWARD_READ_ENTRIES - 1));
        let entries = log.read_entry_range(expected_index, chunk_last)?;
        if entries.is_empty() && tree_index == 0 {
            // A new node: the tree is at genesis and openraft has not yet applied index 0.
            return Ok(rolled);
        }
        for entry in &entries {
            let log_id = *entry.get_log_id();
            if log_id.index != expected_index {
                break;
            }
            if let EntryPayload::Membership(membership) = &entry.payload {
                rolled.membership = StoredMembership::new(Some(log_id), membership.clone());
            }
            rolled.last_applied = Some(log_id);
            expected_index += 1;
        }
        if expected_index <= chunk_last {
            break;
        }
    }
    if expected_index != tree_index + 1 {
        return Err(RaftStoreError::Corrupt(format!(
            "the tree store is at zxid {tree_zxid} but the Raft log lacks entry {expected_index}, \
             so the log position of the tree cannot be found"
        )));
    }
    Ok(rolled)
}

fn state_machine_error(error: RaftStoreError, verb: ErrorVerb) -> StorageError {
    error.into_storage_error(ErrorSubject::StateMachine, verb)
}

fn snapshot_error(error: RaftStoreError, verb: ErrorVerb) -> StorageError {
    error.into_storage_error(ErrorSubject::Snapshot(None), verb)
}

impl RaftStateMachine<TypeConfig> for TreeStateMachine {
    type SnapshotBuilder = TreeSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self.state.read().await;
        Ok((state.last_applied, state.membership.clone()))
    }

    /// Applies in chunks of at most [`APPLY_CHUNK_ENTRIES_MAX`] entries; each chunk holds the
    /// tree's write lock, commits once to the tree store and is then reported to the observer
    /// (outside the lock, so readers woken by the notice are not blocked by it).
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<EntryResponse>, StorageError>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut entries = entries.into_iter();
        let mut responses = Vec::new();
        loop {
            let chunk: Vec<LogEntry> = entries.by_ref().take(APPLY_CHUNK_ENTRIES_MAX).collect();
            if chunk.is_empty() {
                break;
            }
            let mut state = self.state.clone().write_owned().await;
            let applied = if chunk.len() <= APPLY_INLINE_ENTRIES_MAX
                && !state.store_work_due_after(chunk.len())
            {
                let applied = state.apply_chunk(chunk);
                // The observer is told outside the lock, as on the blocking path.
                drop(state);
                applied
            } else {
                tokio::task::spawn_blocking(move || state.apply_chunk(chunk))
                    .await
                    .map_err(RaftStoreError::from)
                    .and_then(|applied| applied)
            };
            let (chunk_responses, batch) =
                applied.map_err(|error| state_machine_error(error, ErrorVerb::Write))?;
            responses.extend(chunk_responses);
            if let Some(observer) = &self.observer
                && !batch.entries.is_empty()
            {
                observer
                    .notify(ApplyNotice::Applied(batch))
                    .await
                    .map_err(|error| state_machine_error(error, ErrorVerb::Write))?;
            }
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> TreeSnapshotBuilder {
        TreeSnapshotBuilder::new(self.state.clone())
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<std::io::Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(std::io::Cursor::new(Vec::new())))
    }

    /// Verifies the snapshot, stores it as the current one, replaces the tree store atomically
    /// (`TreeStore::replace`, durable) and the in-memory tree, and takes a checkpoint.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<std::io::Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let snapshot = SnapshotFile {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let mut state = self.state.clone().write_owned().await;
        let zxid = tokio::task::spawn_blocking(move || state.install(snapshot))
            .await
            .map_err(RaftStoreError::from)
            .and_then(|installed| installed)
            .map_err(|error| snapshot_error(error, ErrorVerb::Write))?;
        if let Some(observer) = &self.observer {
            observer
                .notify(ApplyNotice::SnapshotInstalled {
                    last_log_id: meta.last_log_id,
                    zxid,
                })
                .await
                .map_err(|error| snapshot_error(error, ErrorVerb::Write))?;
        }
        Ok(())
    }

    /// Read from the snapshot's file for each call (openraft asks when it sends a snapshot to a
    /// follower or learner). Files are replaced by an atomic rename, so the file read is always
    /// one whole snapshot, with its own metadata: a newer one than the state's if it was just
    /// replaced, which is as good to send.
    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let dir = {
            let state = self.state.read().await;
            if state.current_snapshot.is_none() {
                return Ok(None);
            }
            state.dir.clone()
        };
        let read = tokio::task::spawn_blocking(move || SnapshotFile::read(&dir))
            .await
            .map_err(RaftStoreError::from)
            .and_then(|read| read)
            .map_err(|error| snapshot_error(error, ErrorVerb::Read))?;
        Ok(read.map(|file| Snapshot {
            meta: file.meta,
            snapshot: Box::new(std::io::Cursor::new(file.data)),
        }))
    }
}
