//! Openraft's network factory over QUIC.

use openraft::RaftNetworkFactory;
use quinn::Endpoint;

use super::{NetworkFaults, QuicPeerClient};
use crate::{NodeId, PeerNode, TypeConfig};

/// Creates a [`QuicPeerClient`] for every peer openraft replicates to or asks for votes.
///
/// All clients dial from the node's one peer endpoint ([`super::PeerEndpoint`]), so they share
/// its UDP socket and TLS configuration, and the node's [`NetworkFaults`].
#[derive(Clone, Debug)]
pub struct QuicNetworkFactory {
    local_id: NodeId,
    endpoint: Endpoint,
    faults: NetworkFaults,
}

impl QuicNetworkFactory {
    pub fn new(local_id: NodeId, endpoint: Endpoint, faults: NetworkFaults) -> QuicNetworkFactory {
        QuicNetworkFactory {
            local_id,
            endpoint,
            faults,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for QuicNetworkFactory {
    type Network = QuicPeerClient;

    /// Connects lazily: openraft creates clients for every member when it becomes leader, and a
    /// member that is down must not delay the others.
    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> QuicPeerClient {
        QuicPeerClient::new(
            self.local_id,
            target,
            node.clone(),
            self.endpoint.clone(),
            self.faults.clone(),
        )
    }
}
