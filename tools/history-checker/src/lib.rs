//! Checks a history recorded by the fault harness (`bench/faults/`): every operation's call and
//! return times and outcome, from many clients of a cluster under faults.
//!
//! Two checks. Linearizability per key (`search`): each key is a versioned register
//! (`register`), and a Wing–Gong search with memoisation looks for an order of its operations
//! that respects real time and the model; a violation is narrowed to a small failing prefix
//! (`witness`). Set checks for creates (`sets`): no acknowledged create lost, none applied twice,
//! sequence numbers unique and increasing in real-time order.

pub mod error;
pub mod history;
pub mod key_history;
pub mod operation;
pub mod register;
pub mod report;
pub mod rng;
pub mod search;
pub mod sets;
pub mod witness;

pub use error::HistoryError;
pub use history::History;
pub use operation::{OpKind, OpResult, Operation, Outcome};
pub use report::{CheckOptions, Report, Status};
pub use search::{SEARCH_STATES_MAX, Verdict};
