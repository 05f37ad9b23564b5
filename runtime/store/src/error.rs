//! Storage errors.

use polis_tree::SnapshotError;

/// Why a storage operation failed. After an error from [`crate::TreeStore::commit`], nothing of
/// that batch is stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("the store was written by format version {found}; this build reads {expected}")]
    UnsupportedFormat { found: i64, expected: i64 },
}

impl StoreError {
    /// Wraps any of redb's specific error types.
    pub(crate) fn redb(error: impl Into<redb::Error>) -> StoreError {
        StoreError::Redb(error.into())
    }
}
