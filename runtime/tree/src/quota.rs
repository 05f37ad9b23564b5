//! ZooKeeper's quotas: limits on the node count and data bytes of a subtree.
//!
//! As in ZooKeeper, a quota is a pair of nodes under [`QUOTA_ROOT`]: for the subtree at `/app`,
//! `/zookeeper/quota/app/zookeeper_limits` holds the limits and `zookeeper_stats` beside it the
//! usage, both in ZooKeeper's `StatsTrack` text (`count=10,bytes=-1` and, since ZooKeeper 3.7,
//! `countHardLimit=…,byteHardLimit=…` after them). zkCli's `setquota`, `listquota` and
//! `delquota` write and read these nodes with ordinary requests; the tree keeps the usage of
//! every quota'd subtree up to date and refuses a create or setData that would take a subtree past
//! a hard limit with QuotaExceeded (ZooKeeper 3.7+ with `zookeeper.enforceQuota`; Polis always
//! enforces). The soft limits (`count`, `bytes`) are reported, not enforced, as ZooKeeper only logs
//! them.
//!
//! The table is derived state: it is rebuilt from the limits nodes whenever a tree is loaded, so
//! snapshots and stores carry nothing new. The usage counts the quota's own node and every node
//! below it, and their data bytes, as ZooKeeper's `DataTree.updateQuotaForPath` does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{TreeError, path};

/// ZooKeeper's own subtree; only administrators write in it (see `DataTree::write`).
pub const ZOOKEEPER_PATH: &str = "/zookeeper";
/// Where quotas are kept: ZooKeeper's `Quotas.quotaZookeeper`.
pub const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The node that holds a quota's limits: ZooKeeper's `Quotas.limitNode`.
pub const QUOTA_LIMITS_NODE: &str = "zookeeper_limits";
/// The node that holds a quota's usage: ZooKeeper's `Quotas.statNode`.
pub const QUOTA_STATS_NODE: &str = "zookeeper_stats";

/// The most bytes of a limits node the tree parses; ZooKeeper's text is a few dozen.
const QUOTA_TEXT_LEN_MAX: usize = 256;

/// No limit, in ZooKeeper's text.
const UNLIMITED: i64 = -1;

/// A quota's limits, as its limits node states them. `-1` means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Nodes in the subtree, reported when passed (ZooKeeper logs a warning).
    pub count: i64,
    /// Data bytes in the subtree, reported when passed.
    pub bytes: i64,
    /// Nodes in the subtree, refused when passed.
    pub count_hard: i64,
    /// Data bytes in the subtree, refused when passed.
    pub bytes_hard: i64,
}

impl QuotaLimits {
    /// Parses ZooKeeper's `StatsTrack` text: `key=value` pairs separated by commas or
    /// semicolons, with the keys `count`, `bytes`, `countHardLimit` and `byteHardLimit`; a key
    /// left out is no limit.
    pub fn parse(text: &[u8]) -> Result<QuotaLimits, String> {
        if text.len() > QUOTA_TEXT_LEN_MAX {
            return Err(format!("quota text beyond {QUOTA_TEXT_LEN_MAX} bytes"));
        }
        let text = std::str::from_utf8(text).map_err(|_| "quota text is not UTF-8".to_string())?;
        let mut limits = QuotaLimits {
            count: UNLIMITED,
            bytes: UNLIMITED,
            count_hard: UNLIMITED,
            bytes_hard: UNLIMITED,
        };
        for pair in text
            .split([',', ';'])
            .filter(|pair| !pair.trim().is_empty())
        {
            // Java's `split("=")`, trailing empty fields dropped: ZooKeeper 3.7+ writes
            // `count=-1,bytes=-1=;countHardLimit=3`, whose second pair is `bytes=-1=`.
            let mut fields = pair.split('=').collect::<Vec<_>>();
            while fields.last().is_some_and(|field| field.is_empty()) {
                fields.pop();
            }
            let [key, value, ..] = fields.as_slice() else {
                return Err(format!("{pair:?} is not key=value"));
            };
            let value: i64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{value:?} is not a number"))?;
            if value < UNLIMITED {
                return Err(format!("{key} cannot be {value}"));
            }
            match key.trim() {
                "count" => limits.count = value,
                "bytes" => limits.bytes = value,
                "countHardLimit" => limits.count_hard = value,
                "byteHardLimit" => limits.bytes_hard = value,
                other => return Err(format!("unknown quota key {other:?}")),
            }
        }
        Ok(limits)
    }
}

/// A subtree's usage: its nodes and their data bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub count: i64,
    pub bytes: i64,
}

impl QuotaUsage {
    /// ZooKeeper's text for a stats node: `count=N,bytes=M`.
    pub fn render(self) -> Vec<u8> {
        let mut text = String::new();
        let _ = write!(text, "count={},bytes={}", self.count, self.bytes);
        text.into_bytes()
    }
}

/// What becomes of a quota'd subtree's usage when one node changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageChange {
    pub count: i64,
    pub bytes: i64,
}

/// The quotas of a tree: each quota'd path with its limits and its subtree's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaTable {
    quotas: BTreeMap<String, (QuotaLimits, QuotaUsage)>,
}

impl QuotaTable {
    pub fn is_empty(&self) -> bool {
        self.quotas.is_empty()
    }

    /// The quota'd paths that hold `node_path`: itself and its ancestors with a quota.
    pub fn covering(&self, node_path: &str) -> Vec<String> {
        if self.quotas.is_empty() {
            return Vec::new();
        }
        path::self_and_ancestors(node_path)
            .filter(|candidate| self.quotas.contains_key(*candidate))
            .map(str::to_string)
            .collect()
    }

    /// Refuses `change` if it would take a subtree holding `node_path` past a hard limit. Only a
    /// change that grows a subtree is refused: a subtree already past its limit (a limit set
    /// below its usage) may still shrink.
    pub fn check(&self, node_path: &str, change: UsageChange) -> Result<(), TreeError> {
        for quota_path in self.covering(node_path) {
            let (limits, usage) = self.quotas[&quota_path];
            let count_over = change.count > 0
                && limits.count_hard > UNLIMITED
                && usage.count.saturating_add(change.count) > limits.count_hard;
            let bytes_over = change.bytes > 0
                && limits.bytes_hard > UNLIMITED
                && usage.bytes.saturating_add(change.bytes) > limits.bytes_hard;
            if count_over || bytes_over {
                return Err(TreeError::QuotaExceeded { path: quota_path });
            }
        }
        Ok(())
    }

    /// Adds `change` to every quota holding `node_path`; returns the quota'd paths changed.
    pub fn record(&mut self, node_path: &str, change: UsageChange) -> Vec<String> {
        let covering = self.covering(node_path);
        for quota_path in &covering {
            let (_, usage) = self
                .quotas
                .get_mut(quota_path)
                .expect("a covering quota exists");
            usage.count = usage.count.saturating_add(change.count);
            usage.bytes = usage.bytes.saturating_add(change.bytes);
            debug_assert!(usage.count >= 0 && usage.bytes >= 0, "usage below zero");
        }
        covering
    }

    /// Sets the quota of `quota_path` with the usage its subtree has now.
    pub fn set(&mut self, quota_path: String, limits: QuotaLimits, usage: QuotaUsage) {
        self.quotas.insert(quota_path, (limits, usage));
    }

    pub fn remove(&mut self, quota_path: &str) {
        self.quotas.remove(quota_path);
    }

    pub fn usage(&self, quota_path: &str) -> Option<QuotaUsage> {
        self.quotas.get(quota_path).map(|(_, usage)| *usage)
    }

    /// The quota on `quota_path`: its limits and its subtree's usage.
    pub fn get(&self, quota_path: &str) -> Option<(QuotaLimits, QuotaUsage)> {
        self.quotas.get(quota_path).copied()
    }

    /// Every quota, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, QuotaLimits, QuotaUsage)> {
        self.quotas
            .iter()
            .map(|(quota_path, (limits, usage))| (quota_path.as_str(), *limits, *usage))
    }
}

/// Whether `node_path` is ZooKeeper's own subtree, written by administrators only.
pub fn is_zookeeper_subtree(node_path: &str) -> bool {
    path::is_self_or_descendant(node_path, ZOOKEEPER_PATH)
}

/// The quota'd path a limits or stats node belongs to, with which of the two it is:
/// `/zookeeper/quota/app/zookeeper_limits` → (`/app`, true).
pub fn quota_node_target(node_path: &str) -> Option<(&str, bool)> {
    let rest = node_path.strip_prefix(QUOTA_ROOT)?;
    if !rest.starts_with('/') {
        return None;
    }
    let name = path::name(rest);
    let is_limits = match name {
        QUOTA_LIMITS_NODE => true,
        QUOTA_STATS_NODE => false,
        _ => return None,
    };
    let target = path::parent(rest);
    Some((target, is_limits))
}

/// The path of the stats node of the quota on `quota_path`.
pub fn stats_path(quota_path: &str) -> String {
    format!("{QUOTA_ROOT}{quota_path}/{QUOTA_STATS_NODE}")
}

/// Whether a quota may be set on `quota_path`: not on the root (ZooKeeper's quota path for it
/// would be `/zookeeper/quota/` itself) and not inside ZooKeeper's own subtree, whose usage
/// would change with every quota's.
pub fn may_have_quota(quota_path: &str) -> bool {
    quota_path != "/" && !is_zookeeper_subtree(quota_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeepers_quota_text_parses_in_both_forms() {
        let old = QuotaLimits::parse(b"count=10,bytes=-1").expect("parses");
        assert_eq!(
            (old.count, old.bytes, old.count_hard, old.bytes_hard),
            (10, -1, -1, -1)
        );
        let new = QuotaLimits::parse(b"count=-1,bytes=-1,byteHardLimit=100,countHardLimit=5")
            .expect("parses");
        // What ZooKeeper 3.8's `StatsTrack.toString` writes for `setquota -N 3 -B 100`.
        let written = QuotaLimits::parse(b"count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=5")
            .expect("parses");
        assert_eq!(written, new);
        assert_eq!(new.count_hard, 5);
        assert_eq!(new.bytes_hard, 100);
        for bad in [
            &b"count"[..],
            b"count=x",
            b"count=-2",
            b"size=3",
            b"\xff",
            &[b'1'; 300],
        ] {
            assert!(QuotaLimits::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quota_nodes_name_their_target() {
        assert_eq!(
            quota_node_target("/zookeeper/quota/app/x/zookeeper_limits"),
            Some(("/app/x", true))
        );
        assert_eq!(
            quota_node_target("/zookeeper/quota/app/zookeeper_stats"),
            Some(("/app", false))
        );
        assert_eq!(quota_node_target("/zookeeper/quota/app"), None);
        assert_eq!(
            quota_node_target("/zookeeper/quotas/app/zookeeper_limits"),
            None
        );
        assert_eq!(quota_node_target("/app/zookeeper_limits"), None);
        assert!(is_zookeeper_subtree("/zookeeper"));
        assert!(is_zookeeper_subtree("/zookeeper/quota"));
        assert!(!is_zookeeper_subtree("/zookeeperx"));
        assert!(!may_have_quota("/"));
        assert!(!may_have_quota("/zookeeper/config"));
        assert!(may_have_quota("/app"));
    }

    #[test]
    fn a_hard_limit_refuses_growth_past_it_and_never_shrinking() {
        let mut table = QuotaTable::default();
        let limits = QuotaLimits::parse(b"count=-1,bytes=-1,countHardLimit=2,byteHardLimit=10")
            .expect("parses");
        table.set("/app".into(), limits, QuotaUsage { count: 2, bytes: 4 });
        let grow = UsageChange { count: 1, bytes: 0 };
        assert_eq!(
            table.check("/app/b", grow),
            Err(TreeError::QuotaExceeded {
                path: "/app".into()
            })
        );
        assert_eq!(table.check("/other", grow), Ok(()));
        assert_eq!(table.check("/appx/b", grow), Ok(()));
        let bytes = UsageChange { count: 0, bytes: 7 };
        assert!(table.check("/app", bytes).is_err());
        assert_eq!(
            table.check("/app", UsageChange { count: 0, bytes: 6 }),
            Ok(())
        );
        let shrink = UsageChange {
            count: -1,
            bytes: -4,
        };
        assert_eq!(table.check("/app/a", shrink), Ok(()));
        assert_eq!(table.record("/app/a", shrink), vec!["/app".to_string()]);
        assert_eq!(table.usage("/app"), Some(QuotaUsage { count: 1, bytes: 0 }));
        assert_eq!(
            QuotaUsage { count: 1, bytes: 0 }.render(),
            b"count=1,bytes=0"
        );
    }
}
