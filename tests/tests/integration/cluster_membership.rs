//! Runtime membership change over real QUIC: learners that join a running cluster, catch up and
//! serve reads without ever voting; promotion to voter and removal of a voter through joint
//! consensus while a writer keeps writing; cluster administration for administrators only.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polis_client::{Acl, Client, CreateMode, ErrorCode, MemberKind, NodeRole};
use polis_raft::{ClusterView, NodeRole as RaftRole};
use polis_tests::cluster::{CLUSTER_DEADLINE, TestCluster};
use polis_tests::wait_until;

/// The learner's id in these tests.
const LEARNER: u64 = 4;

/// Node `id`'s own view of the cluster, from its openraft metrics.
fn view(cluster: &TestCluster, id: u64) -> ClusterView {
    ClusterView::from_metrics(&cluster.node(id).raft.metrics().borrow())
}

/// Starts node [`LEARNER`] to join `cluster` and has an administrator add it as a learner,
/// waiting (bounded) until it holds the log up to its admission.
async fn add_learner(cluster: &mut TestCluster, admin: &Client) {
    let (peer, client) = cluster.start_joining(LEARNER).await;
    // Before it is added, the joining node founded nothing and is no member of anything.
    let joining = view(cluster, LEARNER);
    assert_eq!(joining.role, RaftRole::Learner);
    assert!(joining.members.is_empty(), "{joining:?}");
    let added = admin
        .add_learner(
            LEARNER,
            &peer.to_string(),
            &client.to_string(),
            Some(Duration::from_secs(1)),
        )
        .await
        .expect("the learner is added");
    let learner = added
        .status
        .member(LEARNER)
        .expect("the learner is a member");
    assert_eq!(learner.kind, MemberKind::Learner);
    assert_eq!(learner.peer_address, peer.to_string());
    assert_eq!(learner.client_address, client.to_string());
    if !added.caught_up {
        wait_for_status(admin, "the learner to catch up", |status| {
            status
                .member(LEARNER)
                .and_then(|member| member.matched_index)
                .is_some_and(|matched| matched >= added.membership_log_index)
        })
        .await;
    }
}

/// Polls the cluster status until `condition` holds, for at most [`CLUSTER_DEADLINE`], and
/// returns that status.
async fn wait_for_status(
    admin: &Client,
    what: &str,
    mut condition: impl FnMut(&polis_client::ClusterStatus) -> bool,
) -> polis_client::ClusterStatus {
    polis_tests::eventually(what, CLUSTER_DEADLINE, async || {
        admin
            .cluster_status()
            .await
            .ok()
            .filter(|status| condition(status))
    })
    .await
}

/// A failure whose outcome is unknown: the connection broke, or the server could not reach the
/// leader (which it reports as ZooKeeper's ConnectionLoss code).
fn outcome_unknown(error: &polis_client::Error) -> bool {
    error.is_retryable() || error.code() == Some(ErrorCode::ConnectionLoss)
}

async fn create(client: &Client, path: &str, data: &[u8]) {
    client
        .create(path, data, &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap_or_else(|error| panic!("creating {path}: {error}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_added_at_runtime_catches_up_and_serves_reads() {
    let mut cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    let writer = cluster.client("alice", &[1, 2, 3]).await;
    create(&writer, "/district", b"").await;
    for index in 0..20 {
        create(&writer, &format!("/district/before-{index}"), b"old").await;
    }

    add_learner(&mut cluster, &admin).await;
    for index in 0..20 {
        create(&writer, &format!("/district/after-{index}"), b"new").await;
    }

    // A client of the learner alone reads what was written before and after it joined
    // (linearizable reads: the learner asks the leader for its commit index, then waits).
    let reader = cluster.client("bob", &[LEARNER]).await;
    for index in 0..20 {
        let (data, _) = reader
            .get_data(&format!("/district/before-{index}"))
            .await
            .unwrap();
        assert_eq!(data, b"old");
        let (data, _) = reader
            .get_data(&format!("/district/after-{index}"))
            .await
            .unwrap();
        assert_eq!(data, b"new");
    }
    let (children, _) = reader.get_children("/district").await.unwrap();
    assert_eq!(children.len(), 40);
    // A write through the learner is forwarded to the leader and read back on a voter.
    create(&reader, "/district/via-learner", b"observer").await;
    let voter = cluster.client("carol", &[1]).await;
    let (data, _) = voter.get_data("/district/via-learner").await.unwrap();
    assert_eq!(data, b"observer");

    // The learner is in the membership, but not among the voters.
    let learner_view = view(&cluster, LEARNER);
    assert_eq!(learner_view.role, RaftRole::Learner);
    assert_eq!(learner_view.voter_ids(), BTreeSet::from([1, 2, 3]));
    assert!(!learner_view.member(LEARNER).expect("a member").voter);
    let leader = cluster.leader().await;
    assert_eq!(
        view(&cluster, leader).voter_ids(),
        BTreeSet::from([1, 2, 3])
    );

    // The status, asked of the learner, names it and the leader's view of the members.
    let learner_admin = cluster.admin(&[LEARNER]).await;
    // The leader reports a member's matched index once that member has answered an append since
    // the leader took office, which may trail the writes above by a moment.
    let status = polis_tests::city::eventually("every member matched by the leader", || async {
        let status = learner_admin.cluster_status().await.ok()?;
        status
            .members
            .iter()
            .all(|member| member.matched_index.is_some())
            .then_some(status)
    })
    .await;
    assert_eq!(status.node_id, LEARNER);
    assert_eq!(status.role, NodeRole::Learner);
    assert_eq!(status.leader_id, Some(leader));
    assert!(status.from_leader, "{status:?}");
    assert_eq!(status.voters(), BTreeSet::from([1, 2, 3]));
    assert_eq!(status.learners(), BTreeSet::from([LEARNER]));
    assert!(!status.joint);
    for member in &status.members {
        assert!(member.matched_index.is_some(), "{member:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_never_votes_nor_leads_nor_makes_a_quorum() {
    let mut cluster = TestCluster::start_with(3, |config| config.request_timeout_ms = 2_000).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    add_learner(&mut cluster, &admin).await;
    let via_learner = cluster.client("alice", &[LEARNER]).await;
    create(&via_learner, "/first", b"").await;

    // The leader goes: the two other voters elect a new one, never the learner.
    let old_leader = cluster.leader().await;
    cluster.stop(old_leader).await;
    let mut learner_roles = BTreeSet::new();
    let elected = wait_until(CLUSTER_DEADLINE, || {
        learner_roles.insert(format!("{:?}", view(&cluster, LEARNER).role));
        cluster.running().iter().any(|id| {
            *id != LEARNER && cluster.node(*id).raft.metrics().borrow().current_leader == Some(*id)
        })
    })
    .await;
    assert!(elected, "the remaining voters elect a leader");
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, LEARNER);
    assert_ne!(new_leader, old_leader);
    assert_eq!(
        learner_roles,
        BTreeSet::from([format!("{:?}", RaftRole::Learner)]),
        "the learner was a learner throughout the election"
    );
    assert_eq!(
        view(&cluster, LEARNER).voter_ids(),
        BTreeSet::from([1, 2, 3])
    );
    // Writes go on through the learner, to the new leader, once it has heard of it.
    assert!(
        wait_until(CLUSTER_DEADLINE, || view(&cluster, LEARNER).leader
            == Some(new_leader))
        .await,
        "the learner follows the new leader"
    );
    create(&via_learner, "/second", b"").await;
    let (_, stat) = via_learner.get_data("/second").await.unwrap();
    assert!(stat.czxid > 0);

    // One voter and the learner are not a quorum of {1, 2, 3}: nothing commits.
    let last_voter = (1..=3)
        .find(|id| *id != old_leader && *id != new_leader)
        .expect("a third voter");
    cluster.stop(new_leader).await;
    let lost = via_learner
        .create("/third", b"", &Acl::open(), CreateMode::Persistent)
        .await;
    assert!(lost.is_err(), "a learner's acknowledgement makes no quorum");
    assert_eq!(view(&cluster, LEARNER).role, RaftRole::Learner);
    let remaining = view(&cluster, last_voter);
    assert_ne!(remaining.leader, Some(LEARNER));
    assert_ne!(remaining.role, RaftRole::Leader, "{remaining:?}");

    // A voter comes back: a majority again, and the write can be made.
    cluster.restart(old_leader).await;
    let leader = cluster.leader().await;
    assert_ne!(leader, LEARNER);
    // (A restarted leader may believe for a moment that it still leads its old term, so the
    // leader to follow is the one of the learner's term.)
    assert!(
        wait_until(CLUSTER_DEADLINE, || {
            let learner = view(&cluster, LEARNER);
            learner.leader.is_some_and(|leader| {
                if !cluster.running().contains(&leader) {
                    return false;
                }
                let leading = view(&cluster, leader);
                leading.role == RaftRole::Leader && leading.term == learner.term
            })
        })
        .await,
        "the learner follows the leader"
    );
    let deadline = Instant::now() + CLUSTER_DEADLINE;
    loop {
        match via_learner
            .create("/third", b"", &Acl::open(), CreateMode::Persistent)
            .await
        {
            Ok(_) => break,
            // The failed attempt above may have been committed after all, once a quorum was back.
            Err(error) if error.is_node_exists() => break,
            Err(error) if outcome_unknown(&error) && Instant::now() < deadline => {
                via_learner.wait_connected().await.ok();
            }
            Err(error) => panic!("the write after recovery failed: {error}"),
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_a_learner_and_removing_the_leader_under_load_loses_no_acknowledged_write() {
    let mut cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    add_learner(&mut cluster, &admin).await;
    // The old voter to remove: the leader itself, the hardest case (it must hand over).
    let removed = cluster.leader().await;
    let staying: Vec<u64> = [1, 2, 3, LEARNER]
        .into_iter()
        .filter(|id| *id != removed)
        .collect();

    let writer = cluster.client("alice", &staying).await;
    create(&writer, "/load", b"").await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (writer, acknowledged, stop) = (writer.clone(), acknowledged.clone(), stop.clone());
        async move {
            let mut unknown = 0;
            let mut index = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/load/w-{index}");
                index += 1;
                match writer
                    .create(&path, b"x", &Acl::open(), CreateMode::Persistent)
                    .await
                {
                    Ok(_) => acknowledged.lock().unwrap().push(path),
                    // An election is under way: the outcome of this one is unknown, and it is
                    // not counted.
                    Err(error) if outcome_unknown(&error) => {
                        unknown += 1;
                        writer.wait_connected().await.ok();
                    }
                    Err(error) => panic!("the writer failed: {error}"),
                }
            }
            unknown
        }
    });
    let count = || acknowledged.lock().unwrap().len();
    assert!(wait_until(CLUSTER_DEADLINE, || count() >= 20).await);

    // Promote the learner: joint consensus {1,2,3} -> {1,2,3,4}.
    let promoted = admin
        .promote(LEARNER)
        .await
        .expect("the learner is promoted");
    assert_eq!(promoted.voters(), BTreeSet::from([1, 2, 3, LEARNER]));
    assert!(promoted.learners().is_empty());
    assert!(!promoted.joint);
    let before_removal = count();
    assert!(wait_until(CLUSTER_DEADLINE, || count() >= before_removal + 20).await);

    // Remove the leader: it commits the configuration without itself, then steps down.
    let remaining = admin
        .remove_member(removed)
        .await
        .expect("the voter is removed");
    let expected_voters: BTreeSet<u64> = staying.iter().copied().collect();
    assert_eq!(remaining.voters(), expected_voters);
    assert!(remaining.member(removed).is_none(), "{remaining:?}");
    let after_removal = count();
    assert!(
        wait_until(CLUSTER_DEADLINE, || count() >= after_removal + 20).await,
        "writes go on after the removal"
    );
    stop.store(true, Ordering::Relaxed);
    let unknown = task.await.expect("the writer ends");
    let acknowledged = acknowledged.lock().unwrap().clone();
    println!(
        "{} writes acknowledged, {unknown} with an unknown outcome",
        acknowledged.len()
    );

    // An operator stops the removed node. The others elect among themselves.
    cluster.stop(removed).await;
    let leader = cluster.leader().await;
    assert!(staying.contains(&leader));
    // Each node learns the configuration when it replicates it, which may trail the election
    // by a moment on a busy machine.
    for id in &staying {
        let settled = wait_until(CLUSTER_DEADLINE, || {
            let node_view = view(&cluster, *id);
            node_view.voter_ids() == expected_voters && node_view.role != RaftRole::Learner
        })
        .await;
        assert!(
            settled,
            "node {id} votes in the new configuration: {:?}",
            view(&cluster, *id)
        );
    }
    // Every acknowledged write is on every remaining member.
    for id in &staying {
        let reader = cluster.client("bob", &[*id]).await;
        let (children, _) = reader.get_children("/load").await.unwrap();
        let present: BTreeSet<String> = children
            .into_iter()
            .map(|child| format!("/load/{child}"))
            .collect();
        for path in &acknowledged {
            assert!(present.contains(path), "{path} is on node {id}");
        }
        reader.close().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_administration_is_for_administrators_and_refuses_invalid_changes() {
    let cluster = TestCluster::start(1).await;
    let user = cluster.client("alice", &[1]).await;
    let no_auth = |error: polis_client::Error| {
        assert!(error.is_no_auth(), "expected NoAuth, got {error}");
    };
    no_auth(user.cluster_status().await.unwrap_err());
    no_auth(
        user.add_learner(7, "127.0.0.1:1", "127.0.0.1:2", None)
            .await
            .unwrap_err(),
    );
    no_auth(user.change_membership(&[1], &[], None).await.unwrap_err());
    no_auth(user.promote(7).await.unwrap_err());
    no_auth(user.remove_member(1).await.unwrap_err());

    let admin = cluster.admin(&[1]).await;
    let status = admin.cluster_status().await.unwrap();
    assert_eq!(status.node_id, 1);
    assert_eq!(status.role, NodeRole::Leader);
    assert_eq!(status.leader_id, Some(1));
    assert!(status.from_leader);
    assert_eq!(status.voters(), BTreeSet::from([1]));
    let code = |error: polis_client::Error| error.code();
    assert_eq!(
        code(admin.change_membership(&[], &[], None).await.unwrap_err()),
        Some(ErrorCode::BadArguments),
        "no voter left"
    );
    assert_eq!(
        code(
            admin
                .change_membership(&[1, 9], &[], None)
                .await
                .unwrap_err()
        ),
        Some(ErrorCode::BadArguments),
        "a voter that is not a member"
    );
    assert_eq!(
        code(admin.remove_member(1).await.unwrap_err()),
        Some(ErrorCode::BadArguments),
        "the last voter"
    );
    assert_eq!(
        code(
            admin
                .change_membership(&[1], &[], Some(status.membership_log_index + 1))
                .await
                .unwrap_err()
        ),
        Some(ErrorCode::BadVersion),
        "a stale membership"
    );
    assert_eq!(
        code(
            admin
                .add_learner(7, "no-port", "127.0.0.1:2", None)
                .await
                .unwrap_err()
        ),
        Some(ErrorCode::BadArguments),
        "an address without a port"
    );
    assert_eq!(
        code(
            admin
                .add_learner(1, "127.0.0.1:1", "127.0.0.1:2", None)
                .await
                .unwrap_err()
        ),
        Some(ErrorCode::BadArguments),
        "a voter cannot become a learner"
    );
    // The unchanged membership is still in effect.
    let after = admin.cluster_status().await.unwrap();
    assert_eq!(after.voters(), BTreeSet::from([1]));
    assert_eq!(after.membership_log_index, status.membership_log_index);
    cluster.shutdown().await;
}
