//! Building a snapshot of the tree for openraft.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::RaftSnapshotBuilder;
use openraft::{ErrorSubject, ErrorVerb};
use tokio::sync::RwLock;

use polis_tree::Zxid;

use crate::snapshot_file::{StagedSnapshot, StagingName};
use crate::state_machine::MachineState;
use crate::tree_store_writer::PendingView;
use crate::{RaftStoreError, Snapshot, SnapshotFile, SnapshotMeta, StorageError, TypeConfig};

/// Builds a snapshot: the tree's deterministic snapshot bytes with the last applied log id and
/// membership as openraft's metadata.
///
/// Openraft runs the builder in a task of its own, concurrently with applying, and requires it to
/// see one consistent state. Writing a large tree's bytes takes long (0.42–0.47 s at a million
/// znodes, measured), and doing it under the state machine's lock stalled every write for that
/// long once per snapshot. So the builder holds the lock only to bring the tree store level with
/// the tree and ask its writer thread for a view there (a redb read transaction: copy-on-write
/// pages keep it whole while later batches commit), notes `last_applied` and the membership, and
/// lets go. It writes the snapshot from the view and stages its file without the lock, while
/// applying goes on; ZooKeeper likewise serialises its snapshots while it applies, though its
/// snapshots are fuzzy and these are exact. Only making the staged file current takes the lock
/// again, briefly.
///
/// Two replicas that applied the same entries build byte-identical snapshots (the store's export
/// is the tree's snapshot, byte for byte: the store contract), and the snapshot id is the last
/// log id, so equal ids mean equal bytes.
///
/// After building, the snapshot is stored as the current one (in `raft-snapshot.bin`) and a
/// checkpoint is taken, so the log purge openraft starts next never passes what a restart can
/// recover.
pub struct TreeSnapshotBuilder {
    state: Arc<RwLock<MachineState>>,
}

impl fmt::Debug for TreeSnapshotBuilder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TreeSnapshotBuilder")
            .finish_non_exhaustive()
    }
}

/// What the builder notes under the lock: the snapshot's metadata, the tree's zxid there, and
/// the view of the tree store that will hold exactly that state.
struct ViewOfApplied {
    meta: SnapshotMeta,
    last_zxid: Zxid,
    dir: PathBuf,
    view: PendingView,
}

impl TreeSnapshotBuilder {
    pub(crate) fn new(state: Arc<RwLock<MachineState>>) -> TreeSnapshotBuilder {
        TreeSnapshotBuilder { state }
    }

    async fn build(&self) -> Result<SnapshotFile, RaftStoreError> {
        let noted = self.note_applied().await?;
        let (built, staged) = self.write_in_the_background(noted).await?;

        let mut state = self.state.clone().write_owned().await;
        tokio::task::spawn_blocking(move || -> Result<SnapshotFile, RaftStoreError> {
            // A snapshot installed from the leader while this one was being built is newer; it
            // stays the current one, and the staged file is removed.
            let newer_exists = state
                .current_snapshot
                .as_ref()
                .is_some_and(|current| current.last_log_id > built.meta.last_log_id);
            if newer_exists {
                return Ok(built);
            }
            staged.publish()?;
            state.checkpoint()?;
            state.current_snapshot = Some(built.meta.clone());
            Ok(built)
        })
        .await?
    }

    /// Writes and stages the snapshot on a thread of its own at a lower scheduling priority
    /// ([`SNAPSHOT_THREAD_NICE`]): it is background work of a second or more at a million znodes,
    /// and the requests and applies it runs beside should have the CPU first.
    async fn write_in_the_background(
        &self,
        noted: ViewOfApplied,
    ) -> Result<(SnapshotFile, StagedSnapshot), RaftStoreError> {
        // The thread holds the state machine too, so that its files stay open only as long as
        // the state machine does, even if openraft drops this task while it writes.
        let state = self.state.clone();
        let (done, written) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("polis-snapshot".to_owned())
            .spawn(move || {
                let _state_machine_stays_open = state;
                lower_this_threads_priority();
                let _ = done.send(write_and_stage(noted));
            })?;
        written.await.map_err(|_| {
            RaftStoreError::Corrupt("the snapshot thread ended without an answer".to_owned())
        })?
    }

    /// Under the write lock, briefly: brings the tree store level with the tree, asks for a view
    /// of it and notes the positions that describe it.
    async fn note_applied(&self) -> Result<ViewOfApplied, RaftStoreError> {
        let mut state = self.state.clone().write_owned().await;
        // Queueing the change set may wait for room in the writer's queue: a blocking thread.
        tokio::task::spawn_blocking(move || {
            let view = state.view_of_applied()?;
            let snapshot_id = match state.last_applied {
                Some(log_id) => format!("{log_id}"),
                None => "genesis".to_string(),
            };
            Ok(ViewOfApplied {
                meta: SnapshotMeta {
                    last_log_id: state.last_applied,
                    last_membership: state.membership.clone(),
                    snapshot_id,
                },
                last_zxid: state.tree.last_zxid(),
                dir: state.dir.clone(),
                view,
            })
        })
        .await?
    }
}

/// The nice value of the thread that writes a snapshot (0 is the default, 19 the lowest).
pub const SNAPSHOT_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`SNAPSHOT_THREAD_NICE`] (Linux keeps a
/// nice value per thread). Where that is refused, the snapshot is written at normal priority.
fn lower_this_threads_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), SNAPSHOT_THREAD_NICE) {
        tracing::debug!(%error, "the snapshot thread keeps its priority");
    }
}

/// Without the lock: waits for the view, writes the snapshot from it and stages its file.
fn write_and_stage(noted: ViewOfApplied) -> Result<(SnapshotFile, StagedSnapshot), RaftStoreError> {
    let view = noted.view.wait()?;
    let view_zxid = view.last_zxid()?;
    if view_zxid != noted.last_zxid {
        // The view was queued right after the change set that levels the store with the tree, so
        // anything else means the writer lost or reordered a batch: refuse to build on it.
        return Err(RaftStoreError::Corrupt(format!(
            "the tree store's view holds zxid {view_zxid} where the tree had {}",
            noted.last_zxid
        )));
    }
    let mut data = Vec::new();
    view.export_snapshot(&mut data)?;
    drop(view);
    let built = SnapshotFile {
        meta: noted.meta,
        data,
    };
    let staged = built.stage(&noted.dir, StagingName::Built)?;
    Ok((built, staged))
}

impl RaftSnapshotBuilder<TypeConfig> for TreeSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let built = self.build().await.map_err(|error| {
            error.into_storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write)
        })?;
        Ok(Snapshot {
            meta: built.meta,
            snapshot: Box::new(std::io::Cursor::new(built.data)),
        })
    }
}
