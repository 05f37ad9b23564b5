//! The CAP 1.2 alert fan-out on a three-node cluster, with the sample city (Cascadia Bay) and
//! realistic alerts (`plugins/alert-fanout/testdata/`): who gets what, updates and cancels,
//! duplicates, rejections, drills, restricted alerts.

use std::collections::BTreeMap;

use polis_city::sample_city::fresh_fixture;
use polis_city::{CityOptions, ROOT, deliveries, publish, read_json, read_text, wait_handled};
use polis_client::{Acl, Client, Id, Perms};
use polis_plugin_layout::plugin_identity;
use polis_tests::city::{CITY_DEADLINE, POLICE_AGENCY, SampleAgencies, open_city, publish_handled};
use polis_tests::cluster::TestCluster;

/// The notifications under `subtree`: district → [(thread, msg type)].
async fn received(client: &Client, subtree: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_district: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for delivery in deliveries(client, subtree).await.expect("deliveries") {
        by_district
            .entry(delivery.district.clone())
            .or_default()
            .push((delivery.thread.clone(), delivery.msg_type().to_string()));
    }
    by_district
}

fn districts(map: &BTreeMap<String, Vec<(String, String)>>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

async fn city_cluster() -> (TestCluster, Client, SampleAgencies) {
    let cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    open_city(&admin, &CityOptions::default()).await;
    let agencies = SampleAgencies::connect(|name| cluster.client(name, &[1, 2, 3])).await;
    (cluster, admin, agencies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_district_receives_exactly_the_alerts_whose_area_touches_it() {
    let (cluster, admin, agencies) = city_cluster().await;

    // A polygon over the waterfront: Old Town and Riverside, not their neighbours.
    let flood = publish_handled(
        &admin,
        &agencies,
        "flood-1",
        &fresh_fixture("flood-warning.xml"),
    )
    .await;
    let map = received(&admin, "notifications").await;
    assert_eq!(districts(&map), ["old-town", "riverside"]);

    // The JSON rendering with a 2 km circle: Industrial, and University 1.6 km away.
    publish_handled(
        &admin,
        &agencies,
        "fire-1",
        &fresh_fixture("chemical-fire.json"),
    )
    .await;
    // A geocode (UGC zone ORZ101): the four northern districts.
    publish_handled(
        &admin,
        &agencies,
        "storm-1",
        &fresh_fixture("winter-storm.xml"),
    )
    .await;
    let map = received(&admin, "notifications").await;
    assert_eq!(
        districts(&map),
        [
            "airport",
            "hillcrest",
            "industrial",
            "northgate",
            "old-town",
            "riverside",
            "university",
            "westwood"
        ]
    );
    // One notification per district per alert.
    assert!(map.values().all(|alerts| alerts.len() == 1), "{map:?}");

    let all = deliveries(&admin, "notifications")
        .await
        .expect("deliveries");
    let riverside = all
        .iter()
        .find(|delivery| delivery.district == "riverside")
        .expect("riverside's");
    assert_eq!(riverside.msg_type(), "Alert");
    assert_eq!(riverside.field("severity"), "Severe");
    assert_eq!(
        riverside.field("alert"),
        format!("{ROOT}/alerts/inbox/nws-portland/flood-1")
    );
    assert!(riverside.field("headline").starts_with("Flood Warning"));
    assert_eq!(
        riverside.notification["polygons"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        riverside.notification["agencies"],
        serde_json::json!(["riverside-public-works"])
    );
    // A TTL node (its TTL rides in ephemeralOwner), written in the commit right after the alert's.
    assert_ne!(riverside.stat.ephemeral_owner, 0);
    assert!(riverside.latency_ms(&flood) >= 0);
    // The host's copy of the key function agrees with the plugin's.
    assert_eq!(
        riverside.thread,
        polis_city::alert_key(
            "w-nws.webmaster@noaa.gov",
            "NWS-PQR-FLW-20261130-001",
            "2026-11-30T09:12:00-08:00"
        )
    );
    let industrial = all
        .iter()
        .find(|delivery| delivery.district == "industrial")
        .expect("industrial's");
    assert_eq!(
        industrial.notification["agencies"],
        serde_json::json!(["hazmat-unit-4"])
    );

    // The thread's state lists who was notified.
    let thread = &riverside.thread;
    let state = read_json(&admin, &format!("{ROOT}/alerts/state/{thread}"))
        .await
        .expect("read")
        .expect("a thread state");
    assert_eq!(state["districts"]["old-town"], "notified");
    assert_eq!(state["districts"]["riverside"], "notified");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_update_moves_the_alert_and_a_cancel_ends_it_without_a_duplicate() {
    let (cluster, admin, agencies) = city_cluster().await;
    publish_handled(
        &admin,
        &agencies,
        "flood-1",
        &fresh_fixture("flood-warning.xml"),
    )
    .await;
    // The same message again (an agency retrying): recorded as a duplicate, nothing sent.
    publish_handled(
        &admin,
        &agencies,
        "flood-1-retry",
        &fresh_fixture("flood-warning.xml"),
    )
    .await;
    let duplicate = read_text(&admin, &format!("{ROOT}/alerts/duplicates/flood-1-retry"))
        .await
        .expect("read")
        .expect("a duplicate record");
    assert!(
        duplicate.starts_with("NWS-PQR-FLW-20261130-001-"),
        "{duplicate}"
    );
    for delivery in deliveries(&admin, "notifications")
        .await
        .expect("deliveries")
    {
        assert_eq!(delivery.stat.version, 0, "written once: {delivery:?}");
    }

    publish_handled(
        &admin,
        &agencies,
        "flood-2",
        &fresh_fixture("flood-warning-update.xml"),
    )
    .await;
    let map = received(&admin, "notifications").await;
    let thread = map["riverside"][0].0.clone();
    let expected = |msg_type: &str| vec![(thread.clone(), msg_type.to_string())];
    // Riverside keeps its one notification, now the Update; Eastbank gets the Update; Old Town
    // (outside the new polygon) is told the alert no longer concerns it.
    assert_eq!(map["riverside"], expected("Update"));
    assert_eq!(map["eastbank"], expected("Update"));
    assert_eq!(map["old-town"], expected("Cancel"));
    assert_eq!(map.len(), 3);
    let first_key = deliveries(&admin, "notifications")
        .await
        .expect("deliveries")
        .into_iter()
        .find(|delivery| delivery.district == "riverside")
        .map(|delivery| {
            delivery.notification["supersedes"][0]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .expect("riverside's");
    let record = read_json(&admin, &format!("{ROOT}/alerts/keys/{first_key}"))
        .await
        .expect("read")
        .expect("the first alert's record");
    assert!(record["superseded_by"].is_string(), "{record}");

    publish_handled(
        &admin,
        &agencies,
        "flood-3",
        &fresh_fixture("flood-warning-cancel.xml"),
    )
    .await;
    let map = received(&admin, "notifications").await;
    for district in ["riverside", "eastbank", "old-town"] {
        assert_eq!(map[district], expected("Cancel"), "{district}");
    }
    let state = read_json(&admin, &format!("{ROOT}/alerts/state/{thread}"))
        .await
        .expect("read")
        .expect("state");
    assert_eq!(state["cancelled"], true);
    assert_eq!(state["keys"].as_array().map(Vec::len), Some(3));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_alerts_are_rejected_with_reasons_and_drills_stay_apart() {
    let (cluster, admin, agencies) = city_cluster().await;
    publish_handled(
        &admin,
        &agencies,
        "bad-1",
        &fresh_fixture("invalid-open-polygon.xml"),
    )
    .await;
    publish_handled(&admin, &agencies, "bad-2", "<html>not an alert</html>").await;
    publish_handled(
        &admin,
        &agencies,
        "cancel-1",
        &fresh_fixture("flood-warning-cancel.xml"),
    )
    .await;
    let reason = |id: &'static str| {
        let admin = admin.clone();
        async move {
            read_text(&admin, &format!("{ROOT}/alerts/rejected/{id}"))
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{id} was not rejected"))
        }
    };
    let bad = reason("bad-1").await;
    assert!(bad.contains("info[0].urgency> is missing"), "{bad}");
    assert!(bad.contains("a polygon needs at least 4 pairs"), "{bad}");
    assert!(reason("bad-2").await.contains("CAP 1.2 <alert>"));
    assert!(reason("cancel-1").await.contains("references no alert"));
    assert!(received(&admin, "notifications").await.is_empty());

    // A Required Monthly Test, county-wide: all twelve districts, in the exercise subtree only.
    publish_handled(
        &admin,
        &agencies,
        "rmt-1",
        &fresh_fixture("monthly-test.xml"),
    )
    .await;
    assert!(received(&admin, "notifications").await.is_empty());
    let drills = received(&admin, "exercises").await;
    assert_eq!(drills.len(), 12);
    assert!(drills.values().all(|alerts| alerts.len() == 1));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restricted_alert_notifies_without_content_and_its_acl_decides_who_reads_it() {
    let (cluster, admin, agencies) = city_cluster().await;
    let police = cluster.client("cbpd-watch", &[1, 2, 3]).await;
    let acl = vec![
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(Perms::READ, plugin_identity("alert-fanout")),
        Acl::new(Perms::READ, Id::new(Id::SCHEME_X509, "CN=harbor,O=Polis")),
    ];
    let stat = publish(
        &police,
        POLICE_AGENCY,
        "police-1",
        &fresh_fixture("restricted-police.xml"),
        Some(&acl),
    )
    .await
    .expect("published");
    assert!(wait_handled(&admin, "alert-fanout", stat.czxid, CITY_DEADLINE).await);

    let all = deliveries(&admin, "notifications")
        .await
        .expect("deliveries");
    assert_eq!(all.len(), 1, "{all:?}");
    let harbor = &all[0];
    assert_eq!(harbor.district, "harbor");
    assert_eq!(harbor.field("scope"), "Restricted");
    assert_eq!(harbor.field("headline"), "");
    assert_eq!(harbor.notification["circles"], serde_json::json!([]));
    // The district reads the full alert as itself; anyone else is refused by the ACL.
    let harbor_client = cluster.client("harbor", &[1, 2, 3]).await;
    let (full, _) = harbor_client
        .get_data(harbor.field("alert"))
        .await
        .expect("harbor reads it");
    assert!(String::from_utf8_lossy(&full).contains("Terminal 2"));
    let error = agencies
        .weather_service
        .get_data(harbor.field("alert"))
        .await
        .expect_err("the agency may not");
    assert!(error.is_no_auth(), "{error}");

    // An alert the fan-out may not read is rejected, saying what grant is missing.
    let sealed = vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""))];
    let stat = publish(
        &police,
        POLICE_AGENCY,
        "police-2",
        &fresh_fixture("restricted-police.xml"),
        Some(&sealed),
    )
    .await
    .expect("published");
    assert!(wait_handled(&admin, "alert-fanout", stat.czxid, CITY_DEADLINE).await);
    let reason = read_text(&admin, &format!("{ROOT}/alerts/rejected/police-2"))
        .await
        .expect("read")
        .expect("rejected");
    assert!(reason.contains("CN=alert-fanout,OU=plugin"), "{reason}");
    cluster.shutdown().await;
}

/// Anyone could once publish an alert to every district (the inbox was open to all): the 2018
/// Hawaii false missile alert shows what one wrong message costs. Now only a registered agency
/// writes, into its own inbox, and only under the senders it is registered for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_a_registered_agency_publishes_and_only_in_its_own_name() {
    let (cluster, admin, agencies) = city_cluster().await;
    let flood = fresh_fixture("flood-warning.xml");
    let stranger = cluster.client("stranger", &[1, 2, 3]).await;
    for inbox in [
        format!("{ROOT}/alerts/inbox/fake"),
        format!("{ROOT}/alerts/inbox/nws-portland/fake"),
    ] {
        let refused = stranger
            .create(
                &inbox,
                flood.as_bytes(),
                &Acl::open(),
                polis_client::CreateMode::Persistent,
            )
            .await
            .expect_err(&inbox);
        assert!(refused.is_no_auth(), "{inbox}: {refused}");
    }
    // The police may not write into the Weather Service's inbox…
    let refused = publish(&agencies.police, "nws-portland", "fake", &flood, None)
        .await
        .expect_err("another agency's inbox");
    match refused {
        polis_city::CityError::Client { source, .. } => assert!(source.is_no_auth(), "{source}"),
        other => panic!("{other}"),
    }
    // …nor publish the Weather Service's alert in its own.
    let stat = publish(&agencies.police, POLICE_AGENCY, "spoofed", &flood, None)
        .await
        .expect("its own inbox");
    assert!(wait_handled(&admin, "alert-fanout", stat.czxid, CITY_DEADLINE).await);
    let reason = read_text(&admin, &format!("{ROOT}/alerts/rejected/spoofed"))
        .await
        .expect("read")
        .expect("rejected");
    assert!(
        reason.contains("is not one that agency cbpd-watch"),
        "{reason}"
    );
    assert!(
        deliveries(&admin, "notifications")
            .await
            .expect("deliveries")
            .is_empty(),
        "nothing reached a district"
    );
    cluster.shutdown().await;
}
