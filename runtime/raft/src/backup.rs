//! Backing up a node's tree and seeding a new cluster's nodes from it (`polis backup` and
//! `polis restore`).
//!
//! A backup is the tree a node has applied, in the tree's snapshot format (the same bytes a
//! snapshot carries between nodes, checked when read): a consistent state, a prefix of the
//! cluster's history. It is taken from a stopped node's data directory, as ZooKeeper's operators
//! copy a server's newest snapshot and etcd's `etcdutl` reads a stopped member's database: a
//! redb file is locked while its node runs, so a backup of a running node is refused rather than
//! read half-written. In a three-node cluster a follower (or a learner) is stopped, backed up and
//! started again, and the cluster serves meanwhile.
//!
//! A restore seeds the empty data directory of each node of a *new* cluster, every node from the
//! same backup, the way a snapshot installed from a leader would: the snapshot file, whose
//! membership is the new cluster's voters, and a Raft log whose purge point and committed
//! position are the snapshot's last entry. The nodes then start as members of an initialised
//! cluster holding that tree, elect a leader in a new term, and go on from the next log index, so
//! zxids continue after the backup's. Sessions in the backup expire as their timeouts pass, with
//! their ephemeral nodes, as after a ZooKeeper restore.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::storage::RaftLogStorage;
use openraft::{CommittedLeaderId, Membership};
use polis_tree::{DataTree, Limits, Zxid};

use crate::command::entry_index_of_zxid;
use crate::{
    APPLIED_CHECKPOINT_FILE_NAME, LogId, NodeId, PeerNode, RAFT_LOG_FILE_NAME, RaftStoreError,
    RedbLogStore, SNAPSHOT_FILE_NAME, SnapshotFile, SnapshotMeta, StoredMembership, TREE_FILE_NAME,
    TreeStateMachine,
};

/// What a backup holds: the snapshot bytes of a tree and the zxid it is at.
#[derive(Debug, Clone)]
pub struct Backup {
    pub data: Vec<u8>,
    pub zxid: Zxid,
}

/// Reads the tree a stopped node has applied from its data directory `dir`. Fails while the node
/// runs (its files are locked) and on a directory that holds no node.
pub async fn backup(dir: &Path) -> Result<Backup, RaftStoreError> {
    if !dir.join(RAFT_LOG_FILE_NAME).exists() {
        return Err(RaftStoreError::Corrupt(format!(
            "{} holds no node's data ({RAFT_LOG_FILE_NAME} is missing)",
            dir.display()
        )));
    }
    let log = RedbLogStore::open(dir.join(RAFT_LOG_FILE_NAME))?;
    let owned_dir = dir.to_path_buf();
    let (state_machine, _log) = tokio::task::spawn_blocking(move || {
        TreeStateMachine::open_redb(&owned_dir, Limits::default(), &log, None)
            .map(|machine| (machine, log))
    })
    .await??;
    let tree = state_machine.reader();
    let tree = tree.read().await;
    let data = tree.write_snapshot(Vec::new())?;
    Ok(Backup {
        data,
        zxid: tree.last_zxid(),
    })
}

/// Seeds the empty data directory `dir` with `backup`, as a node of a new cluster whose voters
/// are `members` (every voter is seeded from the same backup). Returns the log position the
/// cluster starts from.
pub async fn restore(
    dir: &Path,
    backup: &[u8],
    members: BTreeMap<NodeId, PeerNode>,
) -> Result<LogId, RaftStoreError> {
    let occupied: Vec<&str> = [
        RAFT_LOG_FILE_NAME,
        TREE_FILE_NAME,
        SNAPSHOT_FILE_NAME,
        APPLIED_CHECKPOINT_FILE_NAME,
    ]
    .into_iter()
    .filter(|file| dir.join(file).exists())
    .collect();
    if !occupied.is_empty() {
        return Err(RaftStoreError::Corrupt(format!(
            "{} already holds a node's data ({}); a restore only seeds an empty directory",
            dir.display(),
            occupied.join(", ")
        )));
    }
    let Some(founder) = members.keys().next().copied() else {
        return Err(RaftStoreError::Corrupt(
            "a restored cluster needs at least one voter".to_owned(),
        ));
    };
    // Reading the whole tree checks the backup (format, checksum, limits) before anything is
    // written.
    let tree = DataTree::read_snapshot(Limits::default(), backup)?;
    let log_id = LogId::new(
        CommittedLeaderId::new(0, founder),
        entry_index_of_zxid(tree.last_zxid())?,
    );
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![voters], members));
    std::fs::create_dir_all(dir)?;
    SnapshotFile {
        meta: SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: membership,
            snapshot_id: format!("restored-{log_id}"),
        },
        data: backup.to_vec(),
    }
    .write(dir)?;
    let mut log = RedbLogStore::open(dir.join(RAFT_LOG_FILE_NAME))?;
    log.purge(log_id).await.map_err(storage_failure)?;
    log.save_committed(Some(log_id))
        .await
        .map_err(storage_failure)?;
    // Opening the state machine over the snapshot writes the tree store and a checkpoint from
    // it, as after a crash that followed a snapshot's installation; closing both writes them.
    let owned_dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        TreeStateMachine::open_redb(&owned_dir, Limits::default(), &log, None).map(drop)
    })
    .await??;
    Ok(log_id)
}

fn storage_failure(error: crate::StorageError) -> RaftStoreError {
    RaftStoreError::Corrupt(format!("writing the restored log: {error}"))
}
