//! Building a snapshot of the tree for openraft.

use std::fmt;
use std::sync::Arc;

use openraft::storage::RaftSnapshotBuilder;
use openraft::{ErrorSubject, ErrorVerb};
use tokio::sync::RwLock;

use crate::state_machine::MachineState;
use crate::{RaftStoreError, Snapshot, SnapshotFile, SnapshotMeta, StorageError, TypeConfig};

/// Builds a snapshot: the tree's deterministic snapshot bytes with the last applied log id and
/// membership as openraft's metadata.
///
/// Openraft runs the builder in a task of its own, concurrently with applying, and requires it to
/// see one consistent state. The builder holds the state machine's read lock while it writes the
/// tree's bytes, so applying waits for it (local reads do not). Two replicas that applied the same
/// entries build byte-identical snapshots, and the snapshot id is the last log id, so equal ids
/// mean equal bytes.
///
/// After building, the snapshot is stored as the current one (in memory and in
/// `raft-snapshot.bin`) and a checkpoint is taken, so the log purge openraft starts next never
/// passes what a restart can recover.
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

impl TreeSnapshotBuilder {
    pub(crate) fn new(state: Arc<RwLock<MachineState>>) -> TreeSnapshotBuilder {
        TreeSnapshotBuilder { state }
    }

    async fn build(&self) -> Result<SnapshotFile, RaftStoreError> {
        let state = self.state.clone().read_owned().await;
        let built = tokio::task::spawn_blocking(move || -> Result<SnapshotFile, RaftStoreError> {
            let data = state.tree.write_snapshot(Vec::new())?;
            let snapshot_id = match state.last_applied {
                Some(log_id) => format!("{log_id}"),
                None => "genesis".to_string(),
            };
            Ok(SnapshotFile {
                meta: SnapshotMeta {
                    last_log_id: state.last_applied,
                    last_membership: state.membership.clone(),
                    snapshot_id,
                },
                data,
            })
        })
        .await??;

        let mut state = self.state.clone().write_owned().await;
        tokio::task::spawn_blocking(move || -> Result<SnapshotFile, RaftStoreError> {
            // A snapshot installed from the leader while this one was being built is newer; it
            // stays the current one.
            let newer_exists = state
                .current_snapshot
                .as_ref()
                .is_some_and(|current| current.last_log_id > built.meta.last_log_id);
            if newer_exists {
                return Ok(built);
            }
            let dir = state.dir.clone();
            built.write(&dir)?;
            state.checkpoint()?;
            state.current_snapshot = Some(built.meta.clone());
            Ok(built)
        })
        .await?
    }
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
