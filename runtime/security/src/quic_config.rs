//! quinn configurations wrapping the mutual-TLS configurations of [`crate::tls_config`].

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig};

use crate::tls_config::{TlsConfigError, client_crypto, server_crypto};
use crate::tls_files::TlsFiles;

/// How often an idle connection sends a keep-alive, by default.
///
/// It is well under [`DEFAULT_IDLE_TIMEOUT`] so that a healthy but quiet connection (a client
/// that only holds a session and its watches) is never closed for idleness, while a handful of
/// lost keep-alives can still be tolerated.
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// How long a connection may go without hearing from the peer before it is closed, by default.
///
/// Both ends advertise an idle timeout and QUIC uses the smaller one.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The liveness settings of a QUIC connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportTimeouts {
    /// How often to send a keep-alive when nothing else is sent.
    pub keep_alive_interval: Duration,
    /// How long without hearing from the peer before the connection is considered dead.
    pub idle_timeout: Duration,
}

impl Default for TransportTimeouts {
    fn default() -> Self {
        TransportTimeouts {
            keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl TransportTimeouts {
    /// The quinn transport settings for these timeouts.
    pub fn transport_config(&self) -> Result<TransportConfig, TlsConfigError> {
        let mut transport = TransportConfig::default();
        transport.keep_alive_interval(Some(self.keep_alive_interval));
        transport.max_idle_timeout(Some(IdleTimeout::try_from(self.idle_timeout)?));
        Ok(transport)
    }
}

/// A quinn server configuration that requires mutual TLS against `files`' CA.
///
/// Connection migration stays allowed, so a client whose address changes (a NAT rebinding, a
/// laptop changing networks) keeps its session instead of reconnecting.
pub fn quinn_server_config(
    files: &TlsFiles,
    alpn_protocols: &[Vec<u8>],
    timeouts: &TransportTimeouts,
) -> Result<quinn::ServerConfig, TlsConfigError> {
    quinn_server_config_from_crypto(server_crypto(files, alpn_protocols)?, timeouts)
}

/// A quinn server configuration around an already built rustls configuration.
pub fn quinn_server_config_from_crypto(
    crypto: rustls::ServerConfig,
    timeouts: &TransportTimeouts,
) -> Result<quinn::ServerConfig, TlsConfigError> {
    let crypto = QuicServerConfig::try_from(crypto)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(timeouts.transport_config()?));
    config.migration(true);
    Ok(config)
}

/// A quinn client configuration that presents `files`' certificate and trusts only `files`' CA.
pub fn quinn_client_config(
    files: &TlsFiles,
    alpn_protocols: &[Vec<u8>],
    timeouts: &TransportTimeouts,
) -> Result<quinn::ClientConfig, TlsConfigError> {
    quinn_client_config_from_crypto(client_crypto(files, alpn_protocols)?, timeouts)
}

/// A quinn client configuration around an already built rustls configuration, such as
/// [`crate::client_crypto_without_certificate`].
pub fn quinn_client_config_from_crypto(
    crypto: rustls::ClientConfig,
    timeouts: &TransportTimeouts,
) -> Result<quinn::ClientConfig, TlsConfigError> {
    let crypto = QuicClientConfig::try_from(crypto)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(timeouts.transport_config()?));
    Ok(config)
}
