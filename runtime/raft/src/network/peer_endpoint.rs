//! The QUIC endpoint a node uses for its peers, both to listen and to dial.

use std::net::SocketAddr;
use std::sync::Arc;

use polis_security::{
    TlsFiles, TransportTimeouts, client_crypto, quinn_client_config_from_crypto,
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

/// A QUIC endpoint bound to `bind_address` that accepts peers (mutual TLS, [`PEER_ALPN`]) and
/// dials them with the node certificate in `files`.
pub fn peer_endpoint(
    files: &TlsFiles,
    bind_address: SocketAddr,
    timeouts: &TransportTimeouts,
) -> Result<Endpoint, PeerNetworkError> {
    let alpn = [PEER_ALPN.to_vec()];
    let mut transport = timeouts.transport_config()?;
    transport.max_concurrent_bidi_streams(VarInt::from_u32(PEER_STREAMS_PER_CONNECTION_MAX));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    let transport = Arc::new(transport);

    let mut server_config =
        quinn_server_config_from_crypto(server_crypto(files, &alpn)?, timeouts)?;
    server_config.transport_config(transport.clone());
    let mut client_config =
        quinn_client_config_from_crypto(client_crypto(files, &alpn)?, timeouts)?;
    client_config.transport_config(transport);

    let mut endpoint = Endpoint::server(server_config, bind_address)?;
    endpoint.set_default_client_config(client_config);
    Ok(endpoint)
}
