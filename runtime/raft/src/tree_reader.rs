//! Local reads of the tree, on leader and followers alike.

use std::fmt;
use std::sync::Arc;

use polis_tree::DataTree;
use tokio::sync::{RwLock, RwLockReadGuard};

use crate::LogId;
use crate::state_machine::MachineState;

/// A cheap, cloneable handle for reading the state machine's tree.
///
/// Reads see the state after some whole apply chunk, never a partly applied one. Whether that
/// state is fresh enough is the caller's decision: ZooKeeper serves reads from the local replica
/// (sequentially consistent per session); a linearizable read first asks the leader to confirm it
/// still leads (`Raft::ensure_linearizable`) and waits until [`TreeReader::last_applied`] reaches
/// the returned log id.
#[derive(Clone)]
pub struct TreeReader {
    state: Arc<RwLock<MachineState>>,
}

impl fmt::Debug for TreeReader {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("TreeReader").finish_non_exhaustive()
    }
}

impl TreeReader {
    pub(crate) fn new(state: Arc<RwLock<MachineState>>) -> TreeReader {
        TreeReader { state }
    }

    /// Read access to the tree. Hold the guard briefly: applying waits while it is held.
    pub async fn read(&self) -> RwLockReadGuard<'_, DataTree> {
        RwLockReadGuard::map(self.state.read().await, |state| &state.tree)
    }

    /// Read access from a thread outside the async runtime, such as a plugin invocation running
    /// on a blocking thread. Hold the guard briefly, as with [`TreeReader::read`]; calling it
    /// from an async task panics (tokio's rule), so only blocking threads may.
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, DataTree> {
        RwLockReadGuard::map(self.state.blocking_read(), |state| &state.tree)
    }

    /// The log id of the last applied entry (the tree's zxid is its index).
    pub async fn last_applied(&self) -> Option<LogId> {
        self.state.read().await.last_applied
    }

    /// A handle that tells when every holder of the state machine has let go of it, and with it
    /// of the tree store's file (whose writer thread finishes its queue and is joined then).
    pub fn closing(&self) -> StateMachineClosing {
        StateMachineClosing {
            state: Arc::downgrade(&self.state),
        }
    }
}

/// Watches the state machine close: see [`TreeReader::closing`].
pub struct StateMachineClosing {
    state: std::sync::Weak<RwLock<MachineState>>,
}

impl fmt::Debug for StateMachineClosing {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("StateMachineClosing")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl StateMachineClosing {
    /// Whether the state machine and its files are closed: no handle to it is left.
    pub fn is_closed(&self) -> bool {
        self.state.strong_count() == 0
    }
}
