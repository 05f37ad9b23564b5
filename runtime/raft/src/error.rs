//! Errors of the Raft storage layer.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};
use polis_store::StoreError;
use polis_tree::SnapshotError;

use crate::StorageError;

/// Why the Raft log store or the tree state machine failed.
///
/// Openraft treats every storage error as fatal for the node (it stops the Raft core), which is
/// the only safe reaction: a node that cannot persist its log or apply a committed entry must not
/// go on voting or acknowledging. The storage layer attaches openraft's subject and verb to it,
/// so openraft's log says what failed.
#[derive(Debug, thiserror::Error)]
pub enum RaftStoreError {
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    #[error("tree store: {0}")]
    TreeStore(#[from] StoreError),
    #[error("tree snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("file I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding: {0}")]
    Encoding(#[from] postcard::Error),
    #[error("a blocking storage task did not complete: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{file} was written by format version {found}; this build reads {expected}")]
    UnsupportedFormat {
        file: &'static str,
        found: u64,
        expected: u64,
    },
    #[error("the tree store's writer failed: {0}")]
    TreeWriterFailed(String),
    #[error("stored Raft state is corrupt: {0}")]
    Corrupt(String),
    #[error("log index {0} is beyond the largest zxid")]
    IndexBeyondZxid(u64),
    #[error(
        "the apply observer did not take a batch for {waited_ms} ms; the node stops rather than \
         leave clients and watches unanswered"
    )]
    ObserverStalled { waited_ms: u64 },
    #[error("the apply observer's receiver is gone; the node can no longer answer clients")]
    ObserverClosed,
}

impl RaftStoreError {
    /// Wraps any of redb's specific error types.
    pub(crate) fn redb(error: impl Into<redb::Error>) -> RaftStoreError {
        RaftStoreError::Redb(error.into())
    }

    /// Openraft's error for this failure of `verb` on `subject`.
    pub(crate) fn into_storage_error(
        self,
        subject: ErrorSubject<crate::NodeId>,
        verb: ErrorVerb,
    ) -> StorageError {
        StorageError::from(StorageIOError::new(subject, verb, AnyError::new(&self)))
    }
}
