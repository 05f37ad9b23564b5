//! Sessions: opening, resuming, detaching, expiring.
//!
//! As in ZooKeeper, a session outlives its connection: a client that loses its connection has
//! the session timeout to come back (to this server or, with the quorum, another one) with the
//! session id and password, and keeps its ephemeral nodes. Watches belong to the connection: the
//! client re-registers them with `SetWatches` and the last zxid it saw, and the server replays
//! what it missed from the history.

use std::sync::Arc;

use polis_proto::wire;
use polis_tree::{CloseReason, ErrorCode, Id, OpResult, SessionId, TreeError, TxnKind};
use tokio::sync::oneshot;

use super::core::{Attachment, Pending};
use super::{ConnectionId, Core, Outbound};

impl Core {
    pub(super) fn connect(
        &mut self,
        connection_id: ConnectionId,
        connect: wire::Connect,
        identities: Arc<[Id]>,
        outbound: Outbound,
        reply: oneshot::Sender<wire::Connected>,
    ) {
        let mut connected = wire::Connected {
            protocol_version: polis_proto::PROTOCOL_VERSION,
            identities: identities
                .iter()
                .map(polis_proto::convert::id_to_wire)
                .collect(),
            ..wire::Connected::default()
        };
        match self.open_or_resume(connection_id, &connect, outbound) {
            Ok((session_id, timeout_ms, password)) => {
                connected.session_id = session_id;
                connected.session_timeout_ms = timeout_ms;
                connected.password = password.to_vec();
            }
            Err((code, message)) => {
                connected.error_code = code.as_i32();
                connected.error_message = message;
            }
        }
        connected.last_zxid = self.tree.last_zxid();
        self.pending.push(Pending::Connected { reply, connected });
    }

    fn open_or_resume(
        &mut self,
        connection_id: ConnectionId,
        connect: &wire::Connect,
        outbound: Outbound,
    ) -> Result<(SessionId, i32, [u8; 16]), (ErrorCode, String)> {
        if connect.protocol_version != polis_proto::PROTOCOL_VERSION {
            return Err((
                ErrorCode::BadArguments,
                format!(
                    "protocol version {} is not supported; this server speaks {}",
                    connect.protocol_version,
                    polis_proto::PROTOCOL_VERSION
                ),
            ));
        }
        if connect.last_zxid_seen > self.tree.last_zxid() {
            // ZooKeeper refuses a client that has seen a newer state than the server has: the
            // client would go back in time. It should try another server.
            return Err((
                ErrorCode::ConnectionLoss,
                format!(
                    "the client has seen zxid {} but this server is at {}; try another server",
                    connect.last_zxid_seen,
                    self.tree.last_zxid()
                ),
            ));
        }
        let now_ms = self.clock.monotonic_ms();
        if connect.session_id == 0 {
            let mut password = [0u8; 16];
            getrandom::fill(&mut password).map_err(|error| {
                (
                    ErrorCode::SystemError,
                    format!("no randomness for a session password: {error}"),
                )
            })?;
            let applied = self.propose(TxnKind::OpenSession {
                timeout_ms: connect.session_timeout_ms,
                password,
            });
            let (session_id, timeout_ms) = match applied.result {
                Ok(OpResult::SessionOpened {
                    session_id,
                    timeout_ms,
                }) => (session_id, timeout_ms),
                Ok(other) => {
                    return Err((
                        ErrorCode::SystemError,
                        format!("unexpected result {other:?}"),
                    ));
                }
                Err(error) => return Err((error.code(), error.to_string())),
            };
            self.tracker.add(session_id, timeout_ms, now_ms);
            self.attachments.insert(
                session_id,
                Attachment {
                    connection_id,
                    outbound,
                },
            );
            metrics::counter!("polis_sessions_opened_total").increment(1);
            return Ok((session_id, timeout_ms, password));
        }
        let session_id = connect.session_id;
        let Some(session) = self.tree.sessions().get(session_id) else {
            return Err((
                ErrorCode::SessionExpired,
                format!("session {session_id:#x} has expired"),
            ));
        };
        if !constant_time_equal(&session.password, &connect.password) {
            return Err((
                ErrorCode::AuthFailed,
                format!("wrong password for session {session_id:#x}"),
            ));
        }
        let (timeout_ms, password) = (session.timeout_ms, session.password);
        if let Some(previous) = self.attachments.remove(&session_id) {
            // The session moved to a newer connection: the old one must not act for it anymore.
            self.pending.push(Pending::Message {
                connection_id: previous.connection_id,
                outbound: previous.outbound,
                message: session_ended(
                    session_id,
                    ErrorCode::SessionMoved,
                    "the session moved to another connection",
                ),
            });
            self.watches.remove_session(session_id);
        }
        if !self.tracker.touch(session_id, now_ms) {
            self.tracker.add(session_id, timeout_ms, now_ms);
        }
        self.attachments.insert(
            session_id,
            Attachment {
                connection_id,
                outbound,
            },
        );
        metrics::counter!("polis_sessions_resumed_total").increment(1);
        Ok((session_id, timeout_ms, password))
    }

    /// A connection is gone. Its session stays open until its timeout passes.
    pub(super) fn detach(&mut self, connection_id: ConnectionId, session_id: SessionId) {
        let attached_here = self
            .attachments
            .get(&session_id)
            .is_some_and(|attachment| attachment.connection_id == connection_id);
        if attached_here {
            self.attachments.remove(&session_id);
            self.watches.remove_session(session_id);
        }
    }

    /// Expires sessions past their deadline and removes expired containers and TTL nodes.
    pub(super) fn tick(&mut self) {
        let now_ms = self.clock.monotonic_ms();
        for session_id in self.tracker.expired(now_ms) {
            let applied = self.propose(TxnKind::CloseSession {
                session_id,
                reason: CloseReason::Expired,
            });
            match &applied.result {
                Ok(_) | Err(TreeError::SessionExpired { .. }) => {
                    tracing::info!(session_id, "session expired");
                    metrics::counter!("polis_sessions_expired_total").increment(1);
                    self.end_session(session_id, ErrorCode::SessionExpired, "the session expired");
                }
                Err(error) => {
                    tracing::error!(session_id, %error, "could not expire a session");
                }
            }
        }
        let wall_ms = self.clock.wall_ms();
        if wall_ms - self.last_expiry_scan_ms >= self.config.expiry_scan_interval_ms {
            self.last_expiry_scan_ms = wall_ms;
            for path in self.tree.expired_nodes(wall_ms) {
                let applied = self.propose(TxnKind::RemoveExpiredNode { path: path.clone() });
                if applied.result.is_ok() {
                    tracing::debug!(%path, "removed an expired container or TTL node");
                }
            }
        }
    }

    /// Forgets a session that was closed or expired, telling its connection why.
    pub(super) fn end_session(&mut self, session_id: SessionId, code: ErrorCode, reason: &str) {
        self.tracker.remove(session_id);
        self.watches.remove_session(session_id);
        if let Some(attachment) = self.attachments.remove(&session_id) {
            self.pending.push(Pending::Message {
                connection_id: attachment.connection_id,
                outbound: attachment.outbound,
                message: session_ended(session_id, code, reason),
            });
        }
    }
}

fn session_ended(session_id: SessionId, code: ErrorCode, reason: &str) -> wire::ServerMessage {
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

/// Compares secrets without leaking, through timing, how many leading bytes matched.
fn constant_time_equal(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}
