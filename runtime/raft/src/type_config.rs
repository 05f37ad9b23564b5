//! The openraft type configuration of Polis.

use std::io::Cursor;

use crate::{Command, EntryResponse, PeerNode};

openraft::declare_raft_types!(
    /// Polis's choices for openraft's type parameters: node ids are `u64`, a node is a
    /// [`PeerNode`], a normal entry carries a [`Command`], applying it answers an
    /// [`EntryResponse`], and a snapshot travels as one in-memory byte buffer in the tree's
    /// deterministic snapshot format.
    pub TypeConfig:
        D = Command,
        R = EntryResponse,
        NodeId = u64,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft node of Polis.
pub type PolisRaft = openraft::Raft<TypeConfig>;
/// A Raft member's id.
pub type NodeId = u64;
/// A log entry.
pub type LogEntry = openraft::Entry<TypeConfig>;
/// A log position: leader term and node, and index.
pub type LogId = openraft::LogId<NodeId>;
/// The membership configuration as the state machine stores it.
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
/// A snapshot with its data.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// Openraft's storage error, as every storage trait method returns it.
pub type StorageError = openraft::StorageError<NodeId>;
/// A vote (term and candidate).
pub type Vote = openraft::Vote<NodeId>;
