//! Coordination recipes on top of [`crate::Client`], each granting a **fencing token**.
//!
//! The recipes are ZooKeeper's (the "Recipes and Solutions" page, and Curator's implementations):
//! every participant creates an ephemeral-sequential node under the recipe's path, the order of
//! the sequence numbers decides, and each participant watches only the node just before its own,
//! so one release wakes one waiter instead of all of them (the herd effect).
//!
//! # Why fencing tokens
//!
//! A lock from a coordination service does not by itself make a resource safe. The holder can be
//! paused (a garbage-collection stop, a swapped-out process, a VM migration) for longer than its
//! session timeout; the service then expires the session, deletes the lock node and grants the
//! lock to the next participant, while the paused process, once it wakes, still believes it holds
//! the lock and writes to the resource. Martin Kleppmann's "How to do distributed locking" (2016)
//! and Jepsen's analyses of lock services describe exactly this failure. No client-side check
//! closes the gap, because the pause can fall between the check and the write.
//!
//! The remedy is a token that grows with every grant, sent with every write to the resource,
//! which remembers the highest token it has accepted and refuses any lower one. Here the token is
//! a zxid, which totally orders every change the ensemble ever made: for the lock and the leader
//! election it is the `czxid` of the participant's own node, and since grants follow creation
//! order, every later grant has a larger token; for the barrier it is the zxid of the node whose
//! creation completed the barrier. A stale holder's writes then fail at the resource, however long
//! it was paused.
//!
//! # Connection loss and expiry
//!
//! Participant nodes are created in ZooKeeper's "protected" way (Curator's
//! `withProtection`): the name carries a random marker, so that after a connection loss during
//! the create the client finds its node again instead of leaving an orphan that would block
//! everyone. Reads are retried across connection losses. A session expiry ends the recipe with
//! [`crate::Error::SessionExpired`]: the participant's node is gone, and so is whatever it held.
//!
//! Dropping a guard without releasing it deletes its node in the background (best effort; the
//! session's end deletes it anyway).

mod barrier;
mod leader_election;
mod lock;
mod participant;

pub use barrier::{Barrier, BarrierPass};
pub use leader_election::{LeaderElection, LeaderInfo, Leadership};
pub use lock::{Lock, LockGuard};
