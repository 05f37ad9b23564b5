//! Watch events: what applying a transaction tells watchers.

use serde::{Deserialize, Serialize};

use crate::Zxid;

/// The kind of a watch event, with ZooKeeper's `Watcher.Event.EventType` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// One change to the tree, as watchers see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchEvent {
    /// The zxid of the transaction that made the change. All events of one transaction (a multi,
    /// a session close) share its zxid.
    pub zxid: Zxid,
    pub kind: EventKind,
    pub path: String,
}
