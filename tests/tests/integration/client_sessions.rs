//! Sessions through the Rust client against a real node: a session comes back after its server
//! restarts within the timeout, expires when its client goes silent or stays away too long, and a
//! client whose certificate is refused on reconnect stops for good.

use polis_client::{
    Acl, Client, ClientState, CreateMode, Error, EventKind, Id, Perms, SessionEvent, SessionId,
    WatchMode,
};
use polis_tests::client::{
    DEADLINE, client_config, connect, connect_with, next_event, next_item, next_session_event,
};
use polis_tests::node::TestNode;
use polis_tests::wait_until;
use tokio::time::timeout;

/// The shortest session timeout the test nodes grant, so that expiry tests are quick.
const SHORT_SESSION_MS: i32 = 500;

/// Waits, on an exists watch rather than a clock, until `path` is gone.
async fn deleted(client: &Client, path: &str) {
    loop {
        let (stat, watch) = client.exists_watch(path).await.unwrap();
        if stat.is_none() {
            return;
        }
        let event = timeout(DEADLINE, watch)
            .await
            .unwrap_or_else(|_| panic!("{path} is removed in time"))
            .unwrap();
        if event.kind == EventKind::NodeDeleted {
            return;
        }
    }
}

/// Skips `Disconnected` events and returns the next other one.
async fn next_change_beyond_disconnected(
    events: &mut tokio::sync::broadcast::Receiver<SessionEvent>,
) -> SessionEvent {
    loop {
        match next_session_event(events).await {
            SessionEvent::Disconnected => {}
            other => return other,
        }
    }
}

#[tokio::test]
async fn a_session_and_its_ephemerals_come_back_after_a_server_restart_within_the_timeout() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let mut session_events = client.session_events();
    let session_id = client.session_id();
    let (_, lease) = client
        .create("/lease", b"mine", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    // A node only a digest user may read: the credentials must be presented again after the
    // reconnect, since the server attaches them to the connection.
    let digest = polis_security::digest_id("dispatch", "s3cret");
    client
        .create(
            "/dispatch",
            b"orders",
            &[Acl::new(Perms::ALL, Id::new("digest", digest))],
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    client.add_auth_digest("dispatch", "s3cret").await.unwrap();
    client.get_data("/dispatch").await.unwrap();

    // The server restarts on the same port; it persisted the session and gives it a fresh
    // timeout, and the client comes back to it well within that.
    let node = node.restart_on_same_port().await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Reconnected { session_id }
    );
    assert_eq!(client.state(), ClientState::Connected);
    assert_eq!(client.session_id(), session_id);
    assert_eq!(client.ephemerals("/").await.unwrap(), vec!["/lease"]);
    let (data, _) = client.get_data("/dispatch").await.unwrap();
    assert_eq!(data, b"orders");
    let observer = connect(&node, "observer").await;
    let (data, stat) = observer.get_data("/lease").await.unwrap();
    assert_eq!(data, b"mine");
    assert_eq!(stat, lease);
    assert_eq!(stat.ephemeral_owner, session_id);
    // The session is the client's again, for writes too.
    client
        .create("/after", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    client.close().await.unwrap();
    deleted(&observer, "/lease").await;
    assert_eq!(observer.exists("/after").await.unwrap(), None);
    node.shutdown().await;
}

/// What the paused client saw after it woke up.
#[derive(Debug)]
struct AfterThePause {
    session_id: SessionId,
    last_event: SessionEvent,
    stream: Vec<Option<Result<polis_client::WatchEvent, Error>>>,
    one_shot: Result<polis_client::WatchEvent, Error>,
    state: ClientState,
    read: Result<(Vec<u8>, polis_client::Stat), Error>,
    write: Result<(String, polis_client::Stat), Error>,
    wait_connected: Result<(), Error>,
}

#[tokio::test]
async fn a_client_paused_past_its_session_timeout_finds_its_session_expired() {
    let node = TestNode::start_with(|config| config.limits.session_timeout_min_ms = 200).await;
    let observer = connect(&node, "observer").await;
    observer
        .create("/e", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut config = client_config(&node, "sleeper");
    config.session_timeout_ms = SHORT_SESSION_MS;

    // The client runs on a runtime of its own thread, which the test then stops dead, as a long
    // garbage-collection pause or a SIGSTOP would: no ping leaves, no frame is read. The server
    // is left to find the session silent.
    let (paused, is_paused) = tokio::sync::oneshot::channel();
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    let sleeper = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = connect_with(config).await;
            assert_eq!(client.session_timeout_ms(), SHORT_SESSION_MS);
            let mut session_events = client.session_events();
            client
                .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
                .await
                .unwrap();
            let mut stream = client
                .watch("/e", WatchMode::PersistentRecursive, None)
                .await
                .unwrap();
            let (_, one_shot) = client.get_data_watch("/e").await.unwrap();
            paused.send(client.session_id()).unwrap();
            // Blocking the runtime's only thread on purpose: this is the pause.
            woken.recv().unwrap();
            let last_event = next_change_beyond_disconnected(&mut session_events).await;
            let stream = vec![next_item(&mut stream).await, next_item(&mut stream).await];
            let one_shot = timeout(DEADLINE, one_shot).await.unwrap();
            AfterThePause {
                session_id: client.session_id(),
                last_event,
                stream,
                one_shot,
                state: client.state(),
                read: client.get_data("/e").await,
                write: client
                    .create("/again", b"", &Acl::open(), CreateMode::Persistent)
                    .await,
                wait_connected: client.wait_connected().await,
            }
        })
    });
    let session_id = timeout(DEADLINE, is_paused).await.unwrap().unwrap();

    // While the client sleeps, the server expires its session and deletes its ephemeral.
    deleted(&observer, "/lease").await;
    assert!(
        wait_until(DEADLINE, || node.server.sessions() == 1).await,
        "only the observer's session is left"
    );
    observer.set_data("/e", b"missed", -1).await.unwrap();

    wake.send(()).unwrap();
    let after = tokio::task::spawn_blocking(move || sleeper.join())
        .await
        .unwrap()
        .expect("the paused client's thread");
    assert_eq!(after.session_id, session_id);
    assert_eq!(after.last_event, SessionEvent::Expired { session_id });
    // Streams and watches end with the expiry, and the change made after it is not delivered.
    assert_eq!(after.stream, vec![Some(Err(Error::SessionExpired)), None]);
    assert_eq!(after.one_shot, Err(Error::SessionExpired));
    assert_eq!(after.state, ClientState::Expired);
    assert_eq!(after.read, Err(Error::SessionExpired));
    assert_eq!(after.write, Err(Error::SessionExpired));
    assert_eq!(after.wait_connected, Err(Error::SessionExpired));
    assert_eq!(observer.exists("/again").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn a_client_that_returns_after_its_session_expired_is_told_so() {
    let node = TestNode::start_with(|config| config.limits.session_timeout_min_ms = 200).await;
    let mut config = client_config(&node, "traveller");
    config.session_timeout_ms = SHORT_SESSION_MS;
    let client = connect_with(config).await;
    let session_id = client.session_id();
    let mut session_events = client.session_events();
    client
        .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let mut stream = client
        .watch("/lease", WatchMode::Persistent, None)
        .await
        .unwrap();

    // The node moves where the client cannot reach it, for longer than the session timeout: the
    // restarted node gives the session a fresh timeout, which then runs out.
    let home = node.address();
    let node = node.restart_on(([127, 0, 0, 1], 0).into()).await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    let observer = connect(&node, "observer").await;
    deleted(&observer, "/lease").await;
    observer.close().await.unwrap();

    // Back where the client looks for it: the client reconnects and is told the session expired.
    let node = node.restart_on(home).await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Expired { session_id }
    );
    assert_eq!(client.state(), ClientState::Expired);
    assert_eq!(
        next_item(&mut stream).await,
        Some(Err(Error::SessionExpired))
    );
    assert_eq!(next_item(&mut stream).await, None);
    assert_eq!(client.exists("/").await, Err(Error::SessionExpired));
    // A new client is a new session; the old ephemeral stays gone.
    let fresh = connect(&node, "traveller").await;
    assert_ne!(fresh.session_id(), session_id);
    assert_eq!(fresh.exists("/lease").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn a_certificate_refused_on_reconnect_stops_the_client_for_good() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let mut session_events = client.session_events();
    client
        .create("/w", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = client
        .watch("/w", WatchMode::Persistent, None)
        .await
        .unwrap();
    client.set_data("/w", b"1", -1).await.unwrap();
    next_event(&mut stream).await;

    // The node restarts trusting another CA only, so alice's certificate no longer passes.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign =
        polis_security::CertificateAuthority::init(foreign_dir.path(), "Foreign CA").unwrap();
    let mut node = node;
    node.config.tls.ca = foreign.certificate_path();
    let node = node.restart_on_same_port().await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    let SessionEvent::AuthFailed { reason } = next_session_event(&mut session_events).await else {
        panic!("the client reports the refusal");
    };
    assert!(!reason.is_empty());
    // Terminal: the client stopped trying, and says why to every caller.
    assert_eq!(client.state(), ClientState::AuthFailed);
    assert!(matches!(client.exists("/w").await, Err(Error::Auth(_))));
    assert!(matches!(client.wait_connected().await, Err(Error::Auth(_))));
    assert!(matches!(
        next_item(&mut stream).await,
        Some(Err(Error::Auth(_)))
    ));
    assert_eq!(next_item(&mut stream).await, None);
    assert!(wait_until(DEADLINE, || node.server.active_connections() == 0).await);
    node.shutdown().await;
}
