//! Openraft's network client for one peer, over QUIC.

use std::error::Error;
use std::fmt;
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
use quinn::{Connection, Endpoint};

use super::peer_message::{read_message, write_message};
use super::{
    ForwardError, ForwardRequest, ForwardResponse, NetworkFaults, PeerNetworkError, PeerRequest,
    PeerResponse,
};
use crate::{NodeId, PeerNode, TypeConfig};

/// How long establishing a connection to a peer may take.
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// The connection failed during the call: retrying reconnects.
    Network(PeerNetworkError),
    Timeout(Duration),
}

/// Sends Raft RPCs to one peer, one QUIC stream per RPC, over one connection that it re-dials
/// after a failure. A clone shares the open connection (QUIC multiplexes the streams), so callers
/// can send RPCs concurrently, each from its own clone.
#[derive(Clone)]
pub struct QuicPeerClient {
    local_id: NodeId,
    target: NodeId,
    node: PeerNode,
    endpoint: Endpoint,
    /// Links cut by fault injection: a call to a blocked peer fails as unreachable.
    faults: NetworkFaults,
    connection: Option<Connection>,
}

impl fmt::Debug for QuicPeerClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("QuicPeerClient")
            .field("local_id", &self.local_id)
            .field("target", &self.target)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl QuicPeerClient {
    pub fn new(
        local_id: NodeId,
        target: NodeId,
        node: PeerNode,
        endpoint: Endpoint,
        faults: NetworkFaults,
    ) -> Self {
        QuicPeerClient {
            local_id,
            target,
            node,
            endpoint,
            faults,
            connection: None,
        }
    }

    /// The open connection, dialing a new one if there is none or it closed. Fails as
    /// unreachable while fault injection cuts the link to the peer.
    async fn connection(&mut self) -> Result<Connection, PeerNetworkError> {
        if let Some(connection) = &self.connection
            && connection.close_reason().is_none()
        {
            let address = connection.remote_address();
            if self.faults.is_blocked(address) {
                return Err(PeerNetworkError::Blocked { address });
            }
            return Ok(connection.clone());
        }
        self.connection = None;
        let address = &self.node.peer_address;
        let (host, _) = address
            .rsplit_once(':')
            .ok_or_else(|| PeerNetworkError::Address {
                address: address.clone(),
                reason: "no port".to_string(),
            })?;
        // The certificate names the host as the address gives it (an IP SAN or a DNS name).
        let server_name = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let socket_address = tokio::net::lookup_host(address.as_str())
            .await
            .map_err(|source| PeerNetworkError::Resolve {
                address: address.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| PeerNetworkError::Address {
                address: address.clone(),
                reason: "resolves to no address".to_string(),
            })?;
        if self.faults.is_blocked(socket_address) {
            return Err(PeerNetworkError::Blocked {
                address: socket_address,
            });
        }
        let connecting = self.endpoint.connect(socket_address, &server_name)?;
        let connection = tokio::time::timeout(PEER_CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| PeerNetworkError::ConnectTimeout {
                address: address.clone(),
                timeout_ms: PEER_CONNECT_TIMEOUT.as_millis() as u64,
            })??;
        self.connection = Some(connection.clone());
        Ok(connection)
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
        &mut self,
        request: ForwardRequest,
        deadline: std::time::Duration,
    ) -> Result<ForwardResponse, ForwardError> {
        let request = PeerRequest::Forward(request);
        let attempt = async {
            let connection = self.connection().await?;
            match QuicPeerClient::exchange(&connection, &request).await {
                Ok(response) => Ok(response),
                Err(error) => {
                    connection.close(0u32.into(), b"rpc failed");
                    self.connection = None;
                    Err(error)
                }
            }
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
        &mut self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, CallFailure> {
        let deadline = option.hard_ttl();
        let attempt = async {
            let connection = self.connection().await.map_err(CallFailure::Unreachable)?;
            match QuicPeerClient::exchange(&connection, &request).await {
                Ok(response) => Ok(response),
                Err(error) => {
                    // The next call dials afresh rather than reusing a connection that failed.
                    connection.close(0u32.into(), b"rpc failed");
                    self.connection = None;
                    Err(CallFailure::Network(error))
                }
            }
        };
        match tokio::time::timeout(deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(CallFailure::Timeout(deadline)),
        }
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
                target: self.target,
                timeout,
            }),
        }
    }

    fn remote<E: Error>(
        &self,
        error: RaftError<NodeId, E>,
    ) -> RPCError<NodeId, PeerNode, RaftError<NodeId, E>> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
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
        match self.call(PeerRequest::AppendEntries(rpc), &option).await {
            Ok(PeerResponse::AppendEntries(Ok(response))) => Ok(response),
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
