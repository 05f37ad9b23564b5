//! Openraft's network factory over QUIC.

use openraft::RaftNetworkFactory;
use quinn::Endpoint;

use super::{NetworkFaults, PeerLinks, QuicPeerClient};
use crate::{NodeId, PeerNode, TypeConfig};

/// Creates a [`QuicPeerClient`] for every peer openraft replicates to or asks for votes.
///
/// All clients dial from the node's one peer endpoint ([`super::PeerEndpoint`]), so they share
/// its UDP socket and TLS configuration, and the node's [`NetworkFaults`]; and all clients of one
/// peer share the node's one connection to it ([`PeerLinks`]), so that the clients openraft makes
/// for every replication stream and election cost no handshake.
#[derive(Clone, Debug)]
pub struct QuicNetworkFactory {
    links: PeerLinks,
}

impl QuicNetworkFactory {
    pub fn new(local_id: NodeId, endpoint: Endpoint, faults: NetworkFaults) -> QuicNetworkFactory {
        QuicNetworkFactory::with_links(PeerLinks::new(local_id, endpoint, faults))
    }

    /// A factory whose clients use `links`, shared with the node's other peer traffic.
    pub fn with_links(links: PeerLinks) -> QuicNetworkFactory {
        QuicNetworkFactory { links }
    }

    /// The connections the factory's clients use.
    pub fn links(&self) -> &PeerLinks {
        &self.links
    }
}

impl RaftNetworkFactory<TypeConfig> for QuicNetworkFactory {
    type Network = QuicPeerClient;

    /// Connects lazily: openraft creates clients for every member when it becomes leader, and a
    /// member that is down must not delay the others.
    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> QuicPeerClient {
        let link = self.links.link(target, node);
        QuicPeerClient::new(self.links.local_id(), node.clone(), link)
    }
}
