//! The snapshot format: the whole replicated state as one deterministic byte stream.
//!
//! Raft ships snapshots to lagging replicas, and two replicas that applied the same transactions
//! must produce byte-identical snapshots, so the format has no maps with random order and no
//! timestamps of its own. It streams, so that neither side needs the whole encoding in memory:
//!
//! ```text
//! "POLISNAP" | format version (u32 LE) | record* | crc32 of everything before (u32 LE)
//! record = length (u32 LE) | postcard(Record)
//! Record order: Header, Node* (by path), Session* (by id), SessionWrites* (by id),
//!               History* (by seq), End (counts of nodes, sessions and history)
//! ```
//!
//! Every record length is bounded, the counts in `End` must match, and the checksum must verify,
//! so a truncated or corrupted snapshot is refused rather than half-installed.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::{
    HistoryEntry, Limits, NodeRecord, NodeRecordWithoutNull, Session, SessionId, SessionWrites,
    TreeState, Zxid,
};

const MAGIC: &[u8; 8] = b"POLISNAP";

/// The version of the snapshot format written by this build. Version 2 added the commit time to
/// history entries; version 3 the tree's last commit time and the cluster's limits to the header;
/// version 4 the sessions' records of recent writes (a record kind of its own, after `End` in
/// the enumeration so that the others keep their encoding); version 5 null data apart from empty
/// data (node records of a new kind, again at the end).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 5;

/// The oldest version this build still reads: a version 2 header lacks the last commit time,
/// which is then taken from the newest history entry (the best the snapshot knows), and the
/// cluster's limits, for which the reader's configured ones stand in.
pub const SNAPSHOT_FORMAT_VERSION_READ_MIN: u32 = 2;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a Polis snapshot (bad magic)")]
    BadMagic,
    #[error(
        "snapshot format version {0} is not supported (this build reads {SNAPSHOT_FORMAT_VERSION_READ_MIN} to {SNAPSHOT_FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
}

/// The records as written: borrowed, so writing copies nothing.
#[derive(Serialize)]
enum RecordRef<'a> {
    Header {
        last_zxid: Zxid,
        last_time_ms: i64,
        limits: &'a Limits,
        history_compacted_through: Zxid,
        history_next_seq: u64,
    },
    /// Never written since format 5; here to keep the variants' positions, their encoding.
    #[allow(dead_code)]
    NodeBeforeFormat5,
    Session {
        session_id: SessionId,
        session: &'a Session,
    },
    History(&'a HistoryEntry),
    End {
        nodes: u64,
        sessions: u64,
        history: u64,
    },
    SessionWrites {
        session_id: SessionId,
        writes: &'a SessionWrites,
    },
    Node {
        path: &'a str,
        record: &'a NodeRecord,
    },
}

/// The records as read. Same variants in the same order as [`RecordRef`], hence the same encoding.
#[derive(Deserialize)]
enum Record {
    Header {
        last_zxid: Zxid,
        last_time_ms: i64,
        limits: Limits,
        history_compacted_through: Zxid,
        history_next_seq: u64,
    },
    /// A node as formats 2 to 4 wrote it, its data never null.
    NodeBeforeFormat5 {
        path: String,
        record: NodeRecordWithoutNull,
    },
    Session {
        session_id: SessionId,
        session: Session,
    },
    History(HistoryEntry),
    End {
        nodes: u64,
        sessions: u64,
        history: u64,
    },
    SessionWrites {
        session_id: SessionId,
        writes: SessionWrites,
    },
    Node {
        path: String,
        record: NodeRecord,
    },
}

/// Writes a snapshot record by record. The caller supplies nodes, sessions and history entries in
/// ascending order; the writer checks it, so that every producer (the in-memory tree, a store
/// reading its tables) writes the same bytes for the same state.
#[derive(Debug)]
pub struct SnapshotWriter<W: Write> {
    out: W,
    hasher: crc32fast::Hasher,
    nodes: u64,
    sessions: u64,
    history: u64,
    last_path: Option<String>,
    last_session_id: Option<SessionId>,
    session_writes: u64,
    last_session_writes_id: Option<SessionId>,
    last_seq: Option<u64>,
}

impl<W: Write> SnapshotWriter<W> {
    pub fn new(
        out: W,
        last_zxid: Zxid,
        last_time_ms: i64,
        limits: &Limits,
        history_compacted_through: Zxid,
        history_next_seq: u64,
    ) -> io::Result<SnapshotWriter<W>> {
        let mut writer = SnapshotWriter {
            out,
            hasher: crc32fast::Hasher::new(),
            nodes: 0,
            sessions: 0,
            history: 0,
            last_path: None,
            last_session_id: None,
            session_writes: 0,
            last_session_writes_id: None,
            last_seq: None,
        };
        writer.write_raw(MAGIC)?;
        writer.write_raw(&SNAPSHOT_FORMAT_VERSION.to_le_bytes())?;
        writer.write_record(&RecordRef::Header {
            last_zxid,
            last_time_ms,
            limits,
            history_compacted_through,
            history_next_seq,
        })?;
        Ok(writer)
    }

    pub fn node(&mut self, path: &str, record: &NodeRecord) -> io::Result<()> {
        if self.sessions > 0 || self.history > 0 {
            return Err(out_of_order("node after sessions or history"));
        }
        if self.last_path.as_deref().is_some_and(|last| last >= path) {
            return Err(out_of_order("nodes not in ascending path order"));
        }
        self.last_path = Some(path.to_string());
        self.nodes += 1;
        self.write_record(&RecordRef::Node { path, record })
    }

    pub fn session(&mut self, session_id: SessionId, session: &Session) -> io::Result<()> {
        if self.history > 0 || self.session_writes > 0 {
            return Err(out_of_order("session after history or session writes"));
        }
        if self.last_session_id.is_some_and(|last| last >= session_id) {
            return Err(out_of_order("sessions not in ascending id order"));
        }
        self.last_session_id = Some(session_id);
        self.sessions += 1;
        self.write_record(&RecordRef::Session {
            session_id,
            session,
        })
    }

    /// The record of recent writes of a session written before.
    pub fn session_writes(
        &mut self,
        session_id: SessionId,
        writes: &SessionWrites,
    ) -> io::Result<()> {
        if self.history > 0 {
            return Err(out_of_order("session writes after history"));
        }
        if self
            .last_session_writes_id
            .is_some_and(|last| last >= session_id)
        {
            return Err(out_of_order("session writes not in ascending id order"));
        }
        self.last_session_writes_id = Some(session_id);
        self.session_writes += 1;
        self.write_record(&RecordRef::SessionWrites { session_id, writes })
    }

    pub fn history(&mut self, entry: &HistoryEntry) -> io::Result<()> {
        if self.last_seq.is_some_and(|last| last >= entry.seq) {
            return Err(out_of_order("history not in ascending sequence order"));
        }
        self.last_seq = Some(entry.seq);
        self.history += 1;
        self.write_record(&RecordRef::History(entry))
    }

    /// Writes the end record and the checksum, and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_record(&RecordRef::End {
            nodes: self.nodes,
            sessions: self.sessions,
            history: self.history,
        })?;
        let checksum = self.hasher.clone().finalize();
        self.out.write_all(&checksum.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_record(&mut self, record: &RecordRef<'_>) -> io::Result<()> {
        let bytes = postcard::to_allocvec(record).map_err(io::Error::other)?;
        let length = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        self.write_raw(&length.to_le_bytes())?;
        self.write_raw(&bytes)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }
}

fn out_of_order(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("snapshot writer: {what}"),
    )
}

/// Reads a snapshot into a [`TreeState`], checking bounds, order, counts and the checksum.
#[derive(Debug)]
pub struct SnapshotReader;

impl SnapshotReader {
    /// The largest record the reader accepts, derived from the limits the tree enforces on
    /// every write, so that any node the tree accepted can be read back: the largest node
    /// record, a path at `path_len_max`, data at `data_len_max` and a full ACL of ids at
    /// `acl_id_len_max`. Sessions and history entries (an event's path and a few numbers) are
    /// smaller. Postcard writes every length and integer as a varint, so each field below is
    /// counted at its longest encoding.
    pub fn record_len_max(limits: &Limits) -> usize {
        /// A varint of a u64 or i64, at its longest.
        const VARINT_MAX: usize = 10;
        /// An ACL entry besides its id: permission bits, the scheme's length and name (the
        /// longest scheme is `digest`), the id's length.
        const ACL_ENTRY_OVERHEAD_MAX: usize = VARINT_MAX + VARINT_MAX + 6 + VARINT_MAX;
        /// Everything of a node record besides its path, data and ACL: the record's variant,
        /// the lengths of path, data and ACL, the node kind (a variant and a session id or TTL),
        /// five 64-bit and three 32-bit numbers of its stat, and whether data is present (one
        /// byte, since format 5).
        const NODE_FIXED_MAX: usize = 4 * VARINT_MAX + 2 * VARINT_MAX + 8 * VARINT_MAX + 1;
        let acl_entry_max = ACL_ENTRY_OVERHEAD_MAX.saturating_add(limits.acl_id_len_max);
        limits
            .path_len_max
            .saturating_add(limits.data_len_max)
            .saturating_add(limits.acl_entries_max.saturating_mul(acl_entry_max))
            .saturating_add(NODE_FIXED_MAX)
    }

    /// Reads a snapshot. What is read is bounded by [`Limits::ceilings`]: the cluster's limits
    /// (in the header) may have been lowered below what the tree already held, and a snapshot of
    /// such a tree must still be read back. `configured_limits` stand in for the cluster's in a
    /// version 2 snapshot, which lacks them.
    pub fn read(input: impl Read, configured_limits: &Limits) -> Result<TreeState, SnapshotError> {
        let mut input = HashingReader {
            inner: input,
            hasher: crc32fast::Hasher::new(),
        };
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = read_u32(&mut input)?;
        if !(SNAPSHOT_FORMAT_VERSION_READ_MIN..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let mut buffer = Vec::new();
        let mut state = read_header(&mut input, &mut buffer, version)?;
        let header_has_time = version >= 3;
        let cluster_limits = state
            .limits
            .get_or_insert_with(|| configured_limits.clone());
        cluster_limits.validate().map_err(SnapshotError::Corrupt)?;
        let limits = &Limits::ceilings();
        let record_len_max = Self::record_len_max(limits);
        loop {
            match read_record(&mut input, &mut buffer, record_len_max)? {
                Record::Header { .. } => return Err(corrupt("a second header")),
                Record::NodeBeforeFormat5 { path, record } if version < 5 => {
                    push_node(&mut state, limits, path, NodeRecord::from(record))?;
                }
                Record::NodeBeforeFormat5 { .. } => {
                    return Err(corrupt("a node record of format 4 or less"));
                }
                Record::Node { .. } if version < 5 => {
                    return Err(corrupt("a node record of format 5 in an older snapshot"));
                }
                Record::Node { path, record } => {
                    push_node(&mut state, limits, path, record)?;
                }
                Record::Session {
                    session_id,
                    session,
                } => {
                    if state.sessions.len() >= limits.sessions_max {
                        return Err(corrupt("more sessions than sessions_max"));
                    }
                    if !state.history.is_empty() || !state.session_writes.is_empty() {
                        return Err(corrupt("a session after history or session writes"));
                    }
                    if state
                        .sessions
                        .last()
                        .is_some_and(|(last, _)| *last >= session_id)
                    {
                        return Err(corrupt("sessions out of order"));
                    }
                    state.sessions.push((session_id, session));
                }
                Record::SessionWrites { session_id, writes } => {
                    if version < 4 {
                        return Err(corrupt("session writes in a snapshot of format 3 or less"));
                    }
                    if state.session_writes.len() >= limits.sessions_max {
                        return Err(corrupt("more session writes than sessions_max"));
                    }
                    if !state.history.is_empty() {
                        return Err(corrupt("session writes after history"));
                    }
                    if state
                        .session_writes
                        .last()
                        .is_some_and(|(last, _)| *last >= session_id)
                    {
                        return Err(corrupt("session writes out of order"));
                    }
                    state.session_writes.push((session_id, writes));
                }
                Record::History(entry) => {
                    if state.history.len() >= limits.history_events_max {
                        return Err(corrupt("more history than history_events_max"));
                    }
                    if state
                        .history
                        .last()
                        .is_some_and(|last| last.seq >= entry.seq)
                    {
                        return Err(corrupt("history out of order"));
                    }
                    state.history.push(entry);
                }
                Record::End {
                    nodes,
                    sessions,
                    history,
                } => {
                    let counts = (
                        state.nodes.len() as u64,
                        state.sessions.len() as u64,
                        state.history.len() as u64,
                    );
                    if counts != (nodes, sessions, history) {
                        return Err(corrupt("record counts do not match the end record"));
                    }
                    break;
                }
            }
        }
        let computed = input.hasher.clone().finalize();
        let mut stored = [0u8; 4];
        input.inner.read_exact(&mut stored)?;
        if u32::from_le_bytes(stored) != computed {
            return Err(corrupt("checksum mismatch"));
        }
        let mut trailing = [0u8; 1];
        if input.inner.read(&mut trailing)? != 0 {
            return Err(corrupt("bytes after the checksum"));
        }
        if !header_has_time {
            state.last_time_ms = state.history.last().map_or(0, |entry| entry.time_ms);
        }
        Ok(state)
    }
}

fn corrupt(what: &str) -> SnapshotError {
    SnapshotError::Corrupt(what.to_string())
}

fn read_u32(input: &mut impl Read) -> Result<u32, SnapshotError> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Adds a node read from a snapshot, checking the order records must come in.
fn push_node(
    state: &mut TreeState,
    limits: &Limits,
    path: String,
    record: NodeRecord,
) -> Result<(), SnapshotError> {
    let corrupt = |what: &str| SnapshotError::Corrupt(what.to_string());
    if state.nodes.len() >= limits.nodes_max {
        return Err(corrupt("more nodes than nodes_max"));
    }
    if !state.sessions.is_empty() || !state.history.is_empty() {
        return Err(corrupt("a node after sessions or history"));
    }
    if state.nodes.last().is_some_and(|(last, _)| *last >= path) {
        return Err(corrupt("nodes out of order"));
    }
    state.nodes.push((path, record));
    Ok(())
}

/// The header of a version 2 snapshot: the same variant index as [`Record::Header`], without the
/// last commit time.
#[derive(Deserialize)]
enum HeaderVersion2 {
    Header {
        last_zxid: Zxid,
        history_compacted_through: Zxid,
        history_next_seq: u64,
    },
}

/// A header is a few varints and the limits (a varint each); nothing longer is read as one.
const HEADER_LEN_MAX: usize = 256;

/// Reads the header record of a snapshot of format `version` into an otherwise empty state.
fn read_header(
    input: &mut impl Read,
    buffer: &mut Vec<u8>,
    version: u32,
) -> Result<TreeState, SnapshotError> {
    if version < 3 {
        let HeaderVersion2::Header {
            last_zxid,
            history_compacted_through,
            history_next_seq,
        } = read_record(input, buffer, HEADER_LEN_MAX)?;
        return Ok(TreeState {
            last_zxid,
            history_compacted_through,
            history_next_seq,
            ..TreeState::default()
        });
    }
    match read_record(input, buffer, HEADER_LEN_MAX)? {
        Record::Header {
            last_zxid,
            last_time_ms,
            limits,
            history_compacted_through,
            history_next_seq,
        } => Ok(TreeState {
            last_zxid,
            last_time_ms,
            limits: Some(limits),
            history_compacted_through,
            history_next_seq,
            ..TreeState::default()
        }),
        _ => Err(corrupt("the first record is not the header")),
    }
}

fn read_record<T: serde::de::DeserializeOwned>(
    input: &mut impl Read,
    buffer: &mut Vec<u8>,
    record_len_max: usize,
) -> Result<T, SnapshotError> {
    let length = read_u32(input)? as usize;
    if length > record_len_max {
        return Err(SnapshotError::Corrupt(format!(
            "record of {length} bytes exceeds the bound of {record_len_max}"
        )));
    }
    // The record is read as its bytes arrive, not into a buffer of its announced length: a
    // length under the bound (about 128 MiB at the limits' ceilings) but beyond the input would
    // otherwise cost that much memory for a few bytes of a corrupt snapshot or backup.
    buffer.clear();
    let read = input.take(length as u64).read_to_end(buffer)?;
    if read < length {
        return Err(SnapshotError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    postcard::from_bytes(buffer)
        .map_err(|error| SnapshotError::Corrupt(format!("undecodable record: {error}")))
}

/// Feeds everything read through the checksum.
struct HashingReader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}
