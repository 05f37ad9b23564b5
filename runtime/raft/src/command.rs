//! The application command carried by a normal Raft log entry, and how its transactions are
//! numbered.

use polis_tree::{TxnKind, ZXIDS_PER_ENTRY, Zxid};
use serde::{Deserialize, Serialize};

use crate::RaftStoreError;

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
