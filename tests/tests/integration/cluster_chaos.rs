//! Repeated stops and restarts of random nodes under write load: no acknowledged write is lost.
//!
//! The seed is printed; `POLIS_CHAOS_SEED=<n>` replays a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use polis_client::{Acl, CreateMode};
use polis_tests::SplitMix64;
use polis_tests::cluster::{CLUSTER_DEADLINE, TestCluster};
use tokio::sync::Mutex;

const ROUNDS: usize = 4;
const WRITES_PER_ROUND_MIN: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_across_repeated_node_restarts() {
    let seed = std::env::var("POLIS_CHAOS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64)
        });
    println!("POLIS_CHAOS_SEED={seed}");
    let mut random = SplitMix64::new(seed);
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client("writer", &[1, 2, 3]).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));

    // The writer creates nodes as fast as the cluster lets it. Only writes whose success it
    // saw count; a failed or unknown outcome is simply not recorded (ZooKeeper's contract).
    let writer = {
        let client = client.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut index = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/w-{index:06}");
                index += 1;
                if let Ok((created, _)) = client
                    .create(&path, b"v", &Acl::open(), CreateMode::Persistent)
                    .await
                {
                    acknowledged.lock().await.push(created);
                } else {
                    // While the client reconnects, wait for it instead of spinning.
                    let _ = tokio::time::timeout(CLUSTER_DEADLINE, client.wait_connected()).await;
                }
            }
        })
    };

    for round in 0..ROUNDS {
        let victim = random.between(1, 3);
        let before = acknowledged.lock().await.len();
        cluster.stop(victim).await;
        // Writes go on with two of three nodes.
        wait_for_writes(&acknowledged, before + WRITES_PER_ROUND_MIN).await;
        cluster.restart(victim).await;
        let after_restart = acknowledged.lock().await.len();
        wait_for_writes(&acknowledged, after_restart + WRITES_PER_ROUND_MIN).await;
        println!("round {round}: restarted node {victim}; {after_restart} writes acknowledged");
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");

    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= ROUNDS * 2 * WRITES_PER_ROUND_MIN);
    for id in 1..=3 {
        let reader = cluster.client("auditor", &[id]).await;
        for path in &acknowledged {
            assert!(
                reader.exists(path).await.unwrap().is_some(),
                "seed {seed}: acknowledged {path} is missing on node {id}"
            );
        }
        reader.close().await.unwrap();
    }
    cluster.shutdown().await;
}

/// Waits until at least `count` writes were acknowledged, within the cluster deadline.
async fn wait_for_writes(acknowledged: &Mutex<Vec<String>>, count: usize) {
    polis_tests::eventually(
        "the cluster acknowledging writes",
        CLUSTER_DEADLINE,
        async || (acknowledged.lock().await.len() >= count).then_some(()),
    )
    .await;
}
