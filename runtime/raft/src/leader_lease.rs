//! The leader's read lease: linearizable reads without a quorum round while a quorum has
//! recently accepted this leader.
//!
//! Raft's ReadIndex (§6.4 of Ongaro's thesis) confirms leadership with a heartbeat round per
//! batch of reads. The thesis's lease variant (§6.4.1) skips the round: when a quorum accepted a
//! heartbeat the leader sent at instant `t`, no other leader can be elected before `t` plus the
//! time those followers refuse to vote for anyone else. Openraft 0.9 gives followers that
//! promise: a follower whose vote is a committed leader's refuses every vote request until its
//! `leader_lease` (the election timeout's maximum) has passed since that leader's last
//! AppendEntries reached it, and a node that restarts keeps the promise from its start (it loads
//! its vote as if just renewed). So a leader that
//! - leads according to its Raft core at the moment of the read (the core, not the published
//!   metrics, which may lag: a leader that granted a vote to a candidate has stepped down),
//! - has committed an entry of its own term (so its commit index covers every earlier leader's),
//! - and, in every configuration of the membership, heard a majority (itself included) accept an
//!   AppendEntries of its current vote sent less than [`READ_LEASE`] ago,
//!
//! knows that no other leader has committed anything, and its commit index is a valid read index.
//! [`READ_LEASE`] is half the followers' promise: the other half absorbs clock-rate differences
//! between the machines' monotonic clocks (NTP slews them by at most 0.05 %) and scheduling.
//!
//! The lease relies on bounded clock-rate drift, which is why it can be switched off
//! (`lease_reads = false` in `polis.toml`), making every linearizable read pay its round.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::{LogId, ServerState, Vote};

use crate::raft_config::ELECTION_TIMEOUT_MAX_MS;
use crate::{NodeId, PolisRaft};

/// How long after its sending an accepted AppendEntries counts towards the leader's lease.
pub const READ_LEASE: Duration = Duration::from_millis(ELECTION_TIMEOUT_MAX_MS / 2);

const _: () = assert!(
    READ_LEASE.as_millis() < ELECTION_TIMEOUT_MAX_MS as u128,
    "the lease must end well before the followers' promise does"
);

/// One follower's latest acceptance of this node's AppendEntries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The vote the accepted request carried: acceptances of an earlier leadership of this node
    /// do not count for the current one.
    pub vote: Vote<NodeId>,
    /// When the request was sent (not answered: the follower's promise runs from its arrival,
    /// which is later).
    pub sent: Instant,
}

/// What the leader's Raft core says at the moment of a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderView {
    pub vote: Vote<NodeId>,
    /// The commit index, of an entry of this leader's own term.
    pub committed: LogId<NodeId>,
    /// The voters of each configuration in effect (two during a joint change).
    pub voters: Vec<Vec<NodeId>>,
}

impl LeaderView {
    /// The view of a core that leads with a committed vote and has committed an entry of its
    /// own term; `None` otherwise (a read must then take a round, or go to the leader).
    pub fn of<I>(state: &openraft::RaftState<NodeId, crate::PeerNode, I>) -> Option<LeaderView>
    where
        I: openraft::Instant,
    {
        let vote = *state.vote_ref();
        let committed = state.committed?;
        let own_term = committed.leader_id == *vote.leader_id();
        if state.server_state != ServerState::Leader || !vote.is_committed() || !own_term {
            return None;
        }
        let voters = state
            .membership_state
            .effective()
            .get_joint_config()
            .iter()
            .map(|config| config.to_vec())
            .collect();
        Some(LeaderView {
            vote,
            committed,
            voters,
        })
    }
}

/// Whether the lease holds at `now` for `view` on node `me`: in every configuration a majority
/// of voters (`me` counts) accepted an AppendEntries of `view.vote` sent less than `lease` ago.
pub fn lease_holds(
    me: NodeId,
    view: &LeaderView,
    acceptances: &BTreeMap<NodeId, Acceptance>,
    now: Instant,
    lease: Duration,
) -> bool {
    let fresh = |id: &NodeId| {
        *id == me
            || acceptances.get(id).is_some_and(|acceptance| {
                acceptance.vote == view.vote
                    && now.saturating_duration_since(acceptance.sent) < lease
            })
    };
    !view.voters.is_empty()
        && view.voters.iter().all(|config| {
            let accepted = config.iter().filter(|id| fresh(id)).count();
            accepted * 2 > config.len()
        })
}

/// The acceptances this node's AppendEntries received, shared by its replication streams (which
/// record them) and its ReadIndex rounds (which consult them). Cheap to clone.
#[derive(Clone, Debug)]
pub struct LeaderLease {
    me: NodeId,
    acceptances: Arc<Mutex<BTreeMap<NodeId, Acceptance>>>,
}

impl LeaderLease {
    pub fn new(me: NodeId) -> LeaderLease {
        LeaderLease {
            me,
            acceptances: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Records that `target` accepted an AppendEntries carrying `vote`, sent at `sent` (any
    /// answer but "higher vote" means it did: it renewed its promise to this leader first). Only
    /// a leader's committed vote is a promise worth recording.
    pub fn accepted(&self, target: NodeId, vote: Vote<NodeId>, sent: Instant) {
        if !vote.is_committed() {
            return;
        }
        let mut acceptances = self
            .acceptances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let newer = acceptances
            .get(&target)
            .is_none_or(|known| known.vote != vote || known.sent < sent);
        if newer {
            acceptances.insert(target, Acceptance { vote, sent });
        }
    }

    /// The index a linearizable read arriving before this call may be served at, if this node
    /// leads under a lease now; `None` if a ReadIndex round is needed.
    pub async fn read_index(&self, raft: &PolisRaft) -> Option<u64> {
        let view = raft.with_raft_state(LeaderView::of).await.ok()??;
        // The lease is checked after the core answered, so that it covered the moment the core
        // named its commit index.
        let now = Instant::now();
        let acceptances = self
            .acceptances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        lease_holds(self.me, &view, &acceptances, now, READ_LEASE).then_some(view.committed.index)
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn view(term: u64, voters: Vec<Vec<NodeId>>) -> LeaderView {
        LeaderView {
            vote: Vote::new_committed(term, 1),
            committed: LogId::new(CommittedLeaderId::new(term, 1), 7),
            voters,
        }
    }

    fn accepted(term: u64, sent: Instant) -> Acceptance {
        Acceptance {
            vote: Vote::new_committed(term, 1),
            sent,
        }
    }

    #[test]
    fn a_majority_that_accepted_recently_grants_the_lease() {
        let now = Instant::now();
        let recent = now - Duration::from_millis(100);
        let acceptances = BTreeMap::from([(2, accepted(3, recent))]);
        assert!(lease_holds(
            1,
            &view(3, vec![vec![1, 2, 3]]),
            &acceptances,
            now,
            READ_LEASE
        ));
    }

    #[test]
    fn acceptances_older_than_the_lease_do_not_count() {
        let now = Instant::now();
        let old = now - READ_LEASE;
        let acceptances = BTreeMap::from([(2, accepted(3, old)), (3, accepted(3, old))]);
        assert!(!lease_holds(
            1,
            &view(3, vec![vec![1, 2, 3]]),
            &acceptances,
            now,
            READ_LEASE
        ));
    }

    #[test]
    fn acceptances_of_an_earlier_leadership_do_not_count() {
        let now = Instant::now();
        let acceptances = BTreeMap::from([(2, accepted(2, now)), (3, accepted(2, now))]);
        assert!(!lease_holds(
            1,
            &view(3, vec![vec![1, 2, 3]]),
            &acceptances,
            now,
            READ_LEASE
        ));
    }

    #[test]
    fn a_joint_membership_needs_a_majority_in_both_configurations() {
        let now = Instant::now();
        let acceptances = BTreeMap::from([(2, accepted(3, now))]);
        let joint = view(3, vec![vec![1, 2, 3], vec![1, 4, 5]]);
        assert!(!lease_holds(1, &joint, &acceptances, now, READ_LEASE));
        let acceptances = BTreeMap::from([(2, accepted(3, now)), (4, accepted(3, now))]);
        assert!(lease_holds(1, &joint, &acceptances, now, READ_LEASE));
    }

    #[test]
    fn a_lone_voter_holds_its_own_lease_and_a_learner_leader_none() {
        let now = Instant::now();
        assert!(lease_holds(
            1,
            &view(3, vec![vec![1]]),
            &BTreeMap::new(),
            now,
            READ_LEASE
        ));
        assert!(!lease_holds(
            1,
            &view(3, vec![vec![2, 3]]),
            &BTreeMap::new(),
            now,
            READ_LEASE
        ));
        assert!(!lease_holds(
            1,
            &view(3, vec![]),
            &BTreeMap::new(),
            now,
            READ_LEASE
        ));
    }

    #[test]
    fn an_older_acceptance_does_not_replace_a_newer_one() {
        let lease = LeaderLease::new(1);
        let now = Instant::now();
        let vote = Vote::new_committed(3, 1);
        lease.accepted(2, vote, now);
        lease.accepted(2, vote, now - Duration::from_millis(300));
        lease.accepted(3, Vote::new(4, 3), now);
        let acceptances = lease.acceptances.lock().unwrap();
        assert_eq!(acceptances.get(&2).map(|known| known.sent), Some(now));
        assert!(
            !acceptances.contains_key(&3),
            "a candidate's vote is no promise"
        );
    }
}
