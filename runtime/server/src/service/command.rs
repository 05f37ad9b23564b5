//! What connections ask of the core, and how the core answers.

use std::sync::Arc;
use std::time::Instant;

use polis_proto::wire;
use polis_tree::{Id, SessionId};
use tokio::sync::{mpsc, oneshot};

/// Identifies one client connection, so that a message from a connection that has since lost its
/// session (to a newer connection) is recognised and ignored.
pub type ConnectionId = u64;

/// The queue of frames the core sends to one connection. Bounded: a client that does not read is
/// disconnected rather than allowed to grow the server's memory.
pub type Outbound = mpsc::Sender<wire::ServerMessage>;

/// A message from a connection (or the server's timer) to the core.
#[derive(Debug)]
pub enum Command {
    /// Open or resume a session. The answer goes to `reply`; from then on the core sends the
    /// session's responses and events to `outbound`.
    Connect {
        connection_id: ConnectionId,
        connect: wire::Connect,
        identities: Arc<[Id]>,
        outbound: Outbound,
        reply: oneshot::Sender<wire::Connected>,
    },
    /// One request of an attached session.
    Request {
        connection_id: ConnectionId,
        session_id: SessionId,
        identities: Arc<[Id]>,
        request: wire::Request,
        received_at: Instant,
    },
    /// The connection is gone; the session lives on until it expires or is resumed.
    Detach {
        connection_id: ConnectionId,
        session_id: SessionId,
    },
    /// Time passed: expire sessions, remove expired containers and TTL nodes.
    Tick,
}
