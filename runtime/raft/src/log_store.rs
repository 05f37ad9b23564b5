//! The Raft log on redb: entries, vote, committed position and purge point in one file.
//!
//! Layout of `raft-log.redb` (a file of its own, separate from the tree's `tree.redb`, so that
//! the log's fsync per append never waits on a tree commit and vice versa):
//! - `entries`: log index → postcard [`LogEntry`] (log id and payload)
//! - `log_meta`: name → postcard value: `format_version` (u64), `vote` ([`Vote`]), `committed`
//!   (`Option<LogId>`), `last_purged_log_id` (`Option<LogId>`)
//!
//! Beside it, `raft-log.journal` ([`LogJournal`]) makes appends durable: an append is one
//! sequential record there, fsynced, plus a redb commit without fsync; every
//! [`crate::LOG_JOURNAL_BYTES_MAX`] or [`crate::LOG_JOURNAL_RECORDS_MAX`] a durable redb commit (a checkpoint)
//! makes the journal's records redundant, and a restart replays those written after the last one.
//! The vote, truncation and purge are durable redb commits, each a checkpoint too.
//!
//! Every write is one redb write transaction, so the file always holds a whole prefix of the
//! writes openraft issued, never a torn one. The writes reach the file in the order openraft
//! issues them (its `RaftLogStorage` contract): each takes the store's write turn
//! ([`LogFile::turn`], a fair lock) before its method returns. An append returns as soon as it
//! holds its turn and its entries are in the in-memory window, and reports the flush through
//! openraft's callback, so that a leader replicates while its own write is in flight (the Raft
//! thesis §10.2.1; see the patch in `vendor/openraft`); the vote, truncation and purge wait for
//! every append before them, and are durable before they return.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogId};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::log_journal::{JournalRecord, LogJournal};
use crate::recent_entries::RecentEntries;
use crate::{LogEntry, LogId, RaftStoreError, StorageError, TypeConfig, Vote};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const LOG_META: TableDefinition<&str, &[u8]> = TableDefinition::new("log_meta");

const META_FORMAT_VERSION: &str = "format_version";
const META_VOTE: &str = "vote";
const META_COMMITTED: &str = "committed";
const META_LAST_PURGED_LOG_ID: &str = "last_purged_log_id";
/// The journal generation whose records redb does not hold yet (`u64`; absent in format 1).
const META_JOURNAL_GENERATION: &str = "journal_generation";

/// The version of the table layout and value encoding written by this build. Version 2 added
/// the journal: a build of version 1 would ignore the journal's records, losing acknowledged
/// appends, so it must refuse the file; this build upgrades a version 1 file in place.
const FORMAT_VERSION: u64 = 2;
/// The older version this build upgrades.
const FORMAT_VERSION_WITHOUT_JOURNAL: u64 = 1;

/// The file name of the Raft log inside a node's data directory.
pub const RAFT_LOG_FILE_NAME: &str = "raft-log.redb";

/// The most bytes of encoded entries one [`RaftLogReader::limited_get_log_entries`] call returns
/// (at least one entry is always returned). Openraft bounds a replication batch by entry count
/// (`Config::max_payload_entries`); entries carry up to 1 MiB of znode data each, so the count
/// alone would let one batch reach hundreds of MiB.
pub const LOG_READ_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The memory redb may use to cache the log's pages (its default is 1 GiB per database). Appends
/// touch the last pages of the entries table, and replication reads recent entries from
/// [`RecentEntries`] first, so a small cache serves the log.
pub const RAFT_LOG_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// The label value of this file's fsync measurements (its durable commits: checkpoints, votes,
/// truncations and purges; appends are measured as the journal's).
const FSYNC_FILE_LABEL: &str = "raft-log";

/// The Raft log and vote of one node, in a redb file.
///
/// Cloning is cheap and gives another handle on the same file; openraft's log reader
/// ([`RaftLogStorage::get_log_reader`]) is such a clone. redb lets readers run beside the one
/// writer and shows each reader a committed state, so replication tasks read while appends go on.
///
/// Two things live in memory beside the file, shared by every clone:
/// - the newest entries ([`RecentEntries`]), so that a leader replicating what it has just
///   appended neither waits for a blocking thread nor reads back and decodes from redb;
/// - the committed position openraft last saved, written to the file with the next transaction
///   that is written anyway (see [`RaftLogStorage::save_committed`]).
#[derive(Clone)]
pub struct RedbLogStore {
    file: Arc<LogFile>,
}

/// What every clone of a [`RedbLogStore`] shares.
struct LogFile {
    database: Database,
    recent: Mutex<RecentEntries>,
    committed: Mutex<CommittedPosition>,
    /// Written only in the write turn (or at open and close, when nothing else writes).
    journal: Mutex<LogJournal>,
    /// The write turn: held from the call of a write until its transaction committed. Tokio's
    /// lock is fair (first come, first served), and openraft issues one write at a time, so the
    /// file sees the writes in the order openraft issued them.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for LogFile {
    /// A node that stops cleanly checkpoints: redb then holds every append durably (the restart
    /// replays nothing) and the committed position it has not written yet, so that the restart
    /// re-applies everything committed at once rather than waiting for a leader.
    fn drop(&mut self) {
        let committed = self
            .committed
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pending = committed.pending(committed.file_last);
        let written = match pending {
            Some(saved) => self.write_meta(META_COMMITTED, &saved),
            None if self.journal().holds_records() => self
                .begin_write(Durability::Immediate)
                .and_then(|transaction| self.commit_durable(transaction)),
            None => Ok(()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "the checkpoint on close failed; the next open replays the journal");
        }
    }
}

impl LogFile {
    fn begin_write(&self, durability: Durability) -> Result<WriteTransaction, RaftStoreError> {
        let mut transaction = self.database.begin_write().map_err(RaftStoreError::redb)?;
        transaction
            .set_durability(durability)
            .map_err(RaftStoreError::redb)?;
        Ok(transaction)
    }

    /// Writes one meta value durably (a checkpoint).
    fn write_meta<T: Serialize>(&self, key: &str, value: &T) -> Result<(), RaftStoreError> {
        let transaction = self.begin_write(Durability::Immediate)?;
        {
            let mut meta = transaction
                .open_table(LOG_META)
                .map_err(RaftStoreError::redb)?;
            write_value(&mut meta, key, value)?;
        }
        self.commit_durable(transaction)
    }

    /// Commits `transaction` (begun with `Durability::Immediate`) as a checkpoint: redb then
    /// holds durably every append before it, so it names the journal's next generation in the
    /// same commit, and the journal starts that generation from the start of its file. A crash
    /// before the commit replays the old generation's records; after it, none of them.
    fn commit_durable(&self, transaction: WriteTransaction) -> Result<(), RaftStoreError> {
        let mut journal = self.journal();
        let generation = journal.generation() + 1;
        {
            let mut meta = transaction
                .open_table(LOG_META)
                .map_err(RaftStoreError::redb)?;
            write_value(&mut meta, META_JOURNAL_GENERATION, &generation)?;
        }
        commit(transaction, Durability::Immediate)?;
        journal.rewind(generation);
        Ok(())
    }

    fn journal(&self) -> MutexGuard<'_, LogJournal> {
        // The journal's position is only moved after its write succeeded: after a panic
        // elsewhere it is still whole, so a poisoned lock is taken over.
        self.journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The committed position openraft saved, whether the file already holds it, and the last
/// index the file holds.
#[derive(Debug, Default)]
struct CommittedPosition {
    saved: Option<Option<LogId>>,
    written: bool,
    /// The last entry index in the file (or its purge point): a leader may learn that an entry
    /// is committed, by its followers' flushes, before its own write of it is durable.
    file_last: Option<u64>,
}

impl CommittedPosition {
    /// The position saved last, if the file does not hold it yet and will hold its entry once
    /// the entries up to `file_last` are durable: a committed position past the file's last
    /// entry would send a restart looking for entries a crash lost.
    fn pending(&self, file_last: Option<u64>) -> Option<Option<LogId>> {
        self.saved.filter(|saved| {
            !self.written
                && saved.is_none_or(|saved| file_last.is_some_and(|last| saved.index <= last))
        })
    }
}

impl fmt::Debug for RedbLogStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RedbLogStore")
            .finish_non_exhaustive()
    }
}

impl RedbLogStore {
    /// Opens the log at `file`, creating it if absent.
    ///
    /// Replays the journal's records that redb does not hold durably (those a crash kept from
    /// the last checkpoint) and checkpoints them before it returns.
    pub fn open(file: impl AsRef<Path>) -> Result<RedbLogStore, RaftStoreError> {
        let file = file.as_ref();
        let journal = LogJournal::open(file)?;
        let database = redb::Builder::new()
            .set_cache_size(RAFT_LOG_CACHE_BYTES)
            .create(file)
            .map_err(RaftStoreError::redb)?;
        let store = RedbLogStore {
            file: Arc::new(LogFile {
                database,
                recent: Mutex::default(),
                committed: Mutex::default(),
                journal: Mutex::new(journal),
                turn: Arc::default(),
            }),
        };
        store.check_format_and_replay()?;
        let last = store.log_state()?.last_log_id.map(|log_id| log_id.index);
        store.committed().file_last = last;
        if let Some(last) = last {
            store.recent().mark_durable(last);
        }
        Ok(store)
    }

    /// Creates the tables on first open, refuses files of another format version, and writes
    /// the journal's records of the current generation into redb, in one checkpoint.
    fn check_format_and_replay(&self) -> Result<(), RaftStoreError> {
        let transaction = self.begin_write(Durability::Immediate)?;
        let replayed = {
            let mut meta = transaction
                .open_table(LOG_META)
                .map_err(RaftStoreError::redb)?;
            let found: Option<u64> = read_value(&meta, META_FORMAT_VERSION)?;
            match found {
                None | Some(FORMAT_VERSION_WITHOUT_JOURNAL) => {
                    write_value(&mut meta, META_FORMAT_VERSION, &FORMAT_VERSION)?;
                }
                Some(FORMAT_VERSION) => {}
                Some(found) => {
                    return Err(RaftStoreError::UnsupportedFormat {
                        file: RAFT_LOG_FILE_NAME,
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            let generation: u64 = read_value(&meta, META_JOURNAL_GENERATION)?.unwrap_or(0);
            let mut table = transaction
                .open_table(ENTRIES)
                .map_err(RaftStoreError::redb)?;
            let last = table
                .last()
                .map_err(RaftStoreError::redb)?
                .map(|(index, _)| index.value());
            let purged: Option<LogId> =
                read_value::<Option<LogId>>(&meta, META_LAST_PURGED_LOG_ID)?.flatten();
            let durable_last = last.or(purged.map(|log_id| log_id.index));
            let mut journal = self.file.journal();
            journal.rewind(generation);
            let records = journal.read_generation(generation)?;
            drop(journal);
            replay(&mut table, records, durable_last)?
        };
        if replayed > 0 {
            tracing::info!(entries = replayed, "replayed the Raft log's journal");
        }
        self.file.commit_durable(transaction)
    }

    fn begin_write(&self, durability: Durability) -> Result<WriteTransaction, RaftStoreError> {
        self.file.begin_write(durability)
    }

    /// Runs blocking redb work off the async workers: an fsync takes milliseconds, and a tokio
    /// worker blocked that long would stall every other task scheduled on it.
    async fn blocking<T, F>(&self, work: F) -> Result<T, RaftStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&RedbLogStore) -> Result<T, RaftStoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store)).await?
    }

    /// [`RedbLogStore::blocking`] for a write, in its turn: after every write issued before it.
    async fn write_in_turn<T, F>(&self, work: F) -> Result<T, RaftStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&RedbLogStore) -> Result<T, RaftStoreError> + Send + 'static,
    {
        let _turn = self.file.turn.clone().lock_owned().await;
        self.blocking(work).await
    }

    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        // The window is only a copy of the file: after a panic elsewhere it is still consistent
        // (every method leaves it whole), so a poisoned lock is taken over.
        self.file
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn committed(&self) -> MutexGuard<'_, CommittedPosition> {
        self.file
            .committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the committed position openraft saved last, if the file does not hold it yet, to a
    /// transaction that is being written anyway. Returns whether it did, so that the caller
    /// marks it written once the transaction committed.
    fn write_pending_committed(
        &self,
        transaction: &WriteTransaction,
        file_last: Option<u64>,
    ) -> Result<Option<Option<LogId>>, RaftStoreError> {
        let pending = self.committed().pending(file_last);
        if let Some(saved) = pending {
            let mut meta = transaction
                .open_table(LOG_META)
                .map_err(RaftStoreError::redb)?;
            write_value(&mut meta, META_COMMITTED, &saved)?;
        }
        Ok(pending)
    }

    fn mark_committed_written(&self, written: Option<Option<LogId>>) {
        let mut committed = self.committed();
        if written.is_some() && committed.saved == written {
            committed.written = true;
        }
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, RaftStoreError> {
        let transaction = self
            .file
            .database
            .begin_read()
            .map_err(RaftStoreError::redb)?;
        let meta = transaction
            .open_table(LOG_META)
            .map_err(RaftStoreError::redb)?;
        read_value(&meta, key)
    }

    /// Writes a whole append batch, encoded: durably as one journal record (one sequential
    /// write and one fsync however many entries openraft hands over, which is Raft's group
    /// commit), then into redb without fsync; checkpoints when the journal is due.
    fn write_entries(&self, encoded: Vec<(u64, Vec<u8>)>) -> Result<(), RaftStoreError> {
        let (Some(first), Some(last)) = (
            encoded.first().map(|(index, _)| *index),
            encoded.last().map(|(index, _)| *index),
        ) else {
            return Ok(());
        };
        assert!(
            encoded.windows(2).all(|pair| pair[0].0 + 1 == pair[1].0),
            "an append batch holds consecutive indexes"
        );
        let checkpoint_due = {
            let mut journal = self.file.journal();
            journal.append(first, &encoded)?;
            journal.wants_checkpoint()
        };
        let transaction = self.begin_write(Durability::None)?;
        {
            let mut table = transaction
                .open_table(ENTRIES)
                .map_err(RaftStoreError::redb)?;
            for (index, bytes) in &encoded {
                table
                    .insert(*index, bytes.as_slice())
                    .map_err(RaftStoreError::redb)?;
            }
        }
        let committed = self.write_pending_committed(&transaction, Some(last))?;
        commit(transaction, Durability::None)?;
        self.mark_committed_written(committed);
        self.committed().file_last = Some(last);
        self.recent().mark_durable(last);
        if checkpoint_due {
            let checkpoint = self.begin_write(Durability::Immediate)?;
            self.file.commit_durable(checkpoint)?;
        }
        Ok(())
    }

    /// Deletes the entries from `index` on.
    fn delete_from(&self, index: u64) -> Result<(), RaftStoreError> {
        // Cut the window first: between the two steps a reader finds the entries in the file,
        // which still holds them, never in the window after the file lost them.
        self.recent().remove_from(index);
        let transaction = self.begin_write(Durability::Immediate)?;
        {
            let mut table = transaction
                .open_table(ENTRIES)
                .map_err(RaftStoreError::redb)?;
            table
                .retain_in(index.., |_, _| false)
                .map_err(RaftStoreError::redb)?;
        }
        // A checkpoint: the journal's records of the deleted entries must never be replayed.
        self.file.commit_durable(transaction)?;
        let mut committed = self.committed();
        if committed.file_last.is_some_and(|last| last >= index) {
            committed.file_last = index.checked_sub(1);
        }
        Ok(())
    }

    /// Records the purge point and deletes the entries up to it, in one transaction, so the file
    /// never shows entries missing below a purge point it does not record (a hole).
    fn purge_through(&self, log_id: LogId) -> Result<(), RaftStoreError> {
        self.recent().remove_through(log_id.index);
        let transaction = self.begin_write(Durability::Immediate)?;
        let file_last = self.committed().file_last.max(Some(log_id.index));
        let committed = self.write_pending_committed(&transaction, file_last)?;
        {
            let mut meta = transaction
                .open_table(LOG_META)
                .map_err(RaftStoreError::redb)?;
            let stored: Option<LogId> =
                read_value::<Option<LogId>>(&meta, META_LAST_PURGED_LOG_ID)?.flatten();
            // Purging is monotonic: an older purge point must not bring purged entries back into
            // the range openraft believes present.
            if stored.as_ref().is_some_and(|stored| *stored >= log_id) {
                return Ok(());
            }
            write_value(&mut meta, META_LAST_PURGED_LOG_ID, &Some(log_id))?;
            let mut table = transaction
                .open_table(ENTRIES)
                .map_err(RaftStoreError::redb)?;
            table
                .retain_in(..=log_id.index, |_, _| false)
                .map_err(RaftStoreError::redb)?;
        }
        self.file.commit_durable(transaction)?;
        self.mark_committed_written(committed);
        self.committed().file_last = file_last;
        Ok(())
    }

    /// The entries in `range`, stopping once `bytes_max` bytes of encoded entries were read
    /// (always returning the first entry found).
    fn read_entries(
        &self,
        range: (Bound<u64>, Bound<u64>),
        bytes_max: usize,
    ) -> Result<Vec<LogEntry>, RaftStoreError> {
        let transaction = self
            .file
            .database
            .begin_read()
            .map_err(RaftStoreError::redb)?;
        let table = transaction
            .open_table(ENTRIES)
            .map_err(RaftStoreError::redb)?;
        let mut entries = Vec::new();
        let mut bytes_read = 0usize;
        for row in table.range(range).map_err(RaftStoreError::redb)? {
            let (_, value) = row.map_err(RaftStoreError::redb)?;
            let bytes = value.value();
            if !entries.is_empty() && bytes_read.saturating_add(bytes.len()) > bytes_max {
                break;
            }
            bytes_read = bytes_read.saturating_add(bytes.len());
            entries.push(postcard::from_bytes(bytes)?);
        }
        Ok(entries)
    }

    /// The entries with indexes `first..=last` that the log holds, in order.
    pub(crate) fn read_entry_range(
        &self,
        first: u64,
        last: u64,
    ) -> Result<Vec<LogEntry>, RaftStoreError> {
        self.read_entries((Bound::Included(first), Bound::Included(last)), usize::MAX)
    }

    /// The entries in `range` from the in-memory window, if it holds all of them.
    fn read_recent(
        &self,
        range: (Bound<u64>, Bound<u64>),
        bytes_max: usize,
    ) -> Option<Vec<LogEntry>> {
        let start = match range.0 {
            Bound::Included(start) => start,
            Bound::Excluded(start) => start.checked_add(1)?,
            Bound::Unbounded => return None,
        };
        let end = match range.1 {
            Bound::Included(last) => last.checked_add(1)?,
            Bound::Excluded(end) => end,
            Bound::Unbounded => return None,
        };
        self.recent().read(start, end, bytes_max)
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, RaftStoreError> {
        let transaction = self
            .file
            .database
            .begin_read()
            .map_err(RaftStoreError::redb)?;
        let meta = transaction
            .open_table(LOG_META)
            .map_err(RaftStoreError::redb)?;
        let last_purged_log_id: Option<LogId> =
            read_value::<Option<LogId>>(&meta, META_LAST_PURGED_LOG_ID)?.flatten();
        let table = transaction
            .open_table(ENTRIES)
            .map_err(RaftStoreError::redb)?;
        let last_entry_log_id = match table.last().map_err(RaftStoreError::redb)? {
            Some((_, value)) => {
                let entry: LogEntry = postcard::from_bytes(value.value())?;
                Some(*entry.get_log_id())
            }
            None => None,
        };
        Ok(LogState {
            last_log_id: last_entry_log_id.or(last_purged_log_id),
            last_purged_log_id,
        })
    }
}

/// Writes the journal's `records` that follow `durable_last` (the last index redb holds durably)
/// into `table`, returning how many entries it wrote. Every record of the current generation was
/// written after redb's last durable commit, so they continue it without gap or overlap; records
/// that do not are a damaged journal or store, and the log refuses to open rather than guess.
fn replay(
    table: &mut redb::Table<u64, &'static [u8]>,
    records: Vec<JournalRecord>,
    durable_last: Option<u64>,
) -> Result<u64, RaftStoreError> {
    let mut next = durable_last.map(|last| last + 1);
    let mut replayed = 0u64;
    for record in records {
        if let Some(next) = next.filter(|next| *next != record.first_index) {
            return Err(RaftStoreError::Corrupt(format!(
                "the log journal's record starts at index {} where the log continues at {next}",
                record.first_index
            )));
        }
        let mut index = record.first_index;
        for bytes in &record.entries {
            let entry: LogEntry = postcard::from_bytes(bytes)?;
            if entry.get_log_id().index != index {
                return Err(RaftStoreError::Corrupt(format!(
                    "the log journal holds index {} where {index} belongs",
                    entry.get_log_id().index
                )));
            }
            table
                .insert(index, bytes.as_slice())
                .map_err(RaftStoreError::redb)?;
            index += 1;
            replayed += 1;
        }
        next = Some(index);
    }
    Ok(replayed)
}

/// Commits `transaction`, measuring the fsync of a durable commit.
fn commit(transaction: WriteTransaction, durability: Durability) -> Result<(), RaftStoreError> {
    let started = Instant::now();
    transaction.commit().map_err(RaftStoreError::redb)?;
    if matches!(durability, Durability::Immediate) {
        metrics::histogram!("polis_raft_fsync_seconds", "file" => FSYNC_FILE_LABEL)
            .record(started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn read_value<T: DeserializeOwned>(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, RaftStoreError> {
    match meta.get(key).map_err(RaftStoreError::redb)? {
        Some(value) => Ok(Some(postcard::from_bytes(value.value())?)),
        None => Ok(None),
    }
}

fn write_value<T: Serialize>(
    meta: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), RaftStoreError> {
    let bytes = postcard::to_allocvec(value)?;
    meta.insert(key, bytes.as_slice())
        .map_err(RaftStoreError::redb)?;
    Ok(())
}

fn owned_bounds(range: &impl RangeBounds<u64>) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

fn read_logs_error(error: RaftStoreError) -> StorageError {
    error.into_storage_error(ErrorSubject::Logs, ErrorVerb::Read)
}

fn write_logs_error(error: RaftStoreError) -> StorageError {
    error.into_storage_error(ErrorSubject::Logs, ErrorVerb::Write)
}

impl RaftLogReader<TypeConfig> for RedbLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<LogEntry>, StorageError> {
        let range = owned_bounds(&range);
        if let Some(entries) = self.read_recent(range, usize::MAX) {
            return Ok(entries);
        }
        self.blocking(move |store| store.read_entries(range, usize::MAX))
            .await
            .map_err(read_logs_error)
    }

    /// Bounded by [`LOG_READ_BYTES_MAX`]: openraft sends what this returns as one replication
    /// message, and asks again from where it stopped.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<LogEntry>, StorageError> {
        let range = (Bound::Included(start), Bound::Excluded(end));
        if let Some(entries) = self.read_recent(range, LOG_READ_BYTES_MAX) {
            return Ok(entries);
        }
        self.blocking(move |store| store.read_entries(range, LOG_READ_BYTES_MAX))
            .await
            .map_err(read_logs_error)
    }
}

impl RaftLogStorage<TypeConfig> for RedbLogStore {
    type LogReader = RedbLogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.blocking(|store| store.log_state())
            .await
            .map_err(read_logs_error)
    }

    async fn get_log_reader(&mut self) -> RedbLogStore {
        self.clone()
    }

    /// Durable before it returns: Raft's safety rests on a node never voting twice in a term,
    /// even across a crash (Raft §5.2, "persistent state on all servers").
    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.write_in_turn(move |store| store.file.write_meta(META_VOTE, &vote))
            .await
            .map_err(|error| error.into_storage_error(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(META_VOTE)
            .map_err(|error| error.into_storage_error(ErrorSubject::Vote, ErrorVerb::Read))
    }

    /// Kept in memory and written with the next append or purge, not in a transaction of its
    /// own: openraft saves the committed position every time it advances, once per entry on a
    /// busy cluster, and a redb transaction each time cost as much as a tenth of an append. A
    /// committed position that a crash loses only means that, on restart, fewer entries are
    /// re-applied before the leader tells the node the commit index again (openraft's
    /// "optionally persisted committed", see `docs::data::log_pointers`).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut position = self.committed();
        if position.saved != Some(committed) {
            position.saved = Some(committed);
            position.written = false;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        if let Some(saved) = self.committed().saved {
            return Ok(saved);
        }
        self.read_meta::<Option<LogId>>(META_COMMITTED)
            .map(Option::flatten)
            .map_err(read_logs_error)
    }

    /// Queues the entries for one durable redb transaction and returns once they hold their
    /// write turn and are in the in-memory window, where replication reads them. The flush is
    /// reported only after the commit returned: openraft counts an entry towards the quorum once
    /// the callback fires, so firing it earlier could lose a committed entry in a crash (Raft
    /// §5.3, Figure 2's "respond after entries are stored").
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<LogEntry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        metrics::histogram!("polis_raft_append_entries").record(entries.len() as f64);
        let mut encoded = Vec::with_capacity(entries.len());
        let mut window = Vec::with_capacity(entries.len());
        for entry in entries {
            let bytes = postcard::to_allocvec(&entry)
                .map_err(|error| write_logs_error(RaftStoreError::from(error)))?;
            let bytes_len = bytes.len();
            encoded.push((entry.get_log_id().index, bytes));
            window.push((entry, bytes_len));
        }
        let turn = self.file.turn.clone().lock_owned().await;
        self.recent().extend(window);
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let written = store.write_entries(encoded);
            // This handle goes before the flush is reported: a caller that closes the log once
            // its append is flushed must find the file closed (its last handle gone), not held
            // by this thread for a moment longer.
            drop(store);
            drop(turn);
            callback.log_io_completed(
                written.map_err(|error| std::io::Error::other(error.to_string())),
            );
        });
        Ok(())
    }

    /// Durable before it returns, so a crash cannot bring back entries a new leader overwrote.
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_in_turn(move |store| store.delete_from(log_id.index))
            .await
            .map_err(write_logs_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_in_turn(move |store| store.purge_through(log_id))
            .await
            .map_err(write_logs_error)
    }
}
