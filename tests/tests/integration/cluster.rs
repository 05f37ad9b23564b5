//! A three-node cluster over real QUIC and redb: replication, forwarding, failover, sessions.

use std::time::Duration;

use futures::StreamExt;
use polis_client::{Acl, CreateMode, WatchMode};
use polis_tests::cluster::{CLUSTER_DEADLINE, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_any_node_is_read_on_every_node() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    // Written through a follower: forwarded to the leader, committed by a majority.
    let writer = cluster.client("alice", &[follower]).await;
    let (path, _) = writer
        .create("/district", b"north", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for id in 1..=3 {
        let reader = cluster.client("bob", &[id]).await;
        // Linearizable by default: no node may answer with a state older than the write.
        let (data, stat) = reader.get_data(&path).await.unwrap();
        assert_eq!(data, b"north", "node {id}");
        assert_eq!(stat.version, 0);
        reader.close().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_one_node_sees_a_write_made_on_another() {
    let cluster = TestCluster::start(3).await;
    let watcher = cluster.client("alice", &[1]).await;
    let writer = cluster.client("bob", &[3]).await;
    let mut stream = watcher
        .watch("/alerts", WatchMode::PersistentRecursive, None)
        .await
        .unwrap();
    writer
        .create("/alerts", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    writer
        .create(
            "/alerts/flood",
            b"river",
            &Acl::open(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    for expected in ["/alerts", "/alerts/flood"] {
        let event = tokio::time::timeout(CLUSTER_DEADLINE, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .unwrap();
        assert_eq!(event.path, expected);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_leader_dies_a_new_leader_commits_and_nothing_acknowledged_is_lost() {
    let mut cluster = TestCluster::start(3).await;
    let old_leader = cluster.leader().await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != old_leader).collect();
    let client = cluster.client("alice", &survivors).await;
    let mut acknowledged = Vec::new();
    for index in 0..20 {
        let (path, _) = client
            .create(
                &format!("/before-{index}"),
                b"x",
                &Acl::open(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        acknowledged.push(path);
    }
    cluster.stop(old_leader).await;
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, old_leader);
    // The survivors form a majority: writes go on.
    let (path, _) = client
        .create("/after", b"y", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    acknowledged.push(path);
    // The old leader comes back, catches up from the log, and holds every acknowledged write.
    cluster.restart(old_leader).await;
    let returning = cluster.client("bob", &[old_leader]).await;
    for path in &acknowledged {
        assert!(
            returning.exists(path).await.unwrap().is_some(),
            "{path} is on the restarted node"
        );
    }
    cluster.shutdown().await;
}

/// A leader sends an entry to its followers while its own write of it is in flight (Raft thesis
/// §10.2.1), so a crash can lose entries a follower holds. Were it to lead again in the same term
/// after a quick restart, as openraft 0.9 lets a node do, it would write other entries at the
/// same indexes under the same term, and the follower would keep its own: replicas would differ
/// for good (found by a SIGKILL fault run). It must win an election in a new term first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_back_at_once_does_not_lead_again_in_its_old_term() {
    let mut cluster = TestCluster::start(3).await;
    let old_leader = cluster.leader().await;
    let old_term = cluster
        .node(old_leader)
        .raft
        .metrics()
        .borrow()
        .current_term;
    cluster.stop(old_leader).await;
    // Back before the followers' election timeout has run out.
    cluster.restart(old_leader).await;
    let deadline = std::time::Instant::now() + CLUSTER_DEADLINE;
    let new_term = loop {
        for id in 1..=3 {
            let metrics = cluster.node(id).raft.metrics().borrow().clone();
            assert!(
                !(metrics.current_leader == Some(id) && metrics.current_term == old_term),
                "node {id} leads in term {old_term}, the term node {old_leader} led before its restart"
            );
        }
        let leader = cluster
            .node(old_leader)
            .raft
            .metrics()
            .borrow()
            .current_leader;
        if let Some(leader) = leader {
            break cluster.node(leader).raft.metrics().borrow().current_term;
        }
        assert!(std::time::Instant::now() < deadline, "no leader in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(new_term > old_term, "term {new_term} after {old_term}");
    // And the cluster writes on, every node with the same tree.
    let client = cluster.client("alice", &[1, 2, 3]).await;
    let (path, stat) = client
        .create("/after-restart", b"x", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for id in 1..=3 {
        let reader = cluster.client("auditor", &[id]).await;
        reader.sync("/").await.unwrap();
        let found = reader.exists(&path).await.unwrap();
        assert_eq!(
            found.map(|found| found.czxid),
            Some(stat.czxid),
            "node {id}"
        );
        reader.close().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_node_cannot_commit_and_its_clients_get_errors() {
    let mut cluster = TestCluster::start_with(3, |config| config.request_timeout_ms = 1_500).await;
    let leader = cluster.leader().await;
    let lonely = (1..=3).find(|id| *id != leader).expect("a follower");
    let client = cluster.client("alice", &[lonely]).await;
    client
        .create("/ok", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    // The two other nodes go away: the remaining one is a minority.
    for id in (1..=3).filter(|id| *id != lonely) {
        cluster.stop(id).await;
    }
    let write = client
        .create("/lost", b"", &Acl::open(), CreateMode::Persistent)
        .await;
    assert!(write.is_err(), "a minority must not acknowledge a write");
    let read = client.get_data("/ok").await;
    assert!(read.is_err(), "a linearizable read needs a quorum");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_of_a_live_session_survive_a_leader_failover() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let home = (1..=3).find(|id| *id != leader).expect("a follower");
    let owner = cluster.client("alice", &[home]).await;
    owner
        .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    cluster.stop(leader).await;
    cluster.leader().await;
    // Longer than the session timeout (4 s): the new leader gave the session a fresh timeout
    // and the owner's pings, through its node, keep renewing it.
    let observer = cluster.client("bob", &[home]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < deadline {
        assert!(
            observer.exists("/lease").await.unwrap().is_some(),
            "the live session's ephemeral is still there"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_node_dies_resumes_its_session_on_another() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let first = (1..=3).find(|id| *id != leader).expect("a follower");
    let second = (1..=3)
        .find(|id| *id != leader && *id != first)
        .expect("another");
    let client = cluster.client("alice", &[first, second]).await;
    let session_id = client.session_id();
    client
        .create("/lease", b"", &Acl::open(), CreateMode::Ephemeral)
        .await
        .unwrap();
    cluster.stop(first).await;
    // The client reconnects to the other node with its session id and password.
    let deadline = std::time::Instant::now() + CLUSTER_DEADLINE;
    loop {
        match client.exists("/lease").await {
            Ok(stat) => {
                assert!(stat.is_some());
                break;
            }
            Err(error) if error.is_retryable() && std::time::Instant::now() < deadline => {
                client.wait_connected().await.ok();
            }
            Err(error) => panic!("the session did not come back: {error}"),
        }
    }
    assert_eq!(client.session_id(), session_id, "the same session");
    cluster.shutdown().await;
}

/// The handshakes of every running node's peer connections, dialled and accepted. Counted per
/// node, not from `/metrics`: the recorder is global to the process, where other tests' clusters
/// run at the same time.
fn peer_handshakes(cluster: &TestCluster) -> u64 {
    cluster
        .members
        .iter()
        .filter_map(|member| member.server.as_ref())
        .map(|server| {
            let (dials, accepts) = server.node.peer_handshakes();
            dials + accepts
        })
        .sum()
}

/// Peers keep their connections (issue 12): once every link is up, a load of forwarded writes,
/// ReadIndex rounds, replication and heartbeats through every node costs no new mutual-TLS
/// handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_cluster_makes_no_peer_handshakes_in_steady_state() {
    let cluster = TestCluster::start(3).await;
    let mut clients = Vec::new();
    for id in 1..=3 {
        clients.push(cluster.client("alice", &[id]).await);
    }
    // A write and a read through every node first: each dials the links it will use.
    for (index, client) in clients.iter().enumerate() {
        let path = format!("/warm-{index}");
        client
            .create(&path, b"", &Acl::open(), CreateMode::Persistent)
            .await
            .unwrap();
        client.get_data(&path).await.unwrap();
    }
    let before = peer_handshakes(&cluster);
    assert!(before > 0, "the handshakes of the start are counted");

    let load = clients
        .iter()
        .enumerate()
        .map(|(index, client)| async move {
            let path = format!("/warm-{index}");
            for round in 0..150u32 {
                client
                    .set_data(&path, &round.to_be_bytes(), -1)
                    .await
                    .unwrap();
                let (data, _) = client.get_data(&path).await.unwrap();
                assert_eq!(data, round.to_be_bytes());
            }
        });
    futures::future::join_all(load).await;

    let after = peer_handshakes(&cluster);
    assert_eq!(
        after, before,
        "no peer connection was dialled again under load"
    );
    cluster.shutdown().await;
}

/// Issue 13: a limit decides whether a committed write succeeds, so replicas configured with
/// different `[limits]` used to diverge silently. The limits are cluster state: the leader
/// proposes its configured ones, every replica applies every write under them, and a new leader
/// with other limits brings its own at one zxid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_configured_with_different_limits_apply_the_leaders() {
    let limit_of = |id: u64| 1_000 * id as usize;
    let mut cluster = TestCluster::start_with(3, |config| {
        config.limits.data_len_max = 1_000 * config.cluster.node_id as usize;
    })
    .await;
    let leader = cluster.leader().await;
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let client = cluster.client("alice", &others).await;
    let at_the_limit = vec![b'x'; limit_of(leader)];
    client
        .create("/edge", &at_the_limit, &Acl::open(), CreateMode::Persistent)
        .await
        .expect("data at the leader's limit is accepted, whatever the follower's own");
    let over = vec![b'x'; limit_of(leader) + 1];
    let refused = client
        .create("/over", &over, &Acl::open(), CreateMode::Persistent)
        .await
        .expect_err("one byte over the leader's limit is refused");
    assert!(refused.to_string().contains("data_len_max"), "{refused}");
    let applied_limit = |cluster: &TestCluster, id: u64| {
        let node = cluster.node(id).clone();
        async move { node.reader.read().await.limits().data_len_max }
    };
    for id in 1..=3 {
        // A linearizable read on the node waits until it has applied the write, and so the
        // limits proposed before it.
        let reader = cluster.client("carol", &[id]).await;
        assert_eq!(
            reader.get_data("/edge").await.unwrap().0.len(),
            limit_of(leader)
        );
        reader.close().await.unwrap();
        assert_eq!(
            applied_limit(&cluster, id).await,
            limit_of(leader),
            "node {id} applies the leader's limits"
        );
    }
    let trees: Vec<_> = futures::future::join_all((1..=3).map(|id| cluster.tree_of(id))).await;
    assert!(trees.windows(2).all(|pair| pair[0] == pair[1]));
    // A new leader configured otherwise brings its own limits with its first write.
    cluster.stop(leader).await;
    let new_leader = cluster.leader().await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let client = cluster.client("bob", &survivors).await;
    client
        .create("/after", b"y", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    for id in survivors {
        let reader = cluster.client("carol", &[id]).await;
        assert!(reader.exists("/after").await.unwrap().is_some());
        reader.close().await.unwrap();
        assert_eq!(
            applied_limit(&cluster, id).await,
            limit_of(new_leader),
            "node {id}"
        );
    }
    cluster.shutdown().await;
}

/// Raft thesis §6.3: a write whose proposal had an unknown outcome (the leader died with it in
/// flight) is proposed again under its write id, and the tree applies it at most once. Eight
/// sessions on a follower create sequential nodes, each with data of its own, while the leader
/// is stopped: every acknowledged create is there once, and no create is there twice (a
/// sequential create applied twice would leave two nodes with the same data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_flight_across_a_leader_failover_take_effect_at_most_once() {
    const WRITERS: usize = 8;
    const CREATES_PER_WRITER: usize = 60;
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let observer = cluster.client("alice", &[follower]).await;
    observer
        .create("/queue", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        // A session timeout long enough that a write may wait out the election for its retry
        // (a third of it: the requests behind a held write wait too).
        let mut config = cluster.client_config("alice", &[follower]);
        config.session_timeout_ms = 30_000;
        let client = polis_client::Client::connect(config)
            .await
            .expect("connects");
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for index in 0..CREATES_PER_WRITER {
                let data = format!("{writer}-{index}");
                let created = client
                    .create(
                        "/queue/item-",
                        data.as_bytes(),
                        &Acl::open(),
                        CreateMode::PersistentSequential,
                    )
                    .await;
                match created {
                    Ok(_) => acknowledged.push(data),
                    Err(error) => assert!(error.is_retryable(), "{error:?}"),
                }
            }
            acknowledged
        }));
    }
    // Stop the leader while the creates flow.
    polis_tests::eventually("the creates to start", CLUSTER_DEADLINE, async || {
        let created = observer
            .get_children("/queue")
            .await
            .map_or(0, |(children, _)| children.len());
        (created >= WRITERS * 4).then_some(())
    })
    .await;
    cluster.stop(leader).await;
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("the writer finishes"));
    }

    let (children, _) = observer.get_children("/queue").await.unwrap();
    let mut found = std::collections::BTreeMap::new();
    for child in &children {
        let (data, _) = observer.get_data(&format!("/queue/{child}")).await.unwrap();
        let data = String::from_utf8(data).expect("utf-8 data");
        if let Some(earlier) = found.insert(data.clone(), child.clone()) {
            panic!("{data} was created twice: {earlier} and {child}");
        }
    }
    for data in &acknowledged {
        assert!(
            found.contains_key(data),
            "the acknowledged create {data} is missing"
        );
    }
    assert!(
        acknowledged.len() > WRITERS * CREATES_PER_WRITER / 2,
        "most creates succeed across the failover: {} of {}",
        acknowledged.len(),
        WRITERS * CREATES_PER_WRITER
    );
    cluster.shutdown().await;
}
