//! What a batch of applied transactions changed, for the storage layer to persist.

use std::collections::BTreeMap;

use crate::{HistoryEntry, NodeRecord, Session, SessionId, Zxid};

/// The net effect of the transactions applied since the last [`crate::DataTree::take_changes`].
///
/// A store writes a change set in one atomic transaction, so the stored state always equals the
/// tree after some whole batch. Entries hold the final value of each touched key (`None`: deleted),
/// so a node created and deleted within one batch costs one delete of an absent key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Nodes to write (with their parent, for the children index) or delete.
    pub nodes: BTreeMap<String, Option<NodeRecord>>,
    /// Sessions to write or delete.
    pub sessions: BTreeMap<SessionId, Option<Session>>,
    /// Sessions' records of recent writes to write or delete.
    pub session_writes: BTreeMap<SessionId, Option<crate::SessionWrites>>,
    /// History entries appended, in order.
    pub history_appended: Vec<HistoryEntry>,
    /// Entries with a sequence number below this one have left the history window.
    pub history_first_retained_seq: u64,
    /// The highest zxid whose events have left the history window.
    pub history_compacted_through: Zxid,
    /// The sequence number the next history entry will get (kept even when the window is empty).
    pub history_next_seq: u64,
    /// The zxid of the last applied transaction.
    pub last_zxid: Zxid,
    /// The commit time of the last applied transaction that carried one.
    pub last_time_ms: i64,
    /// The cluster's limits, if a `SetLimits` changed them.
    pub limits: Option<crate::Limits>,
}

impl ChangeSet {
    /// True if nothing but possibly the zxid changed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
            && self.sessions.is_empty()
            && self.session_writes.is_empty()
            && self.history_appended.is_empty()
            && self.limits.is_none()
    }
}
