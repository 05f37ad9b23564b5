//! Openraft's network client for one peer, over QUIC.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{RPCTypes, RaftNetwork};
use quinn::Connection;

use super::peer_message::{read_message, write_message};
use super::{
    ForwardError, ForwardRequest, ForwardResponse, PeerLink, PeerNetworkError, PeerRequest,
    PeerResponse,
};
use crate::{NodeId, PeerNode, TypeConfig};

/// The first wait after a peer was found unreachable; each further failure doubles it up to
/// [`PEER_BACKOFF_MAX`]. Openraft applies the backoff between attempts when an RPC reports
/// `Unreachable`, so a node that is down costs a connection attempt every couple of seconds, not
/// one per heartbeat.
pub const PEER_BACKOFF_BASE: Duration = Duration::from_millis(50);
pub const PEER_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The doublings after which the backoff has reached its maximum anyway.
const BACKOFF_DOUBLINGS_MAX: u32 = 16;

/// How a call failed, before it is expressed in openraft's error of the RPC at hand.
enum CallFailure {
    /// No connection could be made: openraft should back off.
    Unreachable(PeerNetworkError),
    /// The call failed on the connection (which, if it closed, the next call dials again).
    Network(PeerNetworkError),
    Timeout(Duration),
}

impl fmt::Display for CallFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Unreachable(error) => write!(formatter, "unreachable: {error}"),
            CallFailure::Network(error) => write!(formatter, "{error}"),
            CallFailure::Timeout(timeout) => write!(formatter, "no answer within {timeout:?}"),
        }
    }
}

/// Sends Raft RPCs and forwarded requests to one peer, one QUIC stream each, over the node's
/// lasting connection to that peer ([`PeerLink`]). Clones, and every other client of the same
/// peer, share the connection (QUIC multiplexes the streams), so RPCs run concurrently.
#[derive(Clone)]
pub struct QuicPeerClient {
    local_id: NodeId,
    node: PeerNode,
    link: Arc<PeerLink>,
}

impl fmt::Debug for QuicPeerClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("QuicPeerClient")
            .field("local_id", &self.local_id)
            .field("target", &self.link.target())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl QuicPeerClient {
    /// A client of the peer `link` reaches, described by `node`.
    pub fn new(local_id: NodeId, node: PeerNode, link: Arc<PeerLink>) -> Self {
        QuicPeerClient {
            local_id,
            node,
            link,
        }
    }

    fn target(&self) -> NodeId {
        self.link.target()
    }

    async fn exchange(
        connection: &Connection,
        request: &PeerRequest,
    ) -> Result<PeerResponse, PeerNetworkError> {
        let (mut send, mut recv) = connection.open_bi().await?;
        write_message(&mut send, request).await?;
        read_message(&mut recv).await
    }

    /// Asks this peer (the leader, as far as the caller knows) to act for a client, waiting at
    /// most `deadline`. A failure to reach it is [`ForwardError::Unreachable`], so the caller can
    /// look for the leader again.
    pub async fn forward(
        &self,
        request: ForwardRequest,
        deadline: std::time::Duration,
    ) -> Result<ForwardResponse, ForwardError> {
        let request = PeerRequest::Forward(request);
        // A failed exchange leaves the connection as it is: if it closed, the next call dials
        // again; if only the stream failed, the connection still serves the others.
        let attempt = async {
            let connection = self.link.connection().await?;
            QuicPeerClient::exchange(&connection, &request).await
        };
        match tokio::time::timeout(deadline, attempt).await {
            Ok(Ok(PeerResponse::Forward(answer))) => answer,
            Ok(Ok(other)) => Err(ForwardError::Failed(format!(
                "the peer answered a forward with {other:?}"
            ))),
            Ok(Err(error)) => Err(ForwardError::Unreachable(error.to_string())),
            Err(_) => Err(ForwardError::Unreachable(format!(
                "no answer within {} ms",
                deadline.as_millis()
            ))),
        }
    }

    /// Sends `request` and waits for the answer, within `option`'s hard deadline.
    async fn call(
        &self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, CallFailure> {
        let deadline = option.hard_ttl();
        // A timeout or a failed stream leaves the connection open for the next call (a
        // closed connection is dialled again by `PeerLink::connection`): re-dialling after each
        // slow answer would pay a handshake exactly when the peer is busiest.
        let attempt = async {
            let connection = self
                .link
                .connection()
                .await
                .map_err(CallFailure::Unreachable)?;
            QuicPeerClient::exchange(&connection, &request)
                .await
                .map_err(CallFailure::Network)
        };
        let result = match tokio::time::timeout(deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(CallFailure::Timeout(deadline)),
        };
        self.link.record_answer(
            result
                .as_ref()
                .err()
                .map(|failure| failure as &dyn fmt::Display),
        );
        result
    }

    fn rpc_error<E: Error>(
        &self,
        failure: CallFailure,
        action: RPCTypes,
    ) -> RPCError<NodeId, PeerNode, E> {
        match failure {
            CallFailure::Unreachable(error) => RPCError::Unreachable(Unreachable::new(&error)),
            CallFailure::Network(error) => RPCError::Network(NetworkError::new(&error)),
            CallFailure::Timeout(timeout) => RPCError::Timeout(Timeout {
                action,
                id: self.local_id,
                target: self.target(),
                timeout,
            }),
        }
    }

    fn remote<E: Error>(
        &self,
        error: RaftError<NodeId, E>,
    ) -> RPCError<NodeId, PeerNode, RaftError<NodeId, E>> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target(),
            self.node.clone(),
            error,
        ))
    }

    fn unexpected<E: Error>(&self) -> RPCError<NodeId, PeerNode, E> {
        RPCError::Network(NetworkError::new(&PeerNetworkError::UnexpectedResponse))
    }
}

impl RaftNetwork<TypeConfig> for QuicPeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        let vote = rpc.vote;
        let sent = std::time::Instant::now();
        match self.call(PeerRequest::AppendEntries(rpc), &option).await {
            Ok(PeerResponse::AppendEntries(Ok(response))) => {
                // Every answer but "higher vote" renewed the follower's promise to this leader.
                if !matches!(response, AppendEntriesResponse::HigherVote(_)) {
                    self.link.lease().accepted(self.link.target(), vote, sent);
                }
                Ok(response)
            }
            Ok(PeerResponse::AppendEntries(Err(error))) => Err(self.remote(error)),
            Ok(_) => Err(self.unexpected()),
            Err(failure) => Err(self.rpc_error(failure, RPCTypes::AppendEntries)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(PeerRequest::InstallSnapshot(rpc), &option).await {
            Ok(PeerResponse::InstallSnapshot(Ok(response))) => Ok(response),
            Ok(PeerResponse::InstallSnapshot(Err(error))) => Err(self.remote(error)),
            Ok(_) => Err(self.unexpected()),
            Err(failure) => Err(self.rpc_error(failure, RPCTypes::InstallSnapshot)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        match self.call(PeerRequest::Vote(rpc), &option).await {
            Ok(PeerResponse::Vote(Ok(response))) => Ok(response),
            Ok(PeerResponse::Vote(Err(error))) => Err(self.remote(error)),
            Ok(_) => Err(self.unexpected()),
            Err(failure) => Err(self.rpc_error(failure, RPCTypes::Vote)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new((0..).map(|failures: u32| {
            PEER_BACKOFF_BASE
                .saturating_mul(1 << failures.min(BACKOFF_DOUBLINGS_MAX))
                .min(PEER_BACKOFF_MAX)
        }))
    }
}
