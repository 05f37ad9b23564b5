//! `polis-bench`: Polis side by side with ZooKeeper 3.8 and etcd 3.4, each a three-member
//! cluster on this machine's loopback, under the same closed-loop load over each system's own
//! protocol (ZooKeeper's for ZooKeeper and Polis's ZooKeeper face, gRPC for etcd, QUIC for
//! Polis's native protocol).
//!
//! It starts the clusters as child processes, runs every case, prints a markdown table and
//! writes it with a JSON of every figure to the output folder, and stops the clusters (also on
//! Ctrl-C or SIGTERM). `scripts/bench peers` installs the servers, builds and runs it.
//!
//! Repeats are interleaved: each repeat runs every case against every system in turn, so that
//! drift of the machine (other load, thermal state) hits all systems alike.

mod etcd;
mod load;
mod observe;
mod preload;
mod report;
mod servers;
mod session;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use crate::load::{Case, Target, Timing, Workload};
use crate::report::{Outcome, Results};
use crate::servers::{EtcdCluster, PolisCluster, ZooKeeperEnsemble, ZooKeeperInstall};
use crate::session::{Endpoints, SystemKind};

#[derive(Debug, Parser)]
#[command(
    name = "polis-bench",
    about = "Polis against ZooKeeper and etcd: three-member clusters on loopback, closed-loop load"
)]
struct Arguments {
    /// The systems to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "zookeeper,etcd,polis-zk,polis-quic"
    )]
    systems: Vec<SystemKind>,
    /// The workloads to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "create,set,get,mixed,multi,watch"
    )]
    workloads: Vec<Workload>,
    /// Concurrent sessions per case (watch: watcher sessions), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    sessions: Vec<usize>,
    /// Measured seconds per case.
    #[arg(long, env = "POLIS_BENCH_SECONDS", default_value_t = 8.0)]
    seconds: f64,
    /// Warm-up seconds per case, before the measured window.
    #[arg(long, env = "POLIS_BENCH_WARMUP_SECONDS", default_value_t = 2.0)]
    warmup_seconds: f64,
    /// How many times every case runs (interleaved across systems).
    #[arg(long, env = "POLIS_BENCH_REPEATS", default_value_t = 2)]
    repeats: usize,
    /// Where the table (peers.md) and the figures (peers.json) are written.
    #[arg(long, default_value = "target/bench-peers")]
    out_dir: PathBuf,
    /// How Polis's ZooKeeper faces serve reads: `linearizable` (the default, Raft's ReadIndex)
    /// or `sequential` (ZooKeeper's own guarantee: a local read after the session's writes).
    #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "sequential"])]
    polis_zookeeper_reads: String,
    /// The members of each system's cluster: 3 (the default), or 1 to compare each system
    /// standalone (ZooKeeper's standalone mode, one etcd member, a one-node Polis).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=3))]
    members: u16,
    /// Each Polis node's `runtime_threads`; 0 leaves the default, one per core. The three nodes
    /// share this machine's cores with each other, the peers and the load generator, so each is
    /// given one thread by default (`runtime_threads` in the README). ZooKeeper and etcd run
    /// with their own defaults.
    #[arg(long, default_value_t = 1)]
    polis_runtime_threads: usize,
    /// Nodes loaded into every system before the cases (1,000 children per parent, 48-byte
    /// data, multis of 100 creates), so that the cases run against a large tree: 1000000 shows
    /// what a snapshot of a city-sized tree costs the writes around it.
    #[arg(long, default_value_t = 0)]
    preload_znodes: usize,
    /// The `polis` binary (a release build).
    #[arg(long, default_value = "target/release/polis")]
    polis: PathBuf,
    /// The etcd server binary.
    #[arg(long, default_value = "etcd")]
    etcd: PathBuf,
    /// The Java runtime for ZooKeeper.
    #[arg(long, default_value = "java")]
    java: PathBuf,
    /// ZooKeeper's class path (Debian's package layout by default).
    #[arg(
        long,
        default_value = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
    )]
    zookeeper_classpath: String,
    /// ZooKeeper's JVM heap bound.
    #[arg(long, default_value = "1g")]
    zookeeper_heap: String,
}

fn main() -> std::process::ExitCode {
    let arguments = Arguments::parse();
    if arguments.members == 2 {
        eprintln!("polis-bench: --members takes 1 or 3");
        return std::process::ExitCode::FAILURE;
    }
    servers::set_members(arguments.members);
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run_until_stopped(arguments)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("polis-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark unless Ctrl-C or SIGTERM comes first; either way the clusters are
/// dropped, and so stopped, before this returns.
async fn run_until_stopped(arguments: Arguments) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        outcome = run(arguments) => outcome,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        _ = terminate.recv() => anyhow::bail!("terminated"),
    }
}

/// The clusters of one run; dropping it stops every server process.
#[derive(Debug, Default)]
struct Clusters {
    zookeeper: Option<ZooKeeperEnsemble>,
    etcd: Option<EtcdCluster>,
    polis: Option<PolisCluster>,
}

async fn run(arguments: Arguments) -> anyhow::Result<()> {
    anyhow::ensure!(
        arguments.seconds > 0.0 && arguments.warmup_seconds >= 0.0,
        "the measured seconds must be positive and the warm-up not negative"
    );
    anyhow::ensure!(
        arguments.repeats > 0,
        "POLIS_BENCH_REPEATS must be positive"
    );
    anyhow::ensure!(
        arguments.sessions.iter().all(|sessions| *sessions > 0),
        "every --sessions count must be positive"
    );
    let timing = Timing {
        warmup: Duration::from_secs_f64(arguments.warmup_seconds),
        measure: Duration::from_secs_f64(arguments.seconds),
    };
    let work_dir = tempfile::Builder::new()
        .prefix("polis-bench-")
        .tempdir()
        .context("creating a work folder")?;
    let mut clusters = Clusters::default();
    let mut targets = Vec::new();
    let mut versions = serde_json::Map::new();
    for &system in &arguments.systems {
        eprintln!("starting {}", system.name());
        let target = match system {
            SystemKind::ZooKeeper => {
                versions.insert(
                    "zookeeper".into(),
                    jar_version(&arguments.zookeeper_classpath).into(),
                );
                let install = ZooKeeperInstall {
                    java: arguments.java.clone(),
                    classpath: arguments.zookeeper_classpath.clone(),
                    heap_max: arguments.zookeeper_heap.clone(),
                };
                let ensemble = ZooKeeperEnsemble::start(&install, work_dir.path()).await?;
                let target = Target {
                    kind: system,
                    endpoints: Endpoints::ZooKeeper(ensemble.client_addresses.clone()),
                    pids: ensemble.pids(),
                    polis_metrics: Vec::new(),
                };
                clusters.zookeeper = Some(ensemble);
                target
            }
            SystemKind::Etcd => {
                versions.insert(
                    "etcd".into(),
                    first_line(&arguments.etcd, "--version").into(),
                );
                let cluster = EtcdCluster::start(&arguments.etcd, work_dir.path()).await?;
                let target = Target {
                    kind: system,
                    endpoints: Endpoints::Etcd(cluster.client_urls.clone()),
                    pids: cluster.pids(),
                    polis_metrics: Vec::new(),
                };
                clusters.etcd = Some(cluster);
                target
            }
            SystemKind::PolisZooKeeper | SystemKind::PolisQuic => {
                if clusters.polis.is_none() {
                    versions.insert(
                        "polis".into(),
                        first_line(&arguments.polis, "--version").into(),
                    );
                    let cluster = PolisCluster::start(
                        &arguments.polis,
                        &work_dir.path().join("polis"),
                        &arguments.polis_zookeeper_reads,
                        (arguments.polis_runtime_threads > 0)
                            .then_some(arguments.polis_runtime_threads),
                    )
                    .await?;
                    clusters.polis = Some(cluster);
                }
                let cluster = clusters.polis.as_ref().expect("started above");
                Target {
                    kind: system,
                    endpoints: if system == SystemKind::PolisQuic {
                        Endpoints::PolisQuic(cluster.client_configs.clone())
                    } else {
                        Endpoints::ZooKeeper(cluster.zookeeper_addresses.clone())
                    },
                    pids: cluster.pids(),
                    polis_metrics: cluster.metrics_addresses.clone(),
                }
            }
        };
        targets.push(target);
    }
    if arguments.preload_znodes > 0 {
        for target in &targets {
            // Polis's two faces share one cluster: load it once.
            let shared_and_loaded = target.kind == SystemKind::PolisQuic
                && targets
                    .iter()
                    .any(|other| other.kind == SystemKind::PolisZooKeeper);
            if shared_and_loaded {
                continue;
            }
            eprintln!(
                "preloading {} znodes into {}",
                arguments.preload_znodes,
                target.kind.name()
            );
            let took = preload::preload(&target.endpoints, arguments.preload_znodes).await?;
            eprintln!("  took {:.1} s", took.as_secs_f64());
        }
    }

    let mut results = Results::default();
    for repeat in 1..=arguments.repeats {
        for &workload in &arguments.workloads {
            for &sessions in &arguments.sessions {
                for target in &targets {
                    let case = Case {
                        repeat,
                        workload,
                        sessions,
                    };
                    eprintln!(
                        "repeat {repeat}/{}: {} × {sessions} on {}",
                        arguments.repeats,
                        workload.name(),
                        target.kind.name()
                    );
                    let outcome = match load::run_case(target, case, timing).await {
                        Ok(measurement) => Outcome::Measured(measurement),
                        Err(error) => {
                            eprintln!("  failed: {error:#}");
                            Outcome::Failed(format!("{error:#}"))
                        }
                    };
                    results.add(workload, sessions, target.kind, repeat, outcome);
                }
            }
        }
    }
    drop(clusters);

    let table = results.markdown();
    let heading = format!(
        "Polis against ZooKeeper and etcd: {} member(s) each on 127.0.0.1, closed loop \
         (one request in flight per session), {PAYLOAD_LEN}-byte data, {:.0} s measured after \
         {:.0} s warm-up, {} repeat(s) merged. Watch: ops/s are fan-out rounds per second (the \
         ZooKeeper-protocol and Polis watchers set a one-shot watch again each round, etcd's \
         streams stay open), latency is until the last watcher has the event. Polis's \
         ZooKeeper faces serve {} reads; each Polis node runs {}. Preloaded znodes: {}.\n\n",
        arguments.members,
        arguments.seconds,
        arguments.warmup_seconds,
        arguments.repeats,
        arguments.polis_zookeeper_reads,
        match arguments.polis_runtime_threads {
            0 => "one runtime thread per core".to_string(),
            1 => "one runtime thread".to_string(),
            threads => format!("{threads} runtime threads"),
        },
        arguments.preload_znodes,
        PAYLOAD_LEN = load::PAYLOAD_LEN,
    );
    println!("{heading}{table}");
    std::fs::create_dir_all(&arguments.out_dir)
        .with_context(|| format!("creating {}", arguments.out_dir.display()))?;
    let markdown_path = arguments.out_dir.join("peers.md");
    std::fs::write(&markdown_path, format!("{heading}{table}"))
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    let settings = serde_json::json!({
        "seconds": arguments.seconds,
        "warmup_seconds": arguments.warmup_seconds,
        "repeats": arguments.repeats,
        "preload_znodes": arguments.preload_znodes,
        "payload_bytes": load::PAYLOAD_LEN,
        "multi_ops": load::MULTI_OPS,
        "cpus": std::thread::available_parallelism().map(usize::from).ok(),
        "versions": versions,
    });
    let json_path = arguments.out_dir.join("peers.json");
    let json = serde_json::to_string_pretty(&results.json(settings)).context("encoding JSON")?;
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!(
        "wrote {} and {}",
        markdown_path.display(),
        json_path.display()
    );
    Ok(())
}

/// The first line a program prints for `argument` (its version), or why not.
fn first_line(program: &std::path::Path, argument: &str) -> String {
    match std::process::Command::new(program).arg(argument).output() {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        Err(error) => format!("unknown ({error})"),
    }
}

/// The file name the class path's first jar resolves to: Debian's `zookeeper.jar` is a link to
/// `zookeeper-3.8.0.jar`.
fn jar_version(classpath: &str) -> String {
    let jar = classpath.split(':').next().unwrap_or_default();
    std::fs::canonicalize(jar)
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("unknown ({jar})"))
}
