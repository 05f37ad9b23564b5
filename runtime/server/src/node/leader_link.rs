//! Reaching the leader: proposing writes, Raft's ReadIndex for linearizable reads, and forwarding
//! session renewals. A client may be connected to any node; whoever leads does the work.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use polis_raft::network::{ForwardError, ForwardRequest, ForwardResponse, QuicPeerClient};
use polis_raft::{Command, CommandResponse, NodeId, PolisRaft};
use polis_tree::{SessionId, TxnKind, Zxid};
use tokio::sync::Mutex;

use super::Clock;

/// How long a request may wait for a leader (an election, a partition healing) by default, before
/// the client is told it failed (`ServerConfig::request_timeout_ms` overrides it).
pub const LEADER_WAIT_MAX_DEFAULT: Duration = Duration::from_secs(10);
/// How long one forwarded call may take.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a proposal or a read barrier did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaderError {
    /// No leader could be reached in time: a minority partition, or an election that did not
    /// finish. Nothing was committed.
    #[error("no leader reachable: {0}")]
    NoLeader(String),
    /// The request reached a leader but its outcome is unknown (the leader went away while it
    /// was being committed), as ZooKeeper's ConnectionLoss: the client must check.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// A node's way to the leader.
pub struct LeaderLink {
    id: NodeId,
    raft: PolisRaft,
    endpoint: quinn::Endpoint,
    clock: Clock,
    leader_wait_max: Duration,
    peers: Mutex<HashMap<NodeId, QuicPeerClient>>,
}

impl std::fmt::Debug for LeaderLink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LeaderLink")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where to send a request now.
enum Route {
    Local,
    Remote(NodeId),
}

impl LeaderLink {
    pub fn new(
        id: NodeId,
        raft: PolisRaft,
        endpoint: quinn::Endpoint,
        clock: Clock,
        leader_wait_max: Duration,
    ) -> LeaderLink {
        LeaderLink {
            id,
            raft,
            endpoint,
            clock,
            leader_wait_max,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Commits a transaction through the leader and returns what the state machine made of it.
    /// The commit time is the leader's clock when it proposes.
    pub async fn propose(&self, kind: TxnKind) -> Result<CommandResponse, LeaderError> {
        let started = Instant::now();
        loop {
            match self.route(started).await? {
                Route::Local => {
                    let command = Command::new(self.clock.wall_ms(), kind.clone());
                    match self.raft.client_write(command).await {
                        Ok(written) => return Ok(written.data),
                        Err(error) => {
                            // Not appended: another node leads now; try again there.
                            if error.forward_to_leader().is_some() {
                                continue;
                            }
                            return Err(LeaderError::Unknown(error.to_string()));
                        }
                    }
                }
                Route::Remote(leader) => {
                    let command = Command::new(self.clock.wall_ms(), kind.clone());
                    match self
                        .forward(leader, ForwardRequest::ClientWrite(command))
                        .await
                    {
                        Ok(ForwardResponse::ClientWrite(response)) => return Ok(response),
                        Ok(other) => {
                            return Err(LeaderError::Unknown(format!(
                                "unexpected answer {other:?}"
                            )));
                        }
                        // The peer refused before proposing: safe to try again elsewhere.
                        Err(ForwardError::NotLeader { .. }) => {
                            self.wait_for_leader_change(leader, started).await?;
                        }
                        Err(error) => return Err(LeaderError::Unknown(error.to_string())),
                    }
                }
            }
        }
    }

    /// Raft's ReadIndex: the leader confirms it still leads and names the index a linearizable
    /// read must wait for. The caller waits until this node has applied it, then reads locally.
    pub async fn read_index(&self) -> Result<Zxid, LeaderError> {
        let started = Instant::now();
        loop {
            match self.route(started).await? {
                Route::Local => match self.raft.ensure_linearizable().await {
                    Ok(read_log_id) => {
                        return Ok(read_log_id.map_or(0, |log_id| log_id.index as Zxid));
                    }
                    Err(error) if error.forward_to_leader().is_some() => continue,
                    Err(error) => return Err(LeaderError::NoLeader(error.to_string())),
                },
                Route::Remote(leader) => {
                    match self.forward(leader, ForwardRequest::ReadIndex).await {
                        Ok(ForwardResponse::ReadIndex(index)) => return Ok(index as Zxid),
                        Ok(other) => {
                            return Err(LeaderError::NoLeader(format!(
                                "unexpected answer {other:?}"
                            )));
                        }
                        Err(ForwardError::NotLeader { .. }) | Err(ForwardError::Unreachable(_)) => {
                            // A read has no effect, so asking again elsewhere is always safe.
                            self.wait_for_leader_change(leader, started).await?;
                        }
                        Err(error) => return Err(LeaderError::NoLeader(error.to_string())),
                    }
                }
            }
        }
    }

    /// Sends session renewals to the leader (best effort: the next batch repeats them).
    pub async fn touch_sessions(&self, leader: NodeId, sessions: Vec<SessionId>) {
        let _ = self
            .forward(leader, ForwardRequest::TouchSessions(sessions))
            .await;
    }

    /// The leader, waiting for one until `leader_wait_max` after `started`.
    async fn route(&self, started: Instant) -> Result<Route, LeaderError> {
        let remaining = self.leader_wait_max.saturating_sub(started.elapsed());
        let leader = self
            .raft
            .wait(Some(remaining))
            .metrics(|metrics| metrics.current_leader.is_some(), "a leader")
            .await
            .map_err(|_| LeaderError::NoLeader("no leader elected in time".to_string()))?
            .current_leader;
        match leader {
            Some(leader) if leader == self.id => Ok(Route::Local),
            Some(leader) => Ok(Route::Remote(leader)),
            None => Err(LeaderError::NoLeader("no leader".to_string())),
        }
    }

    /// Waits until the leader is someone other than `stale` (or the deadline passes).
    async fn wait_for_leader_change(
        &self,
        stale: NodeId,
        started: Instant,
    ) -> Result<(), LeaderError> {
        let remaining = self.leader_wait_max.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(LeaderError::NoLeader(format!(
                "node {stale} does not lead and no other does"
            )));
        }
        // A leader change, or a short pause: a partitioned node may believe in a stale leader
        // until its election timeout fires.
        let _ = self
            .raft
            .wait(Some(remaining.min(Duration::from_millis(200))))
            .metrics(
                |metrics| metrics.current_leader.is_some_and(|leader| leader != stale),
                "another leader",
            )
            .await;
        Ok(())
    }

    async fn forward(
        &self,
        leader: NodeId,
        request: ForwardRequest,
    ) -> Result<ForwardResponse, ForwardError> {
        let node = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .nodes()
            .find(|(id, _)| **id == leader)
            .map(|(_, node)| node.clone())
            // Right after an election a follower may know who leads before it has the entry
            // with the leader's address: nothing was sent, so the caller may simply try again.
            .ok_or(ForwardError::NotLeader {
                leader: Some(leader),
            })?;
        // A clone per call shares the connection, so forwarded requests run concurrently; the
        // clone goes back afterwards so that a connection it dialled is reused.
        let mut peer = self
            .peers
            .lock()
            .await
            .entry(leader)
            .or_insert_with(|| QuicPeerClient::new(self.id, leader, node, self.endpoint.clone()))
            .clone();
        let answer = peer.forward(request, FORWARD_TIMEOUT).await;
        self.peers.lock().await.insert(leader, peer);
        answer
    }
}
