//! What operators run beside the cluster: the Grafana dashboard (`deploy/grafana/polis.json`) and
//! the Prometheus alerting rules (`deploy/prometheus/polis-alerts.yaml`) must name metrics that
//! nodes really export, under the names and types the queries assume.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use polis_client::{Acl, CreateMode};
use polis_tests::client::connect;
use polis_tests::cluster::TestCluster;
use polis_tests::eventually;
use polis_tests::node::TestNode;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_path_buf()
}

/// Every `polis_*` metric a query names, without the `_bucket`, `_sum` and `_count` suffixes a
/// histogram's series carry.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut index = 0;
    while let Some(found) = text[index..].find("polis_") {
        let start = index + found;
        let end = start
            + text[start..]
                .find(|character: char| !(character.is_ascii_lowercase() || character == '_'))
                .unwrap_or(text.len() - start);
        let preceded_by_word = start > 0 && (bytes[start - 1].is_ascii_alphanumeric());
        if !preceded_by_word {
            let name = &text[start..end];
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(name.to_string());
        }
        index = end;
    }
    names
}

/// The metric names the server's sources record (`counter!`, `gauge!`, `histogram!` with the
/// name as a string literal).
fn recorded_names() -> String {
    let mut sources = String::new();
    let mut folders = vec![repository().join("runtime")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }
    sources
}

/// Metrics that a node exports only once something happened to it (a cap reached, bad bytes, a
/// plugin running or failing); for them the test holds the sources to recording the name.
const RECORDED_ON_EVENTS: &[&str] = &[
    "polis_connections_refused_total",
    "polis_plugin_dead_letters_total",
    "polis_plugin_lag_entries",
    "polis_plugins_running",
    "polis_protocol_errors_total",
    "polis_sessions_refused_total",
    "polis_zookeeper_connections_refused_total",
    "polis_zookeeper_protocol_errors_total",
    "polis_zookeeper_sasl_failures_total",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_name_only_metrics_a_node_exports() {
    let dashboard =
        std::fs::read_to_string(repository().join("deploy/grafana/polis.json")).unwrap();
    let alerts =
        std::fs::read_to_string(repository().join("deploy/prometheus/polis-alerts.yaml")).unwrap();
    let mut wanted = metric_names(&dashboard);
    wanted.extend(metric_names(&alerts));
    assert!(wanted.len() >= 15, "{wanted:?}");

    // The node whose admin listener installs the process's recorder comes first; the
    // cluster's nodes, started after it, record into the same one.
    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    })
    .await;
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let client = cluster.client("operator", &[leader]).await;
    for index in 0..20 {
        client
            .create(
                &format!("/metrics-{index}"),
                b"x",
                &Acl::open(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
    }
    let local = connect(&node, "alice").await;
    let (_, _watch) = local.exists_watch("/watched").await.unwrap();
    let zookeeper_address = node.server.zookeeper_address.expect("the ZooKeeper face");
    let zookeeper = zookeeper_client::Client::connect(&zookeeper_address.to_string())
        .await
        .expect("a ZooKeeper session");
    zookeeper.get_data("/").await.unwrap();

    let sources = recorded_names();
    let exported = wanted
        .iter()
        .filter(|name| !RECORDED_ON_EVENTS.contains(&name.as_str()))
        .cloned()
        .collect::<Vec<_>>();
    for name in wanted
        .iter()
        .filter(|name| RECORDED_ON_EVENTS.contains(&name.as_str()))
    {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "{name} is named by the dashboard or the alerts, but nothing records it"
        );
    }
    let missing = |metrics: &str| {
        exported
            .iter()
            .filter(|name| !metrics.contains(&format!("\n{name}")))
            .cloned()
            .collect::<Vec<_>>()
    };
    let metrics = eventually(
        "every metric the dashboard and the alerts name in /metrics",
        Duration::from_secs(20),
        async || {
            let metrics = node.admin_get("/metrics").await;
            if missing(&metrics).is_empty() {
                return Some(metrics);
            }
            eprintln!("not exported yet: {:?}", missing(&metrics));
            None
        },
    )
    .await;
    // Histograms are exported as histograms (buckets), which histogram_quantile needs.
    for histogram in ["polis_request_seconds", "polis_raft_fsync_seconds"] {
        assert!(
            metrics.contains(&format!("{histogram}_bucket{{")),
            "{histogram}"
        );
    }
    // The certificate's end is a time in the future, as the expiry alerts assume.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expiry: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with("polis_certificate_expiry_seconds{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!expiry.is_empty());
    assert!(expiry.iter().all(|end| *end > now), "{expiry:?}");

    drop(zookeeper);
    local.close().await.unwrap();
    client.close().await.unwrap();
    cluster.shutdown().await;
    node.shutdown().await;
}
