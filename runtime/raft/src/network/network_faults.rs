//! Fault injection for the peer network: cutting this node off from chosen peers, as a
//! firewall rule or a broken link would, without stopping anything.
//!
//! A facility for tests and for operators rehearsing failures (a partitioned minority must not
//! commit, a healed one must catch up — Raft §5 and §8), not part of normal operation. A stopped
//! node is a crash; a partition is different: both sides keep running, with their clients, and the
//! minority keeps believing what it last knew (an old leader still thinks it leads), which is
//! exactly what the safety rules must cope with.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The peer addresses this node's peer network treats as unreachable. Cheap to clone: clones
/// share one set, so a test holding a clone changes what the node's transport sees.
///
/// Peers are named by their peer socket address (the address a node listens on and dials from,
/// since one endpoint does both), so that both directions can be checked: every outgoing RPC and
/// forward before it is sent, and every incoming connection and stream before it is served. A
/// blocked outgoing call fails as unreachable (openraft backs off and retries), an incoming
/// connection from a blocked peer is ignored (the dialer times out, as it would on a network that
/// drops its packets), and a stream on a connection that was open before the block closes that
/// connection unanswered.
///
/// Blocking on one node only cuts its links in both directions; a test usually blocks on both
/// sides, as a real partition would.
///
/// When nothing is blocked, a check is one relaxed atomic load.
#[derive(Clone, Debug, Default)]
pub struct NetworkFaults {
    inner: Arc<FaultsInner>,
}

#[derive(Debug, Default)]
struct FaultsInner {
    /// True while `blocked` is not empty: the fast path of every check.
    any_blocked: AtomicBool,
    blocked: RwLock<BTreeSet<SocketAddr>>,
}

impl NetworkFaults {
    /// No faults: every peer reachable.
    pub fn new() -> NetworkFaults {
        NetworkFaults::default()
    }

    /// Cuts the link to the peer at `peer_address`, in both directions, until
    /// [`NetworkFaults::unblock`] or [`NetworkFaults::heal`].
    pub fn block(&self, peer_address: SocketAddr) {
        let mut blocked = self.write();
        blocked.insert(peer_address);
        self.inner.any_blocked.store(true, Ordering::Release);
    }

    /// Restores the link to the peer at `peer_address`.
    pub fn unblock(&self, peer_address: SocketAddr) {
        let mut blocked = self.write();
        blocked.remove(&peer_address);
        self.inner
            .any_blocked
            .store(!blocked.is_empty(), Ordering::Release);
    }

    /// Restores every link.
    pub fn heal(&self) {
        let mut blocked = self.write();
        blocked.clear();
        self.inner.any_blocked.store(false, Ordering::Release);
    }

    /// True if the link to the peer at `peer_address` is cut.
    pub fn is_blocked(&self, peer_address: SocketAddr) -> bool {
        if !self.inner.any_blocked.load(Ordering::Acquire) {
            return false;
        }
        self.inner
            .blocked
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&peer_address)
    }

    /// The peer addresses cut off now.
    pub fn blocked(&self) -> Vec<SocketAddr> {
        self.inner
            .blocked
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .copied()
            .collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<SocketAddr>> {
        // The set is always consistent (each change is one insert, remove or clear), so a
        // panic elsewhere while holding the lock leaves nothing to repair.
        self.inner
            .blocked
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn blocked_peers_are_unreachable_until_healed() {
        let faults = NetworkFaults::new();
        assert!(!faults.is_blocked(address(1)));
        let shared = faults.clone();
        shared.block(address(1));
        shared.block(address(2));
        assert!(faults.is_blocked(address(1)), "clones share the set");
        assert!(!faults.is_blocked(address(3)));
        faults.unblock(address(1));
        assert!(!faults.is_blocked(address(1)));
        assert!(faults.is_blocked(address(2)));
        faults.heal();
        assert!(!faults.is_blocked(address(2)));
        assert!(faults.blocked().is_empty());
    }
}
