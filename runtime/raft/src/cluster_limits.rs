//! The limits a node proposes when it leads, and whether the cluster already has them.

use std::sync::atomic::{AtomicBool, Ordering};

use polis_tree::{Limits, TxnKind};

/// A node's configured limits, against the cluster's (the tree's, replicated).
///
/// A limit decides whether a committed transaction succeeds, so every replica must apply each
/// transaction under the same limits; a node's `[limits]` section therefore only says what it
/// proposes when it leads. The state machine reports the tree's limits after every applied
/// batch ([`ClusterLimits::observe`]); while they differ from the configured ones, the leader's
/// sink puts a [`TxnKind::SetLimits`] first in the next entry it proposes, so the cluster takes
/// the leader's limits at one zxid before the leader's first write is applied under them. Nodes
/// configured differently thus never diverge: the limits follow the leader, and an operator
/// who changes them on every node sees them take effect when the next leader proposes.
#[derive(Debug)]
pub struct ClusterLimits {
    configured: Limits,
    /// Whether the tree's limits equal the configured ones, as of the last applied batch.
    agreed: AtomicBool,
}

impl ClusterLimits {
    pub fn new(configured: Limits) -> ClusterLimits {
        assert_eq!(configured.validate(), Ok(()), "configured limits are valid");
        ClusterLimits {
            configured,
            agreed: AtomicBool::new(false),
        }
    }

    /// The limits this node proposes when it leads.
    pub fn configured(&self) -> &Limits {
        &self.configured
    }

    /// Records the tree's limits after an applied batch, an installed snapshot or a restart.
    pub fn observe(&self, tree_limits: &Limits) {
        self.agreed
            .store(*tree_limits == self.configured, Ordering::Release);
    }

    /// Whether the tree has this node's configured limits.
    pub fn agreed(&self) -> bool {
        self.agreed.load(Ordering::Acquire)
    }

    /// The transaction a leader puts first in its next entry: `SetLimits` while the tree's limits
    /// differ from this node's. Two entries in flight at once may both carry it; applying the
    /// same limits twice changes nothing.
    pub fn proposal(&self) -> Option<TxnKind> {
        (!self.agreed()).then(|| TxnKind::SetLimits {
            limits: self.configured.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_proposes_its_limits_until_the_tree_has_them() {
        let configured = Limits {
            data_len_max: 1_000,
            ..Limits::default()
        };
        let limits = ClusterLimits::new(configured.clone());
        assert_eq!(
            limits.proposal(),
            Some(TxnKind::SetLimits {
                limits: configured.clone()
            })
        );
        limits.observe(&Limits::default());
        assert!(limits.proposal().is_some());
        limits.observe(&configured);
        assert_eq!(limits.proposal(), None);
        // Another leader changed them back: this node proposes its own again when it leads.
        limits.observe(&Limits::default());
        assert!(!limits.agreed());
    }
}
