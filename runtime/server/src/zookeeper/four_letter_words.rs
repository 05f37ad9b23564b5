//! ZooKeeper's four-letter words, answered as ZooKeeper 3.9 words them so that monitoring
//! scripts that parse them keep working (`Mode:`, `Zxid:`, `zk_server_state`, …).
//!
//! Only the words in the configured whitelist are answered, as with ZooKeeper's
//! `4lw.commands.whitelist`; any other known word gets ZooKeeper's refusal text.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use polis_raft::{ClusterView, NodeRole};
use polis_zookeeper::FourLetterWord;

use super::ZooKeeperContext;

/// The words Polis implements, the ones a whitelist may name.
pub const IMPLEMENTED: [FourLetterWord; 15] = [
    FourLetterWord::Ruok,
    FourLetterWord::Srvr,
    FourLetterWord::Stat,
    FourLetterWord::Mntr,
    FourLetterWord::Conf,
    FourLetterWord::Cons,
    FourLetterWord::Wchs,
    FourLetterWord::Envi,
    FourLetterWord::Dirs,
    FourLetterWord::Isro,
    FourLetterWord::Wchc,
    FourLetterWord::Wchp,
    FourLetterWord::Dump,
    FourLetterWord::Srst,
    FourLetterWord::Crst,
];

/// The most lines `wchc`, `wchp` and `dump` write: they list every watch or ephemeral, which an
/// anonymous client must not be able to turn into an unbounded answer (they are not whitelisted
/// by default either).
pub const LISTING_LINES_MAX: usize = 100_000;

/// The version string the words report: ZooKeeper's format, naming Polis. Clients read the
/// leading digits to choose features (kazoo's `server_version()` parses `envi`'s
/// `zookeeper.version`): Polis speaks ZooKeeper 3.9's protocol, persistent watches, TTL nodes
/// and `multiRead` included, so it reports 3.9.0.
pub fn version() -> String {
    format!("3.9.0-polis-{}", env!("CARGO_PKG_VERSION"))
}

/// This machine's host name, as `envi`'s `host.name`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The bytes of the files under `dir`, for `dirs` (ZooKeeper's `datadir_size`).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => dir_size(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Appends `line` unless `lines` already reached [`LISTING_LINES_MAX`]; says so once.
fn push_line(text: &mut String, lines: &mut usize, line: std::fmt::Arguments<'_>) {
    if *lines == LISTING_LINES_MAX {
        text.push_str("... (truncated)\n");
    }
    *lines += 1;
    if *lines <= LISTING_LINES_MAX {
        let _ = writeln!(text, "{line}");
    }
}

/// `wchc` (by session) or `wchp` (by path): the watches of the sessions attached here.
fn watch_listing(context: &ZooKeeperContext, by_path: bool) -> String {
    let hub = context.node.hub.lock();
    let mut groups: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for session_id in hub.attachments.keys() {
        for (_, path) in hub.watches.session_watches(*session_id) {
            let session = format!("{session_id:#x}");
            let (group, member) = if by_path {
                (path.to_string(), session)
            } else {
                (session, path.to_string())
            };
            groups.entry(group).or_default().insert(member);
        }
    }
    drop(hub);
    let mut text = String::new();
    let mut lines = 0;
    for (group, members) in groups {
        push_line(&mut text, &mut lines, format_args!("{group}"));
        for member in members {
            push_line(&mut text, &mut lines, format_args!("\t{member}"));
        }
    }
    text
}

/// `dump`: the open sessions with their ephemeral nodes, as ZooKeeper's leader lists them.
async fn dump(context: &ZooKeeperContext) -> String {
    let tree = context.node.reader.read().await;
    let mut text = format!(
        "SessionTracker dump:\nSession Sets ({}):\n",
        tree.sessions().len()
    );
    let mut lines = 0;
    let owning: Vec<_> = tree
        .sessions()
        .iter()
        .filter(|(_, session)| !session.ephemerals.is_empty())
        .collect();
    let _ = writeln!(
        text,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        owning.len()
    );
    for (session_id, session) in owning {
        push_line(&mut text, &mut lines, format_args!("{session_id:#x}:"));
        for path in &session.ephemerals {
            push_line(&mut text, &mut lines, format_args!("\t{path}"));
        }
    }
    text
}

/// What the node looks like now, for the words that report it. Cheap to gather: `srvr` is
/// whitelisted by default, so any client may ask for it as often as it likes, and it must not
/// walk every watch or ephemeral under the tree's lock and the watch hub's (what only `wchs` and
/// `mntr` report is gathered by them alone).
struct Figures {
    mode: &'static str,
    zxid: i64,
    node_count: usize,
    watch_count: usize,
}

async fn figures(context: &ZooKeeperContext) -> Figures {
    let node = &context.node;
    let view = ClusterView::from_metrics(&node.raft.metrics().borrow());
    let alone = view.members.len() <= 1;
    // ZooKeeper's names: a single server is standalone, a learner is an observer.
    let mode = match view.role {
        _ if alone => "standalone",
        NodeRole::Leader => "leader",
        NodeRole::Follower => "follower",
        NodeRole::Learner => "observer",
        NodeRole::Candidate => "candidate",
        NodeRole::Shutdown => "shutdown",
    };
    let (zxid, node_count) = {
        let tree = node.reader.read().await;
        (tree.last_zxid(), tree.node_count())
    };
    let watch_count = node.hub.lock().watches.len();
    Figures {
        mode,
        zxid,
        node_count,
        watch_count,
    }
}

/// The ephemeral nodes of the sessions attached here (`mntr`'s `zk_ephemerals_count`).
async fn ephemeral_count(context: &ZooKeeperContext) -> usize {
    let node = &context.node;
    let tree = node.reader.read().await;
    let sessions: Vec<_> = node.hub.lock().attachments.keys().copied().collect();
    sessions
        .iter()
        .map(|session_id| tree.ephemerals(*session_id, "/").len())
        .sum()
}

/// `wchs`: the sessions attached here that watch something, and the distinct paths they watch.
fn watch_summary(context: &ZooKeeperContext) -> (usize, usize) {
    let hub = context.node.hub.lock();
    let mut paths = BTreeSet::new();
    let mut watching_sessions = 0;
    for session_id in hub.attachments.keys() {
        let mut watches = hub.watches.session_watches(*session_id).peekable();
        if watches.peek().is_some() {
            watching_sessions += 1;
        }
        for (_, path) in watches {
            paths.insert(path);
        }
    }
    (watching_sessions, paths.len())
}

/// The answer to `word`, closed by the connection after writing it.
pub async fn answer(word: FourLetterWord, context: &ZooKeeperContext) -> String {
    if !context.four_letter_words.contains(&word) {
        return format!(
            "{} is not executed because it is not in the whitelist.\n",
            word.name()
        );
    }
    match word {
        FourLetterWord::Ruok => "imok".to_string(),
        FourLetterWord::Srvr => {
            let figures = figures(context).await;
            server_summary(context, &figures)
        }
        FourLetterWord::Stat => {
            let figures = figures(context).await;
            let mut text = format!("Zookeeper version: {}\nClients:\n", version());
            text.push_str(&connections(context));
            text.push('\n');
            let summary = server_summary(context, &figures);
            // `stat` repeats srvr's lines after the client list, version line excepted.
            text.push_str(summary.split_once('\n').map_or("", |(_, rest)| rest));
            text
        }
        FourLetterWord::Mntr => {
            let figures = figures(context).await;
            let latency = context.latency.figures();
            let mut text = String::new();
            let lines: [(&str, String); 14] = [
                ("zk_version", version()),
                ("zk_server_state", figures.mode.to_string()),
                ("zk_avg_latency", format!("{:.4}", latency.avg_ms)),
                ("zk_max_latency", latency.max_ms.to_string()),
                ("zk_min_latency", latency.min_ms.to_string()),
                (
                    "zk_packets_received",
                    context.packets_received.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "zk_packets_sent",
                    context.packets_sent.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "zk_num_alive_connections",
                    context.connection_count().to_string(),
                ),
                ("zk_outstanding_requests", "0".to_string()),
                ("zk_znode_count", figures.node_count.to_string()),
                ("zk_watch_count", figures.watch_count.to_string()),
                (
                    "zk_ephemerals_count",
                    ephemeral_count(context).await.to_string(),
                ),
                ("zk_last_zxid", format!("{:#x}", figures.zxid)),
                (
                    "zk_uptime",
                    context.started_at.elapsed().as_millis().to_string(),
                ),
            ];
            for (key, value) in lines {
                let _ = writeln!(text, "{key}\t{value}");
            }
            text
        }
        FourLetterWord::Conf => {
            let limits = &context.node.limits;
            let mut text = String::new();
            let _ = writeln!(text, "clientPort={}", context.listen_address.port());
            let _ = writeln!(text, "clientPortAddress={}", context.listen_address.ip());
            let _ = writeln!(text, "dataDir={}", context.data_dir.display());
            // ZooKeeper's maxClientCnxns is per client address.
            let _ = writeln!(
                text,
                "maxClientCnxns={}",
                context.address_caps.per_address_max()
            );
            let _ = writeln!(text, "minSessionTimeout={}", limits.session_timeout_min_ms);
            let _ = writeln!(text, "maxSessionTimeout={}", limits.session_timeout_max_ms);
            let _ = writeln!(text, "serverId={}", context.node.id);
            text
        }
        FourLetterWord::Cons => {
            let mut text = connections(context);
            text.push('\n');
            text
        }
        FourLetterWord::Wchs => {
            let figures = figures(context).await;
            let (watching_sessions, watched_paths) = watch_summary(context);
            format!(
                "{watching_sessions} connections watching {watched_paths} paths\nTotal watches:{}\n",
                figures.watch_count
            )
        }
        FourLetterWord::Envi => {
            let mut text = String::from("Environment:\n");
            let current_dir = std::env::current_dir()
                .map(|dir| dir.display().to_string())
                .unwrap_or_default();
            let lines: [(&str, String); 8] = [
                ("zookeeper.version", version()),
                ("host.name", host_name()),
                ("os.name", std::env::consts::OS.to_string()),
                ("os.arch", std::env::consts::ARCH.to_string()),
                ("user.dir", current_dir),
                ("polis.version", env!("CARGO_PKG_VERSION").to_string()),
                ("polis.node_id", context.node.id.to_string()),
                ("polis.data_dir", context.data_dir.display().to_string()),
            ];
            for (key, value) in lines {
                let _ = writeln!(text, "{key}={value}");
            }
            text
        }
        FourLetterWord::Dirs => {
            // The log and the tree live in the one data directory.
            let size = dir_size(&context.data_dir);
            format!("datadir_size: {size}\nlogdir_size: {size}\n")
        }
        // Polis has no read-only mode: a node that cannot reach a quorum refuses writes and
        // linearizable reads, and serves nothing stale in their place.
        FourLetterWord::Isro => "rw".to_string(),
        FourLetterWord::Wchc => watch_listing(context, false),
        FourLetterWord::Wchp => watch_listing(context, true),
        FourLetterWord::Dump => dump(context).await,
        FourLetterWord::Srst => {
            context.packets_received.store(0, Ordering::Relaxed);
            context.packets_sent.store(0, Ordering::Relaxed);
            context.latency.reset();
            "Server stats reset.\n".to_string()
        }
        FourLetterWord::Crst => {
            for record in context.connections().values() {
                record.received.store(0, Ordering::Relaxed);
                record.sent.store(0, Ordering::Relaxed);
            }
            "Connection stats reset.\n".to_string()
        }
        // Not implemented, so never whitelisted (the configuration refuses them).
        other => format!(
            "{} is not executed because it is not in the whitelist.\n",
            other.name()
        ),
    }
}

/// `srvr`'s lines.
fn server_summary(context: &ZooKeeperContext, figures: &Figures) -> String {
    let latency = context.latency.figures();
    format!(
        "Zookeeper version: {}\nLatency min/avg/max: {}/{:.4}/{}\nReceived: {}\nSent: {}\n\
         Connections: {}\nOutstanding: 0\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        version(),
        latency.min_ms,
        latency.avg_ms,
        latency.max_ms,
        context.packets_received.load(Ordering::Relaxed),
        context.packets_sent.load(Ordering::Relaxed),
        context.connection_count(),
        figures.zxid,
        figures.mode,
        figures.node_count,
    )
}

/// One line per connection, as ZooKeeper's `cons`.
fn connections(context: &ZooKeeperContext) -> String {
    let mut text = String::new();
    for record in context.connections().values() {
        let _ = writeln!(
            text,
            " /{}[1](queued=0,recved={},sent={},sid={:#x},est={})",
            record.remote,
            record.received.load(Ordering::Relaxed),
            record.sent.load(Ordering::Relaxed),
            record.session_id.load(Ordering::Relaxed),
            record.established_at.elapsed().as_millis(),
        );
    }
    text
}
