//! Changes of a session's connection, as broadcast to observers.

use polis_tree::SessionId;

/// A change of the client's connection or session, sent on [`crate::Client::session_events`].
///
/// These are ZooKeeper's state-change events (`SyncConnected`, `Disconnected`, `Expired`,
/// `AuthFailed`, `Closed`), with reconnection to the same session told apart from the first
/// connection so that an application can tell "nothing was lost" from "start over".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session's first connection is established. It is sent while
    /// [`crate::Client::connect`] runs, before anyone can subscribe, so observers normally start
    /// with the client already connected and see only the later events.
    Connected { session_id: SessionId },
    /// The connection broke; in-flight calls failed with [`crate::Error::ConnectionLoss`] and
    /// the client is reconnecting. Ephemeral nodes and watches survive if it succeeds within the
    /// session timeout.
    Disconnected,
    /// Connected again to the same session (possibly on another server); watches have been
    /// re-registered and missed events are being replayed.
    Reconnected { session_id: SessionId },
    /// The session expired: its ephemerals are deleted and its watches are gone.
    Expired { session_id: SessionId },
    /// The server refused this client's credentials; the client stopped.
    AuthFailed { reason: String },
    /// The client was closed.
    Closed,
}
