//! Every bound the tree enforces, in one place.
//!
//! Following TigerBeetle's rule that everything has a limit, each quantity a client can grow is
//! bounded here and checked on every operation with a clear error, so a single client cannot make
//! a replica run out of memory or make an operation take unbounded time.

use serde::{Deserialize, Serialize};

/// The limits a [`crate::DataTree`] and a [`crate::WatchRegistry`] enforce.
///
/// All replicas of one cluster must use the same limits, because a limit decides whether a
/// committed transaction succeeds. They are therefore part of the replicated state: the tree
/// changes them only by applying a [`crate::TxnKind::SetLimits`], which a leader proposes when
/// its configured limits differ from the tree's, so a node's own `[limits]` section is what it
/// proposes when it leads, not what it applies.
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
    /// The longest id of one ACL entry, in bytes (after `auth` is expanded into the caller's
    /// identities). With `acl_entries_max` it bounds a node's ACL, and so the largest snapshot
    /// record, which a follower or a new learner must be able to read back.
    pub acl_id_len_max: usize,
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
    /// Long enough for any hierarchy a city names (ZooKeeper sets no bound of its own below
    /// `jute.maxbuffer`).
    pub const PATH_LEN_MAX_DEFAULT: usize = 4096;
    /// ZooKeeper has no bound; a million children already make one `getChildren` answer tens
    /// of megabytes.
    pub const CHILDREN_MAX_DEFAULT: usize = 1_048_576;
    /// About 8 GiB of tree at the measured ~465 bytes per small znode.
    pub const NODES_MAX_DEFAULT: usize = 16 * 1_048_576;
    pub const MULTI_OPS_MAX_DEFAULT: usize = 1024;
    pub const ACL_ENTRIES_MAX_DEFAULT: usize = 64;
    /// Room for a certificate subject or a digest `user:hash` with a long user name.
    pub const ACL_ID_LEN_MAX_DEFAULT: usize = 1024;
    pub const WATCHES_PER_SESSION_MAX_DEFAULT: usize = 65_536;
    pub const SESSIONS_MAX_DEFAULT: usize = 65_536;
    pub const EPHEMERALS_PER_SESSION_MAX_DEFAULT: usize = 65_536;
    /// About a minute of writes at the measured single-node rate, many minutes at a city's.
    pub const HISTORY_EVENTS_MAX_DEFAULT: usize = 100_000;
    /// ZooKeeper's `minSessionTimeout` default is 2 ticks; Polis has no tick, and 2 s is that
    /// default at a 1 s tick.
    pub const SESSION_TIMEOUT_MIN_MS_DEFAULT: i32 = 2_000;
    /// ZooKeeper's `maxSessionTimeout` default is 20 ticks (40 s at the usual 2 s tick); district
    /// links are slower to come back, so Polis allows two minutes.
    pub const SESSION_TIMEOUT_MAX_MS_DEFAULT: i32 = 120_000;
    /// The TTL bound imposed by ZooKeeper's `ephemeralOwner` encoding.
    pub const TTL_MAX_MS: i64 = (1 << 40) - 1;

    /// The highest `data_len_max` any cluster may set: 64 times ZooKeeper's default. Limits
    /// arrive in snapshots from other nodes, and a snapshot reader sizes its record bound from
    /// them, so even valid limits must stay within what a node can hold in memory.
    pub const DATA_LEN_MAX_CEILING: usize = 64 * 1024 * 1024;
    /// The highest `path_len_max` any cluster may set.
    pub const PATH_LEN_MAX_CEILING: usize = 64 * 1024;
    /// The highest `acl_entries_max` any cluster may set.
    pub const ACL_ENTRIES_MAX_CEILING: usize = 1024;
    /// The highest `acl_id_len_max` any cluster may set.
    pub const ACL_ID_LEN_MAX_CEILING: usize = 64 * 1024;
    /// The highest `history_events_max` any cluster may set (the window is held in memory).
    pub const HISTORY_EVENTS_MAX_CEILING: usize = 16 * 1024 * 1024;
    /// The highest `nodes_max` any cluster may set.
    pub const NODES_MAX_CEILING: usize = 1 << 32;
    /// The highest `sessions_max` any cluster may set.
    pub const SESSIONS_MAX_CEILING: usize = 16 * 1024 * 1024;

    /// The ceilings themselves, as limits: every valid set of limits lies at or under them in
    /// what bounds a snapshot (a record's size, the counts of nodes, sessions and events). A
    /// snapshot reader bounds what it reads by these rather than by the cluster's current
    /// limits, which may have been lowered below what the tree already holds.
    pub fn ceilings() -> Limits {
        Limits {
            data_len_max: Self::DATA_LEN_MAX_CEILING,
            path_len_max: Self::PATH_LEN_MAX_CEILING,
            nodes_max: Self::NODES_MAX_CEILING,
            acl_entries_max: Self::ACL_ENTRIES_MAX_CEILING,
            acl_id_len_max: Self::ACL_ID_LEN_MAX_CEILING,
            sessions_max: Self::SESSIONS_MAX_CEILING,
            history_events_max: Self::HISTORY_EVENTS_MAX_CEILING,
            ..Limits::default()
        }
    }

    /// Refuses limits that cannot work, naming the field: a zero bound would refuse every
    /// operation, and a TTL bound above [`Limits::TTL_MAX_MS`] would let a TTL spill into the
    /// node-kind bits of `ephemeralOwner`.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("data_len_max", self.data_len_max),
            ("path_len_max", self.path_len_max),
            ("children_max", self.children_max),
            ("nodes_max", self.nodes_max),
            ("multi_ops_max", self.multi_ops_max),
            ("acl_entries_max", self.acl_entries_max),
            ("acl_id_len_max", self.acl_id_len_max),
            ("watches_per_session_max", self.watches_per_session_max),
            ("sessions_max", self.sessions_max),
            (
                "ephemerals_per_session_max",
                self.ephemerals_per_session_max,
            ),
            ("history_events_max", self.history_events_max),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("limits.{name} must be positive"));
        }
        let ceilings = [
            (
                "data_len_max",
                self.data_len_max,
                Self::DATA_LEN_MAX_CEILING,
            ),
            (
                "path_len_max",
                self.path_len_max,
                Self::PATH_LEN_MAX_CEILING,
            ),
            ("nodes_max", self.nodes_max, Self::NODES_MAX_CEILING),
            (
                "sessions_max",
                self.sessions_max,
                Self::SESSIONS_MAX_CEILING,
            ),
            (
                "acl_entries_max",
                self.acl_entries_max,
                Self::ACL_ENTRIES_MAX_CEILING,
            ),
            (
                "acl_id_len_max",
                self.acl_id_len_max,
                Self::ACL_ID_LEN_MAX_CEILING,
            ),
            (
                "history_events_max",
                self.history_events_max,
                Self::HISTORY_EVENTS_MAX_CEILING,
            ),
        ];
        if let Some((name, value, ceiling)) = ceilings
            .iter()
            .find(|(_, value, ceiling)| *value > *ceiling)
        {
            return Err(format!(
                "limits.{name} is {value}, above its ceiling {ceiling}"
            ));
        }
        if self.session_timeout_min_ms <= 0
            || self.session_timeout_min_ms > self.session_timeout_max_ms
        {
            return Err(
                "limits.session_timeout_min_ms must be positive and at most session_timeout_max_ms"
                    .to_string(),
            );
        }
        if !(1..=Self::TTL_MAX_MS).contains(&self.ttl_max_ms) {
            return Err(format!(
                "limits.ttl_max_ms must be between 1 and {} (2^40 - 1)",
                Self::TTL_MAX_MS
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            data_len_max: Self::DATA_LEN_MAX_DEFAULT,
            path_len_max: Self::PATH_LEN_MAX_DEFAULT,
            children_max: Self::CHILDREN_MAX_DEFAULT,
            nodes_max: Self::NODES_MAX_DEFAULT,
            multi_ops_max: Self::MULTI_OPS_MAX_DEFAULT,
            acl_entries_max: Self::ACL_ENTRIES_MAX_DEFAULT,
            acl_id_len_max: Self::ACL_ID_LEN_MAX_DEFAULT,
            watches_per_session_max: Self::WATCHES_PER_SESSION_MAX_DEFAULT,
            sessions_max: Self::SESSIONS_MAX_DEFAULT,
            ephemerals_per_session_max: Self::EPHEMERALS_PER_SESSION_MAX_DEFAULT,
            history_events_max: Self::HISTORY_EVENTS_MAX_DEFAULT,
            session_timeout_min_ms: Self::SESSION_TIMEOUT_MIN_MS_DEFAULT,
            session_timeout_max_ms: Self::SESSION_TIMEOUT_MAX_MS_DEFAULT,
            ttl_max_ms: Self::TTL_MAX_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn a_zero_bound_or_a_ttl_bound_beyond_40_bits_is_refused() {
        let zero_children = Limits {
            children_max: 0,
            ..Limits::default()
        };
        assert!(
            zero_children
                .validate()
                .unwrap_err()
                .contains("children_max")
        );
        let wide_ttl = Limits {
            ttl_max_ms: Limits::TTL_MAX_MS + 1,
            ..Limits::default()
        };
        assert!(wide_ttl.validate().unwrap_err().contains("ttl_max_ms"));
        let inverted_timeouts = Limits {
            session_timeout_min_ms: 10_000,
            session_timeout_max_ms: 5_000,
            ..Limits::default()
        };
        assert!(
            inverted_timeouts
                .validate()
                .unwrap_err()
                .contains("session_timeout_min_ms")
        );
    }
}
