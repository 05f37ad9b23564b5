//! The client against a scripted stand-in server (see `common`): real QUIC, real mutual TLS, the
//! real wire protocol, and a minimal tree.

mod common;

use common::{DEADLINE, FakeServer, Pki, client_config};
use futures::{FutureExt, StreamExt};
use polis_client::recipes::Lock;
use polis_client::{
    Client, ClientState, CreateMode, Error, ErrorCode, EventKind, SessionEvent, WatchMode,
};
use tokio::time::timeout;

async fn connect(server: &FakeServer, pki: &Pki, name: &str) -> Client {
    timeout(
        DEADLINE,
        Client::connect(client_config(server, pki.client_files(name))),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

async fn next_session_event(
    events: &mut tokio::sync::broadcast::Receiver<SessionEvent>,
) -> SessionEvent {
    timeout(DEADLINE, events.recv())
        .await
        .expect("a session event in time")
        .expect("a session event")
}

#[tokio::test]
async fn operations_round_trip_and_an_event_precedes_the_answer_it_explains() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let client = connect(&server, &pki, "alice").await;
    assert!(client.session_id() > 0);
    assert_eq!(client.state(), ClientState::Connected);

    let (path, stat) = client
        .create("/a", b"one", &[], CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(path, "/a");
    assert_eq!(client.last_zxid_seen(), stat.czxid);
    let ((data, _), watch) = client.get_data_watch("/a").await.unwrap();
    assert_eq!(data, b"one");

    let stat = client.set_data("/a", b"two", 0).await.unwrap();
    // The event was dispatched before the answer to set_data completed.
    let event = watch
        .now_or_never()
        .expect("the event is already there")
        .unwrap();
    assert_eq!(event.kind, EventKind::NodeDataChanged);
    assert_eq!(event.zxid, stat.mzxid);

    assert!(
        client
            .set_data("/a", b"three", 0)
            .await
            .unwrap_err()
            .is_bad_version()
    );
    assert!(client.get_data("/missing").await.unwrap_err().is_no_node());
    assert_eq!(client.exists("/missing").await.unwrap(), None);
    client.check("/a", 1).await.unwrap();
    let error = client.check("/a", 7).await.unwrap_err();
    assert!(error.is_bad_version(), "{error:?}");

    // Many tasks pipeline on one client.
    let writers: Vec<_> = (0..20)
        .map(|index| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .create(&format!("/n{index}"), b"", &[], CreateMode::Persistent)
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let (children, _) = client.get_children("/").await.unwrap();
    assert_eq!(children.len(), 21);

    let ids = client.add_auth_digest("bob", "secret").await.unwrap();
    assert_eq!(ids[0].scheme, "digest");
    client.close().await.unwrap();
    assert_eq!(client.state(), ClientState::Closed);
    assert_eq!(client.exists("/a").await, Err(Error::Closed));
}

#[tokio::test]
async fn a_persistent_stream_survives_a_reconnect_without_losing_events() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let client = connect(&server, &pki, "alice").await;
    let mut session_events = client.session_events();
    client
        .create("/w", b"", &[], CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = client
        .watch("/w", WatchMode::Persistent, None)
        .await
        .unwrap();
    client.set_data("/w", b"1", -1).await.unwrap();
    let first = timeout(DEADLINE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, EventKind::NodeDataChanged);

    // The network fails, and the node changes while the client is away.
    server.drop_connections();
    server.set_data("/w", b"2");
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Reconnected {
            session_id: client.session_id()
        }
    );
    // SetWatches with the last zxid seen made the server replay the missed change.
    let missed = timeout(DEADLINE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(missed.kind, EventKind::NodeDataChanged);
    assert!(missed.zxid > first.zxid);
    // And the stream goes on live.
    client.set_data("/w", b"3", -1).await.unwrap();
    let live = timeout(DEADLINE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(live.zxid > missed.zxid);
    assert!(server.connections_accepted() >= 2);
}

#[tokio::test]
async fn a_one_shot_watch_fires_for_a_change_missed_while_disconnected() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let client = connect(&server, &pki, "alice").await;
    client
        .create("/o", b"", &[], CreateMode::Persistent)
        .await
        .unwrap();
    let (_, watch) = client.exists_watch("/o").await.unwrap();
    server.drop_connections();
    server.set_data("/o", b"changed");
    let event = timeout(DEADLINE, watch).await.unwrap().unwrap();
    assert_eq!(event.kind, EventKind::NodeDataChanged);
}

#[tokio::test]
async fn an_expired_session_ends_streams_and_calls() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let client = connect(&server, &pki, "alice").await;
    let mut session_events = client.session_events();
    client
        .create("/e", b"", &[], CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = client
        .watch("/e", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    let (_, one_shot) = client.get_data_watch("/e").await.unwrap();
    server.expire(client.session_id());
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    assert!(matches!(
        next_session_event(&mut session_events).await,
        SessionEvent::Expired { .. }
    ));
    assert_eq!(
        timeout(DEADLINE, stream.next()).await.unwrap(),
        Some(Err(Error::SessionExpired))
    );
    assert_eq!(timeout(DEADLINE, stream.next()).await.unwrap(), None);
    assert_eq!(
        timeout(DEADLINE, one_shot).await.unwrap(),
        Err(Error::SessionExpired)
    );
    assert_eq!(client.state(), ClientState::Expired);
    assert_eq!(client.get_data("/e").await, Err(Error::SessionExpired));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_an_auth_error() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let stranger = Pki::new();
    let mut config = client_config(&server, stranger.client_files("mallory"));
    // Trust the right CA, present a certificate the server does not.
    config.tls.ca_path = pki.ca.certificate_path();
    let outcome = timeout(DEADLINE, Client::connect(config)).await.unwrap();
    assert!(matches!(outcome, Err(Error::Auth(_))), "{outcome:?}");
}

#[tokio::test]
async fn no_reachable_server_is_a_connect_error() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let mut config = client_config(&server, pki.client_files("alice"));
    // A port nobody listens on.
    config.servers = vec!["127.0.0.1:9".parse().unwrap()];
    config.connect_timeout_ms = 300;
    let outcome = timeout(DEADLINE, Client::connect(config)).await.unwrap();
    assert!(matches!(outcome, Err(Error::Connect(_))), "{outcome:?}");
}

#[tokio::test]
async fn the_lock_is_exclusive_and_its_fencing_tokens_grow() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let first_client = connect(&server, &pki, "first").await;
    let second_client = connect(&server, &pki, "second").await;

    let first = Lock::acquire(&first_client, "/locks/pump").await.unwrap();
    let waiting = tokio::spawn({
        let client = second_client.clone();
        async move { Lock::acquire(&client, "/locks/pump").await }
    });
    // Wait (on a watch, not a clock) until the second contender has queued its node.
    loop {
        let ((children, _), watch) = first_client
            .get_children_watch("/locks/pump")
            .await
            .unwrap();
        if children.len() == 2 {
            break;
        }
        timeout(DEADLINE, watch).await.unwrap().unwrap();
    }
    assert!(!waiting.is_finished(), "the second contender waits");
    assert!(
        Lock::try_acquire(&second_client, "/locks/pump")
            .await
            .unwrap()
            .is_none()
    );
    let first_token = first.fencing_token();
    first.release().await.unwrap();
    let second = timeout(DEADLINE, waiting).await.unwrap().unwrap().unwrap();
    assert!(second.fencing_token() > first_token);
    second.release().await.unwrap();
    let (children, _) = first_client.get_children("/locks/pump").await.unwrap();
    assert!(children.is_empty(), "{children:?}");
}

#[tokio::test]
async fn a_failed_multi_reports_the_operation() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let client = connect(&server, &pki, "alice").await;
    client
        .create("/m", b"", &[], CreateMode::Persistent)
        .await
        .unwrap();
    let error = client
        .multi(vec![
            polis_client::Op::check("/m", 0),
            polis_client::Op::check("/m", 3),
        ])
        .await
        .unwrap_err();
    match error {
        Error::Multi {
            failed_index,
            code,
            results,
        } => {
            assert_eq!(failed_index, 1);
            assert_eq!(code, ErrorCode::BadVersion);
            assert_eq!(results.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_in_flight_bound_pauses_the_writer_without_stalling_it() {
    let pki = Pki::new();
    let server = FakeServer::start(&pki);
    let mut config = client_config(&server, pki.client_files("alice"));
    config.requests_in_flight_max = 1;
    // Pings every 10 s: a writer that only woke up on the ping timer would miss the deadline.
    config.session_timeout_ms = 30_000;
    let client = timeout(DEADLINE, Client::connect(config))
        .await
        .unwrap()
        .unwrap();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.exists("/").await })
        })
        .collect();
    timeout(DEADLINE, async {
        for reader in readers {
            assert!(reader.await.unwrap().unwrap().is_some());
        }
    })
    .await
    .expect("all answered well before the ping timer");
}
