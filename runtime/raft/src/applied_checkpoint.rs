//! The state machine's durable record of what the tree store holds.

use std::path::Path;
use std::time::Instant;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{LogId, RaftStoreError, StoredMembership};

const APPLIED: TableDefinition<&str, &[u8]> = TableDefinition::new("applied");

const KEY_FORMAT_VERSION: &str = "format_version";
const KEY_LAST_APPLIED: &str = "last_applied";
const KEY_MEMBERSHIP: &str = "membership";

/// The version of the table layout and value encoding written by this build.
const FORMAT_VERSION: u64 = 1;

/// The file name of the checkpoint file inside a node's data directory.
pub const APPLIED_CHECKPOINT_FILE_NAME: &str = "raft-state-machine.redb";

/// The label value of this file's fsync measurements.
const FSYNC_FILE_LABEL: &str = "raft-state-machine";

/// A checkpoint: the last applied log id and the membership as of that entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedCheckpoint {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// A small redb file, `raft-state-machine.redb`, holding one [`AppliedCheckpoint`].
///
/// The tree store cannot hold Raft's log ids (its contract knows only zxids), and its commits are
/// deferred, so the two files cannot be written atomically together. The state machine keeps one
/// invariant instead: a checkpoint is written (durably, in one transaction) only right after the
/// tree store was synced, so the checkpoint never claims more than the tree file durably holds.
/// On open, the state machine rolls the checkpoint forward to the tree's zxid by reading the
/// entries in between from the Raft log, which still holds them because openraft purges only up
/// to a snapshot, and every snapshot is itself a checkpoint.
pub(crate) struct AppliedCheckpointFile {
    database: Database,
}

impl AppliedCheckpointFile {
    pub(crate) fn open(file: impl AsRef<Path>) -> Result<AppliedCheckpointFile, RaftStoreError> {
        // One small record: redb's default cache of 1 GiB would be all waste.
        let database = redb::Builder::new()
            .set_cache_size(1024 * 1024)
            .create(file)
            .map_err(RaftStoreError::redb)?;
        let transaction = database.begin_write().map_err(RaftStoreError::redb)?;
        {
            let mut table = transaction
                .open_table(APPLIED)
                .map_err(RaftStoreError::redb)?;
            match read_value::<u64>(&table, KEY_FORMAT_VERSION)? {
                None => write_value(&mut table, KEY_FORMAT_VERSION, &FORMAT_VERSION)?,
                Some(found) if found != FORMAT_VERSION => {
                    return Err(RaftStoreError::UnsupportedFormat {
                        file: APPLIED_CHECKPOINT_FILE_NAME,
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
                Some(_) => {}
            }
        }
        transaction.commit().map_err(RaftStoreError::redb)?;
        Ok(AppliedCheckpointFile { database })
    }

    pub(crate) fn read(&self) -> Result<AppliedCheckpoint, RaftStoreError> {
        let transaction = self.database.begin_read().map_err(RaftStoreError::redb)?;
        let table = transaction
            .open_table(APPLIED)
            .map_err(RaftStoreError::redb)?;
        Ok(AppliedCheckpoint {
            last_applied: read_value::<Option<LogId>>(&table, KEY_LAST_APPLIED)?.flatten(),
            membership: read_value(&table, KEY_MEMBERSHIP)?.unwrap_or_default(),
        })
    }

    /// Writes `checkpoint` durably. The caller must have synced the tree store first.
    pub(crate) fn write(&self, checkpoint: &AppliedCheckpoint) -> Result<(), RaftStoreError> {
        let mut transaction = self.database.begin_write().map_err(RaftStoreError::redb)?;
        transaction
            .set_durability(Durability::Immediate)
            .map_err(RaftStoreError::redb)?;
        {
            let mut table = transaction
                .open_table(APPLIED)
                .map_err(RaftStoreError::redb)?;
            write_value(&mut table, KEY_LAST_APPLIED, &checkpoint.last_applied)?;
            write_value(&mut table, KEY_MEMBERSHIP, &checkpoint.membership)?;
        }
        let started = Instant::now();
        transaction.commit().map_err(RaftStoreError::redb)?;
        metrics::histogram!("polis_raft_fsync_seconds", "file" => FSYNC_FILE_LABEL)
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

fn read_value<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, RaftStoreError> {
    match table.get(key).map_err(RaftStoreError::redb)? {
        Some(value) => Ok(Some(postcard::from_bytes(value.value())?)),
        None => Ok(None),
    }
}

fn write_value<T: Serialize>(
    table: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), RaftStoreError> {
    let bytes = postcard::to_allocvec(value)?;
    table
        .insert(key, bytes.as_slice())
        .map_err(RaftStoreError::redb)?;
    Ok(())
}
