//! The node's TLS faces, which take a changed certificate and CA together.

use std::sync::Arc;

use anyhow::Context as _;
use polis_raft::network::PeerEndpoint;
use polis_security::{TlsFiles, TransportTimeouts, quinn_server_config};
use quinn::VarInt;

use crate::zookeeper::ZooKeeperTls;

/// Every face through which a node presents its certificate and checks others' against its CA:
/// the client QUIC listener, the Raft peer endpoint (accepting and dialing) and, when enabled,
/// the ZooKeeper TLS listener. They read the same files, so one watcher polls them
/// ([`polis_security::spawn_certificate_reloader`]) and reloads every face at once.
#[derive(Debug)]
pub struct TlsFaces {
    pub client_endpoint: quinn::Endpoint,
    pub client_alpn: Vec<Vec<u8>>,
    pub client_timeouts: TransportTimeouts,
    /// The largest frame a client may send, which sizes the client connections' windows.
    pub client_frame_len_max: usize,
    pub peer_endpoint: PeerEndpoint,
    pub zookeeper: Option<ZooKeeperTls>,
}

impl TlsFaces {
    /// Builds each face's configuration from `files` and installs it for new connections;
    /// connections already made carry on.
    ///
    /// The client listener's configuration is built first and installed last, so files that
    /// cannot be used (a key that does not match its certificate, a half-written file) are
    /// refused before any face changes.
    pub fn install_certificates(&self, files: &TlsFiles) -> anyhow::Result<()> {
        let client = client_server_config(
            files,
            &self.client_alpn,
            &self.client_timeouts,
            self.client_frame_len_max,
        )
        .context("client listener")?;
        self.peer_endpoint
            .install_certificates(files)
            .context("peer endpoint")?;
        if let Some(zookeeper) = &self.zookeeper {
            zookeeper
                .install_certificates(files)
                .context("ZooKeeper listener")?;
        }
        self.client_endpoint.set_server_config(Some(client));
        Ok(())
    }
}

/// The client listener's QUIC configuration: mutual TLS, and flow control set for what the
/// protocol uses rather than left at quinn's defaults.
///
/// A client speaks over one bidirectional stream (the server accepts one and reads only it).
/// quinn's defaults would let it open 100 streams of each kind and buffer 1.25 MB on each with
/// no bound for the connection, memory the server holds for data it never reads. So: one
/// bidirectional stream, no unidirectional ones, and windows of two frames, enough for the
/// largest request in flight while the next one arrives; the send window likewise bounds what the
/// server buffers for a client that does not acknowledge (besides its byte-bounded queue).
pub fn client_server_config(
    files: &TlsFiles,
    alpn: &[Vec<u8>],
    timeouts: &TransportTimeouts,
    frame_len_max: usize,
) -> anyhow::Result<quinn::ServerConfig> {
    let mut config = quinn_server_config(files, alpn, timeouts)?;
    let mut transport = timeouts.transport_config()?;
    let window = u32::try_from(frame_len_max.saturating_mul(2)).unwrap_or(u32::MAX);
    transport.max_concurrent_bidi_streams(VarInt::from_u32(1));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    transport.stream_receive_window(VarInt::from_u32(window));
    transport.receive_window(VarInt::from_u32(window));
    transport.send_window(u64::from(window));
    config.transport_config(Arc::new(transport));
    Ok(config)
}
