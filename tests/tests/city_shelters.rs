//! The shelter capacity aggregation (the second city workflow) on a real node: shelters report,
//! the plugin keeps district and city totals and the full flags.

use polis_city::{CityOptions, ROOT, read_json, wait_handled};
use polis_client::{Acl, Client, CreateMode, Id, Perms, Stat};
use polis_tests::city::{CITY_DEADLINE, open_city};
use polis_tests::client::connect;
use polis_tests::node::{ADMIN_NAME, TestNode};

/// A report's ACL: its operator may change it, everyone may read it.
fn report_acl() -> Vec<Acl> {
    vec![
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(Perms::READ, Id::anyone()),
    ]
}

async fn report(shelter: &Client, path: &str, occupancy: u64, capacity: u64) -> Stat {
    let path = format!("{ROOT}/shelters/{path}");
    let data = format!(r#"{{"occupancy": {occupancy}, "capacity": {capacity}}}"#);
    match shelter.exists(&path).await.expect("exists") {
        Some(_) => shelter
            .set_data(&path, data.as_bytes(), -1)
            .await
            .expect("set"),
        None => {
            shelter
                .create(
                    &path,
                    data.as_bytes(),
                    &report_acl(),
                    CreateMode::Persistent,
                )
                .await
                .expect("create");
            shelter.get_data(&path).await.expect("read").1
        }
    }
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
    let red_cross = connect(&node, "red-cross").await;

    report(&red_cross, "harbor/pier-7-gym", 180, 200).await;
    // False figures would send evacuees to a full shelter: only the registered operator
    // reports, and nobody else changes its reports.
    let stranger = connect(&node, "stranger").await;
    let refused = stranger
        .create(
            &format!("{ROOT}/shelters/harbor/fake-shelter"),
            br#"{"occupancy": 0, "capacity": 5000}"#,
            &report_acl(),
            CreateMode::Persistent,
        )
        .await
        .expect_err("a stranger reports a shelter");
    assert!(refused.is_no_auth(), "{refused}");
    let refused = stranger
        .set_data(
            &format!("{ROOT}/shelters/harbor/pier-7-gym"),
            br#"{"occupancy": 0, "capacity": 200}"#,
            -1,
        )
        .await
        .expect_err("a stranger changes a report");
    assert!(refused.is_no_auth(), "{refused}");
    report(&red_cross, "harbor/st-marys-hall", 60, 60).await;
    let last = report(&red_cross, "riverside/riverside-high", 240, 400).await;
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
    let last = report(&red_cross, "harbor/pier-7-gym", 200, 200).await;
    let harbor = totals(&admin, &last, "districts/harbor").await;
    assert_eq!(harbor["full"], true);
    assert_eq!(harbor["free"].as_u64(), Some(0));
    let city = totals(&admin, &last, "city").await;
    assert_eq!(city["full"], false);
    assert_eq!(
        city["full_shelters"],
        serde_json::json!(["harbor/pier-7-gym", "harbor/st-marys-hall"])
    );

    // A shelter closes and the city's operator removes its report (shelters may add reports,
    // not delete them): the totals follow.
    admin
        .delete(&format!("{ROOT}/shelters/harbor/st-marys-hall"), -1)
        .await
        .expect("delete");
    let last = report(&red_cross, "riverside/riverside-high", 250, 400).await;
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
