//! ACLs over the wire: the client certificate is the x509 identity, digest users add theirs,
//! administrators pass every check and alone may write under /polis.

use std::path::Path;

use polis_client::{Acl, Client, ClientConfig, Error};
use polis_proto::wire::{self, CreateMode, request::Op};
use polis_security::{CertificateAuthority, TlsFiles};
use polis_tests::client::DEADLINE;
use polis_tests::eventually;
use polis_tests::node::TestNode;
use polis_tests::raw::{RawSession, op};
use polis_tests::tls_probe::{peer_endpoint_admits, zookeeper_tls_admits};
use polis_tree::ErrorCode;

fn connect_request() -> wire::Connect {
    RawSession::new_session(10_000)
}

fn acl(perms: u32, scheme: &str, id: &str) -> wire::Acl {
    wire::Acl {
        perms,
        id: Some(wire::Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }),
    }
}

fn create_with_acl(path: &str, acl: Vec<wire::Acl>) -> Op {
    Op::Create(wire::Create {
        path: path.to_string(),
        data: b"secret".to_vec(),
        acl,
        mode: CreateMode::Persistent as i32,
        ttl_ms: 0,
        null_data: false,
    })
}

#[tokio::test]
async fn connected_reports_the_certificate_identity() {
    let node = TestNode::start().await;
    let alice = RawSession::connect(
        node.address(),
        &node.client_files("alice"),
        connect_request(),
    )
    .await
    .unwrap();
    let ids: Vec<(String, String)> = alice
        .connected
        .identities
        .iter()
        .map(|id| (id.scheme.clone(), id.id.clone()))
        .collect();
    assert_eq!(
        ids,
        vec![("x509".to_string(), "CN=alice,O=Polis".to_string())]
    );
    let admin = RawSession::connect(node.address(), &node.admin_files(), connect_request())
        .await
        .unwrap();
    assert!(
        admin
            .connected
            .identities
            .iter()
            .any(|id| id.scheme == "super")
    );
    node.shutdown().await;
}

#[tokio::test]
async fn x509_acl_lets_its_subject_in_and_keeps_others_out() {
    let node = TestNode::start().await;
    let mut alice = RawSession::connect(
        node.address(),
        &node.client_files("alice"),
        connect_request(),
    )
    .await
    .unwrap();
    let mut bob = RawSession::connect(node.address(), &node.client_files("bob"), connect_request())
        .await
        .unwrap();
    let (created, _) = alice
        .call(create_with_acl(
            "/traffic",
            vec![acl(31, "x509", "CN=alice,O=Polis")],
        ))
        .await
        .unwrap();
    assert_eq!(created.error_code, 0, "{}", created.error_message);
    let (read, _) = alice.call(op::get_data("/traffic", false)).await.unwrap();
    assert_eq!(read.error_code, 0);
    let (denied_read, _) = bob.call(op::get_data("/traffic", false)).await.unwrap();
    assert_eq!(denied_read.error_code, ErrorCode::NoAuth.as_i32());
    let (denied_write, _) = bob.call(op::set_data("/traffic", b"x")).await.unwrap();
    assert_eq!(denied_write.error_code, ErrorCode::NoAuth.as_i32());
    let (denied_child, _) = bob
        .call(op::create("/traffic/light", b"", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(denied_child.error_code, ErrorCode::NoAuth.as_i32());
    // exists checks no ACL, as in ZooKeeper.
    let (exists, _) = bob.call(op::exists("/traffic", false)).await.unwrap();
    assert_eq!(exists.error_code, 0);
    node.shutdown().await;
}

#[tokio::test]
async fn auth_scheme_means_the_callers_own_identities() {
    let node = TestNode::start().await;
    let mut alice = RawSession::connect(
        node.address(),
        &node.client_files("alice"),
        connect_request(),
    )
    .await
    .unwrap();
    alice
        .call(create_with_acl("/mine", vec![acl(31, "auth", "")]))
        .await
        .unwrap();
    let (read, _) = alice
        .call(Op::GetAcl(wire::GetAcl {
            path: "/mine".to_string(),
        }))
        .await
        .unwrap();
    let Some(wire::response::Result::GetAcl(result)) = read.result else {
        panic!("{read:?}");
    };
    assert_eq!(result.acl, vec![acl(31, "x509", "CN=alice,O=Polis")]);
    node.shutdown().await;
}

#[tokio::test]
async fn digest_user_added_with_add_auth_is_checked_like_zookeeper() {
    let node = TestNode::start().await;
    let files = node.client_files("clerk");
    let mut first = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let digest = polis_security::digest_id("dispatch", "s3cret");
    first
        .call(create_with_acl(
            "/dispatch",
            vec![acl(31, "digest", &digest)],
        ))
        .await
        .unwrap();
    let (denied, _) = first.call(op::get_data("/dispatch", false)).await.unwrap();
    assert_eq!(denied.error_code, ErrorCode::NoAuth.as_i32());
    let (added, _) = first
        .call(Op::AddAuth(wire::AddAuth {
            scheme: "digest".to_string(),
            auth: b"dispatch:s3cret".to_vec(),
        }))
        .await
        .unwrap();
    assert_eq!(added.error_code, 0);
    let (allowed, _) = first.call(op::get_data("/dispatch", false)).await.unwrap();
    assert_eq!(allowed.error_code, 0, "{}", allowed.error_message);
    let (wrong_scheme, _) = first
        .call(Op::AddAuth(wire::AddAuth {
            scheme: "ip".to_string(),
            auth: b"127.0.0.1".to_vec(),
        }))
        .await
        .unwrap();
    assert_ne!(wrong_scheme.error_code, 0);
    node.shutdown().await;
}

#[tokio::test]
async fn only_administrators_read_or_write_under_the_system_path() {
    let node = TestNode::start().await;
    let mut alice = RawSession::connect(
        node.address(),
        &node.client_files("alice"),
        connect_request(),
    )
    .await
    .unwrap();
    let (denied, _) = alice
        .call(op::create("/polis/plugins", b"", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(denied.error_code, ErrorCode::NoAuth.as_i32());
    let (denied_delete, _) = alice.call(op::delete("/polis")).await.unwrap();
    assert_eq!(denied_delete.error_code, ErrorCode::NoAuth.as_i32());
    let (unreadable, _) = alice.call(op::get_data("/polis", false)).await.unwrap();
    assert_eq!(unreadable.error_code, ErrorCode::NoAuth.as_i32());
    let mut admin = RawSession::connect(node.address(), &node.admin_files(), connect_request())
        .await
        .unwrap();
    let (allowed, _) = admin
        .call(op::create("/polis/plugins", b"", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(allowed.error_code, 0, "{}", allowed.error_message);
    node.shutdown().await;
}

#[tokio::test]
async fn server_picks_up_a_reissued_certificate_without_restarting() {
    let node = TestNode::start_with(|config| config.certificate_reload_interval_ms = 20).await;
    let files = node.client_files("alice");
    let mut before = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let old_certificate = peer_certificate(&before.connection);
    // The operator re-issues the node certificate into the same files.
    let reissued = node
        .authority
        .issue_node("node1", &["localhost".to_string()])
        .unwrap();
    let new_certificate = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_file(&reissued.certificate_path)
            .unwrap()
            .to_vec()
    };
    assert_ne!(old_certificate, new_certificate);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let probe = RawSession::connect(node.address(), &files, connect_request())
            .await
            .unwrap();
        if peer_certificate(&probe.connection) == new_certificate {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::task::yield_now().await;
    }
    // The connection made before the swap keeps working.
    let (pong, _) = before.call(op::ping()).await.unwrap();
    assert_eq!(pong.error_code, 0);
    node.shutdown().await;
}

#[tokio::test]
async fn server_trusts_a_rotated_ca_without_restarting() {
    let node = TestNode::start_with(|config| {
        config.certificate_reload_interval_ms = 20;
        config.zookeeper.enabled = true;
        config.zookeeper.tls = true;
        config.zookeeper.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.zookeeper.four_letter_words = vec!["ruok".into()];
    })
    .await;
    let peer_address = node.server.peer_address;
    let zookeeper_address = node.server.zookeeper_address.expect("the ZooKeeper face");
    let original_ca = std::fs::read_to_string(node.authority.certificate_path()).unwrap();
    let rotated_dir = tempfile::tempdir().unwrap();
    let rotated = CertificateAuthority::init(rotated_dir.path(), "Polis rotated CA").unwrap();
    let rotated_ca = std::fs::read_to_string(rotated.certificate_path()).unwrap();
    let both_cas = format!("{}\n{rotated_ca}", original_ca.trim_end());
    // The clients trust both CAs for the node's certificate, whichever one it presents, so every
    // refusal below is the node refusing the client's certificate, never the other way round.
    let clients_dir = tempfile::tempdir().unwrap();
    let clients_trust = clients_dir.path().join("trust.pem");
    std::fs::write(&clients_trust, &both_cas).unwrap();
    let alice = TlsFiles {
        ca_path: clients_trust.clone(),
        ..node.client_files("alice")
    };
    let dana = TlsFiles {
        ca_path: clients_trust.clone(),
        ..rotated.issue_client("dana").unwrap()
    };
    // Would-be peers from either CA, to probe the Raft peer endpoint, which reloads too.
    let hosts = ["localhost".to_string()];
    let original_peer = TlsFiles {
        ca_path: clients_trust.clone(),
        ..node.authority.issue_node("node8", &hosts).unwrap()
    };
    let rotated_peer = TlsFiles {
        ca_path: clients_trust.clone(),
        ..rotated.issue_node("node9", &hosts).unwrap()
    };

    // Before the rotation the node trusts the original CA only.
    let before = connect_as(&node, &alice).await.expect("alice connects");
    before
        .create(
            "/before",
            b"old",
            &Acl::open(),
            polis_client::CreateMode::Persistent,
        )
        .await
        .unwrap();
    let refused = connect_as(&node, &dana).await;
    assert!(matches!(refused, Err(Error::Auth(_))), "{refused:?}");
    let faces = (peer_address, zookeeper_address);
    let both = |admitted: bool| (Ok(admitted), Ok(admitted));
    assert_eq!(admitted(faces, &original_peer, &alice).await, both(true));
    assert_eq!(admitted(faces, &rotated_peer, &dana).await, both(false));

    // Step 1: the node's CA file becomes a bundle of both CAs; both sides get in.
    let node_ca = node.config.tls.ca.clone();
    replace_file(&node_ca, both_cas.as_bytes());
    eventually("the node accepts the rotated CA", DEADLINE, async || {
        connect_as(&node, &dana).await.ok().map(drop)
    })
    .await;
    let during = connect_as(&node, &dana).await.expect("dana connects");
    let (data, _) = during.get_data("/before").await.unwrap();
    assert_eq!(data, b"old");
    during
        .create(
            "/during",
            b"new",
            &Acl::open(),
            polis_client::CreateMode::Persistent,
        )
        .await
        .unwrap();
    let still = connect_as(&node, &alice)
        .await
        .expect("the bundle still trusts the original CA");
    still.sync("/").await.unwrap();
    eventually(
        "the peer and ZooKeeper faces accept the rotated CA",
        DEADLINE,
        async || (admitted(faces, &rotated_peer, &dana).await == both(true)).then_some(()),
    )
    .await;
    assert_eq!(admitted(faces, &original_peer, &alice).await, both(true));

    // Step 2: the node's certificate is reissued by the rotated CA (key first, as an operator
    // would; the node keeps its configuration while the pair does not match), and its CA file
    // then holds the rotated CA alone.
    let reissued = rotated
        .issue_node("node1", &["localhost".to_string()])
        .unwrap();
    replace_file(
        &node.config.tls.key,
        &std::fs::read(&reissued.key_path).unwrap(),
    );
    replace_file(
        &node.config.tls.certificate,
        &std::fs::read(&reissued.certificate_path).unwrap(),
    );
    replace_file(&node_ca, rotated_ca.as_bytes());
    // dana, trusting the rotated CA alone, can only verify the reissued node certificate.
    let dana_rotated_only = TlsFiles {
        ca_path: rotated.certificate_path(),
        ..dana.clone()
    };
    eventually(
        "the node serves its reissued certificate and refuses the original CA",
        DEADLINE,
        async || {
            (connect_as(&node, &dana_rotated_only).await.is_ok()
                && matches!(connect_as(&node, &alice).await, Err(Error::Auth(_))))
            .then_some(())
        },
    )
    .await;
    let refused = connect_as(&node, &alice).await;
    assert!(matches!(refused, Err(Error::Auth(_))), "{refused:?}");
    let rotated_peer_only = TlsFiles {
        ca_path: rotated.certificate_path(),
        ..rotated_peer.clone()
    };
    eventually(
        "the peer and ZooKeeper faces serve the reissued certificate and refuse the original CA",
        DEADLINE,
        async || {
            (admitted(faces, &rotated_peer_only, &dana_rotated_only).await == both(true)
                && admitted(faces, &original_peer, &alice).await == both(false))
            .then_some(())
        },
    )
    .await;
    let after = connect_as(&node, &dana_rotated_only)
        .await
        .expect("dana connects");
    let (data, _) = after.get_data("/during").await.unwrap();
    assert_eq!(data, b"new");
    after
        .create(
            "/after",
            b"",
            &Acl::open(),
            polis_client::CreateMode::Persistent,
        )
        .await
        .unwrap();
    node.shutdown().await;
}

/// A new session on `node` presenting `tls`, or why it was refused.
async fn connect_as(node: &TestNode, tls: &TlsFiles) -> Result<Client, Error> {
    let mut config = ClientConfig::new(vec![node.address()], "localhost", tls.clone());
    config.connect_timeout_ms = 2_000;
    tokio::time::timeout(DEADLINE, Client::connect(config))
        .await
        .expect("connected or refused in time")
}

/// Whether the node's peer endpoint lets in `peer` and its ZooKeeper TLS face lets in `client`
/// (`faces` holds their addresses, in that order).
async fn admitted(
    faces: (std::net::SocketAddr, std::net::SocketAddr),
    peer: &TlsFiles,
    client: &TlsFiles,
) -> (Result<bool, String>, Result<bool, String>) {
    (
        peer_endpoint_admits(faces.0, peer).await,
        zookeeper_tls_admits(faces.1, client).await,
    )
}

/// Replaces `path` by renaming a complete new file over it, as a deployment does, so that the
/// node never reads a half-written file.
fn replace_file(path: &Path, contents: &[u8]) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, contents).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

fn peer_certificate(connection: &quinn::Connection) -> Vec<u8> {
    let identity = connection.peer_identity().expect("peer identity");
    let chain = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .expect("certificate chain");
    chain[0].to_vec()
}
