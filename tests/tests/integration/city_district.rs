//! The district client (`polis_city::DistrictFollower`, the `polis-district` program): it
//! acknowledges what it receives, and after a restart resumes from the zxid it saved without
//! missing a notification.

use std::time::Duration;

use polis_city::sample_city::fresh_fixture;
use polis_city::{CityOptions, DistrictFollower, ROOT, Received, read_text};
use polis_tests::city::{SampleAgencies, open_city, publish_handled};
use polis_tests::client::connect;
use polis_tests::node::{ADMIN_NAME, TestNode};
use tokio::sync::mpsc;

/// How long the test waits for one notification to reach the follower.
const RECEIVE_DEADLINE: Duration = Duration::from_secs(30);

fn start_follower(
    client: polis_client::Client,
    state_file: std::path::PathBuf,
) -> (
    tokio::task::JoinHandle<()>,
    mpsc::UnboundedReceiver<Received>,
) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let follower = DistrictFollower::new(client, "riverside", state_file);
        follower
            .run(|received| {
                let _ = sender.send(received.clone());
            })
            .await
            .expect("the follower runs");
    });
    (task, receiver)
}

async fn next(receiver: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(RECEIVE_DEADLINE, receiver.recv())
        .await
        .expect("a notification in time")
        .expect("the follower runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_district_resumes_where_it_stopped_and_acknowledges_what_it_missed() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    open_city(&admin, &CityOptions::default()).await;
    let agencies = SampleAgencies::connect(|name| connect(&node, name)).await;
    let state_dir = tempfile::tempdir().expect("tempdir");
    let state_file = state_dir.path().join("riverside.zxid");

    let (task, mut receiver) =
        start_follower(connect(&node, "riverside").await, state_file.clone());
    publish_handled(
        &admin,
        &agencies,
        "flood-1",
        &fresh_fixture("flood-warning.xml"),
    )
    .await;
    let first = next(&mut receiver).await;
    assert_eq!(
        (first.msg_type.as_str(), first.acknowledged),
        ("Alert", true)
    );
    let ack = format!("{ROOT}/notifications/riverside/{}/ack", first.thread);
    assert_eq!(
        read_text(&admin, &ack).await.expect("read").as_deref(),
        Some(first.key.as_str())
    );

    // The district's system goes down; meanwhile the alert is updated and another one comes.
    task.abort();
    let _ = task.await;
    let saved = polis_city::district_follower::load_zxid(&state_file).expect("a saved zxid");
    assert!(saved >= first.zxid);
    publish_handled(
        &admin,
        &agencies,
        "flood-2",
        &fresh_fixture("flood-warning-update.xml"),
    )
    .await;
    let county = fresh_fixture("winter-storm.xml").replace(
        "<valueName>UGC</valueName><value>ORZ101</value>",
        "<valueName>SAME</valueName><value>041051</value>",
    );
    publish_handled(&admin, &agencies, "storm-1", &county).await;

    let (task, mut receiver) =
        start_follower(connect(&node, "riverside").await, state_file.clone());
    let mut fresh = Vec::new();
    while fresh.len() < 2 {
        let received = next(&mut receiver).await;
        if received.key == first.key {
            // The last transaction before the stop, replayed whole: already acknowledged.
            assert!(!received.acknowledged, "{received:?}");
            continue;
        }
        fresh.push(received);
    }
    assert_eq!(fresh[0].msg_type, "Update");
    assert_eq!(fresh[0].thread, first.thread);
    assert!(fresh[0].acknowledged);
    assert_eq!(fresh[1].msg_type, "Alert");
    assert!(fresh[1].headline.starts_with("Winter Storm Warning"));
    assert!(fresh[1].acknowledged);
    assert_eq!(
        read_text(&admin, &ack).await.expect("read").as_deref(),
        Some(fresh[0].key.as_str()),
        "the update is acknowledged under the same notification"
    );
    task.abort();
    let _ = task.await;
    node.shutdown().await;
}
