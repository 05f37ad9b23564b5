//! The redb store: the tree state in one redb file.
//!
//! Layout (one table each):
//! - `nodes`: path → postcard [`NodeRecord`] (data, ACL, kind, zxids, times, versions)
//! - `children`: (parent path, child name) → (), the children index
//! - `sessions`: session id → postcard [`Session`]
//! - `session_writes`: session id → postcard [`polis_tree::SessionWrites`], the session's recent
//!   writes applied once (absent from stores written before they were kept)
//! - `history`: sequence number → postcard [`HistoryEntry`], the resumable-watch window
//! - `meta`: name → i64: `format_version`, `last_zxid`, `history_compacted_through`,
//!   `history_next_seq`
//!
//! One change set is one redb write transaction, so a crash leaves the file at some committed
//! batch, never between two (redb's copy-on-write B-trees with a checksummed commit slot).

use std::io::Write;
use std::path::Path;

use polis_tree::{
    ChangeSet, DataTree, HistoryEntry, Limits, NodeRecord, NodeRecordWithoutNull, Session,
    SessionWrites, SnapshotWriter, TreeState, Zxid, path,
};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::memory::snapshot_io;
use crate::{StoreError, StoreView, TreeStore};

const NODES: TableDefinition<&str, &[u8]> = TableDefinition::new("nodes");
const CHILDREN: TableDefinition<(&str, &str), ()> = TableDefinition::new("children");
const SESSIONS: TableDefinition<i64, &[u8]> = TableDefinition::new("sessions");
const SESSION_WRITES: TableDefinition<i64, &[u8]> = TableDefinition::new("session_writes");
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
/// Replicated settings that are not numbers: `limits` (postcard [`Limits`], the cluster's).
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

const SETTINGS_LIMITS: &str = "limits";

const META_FORMAT_VERSION: &str = "format_version";
const META_LAST_ZXID: &str = "last_zxid";
const META_HISTORY_COMPACTED_THROUGH: &str = "history_compacted_through";
const META_HISTORY_NEXT_SEQ: &str = "history_next_seq";
/// The tree's last commit time; absent in stores written before it was kept, which then take
/// the newest history entry's time.
const META_LAST_TIME_MS: &str = "last_time_ms";

/// The version of the table layout and value encoding written by this build. Version 2 keeps
/// null data apart from empty data in node records.
const FORMAT_VERSION: i64 = 2;

/// The format before null data was kept, which this build upgrades in place on open.
const FORMAT_VERSION_WITHOUT_NULL: i64 = 1;

/// When a committed batch reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitDurability {
    /// Every commit is fsynced before it returns (redb's `Durability::Immediate`).
    Immediate,
    /// Commits are not fsynced (redb's `Durability::None`) until [`TreeStore::sync`]. Once the Raft
    /// log is the point of durability, a restart replays the log from the last synced zxid, so the
    /// tree can skip an fsync per batch.
    Deferred,
}

/// A [`TreeStore`] in one redb file.
pub struct RedbStore {
    database: Database,
    durability: CommitDurability,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedbStore")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// The memory redb may use to cache the tree store's pages. redb's default is 1 GiB per
/// database; the whole tree lives in memory as the `DataTree` already, and this file is read
/// only at start and written by commits, so its cache would only hold a second copy of the tree
/// (223 MB of a 1 M-znode node's 986 B per znode, measured). 16 MiB holds the B-trees' branch
/// pages, which every commit walks; 64 MiB cost 66 B per znode at 1 M znodes for no speed.
pub const TREE_STORE_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl RedbStore {
    /// Opens the store at `file`, creating it if absent.
    pub fn open(
        file: impl AsRef<Path>,
        durability: CommitDurability,
    ) -> Result<RedbStore, StoreError> {
        let database = redb::Builder::new()
            .set_cache_size(TREE_STORE_CACHE_BYTES)
            .create(file)
            .map_err(StoreError::redb)?;
        let store = RedbStore {
            database,
            durability,
        };
        store.check_format()?;
        Ok(store)
    }

    /// Creates the tables on first open, upgrades a file of format 1 and refuses files of
    /// another format version.
    fn check_format(&self) -> Result<(), StoreError> {
        let transaction = self.database.begin_write().map_err(StoreError::redb)?;
        {
            let mut meta = transaction.open_table(META).map_err(StoreError::redb)?;
            let found = meta
                .get(META_FORMAT_VERSION)
                .map_err(StoreError::redb)?
                .map(|value| value.value());
            match found {
                None => {
                    meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)
                        .map_err(StoreError::redb)?;
                }
                Some(FORMAT_VERSION_WITHOUT_NULL) => {
                    upgrade_node_records(&transaction)?;
                    meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)
                        .map_err(StoreError::redb)?;
                }
                Some(found) if found != FORMAT_VERSION => {
                    return Err(StoreError::UnsupportedFormat {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
                Some(_) => {}
            }
            transaction.open_table(NODES).map_err(StoreError::redb)?;
            transaction.open_table(CHILDREN).map_err(StoreError::redb)?;
            transaction.open_table(SESSIONS).map_err(StoreError::redb)?;
            transaction
                .open_table(SESSION_WRITES)
                .map_err(StoreError::redb)?;
            transaction.open_table(HISTORY).map_err(StoreError::redb)?;
            transaction.open_table(SETTINGS).map_err(StoreError::redb)?;
        }
        transaction.commit().map_err(StoreError::redb)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut transaction = self.database.begin_write().map_err(StoreError::redb)?;
        let durability = match self.durability {
            CommitDurability::Immediate => Durability::Immediate,
            CommitDurability::Deferred => Durability::None,
        };
        transaction
            .set_durability(durability)
            .map_err(StoreError::redb)?;
        Ok(transaction)
    }

    /// Writes a whole state into empty tables of `transaction`.
    fn write_state(transaction: &WriteTransaction, state: &TreeState) -> Result<(), StoreError> {
        let mut nodes_table = transaction.open_table(NODES).map_err(StoreError::redb)?;
        let mut children = transaction.open_table(CHILDREN).map_err(StoreError::redb)?;
        for (node_path, record) in &state.nodes {
            nodes_table
                .insert(node_path.as_str(), encode(record)?.as_slice())
                .map_err(StoreError::redb)?;
            if node_path != "/" {
                children
                    .insert((path::parent(node_path), path::name(node_path)), ())
                    .map_err(StoreError::redb)?;
            }
        }
        let mut sessions_table = transaction.open_table(SESSIONS).map_err(StoreError::redb)?;
        for (session_id, session) in &state.sessions {
            sessions_table
                .insert(*session_id, encode(session)?.as_slice())
                .map_err(StoreError::redb)?;
        }
        let mut writes_table = transaction
            .open_table(SESSION_WRITES)
            .map_err(StoreError::redb)?;
        for (session_id, writes) in &state.session_writes {
            writes_table
                .insert(*session_id, encode(writes)?.as_slice())
                .map_err(StoreError::redb)?;
        }
        let mut history_table = transaction.open_table(HISTORY).map_err(StoreError::redb)?;
        for entry in &state.history {
            history_table
                .insert(entry.seq, encode(entry)?.as_slice())
                .map_err(StoreError::redb)?;
        }
        if let Some(limits) = &state.limits {
            write_limits(transaction, limits)?;
        }
        let mut meta = transaction.open_table(META).map_err(StoreError::redb)?;
        write_meta(
            &mut meta,
            &StoredPosition {
                last_zxid: state.last_zxid,
                last_time_ms: Some(state.last_time_ms),
                history_compacted_through: state.history_compacted_through,
                history_next_seq: state.history_next_seq,
            },
        )
    }
}

/// The position of the stored state: last zxid and the history window's bounds.
struct StoredPosition {
    last_zxid: Zxid,
    /// `None` in a store written before the last commit time was kept.
    last_time_ms: Option<i64>,
    history_compacted_through: Zxid,
    history_next_seq: u64,
}

/// Reads the stored position, or `None` if nothing was ever committed.
fn read_meta(
    meta: &impl ReadableTable<&'static str, i64>,
) -> Result<Option<StoredPosition>, StoreError> {
    let read = |key: &str| -> Result<Option<i64>, StoreError> {
        Ok(meta
            .get(key)
            .map_err(StoreError::redb)?
            .map(|value| value.value()))
    };
    let Some(last_zxid) = read(META_LAST_ZXID)? else {
        return Ok(None);
    };
    Ok(Some(StoredPosition {
        last_zxid,
        last_time_ms: read(META_LAST_TIME_MS)?,
        history_compacted_through: read(META_HISTORY_COMPACTED_THROUGH)?.unwrap_or(0),
        history_next_seq: u64::try_from(read(META_HISTORY_NEXT_SEQ)?.unwrap_or(0))
            .map_err(|_| StoreError::Corrupt("negative history sequence".to_string()))?,
    }))
}

fn write_limits(transaction: &WriteTransaction, limits: &Limits) -> Result<(), StoreError> {
    let mut settings = transaction.open_table(SETTINGS).map_err(StoreError::redb)?;
    settings
        .insert(SETTINGS_LIMITS, encode(limits)?.as_slice())
        .map_err(StoreError::redb)?;
    Ok(())
}

/// The cluster's limits as stored, `None` in a store written before they were kept.
fn read_limits(
    settings: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<Limits>, StoreError> {
    match settings.get(SETTINGS_LIMITS).map_err(StoreError::redb)? {
        Some(value) => Ok(Some(decode(value.value())?)),
        None => Ok(None),
    }
}

fn write_meta(
    meta: &mut redb::Table<&'static str, i64>,
    position: &StoredPosition,
) -> Result<(), StoreError> {
    let next_seq = i64::try_from(position.history_next_seq)
        .map_err(|_| StoreError::Corrupt("history sequence beyond i64".to_string()))?;
    meta.insert(META_LAST_ZXID, position.last_zxid)
        .map_err(StoreError::redb)?;
    if let Some(last_time_ms) = position.last_time_ms {
        meta.insert(META_LAST_TIME_MS, last_time_ms)
            .map_err(StoreError::redb)?;
    }
    meta.insert(
        META_HISTORY_COMPACTED_THROUGH,
        position.history_compacted_through,
    )
    .map_err(StoreError::redb)?;
    meta.insert(META_HISTORY_NEXT_SEQ, next_seq)
        .map_err(StoreError::redb)?;
    Ok(())
}

impl TreeStore for RedbStore {
    fn load_state(&self) -> Result<Option<TreeState>, StoreError> {
        let transaction = self.database.begin_read().map_err(StoreError::redb)?;
        let meta = transaction.open_table(META).map_err(StoreError::redb)?;
        let Some(position) = read_meta(&meta)? else {
            return Ok(None);
        };
        let nodes_table = transaction.open_table(NODES).map_err(StoreError::redb)?;
        let mut nodes = Vec::with_capacity(nodes_table.len().map_err(StoreError::redb)? as usize);
        for row in nodes_table.iter().map_err(StoreError::redb)? {
            let (key, value) = row.map_err(StoreError::redb)?;
            nodes.push((key.value().to_string(), decode(value.value())?));
        }
        let mut sessions = Vec::new();
        let sessions_table = transaction.open_table(SESSIONS).map_err(StoreError::redb)?;
        for row in sessions_table.iter().map_err(StoreError::redb)? {
            let (key, value) = row.map_err(StoreError::redb)?;
            sessions.push((key.value(), decode(value.value())?));
        }
        let mut session_writes = Vec::new();
        let writes_table = transaction
            .open_table(SESSION_WRITES)
            .map_err(StoreError::redb)?;
        for row in writes_table.iter().map_err(StoreError::redb)? {
            let (key, value) = row.map_err(StoreError::redb)?;
            session_writes.push((key.value(), decode(value.value())?));
        }
        let mut history = Vec::new();
        let history_table = transaction.open_table(HISTORY).map_err(StoreError::redb)?;
        for row in history_table.iter().map_err(StoreError::redb)? {
            let (_, value) = row.map_err(StoreError::redb)?;
            history.push(decode(value.value())?);
        }
        let settings = transaction.open_table(SETTINGS).map_err(StoreError::redb)?;
        let limits = read_limits(&settings)?;
        let last_time_ms = position.last_time_ms.unwrap_or_else(|| {
            history
                .last()
                .map_or(0, |entry: &HistoryEntry| entry.time_ms)
        });
        Ok(Some(TreeState {
            last_zxid: position.last_zxid,
            last_time_ms,
            limits,
            nodes,
            sessions,
            session_writes,
            history,
            history_compacted_through: position.history_compacted_through,
            history_next_seq: position.history_next_seq,
        }))
    }

    fn commit(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        let stored_zxid = self.last_zxid()?;
        if changes.last_zxid < stored_zxid {
            return Err(StoreError::Corrupt(format!(
                "change set for zxid {} after stored zxid {stored_zxid}",
                changes.last_zxid
            )));
        }
        let transaction = self.begin_write()?;
        {
            let mut nodes = transaction.open_table(NODES).map_err(StoreError::redb)?;
            let mut children = transaction.open_table(CHILDREN).map_err(StoreError::redb)?;
            for (node_path, record) in &changes.nodes {
                let link = (path::parent(node_path), path::name(node_path));
                match record {
                    Some(record) => {
                        nodes
                            .insert(node_path.as_str(), encode(record)?.as_slice())
                            .map_err(StoreError::redb)?;
                        if node_path != "/" {
                            children.insert(link, ()).map_err(StoreError::redb)?;
                        }
                    }
                    None => {
                        nodes.remove(node_path.as_str()).map_err(StoreError::redb)?;
                        children.remove(link).map_err(StoreError::redb)?;
                    }
                }
            }
            let mut sessions = transaction.open_table(SESSIONS).map_err(StoreError::redb)?;
            for (session_id, session) in &changes.sessions {
                match session {
                    Some(session) => {
                        sessions
                            .insert(*session_id, encode(session)?.as_slice())
                            .map_err(StoreError::redb)?;
                    }
                    None => {
                        sessions.remove(*session_id).map_err(StoreError::redb)?;
                    }
                }
            }
            let mut writes = transaction
                .open_table(SESSION_WRITES)
                .map_err(StoreError::redb)?;
            for (session_id, recorded) in &changes.session_writes {
                match recorded {
                    Some(recorded) => {
                        writes
                            .insert(*session_id, encode(recorded)?.as_slice())
                            .map_err(StoreError::redb)?;
                    }
                    None => {
                        writes.remove(*session_id).map_err(StoreError::redb)?;
                    }
                }
            }
            let mut history = transaction.open_table(HISTORY).map_err(StoreError::redb)?;
            for entry in &changes.history_appended {
                history
                    .insert(entry.seq, encode(entry)?.as_slice())
                    .map_err(StoreError::redb)?;
            }
            history
                .retain_in(..changes.history_first_retained_seq, |_, _| false)
                .map_err(StoreError::redb)?;
            if let Some(limits) = &changes.limits {
                write_limits(&transaction, limits)?;
            }
            let mut meta = transaction.open_table(META).map_err(StoreError::redb)?;
            write_meta(
                &mut meta,
                &StoredPosition {
                    last_zxid: changes.last_zxid,
                    last_time_ms: Some(changes.last_time_ms),
                    history_compacted_through: changes.history_compacted_through,
                    history_next_seq: changes.history_next_seq,
                },
            )?;
        }
        transaction.commit().map_err(StoreError::redb)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        // An empty commit with immediate durability makes every earlier non-durable commit
        // durable too: redb persists the whole transaction chain up to it.
        let mut transaction = self.database.begin_write().map_err(StoreError::redb)?;
        transaction
            .set_durability(Durability::Immediate)
            .map_err(StoreError::redb)?;
        transaction.commit().map_err(StoreError::redb)
    }

    fn last_zxid(&self) -> Result<Zxid, StoreError> {
        let transaction = self.database.begin_read().map_err(StoreError::redb)?;
        let meta = transaction.open_table(META).map_err(StoreError::redb)?;
        Ok(meta
            .get(META_LAST_ZXID)
            .map_err(StoreError::redb)?
            .map_or(0, |value| value.value()))
    }

    fn children(&self, node_path: &str) -> Result<Vec<String>, StoreError> {
        let transaction = self.database.begin_read().map_err(StoreError::redb)?;
        let children = transaction.open_table(CHILDREN).map_err(StoreError::redb)?;
        let mut names = Vec::new();
        for row in children
            .range((node_path, "")..)
            .map_err(StoreError::redb)?
        {
            let (key, _) = row.map_err(StoreError::redb)?;
            let (parent, name) = key.value();
            if parent != node_path {
                break;
            }
            names.push(name.to_string());
        }
        Ok(names)
    }

    fn view(&self) -> Result<Box<dyn StoreView>, StoreError> {
        // One read transaction: redb's copy-on-write pages keep its state whole while later
        // batches commit.
        let transaction = self.database.begin_read().map_err(StoreError::redb)?;
        Ok(Box::new(RedbView { transaction }))
    }

    fn replace(&mut self, tree: &DataTree) -> Result<(), StoreError> {
        // Installing a snapshot is rare and must survive a crash as a whole: always durable.
        let mut transaction = self.database.begin_write().map_err(StoreError::redb)?;
        transaction
            .set_durability(Durability::Immediate)
            .map_err(StoreError::redb)?;
        transaction.delete_table(NODES).map_err(StoreError::redb)?;
        transaction
            .delete_table(CHILDREN)
            .map_err(StoreError::redb)?;
        transaction
            .delete_table(SESSIONS)
            .map_err(StoreError::redb)?;
        transaction
            .delete_table(SESSION_WRITES)
            .map_err(StoreError::redb)?;
        transaction
            .delete_table(HISTORY)
            .map_err(StoreError::redb)?;
        Self::write_state(&transaction, &tree.to_state())?;
        transaction.commit().map_err(StoreError::redb)
    }
}

/// A [`RedbStore`]'s state at one commit: one redb read transaction.
struct RedbView {
    transaction: ReadTransaction,
}

impl StoreView for RedbView {
    fn last_zxid(&self) -> Result<Zxid, StoreError> {
        let meta = self
            .transaction
            .open_table(META)
            .map_err(StoreError::redb)?;
        Ok(read_meta(&meta)?.map_or(0, |position| position.last_zxid))
    }

    fn export_snapshot(&self, out: &mut dyn Write) -> Result<(), StoreError> {
        let transaction = &self.transaction;
        let meta = transaction.open_table(META).map_err(StoreError::redb)?;
        let Some(position) = read_meta(&meta)? else {
            let genesis = DataTree::new(polis_tree::Limits::default());
            genesis.write_snapshot(out).map_err(snapshot_io)?;
            return Ok(());
        };
        let history = transaction.open_table(HISTORY).map_err(StoreError::redb)?;
        let last_time_ms = match position.last_time_ms {
            Some(last_time_ms) => last_time_ms,
            None => match history.last().map_err(StoreError::redb)? {
                Some((_, value)) => decode::<HistoryEntry>(value.value())?.time_ms,
                None => 0,
            },
        };
        let settings = transaction.open_table(SETTINGS).map_err(StoreError::redb)?;
        // Every change set since limits were kept carries them from genesis on; a store older
        // than that was written with the defaults unless configured otherwise.
        let limits = read_limits(&settings)?.unwrap_or_default();
        let mut writer = SnapshotWriter::new(
            out,
            position.last_zxid,
            last_time_ms,
            &limits,
            position.history_compacted_through,
            position.history_next_seq,
        )
        .map_err(snapshot_io)?;
        write_rows(transaction, history, &mut writer)?;
        writer.finish().map_err(snapshot_io)?;
        Ok(())
    }
}

/// Writes a view's nodes, sessions, session writes and history window, in key order (the order
/// `DataTree::write_snapshot` writes its maps in).
fn write_rows(
    transaction: &ReadTransaction,
    history: redb::ReadOnlyTable<u64, &'static [u8]>,
    writer: &mut SnapshotWriter<&mut dyn Write>,
) -> Result<(), StoreError> {
    let nodes = transaction.open_table(NODES).map_err(StoreError::redb)?;
    for row in nodes.iter().map_err(StoreError::redb)? {
        let (key, value) = row.map_err(StoreError::redb)?;
        let record: NodeRecord = decode(value.value())?;
        writer.node(key.value(), &record).map_err(snapshot_io)?;
    }
    let sessions = transaction.open_table(SESSIONS).map_err(StoreError::redb)?;
    for row in sessions.iter().map_err(StoreError::redb)? {
        let (key, value) = row.map_err(StoreError::redb)?;
        let session: Session = decode(value.value())?;
        writer.session(key.value(), &session).map_err(snapshot_io)?;
    }
    let session_writes = transaction
        .open_table(SESSION_WRITES)
        .map_err(StoreError::redb)?;
    for row in session_writes.iter().map_err(StoreError::redb)? {
        let (key, value) = row.map_err(StoreError::redb)?;
        let writes: SessionWrites = decode(value.value())?;
        writer
            .session_writes(key.value(), &writes)
            .map_err(snapshot_io)?;
    }
    for row in history.iter().map_err(StoreError::redb)? {
        let (_, value) = row.map_err(StoreError::redb)?;
        let entry: HistoryEntry = decode(value.value())?;
        writer.history(&entry).map_err(snapshot_io)?;
    }
    Ok(())
}

/// Rewrites every node record of a format 1 file in the current encoding, inside the
/// transaction that records the new format version: a crash leaves either file whole. A record
/// of format 1 never had null data.
fn upgrade_node_records(transaction: &WriteTransaction) -> Result<(), StoreError> {
    let mut nodes = transaction.open_table(NODES).map_err(StoreError::redb)?;
    let mut upgraded: Vec<(String, Vec<u8>)> = Vec::new();
    for row in nodes.iter().map_err(StoreError::redb)? {
        let (key, value) = row.map_err(StoreError::redb)?;
        let old: NodeRecordWithoutNull = decode(value.value())?;
        upgraded.push((key.value().to_string(), encode(&NodeRecord::from(old))?));
    }
    for (node_path, bytes) in &upgraded {
        nodes
            .insert(node_path.as_str(), bytes.as_slice())
            .map_err(StoreError::redb)?;
    }
    Ok(())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|error| StoreError::Corrupt(format!("encoding: {error}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|error| StoreError::Corrupt(format!("decoding: {error}")))
}
