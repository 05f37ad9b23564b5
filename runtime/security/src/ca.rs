//! The private certificate authority that issues node and client certificates.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::time::ASN1Time;

use crate::tls_files::{CA_CERTIFICATE_FILE, CA_KEY_FILE, TlsFiles};

/// The organisation (`O`) in every subject this authority writes.
pub const ORGANIZATION: &str = "Polis";

/// The organisational unit (`OU`) in node subjects, which keeps a node's identity distinct from a
/// client's of the same name.
pub const NODE_ORGANIZATIONAL_UNIT: &str = "node";

/// How long the CA certificate is valid: ten years.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// How long a node or client certificate is valid: one year.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How far back a certificate's validity starts, so that a peer whose clock runs slightly behind
/// the issuer's still accepts a certificate issued a moment ago.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(60 * 60);

/// The longest certificate name, the X.520 upper bound for a common name.
pub const MAX_NAME_LENGTH: usize = 64;

/// Why the certificate authority could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A node or client name is not 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid name {0:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    InvalidName(String),
    /// The CA common name is empty, too long or holds control characters.
    #[error("invalid CA common name {0:?}: expected 1 to 64 printable characters")]
    InvalidCommonName(String),
    /// A host is neither an IP address nor a usable DNS name.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: String },
    /// `init` found an existing CA, which it refuses to overwrite because that would orphan every
    /// certificate the existing CA issued.
    #[error("a certificate authority already exists at {0}")]
    AlreadyExists(PathBuf),
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The CA certificate file could not be decoded.
    #[error("cannot read the CA certificate {path}")]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The system clock is outside the range a certificate can express.
    #[error("the system clock cannot be expressed in a certificate")]
    Clock,
    /// Key generation, parsing or signing failed.
    #[error("certificate generation failed")]
    Certificate(#[from] rcgen::Error),
}

/// A certificate authority whose certificate and key live as `ca.pem` and `ca-key.pem` in a
/// directory, and which writes the certificates it issues into that same directory.
pub struct CertificateAuthority {
    dir: PathBuf,
    certificate_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    // The signing key is left out so that it never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new CA with subject `CN=<common_name>, O=Polis` in `dir` (created if missing),
    /// writing `ca.pem` and `ca-key.pem` (mode 0600).
    ///
    /// Refuses to replace an existing CA in `dir`.
    pub fn init(dir: &Path, common_name: &str) -> Result<CertificateAuthority, CaError> {
        if common_name.is_empty()
            || common_name.chars().count() > MAX_NAME_LENGTH
            || common_name.chars().any(char::is_control)
        {
            return Err(CaError::InvalidCommonName(common_name.to_string()));
        }
        fs::create_dir_all(dir).map_err(|source| CaError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let certificate_path = dir.join(CA_CERTIFICATE_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        for path in [&certificate_path, &key_path] {
            if path.exists() {
                return Err(CaError::AlreadyExists(path.clone()));
            }
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&[
            (DnType::OrganizationName, ORGANIZATION),
            (DnType::CommonName, common_name),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, CA_VALIDITY)?;
        let key = KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;

        // The key is written first and exclusively: if a concurrent init raced us, one of the two
        // fails here instead of both writing mismatched halves.
        write_new_file(&key_path, key.serialize_pem().as_bytes(), PRIVATE_MODE)?;
        write_new_file(&certificate_path, certificate.pem().as_bytes(), PUBLIC_MODE)?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            certificate_der: certificate.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads the CA from `ca.pem` and `ca-key.pem` in `dir`.
    pub fn load(dir: &Path) -> Result<CertificateAuthority, CaError> {
        let certificate_path = dir.join(CA_CERTIFICATE_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let certificate_der =
            CertificateDer::from_pem_file(&certificate_path).map_err(|source| {
                CaError::ReadCertificate {
                    path: certificate_path.clone(),
                    source,
                }
            })?;
        let key_pem = fs::read_to_string(&key_path).map_err(|source| CaError::Io {
            path: key_path.clone(),
            source,
        })?;
        let key = KeyPair::from_pem(&key_pem)?;
        let issuer = Issuer::from_ca_cert_der(&certificate_der, key)?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            certificate_der,
            issuer,
        })
    }

    /// The directory holding the CA and the certificates it issued.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the CA certificate, the trust anchor to hand to every party.
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join(CA_CERTIFICATE_FILE)
    }

    /// The CA certificate in DER form.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate_der
    }

    /// Issues a node certificate with subject `CN=<name>, OU=node, O=Polis`, valid for both server
    /// and client authentication since nodes also dial each other, with a subject alternative
    /// name for each host (IP addresses as IP SANs, everything else as DNS names) plus
    /// `localhost`, `127.0.0.1` and `::1` for local development.
    ///
    /// Writes (replacing any earlier issue) `node-<name>.pem` and `node-<name>-key.pem` and
    /// returns their paths together with the CA's.
    pub fn issue_node(&self, name: &str, hosts: &[String]) -> Result<TlsFiles, CaError> {
        check_name(name)?;
        let mut params = leaf_params(&[
            (DnType::OrganizationName, ORGANIZATION),
            (DnType::OrganizationalUnitName, NODE_ORGANIZATIONAL_UNIT),
            (DnType::CommonName, name),
        ])?;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.subject_alt_names = subject_alt_names(hosts)?;
        let files = TlsFiles::for_node(&self.dir, name);
        self.sign_and_write(&params, &files)?;
        Ok(files)
    }

    /// Issues a client certificate with subject `CN=<name>, O=Polis`, valid for client
    /// authentication only, so that a client certificate cannot impersonate a server.
    ///
    /// Writes (replacing any earlier issue) `client-<name>.pem` and `client-<name>-key.pem` and
    /// returns their paths together with the CA's.
    pub fn issue_client(&self, name: &str) -> Result<TlsFiles, CaError> {
        check_name(name)?;
        let mut params = leaf_params(&[
            (DnType::OrganizationName, ORGANIZATION),
            (DnType::CommonName, name),
        ])?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let files = TlsFiles::for_client(&self.dir, name);
        self.sign_and_write(&params, &files)?;
        Ok(files)
    }

    /// Generates a key, signs a certificate for it and writes both.
    ///
    /// The key is written before the certificate; each file is replaced atomically, so a reader
    /// sees either the old or the new version of a file, never a torn one.
    fn sign_and_write(&self, params: &CertificateParams, files: &TlsFiles) -> Result<(), CaError> {
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        replace_file(
            &files.key_path,
            key.serialize_pem().as_bytes(),
            PRIVATE_MODE,
        )?;
        replace_file(
            &files.certificate_path,
            certificate.pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        Ok(())
    }
}

/// File mode for private keys: readable and writable by the owner only.
const PRIVATE_MODE: u32 = 0o600;

/// File mode for certificates, which are public.
const PUBLIC_MODE: u32 = 0o644;

/// Refuses names that are not 1 to 64 characters of `A-Z a-z 0-9 . _ -`, which keeps them safe in
/// file names and free of characters that would need escaping in a subject.
fn check_name(name: &str) -> Result<(), CaError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LENGTH || !name.chars().all(allowed) {
        return Err(CaError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// A subject whose attributes appear in the certificate in the given order, most significant
/// first, so that the RFC 4514 string (which reverses that order) starts with the common name.
fn subject(attributes: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in attributes {
        name.push(kind.clone(), *value);
    }
    name
}

/// The parameters that node and client certificates share.
fn leaf_params(attributes: &[(DnType, &str)]) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(attributes);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALIDITY)?;
    Ok(params)
}

/// Makes a certificate valid from a little before now for `validity`.
fn set_validity(params: &mut CertificateParams, validity: Duration) -> Result<(), CaError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CaError::Clock)?;
    let not_before = now.saturating_sub(CLOCK_SKEW_ALLOWANCE);
    let not_after = now.checked_add(validity).ok_or(CaError::Clock)?;
    params.not_before = unix_time(not_before)?.to_datetime();
    params.not_after = unix_time(not_after)?.to_datetime();
    Ok(())
}

/// A certificate time for a duration since the Unix epoch.
fn unix_time(since_epoch: Duration) -> Result<ASN1Time, CaError> {
    let seconds = i64::try_from(since_epoch.as_secs()).map_err(|_| CaError::Clock)?;
    ASN1Time::from_timestamp(seconds).map_err(|_| CaError::Clock)
}

/// The subject alternative names for `hosts` plus the local development names, without
/// duplicates.
fn subject_alt_names(hosts: &[String]) -> Result<Vec<SanType>, CaError> {
    let mut names = Vec::new();
    let local = [
        SanType::DnsName(ia5_dns_name("localhost")?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    let given = hosts
        .iter()
        .map(|host| match host.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(ia5_dns_name(host)?)),
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    for name in given.into_iter().chain(local) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// A DNS name checked for the shape that TLS name matching can use.
fn ia5_dns_name(host: &str) -> Result<rcgen::string::Ia5String, CaError> {
    let invalid = |reason: &str| CaError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    if rustls::pki_types::DnsName::try_from(host).is_err() {
        return Err(invalid("not an IP address or a valid DNS name"));
    }
    rcgen::string::Ia5String::try_from(host).map_err(|error| invalid(&error.to_string()))
}

/// Writes a file that must not exist yet.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let io_error = |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = open_options(mode)
        .create_new(true)
        .open(path)
        .map_err(io_error)?;
    file.write_all(contents).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Replaces a file atomically by writing a sibling temporary file and renaming it over the target.
///
/// The temporary file is created fresh with `mode`, so a private key is never readable by others,
/// not even for a moment, whatever mode an older file had.
fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(CaError::Io {
                path: temporary,
                source,
            });
        }
    }
    write_new_file(&temporary, contents, mode)?;
    fs::rename(&temporary, path).map_err(|source| CaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn open_options(mode: u32) -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    options
}

#[cfg(not(unix))]
fn open_options(_mode: u32) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_allowed_alphabet_or_length_are_refused() {
        for name in ["", "a b", "a/b", "../x", "é", &"a".repeat(65)] {
            assert!(check_name(name).is_err(), "{name:?} should be refused");
        }
        for name in ["a", "node-1", "alice.smith_2", &"a".repeat(64)] {
            assert!(check_name(name).is_ok(), "{name:?} should be accepted");
        }
    }

    #[test]
    fn subject_alt_names_always_include_local_names_once() {
        let names =
            subject_alt_names(&["10.0.0.1".into(), "localhost".into(), "db.example".into()])
                .expect("valid hosts");
        assert_eq!(names.len(), 5);
        assert!(names.contains(&SanType::IpAddress("10.0.0.1".parse().expect("ip"))));
        assert!(names.contains(&SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))));
    }

    /// Issue 13: the peer port admits node certificates only. A certificate of the cluster's CA
    /// whose common name carries `,OU=node` (an external CA may allow any name) renders with an
    /// escaped comma, and must not pass for a node, as it did when the rendered subject was split
    /// on commas.
    #[test]
    fn only_a_real_organizational_unit_makes_a_node_certificate() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let authority = CertificateAuthority::init(dir.path(), "test CA").expect("a CA");
        let node_files = authority
            .issue_node("n1", &["127.0.0.1".to_string()])
            .expect("a node certificate");
        let forged_files = TlsFiles::for_client(dir.path(), "forged");
        let params = leaf_params(&[
            (DnType::OrganizationName, ORGANIZATION),
            (DnType::CommonName, "x,OU=node"),
        ])
        .expect("parameters");
        authority
            .sign_and_write(&params, &forged_files)
            .expect("signed by the cluster's CA");
        let identity_of = |files: &TlsFiles| {
            let chain = files.load_certificate_chain().expect("the certificate");
            crate::Identity::from_certificate(chain[0].clone()).expect("an identity")
        };
        let node = identity_of(&node_files);
        assert!(node.is_node(), "{}", node.subject());
        let forged = identity_of(&forged_files);
        assert!(
            forged
                .subject()
                .split(',')
                .any(|part| part.trim() == "OU=node"),
            "splitting the rendered subject finds a fake unit: {}",
            forged.subject()
        );
        assert!(!forged.is_node(), "{}", forged.subject());
    }

    /// A peer that dials a node checks that the node's certificate names the host it dialled;
    /// the node that is dialled checks the same of the caller's certificate against the
    /// caller's address in the membership (issue 13: a node certificate is tied to its member).
    #[test]
    fn an_identity_names_exactly_the_hosts_of_its_certificate() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let authority = CertificateAuthority::init(dir.path(), "test CA").expect("a CA");
        let files = authority
            .issue_node("n1", &["10.0.0.1".to_string(), "Node1.City".to_string()])
            .expect("a node certificate");
        let chain = files.load_certificate_chain().expect("the certificate");
        let identity = crate::Identity::from_certificate(chain[0].clone()).expect("an identity");
        for named in [
            "10.0.0.1",
            "node1.city",
            "NODE1.CITY",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(identity.names_host(named), "{named}");
        }
        for other in ["10.0.0.2", "node2.city", "city", "", "[::2]"] {
            assert!(!identity.names_host(other), "{other}");
        }
    }

    #[test]
    fn hosts_that_are_not_dns_names_are_refused() {
        assert!(subject_alt_names(&["bad host".into()]).is_err());
        assert!(subject_alt_names(&["".into()]).is_err());
    }
}
