//! The replicated session table.
//!
//! Which sessions exist, their negotiated timeouts and passwords, and the ephemeral nodes they own
//! are replicated state: every replica must agree on them so that ephemerals disappear everywhere
//! at the same zxid. When a session was last heard from is not: that is the leader's business (see
//! [`crate::SessionTracker`]), exactly as in ZooKeeper, where pings never enter the log.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::SessionId;

/// One open session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The negotiated timeout, in milliseconds.
    pub timeout_ms: i32,
    /// The secret a client presents to resume this session on another connection.
    pub password: [u8; 16],
    /// The paths of the ephemeral nodes this session owns. Derived from the nodes, so it is not
    /// stored: loading a tree rebuilds it.
    #[serde(skip)]
    pub ephemerals: BTreeSet<String>,
}

/// All open sessions, ordered by id so that iteration is the same on every replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionTable {
    sessions: BTreeMap<SessionId, Session>,
}

impl SessionTable {
    pub fn get(&self, session_id: SessionId) -> Option<&Session> {
        self.sessions.get(&session_id)
    }

    pub(crate) fn get_mut(&mut self, session_id: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(&session_id)
    }

    pub fn contains(&self, session_id: SessionId) -> bool {
        self.sessions.contains_key(&session_id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session)> {
        self.sessions.iter().map(|(id, session)| (*id, session))
    }

    /// The sessions with ids above `after` (all of them without one), in id order: a page's
    /// worth costs a page's work, however many sessions there are.
    pub fn iter_after(
        &self,
        after: Option<SessionId>,
    ) -> impl Iterator<Item = (SessionId, &Session)> {
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        self.sessions
            .range((start, std::ops::Bound::Unbounded))
            .map(|(id, session)| (*id, session))
    }

    pub(crate) fn insert(&mut self, session_id: SessionId, session: Session) {
        self.sessions.insert(session_id, session);
    }

    pub(crate) fn remove(&mut self, session_id: SessionId) -> Option<Session> {
        self.sessions.remove(&session_id)
    }
}
