//! The shelter capacity aggregation (the second city workflow) on a real node: shelters report,
//! the plugin keeps district and city totals and the full flags.

use polis_city::{CityError, CityOptions, ROOT, Shelter, read_json, sample_city, wait_handled};
use polis_client::{Acl, Client, CreateMode, Id, Perms, Stat};
use polis_tests::city::{CITY_DEADLINE, open_city};
use polis_tests::client::connect;
use polis_tests::node::{ADMIN_NAME, TestNode};

/// A sample shelter by name.
fn shelter(name: &str) -> Shelter {
    sample_city::shelters()
        .into_iter()
        .find(|shelter| shelter.name == name)
        .unwrap_or_else(|| panic!("no sample shelter {name}"))
}

/// `name` reports with its own certificate.
async fn report(node: &TestNode, name: &str, occupancy: u64, capacity: u64) -> Stat {
    let shelter = shelter(name);
    let client = connect(node, &shelter.name).await;
    let stat = shelter
        .report(&client, occupancy, capacity)
        .await
        .expect("the shelter reports");
    client.close().await.expect("closed");
    stat
}

async fn totals(admin: &Client, stat: &Stat, path: &str) -> serde_json::Value {
    assert!(wait_handled(admin, "shelter-capacity", stat.mzxid, CITY_DEADLINE).await);
    read_json(admin, &format!("{ROOT}/capacity/{path}"))
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("no totals at {path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shelter_reports_add_up_to_district_and_city_totals_with_full_flags() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    open_city(&admin, &CityOptions::default()).await;

    // The city registered its shelters: one that has not reported yet is listed, not counted.
    let first = report(&node, "pier-7-gym", 180, 200).await;
    let harbor = totals(&admin, &first, "districts/harbor").await;
    assert_eq!(harbor["unreported"], serde_json::json!(["st-marys-hall"]));
    assert_eq!(harbor["shelters"].as_u64(), Some(1));
    // False figures would send evacuees to a full shelter: each shelter writes its own report
    // only, and nobody adds a shelter the city has not registered.
    let stranger = connect(&node, "stranger").await;
    let st_marys = connect(&node, "st-marys-hall").await;
    for (who, client) in [("a stranger", &stranger), ("another shelter", &st_marys)] {
        let refused = client
            .create(
                &format!("{ROOT}/shelters/harbor/fake-shelter"),
                br#"{"occupancy": 0, "capacity": 5000}"#,
                &[Acl::new(Perms::ALL, Id::anyone())],
                CreateMode::Persistent,
            )
            .await
            .expect_err("an unregistered shelter is added");
        assert!(refused.is_no_auth(), "{who}: {refused}");
        let refused = shelter("pier-7-gym")
            .report(client, 0, 200)
            .await
            .expect_err("a report is changed by someone else");
        assert!(
            matches!(&refused, CityError::Client { source, .. } if source.is_no_auth()),
            "{who}: {refused}"
        );
        let refused = client
            .delete(&shelter("pier-7-gym").path(), -1)
            .await
            .expect_err("a report is deleted by someone else");
        assert!(refused.is_no_auth(), "{who}: {refused}");
    }
    // A shelter may not delete its own report either, which would take it off the map.
    let pier = connect(&node, "pier-7-gym").await;
    let refused = pier
        .delete(&shelter("pier-7-gym").path(), -1)
        .await
        .expect_err("a shelter deletes its report");
    assert!(refused.is_no_auth(), "{refused}");
    report(&node, "st-marys-hall", 60, 60).await;
    let last = report(&node, "riverside-high", 240, 400).await;
    let harbor = totals(&admin, &last, "districts/harbor").await;
    assert_eq!(
        (harbor["occupancy"].as_u64(), harbor["capacity"].as_u64()),
        (Some(240), Some(260))
    );
    assert_eq!(
        harbor["full_shelters"],
        serde_json::json!(["st-marys-hall"])
    );
    assert_eq!(harbor["full"], false);
    let city = totals(&admin, &last, "city").await;
    assert_eq!(
        (city["occupancy"].as_u64(), city["capacity"].as_u64()),
        (Some(480), Some(660))
    );

    // The gym fills up: Harbor has no free place left.
    let last = report(&node, "pier-7-gym", 200, 200).await;
    let harbor = totals(&admin, &last, "districts/harbor").await;
    assert_eq!(harbor["full"], true);
    assert_eq!(harbor["free"].as_u64(), Some(0));
    let city = totals(&admin, &last, "city").await;
    assert_eq!(city["full"], false);
    assert_eq!(
        city["full_shelters"],
        serde_json::json!(["harbor/pier-7-gym", "harbor/st-marys-hall"])
    );

    // A shelter closes and the city's administrator removes its report: the totals follow.
    admin
        .delete(&format!("{ROOT}/shelters/harbor/st-marys-hall"), -1)
        .await
        .expect("delete");
    let last = report(&node, "riverside-high", 250, 400).await;
    let harbor = totals(&admin, &last, "districts/harbor").await;
    assert_eq!(
        (harbor["shelters"].as_u64(), harbor["capacity"].as_u64()),
        (Some(1), Some(200))
    );
    let city = totals(&admin, &last, "city").await;
    assert_eq!(
        (city["occupancy"].as_u64(), city["capacity"].as_u64()),
        (Some(450), Some(600))
    );
    node.shutdown().await;
}
