//! What every ZooKeeper connection of a node shares.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use polis_zookeeper::{FourLetterWord, JuteLimits};

use crate::address_caps::AddressCaps;
use crate::config::ZooKeeperReads;
use crate::node::{ConnectionId, Node, OutboundBounds};

/// Connection ids of ZooKeeper connections start here, so that they never equal the id of a QUIC
/// connection (counted from 1): the hub tells a session's connections apart by id, and a session
/// may move from one face to the other.
pub const CONNECTION_ID_FIRST: ConnectionId = 1 << 63;

/// One live connection, for `cons` and `stat`.
#[derive(Debug)]
pub struct ConnectionRecord {
    pub remote: SocketAddr,
    /// 0 until the session is established.
    pub session_id: AtomicU64,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub established_at: Instant,
}

/// Shared by the listener and its connections.
#[derive(Debug)]
pub struct ZooKeeperContext {
    pub node: Arc<Node>,
    pub limits: JuteLimits,
    pub outbound: OutboundBounds,
    pub handshake_timeout: Duration,
    pub connections_max: usize,
    /// Each remote address's share of the connections.
    pub address_caps: Arc<AddressCaps>,
    /// The most live sessions one owner (certificate subject, else remote address) may hold.
    pub sessions_per_owner_max: usize,
    /// The four-letter words this node answers.
    pub four_letter_words: HashSet<FourLetterWord>,
    /// For `conf`.
    pub listen_address: SocketAddr,
    pub data_dir: PathBuf,
    pub started_at: Instant,
    pub next_connection_id: AtomicU64,
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    /// From a request's arrival to its reply's write, for `srvr`, `stat` and `mntr`.
    pub latency: super::request_latency::RequestLatency,
    /// TLS with client certificates, when the listener requires it.
    pub tls: Option<super::ZooKeeperTls>,
    /// How reads are served (`[zookeeper] reads`).
    pub reads: ZooKeeperReads,
    /// Who may authenticate with SASL DIGEST-MD5 (`[zookeeper] sasl_users`).
    pub sasl_users: super::sasl_digest::SaslUsers,
    /// The digest id whose `addAuth` makes a session super (`[zookeeper] super_digest`).
    pub super_digest: Option<String>,
    /// Whether `reconfig` is answered (`[zookeeper] reconfig_enabled`).
    pub reconfig_enabled: bool,
    connections: Mutex<BTreeMap<ConnectionId, Arc<ConnectionRecord>>>,
}

impl ZooKeeperContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node: Arc<Node>,
        limits: JuteLimits,
        outbound: OutboundBounds,
        handshake_timeout: Duration,
        connections_max: usize,
        four_letter_words: HashSet<FourLetterWord>,
        listen_address: SocketAddr,
        data_dir: PathBuf,
    ) -> ZooKeeperContext {
        ZooKeeperContext {
            node,
            limits,
            outbound,
            handshake_timeout,
            connections_max,
            address_caps: AddressCaps::new(usize::MAX),
            sessions_per_owner_max: usize::MAX,
            four_letter_words,
            listen_address,
            data_dir,
            started_at: Instant::now(),
            next_connection_id: AtomicU64::new(CONNECTION_ID_FIRST),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            latency: super::request_latency::RequestLatency::default(),
            tls: None,
            reads: ZooKeeperReads::Linearizable,
            sasl_users: Default::default(),
            super_digest: None,
            reconfig_enabled: false,
            connections: Mutex::new(BTreeMap::new()),
        }
    }

    /// Allows each remote address at most `per_address_max` connections at once.
    pub fn with_connections_per_address_max(mut self, per_address_max: usize) -> ZooKeeperContext {
        self.address_caps = AddressCaps::new(per_address_max);
        self
    }

    /// Allows each owner at most `sessions_max` live sessions through this node.
    pub fn with_sessions_per_owner_max(mut self, sessions_max: usize) -> ZooKeeperContext {
        self.sessions_per_owner_max = sessions_max;
        self
    }

    /// Serves reads with the given consistency.
    pub fn with_reads(mut self, reads: ZooKeeperReads) -> ZooKeeperContext {
        self.reads = reads;
        self
    }

    /// Lets these users authenticate with SASL DIGEST-MD5.
    pub fn with_sasl_users(mut self, users: super::sasl_digest::SaslUsers) -> ZooKeeperContext {
        self.sasl_users = users;
        self
    }

    /// Answers `reconfig` (for administrators) instead of refusing it with ReconfigDisabled.
    pub fn with_reconfig_enabled(mut self, reconfig_enabled: bool) -> ZooKeeperContext {
        self.reconfig_enabled = reconfig_enabled;
        self
    }

    /// Makes a session whose digest `addAuth` hashes to `super_digest` the super user.
    pub fn with_super_digest(mut self, super_digest: Option<String>) -> ZooKeeperContext {
        self.super_digest = super_digest;
        self
    }

    /// Requires TLS with client certificates on every connection, if `tls` is given.
    pub fn with_tls_if(self, tls: Option<super::ZooKeeperTls>) -> ZooKeeperContext {
        match tls {
            Some(tls) => self.with_tls(tls),
            None => self,
        }
    }

    /// Requires TLS with client certificates on every connection.
    pub fn with_tls(mut self, tls: super::ZooKeeperTls) -> ZooKeeperContext {
        self.tls = Some(tls);
        self
    }

    /// The live connections. Every update is one map operation, so a poisoned lock still holds
    /// consistent data.
    pub fn connections(&self) -> MutexGuard<'_, BTreeMap<ConnectionId, Arc<ConnectionRecord>>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection and returns its id and record.
    pub fn register(&self, remote: SocketAddr) -> (ConnectionId, Arc<ConnectionRecord>) {
        let connection_id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let record = Arc::new(ConnectionRecord {
            remote,
            session_id: AtomicU64::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            established_at: Instant::now(),
        });
        self.connections().insert(connection_id, record.clone());
        (connection_id, record)
    }

    pub fn unregister(&self, connection_id: ConnectionId) {
        self.connections().remove(&connection_id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections().len()
    }
}
