//! Errors of tree operations, with ZooKeeper's numeric codes.

use crate::{SessionId, Zxid};

/// ZooKeeper's error codes (`KeeperException.Code`), with their wire values.
///
/// Polis keeps the numbers so that the ZooKeeper wire protocol can pass them through unchanged and
/// so that clients of both can branch on the same codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    UnknownSession = -12,
    /// A reconfiguration's new voters could not form a quorum (a joining participant is not
    /// caught up).
    NewConfigNoQuorum = -13,
    /// Another reconfiguration is under way.
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    NoWatcher = -121,
    RequestTimeout = -122,
    /// `reconfig` is switched off (ZooKeeper's `reconfigEnabled=false`).
    ReconfigDisabled = -123,
    QuotaExceeded = -125,
    Throttled = -127,
}

impl ErrorCode {
    /// The wire value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code for a wire value, if it is one ZooKeeper defines and Polis uses.
    pub fn from_i32(value: i32) -> Option<ErrorCode> {
        use ErrorCode::*;
        [
            Ok,
            SystemError,
            RuntimeInconsistency,
            DataInconsistency,
            ConnectionLoss,
            MarshallingError,
            Unimplemented,
            OperationTimeout,
            BadArguments,
            UnknownSession,
            NewConfigNoQuorum,
            ReconfigInProgress,
            ApiError,
            NoNode,
            NoAuth,
            BadVersion,
            NoChildrenForEphemerals,
            NodeExists,
            NotEmpty,
            SessionExpired,
            InvalidCallback,
            InvalidAcl,
            AuthFailed,
            SessionMoved,
            NotReadOnly,
            NoWatcher,
            RequestTimeout,
            ReconfigDisabled,
            QuotaExceeded,
            Throttled,
        ]
        .into_iter()
        .find(|code| code.as_i32() == value)
    }
}

/// Why a tree operation failed. Callers branch on [`TreeError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("no node at {path}")]
    NoNode { path: String },
    #[error("a node already exists at {path}")]
    NodeExists { path: String },
    #[error("version mismatch at {path}: expected {expected}, node has {actual}")]
    BadVersion {
        path: String,
        expected: i32,
        actual: i32,
    },
    #[error("{path} has children")]
    NotEmpty { path: String },
    #[error("cannot create {path}: its parent is ephemeral, and ephemerals cannot have children")]
    NoChildrenForEphemerals { path: String },
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("bad arguments: {reason}")]
    BadArguments { reason: String },
    #[error("invalid ACL: {reason}")]
    InvalidAcl { reason: String },
    #[error("not authorised: {path} needs {perm} permission")]
    NoAuth { path: String, perm: &'static str },
    #[error("session {session_id:#x} has expired or was closed")]
    SessionExpired { session_id: SessionId },
    #[error("limit exceeded: {limit} is {max}")]
    LimitExceeded { limit: &'static str, max: usize },
    #[error("no watch of that kind at {path}")]
    NoWatcher { path: String },
    #[error(
        "history compacted: events up to zxid {compacted_through} are gone, cannot resume from {requested}"
    )]
    HistoryCompacted {
        requested: Zxid,
        compacted_through: Zxid,
    },
    #[error("operation {index} of the multi failed: {error}")]
    MultiFailed { index: usize, error: Box<TreeError> },
    #[error("{path} has not expired")]
    NotExpired { path: String },
    #[error("zxid {zxid} does not follow the last applied zxid {last_zxid}")]
    ZxidOutOfOrder { zxid: Zxid, last_zxid: Zxid },
    /// A write proposed again had taken effect at `zxid`, and its result was too large to keep:
    /// the outcome is known (applied once) but not its answer. Reported as ZooKeeper's
    /// ConnectionLoss, the code whose meaning ("look before you try again") fits.
    #[error("the write took effect at zxid {zxid}; its result is no longer known")]
    AppliedBefore { zxid: Zxid },
    /// The write would take the subtree at `path` past a hard limit of its quota.
    #[error("the quota of {path} would be exceeded")]
    QuotaExceeded { path: String },
}

impl TreeError {
    /// The ZooKeeper error code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            TreeError::NoNode { .. } => ErrorCode::NoNode,
            TreeError::NodeExists { .. } => ErrorCode::NodeExists,
            TreeError::BadVersion { .. } => ErrorCode::BadVersion,
            TreeError::NotEmpty { .. } => ErrorCode::NotEmpty,
            TreeError::NoChildrenForEphemerals { .. } => ErrorCode::NoChildrenForEphemerals,
            // ZooKeeper reports a malformed path as BadArguments (IllegalArgumentException on the
            // client, BADARGUMENTS from the server).
            TreeError::InvalidPath { .. } => ErrorCode::BadArguments,
            TreeError::BadArguments { .. } => ErrorCode::BadArguments,
            TreeError::InvalidAcl { .. } => ErrorCode::InvalidAcl,
            TreeError::NoAuth { .. } => ErrorCode::NoAuth,
            TreeError::SessionExpired { .. } => ErrorCode::SessionExpired,
            // Over-limit requests are refused as bad arguments; ZooKeeper itself drops the
            // connection on an oversize packet, which Polis reserves for malformed frames.
            TreeError::LimitExceeded { .. } => ErrorCode::BadArguments,
            TreeError::NoWatcher { .. } => ErrorCode::NoWatcher,
            TreeError::HistoryCompacted { .. } => ErrorCode::DataInconsistency,
            // A failed multi reports the code of the operation that failed, as ZooKeeper does.
            TreeError::MultiFailed { error, .. } => error.code(),
            TreeError::NotExpired { .. } => ErrorCode::BadArguments,
            TreeError::ZxidOutOfOrder { .. } => ErrorCode::RuntimeInconsistency,
            TreeError::AppliedBefore { .. } => ErrorCode::ConnectionLoss,
            TreeError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        }
    }
}
