//! The wire protocol of a single node, frame by frame, over real QUIC and mutual TLS.

use polis_proto::wire::{self, CreateMode, request::Op, server_message::Body};
use polis_tests::node::TestNode;
use polis_tests::raw::{RawSession, op};
use polis_tree::ErrorCode;

fn connect_request() -> wire::Connect {
    RawSession::new_session(10_000)
}

#[tokio::test]
async fn watch_event_arrives_before_the_response_that_reflects_the_change() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let mut watcher = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let mut writer = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    writer
        .call(op::create("/x", b"0", CreateMode::Persistent))
        .await
        .unwrap();
    let (response, _) = watcher.call(op::get_data("/x", true)).await.unwrap();
    assert_eq!(response.error_code, 0);
    for round in 1..=20u32 {
        let data = round.to_string();
        let (set, _) = writer
            .call(op::set_data("/x", data.as_bytes()))
            .await
            .unwrap();
        assert_eq!(set.error_code, 0);
        // The watcher reads /x again: the event for the change must come first, on the same
        // stream, before the response carrying the new data.
        let (read, events) = watcher.call(op::get_data("/x", true)).await.unwrap();
        let Some(wire::response::Result::GetData(result)) = read.result else {
            panic!("expected data, got {read:?}");
        };
        assert_eq!(result.data, data.as_bytes());
        assert_eq!(
            events.len(),
            1,
            "round {round}: one event before the response"
        );
        assert_eq!(events[0].r#type, wire::EventType::NodeDataChanged as i32);
        assert_eq!(events[0].path, "/x");
        assert!(events[0].zxid <= read.zxid);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn garbage_frame_closes_only_that_connection() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let mut healthy = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let mut hostile = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    // A valid length prefix followed by bytes that are not a protobuf message.
    hostile
        .send_raw(&[5, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let closed = hostile.next().await;
    assert!(closed.is_err(), "the server closes the hostile connection");
    let reason = hostile.connection.closed().await;
    assert!(reason.to_string().contains("malformed"), "{reason}");
    let (response, _) = healthy
        .call(op::create("/still", b"ok", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(response.error_code, 0, "another session keeps working");
    node.shutdown().await;
}

#[tokio::test]
async fn oversize_frame_closes_only_that_connection() {
    let node = TestNode::start_with(|config| {
        config.limits.data_len_max = 1024;
        config.frame_len_max = 4096;
    })
    .await;
    let files = node.client_files("alice");
    let mut healthy = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let mut hostile = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    // A length prefix of 1 GiB: refused from the prefix alone, before any allocation.
    hostile
        .send_raw(&[0x80, 0x80, 0x80, 0x80, 0x04])
        .await
        .unwrap();
    assert!(hostile.next().await.is_err());
    let reason = hostile.connection.closed().await;
    assert!(reason.to_string().contains("frame too large"), "{reason}");
    let (response, _) = healthy.call(op::ping()).await.unwrap();
    assert_eq!(response.error_code, 0);
    node.shutdown().await;
}

#[tokio::test]
async fn data_over_the_limit_is_refused_with_bad_arguments() {
    let node = TestNode::start_with(|config| config.limits.data_len_max = 1024).await;
    let files = node.client_files("alice");
    let mut session = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let (response, _) = session
        .call(op::create("/big", &[7u8; 1025], CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(response.error_code, ErrorCode::BadArguments.as_i32());
    assert!(
        response.error_message.contains("data_len_max"),
        "{}",
        response.error_message
    );
    let (response, _) = session
        .call(op::create("/fits", &[7u8; 1024], CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(response.error_code, 0);
    node.shutdown().await;
}

#[tokio::test]
async fn ephemeral_node_is_removed_when_session_expires_and_watchers_are_told() {
    let node = TestNode::start_with(|config| {
        config.limits.session_timeout_min_ms = 200;
    })
    .await;
    let files = node.client_files("alice");
    let mut owner = RawSession::connect(node.address(), &files, RawSession::new_session(200))
        .await
        .unwrap();
    assert_eq!(owner.connected.session_timeout_ms, 200);
    let (created, _) = owner
        .call(op::create("/lease", b"", CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(created.error_code, 0);
    let mut watcher = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let (exists, _) = watcher.call(op::exists("/lease", true)).await.unwrap();
    assert_eq!(exists.error_code, 0);
    // The owner goes silent: no pings. The server expires the session after ~200 ms.
    let message = watcher.next().await.unwrap();
    let Some(Body::Event(event)) = message.body else {
        panic!("expected the deletion event, got {message:?}");
    };
    assert_eq!(event.r#type, wire::EventType::NodeDeleted as i32);
    assert_eq!(event.path, "/lease");
    let ended = owner.next().await.unwrap();
    let Some(Body::SessionEnded(ended)) = ended.body else {
        panic!("expected SessionEnded, got {ended:?}");
    };
    assert_eq!(ended.error_code, ErrorCode::SessionExpired.as_i32());
    node.shutdown().await;
}

#[tokio::test]
async fn resumed_session_keeps_its_ephemerals_and_replays_missed_events() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let mut first = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    first
        .call(op::create("/lease", b"", CreateMode::Ephemeral))
        .await
        .unwrap();
    let (watched, _) = first
        .call(Op::AddWatch(wire::AddWatch {
            path: "/city".to_string(),
            mode: wire::WatchMode::PersistentRecursive as i32,
            resume_after_zxid: None,
        }))
        .await
        .unwrap();
    assert_eq!(watched.error_code, 0);
    let last_seen = watched.zxid;
    let (session_id, password) = (first.session_id(), first.connected.password.clone());
    first.connection.close(0u32.into(), b"network cut");
    // While the client is away, others change what it watches.
    let mut other = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    other
        .call(op::create("/city", b"", CreateMode::Persistent))
        .await
        .unwrap();
    other
        .call(op::create("/city/district-1", b"a", CreateMode::Persistent))
        .await
        .unwrap();
    other
        .call(op::set_data("/city/district-1", b"b"))
        .await
        .unwrap();
    // It comes back within the timeout with its id, password and last zxid.
    let resume = wire::Connect {
        session_id,
        password,
        last_zxid_seen: last_seen,
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
    assert_eq!(back.session_id(), session_id);
    let (restored, events) = back
        .call(Op::SetWatches(wire::SetWatches {
            last_zxid_seen: last_seen,
            persistent_recursive_watches: vec!["/city".to_string()],
            ..wire::SetWatches::default()
        }))
        .await
        .unwrap();
    assert_eq!(restored.error_code, 0);
    let kinds: Vec<(i32, String)> = events
        .iter()
        .map(|event| (event.r#type, event.path.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (wire::EventType::NodeCreated as i32, "/city".to_string()),
            (
                wire::EventType::NodeCreated as i32,
                "/city/district-1".to_string()
            ),
            (
                wire::EventType::NodeDataChanged as i32,
                "/city/district-1".to_string()
            ),
        ]
    );
    let (ephemerals, _) = back
        .call(Op::GetEphemerals(wire::GetEphemerals {
            prefix: "/".to_string(),
        }))
        .await
        .unwrap();
    let Some(wire::response::Result::GetEphemerals(paths)) = ephemerals.result else {
        panic!("{ephemerals:?}");
    };
    assert_eq!(paths.paths, vec!["/lease".to_string()]);
    // The restored watch is live again.
    other.call(op::delete("/city/district-1")).await.unwrap();
    let live = back.next().await.unwrap();
    assert!(matches!(live.body, Some(Body::Event(ref event)) if event.path == "/city/district-1"));
    node.shutdown().await;
}

#[tokio::test]
async fn resume_with_a_wrong_password_is_refused() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let first = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let resume = wire::Connect {
        session_id: first.session_id(),
        password: vec![0u8; 16],
        ..connect_request()
    };
    let refused = RawSession::connect(node.address(), &files, resume)
        .await
        .unwrap();
    assert_eq!(refused.connected.error_code, ErrorCode::AuthFailed.as_i32());
    node.shutdown().await;
}

#[tokio::test]
async fn add_watch_resumes_from_a_zxid_and_reports_compaction() {
    let node = TestNode::start_with(|config| config.limits.history_events_max = 8).await;
    let files = node.client_files("alice");
    let mut session = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    let (created, _) = session
        .call(op::create("/feed", b"", CreateMode::Persistent))
        .await
        .unwrap();
    let after = created.zxid;
    session.call(op::set_data("/feed", b"1")).await.unwrap();
    session.call(op::set_data("/feed", b"2")).await.unwrap();
    let (added, events) = session
        .call(Op::AddWatch(wire::AddWatch {
            path: "/feed".to_string(),
            mode: wire::WatchMode::Persistent as i32,
            resume_after_zxid: Some(after),
        }))
        .await
        .unwrap();
    assert_eq!(added.error_code, 0);
    assert_eq!(events.len(), 2, "both changes after the zxid are replayed");
    // Push the history past its window, then ask to resume from the start.
    for round in 0..10 {
        session
            .call(op::set_data("/feed", round.to_string().as_bytes()))
            .await
            .unwrap();
    }
    let (compacted, _) = session
        .call(Op::AddWatch(wire::AddWatch {
            path: "/other".to_string(),
            mode: wire::WatchMode::Persistent as i32,
            resume_after_zxid: Some(after),
        }))
        .await
        .unwrap();
    assert_eq!(compacted.error_code, ErrorCode::DataInconsistency.as_i32());
    assert!(
        compacted.error_message.contains("compacted"),
        "{}",
        compacted.error_message
    );
    node.shutdown().await;
}

#[tokio::test]
async fn client_without_a_certificate_is_refused() {
    let node = TestNode::start().await;
    let crypto = polis_security::client_crypto_without_certificate(
        &node.admin_files().ca_path,
        &[polis_proto::ALPN_CLIENT.to_vec()],
    )
    .unwrap();
    let config =
        polis_security::quinn_client_config_from_crypto(crypto, &Default::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    let result = RawSession::connect_with(endpoint, node.address(), connect_request()).await;
    let error = result.expect_err("refused");
    assert!(
        is_certificate_rejection(&error),
        "an authentication failure, not a timeout: {error:#}"
    );
    assert_eq!(node.server.sessions(), 0);
    node.shutdown().await;
}

#[tokio::test]
async fn client_with_a_certificate_from_another_ca_is_refused() {
    let node = TestNode::start().await;
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign =
        polis_security::CertificateAuthority::init(foreign_dir.path(), "Foreign CA").unwrap();
    let mut files = foreign.issue_client("mallory").unwrap();
    // Trust the real server, but present a certificate the server's CA never signed.
    files.ca_path = node.admin_files().ca_path;
    let result = RawSession::connect(node.address(), &files, connect_request()).await;
    assert!(result.is_err(), "a foreign certificate is refused");
    node.shutdown().await;
}

#[tokio::test]
async fn metrics_health_and_readiness_are_served_over_http() {
    let node = TestNode::start().await;
    let files = node.client_files("alice");
    let mut session = RawSession::connect(node.address(), &files, connect_request())
        .await
        .unwrap();
    session
        .call(op::create("/m", b"", CreateMode::Persistent))
        .await
        .unwrap();
    let health = node.admin_get("/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    // The core publishes its figures after each batch; the create is in an earlier one.
    assert!(health.contains("\"sessions\":1"), "{health}");
    // The create committed, so this one-node cluster has its leader: it is ready for clients.
    let ready = node.admin_get("/ready").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains("\"leader\":"), "{ready}");
    let metrics = node.admin_get("/metrics").await;
    assert!(metrics.contains("polis_requests_total"), "{metrics}");
    assert!(metrics.contains("polis_znodes"), "{metrics}");
    let missing = node.admin_get("/nothing").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    node.shutdown().await;
}

/// True if the error, at any depth, is the server refusing our certificate (rustls reports it
/// at the client's first stream read, wrapped in the frame reader's I/O error).
fn is_certificate_rejection(error: &anyhow::Error) -> bool {
    use polis_security::CertificateRejection;
    error.chain().any(|cause| {
        if let Some(connection) = cause.downcast_ref::<quinn::ConnectionError>() {
            return connection.is_certificate_rejection();
        }
        if let Some(polis_proto::FrameError::Io(io)) =
            cause.downcast_ref::<polis_proto::FrameError>()
        {
            return io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<quinn::ReadError>())
                .is_some_and(CertificateRejection::is_certificate_rejection);
        }
        false
    })
}
