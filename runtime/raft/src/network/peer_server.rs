//! Serving the Raft RPCs of peers.

use std::sync::Arc;

use polis_security::Identity;
use quinn::{Connection, Endpoint, Incoming};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::peer_message::{read_message, write_message};
use super::{PEER_CONNECTIONS_MAX, PeerNetworkError, PeerRequest, PeerResponse};
use crate::PolisRaft;

/// The organizational unit the CA puts in node certificates (`polis_security::ca`).
const NODE_SUBJECT_COMPONENT: &str = "OU=node";

/// Accepts peers on a node's peer endpoint and hands their RPCs to the local Raft node.
///
/// Dropping it stops accepting and closes the endpoint's connections.
#[derive(Debug)]
pub struct PeerServer {
    endpoint: Endpoint,
    accept_task: JoinHandle<()>,
}

impl PeerServer {
    /// Starts serving `endpoint` (see [`super::peer_endpoint`]) for `raft`.
    pub fn spawn(endpoint: Endpoint, raft: PolisRaft) -> PeerServer {
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), raft));
        PeerServer {
            endpoint,
            accept_task,
        }
    }

    /// The endpoint's local address.
    pub fn local_address(&self) -> Result<std::net::SocketAddr, PeerNetworkError> {
        Ok(self.endpoint.local_addr()?)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.endpoint.close(0u32.into(), b"node stopping");
    }
}

async fn accept_loop(endpoint: Endpoint, raft: PolisRaft) {
    let connections = Arc::new(Semaphore::new(PEER_CONNECTIONS_MAX));
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                remote = %incoming.remote_address(),
                "refusing a peer connection: {PEER_CONNECTIONS_MAX} are open"
            );
            incoming.refuse();
            continue;
        };
        let raft = raft.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_connection(incoming, raft).await {
                tracing::debug!(%error, "peer connection ended");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(incoming: Incoming, raft: PolisRaft) -> Result<(), PeerNetworkError> {
    let connection = incoming.await?;
    check_node(&connection)?;
    loop {
        // The transport bounds how many streams a peer may have open at once.
        let (mut send, mut recv) = connection.accept_bi().await?;
        let raft = raft.clone();
        tokio::spawn(async move {
            let served = async {
                let request: PeerRequest = read_message(&mut recv).await?;
                let response = dispatch(&raft, request).await;
                write_message(&mut send, &response).await
            };
            if let Err(error) = served.await {
                tracing::debug!(%error, "peer RPC failed");
            }
        });
    }
}

/// Refuses a peer whose certificate is not a node certificate of the cluster's CA (the TLS
/// handshake already verified it chains to the CA).
fn check_node(connection: &Connection) -> Result<(), PeerNetworkError> {
    let identity = Identity::from_connection(connection)
        .map_err(|error| PeerNetworkError::NotANode(error.to_string()))?;
    let is_node = identity
        .subject()
        .split(',')
        .any(|component| component.trim() == NODE_SUBJECT_COMPONENT);
    if is_node {
        Ok(())
    } else {
        connection.close(1u32.into(), b"not a node certificate");
        Err(PeerNetworkError::NotANode(identity.subject().to_string()))
    }
}

async fn dispatch(raft: &PolisRaft, request: PeerRequest) -> PeerResponse {
    match request {
        PeerRequest::AppendEntries(rpc) => {
            PeerResponse::AppendEntries(raft.append_entries(rpc).await)
        }
        PeerRequest::InstallSnapshot(rpc) => {
            PeerResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
        }
        PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
    }
}
