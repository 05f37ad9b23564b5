//! How the server on every node learns what the state machine applied.

use std::time::Duration;

use openraft::Membership;
use polis_tree::{Applied, Zxid};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;

use crate::{LogId, NodeId, PeerNode, RaftStoreError};

/// How long applying waits for room in a full observer channel before it gives up and fails the
/// node. A full channel first slows applying down (back-pressure: openraft then buffers committed
/// entries and the leader's proposals queue up), which absorbs bursts; a consumer that takes
/// nothing for this long is stuck, and Raft must not wait on it forever, so the state machine
/// returns [`RaftStoreError::ObserverStalled`], which openraft treats as a fatal storage error.
pub const APPLY_OBSERVER_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel capacity that suits a server: with applies chunked to at most
/// [`crate::APPLY_CHUNK_ENTRIES_MAX`] entries, this many notices hold a few hundred thousand
/// applied entries before back-pressure starts.
pub const APPLY_NOTICES_CAPACITY_DEFAULT: usize = 256;

/// What the state machine tells its observer, in apply order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyNotice {
    /// Entries were applied (one apply chunk).
    Applied(AppliedBatch),
    /// The whole tree was replaced by a snapshot from the leader: the observer cannot know which
    /// nodes changed, so it must treat every watch as possibly triggered (ZooKeeper's server does
    /// the same after a SNAP sync) and clients resuming from a zxid at or below `zxid` read the
    /// tree's change history, which the snapshot carries.
    SnapshotInstalled {
        last_log_id: Option<LogId>,
        zxid: Zxid,
    },
}

/// The entries of one apply chunk, in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedBatch {
    pub entries: Vec<AppliedEntry>,
}

/// One applied log entry: its position, what the tree made of it and, for a membership entry,
/// the new membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedEntry {
    pub log_id: LogId,
    /// The tree's result: zxid (the log index), result and watch events. Blank and membership
    /// entries apply as `TxnKind::Noop`.
    pub applied: Applied,
    pub membership: Option<Membership<NodeId, PeerNode>>,
}

/// The sending side of the observer channel, with its stall bound.
///
/// The state machine sends after releasing the tree's write lock, so a consumer that reads the
/// tree on a notice sees at least the state the notice describes.
#[derive(Clone, Debug)]
pub struct ApplyObserver {
    sender: mpsc::Sender<ApplyNotice>,
    stall_timeout: Duration,
}

impl ApplyObserver {
    /// An observer sending on `sender`, failing the node after [`APPLY_OBSERVER_STALL_TIMEOUT`].
    pub fn new(sender: mpsc::Sender<ApplyNotice>) -> ApplyObserver {
        ApplyObserver {
            sender,
            stall_timeout: APPLY_OBSERVER_STALL_TIMEOUT,
        }
    }

    /// A new bounded channel of `capacity` notices and the observer sending on it.
    pub fn channel(capacity: usize) -> (ApplyObserver, mpsc::Receiver<ApplyNotice>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (ApplyObserver::new(sender), receiver)
    }

    /// The same observer with another stall bound.
    pub fn with_stall_timeout(self, stall_timeout: Duration) -> ApplyObserver {
        ApplyObserver {
            stall_timeout,
            ..self
        }
    }

    /// Sends a notice, waiting at most the stall bound for room.
    pub(crate) async fn notify(&self, notice: ApplyNotice) -> Result<(), RaftStoreError> {
        match self.sender.send_timeout(notice, self.stall_timeout).await {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(RaftStoreError::ObserverStalled {
                waited_ms: u64::try_from(self.stall_timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(SendTimeoutError::Closed(_)) => Err(RaftStoreError::ObserverClosed),
        }
    }
}
