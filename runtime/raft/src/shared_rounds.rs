//! Requests that share rounds: whoever arrives while a round is under way joins the next one.
//!
//! Raft's ReadIndex (Ongaro's thesis, §6.4) has the leader confirm with a quorum that it still
//! leads before it names the index a read must wait for. Openraft 0.9 pays a round of
//! AppendEntries to every voter for each confirmation; asked once per read, those rounds
//! multiply with the readers (and, on a busy small machine, the heartbeats themselves start to
//! miss their deadlines). A read only needs *some* round that started after it arrived, so every
//! request waiting while a round is under way shares the next one. Polis runs such rounds twice:
//! on every node for its own readers (a follower then asks the leader once per round), and on the
//! leader for its readers and the rounds followers forward together ([`ReadIndexRounds`]).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::network::{ForwardError, forward_error};
use crate::{LeaderLease, PolisRaft};

/// The most requests waiting for a round; further ones wait for room (back-pressure).
pub const ROUND_WAITING_MAX: usize = 65_536;

/// The most requests answered by one round.
pub const ROUND_REQUESTS_MAX: usize = 4_096;

/// A queue of requests answered by shared rounds, each round's answer going to every request
/// that was waiting when it started. Cloning gives another handle on the same queue; the task
/// ends with the last handle, or when the round function says the owner is gone.
#[derive(Debug)]
pub struct SharedRounds<T> {
    waiting: mpsc::Sender<oneshot::Sender<T>>,
}

impl<T> Clone for SharedRounds<T> {
    fn clone(&self) -> Self {
        SharedRounds {
            waiting: self.waiting.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> SharedRounds<T> {
    /// Starts the task that runs rounds back to back: `round()` makes one (`None` once its owner
    /// is gone, which ends the task); `requests_metric` names the histogram of requests per
    /// round.
    pub fn spawn<F, R>(requests_metric: &'static str, mut round: F) -> SharedRounds<T>
    where
        F: FnMut() -> Option<R> + Send + 'static,
        R: Future<Output = T> + Send + 'static,
    {
        let (waiting, mut queue) = mpsc::channel::<oneshot::Sender<T>>(ROUND_WAITING_MAX);
        tokio::spawn(async move {
            let mut joined: Vec<oneshot::Sender<T>> = Vec::new();
            while let Some(first) = queue.recv().await {
                joined.push(first);
                while joined.len() < ROUND_REQUESTS_MAX {
                    let Ok(next) = queue.try_recv() else { break };
                    joined.push(next);
                }
                assert!(joined.len() <= ROUND_REQUESTS_MAX, "a round is bounded");
                // Every request in `joined` arrived before this round starts.
                let Some(this_round) = round() else { return };
                let answer = this_round.await;
                metrics::histogram!(requests_metric).record(joined.len() as f64);
                for request in joined.drain(..) {
                    let _ = request.send(answer.clone());
                }
            }
        });
        SharedRounds { waiting }
    }

    /// The answer of the first round that starts after this call; `None` once the rounds
    /// stopped.
    pub async fn join(&self) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        self.waiting.send(answer).await.ok()?;
        answered.await.ok()
    }
}

/// The leader's ReadIndex rounds: the log index a linearizable read arriving now must wait for,
/// once a quorum confirmed this node's leadership after the call; "not the leader" if it does
/// not lead. The leader need not have applied the index itself: each reader waits until its own
/// node has.
///
/// With a [`LeaderLease`], a round first asks whether the lease holds, and if it does names the
/// leader's commit index at once, without the heartbeat round (see [`crate::LeaderLease`]).
#[derive(Clone, Debug)]
pub struct ReadIndexRounds {
    rounds: SharedRounds<Result<u64, ForwardError>>,
}

impl ReadIndexRounds {
    /// Starts the task that runs rounds on `raft`, each confirming leadership with a quorum.
    pub fn spawn(raft: PolisRaft) -> ReadIndexRounds {
        ReadIndexRounds::spawn_with_lease(raft, None)
    }

    /// Starts the task that runs rounds on `raft`, skipping the quorum's confirmation while
    /// `lease` (the one `raft`'s network renews) holds.
    pub fn spawn_with_lease(raft: PolisRaft, lease: Option<LeaderLease>) -> ReadIndexRounds {
        let rounds = SharedRounds::spawn("polis_reads_per_leader_read_index_round", move || {
            let raft = raft.clone();
            let lease = lease.clone();
            Some(async move {
                if let Some(lease) = lease
                    && let Some(index) = lease.read_index(&raft).await
                {
                    metrics::counter!("polis_read_index_rounds_total", "by" => "lease")
                        .increment(1);
                    return Ok(index);
                }
                metrics::counter!("polis_read_index_rounds_total", "by" => "quorum").increment(1);
                raft.get_read_log_id()
                    .await
                    .map(|(read_log_id, _)| read_log_id.map_or(0, |log_id| log_id.index))
                    .map_err(forward_error)
            })
        });
        ReadIndexRounds { rounds }
    }

    /// The index to wait for (see [`ReadIndexRounds`]).
    pub async fn read_index(&self) -> Result<u64, ForwardError> {
        self.rounds
            .join()
            .await
            .unwrap_or_else(|| Err(ForwardError::Failed("the node is stopping".to_string())))
    }
}
