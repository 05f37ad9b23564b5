//! Certificate reloading: re-issued files reach new connections while the server keeps running.

mod common;

use std::time::Duration;

use common::{DEADLINE, TestServer, alpn, ask_subject, client_endpoint, connect};
use polis_security::{
    CertificateAuthority, CertificateReloader, Identity, TlsFiles, TransportTimeouts,
    quinn_client_config, quinn_server_config, spawn_reloader,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::time::timeout;

fn certificate_on_disk(files: &TlsFiles) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(&files.certificate_path).expect("read the certificate")
}

/// The certificate the server presents to a new connection.
async fn presented_certificate(
    endpoint: &quinn::Endpoint,
    client: &TlsFiles,
    server: &TestServer,
) -> CertificateDer<'static> {
    let config =
        quinn_client_config(client, &alpn(), &TransportTimeouts::default()).expect("client config");
    let connection = connect(endpoint, config, server.address)
        .await
        .expect("connect");
    let certificate = Identity::from_connection(&connection)
        .expect("server identity")
        .certificate_der()
        .clone();
    connection.close(0u32.into(), b"done");
    certificate
}

#[test]
fn check_reports_nothing_until_a_file_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let files = ca.issue_node("n1", &[]).expect("issue");
    let mut reloader =
        CertificateReloader::new(files.clone(), alpn(), TransportTimeouts::default());

    assert!(reloader.check().expect("check").is_none());
    ca.issue_node("n1", &[]).expect("re-issue");
    assert!(reloader.check().expect("check").is_some());
    assert!(reloader.check().expect("check").is_none());
}

#[test]
fn check_refuses_a_broken_certificate_once_and_recovers_on_the_next_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let files = ca.issue_node("n1", &[]).expect("issue");
    let mut reloader =
        CertificateReloader::new(files.clone(), alpn(), TransportTimeouts::default());

    std::fs::write(&files.certificate_path, "not a certificate").expect("break the file");
    assert!(reloader.check().is_err(), "a broken file is refused");
    assert!(
        reloader.check().expect("check").is_none(),
        "the same broken version is not retried"
    );
    ca.issue_node("n1", &[]).expect("re-issue");
    assert!(reloader.check().expect("check").is_some());
}

#[tokio::test]
async fn reloader_swaps_in_a_reissued_node_certificate_for_new_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init");
    let node = ca.issue_node("n1", &[]).expect("issue");
    let client = ca.issue_client("alice").expect("issue a client");
    let server_config =
        quinn_server_config(&node, &alpn(), &TransportTimeouts::default()).expect("config");
    let server = TestServer::start(server_config);
    let reloader = spawn_reloader(
        server.endpoint.clone(),
        node.clone(),
        alpn(),
        TransportTimeouts::default(),
        Duration::from_millis(10),
    );
    let endpoint = client_endpoint();
    let old_certificate = certificate_on_disk(&node);
    assert_eq!(
        presented_certificate(&endpoint, &client, &server).await,
        old_certificate
    );
    let client_config =
        quinn_client_config(&client, &alpn(), &TransportTimeouts::default()).expect("config");
    let long_lived = connect(&endpoint, client_config, server.address)
        .await
        .expect("connect");

    ca.issue_node("n1", &[])
        .expect("re-issue into the same files");
    let new_certificate = certificate_on_disk(&node);
    assert_ne!(new_certificate, old_certificate);

    // The reloader polls, so new connections are made until one sees the new certificate.
    timeout(DEADLINE, async {
        while presented_certificate(&endpoint, &client, &server).await != new_certificate {}
    })
    .await
    .expect("the server presented the new certificate in time");

    // The connection made before the swap carries on under the old certificate.
    assert_eq!(
        ask_subject(&long_lived)
            .await
            .expect("old connection works"),
        "CN=alice,O=Polis"
    );
    assert!(!reloader.is_finished(), "the reloader keeps running");
    reloader.abort();
}
