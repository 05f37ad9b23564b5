//! Lasting connections to peers: one QUIC connection from this node to each peer, shared by
//! every Raft RPC and forwarded request sent there.
//!
//! A mutual-TLS handshake costs both sides far more CPU than the RPCs a connection then carries
//! (certificate verification, ECDSA signatures, key agreement), so a connection is dialled once
//! and kept: an RPC that fails or times out leaves it open, since QUIC streams fail on their
//! own; only a connection that has closed (the peer went away, its idle timeout passed, the peer
//! refused it) is dialled again, and repeated dial failures back off. Openraft builds a new
//! network client for every replication stream and election; these clients all find the same
//! connection here.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quinn::{Connection, Endpoint};

use super::{NetworkFaults, PeerNetworkError};
use crate::{LeaderLease, NodeId, PeerNode};

/// How long establishing a connection to a peer may take.
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The wait before dialling again after a failed dial; each further failure doubles it up to
/// [`PEER_REDIAL_BACKOFF_MAX`]. A peer that is down costs a handshake attempt every couple of
/// seconds, not one per heartbeat or forwarded request.
pub const PEER_REDIAL_BACKOFF_BASE: Duration = Duration::from_millis(50);
pub const PEER_REDIAL_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The doublings after which the redial backoff has reached its maximum anyway.
const REDIAL_DOUBLINGS_MAX: u32 = 16;

/// A peer as links know it: its id and its peer address (a member whose address changes gets a
/// new link).
type PeerKey = (NodeId, String);

/// The connections of one node to its peers, by peer: cloning gives another handle on the same
/// connections.
#[derive(Clone)]
pub struct PeerLinks {
    local_id: NodeId,
    endpoint: Endpoint,
    faults: NetworkFaults,
    links: Arc<Mutex<HashMap<PeerKey, Arc<PeerLink>>>>,
    /// Handshakes these links started, to every peer (also in `polis_peer_handshakes_total`,
    /// which sums every node of a process).
    dials: Arc<AtomicU64>,
    /// The acceptances of this node's AppendEntries, which its replication streams record over
    /// these links for the read lease.
    lease: LeaderLease,
}

impl fmt::Debug for PeerLinks {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PeerLinks")
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

impl PeerLinks {
    /// The links of node `local_id`, dialling from `endpoint` (the node's one peer endpoint,
    /// whose certificate every dial presents), with the node's fault injection.
    pub fn new(local_id: NodeId, endpoint: Endpoint, faults: NetworkFaults) -> PeerLinks {
        PeerLinks {
            local_id,
            endpoint,
            faults,
            links: Arc::new(Mutex::new(HashMap::new())),
            dials: Arc::new(AtomicU64::new(0)),
            lease: LeaderLease::new(local_id),
        }
    }

    /// The read lease that the AppendEntries sent over these links renew.
    pub fn lease(&self) -> &LeaderLease {
        &self.lease
    }

    /// How many handshakes these links have started.
    pub fn dials(&self) -> u64 {
        self.dials.load(Ordering::Relaxed)
    }

    pub fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// The link to peer `target` at `node`'s peer address, made on first use. A member whose
    /// address changed gets a new link.
    pub fn link(&self, target: NodeId, node: &PeerNode) -> Arc<PeerLink> {
        let mut links = self
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        links
            .entry((target, node.peer_address.clone()))
            .or_insert_with(|| {
                Arc::new(PeerLink {
                    target,
                    peer_address: node.peer_address.clone(),
                    endpoint: self.endpoint.clone(),
                    faults: self.faults.clone(),
                    dials: self.dials.clone(),
                    lease: self.lease.clone(),
                    state: tokio::sync::Mutex::new(LinkState::default()),
                    answers: Mutex::new(AnswerState::default()),
                })
            })
            .clone()
    }
}

/// Whether a peer answered its last call, and whether it ever did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AnswerState {
    answering: bool,
    answered_once: bool,
}

impl Default for AnswerState {
    /// A new link expects an answer, so that its first failure is noted.
    fn default() -> AnswerState {
        AnswerState {
            answering: true,
            answered_once: false,
        }
    }
}

/// What the log says after a call changed a peer's [`AnswerState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnswerNote {
    /// The first failure of a peer that never answered: starting, or down since before this node
    /// started; worth a line, not an alarm.
    NotYet,
    /// The first failure after answers: an outage.
    Stopped,
    /// The first answer after failures that began before any answer.
    Answers,
    /// The first answer after an outage.
    AnswersAgain,
}

impl AnswerState {
    /// The state after a call that `answered` (or failed), and what to say of the change, if it
    /// is one: one line per outage instead of one per failed call.
    fn after_call(self, answered: bool) -> (AnswerState, Option<AnswerNote>) {
        let next = AnswerState {
            answering: answered,
            answered_once: self.answered_once || answered,
        };
        let note = match (self.answering, answered) {
            (true, false) if self.answered_once => Some(AnswerNote::Stopped),
            (true, false) => Some(AnswerNote::NotYet),
            (false, true) if self.answered_once => Some(AnswerNote::AnswersAgain),
            (false, true) => Some(AnswerNote::Answers),
            _ => None,
        };
        (next, note)
    }
}

/// The connection to one peer.
pub struct PeerLink {
    target: NodeId,
    peer_address: String,
    endpoint: Endpoint,
    faults: NetworkFaults,
    dials: Arc<AtomicU64>,
    lease: LeaderLease,
    /// Held while dialling, so that concurrent callers wait for one handshake instead of each
    /// making its own.
    state: tokio::sync::Mutex<LinkState>,
    /// Whether the peer answered the last call and ever: the log says when this changes, not at
    /// every failed call (see [`PeerLink::record_answer`]).
    answers: Mutex<AnswerState>,
}

#[derive(Default)]
struct LinkState {
    connection: Option<Connection>,
    /// Dial failures since the last success.
    failures: u32,
    /// No dial before this instant (backoff after failures).
    next_dial: Option<Instant>,
}

impl fmt::Debug for PeerLink {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PeerLink")
            .field("target", &self.target)
            .field("peer_address", &self.peer_address)
            .finish_non_exhaustive()
    }
}

impl PeerLink {
    /// The read lease that this link's accepted AppendEntries renew.
    pub fn lease(&self) -> &LeaderLease {
        &self.lease
    }

    /// The peer this link reaches.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// Logs when the peer stops answering calls and when it answers again, once each. openraft
    /// retries replication to an unreachable or paused peer every heartbeat and logged every
    /// failure at error level (21–41 lines in a few seconds of one peer being down, which an
    /// operator reads as many faults); its replication log is off by default, and this says the
    /// same thing once per outage.
    pub(crate) fn record_answer(&self, failure: Option<&dyn fmt::Display>) {
        let note = {
            let mut answers = self
                .answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (next, note) = answers.after_call(failure.is_none());
            *answers = next;
            note
        };
        let (peer, address) = (self.target, &self.peer_address);
        match (note, failure) {
            (Some(AnswerNote::NotYet), Some(failure)) => {
                tracing::info!(peer, %address, error = %failure, "a peer does not answer yet");
            }
            (Some(AnswerNote::Stopped), Some(failure)) => tracing::warn!(
                peer,
                %address,
                error = %failure,
                "a peer stopped answering; calls to it are retried, and the log says when it \
                 answers again"
            ),
            (Some(AnswerNote::Answers), _) => tracing::info!(peer, %address, "a peer answers"),
            (Some(AnswerNote::AnswersAgain), _) => {
                tracing::info!(peer, %address, "a peer answers again");
            }
            _ => {}
        }
    }

    /// The open connection, dialling one if there is none or it closed. Fails as unreachable
    /// while fault injection cuts the link, and at once while a failed dial's backoff lasts.
    pub async fn connection(&self) -> Result<Connection, PeerNetworkError> {
        let mut state = self.state.lock().await;
        if let Some(connection) = &state.connection
            && connection.close_reason().is_none()
        {
            let address = connection.remote_address();
            if self.faults.is_blocked(address) {
                return Err(PeerNetworkError::Blocked { address });
            }
            return Ok(connection.clone());
        }
        state.connection = None;
        if let Some(next_dial) = state.next_dial
            && Instant::now() < next_dial
        {
            return Err(PeerNetworkError::BackingOff {
                address: self.peer_address.clone(),
                failures: state.failures,
            });
        }
        match self.dial().await {
            Ok(connection) => {
                state.failures = 0;
                state.next_dial = None;
                state.connection = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = PEER_REDIAL_BACKOFF_BASE
                    .saturating_mul(1 << (state.failures - 1).min(REDIAL_DOUBLINGS_MAX))
                    .min(PEER_REDIAL_BACKOFF_MAX);
                state.next_dial = Some(Instant::now() + backoff);
                Err(error)
            }
        }
    }

    /// Makes a new connection (a full mutual-TLS handshake).
    async fn dial(&self) -> Result<Connection, PeerNetworkError> {
        let address = &self.peer_address;
        let (host, _) = address
            .rsplit_once(':')
            .ok_or_else(|| PeerNetworkError::Address {
                address: address.clone(),
                reason: "no port".to_string(),
            })?;
        // The certificate names the host as the address gives it (an IP SAN or a DNS name).
        let server_name = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let socket_address = tokio::net::lookup_host(address.as_str())
            .await
            .map_err(|source| PeerNetworkError::Resolve {
                address: address.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| PeerNetworkError::Address {
                address: address.clone(),
                reason: "resolves to no address".to_string(),
            })?;
        if self.faults.is_blocked(socket_address) {
            return Err(PeerNetworkError::Blocked {
                address: socket_address,
            });
        }
        metrics::counter!("polis_peer_handshakes_total", "side" => "dial").increment(1);
        self.dials.fetch_add(1, Ordering::Relaxed);
        let connecting = self.endpoint.connect(socket_address, &server_name)?;
        let connection = tokio::time::timeout(PEER_CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| PeerNetworkError::ConnectTimeout {
                address: address.clone(),
                timeout_ms: PEER_CONNECT_TIMEOUT.as_millis() as u64,
            })??;
        tracing::debug!(target = self.target, %address, "connected to a peer");
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log notes each change of a peer's answering once: a start, an outage, a recovery;
    /// every further failed (or answered) call is silent.
    #[test]
    fn a_peer_is_noted_once_per_change_not_per_call() {
        let calls = [false, false, true, true, false, false, false, true, false];
        let mut state = AnswerState::default();
        let notes: Vec<Option<AnswerNote>> = calls
            .iter()
            .map(|answered| {
                let (next, note) = state.after_call(*answered);
                state = next;
                note
            })
            .collect();
        assert_eq!(
            notes,
            vec![
                Some(AnswerNote::NotYet),
                None,
                Some(AnswerNote::Answers),
                None,
                Some(AnswerNote::Stopped),
                None,
                None,
                Some(AnswerNote::AnswersAgain),
                Some(AnswerNote::Stopped),
            ]
        );
        // A peer that answers from the start is never noted.
        let (state, note) = AnswerState::default().after_call(true);
        assert_eq!(note, None);
        assert_eq!(state.after_call(true).1, None);
    }
}
