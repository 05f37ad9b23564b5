//! The leader's duties toward sessions and expiring nodes, run on every node and active on the
//! one that leads.
//!
//! As in ZooKeeper, a session's liveness is the leader's business: every node collects the
//! sessions its clients were heard from and sends them to the leader in batches (ZooKeeper's
//! learners put them in their pings); the leader keeps the deadlines in a
//! [`SessionTracker`] and proposes the close of a session whose deadline passed, with its own
//! clock. A node that becomes leader gives every session a full fresh timeout first, so that a
//! failover does not expire healthy clients that were talking to the old leader. The leader also
//! proposes the removal of expired containers and TTL nodes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use polis_tree::{CloseReason, SessionId, SessionTracker, TxnKind};
use tokio::sync::mpsc;

use super::Node;

/// How often the leader looks for expired containers and TTL nodes.
pub const EXPIRED_NODES_SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// How long a proposed session close may take before the leader proposes it again.
pub const CLOSE_RETRY_AFTER_MS: i64 = 5_000;
/// The most session renewals a node collects between two ticks; more are dropped (the next
/// request of the same session renews it again).
pub const TOUCHES_PENDING_MAX: usize = 65_536;

/// Runs the supervisor until the node stops.
///
/// Every `tick` it sends the sessions renewed since the last tick to the leader and, while
/// leading, expires the sessions past their deadline.
pub async fn run(
    node: Arc<Node>,
    tick: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    mut local_touches: mpsc::Receiver<SessionId>,
    mut forwarded_touches: mpsc::Receiver<Vec<SessionId>>,
) {
    let mut tracker = SessionTracker::new();
    let mut leading = false;
    let mut pending: HashSet<SessionId> = HashSet::new();
    // Sessions whose close was proposed, and when (monotonic ms).
    let mut closing: HashMap<SessionId, i64> = HashMap::new();
    let mut last_scan_ms: i64 = 0;
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = stopping.changed() => {
                if changed.is_err() || *stopping.borrow() {
                    return;
                }
            }
            touched = local_touches.recv() => {
                let Some(session_id) = touched else { return };
                if pending.len() < TOUCHES_PENDING_MAX {
                    pending.insert(session_id);
                }
            }
            forwarded = forwarded_touches.recv() => {
                let Some(sessions) = forwarded else { return };
                if leading {
                    let now_ms = node.clock.monotonic_ms();
                    for session_id in sessions {
                        tracker.touch(session_id, now_ms);
                    }
                }
            }
            _ = ticks.tick() => {
                let leader = node.raft.metrics().borrow().current_leader;
                let now_leading = leader == Some(node.id);
                let now_ms = node.clock.monotonic_ms();
                if now_leading {
                    if !leading {
                        // A new leader: every session starts a fresh timeout (ZooKeeper's rule).
                        tracker = SessionTracker::new();
                        closing.clear();
                    }
                    reconcile(&node, &mut tracker, &mut closing, now_ms).await;
                    for session_id in pending.drain() {
                        tracker.touch(session_id, now_ms);
                    }
                    expire_sessions(&node, &tracker, &mut closing, now_ms);
                    let wall_ms = node.clock.wall_ms();
                    if wall_ms - last_scan_ms >= EXPIRED_NODES_SCAN_INTERVAL.as_millis() as i64 {
                        last_scan_ms = wall_ms;
                        remove_expired_nodes(&node, wall_ms).await;
                    }
                } else if let Some(leader) = leader && !pending.is_empty() {
                    let sessions: Vec<SessionId> = pending.drain().collect();
                    let link = node.clone();
                    tokio::spawn(async move { link.leader.touch_sessions(leader, sessions).await });
                }
                leading = now_leading;
            }
        }
    }
}

/// Tracks every open session of the tree and forgets closed ones. A session the tracker has not
/// seen (new, or this node just became leader) starts with a full timeout.
async fn reconcile(
    node: &Node,
    tracker: &mut SessionTracker,
    closing: &mut HashMap<SessionId, i64>,
    now_ms: i64,
) {
    let tree = node.reader.read().await;
    let sessions = tree.sessions();
    for (session_id, session) in sessions.iter() {
        if tracker.expires_at_ms(session_id).is_none() {
            tracker.add(session_id, session.timeout_ms, now_ms);
        }
    }
    let gone: Vec<SessionId> = closing
        .keys()
        .copied()
        .filter(|session_id| !sessions.contains(*session_id))
        .collect();
    for session_id in gone {
        closing.remove(&session_id);
        tracker.remove(session_id);
    }
    if tracker.len() > sessions.len() {
        let tracked: Vec<SessionId> = tracker.expired(i64::MAX);
        for session_id in tracked {
            if !sessions.contains(session_id) {
                tracker.remove(session_id);
            }
        }
    }
}

/// Proposes the close of every session past its deadline, again if an earlier proposal did not
/// take effect within [`CLOSE_RETRY_AFTER_MS`].
fn expire_sessions(
    node: &Arc<Node>,
    tracker: &SessionTracker,
    closing: &mut HashMap<SessionId, i64>,
    now_ms: i64,
) {
    for session_id in tracker.expired(now_ms) {
        if closing
            .get(&session_id)
            .is_some_and(|proposed_ms| now_ms - proposed_ms < CLOSE_RETRY_AFTER_MS)
        {
            continue;
        }
        closing.insert(session_id, now_ms);
        tracing::info!(session_id, "session expired");
        metrics::counter!("polis_sessions_expired_total").increment(1);
        let node = node.clone();
        tokio::spawn(async move {
            let kind = TxnKind::CloseSession {
                session_id,
                reason: CloseReason::Expired,
            };
            if let Err(error) = node.leader.propose(kind).await {
                tracing::warn!(session_id, %error, "could not expire a session; will retry");
            }
        });
    }
}

/// Proposes the removal of expired containers and TTL nodes (ZooKeeper's ContainerManager).
async fn remove_expired_nodes(node: &Arc<Node>, wall_ms: i64) {
    let expired = {
        let tree = node.reader.read().await;
        // A new leader whose clock runs behind the old one's judges expiry by the committed
        // time, which the tree keeps from going backwards (and the removal applies at).
        tree.expired_nodes(wall_ms.max(tree.last_time_ms()))
    };
    for path in expired {
        let node = node.clone();
        tokio::spawn(async move {
            let kind = TxnKind::RemoveExpiredNode { path: path.clone() };
            match node.leader.propose(kind).await {
                Ok(_) => tracing::debug!(%path, "removed an expired container or TTL node"),
                Err(error) => tracing::debug!(%path, %error, "could not remove an expired node"),
            }
        });
    }
}
