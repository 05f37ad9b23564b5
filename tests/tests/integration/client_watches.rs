//! Watches through the Rust client against a real node: ordering against answers, one-shot
//! watches, persistent and recursive streams, resuming from a zxid, and replay after a
//! reconnect.

use futures::FutureExt;
use polis_client::{
    Acl, CreateMode, Error, ErrorCode, EventKind, SessionEvent, WatchEvent, WatchMode, Zxid,
};
use polis_tests::client::{
    DEADLINE, client_config, connect, connect_with, next_event, next_item, next_session_event,
    ready_events,
};
use polis_tests::node::TestNode;
use polis_tests::wait_until;
use tokio::time::timeout;

fn event(kind: EventKind, path: &str, zxid: Zxid) -> WatchEvent {
    WatchEvent {
        zxid,
        kind,
        path: path.to_string(),
    }
}

/// (kind, path) of each event, for comparisons that do not care about zxids.
fn kinds(events: &[WatchEvent]) -> Vec<(EventKind, &str)> {
    events
        .iter()
        .map(|event| (event.kind, event.path.as_str()))
        .collect()
}

#[tokio::test]
async fn an_event_is_delivered_before_the_answer_to_the_change_that_fired_it() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create(
            "/a",
            b"one",
            &Acl::open(),
            polis_client::CreateMode::Persistent,
        )
        .await
        .unwrap();
    let ((data, _), watch) = client.get_data_watch("/a").await.unwrap();
    assert_eq!(data, b"one");
    let stat = client.set_data("/a", b"two", 0).await.unwrap();
    // The event was dispatched before the answer to set_data completed.
    let fired = watch
        .now_or_never()
        .expect("the event is already there")
        .unwrap();
    assert_eq!(fired, event(EventKind::NodeDataChanged, "/a", stat.mzxid));
    node.shutdown().await;
}

#[tokio::test]
async fn a_reader_never_sees_new_data_before_the_event_of_the_change() {
    let node = TestNode::start().await;
    let watcher = connect(&node, "watcher").await;
    let writer = connect(&node, "writer").await;
    writer
        .create("/x", b"0", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = watcher
        .watch("/x", WatchMode::Persistent, None)
        .await
        .unwrap();
    let ((_, _), mut one_shot) = watcher.get_data_watch("/x").await.unwrap();
    for round in 1..=20u32 {
        let data = round.to_string();
        let written = writer.set_data("/x", data.as_bytes(), -1).await.unwrap();
        // Another client wrote; when the watcher's read returns the new data, the event of that
        // write is already in its stream and its one-shot watch has already fired.
        let ((read, stat), next_one_shot) = watcher.get_data_watch("/x").await.unwrap();
        assert_eq!(read, data.as_bytes());
        assert_eq!(stat.mzxid, written.mzxid);
        let changed = event(EventKind::NodeDataChanged, "/x", written.mzxid);
        assert_eq!(
            ready_events(&mut stream),
            vec![changed.clone()],
            "round {round}"
        );
        let fired = one_shot
            .now_or_never()
            .unwrap_or_else(|| panic!("round {round}: the one-shot fired before the read"))
            .unwrap();
        assert_eq!(fired, changed);
        one_shot = next_one_shot;
    }
    node.shutdown().await;
}

#[tokio::test]
async fn a_data_watch_fires_once_for_the_first_change_only() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let other = connect(&node, "bob").await;
    client
        .create("/d", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let (_, first) = client.get_data_watch("/d").await.unwrap();
    // A second watcher of the same node shares the server's one watch, and hears the same event.
    let (_, twin) = client.get_data_watch("/d").await.unwrap();
    let one = other.set_data("/d", b"1", -1).await.unwrap();
    let two = other.set_data("/d", b"2", -1).await.unwrap();
    let fired = timeout(DEADLINE, first).await.unwrap().unwrap();
    assert_eq!(fired, event(EventKind::NodeDataChanged, "/d", one.mzxid));
    assert_eq!(timeout(DEADLINE, twin).await.unwrap().unwrap(), fired);

    // The server dropped the watch when it fired: the second change reached nobody. A new watch
    // set now hears neither old change, only the next one.
    let (_, later) = client.get_data_watch("/d").await.unwrap();
    let mut later = Box::pin(later);
    client.sync("/d").await.unwrap();
    assert!(
        later.as_mut().now_or_never().is_none(),
        "no stale event after {two:?}"
    );
    other.delete("/d", -1).await.unwrap();
    let deleted = timeout(DEADLINE, later).await.unwrap().unwrap();
    assert_eq!(deleted.kind, EventKind::NodeDeleted);
    assert!(deleted.zxid > two.mzxid);
    node.shutdown().await;
}

#[tokio::test]
async fn an_exists_watch_on_a_missing_node_fires_when_it_is_created() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let other = connect(&node, "bob").await;
    let (stat, watch) = client.exists_watch("/later").await.unwrap();
    assert_eq!(stat, None);
    let (_, created) = other
        .create("/later", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let fired = timeout(DEADLINE, watch).await.unwrap().unwrap();
    assert_eq!(
        fired,
        event(EventKind::NodeCreated, "/later", created.czxid)
    );
    // Once fired it is gone: a watch set again fires for the next change, not the creation.
    let (stat, watch) = client.exists_watch("/later").await.unwrap();
    assert_eq!(stat, Some(created));
    let set = other.set_data("/later", b"x", -1).await.unwrap();
    let fired = timeout(DEADLINE, watch).await.unwrap().unwrap();
    assert_eq!(
        fired,
        event(EventKind::NodeDataChanged, "/later", set.mzxid)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_child_watch_fires_once_for_membership_and_not_for_data() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/p", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/p/c", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let ((children, _), watch) = client.get_children_watch("/p").await.unwrap();
    assert_eq!(children, vec!["c"]);
    let mut watch = Box::pin(watch);
    // Data changes of the parent or a child are not membership changes. The client's ordering
    // guarantee makes this check exact: an event would have come before these answers.
    client.set_data("/p", b"x", -1).await.unwrap();
    client.set_data("/p/c", b"x", -1).await.unwrap();
    assert!(watch.as_mut().now_or_never().is_none());
    let (_, added) = client
        .create("/p/d", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let fired = watch
        .now_or_never()
        .expect("fired before the create's answer")
        .unwrap();
    assert_eq!(
        fired,
        event(EventKind::NodeChildrenChanged, "/p", added.czxid)
    );
    // A new child watch fires for a delete as well.
    let (_, watch) = client.get_children_watch("/p").await.unwrap();
    client.delete("/p/c", -1).await.unwrap();
    let fired = watch.now_or_never().expect("fired").unwrap();
    assert_eq!(fired.kind, EventKind::NodeChildrenChanged);
    node.shutdown().await;
}

#[tokio::test]
async fn a_persistent_watch_follows_its_node_and_stays() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let mut stream = client
        .watch("/p", WatchMode::Persistent, None)
        .await
        .unwrap();
    assert_eq!(stream.path(), "/p");
    let mut seen = Vec::new();
    client
        .create("/p", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    seen.extend(ready_events(&mut stream));
    client.set_data("/p", b"1", -1).await.unwrap();
    seen.extend(ready_events(&mut stream));
    client
        .create("/p/c", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    seen.extend(ready_events(&mut stream));
    // Below the children, nothing concerns a (non-recursive) persistent watch.
    client.set_data("/p/c", b"1", -1).await.unwrap();
    client
        .create("/p/c/g", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client.delete("/p/c/g", -1).await.unwrap();
    assert!(ready_events(&mut stream).is_empty());
    client.delete("/p/c", -1).await.unwrap();
    seen.extend(ready_events(&mut stream));
    client.delete("/p", -1).await.unwrap();
    seen.extend(ready_events(&mut stream));
    client
        .create("/p", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    seen.extend(ready_events(&mut stream));
    assert_eq!(
        kinds(&seen),
        vec![
            (EventKind::NodeCreated, "/p"),
            (EventKind::NodeDataChanged, "/p"),
            (EventKind::NodeChildrenChanged, "/p"),
            (EventKind::NodeChildrenChanged, "/p"),
            (EventKind::NodeDeleted, "/p"),
            (EventKind::NodeCreated, "/p"),
        ]
    );
    assert!(seen.windows(2).all(|pair| pair[0].zxid < pair[1].zxid));
    node.shutdown().await;
}

#[tokio::test]
async fn a_recursive_watch_follows_the_subtree_without_children_events() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let other = connect(&node, "bob").await;
    let mut stream = client
        .watch("/r", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    for path in ["/r", "/r/a", "/r/a/b", "/rx"] {
        other
            .create(path, b"", &Acl::open(), CreateMode::Persistent)
            .await
            .unwrap();
    }
    other.set_data("/r/a/b", b"1", -1).await.unwrap();
    other.set_data("/rx", b"1", -1).await.unwrap();
    other.delete("/r/a/b", -1).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_event(&mut stream).await);
    }
    assert_eq!(
        kinds(&seen),
        vec![
            (EventKind::NodeCreated, "/r"),
            (EventKind::NodeCreated, "/r/a"),
            (EventKind::NodeCreated, "/r/a/b"),
            (EventKind::NodeDataChanged, "/r/a/b"),
            (EventKind::NodeDeleted, "/r/a/b"),
        ]
    );
    // Nothing else is on its way: /rx is a sibling, and children-changed events are left out.
    client.sync("/").await.unwrap();
    assert!(ready_events(&mut stream).is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn a_watch_resumes_after_a_zxid_with_every_later_event() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let (_, created) = client
        .create("/feed", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut written = Vec::new();
    for round in 1..=5u8 {
        written.push(client.set_data("/feed", &[round], -1).await.unwrap().mzxid);
    }
    client
        .create("/feed/item", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    // A consumer that processed everything up to the feed's creation comes back.
    let mut stream = client
        .watch("/feed", WatchMode::Persistent, Some(created.czxid))
        .await
        .unwrap();
    let mut replayed = Vec::new();
    for _ in 0..6 {
        replayed.push(next_event(&mut stream).await);
    }
    let expected: Vec<WatchEvent> = written
        .iter()
        .map(|zxid| event(EventKind::NodeDataChanged, "/feed", *zxid))
        .collect();
    assert_eq!(replayed[..5], expected[..]);
    assert_eq!(replayed[5].kind, EventKind::NodeChildrenChanged);
    // Then it goes on live.
    let live = client.set_data("/feed", b"live", -1).await.unwrap();
    assert_eq!(
        next_event(&mut stream).await,
        event(EventKind::NodeDataChanged, "/feed", live.mzxid)
    );
    // A recursive watch resumes the same way, from a later point.
    let mut recursive = client
        .watch("/feed", WatchMode::PersistentRecursive, Some(written[3]))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_event(&mut recursive).await);
    }
    assert_eq!(
        kinds(&seen),
        vec![
            (EventKind::NodeDataChanged, "/feed"),
            (EventKind::NodeCreated, "/feed/item"),
            (EventKind::NodeDataChanged, "/feed"),
        ]
    );
    assert_eq!(seen[0].zxid, written[4]);
    node.shutdown().await;
}

#[tokio::test]
async fn a_new_client_resumes_from_the_last_zxid_processed_and_misses_nothing() {
    let node = TestNode::start().await;
    let consumer = connect(&node, "consumer").await;
    consumer
        .create("/feed", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = consumer
        .watch("/feed", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    let writer = connect(&node, "writer").await;
    writer
        .create("/feed/1", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let processed = next_event(&mut stream).await;
    assert_eq!(processed.path, "/feed/1");
    // The consumer goes away for good, remembering only the zxid it processed last. The feed
    // moves on, across a restart of the node, which keeps its change history in storage.
    consumer.close().await.unwrap();
    drop(stream);
    let mut missed = vec![
        event(
            EventKind::NodeDataChanged,
            "/feed/1",
            writer.set_data("/feed/1", b"x", -1).await.unwrap().mzxid,
        ),
        event(
            EventKind::NodeCreated,
            "/feed/2",
            writer
                .create("/feed/2", b"", &Acl::open(), CreateMode::Persistent)
                .await
                .unwrap()
                .1
                .czxid,
        ),
    ];
    writer.close().await.unwrap();
    let node = node.restart().await;
    let writer = connect(&node, "writer").await;
    writer.delete("/feed/1", -1).await.unwrap();
    let deleted = writer.exists("/feed").await.unwrap().unwrap().pzxid;
    missed.push(event(EventKind::NodeDeleted, "/feed/1", deleted));

    // Its successor, a new client and session, resumes from that zxid.
    let successor = connect(&node, "consumer").await;
    let mut resumed = successor
        .watch(
            "/feed",
            WatchMode::PersistentRecursive,
            Some(processed.zxid),
        )
        .await
        .unwrap();
    let mut replayed = Vec::new();
    for _ in 0..missed.len() {
        replayed.push(next_event(&mut resumed).await);
    }
    assert_eq!(replayed, missed);
    let live = writer.set_data("/feed/2", b"live", -1).await.unwrap();
    assert_eq!(
        next_event(&mut resumed).await,
        event(EventKind::NodeDataChanged, "/feed/2", live.mzxid)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn resuming_from_before_the_history_window_is_refused() {
    let node = TestNode::start_with(|config| config.limits.history_events_max = 8).await;
    let client = connect(&node, "alice").await;
    let (_, created) = client
        .create("/feed", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for round in 0..12u8 {
        client.set_data("/feed", &[round], -1).await.unwrap();
    }
    let error = client
        .watch("/feed", WatchMode::Persistent, Some(created.czxid))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(ErrorCode::DataInconsistency),
        "{error:?}"
    );
    assert!(error.to_string().contains("compacted"), "{error}");
    // The client is fine, and a watch without a resume point works.
    let mut stream = client
        .watch("/feed", WatchMode::Persistent, None)
        .await
        .unwrap();
    client.set_data("/feed", b"new", -1).await.unwrap();
    assert_eq!(ready_events(&mut stream).len(), 1);
    node.shutdown().await;
}

#[tokio::test]
async fn a_stream_that_falls_behind_ends_with_the_zxid_to_resume_from() {
    let node = TestNode::start().await;
    let mut config = client_config(&node, "alice");
    config.watch_buffer_len = 2;
    let client = connect_with(config).await;
    client
        .create("/fast", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut stream = client
        .watch("/fast", WatchMode::Persistent, None)
        .await
        .unwrap();
    let mut written = Vec::new();
    for round in 0..5u8 {
        written.push(client.set_data("/fast", &[round], -1).await.unwrap().mzxid);
    }
    assert_eq!(next_event(&mut stream).await.zxid, written[0]);
    assert_eq!(next_event(&mut stream).await.zxid, written[1]);
    let Some(Err(Error::WatchOverflow { resume_after_zxid })) = next_item(&mut stream).await else {
        panic!("the stream ends with an overflow");
    };
    assert_eq!(next_item(&mut stream).await, None);
    // Resuming from the zxid it gave loses nothing, even when the replay overflows the small
    // buffer again: each resume moves on by at least a buffer's worth.
    let mut resume_from = resume_after_zxid;
    let mut delivered = Vec::new();
    while delivered.last() != Some(&written[4]) {
        let mut resumed = client
            .watch("/fast", WatchMode::Persistent, Some(resume_from))
            .await
            .unwrap();
        loop {
            match next_item(&mut resumed).await {
                Some(Ok(event)) => {
                    delivered.push(event.zxid);
                    if event.zxid == written[4] {
                        break;
                    }
                }
                Some(Err(Error::WatchOverflow { resume_after_zxid })) => {
                    resume_from = resume_after_zxid;
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    delivered.dedup();
    assert_eq!(delivered, written[2..].to_vec());
    node.shutdown().await;
}

#[tokio::test]
async fn dropping_the_last_stream_of_a_path_removes_the_servers_watch() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let watches = || node.server.watches();
    let first = client
        .watch("/w", WatchMode::Persistent, None)
        .await
        .unwrap();
    let mut second = client
        .watch("/w", WatchMode::Persistent, None)
        .await
        .unwrap();
    assert!(wait_until(DEADLINE, || watches() == 1).await);
    drop(first);
    // The other stream still follows the path, so the server keeps the watch.
    let (_, created) = client
        .create("/w", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(
        ready_events(&mut second),
        vec![event(EventKind::NodeCreated, "/w", created.czxid)]
    );
    assert_eq!(watches(), 1);
    drop(second);
    assert!(
        wait_until(DEADLINE, || watches() == 0).await,
        "{} watches left",
        watches()
    );
    node.shutdown().await;
}

#[tokio::test]
async fn watches_survive_a_reconnect_and_get_every_event_missed_meanwhile() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let mut session_events = client.session_events();
    for path in ["/w", "/o", "/tree"] {
        client
            .create(path, b"", &Acl::open(), CreateMode::Persistent)
            .await
            .unwrap();
    }
    let mut persistent = client
        .watch("/w", WatchMode::Persistent, None)
        .await
        .unwrap();
    let mut recursive = client
        .watch("/tree", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    let (_, one_shot) = client.exists_watch("/o").await.unwrap();
    let ((_, _), child_watch) = client.get_children_watch("/tree").await.unwrap();
    let before = client.set_data("/w", b"1", -1).await.unwrap();
    assert_eq!(
        next_event(&mut persistent).await,
        event(EventKind::NodeDataChanged, "/w", before.mzxid)
    );

    // The client loses its server: the node moves to a port the client does not know, and while
    // the client retries in vain, another client changes everything it watches.
    let home = node.address();
    let node = node.restart_on(([127, 0, 0, 1], 0).into()).await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Disconnected
    );
    let other = connect(&node, "bob").await;
    let missed_w: Vec<Zxid> = vec![
        other.set_data("/w", b"2", -1).await.unwrap().mzxid,
        other.set_data("/w", b"3", -1).await.unwrap().mzxid,
    ];
    let missed_o = other.set_data("/o", b"changed", -1).await.unwrap().mzxid;
    let (_, leaf) = other
        .create("/tree/leaf", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    other.close().await.unwrap();

    // The node comes back where the client looks for it, within the session timeout.
    let node = node.restart_on(home).await;
    assert_eq!(
        next_session_event(&mut session_events).await,
        SessionEvent::Reconnected {
            session_id: client.session_id()
        }
    );
    // SetWatches with the last zxid seen made the server replay each missed event once.
    assert_eq!(
        vec![
            next_event(&mut persistent).await,
            next_event(&mut persistent).await
        ],
        vec![
            event(EventKind::NodeDataChanged, "/w", missed_w[0]),
            event(EventKind::NodeDataChanged, "/w", missed_w[1]),
        ]
    );
    assert_eq!(
        next_event(&mut recursive).await,
        event(EventKind::NodeCreated, "/tree/leaf", leaf.czxid)
    );
    let fired = timeout(DEADLINE, one_shot).await.unwrap().unwrap();
    assert_eq!(fired, event(EventKind::NodeDataChanged, "/o", missed_o));
    let fired = timeout(DEADLINE, child_watch).await.unwrap().unwrap();
    assert_eq!(
        fired,
        event(EventKind::NodeChildrenChanged, "/tree", leaf.czxid)
    );
    // And the streams go on live, with nothing replayed twice.
    let live = client.set_data("/w", b"4", -1).await.unwrap();
    assert_eq!(
        ready_events(&mut persistent),
        vec![event(EventKind::NodeDataChanged, "/w", live.mzxid)]
    );
    assert!(ready_events(&mut recursive).is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_watch_set_while_another_client_writes_always_fires() {
    // The response that sets a watch must reach the client before the watch's event, even when
    // a write applies right after the read (the client learns of the watch from the response).
    const ROUNDS: usize = 300;
    let node = TestNode::start().await;
    let watcher = connect(&node, "watcher").await;
    let writer = connect(&node, "writer").await;
    writer
        .create("/hot", b"0", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let writing = tokio::spawn(async move {
        let mut round = 0u64;
        loop {
            round += 1;
            if writer
                .set_data("/hot", round.to_string().as_bytes(), -1)
                .await
                .is_err()
            {
                return;
            }
        }
    });
    for round in 0..ROUNDS {
        let (_, watch) = watcher.get_data_watch("/hot").await.unwrap();
        let fired = timeout(DEADLINE, watch)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the one-shot watch never fired"))
            .unwrap();
        assert_eq!(fired.kind, EventKind::NodeDataChanged, "round {round}");
    }
    writing.abort();
    node.shutdown().await;
}

#[tokio::test]
async fn a_recursive_watch_does_not_reveal_nodes_the_watcher_cannot_read() {
    // ZooKeeper 3.9.2 (CVE-2024-23944): an event reaches a watcher only if it may READ the
    // node, so a recursive watch on `/` does not list the paths of nodes hidden from it.
    use polis_client::{Acl, Id, Perms};
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    let only_alice = [Acl::new(Perms::ALL, Id::new("x509", "CN=alice,O=Polis"))];
    let mut stream = bob
        .watch("/", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    alice
        .create("/secret", b"", &only_alice, CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .create("/secret/plan", b"x", &only_alice, CreateMode::Persistent)
        .await
        .unwrap();
    alice.set_data("/secret/plan", b"y", -1).await.unwrap();
    alice.delete("/secret/plan", -1).await.unwrap();
    let open = alice
        .create("/open", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    // Events arrive in zxid order, so once /open's arrives every earlier one would have.
    let first = next_event(&mut stream).await;
    assert_eq!(first.kind, EventKind::NodeCreated);
    assert_eq!(first.path, "/open", "no event of /secret reached bob first");
    assert_eq!(first.zxid, open.1.czxid);
    // Alice, who may read them, sees all of them from the history.
    let mut alice_stream = alice
        .watch("/", WatchMode::PersistentRecursive, Some(0))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.last().is_none_or(|path: &String| path != "/open") {
        seen.push(next_event(&mut alice_stream).await.path);
    }
    assert!(seen.iter().any(|path| path == "/secret/plan"), "{seen:?}");
    // Resuming from the history applies the same rule to bob.
    let mut bob_resumed = bob
        .watch("/", WatchMode::PersistentRecursive, Some(0))
        .await
        .unwrap();
    let mut bob_seen = Vec::new();
    while bob_seen.last().is_none_or(|path: &String| path != "/open") {
        bob_seen.push(next_event(&mut bob_resumed).await.path);
    }
    assert!(
        bob_seen.iter().all(|path| !path.starts_with("/secret")),
        "{bob_seen:?}"
    );
    node.shutdown().await;
}
