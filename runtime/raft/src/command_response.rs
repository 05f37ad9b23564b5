//! What applying a log entry answers to the proposer.

use polis_tree::{Applied, ErrorCode, OpResult, TreeError, WatchEvent, Zxid};
use serde::{Deserialize, Serialize};

/// What applying one log entry answers, as `Raft::client_write` returns it to the leader-side
/// caller: one [`CommandResponse`] per transaction of the entry's [`crate::Command`], in order
/// (one for a blank or membership entry, which applies as a no-op).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryResponse {
    pub txns: Vec<CommandResponse>,
}

/// The result of applying one transaction.
///
/// Openraft's `serde` feature requires the response type to be serializable, but
/// [`polis_tree::TreeError`] is not (its variants hold `&'static str`s), so a failure travels as a
/// [`CommandError`]: the ZooKeeper error code, the message, and the failing operation of a
/// `multi`. That is everything a client is ever told about a failed operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse {
    /// The zxid the transaction was applied at (see [`crate::zxid_of`]).
    pub zxid: Zxid,
    pub result: Result<OpResult, CommandError>,
    /// The watch events the transaction fired, in ZooKeeper's order.
    pub events: Vec<WatchEvent>,
}

/// A failed transaction in serializable form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandError {
    /// ZooKeeper's error code ([`ErrorCode`] as its wire value).
    pub code: i32,
    /// The tree's description of the failure.
    pub message: String,
    /// For a failed `multi`, the position of the operation that failed.
    pub multi_index: Option<usize>,
}

impl CommandError {
    /// The error code, if it is one Polis knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_i32(self.code)
    }
}

impl From<&TreeError> for CommandError {
    fn from(error: &TreeError) -> CommandError {
        // A failed multi's message is its failed operation's reason; the operation's position
        // travels beside it, and each face names it in its own words.
        let (multi_index, message) = match error {
            TreeError::MultiFailed { index, error } => (Some(*index), error.to_string()),
            _ => (None, error.to_string()),
        };
        CommandError {
            code: error.code().as_i32(),
            message,
            multi_index,
        }
    }
}

impl From<&Applied> for CommandResponse {
    fn from(applied: &Applied) -> CommandResponse {
        CommandResponse {
            zxid: applied.zxid,
            result: applied.result.as_ref().map_err(CommandError::from).cloned(),
            events: applied.events.clone(),
        }
    }
}
