//! Request throughput and p50/p99 latency of one node at 1, 16 and 64 concurrent clients, over
//! real QUIC with mutual TLS, against a same-run baseline: a bare QUIC echo server with the same
//! TLS configuration, answering frames of the same size. The ratio shows what Polis adds to the
//! transport (request handling, the tree, and for writes the fsync that makes them durable).
//!
//! The same reads and writes then run against a 3-node cluster on loopback (clients spread over
//! the nodes: reads are linearizable, so each one confirms leadership with a quorum first, and
//! writes from followers are forwarded to the leader), against the same echo baseline.
//!
//! `cargo bench -p polis-tests --bench service` (or `scripts/bench service`). Set
//! `POLIS_BENCH_SECONDS` to change the measuring time per case (default 3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use polis_client::{Acl, Client, ClientConfig, CreateMode};
use polis_proto::{FRAME_LEN_MAX_DEFAULT, read_frame, wire, write_frame};
use polis_security::{TlsFiles, TransportTimeouts, quinn_client_config, quinn_server_config};
use polis_tests::cluster::TestCluster;
use polis_tests::node::TestNode;
use tokio::io::BufReader;

const CLIENT_COUNTS: [usize; 3] = [1, 16, 64];
const PAYLOAD_LEN: usize = 256;

#[derive(Debug, Clone, Copy)]
enum Workload {
    Read,
    Write,
    Echo,
}

#[derive(Debug)]
struct Figures {
    operations_per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Requests that failed (e.g. ConnectionLoss when an overloaded leader could not confirm
    /// its leadership in time); they count in no other figure.
    errors: usize,
    /// For writes: Raft log entries per durable append (one fsync each) during the case, over
    /// every node of the process — how well group commit batches.
    entries_per_append: Option<f64>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let seconds: u64 = std::env::var("POLIS_BENCH_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let measuring = Duration::from_secs(seconds);
    let node = TestNode::start().await;
    let echo = EchoServer::start(&node).await;
    let single = Target {
        servers: vec![node.address()],
        files: node.client_files("bench"),
        metrics: node.server.admin_address,
    };
    let cluster = TestCluster::start(3).await;
    let three = Target {
        servers: (1..=3).map(|id| cluster.address(id)).collect(),
        files: cluster.client_files("bench"),
        metrics: node.server.admin_address,
    };
    println!(
        "{:<16} {:>7} {:>12} {:>10} {:>10} {:>14} {:>12} {:>7}",
        "workload", "clients", "ops/s", "p50", "p99", "ops/s vs echo", "p50 vs echo", "errors"
    );
    println!("(entries/fsync: Raft log entries per durable append during a write case)");
    for clients in CLIENT_COUNTS {
        let baseline = measure(&single, &echo, Workload::Echo, clients, measuring).await;
        print_row("echo", clients, &baseline, &baseline);
        for (target, prefix) in [(&single, "1 node"), (&three, "3 nodes")] {
            for workload in [Workload::Read, Workload::Write] {
                let figures = measure(target, &echo, workload, clients, measuring).await;
                let name = match workload {
                    Workload::Read => "read",
                    Workload::Write => "write",
                    Workload::Echo => "echo",
                };
                print_row(&format!("{prefix} {name}"), clients, &figures, &baseline);
            }
        }
    }
    cluster.shutdown().await;
    node.shutdown().await;
}

/// Where the clients of a case connect: one node, or several (spread round-robin).
struct Target {
    servers: Vec<std::net::SocketAddr>,
    files: TlsFiles,
    /// An admin HTTP address whose `/metrics` shows this process's metrics (the Prometheus
    /// recorder is process-wide, so any node's serves them all).
    metrics: Option<std::net::SocketAddr>,
}

/// (sum, count) of the `polis_raft_append_entries` histogram, scraped from `/metrics`.
async fn append_entries_totals(address: std::net::SocketAddr) -> Option<(f64, f64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    let value = |name: &str| {
        body.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|number| number.parse::<f64>().ok())
    };
    Some((
        value("polis_raft_append_entries_sum")?,
        value("polis_raft_append_entries_count")?,
    ))
}

fn print_row(name: &str, clients: usize, figures: &Figures, baseline: &Figures) {
    let batching = figures
        .entries_per_append
        .map(|entries| format!("  entries/fsync {entries:.2}"))
        .unwrap_or_default();
    println!(
        "{:<16} {:>7} {:>12.0} {:>10.3?} {:>10.3?} {:>14.3} {:>12.2} {:>7}{batching}",
        name,
        clients,
        figures.operations_per_second,
        figures.p50,
        figures.p99,
        figures.operations_per_second / baseline.operations_per_second,
        figures.p50.as_secs_f64() / baseline.p50.as_secs_f64(),
        figures.errors,
    );
}

async fn measure(
    target: &Target,
    echo: &EchoServer,
    workload: Workload,
    clients: usize,
    measuring: Duration,
) -> Figures {
    let deadline = Instant::now() + measuring;
    let mut tasks = Vec::with_capacity(clients);
    for index in 0..clients {
        let task = match workload {
            Workload::Echo => {
                let connection = echo.connect().await;
                tokio::spawn(async move { echo_loop(connection, deadline).await })
            }
            Workload::Read | Workload::Write => {
                let client = connect(target, index).await;
                let path = format!("/bench-{clients}-{index}");
                client
                    .create(
                        &path,
                        &[0u8; PAYLOAD_LEN],
                        &Acl::open(),
                        CreateMode::Persistent,
                    )
                    .await
                    .or_else(|error| {
                        if error.is_node_exists() {
                            Ok((path.clone(), Default::default()))
                        } else {
                            Err(error)
                        }
                    })
                    .expect("create");
                tokio::spawn(async move { client_loop(client, path, workload, deadline).await })
            }
        };
        tasks.push(task);
    }
    let appends_before = match (workload, target.metrics) {
        (Workload::Write, Some(address)) => append_entries_totals(address).await,
        _ => None,
    };
    let started = Instant::now();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (task_latencies, task_errors) = task.await.expect("bench task");
        latencies.extend(task_latencies);
        errors += task_errors;
    }
    let elapsed = started.elapsed().max(measuring);
    latencies.sort_unstable();
    let percentile = |fraction: f64| {
        let index = ((latencies.len() as f64 - 1.0) * fraction).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let mut entries_per_append = None;
    if let (Some((sum_before, count_before)), Some(address)) = (appends_before, target.metrics)
        && let Some((sum_after, count_after)) = append_entries_totals(address).await
        && count_after > count_before
    {
        entries_per_append = Some((sum_after - sum_before) / (count_after - count_before));
    }
    Figures {
        operations_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(0.50),
        p99: percentile(0.99),
        errors,
        entries_per_append,
    }
}

async fn connect(target: &Target, index: usize) -> Client {
    let server = target.servers[index % target.servers.len()];
    let config = ClientConfig::new(vec![server], "localhost", target.files.clone());
    Client::connect(config).await.expect("client connects")
}

async fn client_loop(
    client: Client,
    path: String,
    workload: Workload,
    deadline: Instant,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let payload = [7u8; PAYLOAD_LEN];
    while Instant::now() < deadline {
        let started = Instant::now();
        let outcome = match workload {
            Workload::Read => client.get_data(&path).await.map(|_| ()),
            Workload::Write => client.set_data(&path, &payload, -1).await.map(|_| ()),
            Workload::Echo => unreachable!("echo runs its own loop"),
        };
        match outcome {
            Ok(()) => latencies.push(started.elapsed()),
            Err(_) => errors += 1,
        }
    }
    let _ = client.close().await;
    (latencies, errors)
}

/// A bare QUIC server with the node's TLS setup that echoes each frame back: the transport's
/// own cost, measured in the same run.
struct EchoServer {
    address: std::net::SocketAddr,
    client_config: quinn::ClientConfig,
    _endpoint: quinn::Endpoint,
}

impl EchoServer {
    async fn start(node: &TestNode) -> EchoServer {
        let alpn = vec![polis_proto::ALPN_CLIENT.to_vec()];
        let node_files = TlsFiles::for_node(node.certs_dir(), "node1");
        let server_config = quinn_server_config(&node_files, &alpn, &TransportTimeouts::default())
            .expect("server TLS");
        let endpoint =
            quinn::Endpoint::server(server_config, "127.0.0.1:0".parse().expect("address"))
                .expect("echo endpoint");
        let address = endpoint.local_addr().expect("address");
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    let Ok((mut send, receive)) = connection.accept_bi().await else {
                        return;
                    };
                    let mut receive = BufReader::new(receive);
                    while let Ok(Some(frame)) =
                        read_frame::<wire::ClientMessage, _>(&mut receive, FRAME_LEN_MAX_DEFAULT)
                            .await
                    {
                        if write_frame(&mut send, &frame, FRAME_LEN_MAX_DEFAULT)
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        let client_config = quinn_client_config(
            &node.client_files("bench"),
            &alpn,
            &TransportTimeouts::default(),
        )
        .expect("client TLS");
        EchoServer {
            address,
            client_config,
            _endpoint: endpoint,
        }
    }

    async fn connect(
        &self,
    ) -> (
        quinn::SendStream,
        BufReader<quinn::RecvStream>,
        Arc<quinn::Endpoint>,
    ) {
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("endpoint");
        endpoint.set_default_client_config(self.client_config.clone());
        let connection = endpoint
            .connect(self.address, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (send, receive) = connection.open_bi().await.expect("stream");
        (send, BufReader::new(receive), Arc::new(endpoint))
    }
}

async fn echo_loop(
    (mut send, mut receive, _endpoint): (
        quinn::SendStream,
        BufReader<quinn::RecvStream>,
        Arc<quinn::Endpoint>,
    ),
    deadline: Instant,
) -> (Vec<Duration>, usize) {
    // The same request a write sends: a SetData of PAYLOAD_LEN bytes.
    let frame = wire::ClientMessage {
        body: Some(wire::client_message::Body::Request(wire::Request {
            xid: 1,
            op: Some(wire::request::Op::SetData(wire::SetData {
                path: "/bench".to_string(),
                data: vec![7u8; PAYLOAD_LEN],
                version: -1,
                null_data: false,
            })),
            allow_stale: false,
        })),
    };
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        write_frame(&mut send, &frame, FRAME_LEN_MAX_DEFAULT)
            .await
            .expect("send");
        let _: wire::ClientMessage = read_frame(&mut receive, FRAME_LEN_MAX_DEFAULT)
            .await
            .expect("echo")
            .expect("frame");
        latencies.push(started.elapsed());
    }
    (latencies, 0)
}
