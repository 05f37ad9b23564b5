//! The three PEM files that make up one end of a mutual-TLS connection.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls_config::TlsConfigError;

/// The name of the CA certificate file inside a CA directory.
pub const CA_CERTIFICATE_FILE: &str = "ca.pem";

/// The name of the CA private key file inside a CA directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// Where one party's trust anchor, certificate and private key live, all PEM-encoded.
///
/// `ca_path` holds the certificate authority that the other side must chain to;
/// `certificate_path` holds this party's certificate chain (end-entity first);
/// `key_path` holds this party's private key (PKCS#8, SEC1 or PKCS#1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    pub ca_path: PathBuf,
    pub certificate_path: PathBuf,
    pub key_path: PathBuf,
}

impl TlsFiles {
    /// The files that [`crate::CertificateAuthority::issue_node`] writes for `name` into `dir`.
    ///
    /// This only computes paths; it neither checks the name nor touches the file system.
    pub fn for_node(dir: impl AsRef<Path>, name: &str) -> TlsFiles {
        let dir = dir.as_ref();
        TlsFiles {
            ca_path: dir.join(CA_CERTIFICATE_FILE),
            certificate_path: dir.join(format!("node-{name}.pem")),
            key_path: dir.join(format!("node-{name}-key.pem")),
        }
    }

    /// The files that [`crate::CertificateAuthority::issue_client`] writes for `name` into `dir`.
    ///
    /// This only computes paths; it neither checks the name nor touches the file system.
    pub fn for_client(dir: impl AsRef<Path>, name: &str) -> TlsFiles {
        let dir = dir.as_ref();
        TlsFiles {
            ca_path: dir.join(CA_CERTIFICATE_FILE),
            certificate_path: dir.join(format!("client-{name}.pem")),
            key_path: dir.join(format!("client-{name}-key.pem")),
        }
    }

    /// Reads this party's certificate chain, end-entity certificate first.
    pub fn load_certificate_chain(&self) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
        load_certificates(&self.certificate_path)
    }

    /// Reads this party's private key.
    pub fn load_private_key(&self) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
        PrivateKeyDer::from_pem_file(&self.key_path).map_err(|source| TlsConfigError::ReadPem {
            path: self.key_path.clone(),
            source,
        })
    }

    /// Reads the trust anchors from the CA file.
    pub fn load_root_store(&self) -> Result<RootCertStore, TlsConfigError> {
        load_root_store(&self.ca_path)
    }

    /// When this party's certificate and its CA stop being valid, in Unix seconds: the end of
    /// the certificate file's first (end-entity) certificate, and the earliest end among the
    /// CA file's certificates (during a CA rotation the file holds the old CA and the new one,
    /// and the old one's end is the one to act on).
    pub fn expiry(&self) -> Result<CertificateExpiry, TlsConfigError> {
        let chain = self.load_certificate_chain()?;
        let certificate = not_after(&self.certificate_path, &chain[0])?;
        let mut ca = i64::MAX;
        for authority in load_certificates(&self.ca_path)? {
            ca = ca.min(not_after(&self.ca_path, &authority)?);
        }
        Ok(CertificateExpiry { certificate, ca })
    }
}

/// The ends of validity of a party's certificate and of its CA, in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateExpiry {
    pub certificate: i64,
    pub ca: i64,
}

/// The end of one certificate's validity, in Unix seconds.
fn not_after(path: &Path, certificate: &CertificateDer<'_>) -> Result<i64, TlsConfigError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).map_err(|error| {
        TlsConfigError::UnreadableCertificate {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }
    })?;
    Ok(parsed.validity().not_after.timestamp())
}

/// Reads every certificate in a PEM file, refusing a file that holds none.
pub(crate) fn load_certificates(
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let read_error = |source| TlsConfigError::ReadPem {
        path: path.to_path_buf(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certificates.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// Builds a root store from every certificate in a PEM file.
pub(crate) fn load_root_store(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|source| TlsConfigError::InvalidCaCertificate {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(roots)
}
