//! The service core: the one thread that owns the znode tree.
//!
//! Connections never touch the tree. They send [`Command`]s to the core, which processes them in
//! arrival order, in batches: it applies every write of a batch to the in-memory tree (assigning
//! zxids and the commit time), answers reads from the state as it stands at that point of the
//! batch, commits the batch's changes to storage in one durable transaction, and only then releases
//! the batch's responses and watch events. So:
//!
//! - a response never reports a change that is not yet durable (single-node durability; the quorum
//!   issue replaces the local commit with a Raft commit);
//! - a session's requests are answered in order (one FIFO queue per connection);
//! - a watch event is queued at the moment its change is applied, so it reaches a client before any
//!   response that reflects the change — ZooKeeper's ordering guarantee;
//! - one fsync serves a whole batch (group commit).
//!
//! The core is a plain thread, not an async task, because a redb commit blocks on fsync.

mod clock;
mod command;
mod core;
mod requests;
mod sessions;

pub use self::clock::Clock;
pub use self::command::{Command, ConnectionId, Outbound};
pub use self::core::{Core, CoreConfig, CoreHandle, CoreStatus};
