//! Serving the Raft RPCs of peers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openraft::TryAsRef;
use polis_security::Identity;
use polis_tree::SessionId;
use quinn::{Connection, Endpoint, Incoming};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::peer_admission::{AdmissionView, PeerClaim, admit, host_of_address};
use super::peer_message::{read_message, write_message};
use super::{
    ForwardError, ForwardRequest, ForwardResponse, NetworkFaults, PEER_CONNECTIONS_MAX,
    PeerNetworkError, PeerRequest, PeerResponse,
};
use crate::{NodeId, PolisRaft, ProposeError, Proposer, RaftProposalSink, ReadIndexRounds};

/// How long [`PeerServer::release`] waits for the endpoint's closed connections to drain, so
/// that peers hear of the close. An established connection drains in three probe timeouts
/// (RFC 9000 §10.2), milliseconds on a LAN; one still in its handshake would take about 3 s
/// (initial RTT 333 ms) and is not waited for.
pub const PEER_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts peers on a node's peer endpoint and hands their RPCs to the local Raft node.
///
/// Dropping it stops accepting and closes the endpoint's connections.
#[derive(Debug)]
pub struct PeerServer {
    endpoint: Endpoint,
    accept_task: JoinHandle<()>,
    /// Set when the server closes, so that no connection is accepted afterwards.
    closing: Arc<AtomicBool>,
    /// Handshakes peers started with this server.
    accepts: Arc<AtomicU64>,
}

impl PeerServer {
    /// Starts serving `endpoint` (see [`super::PeerEndpoint`]) for `raft`, proposing forwarded
    /// writes through a proposer of its own stamped with this machine's clock. Forwarded session
    /// renewals are dropped; use [`PeerServer::spawn_with_touches`] on a server.
    pub fn spawn(endpoint: Endpoint, raft: PolisRaft) -> PeerServer {
        let (touches, _) = mpsc::channel(1);
        let clock = Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
                })
        });
        let sink = RaftProposalSink::new(raft.clone(), clock, Duration::from_secs(10));
        let proposer = Proposer::spawn(Arc::new(sink));
        let read_rounds = ReadIndexRounds::spawn(raft.clone());
        PeerServer::spawn_with_touches(
            endpoint,
            raft,
            proposer,
            read_rounds,
            touches,
            NetworkFaults::new(),
        )
    }

    /// Starts serving `endpoint` for `raft`, proposing the writes peers forward through
    /// `proposer` and confirming their ReadIndex requests through `read_rounds` (the node's own,
    /// so that they share entries and rounds with its local requests), and
    /// handing the session renewals peers forward to `touches` (the leader's session tracker). A full channel drops a renewal: the next one,
    /// a third of a session timeout later, carries it again. Peers that `faults` blocks are not
    /// served.
    pub fn spawn_with_touches(
        endpoint: Endpoint,
        raft: PolisRaft,
        proposer: Proposer,
        read_rounds: ReadIndexRounds,
        touches: mpsc::Sender<Vec<SessionId>>,
        faults: NetworkFaults,
    ) -> PeerServer {
        let closing = Arc::new(AtomicBool::new(false));
        let accepts = Arc::new(AtomicU64::new(0));
        let context = Arc::new(Context {
            accepts: accepts.clone(),
            raft,
            proposer,
            read_rounds,
            touches,
            faults,
            closing: closing.clone(),
        });
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), context));
        PeerServer {
            endpoint,
            accept_task,
            closing,
            accepts,
        }
    }

    /// Stops accepting and closes the endpoint's connections at once.
    ///
    /// Quinn keeps the UDP socket until every connection of the endpoint has drained, and
    /// `Endpoint::close` only closes the connections that exist when it is called: one accepted
    /// later (a peer's connection still queued, or in the middle of its handshake) would keep
    /// the port bound until its idle timeout, 30 s. So nothing is accepted once closing starts.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.accept_task.abort();
        self.endpoint.close(0u32.into(), b"node stopping");
    }

    /// After [`PeerServer::close`]: waits, at most [`PEER_DRAIN_TIMEOUT`], for the closed
    /// connections to drain, then frees the peer port at once, so that a restarted node can
    /// bind it again (see [`polis_security::release_endpoint_port`]).
    pub async fn release(&self) {
        polis_security::release_endpoint_port(&self.endpoint, PEER_DRAIN_TIMEOUT).await;
    }

    /// How many handshakes peers have started with this server (also in
    /// `polis_peer_handshakes_total`, which sums every node of a process).
    pub fn accepts(&self) -> u64 {
        self.accepts.load(Ordering::Relaxed)
    }

    /// The endpoint's local address.
    pub fn local_address(&self) -> Result<std::net::SocketAddr, PeerNetworkError> {
        Ok(self.endpoint.local_addr()?)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.close();
    }
}

/// What every peer RPC handler needs.
struct Context {
    accepts: Arc<AtomicU64>,
    raft: PolisRaft,
    proposer: Proposer,
    read_rounds: ReadIndexRounds,
    touches: mpsc::Sender<Vec<SessionId>>,
    faults: NetworkFaults,
    /// The server is closing: accept nothing more.
    closing: Arc<AtomicBool>,
}

impl Context {
    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

async fn accept_loop(endpoint: Endpoint, context: Arc<Context>) {
    let connections = Arc::new(Semaphore::new(PEER_CONNECTIONS_MAX));
    while let Some(incoming) = endpoint.accept().await {
        if context.is_closing() {
            incoming.refuse();
            continue;
        }
        if context.faults.is_blocked(incoming.remote_address()) {
            // Dropped unanswered, as a cut link drops packets: the dialer times out.
            incoming.ignore();
            continue;
        }
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                remote = %incoming.remote_address(),
                "refusing a peer connection: {PEER_CONNECTIONS_MAX} are open"
            );
            incoming.refuse();
            continue;
        };
        let context = context.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_connection(incoming, context).await {
                tracing::debug!(%error, "peer connection ended");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(
    incoming: Incoming,
    context: Arc<Context>,
) -> Result<(), PeerNetworkError> {
    if context.is_closing() {
        incoming.refuse();
        return Ok(());
    }
    // Peers keep their connections (`super::PeerLinks`), so in steady state this stays flat.
    metrics::counter!("polis_peer_handshakes_total", "side" => "accept").increment(1);
    context.accepts.fetch_add(1, Ordering::Relaxed);
    let connection = incoming.await?;
    if context.is_closing() {
        // Accepted while the endpoint was closing, so `Endpoint::close` did not reach it.
        connection.close(0u32.into(), b"node stopping");
        return Ok(());
    }
    let identity = Arc::new(check_node(&connection)?);
    loop {
        // The transport bounds how many streams a peer may have open at once.
        let (mut send, mut recv) = connection.accept_bi().await?;
        let address = connection.remote_address();
        if context.faults.is_blocked(address) {
            // A connection opened before the link was cut carries nothing more.
            connection.close(0u32.into(), b"link cut");
            return Err(PeerNetworkError::Blocked { address });
        }
        let context = context.clone();
        let (connection, identity) = (connection.clone(), identity.clone());
        tokio::spawn(async move {
            let served = async {
                let request: PeerRequest = read_message(&mut recv).await?;
                admit_request(&context.raft, &connection, &identity, &request)?;
                let response = dispatch(&context, request).await;
                write_message(&mut send, &response).await
            };
            if let Err(error) = served.await {
                tracing::debug!(%error, "peer RPC failed");
            }
        });
    }
}

/// Refuses an RPC its sender may not send (see [`super::peer_admission`]), closing the
/// connection with the reason: a well-behaved peer that was refused (a node that was removed)
/// learns why in its log.
fn admit_request(
    raft: &PolisRaft,
    connection: &Connection,
    identity: &Identity,
    request: &PeerRequest,
) -> Result<(), PeerNetworkError> {
    let claim = match request {
        PeerRequest::AppendEntries(rpc) => rpc.vote.leader_id().voted_for().map(PeerClaim::Leader),
        PeerRequest::InstallSnapshot(rpc) => {
            rpc.vote.leader_id().voted_for().map(PeerClaim::Leader)
        }
        PeerRequest::Vote(rpc) => rpc
            .vote
            .leader_id()
            .voted_for()
            .map(|id| PeerClaim::Candidate {
                id,
                last_log_index: rpc.last_log_id.map(|log_id| log_id.index),
            }),
        PeerRequest::Forward(_) => Some(PeerClaim::Member),
    }
    .unwrap_or(PeerClaim::Member);
    let admitted = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let view = AdmissionView {
            members: metrics
                .membership_config
                .membership()
                .nodes()
                .map(|(id, node)| (*id, host_of_address(&node.peer_address)))
                .collect(),
            last_log_index: metrics.last_log_index,
        };
        admit(&view, |host| identity.names_host(host), claim)
    };
    admitted.map_err(|refusal| {
        tracing::warn!(
            subject = identity.subject(),
            remote = %connection.remote_address(),
            ?claim,
            %refusal,
            "refusing a peer RPC"
        );
        metrics::counter!("polis_peer_refusals_total").increment(1);
        connection.close(2u32.into(), refusal.close_reason());
        PeerNetworkError::Refused {
            subject: identity.subject().to_string(),
            refusal,
        }
    })
}

/// Refuses a peer whose certificate is not a node certificate of the cluster's CA (the TLS
/// handshake already verified it chains to the CA).
fn check_node(connection: &Connection) -> Result<Identity, PeerNetworkError> {
    let identity = Identity::from_connection(connection)
        .map_err(|error| PeerNetworkError::NotANode(error.to_string()))?;
    // The organizational unit as parsed from the certificate: splitting the rendered subject on
    // commas would take an escaped comma inside another value for a separator.
    if identity.is_node() {
        Ok(identity)
    } else {
        connection.close(1u32.into(), b"not a node certificate");
        Err(PeerNetworkError::NotANode(identity.subject().to_string()))
    }
}

async fn dispatch(context: &Context, request: PeerRequest) -> PeerResponse {
    let raft = &context.raft;
    match request {
        PeerRequest::AppendEntries(rpc) => {
            PeerResponse::AppendEntries(raft.append_entries(rpc).await)
        }
        PeerRequest::InstallSnapshot(rpc) => {
            PeerResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
        }
        PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
        PeerRequest::Forward(forward) => {
            PeerResponse::Forward(serve_forward(context, forward).await)
        }
    }
}

async fn serve_forward(
    context: &Context,
    request: ForwardRequest,
) -> Result<ForwardResponse, ForwardError> {
    match request {
        ForwardRequest::ClientWrite(txns) => match context.proposer.propose_all(txns).await {
            Ok(responses) => Ok(ForwardResponse::ClientWrite(responses)),
            Err(ProposeError::NotLeader { leader }) => Err(ForwardError::NotLeader { leader }),
            Err(ProposeError::Refused(reason)) => Err(ForwardError::Refused(reason)),
            Err(error) => Err(ForwardError::Failed(error.to_string())),
        },
        ForwardRequest::ReadIndex => context
            .read_rounds
            .read_index()
            .await
            .map(ForwardResponse::ReadIndex),
        ForwardRequest::TouchSessions(sessions) => {
            let _ = context.touches.try_send(sessions);
            Ok(ForwardResponse::TouchSessions)
        }
        ForwardRequest::ClusterStatus => {
            crate::membership::cluster_status(&context.raft).map(ForwardResponse::ClusterStatus)
        }
        ForwardRequest::AddLearner {
            id,
            node,
            catch_up_timeout_ms,
        } => crate::membership::add_learner(
            &context.raft,
            id,
            node,
            std::time::Duration::from_millis(catch_up_timeout_ms),
        )
        .await
        .map(ForwardResponse::AddLearner),
        ForwardRequest::ChangeMembership(change) => {
            crate::membership::change_membership(&context.raft, &change)
                .await
                .map(ForwardResponse::ChangeMembership)
        }
    }
}

/// Maps openraft's client errors: "not the leader" tells the follower where to go next.
pub fn forward_error<E>(error: openraft::error::RaftError<NodeId, E>) -> ForwardError
where
    E: std::error::Error + TryAsRef<openraft::error::ForwardToLeader<NodeId, crate::PeerNode>>,
{
    if let Some(forward) = error.forward_to_leader() {
        return ForwardError::NotLeader {
            leader: forward.leader_id,
        };
    }
    ForwardError::Failed(error.to_string())
}
