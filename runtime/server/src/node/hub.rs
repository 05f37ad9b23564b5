//! The watch hub: which sessions are attached to this node, what they watch, and the moment each
//! applied change reaches them.
//!
//! The Raft state machine calls [`Hub`] as its [`ApplyHook`] while it holds the tree's write lock
//! (see `polis_raft::ApplyHook`): the watch events of an entry are queued to the attached
//! sessions before any reader can see the entry in the tree. A request handler that reads the
//! tree (holding the read lock) and registers a watch in the same breath can therefore neither
//! miss the next change nor see a change whose event has not been queued yet — ZooKeeper's
//! ordering guarantee, with no single thread to enforce it.
//!
//! Lock order, everywhere: the tree's lock first, then the hub's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use polis_proto::wire;
use polis_raft::{ApplyHook, LogId};
use polis_tree::{
    Acl, Applied, DataTree, ErrorCode, Id, OpResult, Perms, SessionId, WatchEvent, WatchRegistry,
    Zxid, allows,
};
use tokio::sync::watch;

use super::session_owners::SessionOwners;
use super::{ConnectionId, Outbound};

/// One connection's attachment to a session.
#[derive(Debug)]
pub struct Attachment {
    pub connection_id: ConnectionId,
    pub outbound: Outbound,
    /// The connection's identities (certificate, digests added since): an event reaches the
    /// session only if they may READ the event's node.
    pub identities: Arc<[Id]>,
}

/// The hub's state, behind its mutex.
#[derive(Debug)]
pub struct HubState {
    pub watches: WatchRegistry,
    pub attachments: HashMap<SessionId, Attachment>,
    /// Who opened the sessions this node opened, for the per-owner caps; a close applied here
    /// gives the place back, wherever in the cluster it happened.
    pub owners: SessionOwners,
}

/// Watches and attachments of the sessions connected to this node.
#[derive(Debug)]
pub struct Hub {
    state: Mutex<HubState>,
    /// The zxid of the last entry whose events were queued: responses to writes wait for it.
    applied_zxid: watch::Sender<Zxid>,
    /// The number of open sessions in the tree, as of the last applied entry.
    session_count: AtomicUsize,
    /// Set when the node stops: nothing will be applied any more.
    stopped: watch::Sender<bool>,
}

impl Hub {
    pub fn new(watches_per_session_max: usize, applied_zxid: Zxid) -> Hub {
        Hub {
            state: Mutex::new(HubState {
                watches: WatchRegistry::new(watches_per_session_max),
                attachments: HashMap::new(),
                owners: SessionOwners::default(),
            }),
            applied_zxid: watch::Sender::new(applied_zxid),
            session_count: AtomicUsize::new(0),
            stopped: watch::Sender::new(false),
        }
    }

    /// The hub's state. Callers that also read the tree must take the tree's lock first.
    pub fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves consistent data (every update is a single map
        // operation), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until the events of `zxid` (and all before it) have been queued, or the node
    /// stops. A stopping node has closed its client connections first, so whatever a request
    /// answers after that reaches nobody; what matters is that the request lets go of the node,
    /// whose files (and peer port) close with its last reference.
    pub async fn applied_through(&self, zxid: Zxid) {
        let mut applied = self.applied_zxid.subscribe();
        let mut stopped = self.stopped.subscribe();
        // The senders live as long as the hub, which outlives every caller.
        tokio::select! {
            _ = applied.wait_for(|applied| *applied >= zxid) => {}
            _ = stopped.wait_for(|stopped| *stopped) => {}
        }
    }

    /// The node stops: nothing will be applied any more, so nobody should wait for it.
    pub fn stop(&self) {
        self.stopped.send_replace(true);
    }

    /// The zxid of the last entry whose events were queued.
    pub fn applied_zxid(&self) -> Zxid {
        *self.applied_zxid.borrow()
    }

    /// Attaches a session to a connection. A previous connection of the session is told the
    /// session moved and loses it (its queue is dropped, which closes it).
    pub fn attach(
        &self,
        session_id: SessionId,
        connection_id: ConnectionId,
        outbound: Outbound,
        identities: Arc<[Id]>,
    ) {
        let mut state = self.lock();
        if let Some(previous) = state.attachments.remove(&session_id) {
            let _ = previous.outbound.try_send(session_ended(
                session_id,
                ErrorCode::SessionMoved,
                "the session moved to another connection",
            ));
        }
        state.watches.remove_session(session_id);
        state.attachments.insert(
            session_id,
            Attachment {
                connection_id,
                outbound,
                identities,
            },
        );
    }

    /// Records a connection's new identities (after an `addAuth`).
    pub fn set_identities(
        &self,
        session_id: SessionId,
        connection_id: ConnectionId,
        identities: Arc<[Id]>,
    ) {
        let mut state = self.lock();
        if let Some(attachment) = state.attachments.get_mut(&session_id)
            && attachment.connection_id == connection_id
        {
            attachment.identities = identities;
        }
    }

    /// Detaches a session from a connection that is gone; the session lives on until it expires
    /// or is resumed. Its watches go: the client sets them again when it reconnects.
    pub fn detach(&self, session_id: SessionId, connection_id: ConnectionId) {
        let mut state = self.lock();
        let attached_here = state
            .attachments
            .get(&session_id)
            .is_some_and(|attachment| attachment.connection_id == connection_id);
        if attached_here {
            state.attachments.remove(&session_id);
            state.watches.remove_session(session_id);
        }
    }

    /// True if the session is attached to this connection.
    pub fn is_attached(&self, session_id: SessionId, connection_id: ConnectionId) -> bool {
        self.lock()
            .attachments
            .get(&session_id)
            .is_some_and(|attachment| attachment.connection_id == connection_id)
    }

    /// The number of open sessions, as of the last applied entry.
    pub fn session_count(&self) -> usize {
        self.session_count.load(Ordering::Relaxed)
    }

    /// The sessions attached to this node.
    pub fn attached_sessions(&self) -> Vec<SessionId> {
        self.lock().attachments.keys().copied().collect()
    }
}

impl HubState {
    /// True if the session is attached here with identities that may READ a node with `acl`:
    /// ZooKeeper (3.9.2, CVE-2024-23944) delivers a watch event only to such a watcher.
    pub fn may_see(&self, session_id: SessionId, acl: &[Acl]) -> bool {
        self.attachments
            .get(&session_id)
            .is_some_and(|attachment| allows(acl, Perms::READ, &attachment.identities))
    }

    /// Queues `event` to a session; a session whose queue is full is cut off.
    pub fn send_event(&mut self, session_id: SessionId, event: &WatchEvent) {
        let message = event_message(event);
        self.send(session_id, message);
    }

    /// Queues a message to a session if it is attached here. A full queue means the client does
    /// not read: it is cut off (its queue dropped, which closes the connection) rather than let
    /// its backlog grow or its messages arrive with gaps. Its session survives.
    pub fn send(&mut self, session_id: SessionId, message: wire::ServerMessage) {
        let Some(attachment) = self.attachments.get(&session_id) else {
            return;
        };
        if attachment.outbound.try_send(message).is_err() {
            // Cut it off for real: the session's reader and handler still hold senders, so
            // dropping the hub's alone would let later messages through after a gap.
            attachment.outbound.cut_off();
            tracing::warn!(
                session_id,
                "client does not read its events; disconnecting it"
            );
            metrics::counter!("polis_connections_cut_off_total").increment(1);
            self.attachments.remove(&session_id);
            self.watches.remove_session(session_id);
        }
    }

    /// Ends an attached session that the tree no longer has (closed or expired).
    fn end_session(&mut self, session_id: SessionId, code: ErrorCode, reason: &str) {
        self.watches.remove_session(session_id);
        if let Some(attachment) = self.attachments.remove(&session_id) {
            let _ = attachment
                .outbound
                .try_send(session_ended(session_id, code, reason));
        }
    }
}

impl ApplyHook for Hub {
    fn applied(&self, _log_id: &LogId, applied: &Applied, tree: &DataTree) {
        let mut state = self.lock();
        for (event, acl) in applied.events.iter().zip(&applied.event_acls) {
            // A watch fires (a one-shot one is used up) whether or not its session may see
            // the event, as in ZooKeeper.
            for session_id in state.watches.trigger(event) {
                if state.may_see(session_id, acl) {
                    state.send_event(session_id, event);
                }
            }
        }
        if let Ok(OpResult::SessionClosed { .. }) = applied.result {
            let gone: Vec<SessionId> = state
                .attachments
                .keys()
                .copied()
                .filter(|session_id| !tree.sessions().contains(*session_id))
                .collect();
            for session_id in gone {
                state.end_session(session_id, ErrorCode::SessionExpired, "the session ended");
            }
            state.owners.retain_open(tree);
        }
        drop(state);
        self.session_count
            .store(tree.sessions().len(), Ordering::Relaxed);
        self.applied_zxid.send_replace(applied.zxid);
    }

    fn snapshot_installed(&self, tree: &DataTree) {
        // The node fell behind the leader's log and took a whole new tree: it cannot tell which
        // watched nodes changed. Its clients are disconnected; they reconnect, set their watches
        // again with the last zxid they saw, and the history the snapshot carries replays what
        // they missed (or tells them it was compacted).
        let mut state = self.lock();
        let sessions: Vec<SessionId> = state.attachments.keys().copied().collect();
        for session_id in sessions {
            state.watches.remove_session(session_id);
            state.attachments.remove(&session_id);
        }
        state.owners.retain_open(tree);
        drop(state);
        self.applied_zxid.send_replace(tree.last_zxid());
    }
}

/// A watch event as a wire message.
pub fn event_message(event: &WatchEvent) -> wire::ServerMessage {
    wire::ServerMessage {
        body: Some(wire::server_message::Body::Event(wire::WatchEvent {
            zxid: event.zxid,
            r#type: polis_proto::convert::event_kind_to_wire(event.kind) as i32,
            path: event.path.clone(),
        })),
    }
}

/// The message that tells a client its session is over.
pub fn session_ended(session_id: SessionId, code: ErrorCode, reason: &str) -> wire::ServerMessage {
    wire::ServerMessage {
        body: Some(wire::server_message::Body::SessionEnded(
            wire::SessionEnded {
                session_id,
                error_code: code.as_i32(),
                reason: reason.to_string(),
            },
        )),
    }
}
