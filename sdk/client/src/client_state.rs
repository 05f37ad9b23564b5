//! Where a client's session stands.

/// The state of a client's connection and session, as ZooKeeper's `ZooKeeper.States`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Connected to a server, the session alive; calls are sent at once.
    Connected,
    /// The connection broke and the client is reconnecting to the same session. Calls made now
    /// wait (up to the request timeout) for the next connection and fail with
    /// [`crate::Error::ConnectionLoss`] if that attempt fails too, as in ZooKeeper.
    Disconnected,
    /// The server declared the session expired. Terminal.
    Expired,
    /// The server refused this client's certificate or session password. Terminal.
    AuthFailed,
    /// The client was closed. Terminal.
    Closed,
}

impl ClientState {
    /// True once the client can never be connected again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ClientState::Expired | ClientState::AuthFailed | ClientState::Closed
        )
    }

    /// The error a call gets once the client is in this terminal state.
    pub(crate) fn terminal_error(self) -> Option<crate::Error> {
        match self {
            ClientState::Expired => Some(crate::Error::SessionExpired),
            ClientState::AuthFailed => Some(crate::Error::Auth(
                "the server refused this client's credentials".into(),
            )),
            ClientState::Closed => Some(crate::Error::Closed),
            ClientState::Connected | ClientState::Disconnected => None,
        }
    }
}
