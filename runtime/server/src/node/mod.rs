//! A Polis node: a Raft member whose state machine is the znode tree, serving client sessions.
//!
//! Every write goes through Raft: the node proposes it (or forwards it to the leader, see
//! [`LeaderLink`]), a majority stores it in its log, and every node applies it to its tree, where
//! [`Hub`] — called by the state machine under the tree's write lock — queues the watch events
//! to the sessions attached here. Reads are linearizable by default (Raft's ReadIndex, then a
//! local read once this node has caught up); a request may opt into a local, possibly stale read.
//! The [`supervisor`] carries out the leader's duties toward sessions (expiry with the leader's
//! clock and a fresh timeout after a leader change) and expiring nodes.
//!
//! A single node is a cluster of one: the same code path, a quorum of one.
//!
//! A node started to join (`ServerConfig::join_cluster`) founds nothing: it waits until an
//! administrator has the leader add it as a learner, which receives the log and serves reads
//! like any node (writes and linearizable reads through the leader) but never votes — the
//! districts' observers. Promoting it to a voter, or removing members, is a joint-consensus
//! membership change (`polis_raft::membership`), asked of any node by an administrator.

mod clock;
mod hub;
mod leader_link;
mod outbound;
mod read_rounds;
mod session;
mod session_owners;
pub mod supervisor;
mod write_ids;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use polis_proto::wire;
use polis_raft::network::{
    NetworkFaults, PEER_TRANSPORT_TIMEOUTS, PeerEndpoint, PeerLinks, PeerServer, QuicNetworkFactory,
};
use polis_raft::{
    LogCompaction, NodeId, PeerNode, PolisRaft, Proposer, RAFT_LOG_FILE_NAME, RaftProposalSink,
    ReadIndexRounds, RedbLogStore, TreeReader, TreeStateMachine, polis_raft_config_with,
};
use polis_security::TlsFiles;
use polis_tree::{ErrorCode, Id, Limits, OpResult, SessionId, TxnKind};
use tokio::sync::mpsc;
use write_ids::WriteIds;

pub use self::clock::Clock;
pub use self::hub::{Hub, HubState, event_message, session_ended};
pub use self::leader_link::{LEADER_WAIT_MAX_DEFAULT, LeaderError, LeaderLink};
pub use self::outbound::{
    Outbound, OutboundBounds, OutboundError, OutboundQueue, OutboundSlot, QueuedMessage,
    outbound_channel,
};
pub use self::session::{
    AfterRequest, IDENTITIES_PER_SESSION_MAX, IDENTITY_LEN_MAX, SessionHandler,
    with_added_identity, with_identity,
};
pub use self::session_owners::{OwnerCapReached, OwnerKey, SessionOwner, SessionOwners};

/// Identifies one client connection, so that a message from a connection that has since lost its
/// session (to a newer connection) is recognised and ignored.
pub type ConnectionId = u64;

/// How many session renewals may wait for the supervisor.
const LOCAL_TOUCHES_QUEUE_MAX: usize = 65_536;
/// How many batches of renewals forwarded by other nodes may wait for the supervisor.
const FORWARDED_TOUCHES_QUEUE_MAX: usize = 1_024;

/// The most quotas exported as metrics (`polis_quota_*{path}`), in path order.
pub const QUOTA_METRICS_MAX: usize = 256;

/// Where and how a node runs.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub id: NodeId,
    pub cluster_name: String,
    pub data_dir: PathBuf,
    /// The node's certificate (issued with `polis ca issue --node`), used for peers and clients.
    pub tls: TlsFiles,
    /// The UDP address peers reach this node on (bind address).
    pub peer_listen: SocketAddr,
    /// The initial voters (id → addresses). Empty means a cluster of this node alone.
    pub members: BTreeMap<NodeId, PeerNode>,
    /// This node joins a running cluster: it never initialises one and waits until the leader
    /// adds it as a learner.
    pub join: bool,
    pub limits: Limits,
    /// How long a request waits for a leader before it fails.
    pub leader_wait_max: Duration,
    /// When to snapshot the tree and purge the log behind it.
    pub log_compaction: LogCompaction,
    /// How often sessions' renewals go to the leader and the leader looks for expired sessions.
    pub session_tick: Duration,
    /// Serve linearizable reads on the leader's lease rather than a quorum round each.
    pub lease_reads: bool,
}

/// A running node, shared by its connections and tasks.
pub struct Node {
    pub id: NodeId,
    pub raft: PolisRaft,
    pub reader: TreeReader,
    pub hub: Arc<Hub>,
    pub leader: LeaderLink,
    pub clock: Clock,
    pub limits: Limits,
    /// The ids of this node's writes, for at-most-once retries.
    pub write_ids: WriteIds,
    touches: mpsc::Sender<SessionId>,
    /// Concurrent linearizable reads share ReadIndex rounds.
    read_rounds: std::sync::OnceLock<read_rounds::ReadRounds>,
    /// Set when the node stops, so that its background tasks end and release the node.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The address peers reach this node on.
    pub peer_address: SocketAddr,
    /// The endpoint peers reach this node on, kept to reload its certificate.
    peer_endpoint: PeerEndpoint,
    peer_server: PeerServer,
    /// Links to peers cut by fault injection (tests, failure drills); none normally.
    network_faults: NetworkFaults,
    /// The node's lasting connections to its peers.
    peer_links: PeerLinks,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Node")
            .field("id", &self.id)
            .field("peer_address", &self.peer_address)
            .finish_non_exhaustive()
    }
}

/// How long a founding node waits for a majority of its fellow members to accept a connection
/// before it founds the cluster anyway (openraft then retries its election until they answer).
pub const FOUNDING_MAJORITY_WAIT: Duration = Duration::from_secs(5);

/// Waits, at most [`FOUNDING_MAJORITY_WAIT`], until enough of the other `members` accept a peer
/// connection that, with this node, they are a majority. Members started together (`polis dev
/// --nodes 3`, a StatefulSet started in parallel) open their stores at different speeds; a founder
/// that campaigned before its peers listened saw its first vote requests time out, which openraft
/// logs as an error on an ordinary start.
async fn wait_for_founding_majority(
    links: &PeerLinks,
    members: &BTreeMap<NodeId, PeerNode>,
    founder: NodeId,
) {
    let others_needed = members.len() / 2;
    let deadline = tokio::time::Instant::now() + FOUNDING_MAJORITY_WAIT;
    loop {
        let mut answering = 0;
        for (id, node) in members.iter().filter(|(id, _)| **id != founder) {
            if links.link(*id, node).connection().await.is_ok() {
                answering += 1;
            }
        }
        if answering >= others_needed || tokio::time::Instant::now() >= deadline {
            return;
        }
        // A bounded wait between rounds (the links back their dials off themselves too).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Node {
    /// Opens the node's log and tree, joins (or founds) the cluster and starts its tasks.
    pub async fn start(
        settings: NodeSettings,
        client_address: SocketAddr,
    ) -> anyhow::Result<Arc<Node>> {
        let settings_tick = settings.session_tick;
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let log = RedbLogStore::open(settings.data_dir.join(RAFT_LOG_FILE_NAME))
            .context("opening the Raft log")?;
        let (state_machine, log) = {
            let data_dir = settings.data_dir.clone();
            let limits = settings.limits.clone();
            tokio::task::spawn_blocking(move || {
                TreeStateMachine::open_redb(&data_dir, limits, &log, None)
                    .map(|machine| (machine, log))
            })
            .await
            .context("opening the state machine")?
            .context("opening the state machine")?
        };
        let reader = state_machine.reader();
        let cluster_limits = state_machine.cluster_limits().await;
        let applied = reader.read().await.last_zxid();
        let hub = Arc::new(Hub::new(settings.limits.watches_per_session_max, applied));
        state_machine.set_apply_hook(hub.clone()).await;

        let peer_endpoint = PeerEndpoint::bind(
            &settings.tls,
            settings.peer_listen,
            &PEER_TRANSPORT_TIMEOUTS,
        )
        .with_context(|| format!("binding the peer endpoint on {}", settings.peer_listen))?;
        let endpoint = peer_endpoint.endpoint().clone();
        let peer_address = endpoint.local_addr()?;
        let config = polis_raft_config_with(&settings.cluster_name, &settings.log_compaction)
            .map_err(|error| anyhow::anyhow!("Raft configuration: {error}"))?;
        let network_faults = NetworkFaults::new();
        let links = PeerLinks::new(settings.id, endpoint.clone(), network_faults.clone());
        let raft = PolisRaft::new(
            settings.id,
            Arc::new(config),
            QuicNetworkFactory::with_links(links.clone()),
            log,
            state_machine,
        )
        .await
        .context("starting Raft")?;
        let clock = Clock::new();
        // The leader stamps every entry with its own clock, for its local writes and the ones
        // followers forward alike, so replicated time never comes from a follower's clock.
        // It also puts this node's configured limits to the cluster when the tree's differ, so
        // that every replica applies every write under the same limits.
        let proposer = Proposer::spawn(Arc::new(
            RaftProposalSink::new(
                raft.clone(),
                Arc::new(move || clock.wall_ms()),
                settings.leader_wait_max,
            )
            .with_cluster_limits(cluster_limits),
        ));
        let lease = settings.lease_reads.then(|| links.lease().clone());
        let leader_read_rounds = ReadIndexRounds::spawn_with_lease(raft.clone(), lease);
        let (forwarded_sender, forwarded_touches) = mpsc::channel(FORWARDED_TOUCHES_QUEUE_MAX);
        let peer_server = PeerServer::spawn_with_touches(
            endpoint.clone(),
            raft.clone(),
            proposer.clone(),
            leader_read_rounds.clone(),
            forwarded_sender,
            network_faults.clone(),
        );

        let initialized = raft
            .is_initialized()
            .await
            .context("reading the Raft state")?;
        if !initialized && settings.join {
            tracing::info!(
                node_id = settings.id,
                %peer_address,
                "waiting to be added to the cluster as a learner"
            );
        } else if !initialized {
            let mut members = settings.members.clone();
            if members.is_empty() {
                members.insert(
                    settings.id,
                    PeerNode::new(peer_address.to_string(), client_address.to_string()),
                );
            }
            // The member with the lowest id founds the cluster; the others wait to be contacted.
            if members.keys().next() == Some(&settings.id) {
                wait_for_founding_majority(&links, &members, settings.id).await;
                raft.initialize(members)
                    .await
                    .context("initialising the cluster")?;
            }
        }

        let (touches, local_touches) = mpsc::channel(LOCAL_TOUCHES_QUEUE_MAX);
        let node = Arc::new(Node {
            id: settings.id,
            leader: LeaderLink::new(
                settings.id,
                raft.clone(),
                links.clone(),
                proposer,
                leader_read_rounds,
                settings.leader_wait_max,
            ),
            raft,
            reader,
            hub,
            clock,
            limits: settings.limits,
            write_ids: WriteIds::new(
                getrandom::u64().context("no system randomness to seed the node's write ids")?,
            ),
            touches,
            stopping: tokio::sync::watch::Sender::new(false),
            read_rounds: std::sync::OnceLock::new(),
            peer_address,
            peer_endpoint,
            peer_server,
            network_faults,
            peer_links: links,
        });
        let _ = node
            .read_rounds
            .set(read_rounds::ReadRounds::spawn(Arc::downgrade(&node)));
        tokio::spawn(supervisor::run(
            node.clone(),
            settings_tick,
            node.stopping.subscribe(),
            local_touches,
            forwarded_touches,
        ));
        tokio::spawn(publish_metrics(Arc::downgrade(&node)));
        Ok(node)
    }

    /// The commit index a linearizable read arriving now must wait for (Raft's ReadIndex,
    /// shared with the other reads waiting at the same time).
    pub async fn read_index(&self) -> Result<polis_tree::Zxid, LeaderError> {
        match self.read_rounds.get() {
            Some(rounds) => rounds.read_index().await,
            None => self.leader.read_index().await,
        }
    }

    /// Says when the node stops, for tasks that must end with it.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Notes that a session was heard from (its deadline moves on the leader).
    pub fn touch(&self, session_id: SessionId) {
        let _ = self.touches.try_send(session_id);
    }

    /// Opens or resumes a session for a connection. On success the session is attached to the
    /// connection's queue.
    pub async fn connect(
        &self,
        connection_id: ConnectionId,
        connect: &wire::Connect,
        identities: &[Id],
        owner: &SessionOwner,
        outbound: Outbound,
    ) -> wire::Connected {
        let mut connected = wire::Connected {
            protocol_version: polis_proto::PROTOCOL_VERSION,
            identities: identities
                .iter()
                .map(polis_proto::convert::id_to_wire)
                .collect(),
            ..wire::Connected::default()
        };
        match self
            .open_or_resume(
                connection_id,
                connect,
                owner,
                outbound,
                Arc::from(identities),
            )
            .await
        {
            Ok((session_id, timeout_ms, password)) => {
                connected.session_id = session_id;
                connected.session_timeout_ms = timeout_ms;
                connected.password = password.to_vec();
            }
            Err((code, message)) => {
                connected.error_code = code.as_i32();
                connected.error_message = message;
            }
        }
        connected.last_zxid = self.hub.applied_zxid();
        connected
    }

    async fn open_or_resume(
        &self,
        connection_id: ConnectionId,
        connect: &wire::Connect,
        owner: &SessionOwner,
        outbound: Outbound,
        identities: Arc<[Id]>,
    ) -> Result<(SessionId, i32, [u8; 16]), (ErrorCode, String)> {
        if connect.protocol_version != polis_proto::PROTOCOL_VERSION {
            return Err((
                ErrorCode::BadArguments,
                format!(
                    "protocol version {} is not supported; this server speaks {}",
                    connect.protocol_version,
                    polis_proto::PROTOCOL_VERSION
                ),
            ));
        }
        if connect.session_id == 0 {
            let mut password = [0u8; 16];
            getrandom::fill(&mut password).map_err(|error| {
                (
                    ErrorCode::SystemError,
                    format!("no randomness for a session password: {error}"),
                )
            })?;
            self.hub.lock().owners.reserve(owner).map_err(|refused| {
                metrics::counter!("polis_sessions_refused_total", "reason" => "owner_cap")
                    .increment(1);
                (ErrorCode::Throttled, refused.to_string())
            })?;
            let opened = self.open_session(connect, password).await;
            let mut state = self.hub.lock();
            match &opened {
                Ok((session_id, _)) => state.owners.opened(&owner.key, *session_id),
                Err(_) => state.owners.abandon(&owner.key),
            }
            drop(state);
            let (session_id, timeout_ms) = opened?;
            self.hub
                .attach(session_id, connection_id, outbound, identities);
            self.touch(session_id);
            metrics::counter!("polis_sessions_opened_total").increment(1);
            return Ok((session_id, timeout_ms, password));
        }
        self.resume_session(connection_id, connect, outbound, identities)
            .await
    }

    /// Proposes a new session and waits until this node has applied it (so that the session's
    /// first request finds it).
    async fn open_session(
        &self,
        connect: &wire::Connect,
        password: [u8; 16],
    ) -> Result<(SessionId, i32), (ErrorCode, String)> {
        let unavailable = |error: LeaderError| (ErrorCode::ConnectionLoss, error.to_string());
        let response = self
            .leader
            .propose(TxnKind::OpenSession {
                timeout_ms: connect.session_timeout_ms,
                password,
            })
            .await
            .map_err(unavailable)?;
        self.hub.applied_through(response.zxid).await;
        match response.result {
            Ok(OpResult::SessionOpened {
                session_id,
                timeout_ms,
            }) => Ok((session_id, timeout_ms)),
            Ok(other) => Err((
                ErrorCode::SystemError,
                format!("unexpected result {other:?}"),
            )),
            Err(error) => {
                let code = error.error_code().unwrap_or(ErrorCode::SystemError);
                Err((code, error.message))
            }
        }
    }

    /// Resumes `connect.session_id` on this connection, if it is still open and the password
    /// matches.
    async fn resume_session(
        &self,
        connection_id: ConnectionId,
        connect: &wire::Connect,
        outbound: Outbound,
        identities: Arc<[Id]>,
    ) -> Result<(SessionId, i32, [u8; 16]), (ErrorCode, String)> {
        let unavailable = |error: LeaderError| (ErrorCode::ConnectionLoss, error.to_string());
        // The session may have been opened through another node a moment ago: read it as of
        // the leader's commit point, not this node's.
        let index = self.read_index().await.map_err(unavailable)?;
        self.hub.applied_through(index).await;
        let tree = self.reader.read().await;
        if connect.last_zxid_seen > tree.last_zxid() {
            // ZooKeeper refuses a client that has seen a newer state than the server has: the
            // client would go back in time. It should try another server.
            return Err((
                ErrorCode::ConnectionLoss,
                format!(
                    "the client has seen zxid {} but this server is at {}; try another server",
                    connect.last_zxid_seen,
                    tree.last_zxid()
                ),
            ));
        }
        let session_id = connect.session_id;
        let Some(session) = tree.sessions().get(session_id) else {
            return Err((
                ErrorCode::SessionExpired,
                format!("session {session_id:#x} has expired"),
            ));
        };
        if !constant_time_equal(&session.password, &connect.password) {
            return Err((
                ErrorCode::AuthFailed,
                format!("wrong password for session {session_id:#x}"),
            ));
        }
        let (timeout_ms, password) = (session.timeout_ms, session.password);
        // Attach under the tree's read lock, so that no close of this session slips between the
        // check above and the attachment.
        self.hub
            .attach(session_id, connection_id, outbound, identities);
        drop(tree);
        self.touch(session_id);
        metrics::counter!("polis_sessions_resumed_total").increment(1);
        Ok((session_id, timeout_ms, password))
    }

    /// Stops taking part in the cluster and ends the node's background tasks.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.stopping.send_replace(true);
        // Close the peer endpoint's connections now rather than when the last handle goes, so
        // its port is free for a restart as soon as possible.
        self.peer_server.close();
        let stopped = self
            .raft
            .shutdown()
            .await
            .map_err(|error| anyhow::anyhow!("stopping Raft: {error}"));
        // Requests waiting for an entry this node will now never apply let go of the node.
        self.hub.stop();
        // The peer port is free when this returns, so a restart can bind it again.
        self.peer_server.release().await;
        stopped
    }

    /// The endpoint peers reach this node on and which it dials them from; its certificate and
    /// CA can be replaced while the node runs ([`PeerEndpoint::install_certificates`]).
    pub fn peer_endpoint(&self) -> &PeerEndpoint {
        &self.peer_endpoint
    }

    /// The peer server (for its address in tests and status).
    pub fn peer_server(&self) -> &PeerServer {
        &self.peer_server
    }

    /// The handshakes of this node's peer connections so far: those it dialled and those peers
    /// dialled to it. Flat in steady state, as peers keep their connections.
    pub fn peer_handshakes(&self) -> (u64, u64) {
        (self.peer_links.dials(), self.peer_server.accepts())
    }

    /// The switch that cuts this node's links to chosen peers, for tests and failure drills
    /// (a partition with every node running); see [`NetworkFaults`].
    pub fn network_faults(&self) -> &NetworkFaults {
        &self.network_faults
    }
}

async fn publish_metrics(node: std::sync::Weak<Node>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        let Some(node) = node.upgrade() else { return };
        let metrics_snapshot = node.raft.metrics().borrow().clone();
        metrics::gauge!("polis_raft_term").set(metrics_snapshot.current_term as f64);
        metrics::gauge!("polis_raft_is_leader").set(
            if metrics_snapshot.current_leader == Some(node.id) {
                1.0
            } else {
                0.0
            },
        );
        metrics::gauge!("polis_raft_leader")
            .set(metrics_snapshot.current_leader.unwrap_or(0) as f64);
        metrics::gauge!("polis_raft_last_log_index")
            .set(metrics_snapshot.last_log_index.unwrap_or(0) as f64);
        metrics::gauge!("polis_raft_applied_index").set(
            metrics_snapshot
                .last_applied
                .map_or(0, |log_id| log_id.index) as f64,
        );
        if let Some(replication) = &metrics_snapshot.replication {
            let last = metrics_snapshot.last_log_index.unwrap_or(0);
            for (follower, matched) in replication {
                let lag = last.saturating_sub(matched.map_or(0, |log_id| log_id.index));
                metrics::gauge!("polis_raft_replication_lag_entries", "follower" => follower.to_string())
                    .set(lag as f64);
            }
        }
        let tree = node.reader.read().await;
        metrics::gauge!("polis_last_zxid").set(tree.last_zxid() as f64);
        metrics::gauge!("polis_sessions").set(tree.sessions().len() as f64);
        metrics::gauge!("polis_znodes").set(tree.node_count() as f64);
        // Administrators set quotas, so there are few; the bound keeps a mistake from turning
        // the metrics page into a listing of the tree.
        for (quota_path, limits, usage) in tree.quotas().take(QUOTA_METRICS_MAX) {
            let path = quota_path.to_string();
            metrics::gauge!("polis_quota_znodes", "path" => path.clone()).set(usage.count as f64);
            metrics::gauge!("polis_quota_bytes", "path" => path.clone()).set(usage.bytes as f64);
            metrics::gauge!("polis_quota_znodes_hard_limit", "path" => path.clone())
                .set(limits.count_hard as f64);
            metrics::gauge!("polis_quota_bytes_hard_limit", "path" => path)
                .set(limits.bytes_hard as f64);
        }
        drop(tree);
        let hub = node.hub.lock();
        metrics::gauge!("polis_attached_sessions").set(hub.attachments.len() as f64);
        metrics::gauge!("polis_watches").set(hub.watches.len() as f64);
    }
}

impl Node {
    /// Current figures for `/health`.
    pub async fn status(&self) -> serde_json::Value {
        let raft = self.raft.metrics().borrow().clone();
        let view = polis_raft::ClusterView::from_metrics(&raft);
        let learners: Vec<NodeId> = view
            .members
            .iter()
            .filter(|member| !member.voter)
            .map(|member| member.id)
            .collect();
        let tree = self.reader.read().await;
        let (sessions, znodes, last_zxid) =
            (tree.sessions().len(), tree.node_count(), tree.last_zxid());
        drop(tree);
        let hub = self.hub.lock();
        serde_json::json!({
            "status": if raft.running_state.is_ok() { "ok" } else { "stopped" },
            "node_id": self.id,
            "role": format!("{:?}", view.role).to_lowercase(),
            "voters": view.voter_ids(),
            "learners": learners,
            "leader": raft.current_leader,
            "term": raft.current_term,
            "last_zxid": last_zxid,
            "sessions": sessions,
            "attached_sessions": hub.attachments.len(),
            "znodes": znodes,
            "watches": hub.watches.len(),
        })
    }
}

/// Compares secrets without leaking, through timing, how many leading bytes matched (session
/// passwords here, the console's login tokens).
pub(crate) fn constant_time_equal(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}
