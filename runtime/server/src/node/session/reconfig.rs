//! ZooKeeper's `reconfig` on Polis's membership: participants are voters, observers learners,
//! and `/zookeeper/config` holds the members as ZooKeeper names them.
//!
//! ZooKeeper 3.5+ changes an ensemble with `reconfig` (incremental: servers joining and leaving;
//! or non-incremental: the whole new membership), compare-and-set against the configuration's
//! version, and answers with the new configuration, which it also keeps in `/zookeeper/config`
//! for clients to read and watch. Here the leader carries the change out through Raft's joint
//! consensus ([`polis_raft::membership`]): a joining participant is added as a learner first
//! and promoted only once it holds the log (ZooKeeper likewise refuses a new configuration whose
//! quorum is not synced, with NewConfigNoQuorum); then the configuration text is written to
//! `/zookeeper/config` as an ordinary write of the administrator's session, so it reaches every
//! replica through the log and fires watches as any write does.

use std::collections::{BTreeMap, BTreeSet};

use polis_proto::convert::stat_to_wire;
use polis_proto::wire::{self, response::Result as Reply};
use polis_raft::{ClusterView, MemberView, MembershipChange, NodeId, PeerNode};
use polis_tree::{Acl, CreateMode, ErrorCode, OpResult, TxnKind, WriteOp};
use polis_zookeeper::dynamic_config::{self, ServerRole, ServerSpec};

use super::{Answer, Failure, SessionHandler, command_failure};

/// Where ZooKeeper keeps the dynamic configuration.
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// The parent of [`CONFIG_PATH`], created with it if absent.
const CONFIG_PARENT_PATH: &str = "/zookeeper";

/// What a reconfiguration does, decided from the request and the membership in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconfigPlan {
    /// Joining servers that are not members yet, in the order given: each is added as a
    /// learner (and becomes a voter below if it is a participant).
    pub learners_to_add: Vec<ServerSpec>,
    /// The voters afterwards.
    pub voters: BTreeSet<NodeId>,
    /// The members to drop altogether.
    pub remove: BTreeSet<NodeId>,
    /// How the configuration names each joining server (its specification as given).
    pub descriptors: BTreeMap<NodeId, String>,
}

impl ReconfigPlan {
    /// True if the voters or the members change beyond the learners added.
    pub fn changes_membership(&self, current: &[MemberView]) -> bool {
        let current_voters: BTreeSet<NodeId> = current
            .iter()
            .filter(|member| member.voter)
            .map(|member| member.id)
            .collect();
        current_voters != self.voters || !self.remove.is_empty()
    }
}

/// Plans a reconfiguration of `current` (the leader's members), or says why it is refused
/// (BadArguments): `new_members`, when not empty, is the whole membership afterwards and then
/// neither `joining` nor `leaving` may be given.
pub fn plan(
    current: &[MemberView],
    joining: Vec<ServerSpec>,
    leaving: &[NodeId],
    new_members: Vec<ServerSpec>,
) -> Result<ReconfigPlan, String> {
    let (joining, leaving): (Vec<ServerSpec>, Vec<NodeId>) = if new_members.is_empty() {
        (joining, leaving.to_vec())
    } else {
        if !joining.is_empty() || !leaving.is_empty() {
            return Err("give either joining and leaving servers or the new members".to_string());
        }
        let staying: BTreeSet<NodeId> = new_members.iter().map(|server| server.id).collect();
        let leaving = current
            .iter()
            .map(|member| member.id)
            .filter(|id| !staying.contains(id))
            .collect();
        (new_members, leaving)
    };
    if joining.is_empty() && leaving.is_empty() {
        return Err("the reconfiguration names no server".to_string());
    }
    let member = |id: NodeId| current.iter().find(|member| member.id == id);
    let mut voters: BTreeSet<NodeId> = current
        .iter()
        .filter(|member| member.voter)
        .map(|member| member.id)
        .collect();
    let mut learners_to_add = Vec::new();
    let mut descriptors = BTreeMap::new();
    for server in joining {
        if leaving.contains(&server.id) {
            return Err(format!("server {} both joins and leaves", server.id));
        }
        if server.client_address.is_empty() {
            return Err(format!(
                "server {} has no client address: Polis needs ';<address>:<port>'",
                server.id
            ));
        }
        let node = PeerNode::new(server.peer_address.clone(), server.client_address.clone());
        match member(server.id) {
            Some(existing) if existing.node != node => {
                return Err(format!(
                    "server {} is already a member at {}; remove it first to change its addresses",
                    server.id, existing.node
                ));
            }
            Some(_) => {}
            None => learners_to_add.push(server.clone()),
        }
        match server.role {
            ServerRole::Participant => voters.insert(server.id),
            ServerRole::Observer => voters.remove(&server.id),
        };
        descriptors.insert(server.id, server.descriptor);
    }
    let mut remove = BTreeSet::new();
    for id in leaving {
        if member(id).is_none() {
            return Err(format!("server {id} is not a member"));
        }
        voters.remove(&id);
        remove.insert(id);
    }
    if voters.is_empty() {
        return Err("a cluster needs at least one participant".to_string());
    }
    Ok(ReconfigPlan {
        learners_to_add,
        voters,
        remove,
        descriptors,
    })
}

/// The configuration text of `view`'s members: each named by `descriptors` (the new plan's),
/// else as the previous configuration named it, else from its addresses; then the version, the
/// log index of the membership entry in effect.
pub fn config_text(
    view: &ClusterView,
    descriptors: &BTreeMap<NodeId, String>,
    previous: &str,
) -> String {
    let previous = dynamic_config::descriptors_of(previous);
    let members = view
        .members
        .iter()
        .map(|member| {
            let descriptor = descriptors
                .get(&member.id)
                .or_else(|| previous.get(&member.id))
                .cloned()
                .unwrap_or_else(|| {
                    dynamic_config::synthesized_descriptor(
                        &member.node.peer_address,
                        &member.node.client_address,
                        member.voter,
                    )
                });
            (member.id, descriptor)
        })
        .collect();
    dynamic_config::render(&members, view.membership_log_index)
}

impl SessionHandler {
    /// `reconfig`: checks, plans, carries the change out on the leader and writes the new
    /// configuration to [`CONFIG_PATH`], answering with it as ZooKeeper does.
    ///
    /// The checks come in ZooKeeper's order (`PrepRequestProcessor`): the version, then the
    /// request's form, then the caller's rights, so a client that is not an administrator learns
    /// of a stale version or a malformed request first, as from ZooKeeper (kazoo's own tests
    /// expect it). Nothing is changed before the rights are checked, and all that the earlier
    /// answers reveal, `/zookeeper/config` shows to anyone.
    pub(super) async fn reconfig(&self, request: wire::Reconfig) -> Answer {
        let bad = |why: String| Failure::of_code(ErrorCode::BadArguments, why);
        let view = self
            .node
            .leader
            .leader_cluster_view()
            .await
            .ok_or_else(|| {
                Failure::of_code(ErrorCode::ConnectionLoss, "no leader to reconfigure with")
            })?;
        if request.from_config != -1
            && u64::try_from(request.from_config).ok() != Some(view.membership_log_index)
        {
            return Err(Failure::of_code(
                ErrorCode::BadVersion,
                format!(
                    "the configuration in effect is version {:x}, not {:x}",
                    view.membership_log_index, request.from_config
                ),
            ));
        }
        let joining = dynamic_config::parse_servers(&request.joining_servers).map_err(bad)?;
        let leaving = dynamic_config::parse_ids(&request.leaving_servers).map_err(bad)?;
        let new_members = dynamic_config::parse_servers(&request.new_members).map_err(bad)?;
        let plan = plan(&view.members, joining, &leaving, new_members).map_err(bad)?;
        self.require_admin()?;
        let mut after = view.clone();
        for server in &plan.learners_to_add {
            // An observer is in once it is a member; a participant must hold the log before it
            // may vote, and the wait stays within the session's ping interval.
            let catch_up = match server.role {
                ServerRole::Participant => self.retry_window,
                ServerRole::Observer => std::time::Duration::ZERO,
            };
            let node = PeerNode::new(server.peer_address.clone(), server.client_address.clone());
            let added = self
                .node
                .leader
                .add_learner(server.id, node, catch_up)
                .await?;
            if server.role == ServerRole::Participant && !added.caught_up {
                return Err(Failure::of_code(
                    ErrorCode::NewConfigNoQuorum,
                    format!(
                        "server {} did not catch up with the log in time; it stays an observer \
                         (a learner) until a later reconfig makes it a participant",
                        server.id
                    ),
                ));
            }
            after = added.view;
        }
        if plan.changes_membership(&after.members) {
            after = self
                .node
                .leader
                .change_membership(MembershipChange {
                    voters: plan.voters.clone(),
                    remove: plan.remove.clone(),
                    if_membership_index: Some(after.membership_log_index),
                })
                .await?;
        }
        self.write_config(&after, &plan.descriptors).await
    }

    /// Writes the configuration of `view` to [`CONFIG_PATH`] (creating it, and `/zookeeper`,
    /// world-readable, if absent) and answers with its data and stat.
    async fn write_config(
        &self,
        view: &ClusterView,
        descriptors: &BTreeMap<NodeId, String>,
    ) -> Answer {
        // Read what is there as of now (Raft's ReadIndex), so that a configuration another
        // reconfig just wrote is updated rather than created again.
        self.barrier(false).await?;
        let (parent_exists, previous) = {
            let tree = self.node.reader.read().await;
            let parent_exists = tree.exists(CONFIG_PARENT_PATH).ok().flatten().is_some();
            let previous = tree
                .get_data(CONFIG_PATH, &self.identities)
                .ok()
                .map(|(data, _)| String::from_utf8_lossy(data.unwrap_or_default()).into_owned());
            (parent_exists, previous)
        };
        let text = config_text(view, descriptors, previous.as_deref().unwrap_or_default());
        let data = Some(text.clone().into_bytes());
        let mut ops = Vec::new();
        if !parent_exists {
            ops.push(WriteOp::Create {
                path: CONFIG_PARENT_PATH.to_string(),
                data: None,
                acl: Acl::read_only().to_vec(),
                mode: CreateMode::Persistent,
            });
        }
        ops.push(match previous {
            None => WriteOp::Create {
                path: CONFIG_PATH.to_string(),
                data,
                acl: Acl::read_only().to_vec(),
                mode: CreateMode::Persistent,
            },
            Some(_) => WriteOp::SetData {
                path: CONFIG_PATH.to_string(),
                data,
                version: -1,
            },
        });
        let kind = TxnKind::Multi {
            caller: self.caller(),
            ops,
        };
        let response = self.commit(kind).await?;
        let results = match response.result.map_err(command_failure)? {
            OpResult::Multi(results) => results,
            other => {
                return Err(Failure::of_code(
                    ErrorCode::SystemError,
                    format!("unexpected result {other:?} of the configuration's write"),
                ));
            }
        };
        let stat = results.into_iter().last().and_then(|result| match result {
            OpResult::Created { stat, .. } | OpResult::DataSet { stat } => Some(stat),
            _ => None,
        });
        Ok(Reply::Reconfig(wire::GetDataResult {
            data: text.into_bytes(),
            stat: stat.as_ref().map(stat_to_wire),
            null_data: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::plan as plan_reconfig;
    use super::*;

    fn member(id: NodeId, voter: bool) -> MemberView {
        MemberView {
            id,
            node: PeerNode::new(format!("10.0.0.{id}:7482"), format!("10.0.0.{id}:7481")),
            voter,
            matched_index: None,
        }
    }

    fn spec(text: &str) -> ServerSpec {
        dynamic_config::parse_server(text).expect("a specification")
    }

    #[test]
    fn an_observer_joins_as_a_learner_and_leaves_again() {
        let current = [member(1, true), member(2, true), member(3, true)];
        let joining = spec("server.100=0.0.0.0:1234:2345:observer;0.0.0.0:3456");
        let plan = plan_reconfig(&current, vec![joining.clone()], &[], Vec::new()).unwrap();
        assert_eq!(plan.learners_to_add, vec![joining]);
        assert_eq!(plan.voters, BTreeSet::from([1, 2, 3]));
        assert!(plan.remove.is_empty());
        assert!(!plan.changes_membership(&current));

        let mut with_observer = current.to_vec();
        with_observer.push(MemberView {
            id: 100,
            node: PeerNode::new("0.0.0.0:1234", "0.0.0.0:3456"),
            voter: false,
            matched_index: None,
        });
        let plan = plan_reconfig(&with_observer, Vec::new(), &[100], Vec::new()).unwrap();
        assert_eq!(plan.remove, BTreeSet::from([100]));
        assert!(plan.changes_membership(&with_observer));
    }

    #[test]
    fn a_participant_joins_the_voters_and_new_members_replace_the_rest() {
        let current = [member(1, true), member(2, true), member(3, true)];
        let plan = plan_reconfig(
            &current,
            vec![spec(
                "server.4=10.0.0.4:7482:7482:participant;10.0.0.4:7481",
            )],
            &[3],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(plan.voters, BTreeSet::from([1, 2, 4]));
        assert_eq!(plan.remove, BTreeSet::from([3]));

        let plan = plan_reconfig(
            &current,
            Vec::new(),
            &[],
            vec![
                spec("server.1=10.0.0.1:7482:7482;10.0.0.1:7481"),
                spec("server.2=10.0.0.2:7482:7482:observer;10.0.0.2:7481"),
            ],
        )
        .unwrap();
        assert_eq!(plan.voters, BTreeSet::from([1]));
        assert_eq!(plan.remove, BTreeSet::from([3]));
        assert!(plan.learners_to_add.is_empty());
    }

    #[test]
    fn impossible_reconfigurations_are_refused_with_a_reason() {
        let current = [member(1, true), member(2, true)];
        let refused = |joining: Vec<ServerSpec>, leaving: &[NodeId], new: Vec<ServerSpec>| {
            plan_reconfig(&current, joining, leaving, new).unwrap_err()
        };
        assert!(refused(Vec::new(), &[], Vec::new()).contains("no server"));
        assert!(refused(Vec::new(), &[9], Vec::new()).contains("not a member"));
        assert!(refused(Vec::new(), &[1, 2], Vec::new()).contains("at least one"));
        assert!(
            refused(vec![spec("server.2=h:1:2;h:3")], &[], Vec::new()).contains("already a member")
        );
        assert!(refused(vec![spec("server.5=h:1:2")], &[], Vec::new()).contains("client address"));
        assert!(
            refused(vec![spec("server.5=h:1:2;h:3")], &[5], Vec::new())
                .contains("joins and leaves")
        );
        assert!(
            refused(
                vec![spec("server.5=h:1:2;h:3")],
                &[],
                vec![spec("server.1=h:1:2;h:3")]
            )
            .contains("either")
        );
    }

    #[test]
    fn the_configuration_keeps_each_members_name() {
        let view = ClusterView {
            node_id: 1,
            role: polis_raft::NodeRole::Leader,
            leader: Some(1),
            term: 2,
            last_log_index: 40,
            applied_index: 40,
            membership_log_index: 0x2a,
            joint: false,
            members: vec![member(1, true), member(2, true), member(7, false)],
            has_replication: true,
        };
        let descriptors = BTreeMap::from([(7, "h:1:2:observer;h:3".to_string())]);
        let previous = "server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2181\nversion=1";
        assert_eq!(
            config_text(&view, &descriptors, previous),
            "server.1=10.0.0.1:7482:7482:participant;10.0.0.1:7481\n\
             server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2181\n\
             server.7=h:1:2:observer;h:3\nversion=2a"
        );
    }
}
