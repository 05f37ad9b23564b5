//! Acknowledgements and escalation on a three-node cluster. Time is the leader clock: the nodes
//! tick `/polis/clock` every 50 ms, and a district that has not acknowledged within the window
//! is escalated on the first tick past its deadline.

use polis_city::sample_city::fresh_fixture;
use polis_city::{CityOptions, ROOT, deliveries, read_json};
use polis_cli::deploy;
use polis_client::Client;
use polis_tests::city::{SampleAgencies, eventually, open_city, publish_handled};
use polis_tests::cluster::TestCluster;

/// The acknowledgement window: long enough for a prompt district on a loaded test machine,
/// short for a test.
const ACK_WINDOW_MS: i64 = 4_000;

async fn acks_of(client: &Client, thread: &str) -> Option<serde_json::Value> {
    read_json(client, &format!("{ROOT}/alerts/acks/{thread}"))
        .await
        .expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn districts_that_do_not_acknowledge_in_time_are_escalated_and_the_others_are_not() {
    let cluster = TestCluster::start_with(3, |config| config.plugins.clock_interval_ms = 50).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    open_city(
        &admin,
        &CityOptions {
            ack_window_ms: ACK_WINDOW_MS,
        },
    )
    .await;
    // The escalation plugin's first invocation compiles it; let that happen before the clock
    // that measures the window starts.
    eventually("the escalation plugin to handle a tick", || async {
        let report = deploy::status(&admin, "alert-escalation").await.ok()?;
        (report.status.processed_events > 0).then_some(())
    })
    .await;
    let agencies = SampleAgencies::connect(|name| cluster.client(name, &[1, 2, 3])).await;
    let flood = publish_handled(
        &admin,
        &agencies,
        "flood-1",
        &fresh_fixture("flood-warning.xml"),
    )
    .await;
    let notified = deliveries(&admin, "notifications")
        .await
        .expect("deliveries");
    let thread = notified[0].thread.clone();
    let key = notified[0].key().to_string();

    // The escalation plugin has opened the thread: both districts pending.
    let opened = eventually("the acknowledgement state", || acks_of(&admin, &thread)).await;
    assert_eq!(
        opened["pending"],
        serde_json::json!(["old-town", "riverside"]),
        "{opened}"
    );
    let deadline = opened["deadline_ms"].as_i64().expect("a deadline");
    // The window runs from the notifying commit, one commit after the alert's.
    assert!(deadline - flood.ctime >= ACK_WINDOW_MS, "{opened}");

    // Old Town acknowledges (as itself; the ack node is the one thing it may write).
    let old_town = cluster.client("old-town", &[1, 2, 3]).await;
    old_town
        .set_data(
            &format!("{ROOT}/notifications/old-town/{thread}/ack"),
            key.as_bytes(),
            -1,
        )
        .await
        .expect("ack");
    // ...and may not touch its notification.
    let error = old_town
        .set_data(
            &format!("{ROOT}/notifications/old-town/{thread}"),
            b"{}",
            -1,
        )
        .await
        .expect_err("the notification is read-only to districts");
    assert!(error.is_no_auth(), "{error}");
    // Nor may it, or anybody else, acknowledge for Riverside or delete Riverside's ack to keep
    // it from being escalated: the ack node is Riverside's to write and the fan-out's alone to
    // delete.
    let riverside_ack = format!("{ROOT}/notifications/riverside/{thread}/ack");
    let error = old_town
        .set_data(&riverside_ack, key.as_bytes(), -1)
        .await
        .expect_err("another district's ack");
    assert!(error.is_no_auth(), "{error}");
    let error = old_town
        .delete(&riverside_ack, -1)
        .await
        .expect_err("deleting another district's ack");
    assert!(error.is_no_auth(), "{error}");

    let settled = eventually("riverside's escalation", || async {
        let state = acks_of(&admin, &thread).await?;
        (state["escalated"] == serde_json::json!(["riverside"])).then_some(state)
    })
    .await;
    assert_eq!(settled["acked"], serde_json::json!(["old-town"]));
    assert_eq!(settled["pending"], serde_json::json!([]));
    let escalation = read_json(&admin, &format!("{ROOT}/escalations/riverside/{thread}"))
        .await
        .expect("read")
        .expect("an escalation node");
    assert_eq!(escalation["key"], key.as_str());
    // Escalated on a tick past the deadline: never before it.
    assert!(escalation["escalated_ms"].as_i64().expect("time") >= deadline);
    let (old_town_escalations, _) = admin
        .get_children(&format!("{ROOT}/escalations"))
        .await
        .expect("escalations");
    assert_eq!(old_town_escalations, ["riverside"]);

    // A late acknowledgement still counts, and is shown.
    let riverside = cluster.client("riverside", &[1, 2, 3]).await;
    riverside
        .set_data(
            &format!("{ROOT}/notifications/riverside/{thread}/ack"),
            key.as_bytes(),
            -1,
        )
        .await
        .expect("late ack");
    eventually("the late acknowledgement", || async {
        let state = acks_of(&admin, &thread).await?;
        (state["acked"] == serde_json::json!(["old-town", "riverside"])).then_some(())
    })
    .await;

    // An update asks again: both pending under the new key, and an ack of the old key does not
    // count.
    publish_handled(
        &admin,
        &agencies,
        "flood-2",
        &fresh_fixture("flood-warning-update.xml"),
    )
    .await;
    let renewed = eventually("the update's acknowledgement state", || async {
        let state = acks_of(&admin, &thread).await?;
        (state["key"] != key.as_str()).then_some(state)
    })
    .await;
    assert_eq!(
        renewed["pending"],
        serde_json::json!(["eastbank", "riverside"])
    );
    assert_eq!(renewed["districts"]["old-town"], "released");
    cluster.shutdown().await;
}
