//! Sessions of a single node: many at once, connection migration, durability across restarts.

use std::net::SocketAddr;

use polis_proto::wire::{self, CreateMode, response::Result as Reply};
use polis_tests::node::TestNode;
use polis_tests::raw::{RawSession, op};

fn connect_request() -> wire::Connect {
    RawSession::new_session(30_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sessions_on_one_node() {
    const SESSIONS: usize = 1_000;
    // Every client here shares 127.0.0.1, which the per-address bound counts as one host.
    let node = TestNode::start_with(|config| config.connections_per_address_max = SESSIONS).await;
    // Handshakes at once are bounded, as a gateway's connection pool would bound them: a
    // thousand simultaneous TLS handshakes on one UDP socket only measure the socket buffer.
    const HANDSHAKES_AT_ONCE: usize = 32;
    let files = node.client_files("crowd");
    let endpoints: Vec<quinn::Endpoint> = (0..8)
        .map(|_| polis_tests::raw::client_endpoint(&files))
        .collect();
    let address = node.address();
    let handshakes = std::sync::Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_AT_ONCE));
    let mut tasks = Vec::with_capacity(SESSIONS);
    for index in 0..SESSIONS {
        let endpoint = endpoints[index % endpoints.len()].clone();
        let handshakes = handshakes.clone();
        tasks.push(tokio::spawn(async move {
            let permit = handshakes.acquire_owned().await.expect("semaphore");
            let mut session = RawSession::connect_with(endpoint, address, connect_request())
                .await
                .expect("connect");
            drop(permit);
            let path = format!("/member-{index:04}");
            let (created, _) = session
                .call(op::create(&path, b"", CreateMode::Ephemeral))
                .await
                .expect("create");
            assert_eq!(created.error_code, 0, "{}", created.error_message);
            session
        }));
    }
    let mut sessions = Vec::with_capacity(SESSIONS);
    for task in tasks {
        sessions.push(task.await.expect("session task"));
    }
    assert_eq!(node.server.sessions(), SESSIONS);
    assert_eq!(node.server.active_connections(), SESSIONS as u64);
    // All sessions are live at once: each one reads and pings concurrently.
    let mut checks = Vec::with_capacity(SESSIONS);
    for (index, mut session) in sessions.into_iter().enumerate() {
        checks.push(tokio::spawn(async move {
            let (read, _) = session
                .call(op::get_data(&format!("/member-{index:04}"), false))
                .await
                .expect("read");
            assert_eq!(read.error_code, 0);
            session
        }));
    }
    let mut sessions = Vec::with_capacity(SESSIONS);
    for check in checks {
        sessions.push(check.await.expect("check task"));
    }
    let (children, _) = sessions[0]
        .call(wire::request::Op::CountDescendants(
            wire::CountDescendants {
                path: "/".to_string(),
            },
        ))
        .await
        .unwrap();
    let Some(Reply::CountDescendants(count)) = children.result else {
        panic!("{children:?}");
    };
    // Every session's ephemeral plus /polis.
    assert_eq!(count.count, SESSIONS as i64 + 1);
    node.shutdown().await;
}

#[tokio::test]
async fn session_survives_the_client_changing_its_address() {
    let node = TestNode::start().await;
    let files = node.client_files("roamer");
    let mut session = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    session
        .call(op::create("/roamer", b"here", CreateMode::Ephemeral))
        .await
        .unwrap();
    let before = session.endpoint.local_addr().unwrap();
    // The client moves to a new UDP socket (a new port: a NAT rebinding or a network change).
    let socket = std::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    session.endpoint.rebind(socket).unwrap();
    let after = session.endpoint.local_addr().unwrap();
    assert_ne!(before.port(), after.port());
    // The same connection and session carry on: no reconnect, no new handshake.
    let (read, _) = session.call(op::get_data("/roamer", false)).await.unwrap();
    assert_eq!(read.error_code, 0);
    let (written, _) = session
        .call(op::set_data("/roamer", b"moved"))
        .await
        .unwrap();
    assert_eq!(written.error_code, 0);
    assert_eq!(session.connection.remote_address(), node.address());
    assert_eq!(node.server.sessions(), 1);
    node.shutdown().await;
}

#[tokio::test]
async fn acknowledged_writes_and_sessions_survive_a_restart() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let mut session = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    for index in 0..20 {
        let (created, _) = session
            .call(op::create(
                &format!("/durable-{index}"),
                b"v",
                CreateMode::Persistent,
            ))
            .await
            .unwrap();
        assert_eq!(created.error_code, 0);
    }
    session
        .call(op::create("/lease", b"", CreateMode::Ephemeral))
        .await
        .unwrap();
    let (session_id, password) = (session.session_id(), session.connected.password.clone());
    let node = node.restart().await;
    // The session was restored with a fresh timeout and can be resumed with its ephemeral.
    let resume = wire::Connect {
        session_id,
        password,
        ..connect_request()
    };
    let mut back = RawSession::connect(node.address(), &files, resume)
        .await
        .unwrap();
    assert_eq!(
        back.connected.error_code, 0,
        "{}",
        back.connected.error_message
    );
    for index in 0..20 {
        let (read, _) = back
            .call(op::get_data(&format!("/durable-{index}"), false))
            .await
            .unwrap();
        assert_eq!(
            read.error_code, 0,
            "/durable-{index} is there after the restart"
        );
    }
    let (lease, _) = back.call(op::exists("/lease", false)).await.unwrap();
    assert!(matches!(
        lease.result,
        Some(Reply::Exists(wire::ExistsResult { stat: Some(_) }))
    ));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_frees_its_client_port_at_once() {
    // Connections still in their handshake when the server stops, and clients that never
    // acknowledge the close, must not keep the port bound (quinn would hold it for the idle
    // timeout): a restarted node binds the same port.
    let node = TestNode::start().await;
    let address = node.address();
    let files = node.client_files("late");
    let endpoint = polis_tests::raw::client_endpoint(&files);
    let _established = RawSession::connect_with(endpoint.clone(), address, connect_request())
        .await
        .expect("connect");
    let racing: Vec<_> = (0..32)
        .map(|_| {
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let _ = RawSession::connect_with(endpoint, address, connect_request()).await;
            })
        })
        .collect();
    node.shutdown().await;
    let rebound = std::net::UdpSocket::bind(address);
    assert!(
        rebound.is_ok(),
        "the client port {address} is free when shutdown returns: {rebound:?}"
    );
    for task in racing {
        task.abort();
    }
}

/// One host may hold at most `connections_per_address_max` connections, so that it cannot take
/// every connection a node allows; a place is given back when a connection ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_connections() {
    let node = TestNode::start_with(|config| config.connections_per_address_max = 2).await;
    let files = node.client_files("greedy");
    let first = RawSession::connect(node.address(), &files, connect_request())
        .await
        .expect("first");
    let _second = RawSession::connect(node.address(), &files, connect_request())
        .await
        .expect("second");
    assert!(
        RawSession::connect(node.address(), &files, connect_request())
            .await
            .is_err(),
        "a third connection from the same address is refused"
    );
    drop(first);
    assert!(
        polis_tests::wait_until(std::time::Duration::from_secs(10), || {
            node.server.active_connections() < 2
        })
        .await,
        "the first connection ends"
    );
    RawSession::connect(node.address(), &files, connect_request())
        .await
        .expect("a place was given back");
    node.shutdown().await;
}

/// Sessions outlive their connections (up to their timeout), so a certificate holder that
/// connects and drops over and over would leave a session behind each time until the cluster's
/// `sessions_max` shut everyone out. One certificate may hold at most
/// `sessions_per_identity_max` live sessions through a node: further ones are refused with
/// Throttled, other certificates are unaffected, and a closed session gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_certificate_holds_at_most_its_share_of_sessions() {
    let node = TestNode::start_with(|config| config.sessions_per_identity_max = 2).await;
    let greedy = node.client_files("greedy");
    let first = RawSession::connect(node.address(), &greedy, connect_request())
        .await
        .expect("first");
    let (first_id, first_password) = (first.session_id(), first.connected.password.clone());
    drop(first);
    drop(
        RawSession::connect(node.address(), &greedy, connect_request())
            .await
            .expect("second"),
    );
    let refused = RawSession::connect(node.address(), &greedy, connect_request())
        .await
        .expect("the server answers");
    assert_eq!(
        refused.connected.error_code,
        polis_tree::ErrorCode::Throttled.as_i32(),
        "{}",
        refused.connected.error_message
    );
    assert!(
        refused.connected.error_message.contains("CN=greedy"),
        "{}",
        refused.connected.error_message
    );
    // Another certificate from the same host opens its own.
    let modest = node.client_files("modest");
    let other = RawSession::connect(node.address(), &modest, connect_request())
        .await
        .expect("another identity");
    assert_eq!(other.connected.error_code, 0);
    // Resuming one of its own sessions opens nothing new; closing it frees a place.
    let resume = wire::Connect {
        session_id: first_id,
        password: first_password,
        ..connect_request()
    };
    let mut resumed = RawSession::connect(node.address(), &greedy, resume)
        .await
        .expect("resume");
    assert_eq!(resumed.connected.error_code, 0);
    resumed
        .call(wire::request::Op::Close(wire::Close {}))
        .await
        .expect("close");
    let again = RawSession::connect(node.address(), &greedy, connect_request())
        .await
        .expect("again");
    assert_eq!(
        again.connected.error_code, 0,
        "{}",
        again.connected.error_message
    );
    node.shutdown().await;
}
