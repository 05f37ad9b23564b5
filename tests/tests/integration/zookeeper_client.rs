//! ZooKeeper clients work against Polis unchanged: an independent ZooKeeper client from crates.io
//! (`zookeeper-client`, which knows nothing of Polis) drives a real node's ZooKeeper face through
//! every operation, every kind of watch, multi, ACLs, session expiry and a reconnect that
//! re-registers watches; raw frames check that bad bytes close only their own connection; and a
//! three-node cluster shows that writes through the face are replicated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polis_server::ServerConfig;
use polis_tests::cluster::TestCluster;
use polis_tests::node::TestNode;
use polis_tests::wait_until;
use polis_zookeeper::{ConnectRequest, JuteLimits, Request, RequestBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zookeeper_client as zk;

/// How long a test waits for something the server should do promptly.
const DEADLINE: Duration = Duration::from_secs(10);

fn enable_zookeeper(config: &mut ServerConfig) {
    config.zookeeper.enabled = true;
    config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.zookeeper.four_letter_words =
        vec!["ruok".into(), "srvr".into(), "mntr".into(), "wchs".into()];
    // Short sessions, so that expiry is quick to observe.
    config.limits.session_timeout_min_ms = 400;
}

async fn start_node() -> (TestNode, String) {
    let node = TestNode::start_with(enable_zookeeper).await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled");
    (node, address.to_string())
}

async fn connect(address: &str) -> zk::Client {
    zk::Client::connector()
        .session_timeout(Duration::from_secs(6))
        .connect(address)
        .await
        .expect("a ZooKeeper client connects")
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Waits for a watcher's event, for at most [`DEADLINE`].
async fn event<F: std::future::Future<Output = zk::WatchedEvent>>(changed: F) -> zk::WatchedEvent {
    tokio::time::timeout(DEADLINE, changed)
        .await
        .expect("the watch fires in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_zookeeper_does() {
    let (node, address) = start_node().await;
    let client = connect(&address).await;

    // create (create2 on the wire), with every mode.
    let (stat, _) = client.create("/city", b"hello", &open()).await.unwrap();
    assert_eq!(stat.version, 0);
    assert_eq!(stat.data_length, 5);
    assert_eq!(
        client.create("/city", b"again", &open()).await.unwrap_err(),
        zk::Error::NodeExists
    );
    let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, first) = client.create("/city/d-", b"", &sequential).await.unwrap();
    let (_, second) = client.create("/city/d-", b"", &sequential).await.unwrap();
    assert!(second.into_i64() > first.into_i64());
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let (stat, _) = client.create("/city/e", b"", &ephemeral).await.unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    client.create("/box", b"", &container).await.unwrap();
    let ttl = open().with_ttl(Duration::from_secs(3600));
    let (stat, _) = client.create("/ttl", b"", &ttl).await.unwrap();
    assert_eq!(
        stat.ephemeral_owner >> 56,
        -1,
        "a TTL node's owner is 0xFF.."
    );
    assert_eq!(
        client.create("/no/parent", b"", &open()).await.unwrap_err(),
        zk::Error::NoNode
    );

    // getData, setData with versions, exists.
    let (data, stat) = client.get_data("/city").await.unwrap();
    assert_eq!(data, b"hello");
    let stat = client
        .set_data("/city", b"bye", Some(stat.version))
        .await
        .unwrap();
    assert_eq!(stat.version, 1);
    assert_eq!(
        client.set_data("/city", b"x", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        client.check_stat("/city").await.unwrap().unwrap().version,
        1
    );
    assert_eq!(client.check_stat("/missing").await.unwrap(), None);
    assert_eq!(
        client.get_data("/missing").await.unwrap_err(),
        zk::Error::NoNode
    );

    // getChildren, getChildren2, getAllChildrenNumber, getEphemerals.
    let mut children = client.list_children("/city").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 3);
    assert_eq!(children[2], "e");
    let (children, stat) = client.get_children("/city").await.unwrap();
    assert_eq!(stat.num_children, 3);
    assert_eq!(children.len(), 3);
    assert_eq!(client.count_descendants_number("/city").await.unwrap(), 3);
    assert_eq!(
        client.list_ephemerals("/").await.unwrap(),
        vec!["/city/e".to_string()]
    );

    // getACL, setACL with the ACL version.
    let (acl, stat) = client.get_acl("/city").await.unwrap();
    assert_eq!(acl, zk::Acls::anyone_all().to_vec());
    let read_only = zk::Acls::anyone_read().to_vec();
    assert_eq!(
        client
            .set_acl("/city", &read_only, Some(5))
            .await
            .unwrap_err(),
        zk::Error::BadVersion
    );
    let stat = client
        .set_acl("/city", &read_only, Some(stat.aversion))
        .await
        .unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        client.set_data("/city", b"no", None).await.unwrap_err(),
        zk::Error::NoAuth
    );

    // sync, delete, NotEmpty.
    client.sync("/city").await.unwrap();
    assert_eq!(
        client.delete("/city", None).await.unwrap_err(),
        zk::Error::NotEmpty
    );
    client.delete("/ttl", Some(0)).await.unwrap();
    assert_eq!(
        client.delete("/ttl", None).await.unwrap_err(),
        zk::Error::NoNode
    );

    // multi: all or nothing, with ZooKeeper's per-operation results.
    let mut writer = client.new_multi_writer();
    writer.add_create("/m", b"1", &open()).unwrap();
    writer.add_set_data("/m", b"2", Some(0)).unwrap();
    writer.add_check_version("/m", 1).unwrap();
    let results = writer.commit().await.unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if path == "/m"));
    assert!(matches!(&results[1], zk::MultiWriteResult::SetData { stat } if stat.version == 1));
    let mut writer = client.new_multi_writer();
    writer.add_create("/m2", b"", &open()).unwrap();
    writer.add_delete("/missing", None).unwrap();
    let failed = writer.commit().await.unwrap_err();
    assert_eq!(
        failed,
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::NoNode
        }
    );
    assert_eq!(client.check_stat("/m2").await.unwrap(), None, "rolled back");

    // multiRead: each read on its own.
    let mut reader = client.new_multi_reader();
    reader.add_get_data("/m").unwrap();
    reader.add_get_children("/city").unwrap();
    reader.add_get_data("/missing").unwrap();
    let results = reader.commit().await.unwrap();
    assert!(matches!(&results[0], zk::MultiReadResult::Data { data, .. } if data == b"2"));
    assert!(
        matches!(&results[1], zk::MultiReadResult::Children { children } if children.len() == 3)
    );
    assert!(matches!(
        &results[2],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));

    // whoAmI before and after a digest addAuth.
    client
        .auth("digest".to_string(), b"alice:secret".to_vec())
        .await
        .unwrap();
    let users = client.list_auth_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].scheme(), "digest");
    assert!(users[0].user().starts_with("alice:"));

    // close: the session ends and its ephemerals go.
    let sessions_before = node.server.sessions();
    drop(client);
    assert!(
        wait_until(DEADLINE, || node.server.sessions() < sessions_before).await,
        "closing the client closes its session"
    );
    let observer = connect(&address).await;
    assert_eq!(observer.check_stat("/city/e").await.unwrap(), None);
    drop(observer);

    // The session timeout is negotiated within the server's bounds.
    let greedy = zk::Client::connector()
        .session_timeout(Duration::from_secs(3600))
        .connect(&address)
        .await
        .unwrap();
    assert_eq!(
        greedy.session_timeout(),
        Duration::from_millis(node.config.limits.session_timeout_max_ms as u64)
    );
    drop(greedy);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_persistent_and_recursive_watches_fire() {
    let (node, address) = start_node().await;
    let client = connect(&address).await;
    let writer = connect(&address).await;

    // An exists watch on a missing node sees its creation; a data watch its change.
    let (stat, created) = client.check_and_watch_stat("/w").await.unwrap();
    assert_eq!(stat, None);
    writer.create("/w", b"1", &open()).await.unwrap();
    let seen = event(created.changed()).await;
    assert_eq!(seen.event_type, zk::EventType::NodeCreated);
    assert_eq!(seen.path, "/w");
    let (_, _, changed) = client.get_and_watch_data("/w").await.unwrap();
    writer.set_data("/w", b"2", None).await.unwrap();
    assert_eq!(
        event(changed.changed()).await.event_type,
        zk::EventType::NodeDataChanged
    );

    // A child watch sees a new child once.
    let (_, _, children) = client.get_and_watch_children("/w").await.unwrap();
    writer.create("/w/a", b"", &open()).await.unwrap();
    assert_eq!(
        event(children.changed()).await.event_type,
        zk::EventType::NodeChildrenChanged
    );

    // A persistent watch keeps firing; a recursive one sees grandchildren.
    let mut persistent = client
        .watch("/w", zk::AddWatchMode::Persistent)
        .await
        .unwrap();
    let mut recursive = client
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer.set_data("/w", b"3", None).await.unwrap();
    writer.set_data("/w", b"4", None).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            event(persistent.changed()).await.event_type,
            zk::EventType::NodeDataChanged
        );
        assert_eq!(
            event(recursive.changed()).await.event_type,
            zk::EventType::NodeDataChanged
        );
    }
    writer.create("/w/a/deep", b"", &open()).await.unwrap();
    let deep = event(recursive.changed()).await;
    assert_eq!(deep.event_type, zk::EventType::NodeCreated);
    assert_eq!(deep.path, "/w/a/deep");

    // removeWatches: a removed watch stays silent, and the server holds no watch for it.
    let watches_before = node.server.watches();
    let (_, _, removed) = client.get_and_watch_data("/w/a").await.unwrap();
    assert_eq!(node.server.watches(), watches_before + 1);
    removed.remove().await.unwrap();
    assert_eq!(node.server.watches(), watches_before);
    persistent.remove().await.unwrap();
    recursive.remove().await.unwrap();
    assert_eq!(node.server.watches(), watches_before - 2);

    drop(client);
    drop(writer);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acls_keep_out_those_without_the_password() {
    let (node, address) = start_node().await;
    let owner = zk::Client::connector()
        .auth("digest".to_string(), b"alice:secret".to_vec())
        .connect(&address)
        .await
        .unwrap();
    let private = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create("/private", b"secret", &private).await.unwrap();
    let (acl, _) = owner.get_acl("/private").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert_eq!(
        acl[0].id(),
        polis_security::generate_digest("alice:secret"),
        "the auth scheme expands to the caller's digest, as ZooKeeper computes it"
    );

    let stranger = connect(&address).await;
    assert_eq!(
        stranger.get_data("/private").await.unwrap_err(),
        zk::Error::NoAuth
    );
    let wrong = zk::Client::connector()
        .auth("digest".to_string(), b"alice:guess".to_vec())
        .connect(&address)
        .await
        .unwrap();
    assert_eq!(
        wrong.get_data("/private").await.unwrap_err(),
        zk::Error::NoAuth
    );
    stranger
        .auth("digest".to_string(), b"alice:secret".to_vec())
        .await
        .unwrap();
    assert_eq!(stranger.get_data("/private").await.unwrap().0, b"secret");

    // A scheme Polis does not offer fails the authentication, as in ZooKeeper.
    let failing = connect(&address).await;
    let mut state = failing.state_watcher();
    assert!(
        failing
            .auth("ip".to_string(), b"127.0.0.1".to_vec())
            .await
            .is_err()
    );
    let terminal = tokio::time::timeout(DEADLINE, async {
        loop {
            let now = state.changed().await;
            if now.is_terminated() {
                return now;
            }
        }
    })
    .await
    .expect("the session ends");
    assert_eq!(terminal, zk::SessionState::AuthFailed);

    drop((owner, stranger, wrong, failing));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_cannot_be_resumed_and_loses_its_ephemerals() {
    let (node, address) = start_node().await;
    let sessions_before = node.server.sessions();
    let client = zk::Client::connector()
        .session_timeout(Duration::from_millis(500))
        .detached()
        .connect(&address)
        .await
        .unwrap();
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/mine", b"", &ephemeral).await.unwrap();
    let session = client.session().clone();
    // A detached client leaves its session open; without pings the server expires it.
    drop(client);
    assert!(
        wait_until(DEADLINE, || node.server.sessions() == sessions_before).await,
        "the silent session expires"
    );
    let resumed = zk::Client::connector()
        .session(session)
        .connect(&address)
        .await;
    assert_eq!(resumed.unwrap_err(), zk::Error::SessionExpired);
    let observer = connect(&address).await;
    assert_eq!(observer.check_stat("/mine").await.unwrap(), None);
    drop(observer);
    node.shutdown().await;
}

/// A TCP relay between a client and the server that a test can cut, to break a client's
/// connection without touching its session.
struct Relay {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (refusing, tasks) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing.load(Ordering::SeqCst) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        });
        Relay {
            address,
            cut,
            connections,
        }
    }

    /// Drops every relayed connection and refuses new ones until [`Relay::mend`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_the_events_it_missed_through_set_watches() {
    let (node, address) = start_node().await;
    let writer = connect(&address).await;
    writer.create("/watched", b"0", &open()).await.unwrap();
    let relay = Relay::start(address.parse().unwrap()).await;
    let client = connect(&relay.address.to_string()).await;
    let session_id = client.session_id();
    let (_, _, data_watch) = client.get_and_watch_data("/watched").await.unwrap();
    let (_, _, child_watch) = client.get_and_watch_children("/watched").await.unwrap();
    writer.create("/other", b"", &open()).await.unwrap();
    let (_, gone) = client.check_and_watch_stat("/other").await.unwrap();
    let mut state = client.state_watcher();

    relay.cut();
    tokio::time::timeout(DEADLINE, async {
        while state.changed().await != zk::SessionState::Disconnected {}
    })
    .await
    .expect("the client notices the cut");
    // While the client is away, its watched nodes change.
    writer.set_data("/watched", b"1", None).await.unwrap();
    writer.create("/watched/child", b"", &open()).await.unwrap();
    relay.mend();

    // It reconnects to the same session and re-registers its watches with the last zxid it saw
    // (setWatches): the server replays what it missed. (zookeeper-client 0.9.3 leaves persistent
    // watches out of its setWatches, a bug of the client's `resend_watches`; setWatches2 with
    // persistent watches is shown frame by frame below.)
    assert_eq!(
        event(data_watch.changed()).await.event_type,
        zk::EventType::NodeDataChanged
    );
    assert_eq!(
        event(child_watch.changed()).await.event_type,
        zk::EventType::NodeChildrenChanged
    );
    assert_eq!(client.session_id(), session_id, "the same session");
    // The exists watch was re-registered too, and still waits.
    writer.delete("/other", None).await.unwrap();
    assert_eq!(
        event(gone.changed()).await.event_type,
        zk::EventType::NodeDeleted
    );

    drop((client, writer));
    node.shutdown().await;
}

/// Reads a socket to its end (or its reset), for at most [`DEADLINE`].
async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    received
}

/// A raw connection that has opened a session.
/// Asks the ZooKeeper face at `address` one four-letter word; the answer, to the close.
async fn four_letter_word(address: &str, word: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(word.as_bytes()).await.unwrap();
    String::from_utf8(read_to_end(&mut stream).await).unwrap()
}

async fn raw_session(address: &str) -> TcpStream {
    raw_connect(address, 0, vec![0; 16], 0).await.0
}

/// A raw connection that opened (`session_id` 0) or resumed a session.
async fn raw_connect(
    address: &str,
    session_id: i64,
    password: Vec<u8>,
    last_zxid_seen: i64,
) -> (TcpStream, polis_zookeeper::ConnectResponse) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let connect = ConnectRequest {
        timeout_ms: 6_000,
        session_id,
        password,
        last_zxid_seen,
        read_only: Some(false),
        ..ConnectRequest::default()
    };
    stream.write_all(&connect.encode()).await.unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.unwrap();
    let mut response = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut response).await.unwrap();
    let response = polis_zookeeper::ConnectResponse::decode(&response, &JuteLimits::default())
        .expect("a connect response");
    assert!(response.timeout_ms > 0);
    assert_eq!(response.password.len(), 16);
    assert_eq!(response.read_only, Some(false));
    (stream, response)
}

/// One frame from the server: its reply header (xid, zxid, err) and the rest.
async fn read_reply(stream: &mut TcpStream) -> (i32, i64, i32, Vec<u8>) {
    let mut len = [0u8; 4];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut len))
        .await
        .expect("a frame in time")
        .unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut frame).await.unwrap();
    let mut reader = polis_zookeeper::JuteReader::new(&frame);
    let xid = reader.read_int("xid").unwrap();
    let zxid = reader.read_long("zxid").unwrap();
    let err = reader.read_int("err").unwrap();
    let rest = frame[16..].to_vec();
    (xid, zxid, err, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches2_restores_persistent_watches_and_replays_what_they_missed() {
    let (node, address) = start_node().await;
    let writer = connect(&address).await;
    writer.create("/p", b"", &open()).await.unwrap();
    let (stream, session) = raw_connect(&address, 0, vec![0; 16], 0).await;
    let seen_zxid = writer.check_stat("/p").await.unwrap().unwrap().mzxid;
    // The connection drops; the session lives on, and meanwhile the tree changes.
    drop(stream);
    writer.create("/p/a", b"", &open()).await.unwrap();
    writer.set_data("/p", b"1", None).await.unwrap();

    let (mut stream, resumed) =
        raw_connect(&address, session.session_id, session.password, seen_zxid).await;
    assert_eq!(resumed.session_id, session.session_id);
    let set_watches = Request {
        xid: polis_zookeeper::xid::SET_WATCHES,
        body: RequestBody::SetWatches2(polis_zookeeper::SetWatchesRequest {
            relative_zxid: seen_zxid,
            persistent_recursive_watches: vec!["/p".to_string()],
            ..polis_zookeeper::SetWatchesRequest::default()
        }),
    };
    stream.write_all(&set_watches.encode()).await.unwrap();
    // The missed events come first (notifications, xid -1), then setWatches' own reply (-8).
    let mut events = Vec::new();
    loop {
        let (xid, _, err, rest) = read_reply(&mut stream).await;
        assert_eq!(err, 0);
        if xid == polis_zookeeper::xid::SET_WATCHES {
            break;
        }
        assert_eq!(xid, polis_zookeeper::xid::NOTIFICATION);
        let mut reader = polis_zookeeper::JuteReader::new(&rest);
        let (event_type, state, path) =
            polis_zookeeper::WatcherEvent::decode_raw(&mut reader, &JuteLimits::default()).unwrap();
        assert_eq!(state, 3, "SyncConnected");
        events.push((event_type, path));
    }
    assert_eq!(
        events,
        vec![(1, "/p/a".to_string()), (3, "/p".to_string())],
        "NodeCreated /p/a, then NodeDataChanged /p"
    );
    // The watch is registered again: a live change arrives too.
    writer.delete("/p/a", None).await.unwrap();
    let (xid, _, _, rest) = read_reply(&mut stream).await;
    assert_eq!(xid, polis_zookeeper::xid::NOTIFICATION);
    let mut reader = polis_zookeeper::JuteReader::new(&rest);
    let (event_type, _, path) =
        polis_zookeeper::WatcherEvent::decode_raw(&mut reader, &JuteLimits::default()).unwrap();
    assert_eq!((event_type, path.as_str()), (2, "/p/a"));
    drop((stream, writer));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_frames_close_only_their_connection() {
    let (node, address) = start_node().await;
    let bystander = connect(&address).await;
    bystander.create("/alive", b"", &open()).await.unwrap();

    // A length prefix over the frame limit.
    let mut oversize = raw_session(&address).await;
    let too_long = i32::try_from(node.config.frame_len_max + 1).unwrap();
    oversize.write_all(&too_long.to_be_bytes()).await.unwrap();
    read_to_end(&mut oversize).await;

    // A negative length.
    let mut negative = raw_session(&address).await;
    negative.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    read_to_end(&mut negative).await;

    // A well-framed request whose path claims more bytes than the frame holds.
    let mut lying = raw_session(&address).await;
    let mut frame = Request {
        xid: 1,
        body: RequestBody::GetData {
            path: "/alive".to_string(),
            watch: false,
        },
    }
    .encode();
    frame[12..16].copy_from_slice(&1_000i32.to_be_bytes());
    lying.write_all(&frame).await.unwrap();
    read_to_end(&mut lying).await;

    // A frame too short for its header, and garbage before any connect request.
    let mut short = raw_session(&address).await;
    short.write_all(&[0, 0, 0, 2, 0xff, 0xff]).await.unwrap();
    read_to_end(&mut short).await;
    let mut garbage = TcpStream::connect(&address).await.unwrap();
    garbage.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(read_to_end(&mut garbage).await.is_empty());

    // The well-behaved client never noticed.
    assert!(bystander.check_stat("/alive").await.unwrap().is_some());
    bystander.set_data("/alive", b"still", None).await.unwrap();
    drop(bystander);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_answer_when_whitelisted() {
    let (node, address) = start_node().await;
    let ask = |word: &'static str| four_letter_word(&address, word);
    assert_eq!(ask("ruok").await, "imok");
    let srvr = ask("srvr").await;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert!(srvr.contains("Zxid: 0x"), "{srvr}");
    let mntr = ask("mntr").await;
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    assert!(mntr.contains("zk_ephemerals_count\t0"), "{mntr}");
    // One session watching one path twice over (data and children).
    let watcher = connect(&address).await;
    watcher.create("/watched", b"", &open()).await.unwrap();
    let (_, _, _data_watch) = watcher.get_and_watch_data("/watched").await.unwrap();
    let (_, _, _child_watch) = watcher.get_and_watch_children("/watched").await.unwrap();
    assert_eq!(
        ask("wchs").await,
        "1 connections watching 1 paths\nTotal watches:2\n"
    );
    assert_eq!(
        ask("cons").await,
        "cons is not executed because it is not in the whitelist.\n"
    );
    node.shutdown().await;
}

/// Issue 18: the words ZooKeeper 3.8/3.9 serve beyond the basic ones. kazoo's
/// `server_version()` reads `envi`'s `zookeeper.version` and takes its leading digits; without an
/// answer 30 of kazoo's own tests failed in their setUp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrative_four_letter_words_answer_as_zookeeper_does() {
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.zookeeper.four_letter_words = vec!["*".into()];
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    let ask = |word: &'static str| four_letter_word(&address, word);
    let envi = ask("envi").await;
    assert!(envi.starts_with("Environment:\n"), "{envi}");
    // As kazoo parses it: key=value lines, the version's leading digits and dots.
    let version = envi
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "zookeeper.version")
        .map(|(_, value)| value.trim().to_string())
        .expect("a zookeeper.version line");
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parsed: Vec<u32> = digits
        .split('.')
        .map(|part| part.parse().unwrap())
        .collect();
    assert_eq!(parsed, [3, 9, 0], "{version}");
    assert!(ask("dirs").await.starts_with("datadir_size: "));
    assert_eq!(ask("isro").await, "rw");
    let watcher = connect(&address).await;
    watcher.create("/watched", b"", &open()).await.unwrap();
    let (_, _, _data_watch) = watcher.get_and_watch_data("/watched").await.unwrap();
    let wchp = ask("wchp").await;
    assert!(wchp.starts_with("/watched\n\t0x"), "{wchp}");
    let wchc = ask("wchc").await;
    assert!(
        wchc.starts_with("0x") && wchc.contains("\t/watched"),
        "{wchc}"
    );
    let (_, _) = watcher
        .create(
            "/mine",
            b"",
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let dump = ask("dump").await;
    assert!(dump.contains("Sessions with Ephemerals (1):"), "{dump}");
    assert!(dump.contains("\t/mine"), "{dump}");
    // Real latencies, as ZooKeeper's ServerStats keeps them, until srst resets them.
    let mntr = ask("mntr").await;
    let average: f64 = mntr
        .lines()
        .find_map(|line| line.strip_prefix("zk_avg_latency\t"))
        .expect("zk_avg_latency")
        .parse()
        .unwrap();
    assert!(average > 0.0, "{mntr}");
    assert_eq!(ask("srst").await, "Server stats reset.\n");
    assert!(
        ask("srvr")
            .await
            .contains("Latency min/avg/max: 0/0.0000/0"),
        "reset"
    );
    assert_eq!(ask("crst").await, "Connection stats reset.\n");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_the_zookeeper_face_are_replicated() {
    let cluster = TestCluster::start_with(3, enable_zookeeper).await;
    let address = |id: u64| {
        cluster
            .member(id)
            .server
            .as_ref()
            .and_then(|server| server.zookeeper_address)
            .expect("the ZooKeeper face is enabled")
            .to_string()
    };
    let first = connect(&address(1)).await;
    let third = connect(&address(3)).await;
    let (_, created) = third.check_and_watch_stat("/replicated").await.unwrap();
    first
        .create("/replicated", b"through node 1", &open())
        .await
        .unwrap();
    assert_eq!(
        event(created.changed()).await.event_type,
        zk::EventType::NodeCreated,
        "a watch on another node sees the write"
    );
    // Reads are linearizable: node 3 answers with node 1's write.
    assert_eq!(
        third.get_data("/replicated").await.unwrap().0,
        b"through node 1"
    );
    let tree = cluster.tree_of(2).await;
    assert_eq!(tree["/replicated"].0, b"through node 1");
    drop((first, third));
    cluster.shutdown().await;
}

/// `[zookeeper] reads = "sequential"` serves ZooKeeper's own guarantee: a read comes from the
/// node's tree, which already holds the session's own writes (a write is answered only once the
/// node applied it), so a follower cut off from the leader still answers, as a ZooKeeper
/// follower does, where a linearizable read would fail with ConnectionLoss; `sync` still waits
/// for the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_reads_are_local_and_see_the_sessions_own_writes() {
    let cluster = TestCluster::start_with(3, |config| {
        enable_zookeeper(config);
        config.zookeeper.reads = polis_server::config::ZooKeeperReads::Sequential;
    })
    .await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let address = cluster
        .member(follower)
        .server
        .as_ref()
        .and_then(|server| server.zookeeper_address)
        .expect("the ZooKeeper face is enabled")
        .to_string();
    let client = connect(&address).await;
    // Written through the follower (forwarded to the leader), read back from the follower.
    client.create("/own", b"mine", &open()).await.unwrap();
    assert_eq!(client.get_data("/own").await.unwrap().0, b"mine");

    cluster.partition(&[follower]);
    let (data, stat) = tokio::time::timeout(DEADLINE, client.get_data("/own"))
        .await
        .expect("a local read answers at once")
        .expect("a cut-off follower still serves sequential reads");
    assert_eq!(data, b"mine");
    assert_eq!(stat.version, 0);
    cluster.heal();
    // After the partition heals, sync catches the follower up with the leader.
    client.sync("/own").await.unwrap();
    assert_eq!(client.get_data("/own").await.unwrap().0, b"mine");
    drop(client);
    cluster.shutdown().await;
}

/// An anonymous client cannot grow its session's identities without bound (issue 13): every
/// write carries them in its Raft entry for the replicas' ACL checks, and 34 one-mebibyte user
/// names once made entries too large to replicate, which toppled the leader. Past the bounds
/// `addAuth` fails, which ends that session as ZooKeeper's auth failures do, and nobody else
/// notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_auth_is_bounded_in_count_and_in_bytes() {
    use polis_server::node::{IDENTITIES_PER_SESSION_MAX, IDENTITY_LEN_MAX};
    let (node, address) = start_node().await;
    let collector = connect(&address).await;
    for user in 0..IDENTITIES_PER_SESSION_MAX {
        collector
            .auth("digest".to_string(), format!("user{user}:pw").into_bytes())
            .await
            .unwrap();
    }
    // Adding one already held changes nothing and is no error.
    collector
        .auth("digest".to_string(), b"user0:pw".to_vec())
        .await
        .unwrap();
    collector.create("/collector", b"", &open()).await.unwrap();
    assert!(
        collector
            .auth("digest".to_string(), b"one-too-many:pw".to_vec())
            .await
            .is_err(),
        "a session holds at most {IDENTITIES_PER_SESSION_MAX} identities"
    );

    let bloater = connect(&address).await;
    let long_user = format!("{}:pw", "u".repeat(IDENTITY_LEN_MAX));
    assert!(
        bloater
            .auth("digest".to_string(), long_user.into_bytes())
            .await
            .is_err(),
        "an identity is at most {IDENTITY_LEN_MAX} bytes"
    );

    let bystander = connect(&address).await;
    bystander.create("/bystander", b"", &open()).await.unwrap();
    assert!(bystander.check_stat("/collector").await.unwrap().is_some());
    drop((collector, bloater, bystander));
    node.shutdown().await;
}

/// `zk_packets_received` from `mntr`: the requests the node has read, over every connection.
async fn packets_received(address: &str) -> u64 {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"mntr").await.unwrap();
    let mntr = String::from_utf8(read_to_end(&mut stream).await).unwrap();
    mntr.lines()
        .find_map(|line| line.strip_prefix("zk_packets_received\t"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("mntr reports zk_packets_received: {mntr}"))
}

/// A raw getData request for `path`.
fn get_data_frame(xid: i32, path: &str) -> Vec<u8> {
    Request {
        xid,
        body: RequestBody::GetData {
            path: path.to_string(),
            watch: false,
        },
    }
    .encode()
}

/// The node's largest legal data, under `path`.
async fn create_largest_node(client: &zk::Client, path: &str, limits: &polis_tree::Limits) {
    let data = vec![b'x'; limits.data_len_max];
    client.create(path, &data, &open()).await.unwrap();
}

/// A client that pipelines reads of a 1 MiB node and never reads the replies once made the server
/// queue every reply (4,096 of them: 4 GiB). The queue is bounded in bytes
/// (`outbound_queue_bytes_max`): the server stops reading that client's requests while its
/// replies wait, everybody else is served meanwhile, and once the client reads it gets every
/// reply, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_holds_a_bounded_number_of_replies() {
    const REQUESTS: i32 = 100;
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.outbound_queue_bytes_max = 2 * 1024 * 1024;
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    let bystander = connect(&address).await;
    create_largest_node(&bystander, "/big", &node.config.limits).await;

    let mut hoarder = raw_session(&address).await;
    let before = packets_received(&address).await;
    let requests: Vec<u8> = (1..=REQUESTS)
        .flat_map(|xid| get_data_frame(xid, "/big"))
        .collect();
    hoarder.write_all(&requests).await.unwrap();
    // Wait until the node stops reading the hoarder's requests: the count holds still across
    // several polls (each `mntr` itself counts as no request).
    let mut last = packets_received(&address).await;
    let mut unchanged = 0;
    let started = std::time::Instant::now();
    while unchanged < 5 && started.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = packets_received(&address).await;
        unchanged = if now == last { unchanged + 1 } else { 0 };
        last = now;
    }
    let read = last - before;
    assert!(
        read < (REQUESTS as u64) / 2,
        "the node read {read} of {REQUESTS} requests from a client that reads no replies"
    );

    // Everybody else is served meanwhile.
    bystander.create("/served", b"", &open()).await.unwrap();
    assert!(bystander.check_stat("/big").await.unwrap().is_some());

    // The hoarder reads at last and gets every reply, in order.
    for xid in 1..=REQUESTS {
        let (replied, _, err, rest) = read_reply(&mut hoarder).await;
        assert_eq!((replied, err), (xid, 0));
        assert!(rest.len() > node.config.limits.data_len_max);
    }
    drop((bystander, hoarder));
    node.shutdown().await;
}

/// A `multiRead` of many large nodes was gathered, cloned and encoded whole (1,024 reads of 1 MiB:
/// gigabytes). A reply larger than the frame bound, which a ZooKeeper client would refuse to read
/// (its `jute.maxbuffer`), is not built: the connection is closed, the session survives and
/// resumes, and a multiRead within the bound is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_read_larger_than_a_frame_closes_only_its_connection() {
    use polis_zookeeper::MultiOp;
    let (node, address) = start_node().await;
    let bystander = connect(&address).await;
    for path in ["/big1", "/big2", "/big3"] {
        create_largest_node(&bystander, path, &node.config.limits).await;
    }
    bystander.create("/small", b"s", &open()).await.unwrap();
    let multi_read = |xid: i32, paths: &[&str]| {
        Request {
            xid,
            body: RequestBody::MultiRead(
                paths
                    .iter()
                    .map(|path| MultiOp::GetData {
                        path: path.to_string(),
                        watch: false,
                    })
                    .collect(),
            ),
        }
        .encode()
    };

    let (mut greedy, connected) = raw_connect(&address, 0, vec![0; 16], 0).await;
    greedy
        .write_all(&multi_read(1, &["/big1", "/big2", "/big3"]))
        .await
        .unwrap();
    assert!(
        read_to_end(&mut greedy).await.is_empty(),
        "no reply is sent; the connection is closed"
    );

    let (mut resumed, again) =
        raw_connect(&address, connected.session_id, connected.password, 0).await;
    assert_eq!(
        again.session_id, connected.session_id,
        "the session survives"
    );
    resumed
        .write_all(&multi_read(2, &["/small", "/big1"]))
        .await
        .unwrap();
    let (xid, _, err, rest) = read_reply(&mut resumed).await;
    assert_eq!((xid, err), (2, 0));
    assert!(
        rest.len() > node.config.limits.data_len_max,
        "both reads answered"
    );
    assert!(bystander.check_stat("/small").await.unwrap().is_some());
    drop((bystander, greedy, resumed));
    node.shutdown().await;
}

/// A `setWatches` whose replay fills the client's queue gets the client cut off, and the hub drops
/// its watches; the rest of the request used to register its watches after that, leaving them
/// behind a session no connection serves. Duplicate paths in the request count once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_watches_replay_that_overflows_the_queue_leaves_no_watches_behind() {
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.outbound_queue_max = 16;
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    let writer = connect(&address).await;
    writer.create("/w", b"", &open()).await.unwrap();
    for round in 0..64 {
        writer
            .set_data("/w", format!("{round}").as_bytes(), None)
            .await
            .unwrap();
    }
    let (mut stream, session) = raw_connect(&address, 0, vec![0; 16], 0).await;
    let mut data_watches: Vec<String> = (0..100).map(|index| format!("/missing{index}")).collect();
    data_watches.extend(std::iter::repeat_n("/missing0".to_string(), 100));
    let set_watches = Request {
        xid: polis_zookeeper::xid::SET_WATCHES,
        body: RequestBody::SetWatches2(polis_zookeeper::SetWatchesRequest {
            relative_zxid: 0,
            data_watches,
            persistent_watches: vec!["/w".to_string()],
            ..polis_zookeeper::SetWatchesRequest::default()
        }),
    };
    stream.write_all(&set_watches.encode()).await.unwrap();
    // 65 missed events for a queue of 16: the client is cut off.
    read_to_end(&mut stream).await;
    let hub = &node.server.node.hub;
    assert!(
        wait_until(DEADLINE, || hub
            .lock()
            .watches
            .session_watch_count(session.session_id)
            == 0)
        .await,
        "the cut-off session keeps no watches"
    );
    // The session itself survives and can set its watches again on a new connection.
    let seen_zxid = writer.check_stat("/w").await.unwrap().unwrap().mzxid;
    let (mut again, resumed) =
        raw_connect(&address, session.session_id, session.password, seen_zxid).await;
    assert_eq!(resumed.session_id, session.session_id);
    let set_watches = Request {
        xid: polis_zookeeper::xid::SET_WATCHES,
        body: RequestBody::SetWatches2(polis_zookeeper::SetWatchesRequest {
            relative_zxid: seen_zxid,
            data_watches: vec!["/missing0".to_string(), "/missing0".to_string()],
            ..polis_zookeeper::SetWatchesRequest::default()
        }),
    };
    again.write_all(&set_watches.encode()).await.unwrap();
    let (xid, _, err, _) = read_reply(&mut again).await;
    assert_eq!((xid, err), (polis_zookeeper::xid::SET_WATCHES, 0));
    assert_eq!(
        hub.lock().watches.session_watch_count(session.session_id),
        1,
        "a watch listed twice is one watch"
    );
    drop((writer, again));
    node.shutdown().await;
}

/// Sessions outlive their connections, so capping connections does not cap sessions: a host
/// that connects and drops over and over would leave a session behind each time until the
/// cluster's `sessions_max` shut everyone out. One host may hold at most `[zookeeper]
/// sessions_per_owner_max` live sessions through a node; others are unaffected, and a session
/// that closes gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_zookeeper_sessions() {
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.zookeeper.sessions_per_owner_max = 2;
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    // Two sessions whose connections are dropped without closing them: they live on.
    let (first, opened) = raw_connect(&address, 0, vec![0; 16], 0).await;
    drop(first);
    drop(raw_session(&address).await);
    let mut third = TcpStream::connect(&address).await.unwrap();
    let connect = ConnectRequest {
        timeout_ms: 6_000,
        password: vec![0; 16],
        read_only: Some(false),
        ..ConnectRequest::default()
    };
    third.write_all(&connect.encode()).await.unwrap();
    assert!(
        read_to_end(&mut third).await.is_empty(),
        "a third session from the same address is refused"
    );
    // The owner's own sessions still resume (that opens nothing new).
    let (mut resumed, response) =
        raw_connect(&address, opened.session_id, opened.password.clone(), 0).await;
    assert_eq!(response.session_id, opened.session_id);
    // Closing one gives its place back.
    let close = Request {
        xid: 1,
        body: RequestBody::CloseSession,
    };
    resumed.write_all(&close.encode()).await.unwrap();
    read_to_end(&mut resumed).await;
    let session_count = || node.server.node.hub.session_count();
    assert!(
        wait_until(DEADLINE, || session_count() == 1).await,
        "the closed session is gone"
    );
    let (_, fresh) = raw_connect(&address, 0, vec![0; 16], 0).await;
    assert_ne!(
        fresh.session_id, 0,
        "a new session opens in the freed place"
    );
    node.shutdown().await;
}

/// One host may hold at most `[zookeeper] connections_per_address_max` connections (ZooKeeper's
/// `maxClientCnxns`); further ones are closed at once, and a place is given back when one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_zookeeper_connections() {
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.zookeeper.connections_per_address_max = 2;
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    let first = raw_session(&address).await;
    let _second = raw_session(&address).await;
    let mut third = TcpStream::connect(&address).await.unwrap();
    assert!(
        read_to_end(&mut third).await.is_empty(),
        "a third connection from the same address is closed unanswered"
    );
    drop(first);
    assert!(
        wait_until(DEADLINE, || node.server.zookeeper_connections() < 2).await,
        "the first connection ends"
    );
    raw_session(&address).await;
    node.shutdown().await;
}

/// SASL with no `sasl_users` configured, a token where the exchange expects none, or a second
/// exchange after a failed one: each is answered with AuthFailed and the connection is closed,
/// as ZooKeeper closes it; the node serves other connections meanwhile.
#[tokio::test]
async fn a_sasl_login_the_node_cannot_accept_gets_auth_failed_and_a_closed_connection() {
    let (node, address) = start_node().await;
    let sasl = |xid: i32, token: &[u8]| {
        Request {
            xid,
            body: RequestBody::Sasl {
                token: token.to_vec(),
            },
        }
        .encode()
    };
    // No users configured: even the opening empty token is refused.
    let mut stream = raw_session(&address).await;
    stream.write_all(&sasl(1, b"")).await.unwrap();
    let (xid, _, err, _) = read_reply(&mut stream).await;
    assert_eq!((xid, err), (1, polis_tree::ErrorCode::AuthFailed.as_i32()));
    assert!(
        read_to_end(&mut stream).await.is_empty(),
        "the connection is closed"
    );
    let client = connect(&address).await;
    client.create("/still-serving", b"", &open()).await.unwrap();
    node.shutdown().await;

    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        config.zookeeper.sasl_users = [("alice", "secret")].into();
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    // DIGEST-MD5 has no initial response: a first token with bytes is refused.
    let mut stream = raw_session(&address).await;
    stream
        .write_all(&sasl(1, b"username=\"alice\""))
        .await
        .unwrap();
    let (_, _, err, _) = read_reply(&mut stream).await;
    assert_eq!(err, polis_tree::ErrorCode::AuthFailed.as_i32());
    assert!(
        read_to_end(&mut stream).await.is_empty(),
        "the connection is closed"
    );
    // The challenge names ZooKeeper's realm; a garbled response is refused.
    let mut stream = raw_session(&address).await;
    stream.write_all(&sasl(1, b"")).await.unwrap();
    let (_, _, err, challenge) = read_reply(&mut stream).await;
    assert_eq!(err, 0);
    let challenge = String::from_utf8_lossy(&challenge).to_string();
    assert!(challenge.contains("realm=\"zk-sasl-md5\""), "{challenge}");
    stream.write_all(&sasl(2, b"\"\\,,=")).await.unwrap();
    let (xid, _, err, _) = read_reply(&mut stream).await;
    assert_eq!((xid, err), (2, polis_tree::ErrorCode::AuthFailed.as_i32()));
    assert!(
        read_to_end(&mut stream).await.is_empty(),
        "the connection is closed"
    );
    node.shutdown().await;
}

/// ZooKeeper's `superDigest`: the one password whose digest is `[zookeeper] super_digest` makes
/// a session the super user, which every ACL admits; another password, or none, does not.
#[tokio::test]
async fn the_super_digest_password_makes_a_session_super_and_no_other_does() {
    let node = TestNode::start_with(|config| {
        enable_zookeeper(config);
        // super:test, as kazoo's test harness configures ZooKeeper.
        config.zookeeper.super_digest = Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".to_string());
    })
    .await;
    let address = node.server.zookeeper_address.unwrap().to_string();
    let owner = zk::Client::connector()
        .auth("digest".to_string(), b"alice:secret".to_vec())
        .connect(&address)
        .await
        .unwrap();
    let private = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create("/private", b"secret", &private).await.unwrap();

    let login = |password: &'static str| {
        let address = address.clone();
        async move {
            zk::Client::connector()
                .auth(
                    "digest".to_string(),
                    format!("super:{password}").into_bytes(),
                )
                .connect(&address)
                .await
                .unwrap()
        }
    };
    let wrong = login("guess").await;
    assert_eq!(
        wrong.get_data("/private").await.unwrap_err(),
        zk::Error::NoAuth
    );
    let anonymous = connect(&address).await;
    assert_eq!(
        anonymous.get_data("/private").await.unwrap_err(),
        zk::Error::NoAuth
    );
    let root = login("test").await;
    assert_eq!(root.get_data("/private").await.unwrap().0, b"secret");
    root.delete("/private", None).await.unwrap();
    node.shutdown().await;
}
