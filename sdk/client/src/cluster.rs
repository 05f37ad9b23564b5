//! The cluster as an administrator sees it: [`crate::Client::cluster_status`],
//! [`crate::Client::add_learner`] and [`crate::Client::change_membership`].

use std::collections::BTreeSet;

use polis_proto::wire;

use crate::Error;

/// What a node is in the Raft cluster right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRole {
    Leader,
    Follower,
    Candidate,
    /// Receives the log but never votes (ZooKeeper's observer); also a node started to join a
    /// cluster and not added yet.
    Learner,
    Shutdown,
    /// A role this client does not know.
    Unknown,
}

/// Whether a member votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberKind {
    Voter,
    Learner,
}

/// One member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMember {
    pub id: u64,
    /// Where peers reach it (`host:port`).
    pub peer_address: String,
    /// Where clients reach it (`host:port`).
    pub client_address: String,
    pub kind: MemberKind,
    /// In the leader's view only: the last log index the leader knows the member holds (`None`
    /// until the first replication to it succeeded).
    pub matched_index: Option<u64>,
    /// In the leader's view only: how many entries it is behind the leader's last one.
    pub lag: Option<u64>,
}

/// The cluster's state as the node this client is connected to sees it, with the leader's view
/// of the members when the leader could be asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The node that answered, its role and its own log position.
    pub node_id: u64,
    pub role: NodeRole,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// The leader the answering node knows of, and the current term.
    pub leader_id: Option<u64>,
    pub term: u64,
    /// Voters and learners, by id.
    pub members: Vec<ClusterMember>,
    /// The log index of the membership in effect (for a conditional
    /// [`crate::Client::change_membership`]).
    pub membership_log_index: u64,
    /// A change of voters is under way (a joint configuration is in effect).
    pub joint: bool,
    /// The members and their progress come from the leader.
    pub from_leader: bool,
    /// The leader's last log index, if `from_leader`.
    pub leader_last_log_index: u64,
}

impl ClusterStatus {
    /// The ids of the voters.
    pub fn voters(&self) -> BTreeSet<u64> {
        self.ids(MemberKind::Voter)
    }

    /// The ids of the learners.
    pub fn learners(&self) -> BTreeSet<u64> {
        self.ids(MemberKind::Learner)
    }

    /// A member by id.
    pub fn member(&self, id: u64) -> Option<&ClusterMember> {
        self.members.iter().find(|member| member.id == id)
    }

    fn ids(&self, kind: MemberKind) -> BTreeSet<u64> {
        self.members
            .iter()
            .filter(|member| member.kind == kind)
            .map(|member| member.id)
            .collect()
    }

    pub(crate) fn from_wire(status: &wire::ClusterStatusResult) -> ClusterStatus {
        let role = match wire::NodeRole::try_from(status.role) {
            Ok(wire::NodeRole::Leader) => NodeRole::Leader,
            Ok(wire::NodeRole::Follower) => NodeRole::Follower,
            Ok(wire::NodeRole::Candidate) => NodeRole::Candidate,
            Ok(wire::NodeRole::Learner) => NodeRole::Learner,
            Ok(wire::NodeRole::Shutdown) => NodeRole::Shutdown,
            Ok(wire::NodeRole::Unknown) | Err(_) => NodeRole::Unknown,
        };
        let members = status
            .members
            .iter()
            .map(|member| ClusterMember {
                id: member.id,
                peer_address: member.peer_address.clone(),
                client_address: member.client_address.clone(),
                kind: match wire::MemberKind::try_from(member.kind) {
                    Ok(wire::MemberKind::Learner) => MemberKind::Learner,
                    _ => MemberKind::Voter,
                },
                matched_index: member.matched_index,
                lag: member.lag,
            })
            .collect();
        ClusterStatus {
            node_id: status.node_id,
            role,
            last_log_index: status.last_log_index,
            applied_index: status.applied_index,
            leader_id: status.leader_id,
            term: status.term,
            members,
            membership_log_index: status.membership_log_index,
            joint: status.joint,
            from_leader: status.from_leader,
            leader_last_log_index: status.leader_last_log_index,
        }
    }
}

/// What [`crate::Client::add_learner`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnerAdded {
    /// The log index of the membership entry that admitted the learner.
    pub membership_log_index: u64,
    /// The learner held every entry up to its admission when the server answered: it has all
    /// the data written before it joined and may be promoted. If false, poll
    /// [`crate::Client::cluster_status`] until its `matched_index` reaches
    /// `membership_log_index`.
    pub caught_up: bool,
    /// The cluster afterwards.
    pub status: ClusterStatus,
}

impl LearnerAdded {
    pub(crate) fn from_wire(added: &wire::AddLearnerResult) -> Result<LearnerAdded, Error> {
        let status = added
            .status
            .as_ref()
            .ok_or_else(|| Error::Protocol("an AddLearner answer without a status".into()))?;
        Ok(LearnerAdded {
            membership_log_index: added.membership_log_index,
            caught_up: added.caught_up,
            status: ClusterStatus::from_wire(status),
        })
    }
}
