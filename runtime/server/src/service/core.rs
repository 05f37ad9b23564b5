//! The core loop: batches of commands, one durable commit per batch, then the batch's output.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context as _;
use polis_proto::wire;
use polis_store::TreeStore;
use polis_tree::{
    Applied, DataTree, Limits, SessionId, SessionTracker, Txn, TxnKind, WatchEvent, WatchRegistry,
    Zxid,
};
use tokio::sync::{mpsc, oneshot};

use super::{Clock, Command, ConnectionId, Outbound};

/// Settings of the core.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub limits: Limits,
    /// The most commands handled per batch (and so per storage commit).
    pub batch_max: usize,
    /// The most commands waiting for the core; connections wait when it is full (backpressure).
    pub command_queue_max: usize,
    /// How often to look for expired containers and TTL nodes, in milliseconds.
    pub expiry_scan_interval_ms: i64,
}

impl Default for CoreConfig {
    fn default() -> CoreConfig {
        CoreConfig {
            limits: Limits::default(),
            batch_max: 1024,
            command_queue_max: 65_536,
            expiry_scan_interval_ms: 1_000,
        }
    }
}

/// Figures the core publishes for health checks and metrics, updated after every batch.
#[derive(Debug, Default)]
pub struct CoreStatus {
    pub last_zxid: AtomicU64,
    pub sessions: AtomicU64,
    pub attached_sessions: AtomicU64,
    pub znodes: AtomicU64,
    pub watches: AtomicU64,
    /// False once the core has stopped (storage failure or shutdown).
    pub running: AtomicBool,
}

/// How the rest of the server reaches a running core.
#[derive(Debug)]
pub struct CoreHandle {
    pub commands: mpsc::Sender<Command>,
    pub status: Arc<CoreStatus>,
    pub thread: JoinHandle<anyhow::Result<()>>,
}

/// One connection's attachment to a session.
#[derive(Debug)]
pub(super) struct Attachment {
    pub connection_id: ConnectionId,
    pub outbound: Outbound,
}

/// Output held back until the batch is durable.
#[derive(Debug)]
pub(super) enum Pending {
    Message {
        connection_id: ConnectionId,
        outbound: Outbound,
        message: wire::ServerMessage,
    },
    Connected {
        reply: oneshot::Sender<wire::Connected>,
        connected: wire::Connected,
    },
    Served {
        op: &'static str,
        error_code: i32,
        received_at: Instant,
    },
}

/// The owner of the tree, its storage, the watches and the session deadlines.
pub struct Core {
    pub(super) tree: DataTree,
    store: Box<dyn TreeStore + Send>,
    stored_zxid: Zxid,
    pub(super) watches: WatchRegistry,
    pub(super) tracker: SessionTracker,
    pub(super) attachments: HashMap<SessionId, Attachment>,
    pub(super) clock: Clock,
    pub(super) config: CoreConfig,
    status: Arc<CoreStatus>,
    pub(super) pending: Vec<Pending>,
    pub(super) last_expiry_scan_ms: i64,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Core")
            .field("last_zxid", &self.tree.last_zxid())
            .field("sessions", &self.tree.sessions().len())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core over the state stored in `store`. Every stored session gets a full timeout from
    /// now, as ZooKeeper gives restored sessions after a restart.
    pub fn open(store: Box<dyn TreeStore + Send>, config: CoreConfig) -> anyhow::Result<Core> {
        let tree = store
            .load(config.limits.clone())
            .context("loading the tree from storage")?;
        let clock = Clock::new();
        let mut tracker = SessionTracker::new();
        let now_ms = clock.monotonic_ms();
        for (session_id, session) in tree.sessions().iter() {
            tracker.add(session_id, session.timeout_ms, now_ms);
        }
        let watches = WatchRegistry::new(config.limits.watches_per_session_max);
        Ok(Core {
            stored_zxid: tree.last_zxid(),
            tree,
            store,
            watches,
            tracker,
            attachments: HashMap::new(),
            clock,
            config,
            status: Arc::new(CoreStatus::default()),
            pending: Vec::new(),
            last_expiry_scan_ms: 0,
        })
    }

    /// Starts the core on its own thread.
    pub fn spawn(self) -> anyhow::Result<CoreHandle> {
        let (commands, receiver) = mpsc::channel(self.config.command_queue_max);
        let status = self.status.clone();
        status.running.store(true, Ordering::SeqCst);
        self.publish_status();
        let thread = std::thread::Builder::new()
            .name("polis-core".to_string())
            .spawn(move || self.run(receiver))
            .context("starting the core thread")?;
        Ok(CoreHandle {
            commands,
            status,
            thread,
        })
    }

    fn run(mut self, mut commands: mpsc::Receiver<Command>) -> anyhow::Result<()> {
        let result = self.serve(&mut commands);
        self.status.running.store(false, Ordering::SeqCst);
        if let Err(error) = &result {
            tracing::error!(error = %format!("{error:#}"), "the core stopped");
        }
        result
    }

    fn serve(&mut self, commands: &mut mpsc::Receiver<Command>) -> anyhow::Result<()> {
        while let Some(first) = commands.blocking_recv() {
            let batch_started = Instant::now();
            self.handle(first);
            let mut handled = 1;
            while handled < self.config.batch_max {
                let Ok(command) = commands.try_recv() else {
                    break;
                };
                self.handle(command);
                handled += 1;
            }
            self.commit()?;
            self.flush();
            self.publish_status();
            metrics::histogram!("polis_core_batch_commands").record(handled as f64);
            metrics::histogram!("polis_core_batch_seconds")
                .record(batch_started.elapsed().as_secs_f64());
        }
        // Every sender is gone: the server is shutting down. Make deferred commits durable.
        self.store.sync().context("syncing storage at shutdown")?;
        Ok(())
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect {
                connection_id,
                connect,
                identities,
                outbound,
                reply,
            } => self.connect(connection_id, connect, identities, outbound, reply),
            Command::Request {
                connection_id,
                session_id,
                identities,
                request,
                received_at,
            } => self.request(connection_id, session_id, identities, request, received_at),
            Command::Detach {
                connection_id,
                session_id,
            } => self.detach(connection_id, session_id),
            Command::Tick => self.tick(),
        }
    }

    /// Applies one transaction with the next zxid and the current time, and queues the watch
    /// events it fired to the sessions watching.
    pub(super) fn propose(&mut self, kind: TxnKind) -> Applied {
        let txn = Txn {
            zxid: self.tree.last_zxid() + 1,
            time_ms: self.clock.wall_ms(),
            kind,
        };
        let applied = self.tree.apply(&txn);
        for event in &applied.events {
            self.notify(event);
        }
        applied
    }

    /// Queues `event` to every attached session whose watches it fires.
    pub(super) fn notify(&mut self, event: &WatchEvent) {
        for session_id in self.watches.trigger(event) {
            self.send_event(session_id, event);
        }
    }

    pub(super) fn send_event(&mut self, session_id: SessionId, event: &WatchEvent) {
        let message = wire::ServerMessage {
            body: Some(wire::server_message::Body::Event(wire::WatchEvent {
                zxid: event.zxid,
                r#type: polis_proto::convert::event_kind_to_wire(event.kind) as i32,
                path: event.path.clone(),
            })),
        };
        self.send(session_id, message);
    }

    /// Queues a message to the connection a session is attached to, if any.
    pub(super) fn send(&mut self, session_id: SessionId, message: wire::ServerMessage) {
        if let Some(attachment) = self.attachments.get(&session_id) {
            self.pending.push(Pending::Message {
                connection_id: attachment.connection_id,
                outbound: attachment.outbound.clone(),
                message,
            });
        }
    }

    /// Makes the batch durable. A storage failure stops the core: the tree in memory is then
    /// ahead of the disk, and serving it would acknowledge writes a restart would lose.
    fn commit(&mut self) -> anyhow::Result<()> {
        let changes = self.tree.take_changes();
        if changes.is_empty() && changes.last_zxid == self.stored_zxid {
            return Ok(());
        }
        let started = Instant::now();
        self.store
            .commit(&changes)
            .context("committing a batch to storage")?;
        self.stored_zxid = changes.last_zxid;
        metrics::histogram!("polis_store_commit_seconds").record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Releases the batch's output. A connection whose queue is full is cut off: its messages
    /// would otherwise arrive with gaps. Its session lives on; the client reconnects and resumes.
    fn flush(&mut self) {
        let mut cut_off: HashSet<ConnectionId> = HashSet::new();
        for pending in std::mem::take(&mut self.pending) {
            match pending {
                Pending::Message {
                    connection_id,
                    outbound,
                    message,
                } => {
                    if cut_off.contains(&connection_id) {
                        continue;
                    }
                    if outbound.try_send(message).is_err() {
                        cut_off.insert(connection_id);
                    }
                }
                Pending::Connected { reply, connected } => {
                    // The connection may have gone meanwhile; the session then simply waits.
                    let _ = reply.send(connected);
                }
                Pending::Served {
                    op,
                    error_code,
                    received_at,
                } => {
                    let outcome = if error_code == 0 { "ok" } else { "error" };
                    metrics::counter!("polis_requests_total", "op" => op, "outcome" => outcome)
                        .increment(1);
                    metrics::histogram!("polis_request_seconds", "op" => op)
                        .record(received_at.elapsed().as_secs_f64());
                }
            }
        }
        if cut_off.is_empty() {
            return;
        }
        let sessions: Vec<SessionId> = self
            .attachments
            .iter()
            .filter(|(_, attachment)| cut_off.contains(&attachment.connection_id))
            .map(|(session_id, _)| *session_id)
            .collect();
        for session_id in sessions {
            tracing::warn!(
                session_id,
                "client does not read its events; disconnecting it"
            );
            metrics::counter!("polis_connections_cut_off_total").increment(1);
            self.attachments.remove(&session_id);
            self.watches.remove_session(session_id);
        }
    }

    fn publish_status(&self) {
        let status = &self.status;
        let last_zxid = u64::try_from(self.tree.last_zxid()).unwrap_or(0);
        status.last_zxid.store(last_zxid, Ordering::Relaxed);
        status
            .sessions
            .store(self.tree.sessions().len() as u64, Ordering::Relaxed);
        status
            .attached_sessions
            .store(self.attachments.len() as u64, Ordering::Relaxed);
        status
            .znodes
            .store(self.tree.node_count() as u64, Ordering::Relaxed);
        status
            .watches
            .store(self.watches.len() as u64, Ordering::Relaxed);
        metrics::gauge!("polis_last_zxid").set(last_zxid as f64);
        metrics::gauge!("polis_sessions").set(self.tree.sessions().len() as f64);
        metrics::gauge!("polis_attached_sessions").set(self.attachments.len() as f64);
        metrics::gauge!("polis_znodes").set(self.tree.node_count() as f64);
        metrics::gauge!("polis_watches").set(self.watches.len() as f64);
    }
}
