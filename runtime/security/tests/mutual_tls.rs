//! Mutual TLS over real QUIC sockets on 127.0.0.1 with certificates from a fresh CA.

mod common;

use common::{ClientFailure, TestServer, alpn, client_endpoint, connect, round_trip};
use polis_security::{
    CertificateAuthority, Identity, TransportTimeouts, client_crypto_without_certificate,
    is_certificate_rejection, quinn_client_config, quinn_client_config_from_crypto,
    quinn_server_config,
};
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    ca: CertificateAuthority,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::init(dir.path(), "Polis Test CA").expect("init the CA");
    Fixture { _dir: dir, ca }
}

fn node_server(ca: &CertificateAuthority, name: &str) -> TestServer {
    let files = ca.issue_node(name, &[]).expect("issue a node certificate");
    let config =
        quinn_server_config(&files, &alpn(), &TransportTimeouts::default()).expect("server config");
    TestServer::start(config)
}

#[tokio::test]
async fn mutual_tls_succeeds_and_the_server_sees_the_client_subject() {
    let fixture = fixture();
    let mut server = node_server(&fixture.ca, "n1");
    let files = fixture.ca.issue_client("alice").expect("issue a client");
    let config =
        quinn_client_config(&files, &alpn(), &TransportTimeouts::default()).expect("client config");

    let (connection, subject_seen_by_server) =
        round_trip(&client_endpoint(), config, server.address)
            .await
            .expect("mutual TLS round trip");

    assert_eq!(subject_seen_by_server, "CN=alice,O=Polis");
    let identity = server.next_outcome().await.expect("the server accepted");
    assert_eq!(identity.subject(), "CN=alice,O=Polis");
    assert_eq!(identity.common_name(), Some("alice"));
    assert_eq!(identity.acl_id(), ("x509", "CN=alice,O=Polis"));
    let server_identity = Identity::from_connection(&connection).expect("server identity");
    assert_eq!(server_identity.subject(), "CN=n1,OU=node,O=Polis");
    assert_eq!(
        connection
            .handshake_data()
            .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|data| data.protocol),
        Some(common::ALPN.to_vec())
    );
}

#[tokio::test]
async fn client_without_certificate_is_refused_at_its_first_stream_read() {
    let fixture = fixture();
    let mut server = node_server(&fixture.ca, "n1");
    let crypto = client_crypto_without_certificate(&fixture.ca.certificate_path(), &alpn())
        .expect("client crypto");
    let config = quinn_client_config_from_crypto(crypto, &TransportTimeouts::default())
        .expect("client config");

    // In TLS 1.3 the client's handshake completes before the server has judged its certificate,
    // so the connect itself succeeds and the refusal arrives on the first stream operation.
    let connection = connect(&client_endpoint(), config, server.address)
        .await
        .expect("the client-side handshake completes");
    let failure = common::ask_subject(&connection)
        .await
        .expect_err("the server refuses a client without a certificate");
    assert!(
        matches!(failure, ClientFailure::Read(_)),
        "refusal surfaced at the read: {failure:?}"
    );
    assert!(failure.is_certificate_rejection(), "{failure:?}");

    let server_error = server
        .next_outcome()
        .await
        .expect_err("the server refused the handshake");
    assert!(is_certificate_rejection(&server_error), "{server_error:?}");
}

#[tokio::test]
async fn client_with_certificate_from_another_ca_is_refused() {
    let fixture = fixture();
    let mut server = node_server(&fixture.ca, "n1");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_ca = CertificateAuthority::init(other_dir.path(), "Other CA").expect("other CA");
    let mut files = other_ca.issue_client("mallory").expect("issue a client");
    // Mallory trusts the real CA so that her side of the handshake succeeds; only her
    // certificate is foreign.
    files.ca_path = fixture.ca.certificate_path();
    let config =
        quinn_client_config(&files, &alpn(), &TransportTimeouts::default()).expect("client config");

    let connection = connect(&client_endpoint(), config, server.address)
        .await
        .expect("the client-side handshake completes");
    let failure = common::ask_subject(&connection)
        .await
        .expect_err("the server refuses a certificate from another CA");
    assert!(
        matches!(failure, ClientFailure::Read(_)),
        "refusal surfaced at the read: {failure:?}"
    );
    assert!(failure.is_certificate_rejection(), "{failure:?}");
    let server_error = server.next_outcome().await.expect_err("refused");
    assert!(is_certificate_rejection(&server_error), "{server_error:?}");
}

#[tokio::test]
async fn node_certificate_works_as_server_and_as_client() {
    let fixture = fixture();
    let mut server = node_server(&fixture.ca, "n1");
    let dialing_node = fixture
        .ca
        .issue_node(
            "n2",
            &["n2.polis.internal".to_string(), "10.1.2.3".to_string()],
        )
        .expect("issue a second node");
    let config = quinn_client_config(&dialing_node, &alpn(), &TransportTimeouts::default())
        .expect("client config");

    let (connection, subject_seen_by_server) =
        round_trip(&client_endpoint(), config, server.address)
            .await
            .expect("node to node round trip");

    assert_eq!(subject_seen_by_server, "CN=n2,OU=node,O=Polis");
    let identity = server.next_outcome().await.expect("accepted");
    assert_eq!(identity.subject(), "CN=n2,OU=node,O=Polis");
    let server_identity = Identity::from_connection(&connection).expect("server identity");
    assert_eq!(server_identity.subject(), "CN=n1,OU=node,O=Polis");
}

#[tokio::test]
async fn client_refuses_a_server_presenting_a_client_certificate() {
    let fixture = fixture();
    // A client certificate lacks serverAuth and any host name, so it cannot serve.
    let impostor = fixture.ca.issue_client("impostor").expect("issue a client");
    let server_config = quinn_server_config(&impostor, &alpn(), &TransportTimeouts::default())
        .expect("server config");
    let mut server = TestServer::start(server_config);
    let files = fixture.ca.issue_client("alice").expect("issue a client");
    let config =
        quinn_client_config(&files, &alpn(), &TransportTimeouts::default()).expect("client config");

    let error = connect(&client_endpoint(), config, server.address)
        .await
        .expect_err("the client refuses the server certificate");

    assert!(
        matches!(error, quinn::ConnectionError::TransportError(_)),
        "{error:?}"
    );
    assert!(is_certificate_rejection(&error), "{error:?}");
    let server_error = server.next_outcome().await.expect_err("handshake failed");
    assert!(is_certificate_rejection(&server_error), "{server_error:?}");
}
