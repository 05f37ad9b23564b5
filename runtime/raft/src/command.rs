//! The application command carried by a normal Raft log entry.

use polis_tree::TxnKind;
use serde::{Deserialize, Serialize};

/// What a leader proposes: one tree transaction without its zxid.
///
/// The zxid is not known when proposing: it becomes the index of the log entry the command lands
/// in, which openraft assigns when the leader appends it. Time, on the other hand, must be fixed
/// by the proposer, because every replica applies the entry at a different moment and must still
/// compute the same `ctime`/`mtime` and the same TTL expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The leader's clock when it proposed the command, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub kind: TxnKind,
}

impl Command {
    pub fn new(time_ms: i64, kind: TxnKind) -> Command {
        Command { time_ms, kind }
    }
}

impl Default for Command {
    /// A no-op at time zero. Openraft's storage test suite needs a default command; Polis never
    /// proposes one.
    fn default() -> Command {
        Command {
            time_ms: 0,
            kind: TxnKind::Noop,
        }
    }
}
