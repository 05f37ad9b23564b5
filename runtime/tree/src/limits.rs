//! Every bound the tree enforces, in one place.
//!
//! Following TigerBeetle's rule that everything has a limit, each quantity a client can grow is
//! bounded here and checked on every operation with a clear error, so a single client cannot make
//! a replica run out of memory or make an operation take unbounded time.

use serde::{Deserialize, Serialize};

/// The limits a [`crate::DataTree`] and a [`crate::WatchRegistry`] enforce.
///
/// All replicas of one cluster must use the same limits, because a limit decides whether a
/// committed transaction succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest znode payload in bytes. ZooKeeper's `jute.maxbuffer` defaults to 1 MiB (less a
    /// byte) and bounds node data the same way.
    pub data_len_max: usize,
    /// The longest path in bytes (UTF-8).
    pub path_len_max: usize,
    /// The most children one znode may have.
    pub children_max: usize,
    /// The most znodes in the whole tree, root included.
    pub nodes_max: usize,
    /// The most operations in one `multi`.
    pub multi_ops_max: usize,
    /// The most entries in one ACL.
    pub acl_entries_max: usize,
    /// The most watches (of all kinds) one session may hold on one server.
    pub watches_per_session_max: usize,
    /// The most open sessions.
    pub sessions_max: usize,
    /// The most ephemeral znodes one session may own.
    pub ephemerals_per_session_max: usize,
    /// The most watch events kept in the change history for resuming watchers.
    pub history_events_max: usize,
    /// The shortest session timeout a client may negotiate, in milliseconds.
    pub session_timeout_min_ms: i32,
    /// The longest session timeout a client may negotiate, in milliseconds.
    pub session_timeout_max_ms: i32,
    /// The longest TTL of a TTL node, in milliseconds: ZooKeeper encodes the TTL in the low 40 bits
    /// of `ephemeralOwner`, so it cannot exceed 2^40 - 1 ms (about 34 years).
    pub ttl_max_ms: i64,
}

impl Limits {
    /// ZooKeeper's default `jute.maxbuffer`: 0xfffff bytes.
    pub const DATA_LEN_MAX_DEFAULT: usize = 1024 * 1024 - 1;
    /// The TTL bound imposed by ZooKeeper's `ephemeralOwner` encoding.
    pub const TTL_MAX_MS: i64 = (1 << 40) - 1;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            data_len_max: Self::DATA_LEN_MAX_DEFAULT,
            path_len_max: 4096,
            children_max: 1_048_576,
            nodes_max: 16 * 1_048_576,
            multi_ops_max: 1024,
            acl_entries_max: 64,
            watches_per_session_max: 65_536,
            sessions_max: 65_536,
            ephemerals_per_session_max: 65_536,
            history_events_max: 100_000,
            session_timeout_min_ms: 2_000,
            session_timeout_max_ms: 120_000,
            ttl_max_ms: Self::TTL_MAX_MS,
        }
    }
}
