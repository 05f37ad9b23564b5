//! Authentication and access control through the Rust client against a real node: refused
//! certificates, x509 and digest ACLs, administrators.

use polis_client::{Acl, Client, ClientState, CreateMode, Error, ErrorCode, Id, Op, Perms};
use polis_tests::client::{DEADLINE, client_config, connect};
use polis_tests::node::{ADMIN_NAME, TestNode};
use polis_tests::wait_until;
use tokio::time::timeout;

fn alice_only() -> Vec<Acl> {
    vec![Acl::new(Perms::ALL, Id::new("x509", "CN=alice,O=Polis"))]
}

/// The count of refused handshakes, from the node's Prometheus endpoint. The metrics are the
/// process's: other tests of the binary refuse certificates at the same time.
async fn handshake_failures(node: &TestNode) -> u64 {
    let metrics = node.admin_get("/metrics").await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("polis_handshake_failures_total "))
        .map_or(0, |value| value.trim().parse().expect("a counter"))
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_an_auth_error_that_is_not_retried() {
    let node = TestNode::start().await;
    let before = handshake_failures(&node).await;
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign =
        polis_security::CertificateAuthority::init(foreign_dir.path(), "Foreign CA").unwrap();
    let mut config = client_config(&node, "alice");
    config.tls = foreign.issue_client("mallory").unwrap();
    // Trust the right server, but present a certificate its CA never signed.
    config.tls.ca_path = node.admin_files().ca_path;
    // Three entries for the server: a client that retried would knock three times.
    config.servers = vec![node.address(); 3];
    let outcome = timeout(DEADLINE, Client::connect(config)).await.unwrap();
    assert!(matches!(outcome, Err(Error::Auth(_))), "{outcome:?}");
    assert!(outcome.unwrap_err().is_terminal());
    assert!(
        wait_until(DEADLINE, || node.server.active_connections() == 0).await,
        "the refused connection is gone"
    );
    // The server saw exactly one attempt. (A real client connecting and being served in the
    // meantime gives any stray retry the time to show up.)
    let alice = connect(&node, "alice").await;
    alice.sync("/").await.unwrap();
    // At least this refusal; other tests' refusals may be counted in the same process.
    assert!(handshake_failures(&node).await > before);
    assert_eq!(node.server.sessions(), 1, "only alice has a session");
    node.shutdown().await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_before_it_sends_anything() {
    let node = TestNode::start().await;
    // The client has only the CA: no certificate and key of its own. Mutual TLS is mandatory,
    // so the client refuses the configuration instead of knocking at the server.
    let mut config = client_config(&node, "nobody");
    let missing = node.dir.path().join("nobody");
    config.tls.certificate_path = missing.join("client.pem");
    config.tls.key_path = missing.join("client-key.pem");
    let outcome = Client::connect(config).await;
    let Err(Error::InvalidConfig(reason)) = outcome else {
        panic!("refused as a configuration error: {outcome:?}");
    };
    assert!(reason.contains("TLS"), "{reason}");
    assert_eq!(node.server.active_connections(), 0);
    node.shutdown().await;
}

#[tokio::test]
async fn an_acl_that_leaves_a_client_out_answers_no_auth_to_every_guarded_operation() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    alice
        .create("/traffic", b"secret", &alice_only(), CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .create("/traffic/light", b"", &alice_only(), CreateMode::Persistent)
        .await
        .unwrap();
    alice.get_data("/traffic").await.unwrap();

    let denied = [
        bob.get_data("/traffic").await.map(|_| ()),
        bob.get_data_watch("/traffic").await.map(|_| ()),
        bob.set_data("/traffic", b"x", -1).await.map(|_| ()),
        bob.get_children("/traffic").await.map(|_| ()),
        bob.create("/traffic/new", b"", &Acl::open(), CreateMode::Persistent)
            .await
            .map(|_| ()),
        bob.delete("/traffic/light", -1).await,
        bob.set_acl("/traffic", &Acl::open(), -1).await.map(|_| ()),
        bob.count_descendants("/traffic").await.map(|_| ()),
    ];
    for (index, outcome) in denied.into_iter().enumerate() {
        let error = outcome.expect_err("denied");
        assert!(error.is_no_auth(), "operation {index}: {error:?}");
    }
    // In a multi, the denied operation is named (a check needs READ, as in ZooKeeper).
    alice
        .create("/open", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let multi = bob
        .multi(vec![Op::check("/open", -1), Op::check("/traffic", -1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            multi,
            Error::Multi {
                failed_index: 1,
                code: ErrorCode::NoAuth,
                ..
            }
        ),
        "{multi:?}"
    );
    // exists checks no ACL, as in ZooKeeper; and bob's client is still connected and fine.
    assert!(bob.exists("/traffic").await.unwrap().is_some());
    assert_eq!(bob.state(), ClientState::Connected);
    let (data, _) = alice.get_data("/traffic").await.unwrap();
    assert_eq!(data, b"secret", "nothing bob tried took effect");
    node.shutdown().await;
}

#[tokio::test]
async fn the_auth_scheme_stands_for_the_callers_certificate() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    alice
        .create(
            "/mine",
            b"",
            &[Acl::new(Perms::ALL, Id::new("auth", ""))],
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    let (acl, _) = alice.get_acl("/mine").await.unwrap();
    assert_eq!(acl, alice_only());
    assert!(bob.get_data("/mine").await.unwrap_err().is_no_auth());
    node.shutdown().await;
}

#[tokio::test]
async fn add_auth_digest_lets_a_digest_user_through_its_acl() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let clerk = connect(&node, "clerk").await;
    let digest = polis_security::digest_id("dispatch", "s3cret");
    alice
        .create(
            "/dispatch",
            b"orders",
            &[Acl::new(Perms::READ, Id::new("digest", digest.clone()))],
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    assert!(clerk.get_data("/dispatch").await.unwrap_err().is_no_auth());
    // A wrong password is just another identity, as in ZooKeeper: accepted, and no use.
    clerk.add_auth_digest("dispatch", "guess").await.unwrap();
    assert!(clerk.get_data("/dispatch").await.unwrap_err().is_no_auth());
    let ids = clerk.add_auth_digest("dispatch", "s3cret").await.unwrap();
    assert!(
        ids.contains(&Id::new("x509", "CN=clerk,O=Polis")),
        "{ids:?}"
    );
    assert!(ids.contains(&Id::new("digest", digest)), "{ids:?}");
    let (data, _) = clerk.get_data("/dispatch").await.unwrap();
    assert_eq!(data, b"orders");
    // READ only: writing is still refused.
    assert!(
        clerk
            .set_data("/dispatch", b"x", -1)
            .await
            .unwrap_err()
            .is_no_auth()
    );
    node.shutdown().await;
}

#[tokio::test]
async fn only_administrators_read_or_write_under_the_system_path() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let denied = alice
        .create("/polis/plugins", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert!(denied.is_no_auth(), "{denied:?}");
    assert!(alice.delete("/polis", -1).await.unwrap_err().is_no_auth());
    assert!(alice.get_data("/polis").await.unwrap_err().is_no_auth());

    let admin = connect(&node, ADMIN_NAME).await;
    admin
        .create("/polis/plugins", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    admin.get_data("/polis").await.unwrap();
    // An administrator passes every ACL, even one naming somebody else.
    alice
        .create("/private", b"p", &alice_only(), CreateMode::Persistent)
        .await
        .unwrap();
    let (data, _) = admin.get_data("/private").await.unwrap();
    assert_eq!(data, b"p");
    node.shutdown().await;
}

/// An empty list in a `setACL` was read as "open", so a mistaken empty list threw a node, and
/// its ACL, open to the world. ZooKeeper refuses it with InvalidACL, and so does Polis now.
#[tokio::test]
async fn set_acl_with_an_empty_list_is_refused_and_changes_nothing() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    alice
        .create("/private", b"p", &alice_only(), CreateMode::Persistent)
        .await
        .unwrap();
    let refused = alice.set_acl("/private", &[], -1).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::InvalidAcl), "{refused:?}");
    let (acl, _) = alice.get_acl("/private").await.unwrap();
    assert_eq!(acl, alice_only());
    assert!(bob.get_data("/private").await.unwrap_err().is_no_auth());
    node.shutdown().await;
}

/// An empty list on a create was the native protocol's shorthand for an open node: a client that
/// forgot its ACL published its node to the world. It is refused with InvalidACL, as ZooKeeper
/// refuses it, and nothing is created; a client that means open says so.
#[tokio::test]
async fn create_with_an_empty_acl_is_refused_and_creates_nothing() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let refused = alice
        .create("/forgotten", b"secret", &[], CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::InvalidAcl), "{refused:?}");
    assert!(alice.exists("/forgotten").await.unwrap().is_none());
    let refused = alice
        .multi(vec![Op::create(
            "/forgotten",
            b"secret",
            &[],
            CreateMode::Persistent,
        )])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::InvalidAcl), "{refused:?}");
    assert!(alice.exists("/forgotten").await.unwrap().is_none());
    node.shutdown().await;
}
