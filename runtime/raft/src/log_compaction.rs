//! When a node snapshots its tree and purges the log the snapshot covers.

use serde::{Deserialize, Serialize};

use crate::{PURGE_BATCH_ENTRIES, SNAPSHOT_INTERVAL_ENTRIES, SNAPSHOT_LOG_ENTRIES_KEPT};

/// Snapshot and log-purge thresholds (openraft's `snapshot_policy`,
/// `max_in_snapshot_log_to_keep` and `purge_batch_size`). The defaults suit production; tests set
/// small values so that a few hundred writes push a stopped follower behind the purge point,
/// where only a snapshot can bring it back (Raft §7).
///
/// ```toml
/// [cluster.log_compaction]
/// snapshot_interval_entries = 10000
/// snapshot_log_entries_kept = 1000
/// purge_batch_entries = 256
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogCompaction {
    /// A snapshot is built once this many entries were applied since the last one.
    pub snapshot_interval_entries: u64,
    /// Entries kept in the log behind a snapshot, for followers a little behind.
    pub snapshot_log_entries_kept: u64,
    /// Purging waits until at least this many entries can go at once.
    pub purge_batch_entries: u64,
}

impl Default for LogCompaction {
    fn default() -> LogCompaction {
        LogCompaction {
            snapshot_interval_entries: SNAPSHOT_INTERVAL_ENTRIES,
            snapshot_log_entries_kept: SNAPSHOT_LOG_ENTRIES_KEPT,
            purge_batch_entries: PURGE_BATCH_ENTRIES,
        }
    }
}

impl LogCompaction {
    /// A follower further behind than this is not yet caught up when a learner is added
    /// (openraft's `replication_lag_threshold`). It must exceed the snapshot interval, or a
    /// snapshot could not close the gap.
    pub fn replication_lag_threshold_entries(&self) -> u64 {
        self.snapshot_interval_entries.saturating_mul(2)
    }

    /// Refuses thresholds openraft cannot work with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.snapshot_interval_entries == 0 {
            return Err("snapshot_interval_entries must be positive".to_string());
        }
        if self.purge_batch_entries == 0 {
            return Err("purge_batch_entries must be positive".to_string());
        }
        Ok(())
    }
}
