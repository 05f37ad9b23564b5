//! Linearizable reads share ReadIndex rounds.
//!
//! Raft's ReadIndex (Ongaro's thesis, §6.4) costs the leader a round of heartbeats to confirm it
//! still leads. Asked once per read, that round is paid per read and, on a busy small machine,
//! the heartbeats themselves start to miss their deadlines. A read only needs *some* round that
//! started after the read arrived: so the reads waiting while a round is under way all share the
//! next one. One task runs the rounds back to back; each takes every read queued before it
//! started.

use std::sync::Weak;

use polis_tree::Zxid;
use tokio::sync::{mpsc, oneshot};

use super::{LeaderError, Node};

/// The most reads waiting for a round; further reads wait for room (back-pressure).
pub const READS_WAITING_MAX: usize = 65_536;
/// The most reads answered by one round.
pub const READS_PER_ROUND_MAX: usize = 4_096;

type Waiter = oneshot::Sender<Result<Zxid, LeaderError>>;

/// The queue of reads waiting for a ReadIndex round.
#[derive(Debug)]
pub struct ReadRounds {
    waiting: mpsc::Sender<Waiter>,
}

impl ReadRounds {
    /// Starts the task that runs rounds for `node` until the node is gone.
    pub fn spawn(node: Weak<Node>) -> ReadRounds {
        let (waiting, queue) = mpsc::channel(READS_WAITING_MAX);
        tokio::spawn(run_rounds(node, queue));
        ReadRounds { waiting }
    }

    /// The index a read that arrives now must wait for.
    pub async fn read_index(&self) -> Result<Zxid, LeaderError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || LeaderError::NoLeader("the node is stopping".to_string());
        self.waiting.send(answer).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

async fn run_rounds(node: Weak<Node>, mut queue: mpsc::Receiver<Waiter>) {
    let mut round: Vec<Waiter> = Vec::new();
    while let Some(first) = queue.recv().await {
        round.push(first);
        while round.len() < READS_PER_ROUND_MAX {
            let Ok(waiter) = queue.try_recv() else { break };
            round.push(waiter);
        }
        let Some(node) = node.upgrade() else { return };
        // Every read in `round` arrived before this round starts.
        let result = node.leader.read_index().await;
        drop(node);
        metrics::histogram!("polis_reads_per_read_index_round").record(round.len() as f64);
        for waiter in round.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}
