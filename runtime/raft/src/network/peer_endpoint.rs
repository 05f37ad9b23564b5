//! The QUIC endpoint a node uses for its peers, both to listen and to dial.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use polis_security::{
    ReloadableClientCrypto, TlsFiles, TransportTimeouts, client_crypto,
    quinn_server_config_from_crypto, server_crypto,
};
use quinn::{Endpoint, VarInt};

use super::{PEER_ALPN, PeerNetworkError};

/// The most peer connections a node serves at once. A cluster has a handful of members, each
/// holding one connection to every other; the bound only stops a misbehaving peer from
/// exhausting the node.
pub const PEER_CONNECTIONS_MAX: usize = 64;

/// The most concurrent RPC streams one peer may open. Openraft sends one RPC at a time per
/// replication stream, plus votes; the rest carry client requests a follower forwards to the
/// leader, one stream each, so that a follower's clients are not queued behind one another.
/// A stream may in principle hold up to [`super::PEER_MESSAGE_BYTES_MAX`] bytes, but only
/// replication and snapshot messages are large.
pub const PEER_STREAMS_PER_CONNECTION_MAX: u32 = 64;

/// How often a quiet peer connection is kept alive. Peer connections last (see
/// [`super::PeerLinks`]), so they must notice a peer that went away without closing them: one
/// killed and restarted on the same port does not know the old connection, and cannot reset it
/// (its stateless-reset key is new).
pub const PEER_KEEP_ALIVE_INTERVAL: Duration = Duration::from_millis(500);

/// How long a peer connection may hear nothing before it counts as dead and the next RPC dials
/// again: several keep-alives and dozens of heartbeats, yet short beside an election timeout's
/// worth of failed RPCs to a restarted peer.
pub const PEER_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The liveness settings of peer connections.
pub const PEER_TRANSPORT_TIMEOUTS: TransportTimeouts = TransportTimeouts {
    keep_alive_interval: PEER_KEEP_ALIVE_INTERVAL,
    idle_timeout: PEER_IDLE_TIMEOUT,
};

/// A node's QUIC endpoint for its peers: it accepts peers (mutual TLS, [`PEER_ALPN`]) and dials
/// them, presenting the node certificate both ways.
///
/// Its certificate and CA can be replaced while it runs ([`PeerEndpoint::install_certificates`]),
/// for both sides at once: the listening side through quinn's shared server configuration, the
/// dialing side through a [`ReloadableClientCrypto`] that every handle of the endpoint shares.
#[derive(Clone, Debug)]
pub struct PeerEndpoint {
    endpoint: Endpoint,
    dial_crypto: Arc<ReloadableClientCrypto>,
    timeouts: TransportTimeouts,
}

impl PeerEndpoint {
    /// Binds `bind_address` with the node certificate and CA in `files`.
    pub fn bind(
        files: &TlsFiles,
        bind_address: SocketAddr,
        timeouts: &TransportTimeouts,
    ) -> Result<PeerEndpoint, PeerNetworkError> {
        let alpn = [PEER_ALPN.to_vec()];
        let transport = Arc::new(peer_transport(timeouts)?);
        let server_config = peer_server_config(files, timeouts, transport.clone())?;
        let dial_crypto = Arc::new(ReloadableClientCrypto::new(client_crypto(files, &alpn)?)?);
        let mut client_config = quinn::ClientConfig::new(dial_crypto.clone());
        client_config.transport_config(transport);
        let mut endpoint = Endpoint::server(server_config, bind_address)?;
        endpoint.set_default_client_config(client_config);
        Ok(PeerEndpoint {
            endpoint,
            dial_crypto,
            timeouts: *timeouts,
        })
    }

    /// The endpoint, to serve ([`super::PeerServer`]) and to dial from
    /// ([`super::QuicNetworkFactory`]); every clone dials with the current certificate.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Rebuilds both sides from `files` and installs them, so that a reissued node certificate
    /// or a rotated CA applies to every peer connection made from now on, accepted and dialed
    /// alike; connections already made carry on. On error nothing changes.
    pub fn install_certificates(&self, files: &TlsFiles) -> Result<(), PeerNetworkError> {
        let alpn = [PEER_ALPN.to_vec()];
        let transport = Arc::new(peer_transport(&self.timeouts)?);
        let server_config = peer_server_config(files, &self.timeouts, transport)?;
        let client_crypto = client_crypto(files, &alpn)?;
        self.dial_crypto.replace(client_crypto)?;
        self.endpoint.set_server_config(Some(server_config));
        Ok(())
    }
}

/// The peer streams' bounds on top of the common timeouts.
fn peer_transport(
    timeouts: &TransportTimeouts,
) -> Result<quinn::TransportConfig, PeerNetworkError> {
    let mut transport = timeouts.transport_config()?;
    transport.max_concurrent_bidi_streams(VarInt::from_u32(PEER_STREAMS_PER_CONNECTION_MAX));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    Ok(transport)
}

fn peer_server_config(
    files: &TlsFiles,
    timeouts: &TransportTimeouts,
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ServerConfig, PeerNetworkError> {
    let alpn = [PEER_ALPN.to_vec()];
    let mut server_config =
        quinn_server_config_from_crypto(server_crypto(files, &alpn)?, timeouts)?;
    server_config.transport_config(transport);
    Ok(server_config)
}
