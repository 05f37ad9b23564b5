//! The synchronous hook through which a node's server sees every applied entry at the moment it
//! is applied.
//!
//! ZooKeeper's server fires watches in the same single thread that applies a transaction to the
//! tree, so a reader can never see a change whose watch has not fired yet, and a watch set by a
//! read can never miss the next change. The state machine gives the same guarantee by calling
//! the hook while it holds the tree's write lock, after each entry: a reader that takes the read
//! lock afterwards finds both the new tree and the watches already triggered. The hook must
//! therefore be quick and must never block (queue work; do not await it).

use polis_tree::{Applied, DataTree};

use crate::LogId;

/// What the server does when an entry is applied or a snapshot replaces the tree.
pub trait ApplyHook: Send + Sync {
    /// An entry was applied: `applied` holds its zxid, result and watch events; `tree` is the
    /// state right after it.
    fn applied(&self, log_id: &LogId, applied: &Applied, tree: &DataTree);

    /// A snapshot replaced the whole tree (this node fell behind the leader's purged log).
    fn snapshot_installed(&self, tree: &DataTree);
}
