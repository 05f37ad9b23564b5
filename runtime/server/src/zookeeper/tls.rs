//! TLS on the ZooKeeper face, whose certificate and CA reload without a restart.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use polis_security::{TlsConfigError, TlsFiles};
use tokio_rustls::TlsAcceptor;

/// TLS on the ZooKeeper face, like ZooKeeper's secure client port: TLS 1.3 with a client
/// certificate from the node's CA, whose subject becomes the connection's `x509` identity (and
/// `super`, for the configured administrators) — the same identities the QUIC face gives.
///
/// Clones share one acceptor, which [`ZooKeeperTls::install_certificates`] replaces when the
/// node's certificate or CA files change; each handshake uses the acceptor current when it
/// starts, and connections already made keep theirs.
#[derive(Clone)]
pub struct ZooKeeperTls {
    acceptor: Arc<RwLock<TlsAcceptor>>,
    /// Certificate subjects with administrator rights.
    pub admins: HashSet<String>,
}

impl ZooKeeperTls {
    /// TLS with the node certificate and CA in `files`.
    pub fn from_files(
        files: &TlsFiles,
        admins: HashSet<String>,
    ) -> Result<ZooKeeperTls, TlsConfigError> {
        Ok(ZooKeeperTls {
            acceptor: Arc::new(RwLock::new(acceptor(files)?)),
            admins,
        })
    }

    /// The acceptor for a handshake starting now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Rebuilds the configuration from `files` for every handshake from now on; on error the
    /// current one stays.
    pub fn install_certificates(&self, files: &TlsFiles) -> Result<(), TlsConfigError> {
        let acceptor = acceptor(files)?;
        *self
            .acceptor
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = acceptor;
        Ok(())
    }
}

/// ZooKeeper clients negotiate no ALPN, so none is offered.
fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsConfigError> {
    Ok(TlsAcceptor::from(Arc::new(polis_security::server_crypto(
        files,
        &[],
    )?)))
}

impl std::fmt::Debug for ZooKeeperTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ZooKeeperTls")
            .field("admins", &self.admins)
            .finish_non_exhaustive()
    }
}
