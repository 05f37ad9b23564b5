//! Which node certificate may send which peer RPC: a node certificate is tied to the member whose
//! peer address it names, and a node that is not a member may neither forward, nor win votes.
//!
//! Every node certificate of the cluster's CA passes the TLS handshake, including one of a node
//! that was removed, or one issued for a host that is not (yet) a member. The certificate is tied
//! to a member the way a dialling peer already ties it (and as ZooKeeper's
//! `ssl.quorum.hostnameVerification` does): by the host of the member's peer address, which the
//! certificate must name among its subject alternative names. Then:
//!
//! - **Forwards** (client writes, ReadIndex, session renewals, membership changes) come only from
//!   a current member: a removed node, or any other holder of a node certificate, cannot write as
//!   any caller, super included, or change the membership.
//! - **Votes** are granted only to a candidate that is a member and whose certificate names its
//!   host, or to one whose log is ahead of this node's (a node just added, whose addition this
//!   node has not received yet, is ahead by that very entry; a removed node never is, as it
//!   receives nothing after its removal). This is what keeps a removed node from disrupting the
//!   cluster with ever higher terms (the Raft thesis §4.2.3 problem).
//! - **AppendEntries and InstallSnapshot** claiming to come from a member must come from that
//!   member's certificate. From a leader this node does not know they are accepted: a node that
//!   is behind may not know the leader yet (the entry that added it is among what it is about to
//!   receive), and refusing would keep it behind for good. Raft's term checks still apply.
//!
//! A node without membership (a learner waiting to be added) admits any node certificate: it has
//! nothing to check against, and nothing to protect yet.

use crate::NodeId;

/// What an RPC claims about its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerClaim {
    /// A leader replicating (AppendEntries, InstallSnapshot).
    Leader(NodeId),
    /// A candidate asking for a vote, with the index of its last log entry.
    Candidate {
        id: NodeId,
        last_log_index: Option<u64>,
    },
    /// A forward: the sender names no id, but must be a member.
    Member,
}

/// Why an RPC was refused; the connection is closed with this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerRefusal {
    #[error("the certificate does not name the host of member {0}")]
    NotThatMember(NodeId),
    #[error("not a member")]
    NotAMember,
}

impl PeerRefusal {
    /// The reason sent in the connection close.
    pub fn close_reason(self) -> &'static [u8] {
        match self {
            PeerRefusal::NotThatMember(_) => b"certificate does not match the member",
            PeerRefusal::NotAMember => b"not a member",
        }
    }
}

/// What this node knows when it decides: the members with the hosts of their peer addresses,
/// and the index of its last log entry. Borrowed from the Raft metrics for the one decision, as
/// every RPC (heartbeats included) is decided: nothing is copied.
#[derive(Clone, Debug, Default)]
pub struct AdmissionView<'a> {
    pub members: Vec<(NodeId, &'a str)>,
    pub last_log_index: Option<u64>,
}

/// Decides whether a peer whose certificate names the hosts `names_host` accepts may send an RPC
/// that claims `claim`.
pub fn admit(
    view: &AdmissionView<'_>,
    names_host: impl Fn(&str) -> bool,
    claim: PeerClaim,
) -> Result<(), PeerRefusal> {
    if view.members.is_empty() {
        return Ok(());
    }
    let host_of = |id: NodeId| {
        view.members
            .iter()
            .find(|(member, _)| *member == id)
            .map(|(_, host)| *host)
    };
    let is_that_member = |id: NodeId| match host_of(id) {
        Some(host) if names_host(host) => Ok(()),
        Some(_) => Err(PeerRefusal::NotThatMember(id)),
        None => Err(PeerRefusal::NotAMember),
    };
    match claim {
        PeerClaim::Leader(id) => match is_that_member(id) {
            Err(PeerRefusal::NotAMember) => Ok(()),
            other => other,
        },
        PeerClaim::Candidate { id, last_log_index } => match is_that_member(id) {
            Err(PeerRefusal::NotAMember) if last_log_index > view.last_log_index => Ok(()),
            other => other,
        },
        PeerClaim::Member => {
            if view.members.iter().any(|(_, host)| names_host(host)) {
                Ok(())
            } else {
                Err(PeerRefusal::NotAMember)
            }
        }
    }
}

/// The host part of a `host:port` peer address (brackets kept around an IPv6 address, which
/// [`polis_security::Identity::names_host`] takes either way).
pub fn host_of_address(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> AdmissionView<'static> {
        AdmissionView {
            members: vec![(1, "10.0.0.1"), (2, "10.0.0.2"), (3, "node3.city")],
            last_log_index: Some(40),
        }
    }

    fn naming(hosts: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |host| hosts.contains(&host)
    }

    #[test]
    fn a_member_speaks_as_itself_only() {
        let node2 = naming(&["10.0.0.2"]);
        assert_eq!(admit(&view(), &node2, PeerClaim::Leader(2)), Ok(()));
        assert_eq!(admit(&view(), &node2, PeerClaim::Member), Ok(()));
        assert_eq!(
            admit(&view(), &node2, PeerClaim::Leader(1)),
            Err(PeerRefusal::NotThatMember(1))
        );
        assert_eq!(
            admit(
                &view(),
                &node2,
                PeerClaim::Candidate {
                    id: 3,
                    last_log_index: Some(99)
                }
            ),
            Err(PeerRefusal::NotThatMember(3))
        );
    }

    #[test]
    fn a_removed_node_may_not_forward_nor_win_a_vote() {
        // Node 4 was removed: it is in no membership, and its log stopped at its removal.
        let node4 = naming(&["10.0.0.4"]);
        assert_eq!(
            admit(&view(), &node4, PeerClaim::Member),
            Err(PeerRefusal::NotAMember)
        );
        for last_log_index in [None, Some(12), Some(40)] {
            assert_eq!(
                admit(
                    &view(),
                    &node4,
                    PeerClaim::Candidate {
                        id: 4,
                        last_log_index
                    }
                ),
                Err(PeerRefusal::NotAMember)
            );
        }
    }

    #[test]
    fn a_node_that_is_behind_still_hears_a_leader_and_a_candidate_it_does_not_know() {
        // Node 5 was added by an entry this node has not received yet.
        let node5 = naming(&["10.0.0.5"]);
        assert_eq!(admit(&view(), &node5, PeerClaim::Leader(5)), Ok(()));
        assert_eq!(
            admit(
                &view(),
                &node5,
                PeerClaim::Candidate {
                    id: 5,
                    last_log_index: Some(41)
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn a_node_without_membership_admits_any_node() {
        let anyone = naming(&[]);
        let empty = AdmissionView::default();
        assert_eq!(admit(&empty, &anyone, PeerClaim::Member), Ok(()));
        assert_eq!(admit(&empty, &anyone, PeerClaim::Leader(9)), Ok(()));
    }

    #[test]
    fn the_host_of_an_address_is_before_its_port() {
        assert_eq!(host_of_address("10.0.0.1:7281"), "10.0.0.1");
        assert_eq!(host_of_address("[::1]:7281"), "[::1]");
        assert_eq!(host_of_address("node3.city:7281"), "node3.city");
    }
}
