//! Leader-local session liveness: who has been heard from, and who has expired.
//!
//! ZooKeeper's leader keeps this in `SessionTrackerImpl`: pings refresh a deadline in memory and
//! never enter the log; when a deadline passes, the leader proposes a close. After a leader
//! change, the new leader gives every session a full fresh timeout before it can expire, so that a
//! failover does not kill healthy clients that were talking to the old leader. This tracker is
//! pure: the caller passes the current time.

use std::collections::{BTreeMap, BTreeSet};

use crate::SessionId;

/// Session deadlines, ordered so that finding the expired ones costs only what it returns.
#[derive(Clone, Debug, Default)]
pub struct SessionTracker {
    deadlines: BTreeMap<SessionId, Deadline>,
    by_deadline: BTreeSet<(i64, SessionId)>,
}

#[derive(Clone, Copy, Debug)]
struct Deadline {
    timeout_ms: i32,
    expires_at_ms: i64,
}

impl SessionTracker {
    pub fn new() -> SessionTracker {
        SessionTracker::default()
    }

    /// Starts tracking a session (on open, or when a new leader takes over) with a full timeout.
    pub fn add(&mut self, session_id: SessionId, timeout_ms: i32, now_ms: i64) {
        self.remove(session_id);
        let expires_at_ms = now_ms.saturating_add(i64::from(timeout_ms));
        self.deadlines.insert(
            session_id,
            Deadline {
                timeout_ms,
                expires_at_ms,
            },
        );
        self.by_deadline.insert((expires_at_ms, session_id));
    }

    /// Renews a session after a heartbeat or request. Returns false if it is not tracked (it
    /// expired or was closed), in which case the client must be told its session is gone.
    pub fn touch(&mut self, session_id: SessionId, now_ms: i64) -> bool {
        let Some(deadline) = self.deadlines.get(&session_id).copied() else {
            return false;
        };
        self.add(session_id, deadline.timeout_ms, now_ms);
        true
    }

    /// Stops tracking a session.
    pub fn remove(&mut self, session_id: SessionId) {
        if let Some(deadline) = self.deadlines.remove(&session_id) {
            self.by_deadline
                .remove(&(deadline.expires_at_ms, session_id));
        }
    }

    /// Sessions whose deadline is before `now_ms`, oldest deadline first. They stay tracked until
    /// the close is applied and [`SessionTracker::remove`] is called, so a retry proposes again.
    pub fn expired(&self, now_ms: i64) -> Vec<SessionId> {
        self.by_deadline
            .iter()
            .take_while(|(expires_at_ms, _)| *expires_at_ms < now_ms)
            .map(|(_, session_id)| *session_id)
            .collect()
    }

    /// Gives every tracked session a full timeout from `now_ms`: what a new leader does.
    pub fn reset_all(&mut self, now_ms: i64) {
        let sessions: Vec<(SessionId, i32)> = self
            .deadlines
            .iter()
            .map(|(session_id, deadline)| (*session_id, deadline.timeout_ms))
            .collect();
        for (session_id, timeout_ms) in sessions {
            self.add(session_id, timeout_ms, now_ms);
        }
    }

    /// The deadline of a tracked session.
    pub fn expires_at_ms(&self, session_id: SessionId) -> Option<i64> {
        self.deadlines
            .get(&session_id)
            .map(|deadline| deadline.expires_at_ms)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_after_its_timeout_without_heartbeat() {
        let mut tracker = SessionTracker::new();
        tracker.add(7, 1_000, 10_000);
        assert!(tracker.expired(10_999).is_empty());
        assert!(tracker.expired(11_000).is_empty());
        assert_eq!(tracker.expired(11_001), vec![7]);
    }

    #[test]
    fn heartbeat_pushes_the_deadline() {
        let mut tracker = SessionTracker::new();
        tracker.add(7, 1_000, 10_000);
        assert!(tracker.touch(7, 10_900));
        assert!(tracker.expired(11_500).is_empty());
        assert_eq!(tracker.expired(11_901), vec![7]);
        tracker.remove(7);
        assert!(!tracker.touch(7, 12_000));
    }

    #[test]
    fn new_leader_gives_every_session_a_fresh_timeout() {
        let mut tracker = SessionTracker::new();
        tracker.add(1, 1_000, 0);
        tracker.add(2, 5_000, 0);
        tracker.reset_all(4_000);
        assert!(tracker.expired(4_500).is_empty());
        assert_eq!(tracker.expired(5_001), vec![1]);
        assert_eq!(tracker.expires_at_ms(2), Some(9_000));
    }
}
