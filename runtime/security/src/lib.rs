//! Polis security: private CA and certificates, mutual-TLS configuration, identities, digest auth.
//!
//! Clients and peers talk over QUIC with mutual TLS 1.3. A private certificate authority
//! ([`ca::CertificateAuthority`]) issues node certificates (server and client authentication,
//! since nodes dial each other) and client certificates (client authentication only). The
//! server requires every peer to present a certificate that chains to that authority, and the
//! subject of that certificate becomes the peer's [`Identity`], which ACLs check under the
//! `x509` scheme.
//!
//! Every TLS configuration built here uses one crypto provider, *ring*, passed explicitly, and
//! allows TLS 1.3 only (QUIC requires it anyway).

pub mod ca;
pub mod digest;
pub mod endpoint_release;
pub mod identity;
pub mod quic_config;
pub mod rejection;
pub mod reload;
pub mod reloadable_client_crypto;
pub mod tls_config;
pub mod tls_files;
pub mod tls_files_watcher;

pub use ca::{CaError, CertificateAuthority};
pub use digest::{digest_id, generate_digest};
pub use endpoint_release::release_endpoint_port;
pub use identity::{Identity, IdentityError};
pub use quic_config::{
    TransportTimeouts, quinn_client_config, quinn_client_config_from_crypto, quinn_server_config,
    quinn_server_config_from_crypto,
};
pub use rejection::{CertificateRejection, is_certificate_rejection};
pub use reload::{CertificateReloader, spawn_certificate_reloader, spawn_reloader};
pub use reloadable_client_crypto::ReloadableClientCrypto;
pub use tls_config::{
    TlsConfigError, client_crypto, client_crypto_without_certificate, crypto_provider,
    server_crypto,
};
pub use tls_files::{CertificateExpiry, TlsFiles};
pub use tls_files_watcher::TlsFilesWatcher;
