//! The closed-loop load: each session has one request in flight at a time and sends the next as
//! soon as the previous one is answered. A case warms up, then measures for a fixed window,
//! reading the servers' CPU time and metrics at the window's two ends.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::observe::{self, PolisMetrics};
use crate::session::{Endpoints, Session, SystemKind};

/// The data every write carries, in bytes.
pub const PAYLOAD_LEN: usize = 256;
/// Nodes set by one multi (etcd: puts in one Txn).
pub const MULTI_OPS: usize = 4;
/// One write in this many operations of the mixed workload (the rest are reads).
const MIXED_WRITE_EVERY: u64 = 10;
/// How long one operation may take before it counts as an error.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long every watcher of a fan-out round may take to get its event.
const WATCH_EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause after a failed operation, so that a session whose requests fail at once (e.g. a
/// lost connection) does not spin and starve the other sessions of the client's CPU.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// How many distinct error messages a case keeps for the report.
const ERROR_SAMPLES_MAX: usize = 5;
/// The latency range recorded, in microseconds, at three significant digits.
const LATENCY_MICROS_MAX: u64 = 60_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// The root node under which every case creates its nodes.
const ROOT: &str = "/polis-bench";

/// The operations measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Workload {
    /// A new node per operation.
    Create,
    /// setData on the session's own node.
    Set,
    /// getData of the session's own node.
    Get,
    /// 90% get, 10% set on the session's own node.
    Mixed,
    /// One multi setting the session's four nodes (etcd: a Txn of four puts).
    Multi,
    /// K watchers on one node, one writer sets it; latency until the last watcher has the event.
    Watch,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::Multi => "multi",
            Workload::Watch => "watch",
        }
    }
}

/// A running system as the load sees it.
#[derive(Debug)]
pub struct Target {
    pub kind: SystemKind,
    pub endpoints: Endpoints,
    /// The server processes whose CPU time is reported.
    pub pids: Vec<u32>,
    /// Every Polis node's admin endpoint (none for other systems).
    pub polis_metrics: Vec<SocketAddr>,
}

/// One case: a workload at a number of sessions against one system.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub repeat: usize,
    pub workload: Workload,
    pub sessions: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one case measured.
#[derive(Debug)]
pub struct Measurement {
    /// Latencies of the operations (watch: of the last watcher per round), in microseconds.
    pub latencies: Histogram<u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub seconds: f64,
    pub server_cpu_seconds: f64,
    /// The change of Polis's metrics over the window.
    pub polis: Option<PolisWindow>,
}

/// How Polis's metrics changed over a measured window.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolisWindow {
    /// The leader's (as of the window's end) change of the entries appended and of the appends;
    /// `None` if no node said it leads.
    pub leader_appends: Option<(f64, f64)>,
    /// The leader's change of the transactions it packed into entries (group commit).
    pub leader_txns: Option<f64>,
    /// The same over every node: followers append what the leader sends in batches.
    pub all_appends: (f64, f64),
    /// Peer handshakes over every node, where the nodes export the counter.
    pub peer_handshakes: Option<f64>,
}

impl PolisWindow {
    fn between(before: &[PolisMetrics], after: &[PolisMetrics]) -> PolisWindow {
        let mut window = PolisWindow::default();
        for (before, after) in before.iter().zip(after) {
            let appends = (
                after.append_entries_sum - before.append_entries_sum,
                after.append_entries_count - before.append_entries_count,
            );
            window.all_appends.0 += appends.0;
            window.all_appends.1 += appends.1;
            if after.is_leader {
                window.leader_appends = Some(appends);
                window.leader_txns = Some(after.txns_proposed - before.txns_proposed);
            }
            if let Some(handshakes) = after.peer_handshakes {
                *window.peer_handshakes.get_or_insert(0.0) +=
                    handshakes - before.peer_handshakes.unwrap_or(0.0);
            }
        }
        window
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("the latency bounds are valid")
}

fn record(latencies: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    latencies.saturating_record(micros.clamp(1, LATENCY_MICROS_MAX));
}

/// Errors of one session or round, with a few distinct messages.
#[derive(Debug, Default)]
struct Errors {
    count: u64,
    samples: Vec<String>,
}

impl Errors {
    fn add(&mut self, error: &anyhow::Error) {
        self.count += 1;
        let message = format!("{error:#}");
        if self.samples.len() < ERROR_SAMPLES_MAX && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for sample in other.samples {
            if self.samples.len() < ERROR_SAMPLES_MAX && !self.samples.contains(&sample) {
                self.samples.push(sample);
            }
        }
    }
}

/// Server-side readings at one end of the measured window.
struct Reading {
    cpu_seconds: f64,
    /// Per Polis node, in node order.
    polis: Vec<PolisMetrics>,
}

async fn read_servers(target: &Target) -> anyhow::Result<Reading> {
    let cpu_seconds = observe::cpu_seconds(&target.pids)?;
    let polis = futures::future::try_join_all(
        target
            .polis_metrics
            .iter()
            .map(|address| observe::scrape_polis(*address)),
    )
    .await?;
    Ok(Reading { cpu_seconds, polis })
}

/// Runs one case against one system. Failed operations are counted, not fatal; an error here
/// means the case could not be set up (sessions or its nodes).
pub async fn run_case(target: &Target, case: Case, timing: Timing) -> anyhow::Result<Measurement> {
    // Named by system too: polis-zk and polis-quic share one tree.
    let base = format!(
        "{ROOT}/r{}-{}-{}-{}",
        case.repeat,
        case.workload.name(),
        case.sessions,
        target.kind.name()
    );
    let setup = target.endpoints.connect(0).await?;
    setup.ensure(ROOT, b"").await?;
    setup.ensure(&base, b"").await?;
    setup.close().await;
    let sessions = futures::future::try_join_all(
        (0..case.sessions).map(|index| target.endpoints.connect(index)),
    )
    .await
    .context("opening the sessions")?;
    let warm_until = Instant::now() + timing.warmup;
    let measure_until = warm_until + timing.measure;
    let window = Window {
        warm_until,
        measure_until,
    };
    let load: JoinHandle<(Histogram<u64>, Errors)> = match case.workload {
        Workload::Watch => {
            let writer = target.endpoints.connect(case.sessions).await?;
            let node = format!("{base}/watched");
            writer.ensure(&node, &[0u8; PAYLOAD_LEN]).await?;
            let watchers = futures::future::try_join_all(
                sessions
                    .into_iter()
                    .map(|session| session.into_watcher(&node)),
            )
            .await
            .context("opening the watches")?;
            tokio::spawn(watch_rounds(writer, watchers, node, window))
        }
        workload => {
            let prepared = futures::future::try_join_all(
                sessions
                    .into_iter()
                    .enumerate()
                    .map(|(index, session)| prepare(session, workload, &base, index)),
            )
            .await
            .context("creating the sessions' nodes")?;
            let tasks: Vec<_> = prepared
                .into_iter()
                .map(|(session, nodes)| tokio::spawn(closed_loop(session, workload, nodes, window)))
                .collect();
            tokio::spawn(async move {
                let mut latencies = new_histogram();
                let mut errors = Errors::default();
                for task in tasks {
                    let (session_latencies, session_errors) =
                        task.await.expect("a session task panicked");
                    latencies
                        .add(&session_latencies)
                        .expect("histograms of equal bounds add");
                    errors.merge(session_errors);
                }
                (latencies, errors)
            })
        }
    };
    tokio::time::sleep_until(warm_until.into()).await;
    let before = read_servers(target).await?;
    tokio::time::sleep_until(measure_until.into()).await;
    let after = read_servers(target).await?;
    let (latencies, errors) = load.await.context("the load task panicked")?;
    let polis = (!target.polis_metrics.is_empty())
        .then(|| PolisWindow::between(&before.polis, &after.polis));
    Ok(Measurement {
        latencies,
        errors: errors.count,
        error_samples: errors.samples,
        seconds: timing.measure.as_secs_f64(),
        server_cpu_seconds: after.cpu_seconds - before.cpu_seconds,
        polis,
    })
}

/// The warm-up end and the measuring end of a case: operations started in between count.
#[derive(Clone, Copy, Debug)]
struct Window {
    warm_until: Instant,
    measure_until: Instant,
}

/// The nodes a session of a closed-loop workload works on.
#[derive(Debug)]
struct SessionNodes {
    /// Its own node (set, get, mixed), or the prefix of the nodes it creates.
    own: String,
    /// The nodes its multis set.
    multi: Vec<String>,
}

async fn prepare(
    session: Session,
    workload: Workload,
    base: &str,
    index: usize,
) -> anyhow::Result<(Session, SessionNodes)> {
    let own = format!("{base}/s{index}");
    let payload = [0u8; PAYLOAD_LEN];
    let multi: Vec<String> = match workload {
        Workload::Multi => (0..MULTI_OPS).map(|op| format!("{own}-m{op}")).collect(),
        _ => Vec::new(),
    };
    match workload {
        Workload::Set | Workload::Get | Workload::Mixed => session.ensure(&own, &payload).await?,
        Workload::Multi => {
            for node in &multi {
                session.ensure(node, &payload).await?;
            }
        }
        Workload::Create | Workload::Watch => {}
    }
    Ok((session, SessionNodes { own, multi }))
}

async fn closed_loop(
    session: Session,
    workload: Workload,
    nodes: SessionNodes,
    window: Window,
) -> (Histogram<u64>, Errors) {
    let mut latencies = new_histogram();
    let mut errors = Errors::default();
    let payload = [7u8; PAYLOAD_LEN];
    for operation in 0u64.. {
        let started = Instant::now();
        if started >= window.measure_until {
            break;
        }
        let outcome = tokio::time::timeout(OPERATION_TIMEOUT, async {
            match workload {
                Workload::Create => {
                    let path = format!("{}-c{operation}", nodes.own);
                    session.create(&path, &payload).await
                }
                Workload::Set => session.set(&nodes.own, &payload).await,
                Workload::Get => session.get(&nodes.own).await,
                Workload::Mixed if operation % MIXED_WRITE_EVERY == MIXED_WRITE_EVERY - 1 => {
                    session.set(&nodes.own, &payload).await
                }
                Workload::Mixed => session.get(&nodes.own).await,
                Workload::Multi => session.set_all(&nodes.multi, &payload).await,
                Workload::Watch => unreachable!("watch runs in rounds"),
            }
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {OPERATION_TIMEOUT:?}")));
        let measured = started >= window.warm_until;
        match outcome {
            Ok(()) if measured => record(&mut latencies, started.elapsed()),
            Ok(()) => {}
            Err(error) => {
                if measured {
                    errors.add(&error);
                }
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
    session.close().await;
    (latencies, errors)
}

/// Watch fan-out rounds until the window ends: every watcher sets its watch, the writer sets
/// the node, and a round's latency is from the set's start to the last watcher's event.
async fn watch_rounds(
    writer: Session,
    watchers: Vec<Session>,
    node: String,
    window: Window,
) -> (Histogram<u64>, Errors) {
    let mut latencies = new_histogram();
    let mut errors = Errors::default();
    let payload = [7u8; PAYLOAD_LEN];
    loop {
        let round_started = Instant::now();
        if round_started >= window.measure_until {
            break;
        }
        let measured = round_started >= window.warm_until;
        match watch_round(&writer, &watchers, &node, &payload).await {
            Ok(latency) if measured => record(&mut latencies, latency),
            Ok(_) => {}
            Err(error) => {
                if measured {
                    errors.add(&error);
                }
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
    writer.close().await;
    for watcher in watchers {
        watcher.close().await;
    }
    (latencies, errors)
}

async fn watch_round(
    writer: &Session,
    watchers: &[Session],
    node: &str,
    payload: &[u8],
) -> anyhow::Result<Duration> {
    let armed = futures::future::try_join_all(watchers.iter().map(|watcher| async {
        tokio::time::timeout(OPERATION_TIMEOUT, watcher.arm_watch(node))
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "setting a watch took over {OPERATION_TIMEOUT:?}"
                ))
            })
    }))
    .await?;
    // Each watcher waits in its own task, as an application's watchers would, so the instant
    // taken is when that watcher could act on the event.
    let fired: Vec<JoinHandle<_>> = armed
        .into_iter()
        .map(|fired| tokio::spawn(tokio::time::timeout(WATCH_EVENT_TIMEOUT, fired)))
        .collect();
    let set_started = Instant::now();
    let set = tokio::time::timeout(OPERATION_TIMEOUT, writer.set(node, payload))
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {OPERATION_TIMEOUT:?}")));
    if let Err(error) = set {
        for task in &fired {
            task.abort();
        }
        return Err(error.context("the writer's set"));
    }
    let mut last = set_started;
    for task in fired {
        let at = task
            .await
            .context("a watcher task panicked")?
            .map_err(|_| {
                anyhow::anyhow!("a watch did not fire within {WATCH_EVENT_TIMEOUT:?}")
            })??;
        last = last.max(at);
    }
    Ok(last - set_started)
}
