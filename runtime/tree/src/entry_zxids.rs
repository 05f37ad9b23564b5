//! How zxids number the Raft log's entries: the one rule both the replicas and their clients
//! need, kept beside [`Zxid`] so that a client can count entries without the Raft crate.

use crate::Zxid;

/// How many zxids one log entry spans: the transactions of the entry at log index `i` get the
/// zxids `i * ZXIDS_PER_ENTRY`, `i * ZXIDS_PER_ENTRY + 1`, … in the order they are packed.
///
/// Packing many transactions into one entry is Polis's group commit: openraft 0.9 flushes the
/// log once per appended entry and waits for that flush before it takes the next client write,
/// so one entry per transaction bounds a leader at one transaction per fsync. ZooKeeper's
/// `SyncRequestProcessor` batches the same way, many transactions per log flush. Numbering by
/// multiplication keeps the zxid a pure function of the log position, which the rest of the
/// quorum core relies on: a restart finds its place in the log from the tree's zxid alone
/// (`polis_raft::entry_index_of_zxid`), and a ReadIndex names the first zxid of its entry. Zxids
/// are still strictly increasing, as ZooKeeper clients require; they are no longer consecutive,
/// which ZooKeeper's do not promise either (a new epoch jumps by 2^32).
pub const ZXIDS_PER_ENTRY: u64 = 1 << 12;

/// How many log entries lie after the one holding `behind`, up to the one holding `ahead`: the
/// distance a person can read, where a difference of zxids (each entry spans
/// [`ZXIDS_PER_ENTRY`] of them) is not. Zero when `ahead` is not past `behind`.
pub fn entries_between(behind: Zxid, ahead: Zxid) -> u64 {
    let index = |zxid: Zxid| u64::try_from(zxid).unwrap_or(0) / ZXIDS_PER_ENTRY;
    index(ahead).saturating_sub(index(behind))
}
