//! The CAP alert fan-out on a 3-node loopback cluster: commit-to-notification latency for an
//! alert that hits 10 districts and one that hits 100, and alerts per second sustained.
//!
//! Latency is measured in the tree, not on a client: from the commit time of the inbox node (the
//! leader's clock when the agency's create committed) to the commit time of the district's
//! notification (the plugin's commit). Every notification of one alert is written in the same
//! commit, so the figure is also "until the last district has it". Throughput: agencies publish
//! alerts as fast as they can (several in flight), until the fan-out's cursor has passed the last
//! one.
//!
//! `cargo bench -p polis-tests --bench city` (or `scripts/bench city`). `POLIS_BENCH_ALERTS`
//! sets the alerts per latency case (default 50) and the throughput case uses ten times that.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use polis_city::sample_city::{self, OEM_AGENCY, format_cap_time};
use polis_city::{
    CityOptions, ROOT, alert_key, deploy_all, packages, publish, set_up_city, wait_handled,
};
use polis_client::Client;
use polis_tests::cluster::TestCluster;
use polis_tests::guests::core_module;

/// The synthetic city: a grid of this many districts a side, each 0.01° square (about 1.1 km by
/// 0.8 km at this latitude).
const GRID_SIDE: usize = 10;
const CELL_DEGREES: f64 = 0.01;
const SOUTH: f64 = 45.45;
const WEST: f64 = -122.80;
/// How long one case may take before the bench gives up on it.
const CASE_DEADLINE: Duration = Duration::from_secs(300);
/// Alerts in flight at once in the throughput case.
const IN_FLIGHT: usize = 16;
const SENDER: &str = "bench@oem.cascadia-bay.example";
const SENT: &str = "2026-11-30T12:00:00-08:00";

fn districts() -> Vec<(String, String)> {
    let mut districts = Vec::new();
    for row in 0..GRID_SIDE {
        for column in 0..GRID_SIDE {
            let south = SOUTH + row as f64 * CELL_DEGREES;
            let west = WEST + column as f64 * CELL_DEGREES;
            let (north, east) = (south + CELL_DEGREES, west + CELL_DEGREES);
            let polygon = format!(
                "{south:.4},{west:.4} {north:.4},{west:.4} {north:.4},{east:.4} {south:.4},{east:.4} {south:.4},{west:.4}"
            );
            districts.push((
                format!("d{row}{column}"),
                serde_json::json!({ "polygon": polygon }).to_string(),
            ));
        }
    }
    districts
}

/// A polygon inside row 5 across all columns (10 districts), or over the whole grid (100).
fn area(districts_hit: usize) -> String {
    let margin = CELL_DEGREES / 5.0;
    let (south, north) = if districts_hit == GRID_SIDE {
        let south = SOUTH + 5.0 * CELL_DEGREES;
        (south + margin, south + CELL_DEGREES - margin)
    } else {
        (
            SOUTH + margin,
            SOUTH + GRID_SIDE as f64 * CELL_DEGREES - margin,
        )
    };
    let (west, east) = (
        WEST + margin,
        WEST + GRID_SIDE as f64 * CELL_DEGREES - margin,
    );
    format!(
        "{south:.4},{west:.4} {north:.4},{west:.4} {north:.4},{east:.4} {south:.4},{east:.4} {south:.4},{west:.4}"
    )
}

fn alert(identifier: &str, polygon: &str) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64);
    let expires = format_cap_time(now_ms + 48 * 3_600_000);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{SENDER}</sender>
  <sent>{SENT}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Met</category>
    <event>Severe Thunderstorm Warning</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <expires>{expires}</expires>
    <headline>Severe thunderstorm with 60 mph gusts moving east at 30 mph</headline>
    <area>
      <areaDesc>Benchmark area</areaDesc>
      <polygon>{polygon}</polygon>
    </area>
  </info>
</alert>"#
    )
}

fn percentile(sorted: &[i64], fraction: f64) -> i64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let alerts: usize = std::env::var("POLIS_BENCH_ALERTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50);
    let cluster = TestCluster::start(3).await;
    let admin = cluster.admin(&[1, 2, 3]).await;
    let registry = districts();
    set_up_city(&admin, &registry, &sample_city::access())
        .await
        .expect("city");
    let packages = packages(&CityOptions::default(), core_module).expect("packages");
    deploy_all(&admin, &packages).await.expect("deployed");
    let agency = cluster.client(OEM_AGENCY, &[1, 2, 3]).await;
    println!(
        "3 nodes, {} districts, {alerts} alerts per latency case",
        registry.len()
    );

    // The first invocation compiles the component; keep it out of the figures.
    let warm = publish(
        &agency,
        OEM_AGENCY,
        "warm-up",
        &alert("warm-up", &area(GRID_SIDE)),
        None,
    )
    .await
    .expect("warm-up");
    assert!(wait_handled(&admin, "alert-fanout", warm.czxid, CASE_DEADLINE).await);

    for districts_hit in [GRID_SIDE, GRID_SIDE * GRID_SIDE] {
        let latencies = latency_case(&admin, &agency, &registry, districts_hit, alerts).await;
        println!(
            "alert to {districts_hit:>3} districts: commit-to-notification p50 {} ms, p99 {} ms, max {} ms ({} alerts)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            latencies.len()
        );
    }
    for districts_hit in [GRID_SIDE, GRID_SIDE * GRID_SIDE] {
        let count = if districts_hit == GRID_SIDE {
            alerts * 10
        } else {
            alerts * 2
        };
        let (rate, elapsed) = throughput_case(&admin, &agency, districts_hit, count).await;
        println!(
            "sustained, {districts_hit:>3} districts per alert: {rate:.0} alerts/s, {:.0} notifications/s ({count} alerts in {:.2} s)",
            rate * districts_hit as f64,
            elapsed.as_secs_f64()
        );
    }
    cluster.shutdown().await;
}

/// Publishes alerts one at a time and returns, sorted, each one's commit-to-notification time
/// (its slowest district's).
async fn latency_case(
    admin: &Client,
    agency: &Client,
    registry: &[(String, String)],
    districts_hit: usize,
    alerts: usize,
) -> Vec<i64> {
    let polygon = area(districts_hit);
    let mut latencies = Vec::with_capacity(alerts);
    for index in 0..alerts {
        let identifier = format!("latency-{districts_hit}-{index:05}");
        let published = publish(
            agency,
            OEM_AGENCY,
            &identifier,
            &alert(&identifier, &polygon),
            None,
        )
        .await
        .expect("publish");
        assert!(wait_handled(admin, "alert-fanout", published.czxid, CASE_DEADLINE).await);
        let key = alert_key(SENDER, &identifier, SENT);
        let mut slowest = 0;
        let mut hit = 0;
        for (district, _) in registry {
            let path = format!("{ROOT}/notifications/{district}/{key}");
            if let Some(stat) = admin.exists(&path).await.expect("exists") {
                hit += 1;
                slowest = slowest.max(stat.mtime - published.ctime);
            }
        }
        assert_eq!(hit, districts_hit, "{identifier} reached {hit} districts");
        latencies.push(slowest);
    }
    latencies.sort_unstable();
    latencies
}

/// Publishes `count` alerts with [`IN_FLIGHT`] in flight; returns alerts per second until the
/// fan-out had handled the last, and the time that took.
async fn throughput_case(
    admin: &Client,
    agency: &Client,
    districts_hit: usize,
    count: usize,
) -> (f64, Duration) {
    let polygon = area(districts_hit);
    let documents: Vec<(String, String)> = (0..count)
        .map(|index| {
            let identifier = format!("throughput-{districts_hit}-{index:05}");
            let document = alert(&identifier, &polygon);
            (identifier, document)
        })
        .collect();
    let started = Instant::now();
    let mut last_zxid = 0;
    for chunk in documents.chunks(IN_FLIGHT) {
        let stats =
            futures::future::join_all(chunk.iter().map(|(identifier, document)| {
                publish(agency, OEM_AGENCY, identifier, document, None)
            }))
            .await;
        for stat in stats {
            last_zxid = last_zxid.max(stat.expect("publish").czxid);
        }
    }
    assert!(wait_handled(admin, "alert-fanout", last_zxid, CASE_DEADLINE).await);
    let elapsed = started.elapsed();
    (count as f64 / elapsed.as_secs_f64(), elapsed)
}
