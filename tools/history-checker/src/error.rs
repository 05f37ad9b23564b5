//! Why a history could not be checked at all (as opposed to a history that fails its checks).

use thiserror::Error;

/// A history file that cannot be read or does not describe operations the checker understands.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: not an operation record: {source}")]
    Parse {
        line: usize,
        source: serde_json::Error,
    },
    #[error("line {line}: {problem}")]
    Invalid { line: usize, problem: String },
}
