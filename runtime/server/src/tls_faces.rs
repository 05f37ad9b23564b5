//! The node's TLS faces, which take a changed certificate and CA together.

use anyhow::Context as _;
use polis_raft::network::PeerEndpoint;
use polis_security::{TlsFiles, TransportTimeouts, quinn_server_config};

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
        let client = quinn_server_config(files, &self.client_alpn, &self.client_timeouts)
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
