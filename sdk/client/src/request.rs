//! What callers hand to the connection driver, and what the driver remembers about requests on
//! the wire until their answers arrive.

use polis_proto::wire;
use polis_tree::{WatchEvent, WatchKind};
use tokio::sync::oneshot;

use crate::Error;
use crate::watch_book::PersistentWatch;

/// Where a one-shot watch's event goes.
pub(crate) type OneShotSender = oneshot::Sender<Result<WatchEvent, Error>>;

/// Where a call's answer goes: the raw response, which the caller converts.
pub(crate) type ReplySender = oneshot::Sender<Result<wire::Response, Error>>;

/// A message from a [`crate::Client`] handle (or a dropped stream) to the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Call(Call),
    /// A watch stream was dropped; the driver removes the server's watch if no stream is left.
    WatchDropped {
        path: String,
        kind: WatchKind,
    },
}

/// One request of a caller.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) op: wire::request::Op,
    pub(crate) reply: ReplySender,
    pub(crate) watch: WatchIntent,
    /// The server may answer from its local copy without asking the leader (a read of a
    /// [`crate::ReadConsistency::Local`] handle).
    pub(crate) allow_stale: bool,
}

/// The watch a call sets, if any.
#[derive(Debug)]
pub(crate) enum WatchIntent {
    None,
    /// A one-shot watch, registered when the successful answer arrives: the server registers it
    /// while answering, so no event for it can precede the answer (ZooKeeper's client registers
    /// its watchers in `finishPacket` for the same reason).
    OneShot {
        kind: WatchKind,
        path: String,
        sender: OneShotSender,
    },
    /// A persistent watch, registered when the request is written: with `resume_after_zxid` the
    /// server replays past events before its answer, so the stream must already be listening.
    Persistent(PersistentWatch),
}

/// A request written to the connection and not yet answered.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) xid: u64,
    pub(crate) purpose: Purpose,
}

/// Who waits for an answer.
#[derive(Debug)]
pub(crate) enum Purpose {
    Call {
        reply: ReplySender,
        watch: PendingWatch,
    },
    Ping,
    /// Re-registration of the watches after a reconnect.
    SetWatches,
    /// Re-sending an `AddAuth` after a reconnect.
    ReplayAuth,
    /// Removing the server's watch after its last stream was dropped.
    RemoveWatch,
    Close {
        done: oneshot::Sender<()>,
    },
}

/// The watch of a call on the wire.
#[derive(Debug)]
pub(crate) enum PendingWatch {
    None,
    OneShot {
        kind: WatchKind,
        path: String,
        sender: OneShotSender,
    },
    /// Already in the book under this id; removed again if the request fails.
    Persistent {
        id: u64,
    },
}
