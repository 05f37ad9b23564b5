//! Every operation of the Rust client, and its errors, against a real node over QUIC and mutual
//! TLS with certificates from the node's own CA.

use polis_client::{
    Acl, Client, ClientState, CreateMode, Error, ErrorCode, EventKind, Id, Op, OpResult, Perms,
};
use polis_tests::client::{DEADLINE, client_config, connect, connect_with};
use polis_tests::node::TestNode;
use tokio::time::timeout;

/// The `ephemeral_owner` ZooKeeper gives a container node.
const CONTAINER_OWNER: i64 = i64::MIN;
/// The `ephemeral_owner` ZooKeeper gives a TTL node, before the TTL is or-ed in.
const TTL_OWNER_MARK: u64 = 0xFF00_0000_0000_0000;

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

#[tokio::test]
async fn create_makes_nodes_in_every_mode() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    assert!(client.session_id() > 0);
    assert_eq!(client.state(), ClientState::Connected);

    let (path, stat) = client
        .create("/city", b"one", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(path, "/city");
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.data_length, 3);
    assert_eq!(client.last_zxid_seen(), stat.czxid);

    let (_, ephemeral) = client
        .create("/city/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    assert_eq!(ephemeral.ephemeral_owner, client.session_id());

    // Sequential suffixes come from the parent's cversion, which the two creates above bumped.
    let (first, _) = client
        .create(
            "/city/job-",
            b"",
            &Acl::open(),
            CreateMode::PersistentSequential,
        )
        .await
        .unwrap();
    assert_eq!(first, "/city/job-0000000001");
    let (second, second_stat) = client
        .create(
            "/city/job-",
            b"",
            &Acl::open(),
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    assert_eq!(second, "/city/job-0000000002");
    assert_eq!(second_stat.ephemeral_owner, client.session_id());

    let (_, container) = client
        .create("/city/zone", b"", &Acl::open(), CreateMode::Container)
        .await
        .unwrap();
    assert_eq!(container.ephemeral_owner, CONTAINER_OWNER);

    let (_, ttl) = client
        .create(
            "/city/notice",
            b"",
            &Acl::open(),
            CreateMode::PersistentWithTtl { ttl_ms: 60_000 },
        )
        .await
        .unwrap();
    assert_eq!(ttl.ephemeral_owner as u64, TTL_OWNER_MARK | 60_000);
    let (sequential_ttl, _) = client
        .create(
            "/city/notice-",
            b"",
            &Acl::open(),
            CreateMode::PersistentSequentialWithTtl { ttl_ms: 60_000 },
        )
        .await
        .unwrap();
    assert_eq!(sequential_ttl, "/city/notice-0000000005");

    let (mut children, parent) = client.get_children("/city").await.unwrap();
    children.sort();
    assert_eq!(
        children,
        vec![
            "job-0000000001",
            "job-0000000002",
            "lease",
            "notice",
            "notice-0000000005",
            "zone"
        ]
    );
    assert_eq!(parent.num_children, 6);
    assert_eq!(parent.cversion, 6);
    node.shutdown().await;
}

#[tokio::test]
async fn the_server_removes_an_emptied_container_and_an_idle_ttl_node() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/zone", b"", &Acl::open(), CreateMode::Container)
        .await
        .unwrap();
    client
        .create("/zone/unit", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create(
            "/notice",
            b"",
            &Acl::open(),
            CreateMode::PersistentWithTtl { ttl_ms: 50 },
        )
        .await
        .unwrap();
    // A container is only removed once it has had children and has none left.
    client.delete("/zone/unit", -1).await.unwrap();
    deleted(&client, "/zone").await;
    deleted(&client, "/notice").await;
    assert_eq!(client.exists("/zone").await.unwrap(), None);
    assert_eq!(client.exists("/notice").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn create_errors_name_the_reason() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/a", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let exists = client
        .create("/a", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert!(exists.is_node_exists(), "{exists:?}");
    let orphan = client
        .create("/missing/child", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert!(orphan.is_no_node(), "{orphan:?}");
    client
        .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let under_ephemeral = client
        .create("/lease/child", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(
        under_ephemeral.code(),
        Some(ErrorCode::NoChildrenForEphemerals)
    );
    for bad_path in ["relative", "/trailing/", "/double//slash"] {
        let error = client
            .create(bad_path, b"", &Acl::open(), CreateMode::Persistent)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::BadArguments), "{bad_path}");
    }
    let no_ttl = client
        .create(
            "/t",
            b"",
            &Acl::open(),
            CreateMode::PersistentWithTtl { ttl_ms: 0 },
        )
        .await
        .unwrap_err();
    assert_eq!(no_ttl.code(), Some(ErrorCode::BadArguments));
    // The connection is fine after all these refusals.
    assert!(client.exists("/a").await.unwrap().is_some());
    node.shutdown().await;
}

#[tokio::test]
async fn data_over_the_node_limit_or_the_frame_limit_is_refused_and_the_client_goes_on() {
    let node = TestNode::start_with(|config| config.limits.data_len_max = 1024).await;
    let client = connect(&node, "alice").await;
    let refused = client
        .create("/big", &[7u8; 1025], &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::BadArguments), "{refused:?}");
    // Larger than a frame: refused by the client itself, without breaking the connection.
    let frame_len_max = client_config(&node, "alice").frame_len_max;
    let huge = vec![0u8; frame_len_max + 1];
    let too_large = client
        .create("/huge", &huge, &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_err();
    assert!(
        matches!(too_large, Error::RequestTooLarge { max, .. } if max == frame_len_max),
        "{too_large:?}"
    );
    client
        .create("/fits", &[7u8; 1024], &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(client.state(), ClientState::Connected);
    node.shutdown().await;
}

#[tokio::test]
async fn delete_checks_the_version_and_refuses_a_node_with_children() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/d", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/d/child", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client.set_data("/d/child", b"v1", 0).await.unwrap();
    assert!(client.delete("/d", -1).await.unwrap_err().is_not_empty());
    assert!(
        client
            .delete("/d/child", 0)
            .await
            .unwrap_err()
            .is_bad_version()
    );
    client.delete("/d/child", 1).await.unwrap();
    assert!(
        client
            .delete("/d/child", -1)
            .await
            .unwrap_err()
            .is_no_node()
    );
    client.delete("/d", -1).await.unwrap();
    assert_eq!(client.exists("/d").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn get_and_set_data_compare_and_set_on_the_version() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    alice
        .create("/counter", b"0", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let (data, stat) = bob.get_data("/counter").await.unwrap();
    assert_eq!(data, b"0");
    assert_eq!(stat.version, 0);
    assert_eq!(alice.exists("/counter").await.unwrap(), Some(stat));

    // Both read version 0 and race to write: exactly one compare-and-set wins.
    let (first, second) = tokio::join!(
        alice.set_data("/counter", b"alice", 0),
        bob.set_data("/counter", b"bob", 0)
    );
    let (winner, loser) = match (first, second) {
        (Ok(stat), Err(error)) => ((&b"alice"[..], stat), error),
        (Err(error), Ok(stat)) => ((&b"bob"[..], stat), error),
        other => panic!("exactly one write wins: {other:?}"),
    };
    assert!(loser.is_bad_version(), "{loser:?}");
    assert_eq!(winner.1.version, 1);
    let (data, stat) = alice.get_data("/counter").await.unwrap();
    assert_eq!(data, winner.0);
    assert_eq!(stat, winner.1);
    // -1 matches any version.
    let stat = bob.set_data("/counter", b"any", -1).await.unwrap();
    assert_eq!(stat.version, 2);
    assert!(stat.mzxid > stat.czxid);

    assert!(alice.get_data("/missing").await.unwrap_err().is_no_node());
    assert!(
        alice
            .set_data("/missing", b"", -1)
            .await
            .unwrap_err()
            .is_no_node()
    );
    assert_eq!(alice.exists("/missing").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn get_children_lists_names_with_the_parents_stat() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let (root, _) = client.get_children("/").await.unwrap();
    assert_eq!(root, vec!["polis"], "a new tree holds only /polis");
    client
        .create("/districts", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for name in ["north", "south", "east"] {
        client
            .create(
                &format!("/districts/{name}"),
                b"",
                &Acl::open(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
    }
    let (mut children, stat) = client.get_children("/districts").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["east", "north", "south"]);
    assert_eq!(stat.num_children, 3);
    let (leaf, _) = client.get_children("/districts/east").await.unwrap();
    assert!(leaf.is_empty());
    assert!(
        client
            .get_children("/nowhere")
            .await
            .unwrap_err()
            .is_no_node()
    );
    node.shutdown().await;
}

#[tokio::test]
async fn acl_is_read_and_replaced_with_a_version_check() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let alice_only = [Acl::new(Perms::ALL, Id::new("x509", "CN=alice,O=Polis"))];
    alice
        .create("/traffic", b"", &alice_only, CreateMode::Persistent)
        .await
        .unwrap();
    let (acl, stat) = alice.get_acl("/traffic").await.unwrap();
    assert_eq!(acl, alice_only.to_vec());
    assert_eq!(stat.aversion, 0);
    // ZooKeeper's OPEN_ACL_UNSAFE.
    alice
        .create("/open", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let (open, _) = alice.get_acl("/open").await.unwrap();
    assert_eq!(open, vec![Acl::new(Perms::ALL, Id::anyone())]);

    let readable = [
        Acl::new(Perms::ALL, Id::new("x509", "CN=alice,O=Polis")),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    let stat = alice.set_acl("/traffic", &readable, 0).await.unwrap();
    assert_eq!(stat.aversion, 1);
    let stale = alice.set_acl("/traffic", &alice_only, 0).await.unwrap_err();
    assert!(stale.is_bad_version(), "{stale:?}");
    let (acl, _) = alice.get_acl("/traffic").await.unwrap();
    assert_eq!(acl, readable.to_vec());
    assert!(alice.get_acl("/missing").await.unwrap_err().is_no_node());
    let invalid = alice
        .set_acl(
            "/open",
            &[Acl::new(Perms::ALL, Id::new("nonsense", "x"))],
            -1,
        )
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Some(ErrorCode::InvalidAcl), "{invalid:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn check_passes_only_at_the_current_version() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/a", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client.check("/a", 0).await.unwrap();
    client.check("/a", -1).await.unwrap();
    client.set_data("/a", b"x", 0).await.unwrap();
    let stale = client.check("/a", 0).await.unwrap_err();
    assert!(stale.is_bad_version(), "{stale:?}");
    client.check("/a", 1).await.unwrap();
    let missing = client.check("/missing", -1).await.unwrap_err();
    assert!(missing.is_no_node(), "{missing:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn multi_applies_every_operation_and_returns_each_result() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/m", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/m/old", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let results = client
        .multi(vec![
            Op::create("/m/new", b"n", &Acl::open(), CreateMode::Persistent),
            Op::create(
                "/m/seq-",
                b"",
                &Acl::open(),
                CreateMode::PersistentSequential,
            ),
            Op::set_data("/m/new", b"n2", 0),
            Op::check("/m", -1),
            Op::set_acl("/m/new", &[Acl::new(Perms::ALL, Id::anyone())], 0),
            Op::delete("/m/old", 0),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 6);
    let OpResult::Create {
        path,
        stat: created,
    } = &results[0]
    else {
        panic!("{results:?}");
    };
    assert_eq!(path, "/m/new");
    assert!(matches!(&results[1], OpResult::Create { path, .. } if path.starts_with("/m/seq-")));
    let OpResult::SetData { stat: set } = &results[2] else {
        panic!("{results:?}");
    };
    assert_eq!(set.version, 1);
    // All operations of a multi are one transaction.
    assert_eq!(set.mzxid, created.czxid);
    assert_eq!(results[3], OpResult::Check);
    assert!(matches!(&results[4], OpResult::SetAcl { stat } if stat.aversion == 1));
    assert_eq!(results[5], OpResult::Delete);
    let (data, _) = client.get_data("/m/new").await.unwrap();
    assert_eq!(data, b"n2");
    assert_eq!(client.exists("/m/old").await.unwrap(), None);
    node.shutdown().await;
}

#[tokio::test]
async fn a_failed_multi_applies_nothing_and_reports_every_operation() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    client
        .create("/m", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let before = client.exists("/m").await.unwrap().unwrap();
    let error = client
        .multi(vec![
            Op::create("/m/new", b"", &Acl::open(), CreateMode::Persistent),
            Op::check("/m", 0),
            Op::check("/m", 3),
            Op::set_data("/m", b"never", -1),
        ])
        .await
        .unwrap_err();
    let Error::Multi {
        failed_index,
        code,
        message,
        results,
    } = &error
    else {
        panic!("a multi error: {error:?}");
    };
    assert_eq!((*failed_index, *code), (2, ErrorCode::BadVersion));
    assert_eq!(
        results,
        &[
            ErrorCode::Ok,
            ErrorCode::Ok,
            ErrorCode::BadVersion,
            ErrorCode::RuntimeInconsistency,
        ]
    );
    // The reason, as a single operation's error gives it, without the operation named twice.
    assert!(message.contains("version"), "{message}");
    assert!(!message.starts_with("operation"), "{message}");
    assert!(error.is_bad_version());
    assert_eq!(client.exists("/m/new").await.unwrap(), None);
    assert_eq!(client.exists("/m").await.unwrap(), Some(before));
    let missing = client
        .multi(vec![Op::delete("/m/absent", -1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            Error::Multi {
                failed_index: 0,
                code: ErrorCode::NoNode,
                ..
            }
        ),
        "{missing:?}"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn sync_count_descendants_and_ephemerals_answer_for_the_session() {
    let node = TestNode::start().await;
    let alice = connect(&node, "alice").await;
    let bob = connect(&node, "bob").await;
    alice
        .create("/grid", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for index in 0..3 {
        alice
            .create(
                &format!("/grid/a{index}"),
                b"",
                &Acl::open(),
                CreateMode::Ephemeral,
            )
            .await
            .unwrap();
    }
    bob.create("/grid/b", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    bob.create("/bob", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    // After sync, a read through bob sees everything alice wrote before it.
    assert_eq!(bob.sync("/grid").await.unwrap(), "/grid");
    assert_eq!(bob.count_descendants("/grid").await.unwrap(), 4);
    // Everything but the root: /polis, /grid and its 4 children, /bob.
    assert_eq!(bob.count_descendants("/").await.unwrap(), 7);
    assert!(
        bob.count_descendants("/missing")
            .await
            .unwrap_err()
            .is_no_node()
    );

    let mut mine = alice.ephemerals("/").await.unwrap();
    mine.sort();
    assert_eq!(mine, vec!["/grid/a0", "/grid/a1", "/grid/a2"]);
    let mut bobs = bob.ephemerals("/").await.unwrap();
    bobs.sort();
    assert_eq!(bobs, vec!["/bob", "/grid/b"]);
    assert_eq!(bob.ephemerals("/grid").await.unwrap(), vec!["/grid/b"]);
    assert!(alice.ephemerals("/nothing").await.unwrap().is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn calls_from_many_tasks_are_pipelined_on_one_client() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let writers: Vec<_> = (0..50)
        .map(|index| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .create(
                        &format!("/n{index:02}"),
                        b"",
                        &Acl::open(),
                        CreateMode::Persistent,
                    )
                    .await
            })
        })
        .collect();
    let mut zxids = Vec::new();
    for writer in writers {
        let (_, stat) = writer.await.unwrap().unwrap();
        zxids.push(stat.czxid);
    }
    zxids.sort();
    zxids.dedup();
    assert_eq!(zxids.len(), 50, "each create is its own transaction");
    let (children, _) = client.get_children("/").await.unwrap();
    assert_eq!(children.len(), 51);
    node.shutdown().await;
}

#[tokio::test]
async fn the_in_flight_bound_pauses_the_writer_without_stalling_it() {
    let node = TestNode::start().await;
    let mut config = client_config(&node, "alice");
    config.requests_in_flight_max = 1;
    // Pings every 10 s: a writer that only woke up on the ping timer would miss the deadline.
    config.session_timeout_ms = 30_000;
    let client = connect_with(config).await;
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
    node.shutdown().await;
}

#[tokio::test]
async fn close_ends_the_session_at_once_and_later_calls_fail_as_closed() {
    let node = TestNode::start().await;
    let observer = connect(&node, "observer").await;
    // A long session timeout: the ephemeral can only go this soon because the session closed.
    let mut config = client_config(&node, "alice");
    config.session_timeout_ms = 120_000;
    let client = connect_with(config).await;
    client
        .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let (stat, gone) = observer.exists_watch("/lease").await.unwrap();
    assert!(stat.is_some());
    let mut events = client.session_events();
    client.close().await.unwrap();
    assert_eq!(client.state(), ClientState::Closed);
    assert_eq!(
        polis_tests::client::next_session_event(&mut events).await,
        polis_client::SessionEvent::Closed
    );
    let event = timeout(DEADLINE, gone).await.unwrap().unwrap();
    assert_eq!(event.kind, EventKind::NodeDeleted);
    assert_eq!(client.exists("/").await, Err(Error::Closed));
    assert_eq!(client.wait_connected().await, Err(Error::Closed));
    assert!(
        polis_tests::wait_until(DEADLINE, || { node.server.sessions() == 1 }).await,
        "only the observer's session is left"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn no_reachable_server_is_a_connect_error() {
    // A node that was there and is gone: nothing answers on its port any more.
    let node = TestNode::start().await;
    let mut config = client_config(&node, "alice");
    // Stop the server but keep its folder, which holds the client's certificate.
    let TestNode { server, dir, .. } = node;
    server.shutdown().await.unwrap();
    config.connect_timeout_ms = 300;
    let outcome = timeout(DEADLINE, Client::connect(config)).await.unwrap();
    assert!(matches!(outcome, Err(Error::Connect(_))), "{outcome:?}");
    drop(dir);
}

#[tokio::test]
async fn an_unusable_configuration_is_refused_before_any_connection() {
    let node = TestNode::start().await;
    let mut no_servers = client_config(&node, "alice");
    no_servers.servers.clear();
    let outcome = Client::connect(no_servers).await;
    assert!(
        matches!(outcome, Err(Error::InvalidConfig(_))),
        "{outcome:?}"
    );
    let mut missing_files = client_config(&node, "alice");
    missing_files.tls.key_path = node.dir.path().join("no-such-key.pem");
    let outcome = Client::connect(missing_files).await;
    assert!(
        matches!(outcome, Err(Error::InvalidConfig(_))),
        "{outcome:?}"
    );
    assert_eq!(node.server.active_connections(), 0);
    node.shutdown().await;
}

/// ZooKeeper's null data crosses the QUIC protocol as null, apart from empty data; `get_data`
/// reads it as empty for callers that keep no difference.
#[tokio::test]
async fn null_data_reads_back_as_null_apart_from_empty_data() {
    let node = TestNode::start().await;
    let client = connect(&node, "alice").await;
    let (_, stat) = client
        .create_without_data("/no-data", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(stat.data_length, 0);
    client
        .create("/empty", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(client.get_data_or_null("/no-data").await.unwrap().0, None);
    assert_eq!(
        client.get_data_or_null("/empty").await.unwrap().0,
        Some(Vec::new())
    );
    assert_eq!(
        client.get_data("/no-data").await.unwrap().0,
        Vec::<u8>::new()
    );
    client.set_data("/no-data", b"now", -1).await.unwrap();
    assert_eq!(
        client.get_data_or_null("/no-data").await.unwrap().0,
        Some(b"now".to_vec())
    );
    node.shutdown().await;
}
