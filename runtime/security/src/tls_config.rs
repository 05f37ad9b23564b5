//! rustls configurations for mutual TLS 1.3 against the private CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, VerifierBuilderError, WebPkiClientVerifier};
use rustls::{ClientConfig, ServerConfig};

use crate::tls_files::{TlsFiles, load_root_store};

/// Why a TLS or QUIC configuration could not be built from files.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A PEM file could not be read or decoded (this includes a missing file).
    #[error("cannot read PEM file {path}: {source}")]
    ReadPem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file held no certificate.
    #[error("no certificate in {path}")]
    NoCertificate { path: PathBuf },
    /// A certificate's DER could not be parsed.
    #[error("cannot parse a certificate in {path}: {reason}")]
    UnreadableCertificate { path: PathBuf, reason: String },
    /// The CA file held a certificate that cannot serve as a trust anchor.
    #[error("invalid CA certificate in {path}: {source}")]
    InvalidCaCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// The file's metadata could not be read while watching it for changes.
    #[error("cannot inspect {path}: {source}")]
    Metadata {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The client-certificate verifier could not be built from the CA.
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] VerifierBuilderError),
    /// rustls refused the configuration, for example a key that does not match its certificate.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The crypto provider lacks the cipher suite that QUIC's initial packets need.
    #[error("unusable TLS configuration for QUIC: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// The idle timeout does not fit in a QUIC variable-length integer of milliseconds.
    #[error("idle timeout out of range: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
}

/// The one crypto provider that every Polis TLS configuration uses: *ring*.
///
/// Passing it explicitly keeps the process independent of whichever provider another crate might
/// install as the process-wide default.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration that presents `files`' certificate and requires every client to present
/// a certificate chaining to `files`' CA, over TLS 1.3 only.
///
/// Session resumption is turned off, so that every connection is authenticated against the
/// certificates and CA in force when it is made: a resumed session would carry an identity that
/// was verified under an older configuration, which matters after a certificate reload. Early
/// data (0-RTT) stays off because it can be replayed.
pub fn server_crypto(
    files: &TlsFiles,
    alpn_protocols: &[Vec<u8>],
) -> Result<ServerConfig, TlsConfigError> {
    let provider = crypto_provider();
    let roots = Arc::new(files.load_root_store()?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(files.load_certificate_chain()?, files.load_private_key()?)?;
    config.alpn_protocols = alpn_protocols.to_vec();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    Ok(config)
}

/// A client configuration that trusts only `files`' CA and presents `files`' certificate, over
/// TLS 1.3 only.
///
/// Resumption is turned off for the same reason as on the server: each connection should prove
/// the certificates that are current when it is made.
pub fn client_crypto(
    files: &TlsFiles,
    alpn_protocols: &[Vec<u8>],
) -> Result<ClientConfig, TlsConfigError> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(files.load_root_store()?)
        .with_client_auth_cert(files.load_certificate_chain()?, files.load_private_key()?)?;
    config.alpn_protocols = alpn_protocols.to_vec();
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// A client configuration that trusts only the CA in `ca_path` and presents no certificate.
///
/// A Polis server refuses such a client; this exists so that tests and diagnostics can show that.
pub fn client_crypto_without_certificate(
    ca_path: &Path,
    alpn_protocols: &[Vec<u8>],
) -> Result<ClientConfig, TlsConfigError> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(load_root_store(ca_path)?)
        .with_no_client_auth();
    config.alpn_protocols = alpn_protocols.to_vec();
    config.resumption = Resumption::disabled();
    Ok(config)
}
