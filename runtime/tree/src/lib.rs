//! The znode tree of Polis: a pure, deterministic state machine.
//!
//! Every replica applies the same committed transactions ([`Txn`]) in the same order and must end
//! in the same state, byte for byte. So nothing in this crate reads a clock, draws a random number
//! or touches a file or socket: the commit time and the zxid arrive inside each transaction, and
//! session passwords are chosen by the proposer. The storage, networking and consensus layers are
//! shells around this crate.
//!
//! The semantics follow Apache ZooKeeper 3.9 (`DataTree`, `PrepRequestProcessor`, `WatchManager`):
//! the same node kinds, the same `Stat` fields, the same error codes and watch trigger rules, so
//! that ZooKeeper clients can later speak to Polis unchanged.
//!
//! Main types, one per module:
//! - [`DataTree`]: the replicated state (znodes, sessions, change history) and `apply`.
//! - [`WatchRegistry`]: a server's registered watches and ZooKeeper's trigger rules.
//! - [`SessionTracker`]: leader-local session liveness (renewals and expiry deadlines).
//! - [`ChangeHistory`]: the bounded window of past events that lets a watcher resume from a zxid.
//! - [`Limits`]: every bound the tree enforces.

mod acl;
mod change;
mod child_names;
mod entry_zxids;
mod error;
mod event;
mod history;
mod limits;
mod node;
mod op;
pub mod path;
mod quota;
mod session;
mod session_tracker;
mod session_writes;
mod snapshot;
mod stat;
mod tree;
mod watch;
mod watch_replay;

pub use acl::{Acl, AclList, Id, Perms, allows};
pub use change::ChangeSet;
pub use entry_zxids::{ZXIDS_PER_ENTRY, entries_between};
pub use error::{ErrorCode, TreeError};
pub use event::{EventKind, WatchEvent};
pub use history::{ChangeHistory, HistoryEntry};
pub use limits::Limits;
pub use node::{CreateMode, NodeKind, NodeRecord, NodeRecordWithoutNull};
pub use op::{Caller, CloseReason, MultiOpResult, OpResult, Txn, TxnKind, TxnResult, WriteOp};
pub use quota::{
    QUOTA_LIMITS_NODE, QUOTA_ROOT, QUOTA_STATS_NODE, QuotaLimits, QuotaUsage, ZOOKEEPER_PATH,
};
pub use session::{Session, SessionTable};
pub use session_tracker::SessionTracker;
pub use session_writes::{
    AppliedWrite, SESSION_WRITES_KEPT_MAX, SessionWrites, WRITE_RESULT_KEPT_BYTES_MAX,
};
pub use snapshot::{SNAPSHOT_FORMAT_VERSION, SnapshotError, SnapshotReader, SnapshotWriter};
pub use stat::Stat;
pub use tree::{Applied, Children, DataTree, TreeState};
pub use watch::{WatchKind, WatchRegistry};
pub use watch_replay::{WatchReplay, replay_watches};

/// A ZooKeeper transaction id: the position of a committed transaction in the replicated log.
///
/// Polis derives it from the Raft log index, which is strictly increasing across leader changes:
/// the transactions packed into the entry at index `i` get `i × 4096`, `i × 4096 + 1`, … (see
/// `polis_raft::zxid_of`), so a zxid orders every change the service ever made. Zero means
/// "before the first transaction".
pub type Zxid = i64;

/// A session id. Ids are the zxid of the transaction that opened the session, so they are unique,
/// deterministic on every replica and never reused. Zero is the system session (leader-proposed
/// clean-ups and internal writes), which owns no ephemerals.
pub type SessionId = i64;

/// The session id of the system itself.
pub const SYSTEM_SESSION_ID: SessionId = 0;

/// The path under which Polis keeps its own state; only super (admin) identities may write it.
pub const SYSTEM_PATH: &str = "/polis";
