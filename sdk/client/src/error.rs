//! The errors of the client, ZooKeeper-style.

use polis_tree::{ErrorCode, Zxid};

/// Why a client call failed.
///
/// The split follows ZooKeeper's `KeeperException`: a server that answered with an error code
/// gives [`Error::Api`] (or [`Error::Multi`] for a failed `multi`), while the connection-level
/// outcomes (`ConnectionLoss`, `SessionExpired`, ...) are their own variants, because callers
/// treat them differently: an API error is an answer, a connection loss is the absence of one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with a ZooKeeper error code.
    #[error("{code:?}{}: {message}", path.as_ref().map(|path| format!(" at {path}")).unwrap_or_default())]
    Api {
        code: ErrorCode,
        message: String,
        path: Option<String>,
    },
    /// A `multi` failed and none of its operations took effect. `results` holds ZooKeeper's
    /// per-operation codes: `Ok` for operations rolled back, `code` at `failed_index`, and
    /// `RuntimeInconsistency` for the operations after it, which were never attempted.
    /// `message` says why the failed operation failed, as [`Error::Api`]'s does.
    #[error("multi failed at operation {failed_index} with {code:?}: {message}")]
    Multi {
        failed_index: usize,
        code: ErrorCode,
        message: String,
        results: Vec<ErrorCode>,
    },
    /// The connection broke before the answer arrived. As in ZooKeeper, the request may or may
    /// not have been applied; the caller decides whether to retry (a read or a versioned write is
    /// safe to retry, a sequential create is not without a recipe's protection). The client is
    /// reconnecting to the same session meanwhile.
    #[error("connection to the server lost; the request may or may not have been applied")]
    ConnectionLoss,
    /// The session has expired: its ephemeral nodes are gone and its watches will not fire. This
    /// client is finished, as a ZooKeeper handle is; open a new one.
    #[error("the session has expired")]
    SessionExpired,
    /// The server refused this client's certificate, or its session password or digest
    /// credentials. Retrying with the same credentials cannot succeed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// No answer within the request timeout. Like a connection loss, the outcome is unknown.
    #[error("the request timed out; it may or may not have been applied")]
    Timeout,
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The client was closed (by [`crate::Client::close`] or by dropping every handle).
    #[error("the client is closed")]
    Closed,
    /// The configuration cannot work (no servers, a zero timeout, unreadable TLS files, ...).
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
    /// No configured server could be reached when the client was created.
    #[error("could not connect to any server: {0}")]
    Connect(String),
    /// The request does not fit in one frame; the server would refuse it.
    #[error("the request is {len} bytes, more than the frame limit of {max}")]
    RequestTooLarge { len: usize, max: usize },
    /// A client-side bound was reached.
    #[error("limit exceeded: {limit} is {max}")]
    LimitExceeded { limit: &'static str, max: usize },
    /// A watch stream's consumer fell behind its bounded buffer, so the stream ended rather than
    /// drop an event silently. Open a new stream with `resume_after_zxid` set to this zxid to get
    /// every later event from the server's history; events of the transaction right after it may
    /// be delivered again.
    #[error("the watch stream fell behind; resume after zxid {resume_after_zxid}")]
    WatchOverflow { resume_after_zxid: Zxid },
}

impl Error {
    /// The ZooKeeper code of this error, if it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } | Error::Multi { code, .. } => Some(*code),
            Error::ConnectionLoss => Some(ErrorCode::ConnectionLoss),
            Error::SessionExpired => Some(ErrorCode::SessionExpired),
            Error::Auth(_) => Some(ErrorCode::AuthFailed),
            Error::Timeout => Some(ErrorCode::OperationTimeout),
            _ => None,
        }
    }

    fn has_code(&self, expected: ErrorCode) -> bool {
        self.code() == Some(expected)
    }

    /// The node does not exist (ZooKeeper's `NoNodeException`).
    pub fn is_no_node(&self) -> bool {
        self.has_code(ErrorCode::NoNode)
    }

    /// The node already exists (`NodeExistsException`).
    pub fn is_node_exists(&self) -> bool {
        self.has_code(ErrorCode::NodeExists)
    }

    /// The expected version did not match (`BadVersionException`).
    pub fn is_bad_version(&self) -> bool {
        self.has_code(ErrorCode::BadVersion)
    }

    /// The node has children (`NotEmptyException`).
    pub fn is_not_empty(&self) -> bool {
        self.has_code(ErrorCode::NotEmpty)
    }

    /// The ACL does not allow the operation (`NoAuthException`).
    pub fn is_no_auth(&self) -> bool {
        self.has_code(ErrorCode::NoAuth)
    }

    /// The connection was lost before the answer arrived, or the server answered with
    /// ZooKeeper's `ConnectionLoss` because it could not reach a leader or a quorum in time
    /// (a node in a minority partition): either way the outcome is unknown.
    pub fn is_connection_loss(&self) -> bool {
        self.has_code(ErrorCode::ConnectionLoss)
    }

    /// The session has expired.
    pub fn is_session_expired(&self) -> bool {
        matches!(self, Error::SessionExpired)
    }

    /// The outcome is unknown but the session lives on, so the caller may retry once the client
    /// is connected again (ZooKeeper's "recoverable" errors).
    pub fn is_retryable(&self) -> bool {
        self.is_connection_loss() || matches!(self, Error::Timeout)
    }

    /// This client can never succeed again: expired, closed, or refused.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Error::SessionExpired | Error::Closed | Error::Auth(_))
    }

    /// An [`Error::Api`] for a code the server sent about `path`.
    pub(crate) fn api(code: ErrorCode, message: impl Into<String>, path: Option<&str>) -> Error {
        Error::Api {
            code,
            message: message.into(),
            path: path.map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_codes() {
        let no_node = Error::api(ErrorCode::NoNode, "no node at /a", Some("/a"));
        assert!(no_node.is_no_node());
        assert!(!no_node.is_node_exists());
        assert_eq!(no_node.to_string(), "NoNode at /a: no node at /a");
        let multi = Error::Multi {
            failed_index: 1,
            code: ErrorCode::BadVersion,
            message: "version 3 expected, 4 found at /b".into(),
            results: vec![
                ErrorCode::Ok,
                ErrorCode::BadVersion,
                ErrorCode::RuntimeInconsistency,
            ],
        };
        assert!(multi.is_bad_version());
        assert_eq!(
            multi.to_string(),
            "multi failed at operation 1 with BadVersion: version 3 expected, 4 found at /b"
        );
        assert!(Error::ConnectionLoss.is_retryable());
        let no_quorum = Error::api(ErrorCode::ConnectionLoss, "no leader reachable", None);
        assert!(
            no_quorum.is_connection_loss(),
            "the server's ConnectionLoss too"
        );
        assert!(no_quorum.is_retryable());
        assert!(Error::Timeout.is_retryable());
        assert!(!Error::SessionExpired.is_retryable());
        assert!(Error::SessionExpired.is_terminal());
        assert!(Error::Auth("x".into()).is_terminal());
    }
}
