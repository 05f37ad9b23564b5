//! A QUIC client crypto configuration whose certificate and trusted CA can be replaced while
//! connections are being dialed with it.

use std::sync::{Arc, RwLock};

use quinn::ConnectError;
use quinn::crypto::{ClientConfig, Session};
use quinn_proto::transport_parameters::TransportParameters;

use crate::tls_config::TlsConfigError;

/// The client half of a TLS configuration that a certificate reload can replace.
///
/// Quinn keeps an endpoint's default client configuration in each handle of the endpoint, so
/// installing a new one through one handle leaves every other handle dialing with the old
/// certificate and CA. Wrapping the crypto in this type and sharing it instead lets one
/// [`ReloadableClientCrypto::replace`] reach every dialer at once: each new connection starts
/// its TLS session from the configuration current at that moment, and connections already made
/// keep the session they negotiated.
pub struct ReloadableClientCrypto {
    current: RwLock<Arc<dyn ClientConfig>>,
}

impl ReloadableClientCrypto {
    /// Wraps a rustls client configuration (see [`crate::client_crypto`]).
    pub fn new(crypto: rustls::ClientConfig) -> Result<ReloadableClientCrypto, TlsConfigError> {
        Ok(ReloadableClientCrypto {
            current: RwLock::new(quic_crypto(crypto)?),
        })
    }

    /// Makes `crypto` the configuration of every connection dialed from now on.
    pub fn replace(&self, crypto: rustls::ClientConfig) -> Result<(), TlsConfigError> {
        let crypto = quic_crypto(crypto)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = crypto;
        Ok(())
    }

    fn current(&self) -> Arc<dyn ClientConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for ReloadableClientCrypto {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReloadableClientCrypto")
            .finish_non_exhaustive()
    }
}

impl ClientConfig for ReloadableClientCrypto {
    fn start_session(
        self: Arc<Self>,
        version: u32,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Box<dyn Session>, ConnectError> {
        self.current().start_session(version, server_name, params)
    }
}

fn quic_crypto(crypto: rustls::ClientConfig) -> Result<Arc<dyn ClientConfig>, TlsConfigError> {
    Ok(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(
        crypto,
    )?))
}
