//! Group commit: the transactions that arrive while earlier proposals are in flight travel
//! together as the next one.
//!
//! Openraft 0.9 flushes its log once per appended entry and waits for the flush before it takes
//! the next client write, so a leader that proposed one entry per transaction would commit at
//! most one transaction per fsync (about a thousand a second on this kind of disk). ZooKeeper's
//! `SyncRequestProcessor` answers the same problem by flushing many transactions at once; here
//! a [`Proposer`] packs every transaction waiting while at most [`PROPOSALS_IN_FLIGHT_MAX`]
//! proposals are under way into one [`crate::Command`], and therefore one entry, one fsync per
//! replica and one replication message. Each transaction keeps its own zxid
//! ([`crate::zxid_of`]) and its own result.
//!
//! The same queue serves a follower: its sink forwards a whole batch to the leader, whose own
//! proposer merges it with the leader's local writes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use polis_tree::TxnKind;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::{ClusterLimits, Command, CommandResponse, NodeId, PolisRaft, TXNS_PER_ENTRY_MAX};

/// The most proposals under way at once on the leader. One: since the leader replicates while
/// its own write is in flight (`vendor/README.md`), a proposal's round is the slower of two
/// fsyncs, and the transactions arriving meanwhile all wait for the next entry. Measured side by
/// side (2026-12-07, two interleaved runs each, README "Performance"): one in flight packed 24.5
/// transactions per fsync against 15.2 with two, and wrote 11–21 % more at 16 and 64 sessions;
/// three split the waiting transactions into still more entries and wrote less.
pub const PROPOSALS_IN_FLIGHT_MAX: usize = 1;

/// The most packed batches a follower has forwarded to the leader and not yet had answered. A
/// forwarded batch costs no fsync of its own (the leader packs it with everything else waiting
/// there), so a follower does not hold its writes back for a whole commit round; it only packs
/// what arrives while this many batches travel, to keep the messages few.
pub const FORWARDS_IN_FLIGHT_MAX: usize = 4;

/// The most bytes of transactions (postcard-encoded) packed into one proposal, unless its first
/// waiting request alone is larger. Bounds one log entry, and so one replication message, well
/// below the peer transport's message bound.
pub const PROPOSAL_BYTES_MAX: usize = 1024 * 1024;

/// The most bytes of transactions (postcard-encoded) one request may propose. Every entry must
/// cross the peer transport in one message ([`crate::network::PEER_MESSAGE_BYTES_MAX`], twice
/// [`crate::LOG_READ_BYTES_MAX`]), or followers could never receive it and the leader would
/// retry it without end; a request over this bound is refused before anything is proposed, with
/// room to spare for the other requests of its proposal. A legitimate write is far smaller: the
/// client faces bound a request's frame at about 1 MiB.
pub const PROPOSAL_REQUEST_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The most requests waiting for a proposal.
pub const PROPOSALS_WAITING_MAX: usize = 16_384;

/// The most bytes of transactions waiting for a proposal; a request that would exceed it waits
/// for room (back-pressure on the sessions that write).
pub const PROPOSALS_WAITING_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Why a proposal did not commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ProposeError {
    /// Refused before anything was appended: this node does not lead (the leader is the one
    /// named, if known). Safe to propose again elsewhere.
    #[error("not the leader (the leader is {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The proposal may or may not have been committed (the leader went away, or the commit took
    /// too long), as ZooKeeper's ConnectionLoss: the client must check.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The request cannot be proposed as it is (no transaction, or more than an entry holds).
    #[error("refused: {0}")]
    Refused(String),
    /// The node is stopping.
    #[error("the proposer stopped")]
    Stopped,
}

/// What a proposal's sink answers: one response per transaction, in order.
pub type ProposalFuture =
    Pin<Box<dyn Future<Output = Result<Vec<CommandResponse>, ProposeError>> + Send>>;

/// Where a [`Proposer`] sends each packed proposal: into the local Raft log (on the leader), or
/// to the leader (on a follower).
pub trait ProposalSink: Send + Sync + 'static {
    /// Commits `txns` (at least one, at most [`TXNS_PER_ENTRY_MAX`]) together, answering one
    /// response per transaction, in order.
    fn propose(&self, txns: Vec<TxnKind>) -> ProposalFuture;
}

/// The leader's sink: one Raft entry per proposal, stamped with the leader's clock.
pub struct RaftProposalSink {
    raft: PolisRaft,
    /// The leader's wall clock in milliseconds since the Unix epoch.
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// How long a proposal may take to commit before its outcome counts as unknown. Openraft 0.9's
    /// leader does not step down when it loses its quorum (no check-quorum, Raft thesis §6.2),
    /// so without a bound a cut-off leader's proposals would wait until the partition heals.
    commit_timeout: Duration,
    /// The last time stamped on an entry, in milliseconds since the Unix epoch.
    last_stamp_ms: AtomicI64,
    /// This node's configured limits, proposed first in an entry while the tree's differ.
    cluster_limits: Option<Arc<ClusterLimits>>,
}

impl RaftProposalSink {
    pub fn new(
        raft: PolisRaft,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
        commit_timeout: Duration,
    ) -> RaftProposalSink {
        RaftProposalSink {
            raft,
            clock,
            commit_timeout,
            last_stamp_ms: AtomicI64::new(i64::MIN),
            cluster_limits: None,
        }
    }

    /// Makes the cluster take this node's configured limits when it leads: while the tree's
    /// differ, each entry proposed starts with a `SetLimits` (see [`ClusterLimits`]).
    pub fn with_cluster_limits(mut self, cluster_limits: Arc<ClusterLimits>) -> RaftProposalSink {
        self.cluster_limits = Some(cluster_limits);
        self
    }
}

impl fmt::Debug for RaftProposalSink {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RaftProposalSink")
            .field("commit_timeout", &self.commit_timeout)
            .finish_non_exhaustive()
    }
}

impl RaftProposalSink {
    /// The time to stamp on the next entry: the clock, but never before the last stamp, so that
    /// commit times (ctime, mtime, TTL expiry, `/polis/clock`) do not go backwards while this
    /// node leads, even when its wall clock is set back. Entries are stamped in the order they
    /// are proposed, which is the order they land in the log.
    fn stamp(&self) -> i64 {
        next_stamp(&self.last_stamp_ms, (self.clock)())
    }
}

/// What a write that this leader submitted to openraft and that failed means for its caller.
///
/// Never [`ProposeError::NotLeader`], which tells the caller that nothing was appended and that
/// proposing again elsewhere is safe. Openraft 0.9 answers `ForwardToLeader` both when it refused
/// a write outright (leadership lost between our check and its core taking the write) and when it
/// appended the entry and a new leader's log then truncated it here. A truncated entry may still
/// be committed: another node may hold it and win a later election (the Raft paper's Figure 8),
/// so retrying it elsewhere could apply the write twice. Its outcome is unknown, as ZooKeeper's
/// ConnectionLoss: the client must look.
fn write_error_outcome(forward_to_leader: bool, error: String) -> ProposeError {
    if forward_to_leader {
        ProposeError::Unknown(format!(
            "the leadership changed while the write was pending; it may or may not commit: {error}"
        ))
    } else {
        ProposeError::Unknown(error)
    }
}

/// `now`, or the last stamp if the clock went back behind it; records the stamp as the last.
fn next_stamp(last_stamp_ms: &AtomicI64, now: i64) -> i64 {
    let previous = last_stamp_ms.fetch_max(now, Ordering::AcqRel);
    let stamp = now.max(previous);
    debug_assert!(stamp >= previous, "stamps never go backwards");
    stamp
}

impl ProposalSink for RaftProposalSink {
    fn propose(&self, txns: Vec<TxnKind>) -> ProposalFuture {
        let raft = self.raft.clone();
        // The one NotLeader a caller may safely retry elsewhere is the one given before anything
        // was submitted; see `write_error_outcome` for why openraft's own answer is not enough.
        let (leads, leader) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            (metrics.state.is_leader(), metrics.current_leader)
        };
        if !leads {
            return Box::pin(std::future::ready(Err(ProposeError::NotLeader { leader })));
        }
        let mut txns = txns;
        let set_limits = self
            .cluster_limits
            .as_ref()
            .filter(|_| txns.len() < TXNS_PER_ENTRY_MAX)
            .and_then(|cluster_limits| cluster_limits.proposal());
        let prepended = set_limits.is_some();
        if let Some(set_limits) = set_limits {
            tracing::info!("proposing this node's configured limits, which the tree lacks");
            txns.insert(0, set_limits);
        }
        let command = Command::batch(self.stamp(), txns);
        let count = command.txns.len();
        let commit_timeout = self.commit_timeout;
        Box::pin(async move {
            let written = tokio::time::timeout(commit_timeout, raft.client_write(command))
                .await
                .map_err(|_| {
                    ProposeError::Unknown(format!(
                        "not committed within {} ms: this leader may have lost its quorum",
                        commit_timeout.as_millis()
                    ))
                })?;
            match written {
                Ok(written) if written.data.txns.len() == count => {
                    let mut responses = written.data.txns;
                    if prepended {
                        // The callers asked for the rest; the limits' own result is nobody's.
                        responses.remove(0);
                    }
                    Ok(responses)
                }
                Ok(written) => Err(ProposeError::Unknown(format!(
                    "{count} transactions proposed but {} applied",
                    written.data.txns.len()
                ))),
                Err(error) => Err(write_error_outcome(
                    error.forward_to_leader().is_some(),
                    error.to_string(),
                )),
            }
        })
    }
}

/// One request waiting to be packed: its transactions and where its answer goes.
struct Waiting {
    txns: Vec<TxnKind>,
    bytes: usize,
    answer: oneshot::Sender<Result<Vec<CommandResponse>, ProposeError>>,
    /// Its share of [`PROPOSALS_WAITING_BYTES_MAX`], given back once it is answered.
    _room: OwnedSemaphorePermit,
}

/// The queue of transactions waiting to be proposed through one sink. Cloning gives another
/// handle on the same queue; the packing task ends when the last handle is dropped.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Waiting>,
    room: Arc<Semaphore>,
}

impl fmt::Debug for Proposer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Proposer").finish_non_exhaustive()
    }
}

impl Proposer {
    /// Starts the task that packs and sends proposals to `sink`, at most
    /// [`PROPOSALS_IN_FLIGHT_MAX`] at once.
    pub fn spawn(sink: Arc<dyn ProposalSink>) -> Proposer {
        Proposer::spawn_with_in_flight(sink, PROPOSALS_IN_FLIGHT_MAX)
    }

    /// Starts the task that packs and sends proposals to `sink`, at most `in_flight_max` at once.
    pub fn spawn_with_in_flight(sink: Arc<dyn ProposalSink>, in_flight_max: usize) -> Proposer {
        assert!(in_flight_max > 0, "at least one proposal can be under way");
        let (queue, waiting) = mpsc::channel(PROPOSALS_WAITING_MAX);
        tokio::spawn(pack_and_send(sink, waiting, in_flight_max));
        Proposer {
            queue,
            room: Arc::new(Semaphore::new(PROPOSALS_WAITING_BYTES_MAX)),
        }
    }

    /// Proposes one transaction and answers its result once it is committed and applied.
    pub async fn propose(&self, kind: TxnKind) -> Result<CommandResponse, ProposeError> {
        let mut responses = self.propose_all(vec![kind]).await?;
        assert_eq!(responses.len(), 1, "one response per transaction");
        Ok(responses.remove(0))
    }

    /// Proposes `txns` in one entry (they are never split), answering one response per
    /// transaction, in order.
    pub async fn propose_all(
        &self,
        txns: Vec<TxnKind>,
    ) -> Result<Vec<CommandResponse>, ProposeError> {
        if txns.is_empty() || txns.len() > TXNS_PER_ENTRY_MAX {
            return Err(ProposeError::Refused(format!(
                "{} transactions: a proposal carries 1 to {TXNS_PER_ENTRY_MAX}",
                txns.len()
            )));
        }
        let bytes = txns
            .iter()
            .map(encoded_len)
            .fold(0usize, usize::saturating_add);
        if bytes > PROPOSAL_REQUEST_BYTES_MAX {
            return Err(ProposeError::Refused(format!(
                "the transaction takes {bytes} bytes; a proposal carries at most \
                 {PROPOSAL_REQUEST_BYTES_MAX} (PROPOSAL_REQUEST_BYTES_MAX)"
            )));
        }
        let room_bytes = bytes.clamp(1, PROPOSALS_WAITING_BYTES_MAX);
        let room = self
            .room
            .clone()
            .acquire_many_owned(u32::try_from(room_bytes).unwrap_or(u32::MAX))
            .await
            .map_err(|_| ProposeError::Stopped)?;
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            txns,
            bytes,
            answer,
            _room: room,
        };
        self.queue
            .send(waiting)
            .await
            .map_err(|_| ProposeError::Stopped)?;
        answered.await.map_err(|_| ProposeError::Stopped)?
    }
}

/// The encoded size of a transaction, as it will travel in the log entry (one that cannot be
/// encoded counts as unbounded, and is refused).
fn encoded_len(txn: &TxnKind) -> usize {
    postcard::serialize_with_flavor(txn, postcard::ser_flavors::Size::default())
        .unwrap_or(usize::MAX)
}

/// Packs waiting requests into proposals and sends them, at most `in_flight_max` at once, until
/// every [`Proposer`] handle is gone.
async fn pack_and_send(
    sink: Arc<dyn ProposalSink>,
    mut waiting: mpsc::Receiver<Waiting>,
    in_flight_max: usize,
) {
    let in_flight = Arc::new(Semaphore::new(in_flight_max));
    let mut carried: Option<Waiting> = None;
    loop {
        // The permit first: everything that arrives while the proposals in flight take their
        // time joins the next one.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(first) => first,
            None => match waiting.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let (group, next) = gather(first, &mut waiting);
        carried = next;
        send_proposal(&sink, group, permit);
    }
}

/// The requests of one proposal: `first`, then whatever waits, as long as the proposal stays
/// within [`TXNS_PER_ENTRY_MAX`] transactions and [`PROPOSAL_BYTES_MAX`] bytes. The request that
/// did not fit, if any, is returned to start the next proposal.
fn gather(
    first: Waiting,
    waiting: &mut mpsc::Receiver<Waiting>,
) -> (Vec<Waiting>, Option<Waiting>) {
    let (mut txns, mut bytes) = (first.txns.len(), first.bytes);
    let mut group = vec![first];
    while let Ok(next) = waiting.try_recv() {
        if txns + next.txns.len() > TXNS_PER_ENTRY_MAX || bytes + next.bytes > PROPOSAL_BYTES_MAX {
            return (group, Some(next));
        }
        txns += next.txns.len();
        bytes += next.bytes;
        group.push(next);
    }
    assert!(txns <= TXNS_PER_ENTRY_MAX, "a proposal fits in one entry");
    (group, None)
}

/// Sends one proposal and, when it is answered, hands each request its own responses.
fn send_proposal(
    sink: &Arc<dyn ProposalSink>,
    mut group: Vec<Waiting>,
    permit: OwnedSemaphorePermit,
) {
    let counts: Vec<usize> = group.iter().map(|request| request.txns.len()).collect();
    let txns: Vec<TxnKind> = group
        .iter_mut()
        .flat_map(|request| std::mem::take(&mut request.txns))
        .collect();
    metrics::histogram!("polis_txns_per_proposal").record(txns.len() as f64);
    let total = txns.len();
    let proposal = sink.propose(txns);
    tokio::spawn(async move {
        let result = proposal.await;
        drop(permit);
        match result {
            Ok(mut responses) => {
                if responses.len() != total {
                    let error = ProposeError::Unknown(format!(
                        "{total} transactions proposed but {} answered",
                        responses.len()
                    ));
                    answer_all(group, &error);
                    return;
                }
                // Answered back to front, so that each request's responses split off the end.
                for (request, count) in group.into_iter().zip(counts).rev() {
                    let own = responses.split_off(responses.len() - count);
                    let _ = request.answer.send(Ok(own));
                }
                debug_assert!(responses.is_empty(), "every response has its request");
            }
            Err(error) => answer_all(group, &error),
        }
    });
}

fn answer_all(group: Vec<Waiting>, error: &ProposeError) {
    for request in group {
        let _ = request.answer.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use polis_tree::{OpResult, Zxid};

    use super::*;

    #[test]
    fn a_submitted_write_that_openraft_sends_elsewhere_has_an_unknown_outcome() {
        assert!(matches!(
            write_error_outcome(true, "forward to 2".into()),
            ProposeError::Unknown(_)
        ));
        assert!(matches!(
            write_error_outcome(false, "storage".into()),
            ProposeError::Unknown(_)
        ));
    }

    /// A sink that answers each proposal after `gate` lets it, one response per transaction
    /// numbered in arrival order, and records the size of every proposal.
    struct RecordingSink {
        sizes: Arc<Mutex<Vec<usize>>>,
        next_zxid: Arc<Mutex<Zxid>>,
        gate: Arc<Semaphore>,
        refuse: bool,
    }

    impl ProposalSink for RecordingSink {
        fn propose(&self, txns: Vec<TxnKind>) -> ProposalFuture {
            self.sizes.lock().unwrap().push(txns.len());
            let (next_zxid, gate, refuse) =
                (self.next_zxid.clone(), self.gate.clone(), self.refuse);
            Box::pin(async move {
                let _pass = gate.acquire().await.expect("the gate is open");
                if refuse {
                    return Err(ProposeError::NotLeader { leader: Some(7) });
                }
                let mut next = next_zxid.lock().unwrap();
                Ok(txns
                    .iter()
                    .map(|_| {
                        *next += 1;
                        CommandResponse {
                            zxid: *next,
                            result: Ok(OpResult::Noop),
                            events: Vec::new(),
                        }
                    })
                    .collect())
            })
        }
    }

    fn sink(refuse: bool) -> (Arc<RecordingSink>, Arc<Mutex<Vec<usize>>>, Arc<Semaphore>) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Semaphore::new(0));
        let sink = Arc::new(RecordingSink {
            sizes: sizes.clone(),
            next_zxid: Arc::new(Mutex::new(0)),
            gate: gate.clone(),
            refuse,
        });
        (sink, sizes, gate)
    }

    /// Waits until the sink has seen `count` proposals.
    async fn proposed(sizes: &Arc<Mutex<Vec<usize>>>, count: usize) {
        let deadline = std::time::Duration::from_secs(10);
        let waited = tokio::time::timeout(deadline, async {
            while sizes.lock().unwrap().len() < count {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "{count} proposals were sent");
    }

    #[tokio::test]
    async fn writes_that_wait_while_proposals_are_in_flight_share_the_next_one() {
        let (sink, sizes, gate) = sink(false);
        let proposer = Proposer::spawn(sink);
        let propose = |proposer: &Proposer| {
            let proposer = proposer.clone();
            tokio::spawn(async move { proposer.propose(TxnKind::Noop).await })
        };
        // The first proposals take every in-flight permit and wait at the gate...
        let mut requests = Vec::new();
        for in_flight in 1..=PROPOSALS_IN_FLIGHT_MAX {
            requests.push(propose(&proposer));
            proposed(&sizes, in_flight).await;
        }
        // ...so everything proposed meanwhile queues up for one next proposal.
        let waiting = 100 - PROPOSALS_IN_FLIGHT_MAX;
        for _ in 0..waiting {
            requests.push(propose(&proposer));
        }
        gate.add_permits(1_000);
        let mut zxids = Vec::new();
        for request in requests {
            zxids.push(request.await.unwrap().expect("committed").zxid);
        }
        zxids.sort_unstable();
        assert_eq!(zxids, (1..=100).collect::<Vec<Zxid>>(), "one response each");
        let mut expected = vec![1; PROPOSALS_IN_FLIGHT_MAX];
        expected.push(waiting);
        assert_eq!(*sizes.lock().unwrap(), expected);
    }

    #[tokio::test]
    async fn a_request_keeps_its_transactions_together_and_in_order() {
        let (sink, sizes, gate) = sink(false);
        gate.add_permits(1_000);
        let proposer = Proposer::spawn(sink);
        let responses = proposer
            .propose_all(vec![TxnKind::Noop, TxnKind::Noop, TxnKind::Noop])
            .await
            .expect("committed");
        let zxids: Vec<Zxid> = responses.iter().map(|response| response.zxid).collect();
        assert_eq!(zxids, vec![1, 2, 3]);
        assert_eq!(*sizes.lock().unwrap(), vec![3]);
    }

    #[test]
    fn entry_stamps_never_go_backwards_when_the_clock_does() {
        let last = AtomicI64::new(i64::MIN);
        assert_eq!(next_stamp(&last, 1_000), 1_000);
        assert_eq!(next_stamp(&last, 1_500), 1_500);
        // The wall clock is set back by an operator or NTP: commit times hold still instead.
        assert_eq!(next_stamp(&last, 900), 1_500);
        assert_eq!(next_stamp(&last, 1_400), 1_500);
        assert_eq!(next_stamp(&last, 1_600), 1_600);
    }

    #[tokio::test]
    async fn a_refused_proposal_tells_every_request_in_it() {
        let (sink, _, gate) = sink(true);
        gate.add_permits(1_000);
        let proposer = Proposer::spawn(sink);
        let refused = proposer.propose(TxnKind::Noop).await;
        assert_eq!(refused, Err(ProposeError::NotLeader { leader: Some(7) }));
    }

    #[tokio::test]
    async fn a_request_larger_than_an_entry_may_carry_is_refused_before_proposing() {
        let (sink, sizes, gate) = sink(false);
        gate.add_permits(1_000);
        let proposer = Proposer::spawn(sink);
        let huge = TxnKind::RemoveExpiredNode {
            path: "x".repeat(PROPOSAL_REQUEST_BYTES_MAX + 1),
        };
        let refused = proposer.propose(huge).await;
        assert!(
            matches!(refused, Err(ProposeError::Refused(_))),
            "{refused:?}"
        );
        let empty = proposer.propose_all(Vec::new()).await;
        assert!(matches!(empty, Err(ProposeError::Refused(_))), "{empty:?}");
        assert!(sizes.lock().unwrap().is_empty(), "nothing was proposed");
    }
}
