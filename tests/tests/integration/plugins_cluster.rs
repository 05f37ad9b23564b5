//! Plugins on a three-node cluster: they run on the leader, and a leader killed while events
//! flow leaves each event's effect in the tree exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use polis_cli::deploy;
use polis_client::{Acl, Client, CreateMode};
use polis_tests::cluster::TestCluster;
use polis_tests::guests::package;

/// Far above what any step needs: reaching it means the awaited thing never happens.
const DEADLINE: Duration = Duration::from_secs(90);
/// Events written in all; the leader is stopped after a third of them.
const EVENTS: usize = 150;

const JOURNAL_MANIFEST: &str = r#"
name = "journal"
version = "1.0.0"
[triggers]
prefixes = ["/in"]
kinds = ["created"]
[capabilities]
write = ["/journal"]
[limits]
events_per_batch_max = 8
"#;

/// Creates `path`, retrying through failovers. Returns once the node exists, whether this call
/// or an earlier attempt whose answer was lost created it.
async fn create_surely(client: &Client, path: &str) {
    let started = Instant::now();
    loop {
        match client
            .create(path, b"", &Acl::open(), CreateMode::Persistent)
            .await
        {
            Ok(_) => return,
            Err(error) if error.is_node_exists() => return,
            Err(error) => {
                assert!(
                    started.elapsed() < DEADLINE,
                    "could not create {path}: {error}"
                );
                let _ = client.wait_connected().await;
            }
        }
    }
}

/// The journal's entries, as event path → how many entries name it.
async fn journal(client: &Client) -> Option<BTreeMap<String, usize>> {
    let (entries, _) = client.get_children("/journal").await.ok()?;
    let mut counts = BTreeMap::new();
    for entry in entries {
        let (data, _) = client.get_data(&format!("/journal/{entry}")).await.ok()?;
        let line = String::from_utf8(data).ok()?;
        let path = line.rsplit(' ').next()?.to_string();
        *counts.entry(path).or_insert(0) += 1;
    }
    Some(counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_while_a_plugin_works_leaves_each_effect_exactly_once() {
    let mut cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    create_surely(&admin, "/in").await;
    create_surely(&admin, "/journal").await;
    deploy::deploy(&admin, &package("polis-test-journal", JOURNAL_MANIFEST))
        .await
        .expect("deployed");

    let first_leader = cluster.leader().await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != first_leader).collect();
    let writer = cluster.client("agency", &survivors).await;
    for index in 0..EVENTS {
        if index == EVENTS / 3 {
            // The plugin is in the middle of its work on the leader: stop that node.
            cluster.stop(first_leader).await;
        }
        create_surely(&writer, &format!("/in/event-{index:04}")).await;
    }

    let reader = cluster.admin(&survivors).await;
    let counts = polis_tests::eventually("the plugin handling every event", DEADLINE, async || {
        journal(&reader)
            .await
            .filter(|counts| counts.values().sum::<usize>() >= EVENTS)
    })
    .await;
    let duplicated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "effects applied twice: {duplicated:?}"
    );
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("/in/event-{i:04}")).collect();
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), expected);

    let new_leader = cluster.leader_among(&survivors).await;
    assert_ne!(new_leader, first_leader);
    let report = deploy::status(&reader, "journal").await.expect("status");
    assert_eq!(report.status.processed_events, EVENTS as u64, "{report:?}");
    cluster.shutdown().await;
}
