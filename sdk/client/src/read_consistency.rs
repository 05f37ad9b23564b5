//! How fresh a read must be.

/// What a read may return, chosen per client handle with [`crate::Client::with_read_consistency`].
///
/// Polis is stricter than ZooKeeper by default: ZooKeeper serves every read from the local
/// replica (sequentially consistent, possibly behind the leader, unless the client calls `sync`
/// first), while a Polis read is linearizable unless the caller opts out. Writes, `sync` and
/// session operations are the same under either setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// The read reflects every write acknowledged before it was sent, whichever node serves it:
    /// the server asks the leader for its commit index (Raft's ReadIndex, §8) and waits until it
    /// has applied that far. Needs a reachable leader and a quorum; without one the read fails
    /// with ZooKeeper's `ConnectionLoss` ([`crate::Error::is_connection_loss`]) rather than
    /// answering with old data.
    #[default]
    Linearizable,
    /// The server answers from its own copy of the tree at once, without asking the leader:
    /// faster, and available on a node cut off from the leader or the quorum (a learner in a
    /// remote district keeps serving), but possibly behind the latest writes — ZooKeeper's
    /// ordinary read, and its read-only mode during a partition. A session still never sees
    /// the tree go back in time: it only reconnects to servers at least as new as what it saw.
    Local,
}

impl ReadConsistency {
    /// True if the request may be answered from the server's local, possibly stale copy.
    pub(crate) fn allows_stale(self) -> bool {
        self == ReadConsistency::Local
    }
}
