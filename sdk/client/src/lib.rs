//! The Polis Rust client: async API, watches as streams, reconnect, and recipes with fencing
//! tokens.
//!
//! A [`Client`] holds one session with a Polis ensemble over one QUIC connection (mutual TLS,
//! ALPN `polis/1`), speaking the protocol of `runtime/proto/proto/polis.proto`. Its behaviour is
//! ZooKeeper's, so ZooKeeper knowledge applies:
//!
//! - **Operations** — `create`, `delete`, `exists`, `get_data`, `set_data`, `get_children`,
//!   `get_acl`, `set_acl`, `check`, `multi`, `sync`, `count_descendants`, `ephemerals`,
//!   `add_auth_digest`, `close` — are pipelined: many tasks may call one client (it is cheap to
//!   clone), and answers come back in the order the requests were written.
//! - **Reads** are linearizable by default; [`Client::with_read_consistency`] gives a handle on
//!   the same session whose reads are answered from the server's local copy
//!   ([`ReadConsistency::Local`]): faster, possibly stale, and available on a node cut off from
//!   the leader.
//! - **Watches** — one-shot watches are futures ([`OneShotWatch`]) from `get_data_watch`,
//!   `exists_watch` and `get_children_watch`; persistent and recursive watches are streams
//!   ([`WatchStream`]) from [`Client::watch`], optionally resuming after a zxid. An event is
//!   always delivered before the completion of any later answer, so after awaiting a call the
//!   events its result reflects are already in their streams (ZooKeeper's ordering guarantee).
//! - **Sessions** — the client pings when idle, and when the connection breaks it fails the
//!   requests in flight with [`Error::ConnectionLoss`] and reconnects to the same session on
//!   whichever server answers, re-registering every watch with the last zxid it saw so that the
//!   server replays missed events. If the session expired meanwhile, everything ends with
//!   [`Error::SessionExpired`]; [`Client::state`] and [`Client::session_events`] report it.
//! - **Cluster administration** — [`Client::cluster_status`], [`Client::add_learner`],
//!   [`Client::change_membership`] (with [`Client::promote`] and [`Client::remove_member`]):
//!   membership change through joint consensus and non-voting learners, for administrators.
//! - **Recipes** — [`recipes::Lock`], [`recipes::LeaderElection`] and [`recipes::Barrier`],
//!   each granting a fencing token (see the [`recipes`] module for why that matters).
//!
//! Internals: [`Client`] handles send commands to one driver task per client (`driver`), which
//! owns the connection's send side, reconnects and pings; a reader task per connection
//! (`reader`) reads every frame and dispatches events and answers in frame order through the
//! watch book (`watch_book`).

mod backoff;
mod client;
mod client_state;
mod cluster;
mod config;
mod connector;
mod driver;
mod error;
mod one_shot_watch;
mod op;
mod op_result;
mod read_consistency;
mod reader;
pub mod recipes;
mod request;
mod session_event;
mod shared;
mod watch_book;
mod watch_mode;
mod watch_stream;

pub use client::Client;
pub use client_state::ClientState;
pub use cluster::{ClusterMember, ClusterStatus, LearnerAdded, MemberKind, NodeRole};
pub use config::ClientConfig;
pub use error::Error;
pub use one_shot_watch::OneShotWatch;
pub use op::Op;
pub use op_result::OpResult;
pub use read_consistency::ReadConsistency;
pub use session_event::SessionEvent;
pub use watch_mode::WatchMode;
pub use watch_stream::WatchStream;

/// The TLS file set of [`ClientConfig::tls`].
pub use polis_security::TlsFiles;
/// The tree's types that appear in this API, so that users need not depend on `polis-tree`.
pub use polis_tree::{
    Acl, CreateMode, ErrorCode, EventKind, Id, Perms, SessionId, Stat, WatchEvent, Zxid,
};
