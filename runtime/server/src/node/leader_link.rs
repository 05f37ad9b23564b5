//! Reaching the leader: proposing writes, Raft's ReadIndex for linearizable reads, forwarding
//! session renewals, and the administrators' membership changes. A client may be connected to
//! any node (a learner too); whoever leads does the work.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use polis_raft::network::{
    ForwardError, ForwardProposalSink, ForwardRequest, ForwardResponse, PeerLinks, QuicPeerClient,
};
use polis_raft::{
    ClusterView, CommandResponse, FORWARDS_IN_FLIGHT_MAX, LearnerAdded, MembershipChange, NodeId,
    PeerNode, PolisRaft, ProposeError, Proposer, ReadIndexRounds, first_zxid_of_entry, membership,
};
use polis_tree::{SessionId, TxnKind, Zxid};
use tokio::sync::Mutex;

/// How long a request may wait for a leader (an election, a partition healing) by default, before
/// the client is told it failed (`ServerConfig::request_timeout_ms` overrides it).
pub const LEADER_WAIT_MAX_DEFAULT: Duration = Duration::from_secs(10);
/// How long one forwarded call may take.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time a proposal on this node, as leader, gets to commit (or a read to have its
/// leadership confirmed), even when waiting for the leader used up most of `leader_wait_max`: a
/// healthy quorum answers within a few heartbeats.
pub const COMMIT_WAIT_MIN: Duration = Duration::from_secs(1);
/// How long asking the leader for its view of the cluster may take before a node answers with
/// its own (a status request must answer even when the leader is unreachable).
pub const CLUSTER_STATUS_FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// The leader refused a membership change as invalid; nothing was proposed.
    #[error("refused: {0}")]
    Refused(String),
    /// A conditional membership change found another membership in effect; nothing was
    /// proposed.
    #[error("the membership changed: expected the one of log index {expected}, found {actual}")]
    MembershipChanged { expected: u64, actual: u64 },
}

impl LeaderError {
    /// A membership operation's failure, from the leader's answer: refusals are final, "not the
    /// leader" was handled by the caller, anything else leaves the outcome unknown.
    fn of_membership(error: ForwardError) -> LeaderError {
        match error {
            ForwardError::Refused(reason) => LeaderError::Refused(reason),
            ForwardError::MembershipChanged { expected, actual } => {
                LeaderError::MembershipChanged { expected, actual }
            }
            other => LeaderError::Unknown(other.to_string()),
        }
    }
}

/// A node's way to the leader.
pub struct LeaderLink {
    id: NodeId,
    raft: PolisRaft,
    /// The node's lasting connections to its peers (shared with Raft's own RPCs).
    links: PeerLinks,
    /// Packs the writes proposed while this node leads (its clients' and those followers
    /// forward) into shared entries.
    proposer: Proposer,
    /// Confirms this node's leadership for the reads it serves and those followers forward,
    /// sharing each ReadIndex round among all of them, while it leads.
    read_rounds: ReadIndexRounds,
    /// Packs this node's writes into one forwarded request per batch, by leader.
    forwarders: Mutex<HashMap<NodeId, Proposer>>,
    leader_wait_max: Duration,
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
    /// The link of node `id`, proposing through `proposer` (a [`polis_raft::RaftProposalSink`]
    /// on this node's Raft) while it leads.
    pub fn new(
        id: NodeId,
        raft: PolisRaft,
        links: PeerLinks,
        proposer: Proposer,
        read_rounds: ReadIndexRounds,
        leader_wait_max: Duration,
    ) -> LeaderLink {
        LeaderLink {
            id,
            raft,
            links,
            proposer,
            read_rounds,
            forwarders: Mutex::new(HashMap::new()),
            leader_wait_max,
        }
    }

    /// Commits a transaction through the leader and returns what the state machine made of it.
    /// The transaction shares its log entry with the others proposed meanwhile (group commit,
    /// see [`Proposer`]); the commit time is the leader's clock when it proposes the entry.
    ///
    /// A proposal refused before anything was appended is made again to the next leader. One
    /// whose outcome is unknown (the leader went away, or openraft truncated the pending entry,
    /// which a third node may still commit) is reported so, as ZooKeeper's ConnectionLoss; see
    /// [`LeaderLink::propose_retrying`] for a write the tree applies at most once.
    pub async fn propose(&self, kind: TxnKind) -> Result<CommandResponse, LeaderError> {
        self.propose_retrying(kind, Duration::ZERO).await
    }

    /// [`LeaderLink::propose`], but a proposal whose outcome is unknown is made again while
    /// `retry_window` has not passed since the call, if the tree applies it at most once
    /// ([`TxnKind::Once`], Raft thesis §6.3). The window is the caller's to choose: a session
    /// answers its requests in order, so a write held for retries holds its pings too, and must
    /// not outlast the client's patience (a third of the session timeout).
    pub async fn propose_retrying(
        &self,
        kind: TxnKind,
        retry_window: Duration,
    ) -> Result<CommandResponse, LeaderError> {
        let started = Instant::now();
        // Every wait ends by the deadline: at first the wait for a leader, and once a proposal's
        // outcome is unknown, the retry window, which also bounds the wait for the next leader.
        let mut deadline = started + self.leader_wait_max;
        // Why an earlier proposal's outcome is unknown, once one's is.
        let mut uncertain: Option<String> = None;
        loop {
            let (asked, proposer) = match self.route(deadline).await {
                Ok(Route::Local) => (self.id, self.proposer.clone()),
                Ok(Route::Remote(leader)) => match self.forwarder(leader).await {
                    Ok(proposer) => (leader, proposer),
                    Err(error) => return Err(after_uncertain(error, uncertain.as_deref())),
                },
                Err(error) => return Err(after_uncertain(error, uncertain.as_deref())),
            };
            // Bounded like the wait for a leader, but never below what a healthy quorum needs;
            // a proposal made again keeps to the retry window, which the client's patience sets.
            let commit_wait_min = if uncertain.is_some() {
                Duration::ZERO
            } else {
                COMMIT_WAIT_MIN
            };
            let commit_wait = deadline
                .saturating_duration_since(Instant::now())
                .max(commit_wait_min);
            let proposed = tokio::time::timeout(commit_wait, proposer.propose(kind.clone())).await;
            let unknown = match proposed {
                Ok(Ok(response)) => return Ok(response),
                // Refused before anything was appended: another node leads now (or none yet);
                // try it once this node has heard of it, without spinning meanwhile.
                Ok(Err(ProposeError::NotLeader { .. })) => {
                    self.wait_for_leader_change(asked, deadline)
                        .await
                        .map_err(|error| after_uncertain(error, uncertain.as_deref()))?;
                    continue;
                }
                Ok(Err(ProposeError::Refused(reason))) => return Err(LeaderError::Refused(reason)),
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!(
                    "not committed within {} ms: the leader may have lost its quorum",
                    commit_wait.as_millis()
                ),
            };
            deadline = deadline.min(started + retry_window);
            if !kind.is_once() || Instant::now() >= deadline {
                return Err(LeaderError::Unknown(unknown));
            }
            metrics::counter!("polis_writes_proposed_again_total").increment(1);
            tracing::debug!(%unknown, "proposing a write again under its write id");
            uncertain = Some(unknown);
            self.wait_for_leader_change(asked, deadline)
                .await
                .map_err(|error| after_uncertain(error, uncertain.as_deref()))?;
        }
    }

    /// The proposer that forwards this node's writes to `leader`, made on first use.
    async fn forwarder(&self, leader: NodeId) -> Result<Proposer, LeaderError> {
        let mut forwarders = self.forwarders.lock().await;
        if let Some(proposer) = forwarders.get(&leader) {
            return Ok(proposer.clone());
        }
        let client = self.peer(leader).map_err(|_| {
            LeaderError::NoLeader(format!("the address of leader {leader} is not known yet"))
        })?;
        let sink = ForwardProposalSink::new(client, FORWARD_TIMEOUT);
        let proposer = Proposer::spawn_with_in_flight(Arc::new(sink), FORWARDS_IN_FLIGHT_MAX);
        forwarders.insert(leader, proposer.clone());
        Ok(proposer)
    }

    /// Raft's ReadIndex: the leader confirms it still leads and names the index a linearizable
    /// read must wait for. The caller waits until this node has applied it, then reads locally.
    pub async fn read_index(&self) -> Result<Zxid, LeaderError> {
        let started = Instant::now();
        loop {
            match self.route(started + self.leader_wait_max).await? {
                Route::Local => {
                    // Bounded like a proposal: a leader cut off from its followers may wait for
                    // their heartbeat answers through its replication backoff.
                    let confirm_wait = self
                        .leader_wait_max
                        .saturating_sub(started.elapsed())
                        .max(COMMIT_WAIT_MIN);
                    // The caller waits until this node has applied the index (the hub hears of
                    // every entry before Raft counts it applied), so the round need not.
                    let confirmed =
                        tokio::time::timeout(confirm_wait, self.read_rounds.read_index()).await;
                    match confirmed {
                        Ok(Ok(index)) => return zxid_of_read_index(index),
                        Ok(Err(ForwardError::NotLeader { .. })) => {
                            self.wait_for_leader_change(self.id, started + self.leader_wait_max)
                                .await?;
                        }
                        Ok(Err(error)) => return Err(LeaderError::NoLeader(error.to_string())),
                        Err(_) => {
                            return Err(LeaderError::NoLeader(format!(
                                "no quorum confirmed the leadership within {} ms",
                                confirm_wait.as_millis()
                            )));
                        }
                    }
                }
                Route::Remote(leader) => {
                    match self.forward(leader, ForwardRequest::ReadIndex).await {
                        Ok(ForwardResponse::ReadIndex(index)) => return zxid_of_read_index(index),
                        Ok(other) => {
                            return Err(LeaderError::NoLeader(format!(
                                "unexpected answer {other:?}"
                            )));
                        }
                        Err(ForwardError::NotLeader { .. }) | Err(ForwardError::Unreachable(_)) => {
                            // A read has no effect, so asking again elsewhere is always safe.
                            self.wait_for_leader_change(leader, started + self.leader_wait_max)
                                .await?;
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

    /// The leader's view of the cluster (members, replication progress), or `None` if no leader
    /// is known or it did not answer within [`CLUSTER_STATUS_FORWARD_TIMEOUT`]. Does not wait
    /// for an election: a status is most wanted when something is wrong.
    pub async fn leader_cluster_view(&self) -> Option<ClusterView> {
        let leader = self.raft.metrics().borrow().current_leader?;
        if leader == self.id {
            return membership::cluster_status(&self.raft).ok();
        }
        match self
            .forward_within(
                leader,
                ForwardRequest::ClusterStatus,
                CLUSTER_STATUS_FORWARD_TIMEOUT,
            )
            .await
        {
            Ok(ForwardResponse::ClusterStatus(view)) => Some(view),
            _ => None,
        }
    }

    /// Has the leader add `id` as a learner and wait up to `catch_up` for it to catch up.
    pub async fn add_learner(
        &self,
        id: NodeId,
        node: PeerNode,
        catch_up: Duration,
    ) -> Result<LearnerAdded, LeaderError> {
        self.on_leader(
            || membership::add_learner(&self.raft, id, node.clone(), catch_up),
            || {
                let request = ForwardRequest::AddLearner {
                    id,
                    node: node.clone(),
                    catch_up_timeout_ms: u64::try_from(catch_up.as_millis()).unwrap_or(u64::MAX),
                };
                (request, FORWARD_TIMEOUT + catch_up)
            },
            |answer| match answer {
                ForwardResponse::AddLearner(added) => Ok(added),
                other => Err(other),
            },
        )
        .await
    }

    /// Has the leader change the voters through joint consensus and drop members; answers the
    /// leader's view once the change is committed.
    pub async fn change_membership(
        &self,
        change: MembershipChange,
    ) -> Result<ClusterView, LeaderError> {
        self.on_leader(
            || membership::change_membership(&self.raft, &change),
            || {
                (
                    ForwardRequest::ChangeMembership(change.clone()),
                    FORWARD_TIMEOUT,
                )
            },
            |answer| match answer {
                ForwardResponse::ChangeMembership(view) => Ok(view),
                other => Err(other),
            },
        )
        .await
    }

    /// Runs a cluster administration request where the leader is: `local` when this node
    /// leads, else the request `remote` makes, forwarded within its timeout and read back with
    /// `answer`. A request refused because the node asked no longer leads had no effect, so it
    /// is asked again of the new leader until `leader_wait_max` has passed.
    async fn on_leader<T, Local>(
        &self,
        local: impl Fn() -> Local,
        remote: impl Fn() -> (ForwardRequest, Duration),
        answer: impl Fn(ForwardResponse) -> Result<T, ForwardResponse>,
    ) -> Result<T, LeaderError>
    where
        Local: std::future::Future<Output = Result<T, ForwardError>>,
    {
        let deadline = Instant::now() + self.leader_wait_max;
        loop {
            let (asked, outcome) = match self.route(deadline).await? {
                Route::Local => (self.id, local().await),
                Route::Remote(leader) => {
                    let (request, timeout) = remote();
                    let answered = match self.forward_within(leader, request, timeout).await {
                        Ok(response) => answer(response).map_err(|other| {
                            ForwardError::Failed(format!("unexpected answer {other:?}"))
                        }),
                        Err(error) => Err(error),
                    };
                    (leader, answered)
                }
            };
            match outcome {
                Ok(done) => return Ok(done),
                Err(ForwardError::NotLeader { .. }) => {
                    self.wait_for_leader_change(asked, deadline).await?;
                }
                Err(error) => return Err(LeaderError::of_membership(error)),
            }
        }
    }

    /// The leader, waiting for one until `deadline`.
    async fn route(&self, deadline: Instant) -> Result<Route, LeaderError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
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
        deadline: Instant,
    ) -> Result<(), LeaderError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
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
        self.forward_within(leader, request, FORWARD_TIMEOUT).await
    }

    /// Sends `request` to `leader`, bounded by `timeout`.
    async fn forward_within(
        &self,
        leader: NodeId,
        request: ForwardRequest,
        timeout: Duration,
    ) -> Result<ForwardResponse, ForwardError> {
        let peer = self.peer(leader)?;
        peer.forward(request, timeout).await
    }

    /// A client of peer `leader` on the node's lasting connection to it.
    fn peer(&self, leader: NodeId) -> Result<QuicPeerClient, ForwardError> {
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
        let link = self.links.link(leader, &node);
        Ok(QuicPeerClient::new(self.id, node, link))
    }
}

/// What a proposal that failed with `error` tells its caller, once an earlier proposal of the
/// same write had an unknown outcome: that outcome stays unknown, even if no leader could be
/// found afterwards.
fn after_uncertain(error: LeaderError, uncertain: Option<&str>) -> LeaderError {
    match (error, uncertain) {
        (LeaderError::NoLeader(reason), Some(earlier)) => {
            LeaderError::Unknown(format!("{earlier}; then {reason}"))
        }
        (error, _) => error,
    }
}

/// The zxid a linearizable read waits for: the first of the ReadIndex entry's span (an entry is
/// applied whole, so once its first zxid is applied, all of it is).
fn zxid_of_read_index(index: u64) -> Result<Zxid, LeaderError> {
    first_zxid_of_entry(index).map_err(|error| LeaderError::NoLeader(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_leader_after_an_uncertain_proposal_leaves_the_outcome_unknown() {
        let no_leader = || LeaderError::NoLeader("no leader elected in time".to_string());
        assert_eq!(after_uncertain(no_leader(), None), no_leader());
        assert!(matches!(
            after_uncertain(no_leader(), Some("the leadership changed")),
            LeaderError::Unknown(reason) if reason.starts_with("the leadership changed")
        ));
        let refused = LeaderError::Refused("too large".to_string());
        assert_eq!(after_uncertain(refused.clone(), Some("earlier")), refused);
    }
}
