//! Network partitions with every node running (the peer links cut by fault injection, not nodes
//! stopped), stale reads on a cut-off node, and catch-up by snapshot.

use std::time::{Duration, Instant};

use polis_client::{Acl, Client, CreateMode, ReadConsistency};
use polis_raft::LogCompaction;
use polis_tests::cluster::{CLUSTER_DEADLINE, TestCluster};

/// How long a request on the cut-off side may take to fail: the server's leader wait (set to
/// 1.5 s below) plus a leader-change wait and the round trip, with room for a loaded machine.
const CUT_OFF_ERROR_DEADLINE: Duration = Duration::from_secs(8);

/// The server-side wait for a leader in these tests, so that a cut-off node gives up quickly.
const LEADER_WAIT_MS: u64 = 1_500;

/// The session timeout of the clients on the cut-off side. Their client drops a connection that
/// is silent for two thirds of it, and a cut-off node holds each request (and the pings behind
/// it) for up to the leader wait; this leaves room for two such requests in a row.
const SESSION_TIMEOUT_MS: i32 = 10_000;

/// Waits until node `id` follows `leader` (it has heard from it since the partition healed).
async fn wait_until_following(cluster: &TestCluster, id: u64, leader: u64) {
    let raft = cluster.node(id).raft.clone();
    raft.wait(Some(CLUSTER_DEADLINE))
        .metrics(
            |metrics| metrics.current_leader == Some(leader),
            "following the majority's leader",
        )
        .await
        .unwrap_or_else(|error| panic!("node {id} does not follow node {leader}: {error}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_old_leader_cannot_commit_while_the_majority_elects_and_commits() {
    let cluster =
        TestCluster::start_with(3, |config| config.request_timeout_ms = LEADER_WAIT_MS).await;
    let old_leader = cluster.leader().await;
    let majority: Vec<u64> = (1..=3).filter(|id| *id != old_leader).collect();
    // A session long enough that its client keeps the connection while the cut-off node holds
    // each failing request for the leader wait: the server answers in order, so pings wait too.
    let mut config = cluster.client_config("alice", &[old_leader]);
    config.session_timeout_ms = SESSION_TIMEOUT_MS;
    let minority_client = Client::connect(config).await.expect("connects");
    let majority_client = cluster.client("bob", &majority).await;
    let mut acknowledged = Vec::new();
    for index in 0..10 {
        let (path, _) = majority_client
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
    let (path, _) = minority_client
        .create("/status", b"calm", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    acknowledged.push(path);

    // The old leader alone on one side: it still believes it leads (openraft has no
    // check-quorum), but it cannot commit.
    cluster.partition(&[old_leader]);
    let started = Instant::now();
    let write = minority_client
        .create("/lost", b"", &Acl::open(), CreateMode::Persistent)
        .await;
    let error = write.expect_err("a minority must not acknowledge a write");
    assert!(error.is_retryable(), "the outcome is unknown: {error:?}");
    let read = minority_client.get_data("/status").await;
    let error = read.expect_err("a linearizable read needs a quorum");
    assert!(error.is_connection_loss(), "{error:?}");
    assert!(
        started.elapsed() < 2 * CUT_OFF_ERROR_DEADLINE,
        "the cut-off side answered with errors in {:?}",
        started.elapsed()
    );
    // Its own copy is still there for those who accept it.
    let (data, _) = minority_client
        .with_read_consistency(ReadConsistency::Local)
        .get_data("/status")
        .await
        .expect("a local read on the cut-off node");
    assert_eq!(data, b"calm");

    // The majority elects a leader of its own and goes on.
    let new_leader = cluster.leader_among(&majority).await;
    for index in 0..10 {
        let (path, _) = majority_client
            .create(
                &format!("/during-{index}"),
                b"y",
                &Acl::open(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        acknowledged.push(path);
    }
    majority_client
        .set_data("/status", b"flood", -1)
        .await
        .unwrap();
    // The old leader still believes it leads, but its read lease ran out long before the
    // majority could elect: a linearizable read there must not return the replaced value.
    match minority_client.get_data("/status").await {
        Ok((data, _)) => panic!("a stale linearizable read on the cut-off leader: {data:?}"),
        Err(error) => assert!(error.is_connection_loss(), "{error:?}"),
    }

    // Healed, the old leader steps down, drops its uncommitted entry and catches up: every node
    // holds the same tree, with every acknowledged write and without the refused one.
    cluster.heal();
    wait_until_following(&cluster, old_leader, cluster.leader_among(&majority).await).await;
    let reference = cluster.tree_of(new_leader).await;
    for id in 1..=3 {
        assert_eq!(
            cluster.tree_of(id).await,
            reference,
            "the tree of node {id}"
        );
    }
    for path in &acknowledged {
        assert!(reference.contains_key(path), "{path} was acknowledged");
    }
    assert!(
        !reference.contains_key("/lost"),
        "the minority's write was never committed"
    );
    assert_eq!(reference["/status"].0, b"flood");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_follower_serves_stale_reads_and_refuses_linearizable_ones() {
    let cluster =
        TestCluster::start_with(3, |config| config.request_timeout_ms = LEADER_WAIT_MS).await;
    let leader = cluster.leader().await;
    let lonely = (1..=3).find(|id| *id != leader).expect("a follower");
    let others: Vec<u64> = (1..=3).filter(|id| *id != lonely).collect();
    let mut config = cluster.client_config("alice", &[lonely]);
    config.session_timeout_ms = SESSION_TIMEOUT_MS;
    let client = Client::connect(config).await.expect("connects");
    client
        .create("/status", b"calm", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();

    cluster.partition(&[lonely]);
    let writer = cluster.client("bob", &others).await;
    writer.set_data("/status", b"flood", -1).await.unwrap();

    // A local read answers at once from what the cut-off node has: the old value.
    let local = client.with_read_consistency(ReadConsistency::Local);
    let (data, _) = local.get_data("/status").await.expect("a stale read");
    assert_eq!(data, b"calm", "the cut-off node has not seen the write");
    let (children, _) = local.get_children("/").await.expect("a stale read");
    assert!(children.contains(&"status".to_string()));
    assert!(
        local
            .exists("/status")
            .await
            .expect("a stale read")
            .is_some()
    );

    // A linearizable read there fails rather than answer with the old value.
    let started = Instant::now();
    let error = client
        .get_data("/status")
        .await
        .expect_err("no linearizable read without the leader");
    assert!(error.is_connection_loss(), "{error:?}");
    assert!(
        started.elapsed() < CUT_OFF_ERROR_DEADLINE,
        "failed in {:?}",
        started.elapsed()
    );

    // Healed, the node catches up and its linearizable reads see the write.
    cluster.heal();
    let caught_up = cluster.tree_of(lonely).await;
    assert_eq!(caught_up["/status"].0, b"flood");
    assert_eq!(caught_up, cluster.tree_of(leader).await);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_purged_log_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, |config| {
        config.cluster.log_compaction = LogCompaction {
            snapshot_interval_entries: 20,
            snapshot_log_entries_kept: 0,
            purge_batch_entries: 1,
        };
    })
    .await;
    let leader = cluster.leader().await;
    let behind = (1..=3).find(|id| *id != leader).expect("a follower");
    let writer = cluster.client("alice", &[leader]).await;
    writer
        .create("/district", b"", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    cluster.stop(behind).await;
    // The stopped follower holds at most what the leader had then.
    let stopped_at = cluster
        .node(leader)
        .raft
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);

    for index in 0..100 {
        writer
            .create(
                &format!("/district/street-{index}"),
                format!("{index}").as_bytes(),
                &Acl::open(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
    }
    for index in (0..100).step_by(3) {
        writer
            .set_data(&format!("/district/street-{index}"), b"renamed", 0)
            .await
            .unwrap();
    }
    for index in (1..100).step_by(7) {
        writer
            .delete(&format!("/district/street-{index}"), -1)
            .await
            .unwrap();
    }
    // The leader snapshots and purges its log past the stopped follower's end, so the entries
    // it lacks exist only inside a snapshot now (Raft §7).
    cluster
        .node(leader)
        .raft
        .wait(Some(CLUSTER_DEADLINE))
        .metrics(
            |metrics| {
                metrics
                    .purged
                    .is_some_and(|purged| purged.index > stopped_at)
            },
            "the log purged past the stopped follower",
        )
        .await
        .expect("the leader purges its log");

    cluster.restart(behind).await;
    let reference = cluster.tree_of(leader).await;
    assert_eq!(
        cluster.tree_of(behind).await,
        reference,
        "the returning follower"
    );
    let snapshot = cluster.node(behind).raft.metrics().borrow().snapshot;
    assert!(
        snapshot.is_some_and(|snapshot| snapshot.index > stopped_at),
        "the follower installed a snapshot past where it stopped: {snapshot:?}"
    );
    assert_eq!(reference["/district/street-3"].0, b"renamed");
    assert!(!reference.contains_key("/district/street-1"));
    cluster.shutdown().await;
}
