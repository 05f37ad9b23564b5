//! ZooKeeper's exclusive lock recipe, with a fencing token.

use polis_tree::{Zxid, path};

use super::participant::{Participant, ranked, retrying, vanished};
use crate::{Client, Error};

/// The name prefix of lock participants' nodes.
const LOCK_PREFIX: &str = "lock-";

/// ZooKeeper's lock recipe: each contender creates an ephemeral-sequential child of the lock
/// path; the lowest sequence number holds the lock; every other contender watches only the child
/// just before its own, so a release wakes exactly one waiter.
///
/// The lock is lost if the session expires (the node is ephemeral), which the holder may learn
/// late: guard the protected resource with [`LockGuard::fencing_token`] (see [`crate::recipes`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Lock;

impl Lock {
    /// Waits until this client holds the lock at `lock_path` (created if missing).
    ///
    /// Cancelling the returned future (dropping it, e.g. in a timeout) withdraws from the queue.
    pub async fn acquire(client: &Client, lock_path: &str) -> Result<LockGuard, Error> {
        let me = Participant::join(client, lock_path, LOCK_PREFIX, &[]).await?;
        loop {
            let (children, _) = retrying(client, || client.get_children(lock_path)).await?;
            let contenders = ranked(&children, LOCK_PREFIX);
            let position = contenders
                .iter()
                .position(|name| name == me.name())
                .ok_or_else(|| vanished(me.node_path()))?;
            let Some(predecessor) = position.checked_sub(1).map(|index| &contenders[index]) else {
                return Ok(LockGuard { participant: me });
            };
            let predecessor = path::join(lock_path, predecessor);
            let (stat, watch) = retrying(client, || client.exists_watch(&predecessor)).await?;
            if stat.is_some() {
                // Any event (normally its deletion) means: look again.
                watch.await?;
            }
        }
    }

    /// Takes the lock if nobody holds it or waits for it; `None` otherwise.
    pub async fn try_acquire(client: &Client, lock_path: &str) -> Result<Option<LockGuard>, Error> {
        let me = Participant::join(client, lock_path, LOCK_PREFIX, &[]).await?;
        let (children, _) = retrying(client, || client.get_children(lock_path)).await?;
        let contenders = ranked(&children, LOCK_PREFIX);
        if contenders.first().map(String::as_str) == Some(me.name()) {
            return Ok(Some(LockGuard { participant: me }));
        }
        me.leave().await?;
        Ok(None)
    }
}

/// A held lock. Release it with [`LockGuard::release`]; dropping it releases in the background.
#[derive(Debug)]
pub struct LockGuard {
    participant: Participant,
}

impl LockGuard {
    /// The fencing token of this grant: the zxid that created this holder's node. Every later
    /// grant of the same lock has a larger one, so a resource that refuses tokens below the
    /// highest it has seen is safe from a holder that was paused past its session.
    pub fn fencing_token(&self) -> Zxid {
        self.participant.czxid()
    }

    /// The path of this holder's node.
    pub fn node_path(&self) -> &str {
        self.participant.node_path()
    }

    /// The client (and session) that holds the lock.
    pub fn client(&self) -> &Client {
        self.participant.client()
    }

    /// Releases the lock and waits for the server to confirm.
    pub async fn release(self) -> Result<(), Error> {
        self.participant.leave().await
    }
}
