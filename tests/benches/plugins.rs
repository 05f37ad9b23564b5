//! Events per second through one plugin, end to end: clients write events, the leader's plugin
//! runner hands them to a real wasm guest (the `journal` test guest, which appends one entry per
//! event) in batches, and commits its writes with the cursor. Measured on one node and on a
//! 3-node loopback cluster, against a baseline in the same run: the same writes with no plugin
//! deployed, so the ratio says how much of the write rate the plugin keeps up with (each event
//! costs the plugin a share of a second commit, its journal entry).
//!
//! `cargo bench -p polis-tests --bench plugins` (or `scripts/bench plugins`). Set
//! `POLIS_BENCH_EVENTS` to change the number of events per case (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use polis_cli::deploy;
use polis_client::{Acl, Client, ClientConfig, CreateMode};
use polis_tests::cluster::TestCluster;
use polis_tests::guests::package;
use polis_tests::node::{ADMIN_NAME, TestNode};

/// Concurrent writers.
const WRITERS: usize = 16;
/// How long a case may take before the bench gives up on it.
const CASE_DEADLINE: Duration = Duration::from_secs(300);

const JOURNAL_MANIFEST: &str = r#"
name = "journal"
version = "1.0.0"
[triggers]
prefixes = ["/in"]
kinds = ["created"]
[capabilities]
write = ["/journal"]
"#;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let events: usize = std::env::var("POLIS_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2_000);
    let journal = package("polis-test-journal", JOURNAL_MANIFEST);
    println!("events per case: {events}, writers: {WRITERS}");

    let node = TestNode::start().await;
    let admin = Client::connect(config(vec![node.address()], node.admin_files()))
        .await
        .expect("admin");
    let writers = connect_writers(vec![node.address()], &node.client_files("agency")).await;
    report("1 node", measure(&admin, &writers, &journal, events).await);
    admin.close().await.expect("close");
    node.shutdown().await;

    let cluster = TestCluster::start(3).await;
    let servers: Vec<_> = (1..=3).map(|id| cluster.address(id)).collect();
    let admin = Client::connect(config(servers.clone(), cluster.client_files(ADMIN_NAME)))
        .await
        .expect("admin");
    let writers = connect_writers(servers, &cluster.client_files("agency")).await;
    report("3 nodes", measure(&admin, &writers, &journal, events).await);
    admin.close().await.expect("close");
    cluster.shutdown().await;
}

fn config(servers: Vec<std::net::SocketAddr>, files: polis_client::TlsFiles) -> ClientConfig {
    let mut config = ClientConfig::new(servers, "localhost", files);
    config.request_timeout_ms = 30_000;
    config
}

/// Writers spread over the servers (each starts at a different one).
async fn connect_writers(
    servers: Vec<std::net::SocketAddr>,
    files: &polis_client::TlsFiles,
) -> Vec<Arc<Client>> {
    let mut clients = Vec::with_capacity(WRITERS);
    for index in 0..WRITERS {
        let mut order = servers.clone();
        order.rotate_left(index % servers.len());
        clients.push(Arc::new(
            Client::connect(config(order, files.clone()))
                .await
                .expect("writer"),
        ));
    }
    clients
}

/// (baseline writes per second, plugin events per second)
async fn measure(
    admin: &Client,
    writers: &[Arc<Client>],
    journal: &deploy::PluginPackage,
    events: usize,
) -> (f64, f64) {
    for path in ["/base", "/in", "/journal"] {
        admin
            .create(path, b"", &Acl::open(), CreateMode::Persistent)
            .await
            .expect("create");
    }
    let started = Instant::now();
    write_events(writers, "/base", events).await;
    let baseline = events as f64 / started.elapsed().as_secs_f64();

    deploy::deploy(admin, journal).await.expect("deploy");
    let started = Instant::now();
    write_events(writers, "/in", events).await;
    loop {
        let report = deploy::status(admin, "journal").await.expect("status");
        if report.status.processed_events >= events as u64 {
            break;
        }
        assert!(
            started.elapsed() < CASE_DEADLINE,
            "the plugin fell behind: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let through_plugin = events as f64 / started.elapsed().as_secs_f64();
    deploy::remove(admin, "journal").await.expect("remove");
    (baseline, through_plugin)
}

async fn write_events(writers: &[Arc<Client>], prefix: &str, events: usize) {
    let per_writer = events.div_ceil(writers.len());
    let mut tasks = Vec::new();
    for (index, writer) in writers.iter().enumerate() {
        let writer = writer.clone();
        let prefix = prefix.to_string();
        let first = index * per_writer;
        let last = ((index + 1) * per_writer).min(events);
        tasks.push(tokio::spawn(async move {
            for event in first..last {
                writer
                    .create(
                        &format!("{prefix}/event-{event:06}"),
                        b"{}",
                        &Acl::open(),
                        CreateMode::Persistent,
                    )
                    .await
                    .expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

fn report(case: &str, (baseline, through_plugin): (f64, f64)) {
    println!(
        "{case}: writes alone {baseline:.0}/s; events written and handled by the plugin \
         {through_plugin:.0}/s ({:.2} of the write rate)",
        through_plugin / baseline
    );
}
