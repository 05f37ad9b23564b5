//! Runtime membership change on the leader: adding learners, changing the voters through joint
//! consensus, removing members, and the cluster's state as an administrator sees it.
//!
//! Openraft changes the voters in two steps (Raft §6): a joint configuration in which every
//! decision needs a majority of the old voters *and* of the new ones, then the new configuration
//! alone. A node must be a learner (receiving the log without voting) before it can become a
//! voter, so growing a cluster is [`add_learner`], which waits until the learner holds the log up
//! to its own admission, then [`change_membership`] with the learner among the voters.
//!
//! These functions run on the leader; a follower forwards them (`ForwardRequest::AddLearner`,
//! `ForwardRequest::ChangeMembership`). They answer [`ForwardError::NotLeader`] only when
//! nothing was proposed, so that the caller may safely try again at the new leader.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};

use crate::network::ForwardError;
use crate::{NodeId, PeerNode, PolisRaft};

/// How long, after a committed change, the leader waits for its own metrics to show the new
/// membership before it describes the cluster (the change itself is done by then).
pub const MEMBERSHIP_METRICS_WAIT: Duration = Duration::from_secs(1);

/// What a node is in the cluster right now, as openraft's server state says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRole {
    Leader,
    Follower,
    Candidate,
    /// Receives the log but never votes nor stands for election; also a node not (yet) added
    /// to any cluster.
    Learner,
    Shutdown,
}

impl From<ServerState> for NodeRole {
    fn from(state: ServerState) -> NodeRole {
        match state {
            ServerState::Leader => NodeRole::Leader,
            ServerState::Follower => NodeRole::Follower,
            ServerState::Candidate => NodeRole::Candidate,
            ServerState::Learner => NodeRole::Learner,
            ServerState::Shutdown => NodeRole::Shutdown,
        }
    }
}

/// One member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: NodeId,
    pub node: PeerNode,
    /// A voter (in the current configuration, or in either half of a joint one), else a learner.
    pub voter: bool,
    /// The last log index the leader knows this member holds; only in the leader's view, and
    /// `None` there too until the first replication to the member succeeded.
    pub matched_index: Option<u64>,
}

/// The cluster as one node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The node whose view this is.
    pub node_id: NodeId,
    pub role: NodeRole,
    pub leader: Option<NodeId>,
    pub term: u64,
    /// This node's last log index and last applied index.
    pub last_log_index: u64,
    pub applied_index: u64,
    /// The log index of the membership entry in effect.
    pub membership_log_index: u64,
    /// True while a joint configuration (a change of voters) is in effect.
    pub joint: bool,
    /// Every member, voters and learners, by id.
    pub members: Vec<MemberView>,
    /// True if this is the leader's view: `matched_index` is known for the members.
    pub has_replication: bool,
}

impl ClusterView {
    /// The view of the node whose metrics these are.
    pub fn from_metrics(metrics: &RaftMetrics<NodeId, PeerNode>) -> ClusterView {
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let replication = metrics.replication.as_ref();
        let members = membership
            .nodes()
            .map(|(id, node)| MemberView {
                id: *id,
                node: node.clone(),
                voter: voters.contains(id),
                matched_index: replication.and_then(|replication| {
                    if *id == metrics.id {
                        // The leader's own log is trivially matched.
                        metrics.last_log_index
                    } else {
                        replication
                            .get(id)
                            .and_then(|matched| matched.map(|log_id| log_id.index))
                    }
                }),
            })
            .collect();
        ClusterView {
            node_id: metrics.id,
            role: NodeRole::from(metrics.state),
            leader: metrics.current_leader,
            term: metrics.current_term,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            applied_index: metrics.last_applied.map_or(0, |log_id| log_id.index),
            membership_log_index: membership_log_index(metrics),
            joint: membership.get_joint_config().len() > 1,
            members,
            has_replication: replication.is_some(),
        }
    }

    /// The ids of the voters.
    pub fn voter_ids(&self) -> BTreeSet<NodeId> {
        self.members
            .iter()
            .filter(|member| member.voter)
            .map(|member| member.id)
            .collect()
    }

    /// A member by id.
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|member| member.id == id)
    }
}

/// A change of the voters and of the members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// The complete new set of voters; each must already be a member (a learner or a voter).
    pub voters: BTreeSet<NodeId>,
    /// Members to drop altogether: learners, or voters that `voters` leaves out. A voter left
    /// out of `voters` and not named here stays on as a learner.
    pub remove: BTreeSet<NodeId>,
    /// If set, the change happens only if the membership in effect is the one committed at this
    /// log index (compare-and-set against a concurrent change, as ZooKeeper's `fromConfig`).
    pub if_membership_index: Option<u64>,
}

/// What [`add_learner`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnerAdded {
    /// The log index of the membership entry that admitted the learner.
    pub membership_log_index: u64,
    /// True if the learner held every entry up to that one before the wait ended: it has all the
    /// data written before it joined and may be promoted.
    pub caught_up: bool,
    /// The leader's view afterwards.
    pub view: ClusterView,
}

fn membership_log_index(metrics: &RaftMetrics<NodeId, PeerNode>) -> u64 {
    metrics
        .membership_config
        .log_id()
        .map_or(0, |log_id| log_id.index)
}

/// This node's metrics, if it leads; else where to go.
fn leader_metrics(raft: &PolisRaft) -> Result<RaftMetrics<NodeId, PeerNode>, ForwardError> {
    let metrics = raft.metrics().borrow().clone();
    if metrics.current_leader == Some(metrics.id) && metrics.state == ServerState::Leader {
        Ok(metrics)
    } else {
        Err(ForwardError::NotLeader {
            leader: metrics
                .current_leader
                .filter(|leader| *leader != metrics.id),
        })
    }
}

/// Openraft's refusal of a membership change in this protocol's terms: "not the leader" (nothing
/// was proposed), an invalid change, or a failure.
fn membership_error(error: RaftError<NodeId, ClientWriteError<NodeId, PeerNode>>) -> ForwardError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            ForwardError::NotLeader {
                leader: forward.leader_id,
            }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(refused)) => {
            ForwardError::Refused(refused.to_string())
        }
        RaftError::Fatal(fatal) => ForwardError::Failed(fatal.to_string()),
    }
}

/// A failure after an earlier step of a change was committed: the change is half done, so it
/// must not be retried blindly elsewhere (which [`ForwardError::NotLeader`] would invite).
fn after_first_step(error: ForwardError) -> ForwardError {
    match error {
        ForwardError::NotLeader { leader } => ForwardError::Failed(format!(
            "leadership moved (to {leader:?}) in the middle of the change; its first steps are \
             committed, check the cluster status"
        )),
        other => other,
    }
}

/// Waits (briefly) until the leader's metrics show the membership of `log_index`, then
/// describes the cluster.
async fn view_after(raft: &PolisRaft, log_index: u64) -> ClusterView {
    let _ = raft
        .wait(Some(MEMBERSHIP_METRICS_WAIT))
        .metrics(
            |metrics| membership_log_index(metrics) >= log_index,
            "the new membership in the metrics",
        )
        .await;
    ClusterView::from_metrics(&raft.metrics().borrow())
}

/// The leader's view of the cluster.
pub fn cluster_status(raft: &PolisRaft) -> Result<ClusterView, ForwardError> {
    Ok(ClusterView::from_metrics(&leader_metrics(raft)?))
}

/// Adds `id` as a learner at `node`'s addresses (openraft's `add_learner`, which starts
/// replicating to it), then waits up to `catch_up` until it holds every entry up to the one that
/// admitted it. Adding a learner again with the same addresses is harmless.
pub async fn add_learner(
    raft: &PolisRaft,
    id: NodeId,
    node: PeerNode,
    catch_up: Duration,
) -> Result<LearnerAdded, ForwardError> {
    let metrics = leader_metrics(raft)?;
    let membership = metrics.membership_config.membership();
    if membership.voter_ids().any(|voter| voter == id) {
        return Err(ForwardError::Refused(format!(
            "node {id} is already a voter"
        )));
    }
    if let Some(existing) = membership.get_node(&id)
        && *existing != node
    {
        return Err(ForwardError::Refused(format!(
            "node {id} is already a learner at {existing}; remove it first to change its addresses"
        )));
    }
    for (what, address) in [
        ("peer address", &node.peer_address),
        ("client address", &node.client_address),
    ] {
        let port = address
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        if !matches!(port, Some((host, Ok(port))) if !host.is_empty() && port > 0) {
            return Err(ForwardError::Refused(format!(
                "the {what} {address:?} is not host:port"
            )));
        }
    }
    let written = raft
        .add_learner(id, node, false)
        .await
        .map_err(membership_error)?;
    let log_index = written.log_id.index;
    let caught_up = raft
        .wait(Some(catch_up))
        .metrics(
            |metrics| {
                metrics
                    .replication
                    .as_ref()
                    .and_then(|replication| replication.get(&id).copied().flatten())
                    .is_some_and(|matched| matched.index >= log_index)
            },
            "the learner to catch up",
        )
        .await
        .is_ok();
    Ok(LearnerAdded {
        membership_log_index: log_index,
        caught_up,
        view: view_after(raft, log_index).await,
    })
}

/// Changes the voters to `change.voters` through joint consensus and drops `change.remove`:
/// first the learners to remove, then the voters (a voter left out and also named in `remove`
/// goes at once; one left out and not named stays on as a learner). Answers the leader's view
/// afterwards. A leader that removes itself answers, then steps down.
pub async fn change_membership(
    raft: &PolisRaft,
    change: &MembershipChange,
) -> Result<ClusterView, ForwardError> {
    let metrics = leader_metrics(raft)?;
    let current = metrics.membership_config.membership();
    if let Some(expected) = change.if_membership_index {
        let actual = membership_log_index(&metrics);
        if expected != actual {
            return Err(ForwardError::MembershipChanged { expected, actual });
        }
    }
    if change.voters.is_empty() {
        return Err(ForwardError::Refused(
            "a cluster needs at least one voter".to_string(),
        ));
    }
    if let Some(both) = change.voters.intersection(&change.remove).next() {
        return Err(ForwardError::Refused(format!(
            "node {both} cannot be both a voter and removed"
        )));
    }
    for id in change.voters.iter().chain(&change.remove) {
        if current.get_node(id).is_none() {
            return Err(ForwardError::Refused(format!(
                "node {id} is not a member; add it as a learner first"
            )));
        }
    }
    let current_voters: BTreeSet<NodeId> = current.voter_ids().collect();
    let dropped: BTreeSet<NodeId> = current_voters.difference(&change.voters).copied().collect();
    let learners_to_remove: BTreeSet<NodeId> =
        change.remove.difference(&current_voters).copied().collect();
    let mut last_index = membership_log_index(&metrics);
    let mut first_step_done = false;
    if !learners_to_remove.is_empty() {
        let written = raft
            .change_membership(ChangeMembers::RemoveNodes(learners_to_remove), false)
            .await
            .map_err(membership_error)?;
        last_index = written.log_id.index;
        first_step_done = true;
    }
    if change.voters != current_voters {
        // Openraft's `retain` keeps every dropped voter as a learner, or none.
        let retain = !dropped.is_subset(&change.remove);
        let written = raft
            .change_membership(
                ChangeMembers::ReplaceAllVoters(change.voters.clone()),
                retain,
            )
            .await
            .map_err(membership_error)
            .map_err(|error| {
                if first_step_done {
                    after_first_step(error)
                } else {
                    error
                }
            })?;
        last_index = written.log_id.index;
        let retained_to_remove: BTreeSet<NodeId> =
            dropped.intersection(&change.remove).copied().collect();
        if retain && !retained_to_remove.is_empty() {
            let written = raft
                .change_membership(ChangeMembers::RemoveNodes(retained_to_remove), false)
                .await
                .map_err(membership_error)
                .map_err(after_first_step)?;
            last_index = written.log_id.index;
        }
    }
    Ok(view_after(raft, last_index).await)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};

    use super::*;

    fn node(id: NodeId) -> PeerNode {
        PeerNode::new(
            format!("127.0.0.1:{}", 7000 + id),
            format!("127.0.0.1:{}", 8000 + id),
        )
    }

    fn log_id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(3, 1), index)
    }

    #[test]
    fn a_leader_view_in_a_joint_configuration_names_voters_learners_and_progress() {
        let nodes: BTreeMap<NodeId, PeerNode> = (1..=5).map(|id| (id, node(id))).collect();
        // {1,2,3} -> {1,2,4} under way; 5 is a learner.
        let membership = Membership::new(
            vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([1, 2, 4])],
            nodes,
        );
        let mut metrics = RaftMetrics::new_initial(1);
        metrics.state = ServerState::Leader;
        metrics.current_leader = Some(1);
        metrics.current_term = 3;
        metrics.last_log_index = Some(40);
        metrics.last_applied = Some(log_id(39));
        metrics.membership_config = Arc::new(StoredMembership::new(Some(log_id(37)), membership));
        metrics.replication = Some(BTreeMap::from([
            (1, Some(log_id(40))),
            (2, Some(log_id(40))),
            (3, Some(log_id(12))),
            (4, None),
            (5, Some(log_id(38))),
        ]));
        let view = ClusterView::from_metrics(&metrics);
        assert_eq!(view.role, NodeRole::Leader);
        assert_eq!(view.leader, Some(1));
        assert!(view.joint);
        assert!(view.has_replication);
        assert_eq!(view.membership_log_index, 37);
        assert_eq!(view.applied_index, 39);
        assert_eq!(view.voter_ids(), BTreeSet::from([1, 2, 3, 4]));
        assert!(!view.member(5).expect("the learner").voter);
        assert_eq!(view.member(1).and_then(|m| m.matched_index), Some(40));
        assert_eq!(view.member(3).and_then(|m| m.matched_index), Some(12));
        assert_eq!(view.member(4).and_then(|m| m.matched_index), None);
        assert_eq!(view.member(5).map(|m| m.node.clone()), Some(node(5)));

        // A follower knows the members but not their progress.
        metrics.state = ServerState::Follower;
        metrics.replication = None;
        let follower = ClusterView::from_metrics(&metrics);
        assert!(!follower.has_replication);
        assert!(follower.members.iter().all(|m| m.matched_index.is_none()));
    }
}
