//! The kinds of watch a stream can follow.

use polis_tree::WatchKind;

/// The mode of a [`crate::WatchStream`], as ZooKeeper 3.6's `AddWatchMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// Every event of the path itself (created, deleted, data changed, children changed), and the
    /// watch stays after firing.
    Persistent,
    /// Created, deleted and data-changed events of the path and all its descendants, but not
    /// children-changed events (a descendant's creation already says it).
    PersistentRecursive,
}

impl WatchMode {
    pub(crate) fn kind(self) -> WatchKind {
        match self {
            WatchMode::Persistent => WatchKind::Persistent,
            WatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
        }
    }
}
