//! The quorum core of Polis: openraft's types, the Raft log on redb, and the znode tree as the
//! Raft state machine.
//!
//! A write becomes a [`Command`] (the transaction kind and the leader's clock), which the leader
//! proposes through openraft. Once a quorum has it in its log ([`RedbLogStore`], one fsync per
//! append batch), every node applies it to its [`TreeStateMachine`]: the transaction's zxid is the
//! entry's log index, so every replica computes the same tree. The state machine tells the
//! server on every node what it applied ([`ApplyObserver`]) so that each node fires its own
//! watches and answers the clients waiting on it, and serves local reads ([`TreeReader`]).
//!
//! Files of a node, all in its data directory:
//! - `raft-log.redb` ([`RAFT_LOG_FILE_NAME`]): log entries, vote, committed position, purge point
//! - `raft-log.journal`: the log's appends since its last durable redb commit (see `log_journal`)
//! - `tree.redb` ([`TREE_FILE_NAME`]): the tree, committed without fsync
//! - `raft-state-machine.redb` ([`APPLIED_CHECKPOINT_FILE_NAME`]): the applied checkpoint
//! - `raft-snapshot.bin` ([`SNAPSHOT_FILE_NAME`]): the current snapshot
//!
//! Main types, one per module: [`TypeConfig`], [`PeerNode`], [`Command`], [`CommandResponse`],
//! [`RedbLogStore`], [`LogCompaction`], [`TreeStateMachine`], [`TreeSnapshotBuilder`],
//! [`TreeReader`], [`ApplyObserver`], [`SnapshotFile`], [`AppliedCheckpoint`], [`RaftStoreError`]; and in
//! [`network`], openraft's network over QUIC with mutual TLS ([`network::QuicNetworkFactory`],
//! [`network::PeerServer`]); and in [`membership`], runtime membership change on the leader
//! (learners, joint consensus) and the cluster's state ([`ClusterView`]).

mod applied_checkpoint;
mod apply_hook;
mod apply_observer;
mod backup;
mod cluster_limits;
mod command;
mod command_response;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod leader_lease;
mod log_compaction;
mod log_journal;
mod log_store;
pub mod membership;
pub mod network;
mod peer_node;
mod proposer;
mod raft_config;
mod recent_entries;
mod shared_rounds;
mod snapshot_builder;
mod snapshot_file;
mod state_machine;
mod tree_reader;
mod tree_store_writer;
mod type_config;

pub use applied_checkpoint::{APPLIED_CHECKPOINT_FILE_NAME, AppliedCheckpoint};
pub use apply_hook::ApplyHook;
pub use apply_observer::{
    APPLY_NOTICES_CAPACITY_DEFAULT, APPLY_OBSERVER_STALL_TIMEOUT, AppliedBatch, AppliedEntry,
    ApplyNotice, ApplyObserver,
};
pub use backup::{Backup, backup, restore};
pub use cluster_limits::ClusterLimits;
pub use command::{Command, TXNS_PER_ENTRY_MAX, entry_index_of_zxid, first_zxid_of_entry, zxid_of};
pub use command_response::{CommandError, CommandResponse, EntryResponse};
pub use error::RaftStoreError;
pub use leader_lease::{Acceptance, LeaderLease, LeaderView, READ_LEASE, lease_holds};
pub use log_compaction::LogCompaction;
pub use log_journal::{LOG_JOURNAL_BYTES_MAX, LOG_JOURNAL_GROWTH_BYTES, LOG_JOURNAL_RECORDS_MAX};
pub use log_store::{LOG_READ_BYTES_MAX, RAFT_LOG_CACHE_BYTES, RAFT_LOG_FILE_NAME, RedbLogStore};
pub use membership::{ClusterView, LearnerAdded, MemberView, MembershipChange, NodeRole};
pub use peer_node::PeerNode;
pub use proposer::{
    FORWARDS_IN_FLIGHT_MAX, PROPOSAL_BYTES_MAX, PROPOSAL_REQUEST_BYTES_MAX,
    PROPOSALS_IN_FLIGHT_MAX, PROPOSALS_WAITING_BYTES_MAX, PROPOSALS_WAITING_MAX, ProposalFuture,
    ProposalSink, ProposeError, Proposer, RaftProposalSink,
};
pub use raft_config::{
    ELECTION_TIMEOUT_MAX_MS, ELECTION_TIMEOUT_MIN_MS, HEARTBEAT_INTERVAL_MS,
    INSTALL_SNAPSHOT_TIMEOUT_MS, PURGE_BATCH_ENTRIES, REPLICATION_BATCH_ENTRIES_MAX,
    REPLICATION_LAG_THRESHOLD_ENTRIES, SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_INTERVAL_ENTRIES,
    SNAPSHOT_LOG_ENTRIES_KEPT, polis_raft_config, polis_raft_config_with,
};
pub use recent_entries::{RECENT_ENTRIES_BYTES_MAX, RECENT_ENTRIES_MAX};
pub use shared_rounds::{ROUND_REQUESTS_MAX, ROUND_WAITING_MAX, ReadIndexRounds, SharedRounds};
pub use snapshot_builder::TreeSnapshotBuilder;
pub use snapshot_file::{SNAPSHOT_FILE_NAME, SnapshotFile};
pub use state_machine::{
    APPLY_CHUNK_ENTRIES_MAX, CHECKPOINT_INTERVAL_ENTRIES, TREE_COMMIT_INTERVAL_ENTRIES,
    TREE_FILE_NAME, TreeStateMachine,
};
pub use tree_reader::{StateMachineClosing, TreeReader};
pub use tree_store_writer::TREE_STORE_QUEUE_MAX;
pub use type_config::{
    LogEntry, LogId, NodeId, PolisRaft, Snapshot, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig, Vote,
};

// The zxid numbering itself lives beside `Zxid` in polis-tree, where clients count entries
// without this crate; the Raft log's users keep finding it here, beside the functions built on it.
pub use polis_tree::{ZXIDS_PER_ENTRY, entries_between};
