//! The certificate authority writes the files and certificates it promises.

use std::net::IpAddr;

use polis_security::{CaError, CertificateAuthority, Identity, TlsFiles};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

fn read_certificate(files: &TlsFiles) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(&files.certificate_path).expect("read the certificate")
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> X509Certificate<'a> {
    x509_parser::parse_x509_certificate(der).expect("parse").1
}

#[test]
fn init_writes_the_ca_with_a_private_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");

    assert!(dir.path().join("ca.pem").is_file());
    assert_eq!(ca.certificate_path(), dir.path().join("ca.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let certificate = parse(ca.certificate_der());
    assert!(certificate.is_ca());
    let lifetime = certificate.validity().not_after.timestamp()
        - certificate.validity().not_before.timestamp();
    assert!(lifetime > 9 * 365 * 24 * 3600, "ten years: {lifetime}");
    assert_eq!(
        Identity::from_certificate(ca.certificate_der().clone())
            .expect("subject")
            .subject(),
        "CN=Polis Test CA,O=Polis"
    );
}

#[test]
fn init_refuses_to_overwrite_an_existing_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    CertificateAuthority::init(dir.path(), "first").expect("init");
    let error = CertificateAuthority::init(dir.path(), "second").expect_err("refused");
    assert!(matches!(error, CaError::AlreadyExists(_)), "{error}");
}

#[test]
fn a_loaded_ca_issues_certificates_that_chain_to_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let loaded = CertificateAuthority::load(dir.path()).expect("load");
    assert_eq!(loaded.certificate_der(), original.certificate_der());

    let files = loaded.issue_client("bob").expect("issue");
    let der = read_certificate(&files);
    let certificate = parse(&der);
    let ca = parse(original.certificate_der());
    certificate
        .verify_signature(Some(ca.public_key()))
        .expect("signed by the original CA key");
    assert_eq!(certificate.issuer(), ca.subject());
}

#[test]
fn node_certificate_names_its_hosts_and_local_addresses_for_both_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let files = ca
        .issue_node(
            "n1",
            &["n1.polis.internal".to_string(), "10.0.0.7".to_string()],
        )
        .expect("issue");

    assert_eq!(files, TlsFiles::for_node(dir.path(), "n1"));
    assert!(dir.path().join("node-n1.pem").is_file());
    assert!(dir.path().join("node-n1-key.pem").is_file());
    let der = read_certificate(&files);
    let certificate = parse(&der);
    let names = &certificate
        .subject_alternative_name()
        .expect("valid extension")
        .expect("has SANs")
        .value
        .general_names;
    let dns: Vec<String> = names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            _ => None,
        })
        .collect();
    let ips: Vec<IpAddr> = names
        .iter()
        .filter_map(|name| match name {
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(&bytes[..]).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(&bytes[..]).ok().map(IpAddr::from),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(
        dns.iter().any(|name| name == "n1.polis.internal"),
        "{dns:?}"
    );
    assert!(dns.iter().any(|name| name == "localhost"), "{dns:?}");
    assert!(ips.contains(&"10.0.0.7".parse().expect("ip")), "{ips:?}");
    assert!(ips.contains(&"127.0.0.1".parse().expect("ip")), "{ips:?}");

    let usage = certificate
        .extended_key_usage()
        .expect("valid extension")
        .expect("has EKU")
        .value;
    assert!(usage.server_auth && usage.client_auth);
    assert!(!certificate.is_ca());
    let lifetime = certificate.validity().not_after.timestamp()
        - certificate.validity().not_before.timestamp();
    assert!(
        (365 * 24 * 3600..=366 * 24 * 3600).contains(&lifetime),
        "{lifetime}"
    );
}

#[test]
fn client_certificate_has_the_polis_subject_and_client_auth_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let files = ca.issue_client("alice").expect("issue");

    assert_eq!(files.certificate_path, dir.path().join("client-alice.pem"));
    assert_eq!(files.key_path, dir.path().join("client-alice-key.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key_path)
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let der = read_certificate(&files);
    let certificate = parse(&der);
    let usage = certificate
        .extended_key_usage()
        .expect("valid extension")
        .expect("has EKU")
        .value;
    assert!(usage.client_auth && !usage.server_auth);
    let identity = Identity::from_certificate(der).expect("identity");
    assert_eq!(identity.subject(), "CN=alice,O=Polis");
}

#[test]
fn names_that_are_unsafe_for_files_or_subjects_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    for name in ["", "../escape", "a,b", "with space", &"x".repeat(65)] {
        assert!(
            matches!(ca.issue_client(name), Err(CaError::InvalidName(_))),
            "{name:?}"
        );
        assert!(
            matches!(ca.issue_node(name, &[]), Err(CaError::InvalidName(_))),
            "{name:?}"
        );
    }
    assert!(matches!(
        ca.issue_node("n1", &["not a host".to_string()]),
        Err(CaError::InvalidHost { .. })
    ));
}
