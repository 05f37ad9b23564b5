//! Keeping the tree's quotas ([`crate::quota`]) up to date as nodes come, go and change.
//!
//! Every node insertion, removal and data change passes through [`DataTree::insert_node`],
//! [`DataTree::remove_node`] or a data change (`DataTree::quota_after_data_change`), undo included, and each tells the
//! quota table here; so the usage of a quota'd subtree is right after every transaction and after
//! every rolled-back multi. A tree without quotas pays one emptiness check per change.

use std::ops::Bound;

use super::{DataTree, data_len};
use crate::quota::{self, QuotaLimits, QuotaUsage, UsageChange};
use crate::{NodeRecord, TreeError};

impl DataTree {
    /// The quota on `quota_path` (ZooKeeper's quota of that subtree): its limits and usage.
    pub fn quota(&self, quota_path: &str) -> Option<(QuotaLimits, QuotaUsage)> {
        self.quotas.get(quota_path)
    }

    /// Every quota with its limits and usage, in path order.
    pub fn quotas(&self) -> impl Iterator<Item = (&str, QuotaLimits, QuotaUsage)> {
        self.quotas.iter()
    }

    /// Refuses a write under ZooKeeper's own subtree from anyone but an administrator: the
    /// quotas there bind everyone, so only administrators set them (ZooKeeper leaves
    /// `/zookeeper/quota` open to any client, which lets a client lift its own quota).
    pub(super) fn check_zookeeper_subtree(
        caller: &crate::Caller,
        node_path: &str,
        perm: crate::Perms,
    ) -> Result<(), TreeError> {
        if quota::is_zookeeper_subtree(node_path) && !caller.ids.iter().any(crate::Id::is_super) {
            return Err(TreeError::NoAuth {
                path: node_path.to_string(),
                perm: perm.name(),
            });
        }
        Ok(())
    }

    /// Refuses a limits node whose text does not parse or whose subtree may have no quota.
    pub(super) fn check_quota_node(node_path: &str, data: Option<&[u8]>) -> Result<(), TreeError> {
        let Some((target, true)) = quota::quota_node_target(node_path) else {
            return Ok(());
        };
        if !quota::may_have_quota(target) {
            return Err(TreeError::BadArguments {
                reason: format!("no quota can be set on {target}"),
            });
        }
        QuotaLimits::parse(data.unwrap_or_default())
            .map(|_| ())
            .map_err(|reason| TreeError::BadArguments {
                reason: format!("{node_path}: {reason}"),
            })
    }

    /// Refuses a change of `count` nodes and `bytes` data bytes at `node_path` that would take
    /// a quota'd subtree past a hard limit.
    pub(super) fn check_quota(
        &self,
        node_path: &str,
        count: i64,
        bytes: i64,
    ) -> Result<(), TreeError> {
        self.quotas.check(node_path, UsageChange { count, bytes })
    }

    /// Called once `node_path` was inserted.
    pub(super) fn quota_after_insert(&mut self, node_path: &str) {
        if let Some((target, is_limits)) = quota::quota_node_target(node_path) {
            let target = target.to_string();
            if is_limits {
                self.refresh_quota(&target);
            } else {
                self.render_quota_stats(&target);
            }
            return;
        }
        if self.quotas.is_empty() {
            return;
        }
        let bytes = self.data_len_of(node_path);
        self.record_usage(node_path, UsageChange { count: 1, bytes });
    }

    /// Called once `node_path`, which held `record`, was removed.
    pub(super) fn quota_after_remove(&mut self, node_path: &str, record: &NodeRecord) {
        if let Some((target, is_limits)) = quota::quota_node_target(node_path) {
            if is_limits {
                self.quotas.remove(target);
            }
            return;
        }
        if self.quotas.is_empty() {
            return;
        }
        let bytes = data_len(record.data.as_deref());
        self.record_usage(
            node_path,
            UsageChange {
                count: -1,
                bytes: -bytes,
            },
        );
    }

    /// Called once the data of `node_path` changed from `old_len` to `new_len` bytes. A tree
    /// without quotas looks nothing up.
    pub(super) fn quota_after_data_change(&mut self, node_path: &str, old_len: i64, new_len: i64) {
        if let Some((target, true)) = quota::quota_node_target(node_path) {
            let target = target.to_string();
            self.refresh_quota(&target);
        } else if !self.quotas.is_empty() {
            let change = UsageChange {
                count: 0,
                bytes: new_len - old_len,
            };
            self.record_usage(node_path, change);
        }
    }

    /// Rebuilds the quota of `target` from its limits node and its subtree as they are now.
    pub(super) fn refresh_quota(&mut self, target: &str) {
        let limits_path = format!("{}{target}/{}", quota::QUOTA_ROOT, quota::QUOTA_LIMITS_NODE);
        let limits = self
            .nodes
            .get(limits_path.as_str())
            .filter(|_| quota::may_have_quota(target))
            // A limits node that does not parse (stored before quotas were kept) is no quota.
            .and_then(|node| {
                QuotaLimits::parse(node.record.data.as_deref().unwrap_or_default()).ok()
            });
        match limits {
            Some(limits) => {
                let usage = self.subtree_usage(target);
                self.quotas.set(target.to_string(), limits, usage);
                self.render_quota_stats(target);
            }
            None => self.quotas.remove(target),
        }
    }

    fn record_usage(&mut self, node_path: &str, change: UsageChange) {
        for quota_path in self.quotas.record(node_path, change) {
            self.render_quota_stats(&quota_path);
        }
    }

    /// The node count and data bytes of the subtree at `target`, itself included (ZooKeeper's
    /// `DataTree.getCounts`).
    fn subtree_usage(&self, target: &str) -> QuotaUsage {
        let mut usage = QuotaUsage::default();
        if let Some(node) = self.nodes.get(target) {
            usage.count = 1;
            usage.bytes = data_len(node.record.data.as_deref());
        }
        let prefix = format!("{target}/");
        let below = self
            .nodes
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(node_path, _)| node_path.starts_with(&prefix));
        for (_, node) in below {
            usage.count += 1;
            usage.bytes += data_len(node.record.data.as_deref());
        }
        usage
    }

    /// Writes the usage of the quota on `target` into its stats node, if both exist. As in
    /// ZooKeeper, the stats node's version and mzxid stay as they are and no watch fires: the
    /// usage is the server's report, not a client's write.
    fn render_quota_stats(&mut self, target: &str) {
        let Some(usage) = self.quotas.usage(target) else {
            return;
        };
        let stats_path = quota::stats_path(target);
        let Some(node) = self.nodes.get_mut(stats_path.as_str()) else {
            return;
        };
        let rendered = usage.render();
        if node.record.data.as_deref() != Some(rendered.as_slice()) {
            node.record.data = Some(rendered.into_boxed_slice());
            self.dirty_nodes.insert(stats_path);
        }
    }

    fn data_len_of(&self, node_path: &str) -> i64 {
        self.nodes
            .get(node_path)
            .map_or(0, |node| data_len(node.record.data.as_deref()))
    }
}
