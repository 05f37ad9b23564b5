//! The client's recipes against a real node: lock, leader election and barrier, each with its
//! fencing token.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polis_client::recipes::{Barrier, LeaderElection, Lock};
use polis_client::{Acl, Client, CreateMode, Zxid};
use polis_tests::client::{DEADLINE, connect};
use polis_tests::node::TestNode;
use tokio::time::timeout;

/// Waits, on child watches rather than a clock, until `path` has `count` children.
async fn children_reach(client: &Client, path: &str, count: usize) {
    loop {
        let outcome = client.get_children_watch(path).await;
        let ((children, _), watch) = match outcome {
            Ok(found) => found,
            // The recipe has not created its folder yet: wait for it.
            Err(error) if error.is_no_node() => {
                let (stat, created) = client.exists_watch(path).await.unwrap();
                if stat.is_none() {
                    timeout(DEADLINE, created).await.unwrap().unwrap();
                }
                continue;
            }
            Err(error) => panic!("{error:?}"),
        };
        if children.len() >= count {
            assert_eq!(children.len(), count, "{children:?}");
            return;
        }
        timeout(DEADLINE, watch)
            .await
            .unwrap_or_else(|_| panic!("{path} reaches {count} children in time"))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_excludes_three_clients_and_each_grant_has_a_larger_fencing_token() {
    const ROUNDS: usize = 4;
    let node = TestNode::start().await;
    let setup = connect(&node, "setup").await;
    // The protected resource remembers the highest token it accepted and takes only larger ones.
    setup
        .create("/resource", b"0", &Acl::open(), CreateMode::Persistent)
        .await
        .unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let grants: Arc<Mutex<Vec<Zxid>>> = Arc::default();
    let mut workers = Vec::new();
    for name in ["pump-a", "pump-b", "pump-c"] {
        let client = connect(&node, name).await;
        let holders = holders.clone();
        let grants = grants.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let guard = Lock::acquire(&client, "/locks/pump").await.unwrap();
                assert_eq!(
                    holders.fetch_add(1, Ordering::SeqCst),
                    0,
                    "nobody else holds the lock"
                );
                let token = guard.fencing_token();
                grants.lock().unwrap().push(token);
                // Use the resource: read the highest token, write ours if it is larger, with a
                // compare-and-set that only fails if someone wrote in between.
                let (data, stat) = client.get_data("/resource").await.unwrap();
                let highest: Zxid = std::str::from_utf8(&data).unwrap().parse().unwrap();
                assert!(token > highest, "token {token} after {highest}");
                client
                    .set_data("/resource", token.to_string().as_bytes(), stat.version)
                    .await
                    .expect("nobody wrote while we held the lock");
                assert_eq!(holders.fetch_sub(1, Ordering::SeqCst), 1);
                guard.release().await.unwrap();
            }
            client.close().await.unwrap();
        }));
    }
    for worker in workers {
        timeout(DEADLINE * 3, worker).await.unwrap().unwrap();
    }
    let grants = grants.lock().unwrap().clone();
    assert_eq!(grants.len(), 3 * ROUNDS);
    assert!(
        grants.windows(2).all(|pair| pair[0] < pair[1]),
        "tokens grow with every grant: {grants:?}"
    );
    let (children, _) = setup.get_children("/locks/pump").await.unwrap();
    assert!(children.is_empty(), "{children:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_waiting_contender_gets_the_lock_when_the_holder_releases() {
    let node = TestNode::start().await;
    let first_client = connect(&node, "first").await;
    let second_client = connect(&node, "second").await;

    let first = Lock::acquire(&first_client, "/locks/pump").await.unwrap();
    assert!(first.node_path().starts_with("/locks/pump/"));
    let waiting = tokio::spawn({
        let client = second_client.clone();
        async move { Lock::acquire(&client, "/locks/pump").await }
    });
    // Wait (on a watch, not a clock) until the second contender has queued its node.
    children_reach(&first_client, "/locks/pump", 2).await;
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
    let third = Lock::try_acquire(&first_client, "/locks/pump")
        .await
        .unwrap()
        .expect("free again");
    third.release().await.unwrap();
    let (children, _) = first_client.get_children("/locks/pump").await.unwrap();
    assert!(children.is_empty(), "{children:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_lock_whose_holder_closes_its_session_passes_to_the_next_contender() {
    let node = TestNode::start().await;
    let holder = connect(&node, "holder").await;
    let waiter = connect(&node, "waiter").await;
    let held = Lock::acquire(&holder, "/locks/valve").await.unwrap();
    let token = held.fencing_token();
    let waiting = tokio::spawn({
        let client = waiter.clone();
        async move { Lock::acquire(&client, "/locks/valve").await }
    });
    children_reach(&waiter, "/locks/valve", 2).await;
    // The holder's session ends without a release: its ephemeral node goes with it.
    holder.close().await.unwrap();
    let next = timeout(DEADLINE, waiting).await.unwrap().unwrap().unwrap();
    assert!(next.fencing_token() > token);
    drop(held);
    next.release().await.unwrap();
    node.shutdown().await;
}

#[tokio::test]
async fn leadership_fails_over_to_the_next_candidate_when_the_leaders_session_closes() {
    let node = TestNode::start().await;
    let observer = connect(&node, "observer").await;
    let view = LeaderElection::new(&observer, "/election/dispatch");
    assert_eq!(view.leader().await.unwrap(), None);

    let candidates: Vec<Client> = {
        let mut candidates = Vec::new();
        for name in ["c0", "c1", "c2"] {
            candidates.push(connect(&node, name).await);
        }
        candidates
    };
    let first = LeaderElection::new(&candidates[0], "/election/dispatch")
        .campaign(b"c0")
        .await
        .unwrap();
    let (elected, mut elections) = tokio::sync::mpsc::unbounded_channel();
    for (index, client) in candidates.iter().enumerate().skip(1) {
        let election = LeaderElection::new(client, "/election/dispatch");
        let elected = elected.clone();
        tokio::spawn(async move {
            let name = format!("c{index}");
            let leadership = election.campaign(name.as_bytes()).await.unwrap();
            elected.send((index, leadership)).unwrap();
        });
    }
    children_reach(&observer, "/election/dispatch", 3).await;
    assert!(elections.try_recv().is_err(), "nobody else is elected");
    let leader = view.leader().await.unwrap().expect("a leader");
    assert_eq!(leader.data, b"c0");
    assert_eq!(leader.node_path, first.node_path());
    assert_eq!(leader.fencing_token, first.fencing_token());

    // The leader's session closes: exactly one successor is elected, with a larger token.
    candidates[0].close().await.unwrap();
    let (second_index, second) = timeout(DEADLINE, elections.recv()).await.unwrap().unwrap();
    assert!(second.fencing_token() > first.fencing_token());
    let leader = view.leader().await.unwrap().expect("a leader");
    assert_eq!(leader.data, format!("c{second_index}").as_bytes());
    assert_eq!(leader.fencing_token, second.fencing_token());
    observer.sync("/").await.unwrap();
    assert!(elections.try_recv().is_err(), "one leader at a time");

    // And once more, down to the last candidate.
    candidates[second_index].close().await.unwrap();
    let (third_index, third) = timeout(DEADLINE, elections.recv()).await.unwrap().unwrap();
    assert_ne!(third_index, second_index);
    assert!(third.fencing_token() > second.fencing_token());
    // Resigning leaves the election empty.
    third.resign().await.unwrap();
    assert_eq!(view.leader().await.unwrap(), None);
    drop(first);
    drop(second);
    node.shutdown().await;
}

#[tokio::test]
async fn a_barrier_of_three_opens_only_when_all_three_have_entered() {
    let node = TestNode::start().await;
    let clients: Vec<Client> = {
        let mut clients = Vec::new();
        for name in ["north", "south", "east"] {
            clients.push(connect(&node, name).await);
        }
        clients
    };
    let path = "/barriers/evacuation-1";
    let early: Vec<_> = clients[..2]
        .iter()
        .map(|client| {
            let barrier = Barrier::new(client, path);
            tokio::spawn(async move { barrier.enter(3).await })
        })
        .collect();
    children_reach(&clients[2], path, 2).await;
    assert!(
        early.iter().all(|task| !task.is_finished()),
        "two of three wait at the barrier"
    );
    let last = Barrier::new(&clients[2], path).enter(3).await.unwrap();
    let mut passes = vec![last];
    for task in early {
        passes.push(timeout(DEADLINE, task).await.unwrap().unwrap().unwrap());
    }
    // Every participant has the same token: the zxid that created the node completing the
    // barrier, which is the newest of the three.
    let token = passes[0].fencing_token();
    assert!(passes.iter().all(|pass| pass.fencing_token() == token));
    let mut created = Vec::new();
    for pass in &passes {
        let stat = clients[0].exists(pass.node_path()).await.unwrap().unwrap();
        created.push(stat.czxid);
    }
    assert_eq!(created.iter().max(), Some(&token));

    // Leaving is a barrier too: each returns once all have left.
    let leaving: Vec<_> = passes
        .into_iter()
        .map(|pass| tokio::spawn(pass.leave()))
        .collect();
    for task in leaving {
        timeout(DEADLINE, task).await.unwrap().unwrap().unwrap();
    }
    let (children, _) = clients[0].get_children(path).await.unwrap();
    assert_eq!(children, vec!["ready"]);
    node.shutdown().await;
}
