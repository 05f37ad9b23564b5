//! The alert fan-out on a three-node cluster whose leader is killed while it fans out: every
//! district still ends up with exactly one notification per alert, each written once.

use std::time::Instant;

use polis_city::sample_city::fresh_fixture;
use polis_city::{CityOptions, ROOT, deliveries, wait_handled};
use polis_cli::deploy;
use polis_client::{Acl, Client, CreateMode, Id, Perms, Stat};
use polis_tests::city::{CITY_DEADLINE, NWS_AGENCY, eventually, open_city};
use polis_tests::cluster::TestCluster;

/// Alerts published in all; the leader is stopped after a third of them.
const ALERTS: usize = 24;
/// Every district of the sample city carries the county's SAME code.
const DISTRICTS: usize = 12;

/// A county-wide winter storm warning, the `index`th of the day (its own CAP identity).
fn county_alert(index: usize) -> String {
    fresh_fixture("winter-storm.xml")
        .replace(
            "NWS-PQR-WSW-20261130-014",
            &format!("NWS-PQR-WSW-20261130-{index:03}"),
        )
        .replace(
            "<valueName>UGC</valueName><value>ORZ101</value>",
            "<valueName>SAME</valueName><value>041051</value>",
        )
}

/// Publishes through failovers. Returns the inbox node's stat once it exists, whether this call
/// or an earlier attempt whose answer was lost created it.
async fn publish_surely(client: &Client, id: &str, document: &str) -> Stat {
    let path = format!("{ROOT}/alerts/inbox/{NWS_AGENCY}/{id}");
    let acl = [
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    let started = Instant::now();
    loop {
        match client
            .create(&path, document.as_bytes(), &acl, CreateMode::Persistent)
            .await
        {
            Ok(_) => {}
            Err(error) if error.is_node_exists() => {}
            Err(error) => {
                assert!(
                    started.elapsed() < CITY_DEADLINE,
                    "publishing {id}: {error}"
                );
                let _ = client.wait_connected().await;
                continue;
            }
        }
        match client.get_data(&path).await {
            Ok((_, stat)) => return stat,
            Err(error) => {
                assert!(started.elapsed() < CITY_DEADLINE, "reading {id}: {error}");
                let _ = client.wait_connected().await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_during_fan_out_leaves_one_notification_per_district_and_alert() {
    let mut cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    open_city(&admin, &CityOptions::default()).await;

    let first_leader = cluster.leader().await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != first_leader).collect();
    let agency = cluster.client("nws-portland", &survivors).await;
    let mut last = None;
    for index in 0..ALERTS {
        if index == ALERTS / 3 {
            // The fan-out runs on the leader: once it has committed its first batch (so it is
            // compiled and working through the alerts so far), stop that node. How far it got is
            // printed; the outcome must be the same wherever the stop falls.
            let handled = eventually("the fan-out's first batch", || async {
                let report = deploy::status(&admin, "alert-fanout").await.ok()?;
                (report.status.processed_events > 0).then_some(report.status.processed_events)
            })
            .await;
            eprintln!(
                "stopping leader {first_leader}: the fan-out had handled {handled} of {index} alerts"
            );
            cluster.stop(first_leader).await;
        }
        last =
            Some(publish_surely(&agency, &format!("storm-{index:03}"), &county_alert(index)).await);
    }
    let reader = cluster.admin(&survivors).await;
    let last = last.expect("published");
    assert!(
        wait_handled(&reader, "alert-fanout", last.czxid, CITY_DEADLINE).await,
        "the fan-out did not catch up on the new leader"
    );
    assert_ne!(cluster.leader_among(&survivors).await, first_leader);

    let all = deliveries(&reader, "notifications")
        .await
        .expect("deliveries");
    assert_eq!(all.len(), ALERTS * DISTRICTS, "one per district and alert");
    for delivery in &all {
        // Written in one commit, never again: a replayed batch would have failed its create
        // (or, with a bug, bumped the version).
        assert_eq!(delivery.stat.version, 0, "{delivery:?}");
        assert_eq!(delivery.msg_type(), "Alert");
    }
    let mut per_district = std::collections::BTreeMap::new();
    for delivery in &all {
        *per_district.entry(delivery.district.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_district.len(), DISTRICTS);
    assert!(
        per_district.values().all(|count| *count == ALERTS),
        "{per_district:?}"
    );
    let (keys, _) = reader
        .get_children(&format!("{ROOT}/alerts/keys"))
        .await
        .expect("key records");
    assert_eq!(keys.len(), ALERTS);
    let (duplicates, _) = reader
        .get_children(&format!("{ROOT}/alerts/duplicates"))
        .await
        .expect("duplicates");
    assert!(duplicates.is_empty(), "{duplicates:?}");
    let report = deploy::status(&reader, "alert-fanout")
        .await
        .expect("status");
    assert!(report.dead_letters.is_empty(), "{report:?}");
    assert_eq!(report.status.processed_events, ALERTS as u64, "{report:?}");
    cluster.shutdown().await;
}
