//! The plugin end to end against the SDK's in-memory tree, on the sample city of `testdata/`.

use polis_plugin_sdk::testing::MemoryTree;

use crate::AlertFanout;
use crate::notification::Notification;
use crate::thread_state::{DistrictProgress, ThreadState};

const DISTRICTS: &str = include_str!("../testdata/districts.json");

fn city() -> MemoryTree {
    let mut tree = MemoryTree::new();
    let districts: Vec<serde_json::Value> = serde_json::from_str(DISTRICTS).unwrap();
    for district in districts {
        let name = district["name"].as_str().unwrap().to_string();
        tree.create(
            &format!("/city/districts/{name}"),
            district.to_string().as_bytes(),
        );
    }
    // The Weather Service speaks for itself; the city's emergency management office publishes
    // for the city's own services (police, fire) too.
    for (agency, senders) in [
        ("nws-portland", vec![NWS_SENDER]),
        (
            "cascadia-bay-oem",
            vec![
                "oem@cascadia-bay.example",
                "watch@police.cascadia-bay.example",
                "dispatch@fire.cascadia-bay.example",
            ],
        ),
    ] {
        let entry =
            serde_json::json!({ "identity": format!("CN={agency},O=Polis"), "senders": senders });
        tree.create(
            &format!("/city/agencies/{agency}"),
            entry.to_string().as_bytes(),
        );
        tree.create(&format!("/city/alerts/inbox/{agency}"), b"");
    }
    tree
}

const NWS_SENDER: &str = "w-nws.webmaster@noaa.gov";

/// The agency whose inbox the sample `document` belongs in: the Weather Service's own alerts in
/// its inbox, every other sample in the city's emergency management office's.
fn agency_of(document: &str) -> &'static str {
    if document.contains(NWS_SENDER) {
        "nws-portland"
    } else {
        "cascadia-bay-oem"
    }
}

/// Publishes `document` as inbox node `id` of its agency and runs the plugin on the events.
fn publish(tree: &mut MemoryTree, id: &str, document: &str) {
    publish_as(tree, agency_of(document), id, document);
}

/// Publishes `document` as inbox node `id` of `agency` and runs the plugin on the events.
fn publish_as(tree: &mut MemoryTree, agency: &str, id: &str, document: &str) {
    let events = tree.create(
        &format!("/city/alerts/inbox/{agency}/{id}"),
        document.as_bytes(),
    );
    tree.run::<AlertFanout>(b"", &events).expect("handled");
}

/// An agency may publish only under the senders it is registered for: otherwise the city's
/// police could put out an alert as the National Weather Service, and an agency the city never
/// registered could publish at all.
#[test]
fn an_agency_cannot_publish_in_another_agencys_name() {
    let mut tree = city();
    let flood = include_str!("../testdata/flood-warning.xml");
    publish_as(&mut tree, "cascadia-bay-oem", "spoof", flood);
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/spoof").unwrap()).unwrap();
    assert!(
        reason.contains("is not one that agency cascadia-bay-oem"),
        "{reason}"
    );
    tree.create("/city/alerts/inbox/stranger", b"");
    publish_as(&mut tree, "stranger", "unknown", flood);
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/unknown").unwrap()).unwrap();
    assert!(reason.contains("not a registered agency"), "{reason}");
    assert!(
        notified(&tree, "notifications").is_empty(),
        "nothing was sent"
    );
    publish_as(&mut tree, "nws-portland", "real", flood);
    assert!(!notified(&tree, "notifications").is_empty());
}

fn notified(tree: &MemoryTree, subtree: &str) -> Vec<String> {
    let mut found = Vec::new();
    for district in tree.children(&format!("/city/{subtree}")) {
        for thread in tree.children(&format!("/city/{subtree}/{district}")) {
            found.push(format!("{district}/{thread}"));
        }
    }
    found
}

fn notification(tree: &MemoryTree, path: &str) -> Notification {
    Notification::from_json(&tree.get(&format!("/city/{path}")).expect("notification")).unwrap()
}

fn districts_of(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(|entry| entry.split('/').next().unwrap())
        .collect()
}

#[test]
fn a_polygon_alert_reaches_exactly_the_districts_it_overlaps() {
    let mut tree = city();
    publish(
        &mut tree,
        "a1",
        include_str!("../testdata/flood-warning.xml"),
    );
    let list = notified(&tree, "notifications");
    assert_eq!(districts_of(&list), ["old-town", "riverside"]);
    let first = notification(&tree, &format!("notifications/{}", list[0]));
    assert_eq!(first.msg_type, "Alert");
    assert_eq!(first.severity, "Severe");
    assert!(first.headline.starts_with("Flood Warning"));
    assert_eq!(first.polygons.len(), 1);
    assert_eq!(first.alert, "/city/alerts/inbox/nws-portland/a1");
    let stat = tree
        .stat(&format!("/city/notifications/{}", list[0]))
        .unwrap();
    assert_ne!(stat.ephemeral_owner, 0, "a TTL node carries its TTL there");
    assert!(
        tree.get(&format!("/city/notifications/{}/ack", list[0]))
            .is_some()
    );
    // Only the district's own system may write its acknowledgement.
    let district = list[0].split('/').next().unwrap();
    let (acl, _) = tree
        .tree()
        .get_acl(
            &format!("/city/notifications/{}/ack", list[0]),
            &[polis_plugin_sdk::testing::polis_tree::Id::new(
                "super", "test",
            )],
        )
        .unwrap();
    let writers: Vec<String> = acl
        .iter()
        .filter(|entry| {
            entry
                .perms
                .contains(polis_plugin_sdk::testing::polis_tree::Perms::WRITE)
        })
        .map(|entry| format!("{}:{}", entry.id.scheme, entry.id.id))
        .collect();
    assert!(
        writers.contains(&format!("x509:CN={district},O=Polis")),
        "{writers:?}"
    );
    assert!(
        !writers.iter().any(|writer| writer == "world:anyone"),
        "{writers:?}"
    );
}

#[test]
fn a_circle_and_a_json_rendering_reach_the_districts_within_the_radius() {
    let mut tree = city();
    publish(
        &mut tree,
        "a1",
        include_str!("../testdata/chemical-fire.json"),
    );
    let list = notified(&tree, "notifications");
    assert_eq!(districts_of(&list), ["industrial", "university"]);
    let industrial = notification(&tree, &format!("notifications/{}", list[0]));
    assert_eq!(industrial.agencies, ["hazmat-unit-4"]);
    let university = notification(&tree, &format!("notifications/{}", list[1]));
    assert_eq!(university.agencies, ["campus-safety"]);
}

#[test]
fn a_geocode_alert_reaches_the_districts_with_that_code() {
    let mut tree = city();
    publish(
        &mut tree,
        "a1",
        include_str!("../testdata/winter-storm.xml"),
    );
    let list = notified(&tree, "notifications");
    assert_eq!(
        districts_of(&list),
        ["airport", "hillcrest", "northgate", "westwood"]
    );
}

#[test]
fn a_test_message_goes_to_the_exercise_subtree_only() {
    let mut tree = city();
    publish(
        &mut tree,
        "t1",
        include_str!("../testdata/monthly-test.xml"),
    );
    assert!(notified(&tree, "notifications").is_empty());
    let list = notified(&tree, "exercises");
    assert_eq!(list.len(), 12);
    assert!(
        tree.get(&format!("/city/exercises/{}/ack", list[0]))
            .is_none()
    );
}

#[test]
fn an_invalid_alert_is_rejected_with_every_reason() {
    let mut tree = city();
    publish(
        &mut tree,
        "bad",
        include_str!("../testdata/invalid-open-polygon.xml"),
    );
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/bad").unwrap()).unwrap();
    assert!(reason.contains("urgency> is missing"), "{reason}");
    assert!(reason.contains("at least 4 pairs"), "{reason}");
    assert!(notified(&tree, "notifications").is_empty());
}

#[test]
fn garbage_is_rejected_not_retried() {
    let mut tree = city();
    publish(&mut tree, "junk", "hello");
    publish(
        &mut tree,
        "xml",
        "<alert><identifier>x</identifier></alert>",
    );
    let junk = String::from_utf8(tree.get("/city/alerts/rejected/junk").unwrap()).unwrap();
    assert!(junk.contains("neither CAP XML"), "{junk}");
    let xml = String::from_utf8(tree.get("/city/alerts/rejected/xml").unwrap()).unwrap();
    assert!(xml.contains("namespace"), "{xml}");
}

#[test]
fn the_same_alert_published_twice_is_recorded_as_a_duplicate() {
    let mut tree = city();
    let document = include_str!("../testdata/flood-warning.xml");
    publish(&mut tree, "a1", document);
    let before = notified(&tree, "notifications");
    let versions: Vec<i32> = before
        .iter()
        .map(|entry| {
            tree.stat(&format!("/city/notifications/{entry}"))
                .unwrap()
                .version
        })
        .collect();
    publish(&mut tree, "a1-again", document);
    assert_eq!(notified(&tree, "notifications"), before);
    for (entry, version) in before.iter().zip(versions) {
        assert_eq!(
            tree.stat(&format!("/city/notifications/{entry}"))
                .unwrap()
                .version,
            version
        );
    }
    assert!(tree.get("/city/alerts/duplicates/a1-again").is_some());
}

#[test]
fn an_update_rewrites_the_thread_and_a_cancel_releases_it() {
    let mut tree = city();
    publish(
        &mut tree,
        "a1",
        include_str!("../testdata/flood-warning.xml"),
    );
    let thread = tree.children("/city/alerts/state")[0].clone();
    publish(
        &mut tree,
        "a2",
        include_str!("../testdata/flood-warning-update.xml"),
    );
    assert_eq!(
        notified(&tree, "notifications"),
        [
            format!("eastbank/{thread}"),
            format!("old-town/{thread}"),
            format!("riverside/{thread}")
        ]
    );
    assert_eq!(
        notification(&tree, &format!("notifications/riverside/{thread}")).msg_type,
        "Update"
    );
    assert_eq!(
        notification(&tree, &format!("notifications/eastbank/{thread}")).msg_type,
        "Update"
    );
    let old_town = notification(&tree, &format!("notifications/old-town/{thread}"));
    assert_eq!(old_town.msg_type, "Cancel");
    assert!(old_town.note.contains("outside the updated area"));
    let first_key = tree.children("/city/alerts/keys")[0].clone();
    let record =
        String::from_utf8(tree.get(&format!("/city/alerts/keys/{first_key}")).unwrap()).unwrap();
    assert!(record.contains("superseded_by"), "{record}");

    publish(
        &mut tree,
        "a3",
        include_str!("../testdata/flood-warning-cancel.xml"),
    );
    for district in ["eastbank", "riverside", "old-town"] {
        assert_eq!(
            notification(&tree, &format!("notifications/{district}/{thread}")).msg_type,
            "Cancel"
        );
    }
    let state = ThreadState::from_json(&tree.get(&format!("/city/alerts/state/{thread}")).unwrap())
        .unwrap();
    assert!(state.cancelled);
    assert_eq!(state.keys.len(), 3);
    assert!(
        state
            .districts
            .values()
            .all(|progress| *progress == DistrictProgress::Released)
    );
}

#[test]
fn an_update_and_its_alert_in_one_batch_still_make_one_notification_each() {
    let mut tree = city();
    let mut events = tree.create(
        "/city/alerts/inbox/nws-portland/a1",
        include_str!("../testdata/flood-warning.xml").as_bytes(),
    );
    events.extend(tree.create(
        "/city/alerts/inbox/nws-portland/a2",
        include_str!("../testdata/flood-warning-update.xml").as_bytes(),
    ));
    tree.run::<AlertFanout>(b"", &events).expect("handled");
    assert_eq!(
        districts_of(&notified(&tree, "notifications")),
        ["eastbank", "old-town", "riverside"]
    );
}

#[test]
fn a_cancel_of_an_unknown_alert_is_rejected() {
    let mut tree = city();
    publish(
        &mut tree,
        "c1",
        include_str!("../testdata/flood-warning-cancel.xml"),
    );
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/c1").unwrap()).unwrap();
    assert!(reason.contains("references no alert"), "{reason}");
}

#[test]
fn a_restricted_alert_notifies_without_its_content() {
    let mut tree = city();
    publish(
        &mut tree,
        "r1",
        include_str!("../testdata/restricted-police.xml"),
    );
    let list = notified(&tree, "notifications");
    assert_eq!(districts_of(&list), ["harbor"]);
    let harbor = notification(&tree, &format!("notifications/{}", list[0]));
    assert_eq!(harbor.scope, "Restricted");
    assert!(harbor.headline.is_empty() && harbor.polygons.is_empty() && harbor.circles.is_empty());
    assert_eq!(harbor.alert, "/city/alerts/inbox/cascadia-bay-oem/r1");
}

#[test]
fn an_alert_already_expired_is_rejected() {
    let mut tree = city();
    let stale = include_str!("../testdata/winter-storm.xml")
        .replace("2026-11-30T04:00:00-08:00", "2020-01-01T00:00:00-08:00")
        .replace("2026-12-01T04:00:00-08:00", "2020-01-02T00:00:00-08:00");
    publish(&mut tree, "old", &stale);
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/old").unwrap()).unwrap();
    assert!(reason.contains("expired"), "{reason}");
}

#[test]
fn a_private_alert_goes_to_the_addressed_districts_only() {
    let mut tree = city();
    let private = include_str!("../testdata/restricted-police.xml")
        .replace("<scope>Restricted</scope>", "<scope>Private</scope>")
        .replace(
            "<restriction>Law enforcement and port security only</restriction>",
            "<addresses>harbor riverside no-such-district</addresses>",
        );
    publish(&mut tree, "p1", &private);
    let list = notified(&tree, "notifications");
    assert_eq!(districts_of(&list), ["harbor", "riverside"]);
    let riverside = notification(&tree, &format!("notifications/{}", list[1]));
    assert_eq!(riverside.scope, "Private");
    assert!(riverside.headline.is_empty());
}

#[test]
fn a_private_alert_without_addresses_is_rejected() {
    let mut tree = city();
    let private = include_str!("../testdata/restricted-police.xml")
        .replace("<scope>Restricted</scope>", "<scope>Private</scope>");
    publish(&mut tree, "p1", &private);
    let reason = String::from_utf8(tree.get("/city/alerts/rejected/p1").unwrap()).unwrap();
    assert!(reason.contains("needs <addresses>"), "{reason}");
}

// ------------------------------------------------------------------------------------------------
// Targeting as alerting practice does it (issue 16). Each document is written from the public
// CAP profiles and examples of its issuer; the table in the README lists expected vs notified.

fn districts_notified_by(document: &str) -> Vec<String> {
    let mut tree = city();
    publish(&mut tree, "t1", document);
    let list = notified(&tree, "notifications");
    districts_of(&list)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// An NWS storm-based warning carries its county's SAME code beside the polygon, as every NWS
/// warning does; the polygon is the warned area. It once reached all twelve districts.
#[test]
fn a_storm_based_warning_reaches_its_polygon_not_the_whole_county() {
    assert_eq!(
        districts_notified_by(include_str!("../testdata/nws-tornado-warning.xml")),
        ["lakeview", "northgate", "westwood"]
    );
}

/// A zone-based product has no shape: its forecast zone targets, not the county its SAME code
/// names (the finest scheme both sides use decides).
#[test]
fn a_zone_based_product_reaches_its_zone_not_the_whole_county() {
    assert_eq!(
        districts_notified_by(include_str!("../testdata/nws-wind-advisory.xml")),
        ["harbor", "industrial", "southport", "university"]
    );
}

/// A CAP circle targets by its geometry; the county SAME code IPAWS requires beside it does not.
#[test]
fn a_circle_reaches_the_districts_it_overlaps() {
    assert_eq!(
        districts_notified_by(include_str!("../testdata/ipaws-hazmat-circle.xml")),
        ["riverside"]
    );
}

/// An agency registered with `"geocodeTargeting": "always"` targets by its geocodes beside a
/// shape too: a county-wide policy is the city's explicit choice, never the default.
#[test]
fn an_agency_may_be_registered_to_target_by_geocodes_always() {
    let mut tree = city();
    let entry = serde_json::json!({
        "identity": "CN=cascadia-bay-oem,O=Polis",
        "senders": ["oem@cascadia-bay.example"],
        "geocodeTargeting": "always",
    });
    tree.set(
        "/city/agencies/cascadia-bay-oem",
        entry.to_string().as_bytes(),
    );
    publish(
        &mut tree,
        "t1",
        include_str!("../testdata/ipaws-hazmat-circle.xml"),
    );
    assert_eq!(
        notified(&tree, "notifications").len(),
        12,
        "the county's SAME code names every district"
    );
}

/// Every info block reaches the district, by language, and the area they share is listed once.
#[test]
fn every_language_of_an_alert_reaches_the_district_and_its_area_once() {
    let mut tree = city();
    publish(
        &mut tree,
        "t1",
        include_str!("../testdata/nws-tornado-warning.xml"),
    );
    let list = notified(&tree, "notifications");
    let sent = notification(&tree, &format!("notifications/{}", list[0]));
    let languages: Vec<&str> = sent
        .info
        .iter()
        .map(|info| info.language.as_str())
        .collect();
    assert_eq!(languages, ["en-US", "es-US"]);
    assert_eq!(sent.info[1].event, "Aviso de Tornado");
    assert!(sent.info[1].instruction.starts_with("¡BUSQUE REFUGIO"));
    assert_eq!(
        sent.event, "Tornado Warning",
        "the primary language's, as before"
    );
    assert_eq!(sent.polygons.len(), 1, "{:?}", sent.polygons);
    assert_eq!(sent.area, ["Multnomah, OR"]);
}

/// Registers `agency` (with its inbox) for `sender`, and publishes `document` as it.
fn districts_notified_as(agency: &str, sender: &str, document: &str) -> (MemoryTree, Vec<String>) {
    let mut tree = city();
    let entry =
        serde_json::json!({ "identity": format!("CN={agency},O=Polis"), "senders": [sender] });
    tree.create(
        &format!("/city/agencies/{agency}"),
        entry.to_string().as_bytes(),
    );
    tree.create(&format!("/city/alerts/inbox/{agency}"), b"");
    publish_as(&mut tree, agency, "t1", document);
    let list = notified(&tree, "notifications");
    let districts = districts_of(&list)
        .into_iter()
        .map(str::to_string)
        .collect();
    (tree, districts)
}

/// An Environment Canada (NAAD, CAP-CP) warning: its polygon targets; its CAP-CP location codes,
/// which name no district, neither add nor take away; both official languages reach the district.
#[test]
fn a_naad_cap_cp_warning_reaches_its_polygon_in_both_languages() {
    let (tree, districts) = districts_notified_as(
        "eccc",
        "cap-pac@canada.ca",
        include_str!("../testdata/naad-cap-cp-tornado.xml"),
    );
    assert_eq!(districts, ["eastbank", "riverside"]);
    let list = notified(&tree, "notifications");
    let sent = notification(&tree, &format!("notifications/{}", list[0]));
    let languages: Vec<&str> = sent
        .info
        .iter()
        .map(|info| info.language.as_str())
        .collect();
    assert_eq!(languages, ["en-CA", "fr-CA"]);
    assert_eq!(sent.info[1].headline, "avertissement de tornade en vigueur");
    assert_eq!(sent.area, ["East river bank", "Rive est"]);
    assert_eq!(sent.polygons.len(), 1);
}

/// A MeteoAlarm warning: an EMMA_ID region beside its polygon, the polygon deciding.
#[test]
fn a_meteoalarm_warning_reaches_its_polygon() {
    let (_, districts) = districts_notified_as(
        "knmi",
        "info@knmi.nl",
        include_str!("../testdata/meteoalarm-wind.xml"),
    );
    assert_eq!(districts, ["harbor"]);
}
