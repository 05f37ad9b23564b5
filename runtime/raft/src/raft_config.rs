//! Polis's openraft configuration: timing, replication batches, snapshots and log purging.

use openraft::{Config, ConfigError, SnapshotPolicy};

use crate::LogCompaction;

/// A snapshot is built once this many entries were applied since the last one. The tree's
/// snapshot of a large tree takes about a second to write and blocks applying meanwhile, so
/// snapshots should be rare; 10,000 entries are a few seconds of peak write load.
pub const SNAPSHOT_INTERVAL_ENTRIES: u64 = 10_000;

/// Entries kept in the log after a snapshot covers them. A follower that is at most this far
/// behind catches up from the log, which is far cheaper than receiving a whole snapshot.
pub const SNAPSHOT_LOG_ENTRIES_KEPT: u64 = 1_000;

/// Purging happens once at least this many entries can go, so each purge (one fsynced redb
/// transaction) removes many entries rather than a few.
pub const PURGE_BATCH_ENTRIES: u64 = 256;

/// A follower further behind than this is sent a snapshot instead of entries. Openraft requires it
/// to exceed the snapshot interval, or a snapshot could not close the gap.
pub const REPLICATION_LAG_THRESHOLD_ENTRIES: u64 = 2 * SNAPSHOT_INTERVAL_ENTRIES;

/// The most entries in one replication message (also bounded in bytes by
/// [`crate::LOG_READ_BYTES_MAX`]).
pub const REPLICATION_BATCH_ENTRIES_MAX: u64 = 256;

/// The leader's heartbeat interval.
pub const HEARTBEAT_INTERVAL_MS: u64 = 100;

/// The election timeout range. At least a few heartbeats long so that one lost heartbeat does not
/// start an election, and randomised across the range so that candidates rarely collide (Raft
/// §5.2).
pub const ELECTION_TIMEOUT_MIN_MS: u64 = 500;
pub const ELECTION_TIMEOUT_MAX_MS: u64 = 1_000;

/// The largest snapshot chunk sent in one message.
pub const SNAPSHOT_CHUNK_BYTES_MAX: u64 = 1024 * 1024;

/// How long sending and installing one snapshot chunk may take.
pub const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 10_000;

/// The openraft configuration of a Polis cluster named `cluster_name`, validated (openraft's
/// `ConfigError` is large, hence boxed), with the default [`LogCompaction`].
///
/// Log purging follows snapshots: once a snapshot covers entries, openraft purges the log up to
/// `SNAPSHOT_LOG_ENTRIES_KEPT` entries before the snapshot's last entry, in batches of at least
/// `PURGE_BATCH_ENTRIES`. It never purges past the snapshot, and every snapshot the state machine
/// builds or installs is also a durable checkpoint, so a restart always finds the entries after
/// its checkpoint in the log.
pub fn polis_raft_config(cluster_name: &str) -> Result<Config, Box<ConfigError>> {
    polis_raft_config_with(cluster_name, &LogCompaction::default())
}

/// [`polis_raft_config`] with other snapshot and purge thresholds.
pub fn polis_raft_config_with(
    cluster_name: &str,
    compaction: &LogCompaction,
) -> Result<Config, Box<ConfigError>> {
    Config {
        cluster_name: cluster_name.to_string(),
        heartbeat_interval: HEARTBEAT_INTERVAL_MS,
        election_timeout_min: ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: ELECTION_TIMEOUT_MAX_MS,
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
        max_payload_entries: REPLICATION_BATCH_ENTRIES_MAX,
        replication_lag_threshold: compaction.replication_lag_threshold_entries(),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(compaction.snapshot_interval_entries),
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES_MAX,
        max_in_snapshot_log_to_keep: compaction.snapshot_log_entries_kept,
        purge_batch_size: compaction.purge_batch_entries,
        ..Config::default()
    }
    .validate()
    .map_err(Box::new)
}
