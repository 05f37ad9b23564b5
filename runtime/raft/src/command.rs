//! The application command carried by a normal Raft log entry, and how its transactions are
//! numbered.

use polis_tree::{TxnKind, Zxid};
use serde::{Deserialize, Serialize};

use crate::RaftStoreError;

/// How many zxids one log entry spans: the transactions of the entry at log index `i` get the
/// zxids `i * ZXIDS_PER_ENTRY`, `i * ZXIDS_PER_ENTRY + 1`, … in the order they are packed.
///
/// Packing many transactions into one entry is Polis's group commit: openraft 0.9 flushes the
/// log once per appended entry and waits for that flush before it takes the next client write,
/// so one entry per transaction bounds a leader at one transaction per fsync. ZooKeeper's
/// `SyncRequestProcessor` batches the same way, many transactions per log flush. Numbering by
/// multiplication keeps the zxid a pure function of the log position, which the rest of the
/// quorum core relies on: a restart finds its place in the log from the tree's zxid alone
/// ([`entry_index_of_zxid`]), and a ReadIndex names the first zxid of its entry. Zxids are
/// still strictly increasing, as ZooKeeper clients require; they are no longer consecutive,
/// which ZooKeeper's do not promise either (a new epoch jumps by 2^32).
pub const ZXIDS_PER_ENTRY: u64 = 1 << 12;

/// The most transactions one entry may carry (every one needs its own zxid inside the entry's
/// span).
pub const TXNS_PER_ENTRY_MAX: usize = ZXIDS_PER_ENTRY as usize;

/// The zxid of the transaction at `position` inside the entry at log `index`.
pub fn zxid_of(index: u64, position: usize) -> Result<Zxid, RaftStoreError> {
    assert!(
        position < TXNS_PER_ENTRY_MAX,
        "position {position} beyond an entry's zxids"
    );
    index
        .checked_mul(ZXIDS_PER_ENTRY)
        .and_then(|first| first.checked_add(position as u64))
        .and_then(|zxid| Zxid::try_from(zxid).ok())
        .ok_or(RaftStoreError::IndexBeyondZxid(index))
}

/// The first zxid of the entry at log `index`: once the tree has applied it, the whole entry is
/// applied (an entry applies under one hold of the tree's lock). A linearizable read waits for
/// the first zxid of its ReadIndex entry.
pub fn first_zxid_of_entry(index: u64) -> Result<Zxid, RaftStoreError> {
    zxid_of(index, 0)
}

/// The log index of the entry that holds `zxid`.
pub fn entry_index_of_zxid(zxid: Zxid) -> Result<u64, RaftStoreError> {
    let zxid = u64::try_from(zxid)
        .map_err(|_| RaftStoreError::Corrupt(format!("negative zxid {zxid}")))?;
    Ok(zxid / ZXIDS_PER_ENTRY)
}

/// How many log entries lie after the one holding `behind`, up to the one holding `ahead`: the
/// distance a person can read, where a difference of zxids (each entry spans
/// [`ZXIDS_PER_ENTRY`] of them) is not. Zero when `ahead` is not past `behind`.
pub fn entries_between(behind: Zxid, ahead: Zxid) -> u64 {
    let index = |zxid: Zxid| u64::try_from(zxid).unwrap_or(0) / ZXIDS_PER_ENTRY;
    index(ahead).saturating_sub(index(behind))
}

/// What a leader proposes: tree transactions without their zxids, applied in order as separate
/// transactions (not as one `multi`: one failing does not undo the others).
///
/// The zxids are not known when proposing: they follow from the index of the log entry the
/// command lands in ([`zxid_of`]), which openraft assigns when the leader appends it. Time, on
/// the other hand, must be fixed by the proposer, because every replica applies the entry at a
/// different moment and must still compute the same `ctime`/`mtime` and the same TTL expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The leader's clock when it proposed the command, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// At least one, at most [`TXNS_PER_ENTRY_MAX`].
    pub txns: Vec<TxnKind>,
}

impl Command {
    /// A command of one transaction.
    pub fn new(time_ms: i64, kind: TxnKind) -> Command {
        Command::batch(time_ms, vec![kind])
    }

    /// A command of several transactions, applied in this order.
    pub fn batch(time_ms: i64, txns: Vec<TxnKind>) -> Command {
        assert!(!txns.is_empty(), "a command carries a transaction");
        assert!(
            txns.len() <= TXNS_PER_ENTRY_MAX,
            "{} transactions exceed an entry's zxids",
            txns.len()
        );
        Command { time_ms, txns }
    }
}

impl Default for Command {
    /// A no-op at time zero. Openraft's storage test suite needs a default command; Polis never
    /// proposes one.
    fn default() -> Command {
        Command::new(0, TxnKind::Noop)
    }
}
