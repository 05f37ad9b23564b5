//! Linearizable reads on a node share ReadIndex rounds.
//!
//! Raft's ReadIndex (Ongaro's thesis, §6.4) costs the leader a round of heartbeats to confirm it
//! still leads. Asked once per read, that round is paid per read; a read only needs *some* round
//! that started after it arrived, so the reads waiting while a round is under way all share the
//! next one ([`polis_raft::SharedRounds`]). On a follower a round is one forwarded request to
//! the leader, which shares its own rounds again among everything it is asked.

use std::sync::Weak;

use polis_raft::SharedRounds;
use polis_tree::Zxid;

use super::{LeaderError, Node};

/// The queue of reads waiting for a ReadIndex round.
#[derive(Debug)]
pub struct ReadRounds {
    rounds: SharedRounds<Result<Zxid, LeaderError>>,
}

impl ReadRounds {
    /// Starts the task that runs rounds for `node` until the node is gone.
    pub fn spawn(node: Weak<Node>) -> ReadRounds {
        let rounds = SharedRounds::spawn("polis_reads_per_read_index_round", move || {
            let node = node.upgrade()?;
            Some(async move { node.leader.read_index().await })
        });
        ReadRounds { rounds }
    }

    /// The index a read that arrives now must wait for.
    pub async fn read_index(&self) -> Result<Zxid, LeaderError> {
        self.rounds
            .join()
            .await
            .unwrap_or_else(|| Err(LeaderError::NoLeader("the node is stopping".to_string())))
    }
}
