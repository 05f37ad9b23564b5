//! `polis.toml`: the server's configuration, with documented defaults.
//!
//! Every field has a default, so an empty file is a valid configuration for a dev node; command
//! line flags override the file.
//!
//! ```toml
//! listen = "127.0.0.1:7181"          # QUIC (UDP) address for clients
//! admin_listen = "127.0.0.1:7180"    # HTTP /metrics, /health and /ready; omit to disable
//! data_dir = "polis-data"            # the redb file lives here
//! admins = ["CN=admin,O=Polis"]      # certificate subjects with administrator rights
//! join_cluster = false               # true: wait to be added to a running cluster as a learner
//!
//! [tls]
//! ca = "certs/ca.pem"
//! certificate = "certs/node-node1.pem"
//! key = "certs/node-node1-key.pem"
//!
//! [limits]                           # polis_tree::Limits; any field may be given
//! data_len_max = 1048575
//! session_timeout_min_ms = 2000
//! session_timeout_max_ms = 120000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polis_security::TlsFiles;
use polis_tree::Limits;
use serde::{Deserialize, Serialize};

/// The configuration of one Polis server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The UDP address the QUIC client listener binds.
    pub listen: SocketAddr,
    /// The TCP address of the HTTP admin endpoint (`/metrics`, `/health`, `/ready`); `None` disables it.
    pub admin_listen: Option<SocketAddr>,
    /// Where the server keeps its state (`tree.redb`).
    pub data_dir: PathBuf,
    /// The node's certificate, key, and the CA that client certificates must chain to.
    pub tls: TlsConfig,
    /// Subjects of client certificates that get administrator rights (ZooKeeper's super user):
    /// they pass every ACL and may write under `/polis`.
    pub admins: Vec<String>,
    /// The bounds of the tree, checked on every operation.
    pub limits: Limits,
    /// The most client connections at once; further ones are refused.
    pub connections_max: usize,
    /// The most client connections from one IP address at once, so that one host cannot take
    /// every connection a node allows.
    pub connections_per_address_max: usize,
    /// The most live sessions one client certificate may hold through this node. A session
    /// outlives its connection by up to its timeout, so without this a client that connects and
    /// drops over and over could fill the cluster's `limits.sessions_max` alone.
    pub sessions_per_identity_max: usize,
    /// The most messages waiting to be written to one client; a client that does not read is
    /// disconnected when its queue is full (its session survives and may resume).
    pub outbound_queue_max: usize,
    /// The most encoded bytes waiting to be written to one client, the message being written
    /// included; as with `outbound_queue_max`, a session's own responses wait for room (its
    /// requests are not read meanwhile) and a watch event that finds no room disconnects the
    /// client. One message larger than this passes alone.
    pub outbound_queue_bytes_max: usize,
    /// The largest frame accepted from a client, in bytes.
    pub frame_len_max: usize,
    /// How often a node sends its sessions' renewals to the leader, and the leader looks for
    /// sessions past their deadline, in milliseconds. A session expires at most this much after
    /// its timeout; ZooKeeper's equivalent is its `tickTime`-based expiry buckets.
    pub tick_interval_ms: u64,
    /// How often certificate files are checked for changes, in milliseconds.
    pub certificate_reload_interval_ms: u64,
    /// How long a new connection may take to send its Connect message, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// How long a request may wait for the cluster to have a leader (an election, a healing
    /// partition) before it fails with ConnectionLoss, in milliseconds.
    pub request_timeout_ms: u64,
    /// This node's place in its Raft cluster. Without members, the node is a cluster of one.
    pub cluster: ClusterConfig,
    /// Start as a node that joins a running cluster: it never founds one, is not among
    /// `cluster.members` (which list the initial voters only), and waits until an administrator
    /// adds it as a learner (`polis cluster add-learner`) — it may then be promoted to a voter
    /// (`polis cluster promote`). Needs `cluster.peer_listen`, the address the leader is told.
    /// A top-level key, so it goes before the `[cluster]` table in the file.
    pub join_cluster: bool,
    /// The wasm plugin host.
    pub plugins: PluginsConfig,
    /// The ZooKeeper-compatible TCP listener, for existing ZooKeeper clients.
    pub zookeeper: ZooKeeperConfig,
    /// The operator console: a web page on its own listener, off by default (see
    /// [`crate::console`]).
    pub console: crate::console::console_config::ConsoleConfig,
    /// The async runtime's worker threads; by default (`None`) one per core. Nodes that share a
    /// machine do better with their share of its cores: a request crosses a dozen tasks on its
    /// way through a node, and on fewer threads more of those hand-overs stay on one thread
    /// instead of waking another (on the benchmark's two cores, three nodes of one thread each
    /// wrote 2-15 % more than with two). At most [`RUNTIME_THREADS_MAX`].
    pub runtime_threads: Option<usize>,
}

/// The most worker threads `runtime_threads` may ask for.
pub const RUNTIME_THREADS_MAX: usize = 1_024;

/// ZooKeeper's face of the node (`crate::zookeeper`): a TCP listener speaking ZooKeeper's jute
/// protocol to the same tree, sessions, watches and ACLs. Off by default: it has neither TLS nor
/// client certificates, so its connections are anonymous (`world:anyone`) until they `addAuth`
/// a digest; `polis dev` turns it on.
///
/// ```toml
/// [zookeeper]
/// enabled = true
/// listen = "127.0.0.1:2181"
/// four_letter_words = ["ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs"]  # or ["*"]
/// connections_max = 10000
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZooKeeperConfig {
    /// Serve ZooKeeper clients.
    pub enabled: bool,
    /// The TCP address to listen on (ZooKeeper's `clientPortAddress:clientPort`).
    pub listen: SocketAddr,
    /// The four-letter words answered (ZooKeeper's `4lw.commands.whitelist`, whose default is
    /// `srvr` alone); `*` means all that Polis implements.
    pub four_letter_words: Vec<String>,
    /// The most ZooKeeper connections at once, from all clients. Each takes a file descriptor:
    /// the node raises its open-files limit to the hard limit at start, and accepts no more
    /// connections than that leaves room for.
    pub connections_max: usize,
    /// The most ZooKeeper connections from one IP address at once (ZooKeeper's
    /// `maxClientCnxns`, whose default is also 60).
    pub connections_per_address_max: usize,
    /// The most live sessions one owner may hold through this node: the certificate's subject
    /// with `tls`, else the remote IP address. Sessions outlive their connections (up to their
    /// timeout), so this is larger than `connections_per_address_max`: a client may reconnect
    /// and open new sessions while its old ones run out.
    pub sessions_per_owner_max: usize,
    /// Require TLS 1.3 with a client certificate from the node's CA (ZooKeeper's
    /// `secureClientPort` with `ssl.clientAuth=need`): the certificate's subject is the
    /// connection's `x509` identity, as on the QUIC face. Off: plain TCP, identities by `addAuth`.
    pub tls: bool,
    /// How ZooKeeper clients' reads are served: `linearizable` (the default) confirms with the
    /// leader's quorum that the read sees every write committed before it arrived (Raft's
    /// ReadIndex); `sequential` is ZooKeeper's own guarantee, a read from this node's tree, which
    /// already holds every write of the session (a write is answered only once this node applied
    /// it) but may miss other sessions' latest writes. `sync` is a barrier in both.
    pub reads: ZooKeeperReads,
    /// Users who may authenticate with SASL DIGEST-MD5 (ZooKeeper's JAAS `user_NAME="password"`
    /// entries; kazoo's `sasl_options`, the Java client's `DigestLoginModule`), as a table of
    /// names and passwords. An authenticated session holds `sasl:NAME` and the digest identity
    /// of `NAME:password`, so ACLs of either scheme admit it. Empty: SASL is refused.
    pub sasl_users: crate::zookeeper::sasl_digest::SaslUsers,
    /// ZooKeeper's `zookeeper.DigestAuthenticationProvider.superDigest`: `NAME:HASH`, the digest
    /// id of `NAME:password` (HASH is `echo -n NAME:password | openssl dgst -binary -sha1 |
    /// base64`, as ZooKeeper's `DigestAuthenticationProvider` prints it). A ZooKeeper session
    /// whose `addAuth digest NAME:password` hashes to it becomes the super user (`super:NAME`),
    /// as an administrator's certificate does. Unset: no password makes anyone super.
    pub super_digest: Option<String>,
    /// Answer ZooKeeper's `reconfig` (ZooKeeper's `reconfigEnabled`, off by default there and
    /// here): administrators may then change the membership through the ZooKeeper face, as
    /// they always may through `polis cluster`. Off: `reconfig` is refused with
    /// ReconfigDisabled (-123).
    pub reconfig_enabled: bool,
}

/// The consistency of ZooKeeper clients' reads ([`ZooKeeperConfig::reads`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZooKeeperReads {
    /// Every read sees every write committed before it arrived, on any node.
    #[default]
    Linearizable,
    /// ZooKeeper's guarantee: a session's reads see its own writes and never go back in time.
    Sequential,
}

impl Default for ZooKeeperConfig {
    fn default() -> ZooKeeperConfig {
        ZooKeeperConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 2181)),
            four_letter_words: vec!["srvr".to_string()],
            connections_max: 10_000,
            connections_per_address_max: 60,
            sessions_per_owner_max: 120,
            tls: false,
            reads: ZooKeeperReads::Linearizable,
            sasl_users: Default::default(),
            super_digest: None,
            reconfig_enabled: false,
        }
    }
}

impl ZooKeeperConfig {
    /// The whitelisted words; an unknown or unimplemented one is an error naming it.
    pub fn four_letter_words(
        &self,
    ) -> anyhow::Result<std::collections::HashSet<polis_zookeeper::FourLetterWord>> {
        let implemented = crate::zookeeper::four_letter_words::IMPLEMENTED;
        let mut words = std::collections::HashSet::new();
        for name in &self.four_letter_words {
            if name == "*" {
                words.extend(implemented);
                continue;
            }
            let word = polis_zookeeper::FourLetterWord::from_name(name)
                .filter(|word| implemented.contains(word))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "zookeeper.four_letter_words: {name:?} is not one of ruok, srvr, stat, \
                         mntr, conf, cons, wchs, envi, dirs, isro, wchc, wchp, dump, srst, crst \
                         (or *)"
                    )
                })?;
            words.insert(word);
        }
        Ok(words)
    }
}

/// The wasm plugin host of a node (plugins run on the leader; every node is ready to).
///
/// ```toml
/// [plugins]
/// enabled = true
/// invocations_max = 16             # invocations at once (wasmtime pooling slots)
/// memory_bytes_max = 268435456     # the most linear memory any plugin may ask for
/// clock_interval_ms = 1000         # /polis/clock ticks for plugins that trigger on it; 0: off
/// # cache_dir = "polis-data/plugin-cache"   # compiled components; default: in the data dir
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Run deployed plugins when this node leads.
    pub enabled: bool,
    /// How many plugin invocations may run at once.
    pub invocations_max: u32,
    /// The largest linear memory a manifest may ask for, in bytes.
    pub memory_bytes_max: u64,
    /// Where compiled components are cached across restarts; `plugin-cache` in the data dir if
    /// absent.
    pub cache_dir: Option<PathBuf>,
    /// How often the leader ticks `/polis/clock` for plugins that trigger on it, in
    /// milliseconds; 0 turns the clock off.
    pub clock_interval_ms: u64,
}

impl Default for PluginsConfig {
    fn default() -> PluginsConfig {
        let engine = polis_plugin_host::EngineConfig::default();
        PluginsConfig {
            enabled: true,
            invocations_max: engine.max_concurrent_invocations,
            memory_bytes_max: engine.memory_bytes_max,
            cache_dir: None,
            clock_interval_ms: 1_000,
        }
    }
}

/// The Raft cluster a node belongs to.
///
/// ```toml
/// [cluster]
/// node_id = 2
/// peer_listen = "10.0.0.2:7182"
/// [[cluster.members]]
/// id = 1
/// peer_address = "10.0.0.1:7182"
/// client_address = "10.0.0.1:7181"
/// # … one entry per initial voter, this node included — unless this node joins later as a
/// # learner (top-level `join_cluster = true`): then it is absent from the list
/// lease_reads = true                   # optional; reads on the leader's lease
/// [cluster.log_compaction]             # optional; polis_raft::LogCompaction
/// snapshot_interval_entries = 10000
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id, unique in the cluster and never reused.
    pub node_id: u64,
    /// The cluster's name (openraft's cluster name, in logs).
    pub name: String,
    /// The UDP address peers reach this node on; a free loopback port if absent (a single node).
    pub peer_listen: Option<SocketAddr>,
    /// The initial voters; the member with the lowest id founds the cluster on first start.
    pub members: Vec<MemberConfig>,
    /// When to snapshot the tree and purge the Raft log behind the snapshot.
    pub log_compaction: polis_raft::LogCompaction,
    /// Serve linearizable reads on the leader's lease (`polis_raft::LeaderLease`): while a
    /// majority accepted the leader's AppendEntries in the last `polis_raft::READ_LEASE`, reads
    /// skip the ReadIndex heartbeat round. Safe as long as the machines' monotonic clocks run at
    /// nearly the same rate (the lease keeps half the followers' promise in reserve); switch it
    /// off where that cannot be trusted (virtual machines that are paused and resumed with their
    /// clock jumping forward), and every linearizable read pays a quorum round.
    pub lease_reads: bool,
}

/// One initial voter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub id: u64,
    /// Where peers reach it (`host:port`; the host must be in its node certificate).
    pub peer_address: String,
    /// Where clients reach it.
    pub client_address: String,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            node_id: 1,
            name: "polis".to_string(),
            peer_listen: None,
            members: Vec::new(),
            log_compaction: polis_raft::LogCompaction::default(),
            lease_reads: true,
        }
    }
}

/// Paths of the node's TLS material.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> TlsConfig {
        TlsConfig {
            ca: PathBuf::from("certs/ca.pem"),
            certificate: PathBuf::from("certs/node-node1.pem"),
            key: PathBuf::from("certs/node-node1-key.pem"),
        }
    }
}

impl TlsConfig {
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca_path: self.ca.clone(),
            certificate_path: self.certificate.clone(),
            key_path: self.key.clone(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7181)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 7180))),
            data_dir: PathBuf::from("polis-data"),
            tls: TlsConfig::default(),
            admins: Vec::new(),
            limits: Limits::default(),
            connections_max: 10_000,
            connections_per_address_max: 1_024,
            sessions_per_identity_max: 1_024,
            outbound_queue_max: 4_096,
            outbound_queue_bytes_max: 8 * 1024 * 1024,
            frame_len_max: polis_proto::FRAME_LEN_MAX_DEFAULT,
            tick_interval_ms: 50,
            certificate_reload_interval_ms: 2_000,
            handshake_timeout_ms: 10_000,
            request_timeout_ms: 10_000,
            cluster: ClusterConfig::default(),
            join_cluster: false,
            plugins: PluginsConfig::default(),
            zookeeper: ZooKeeperConfig::default(),
            console: crate::console::console_config::ConsoleConfig::default(),
            runtime_threads: None,
        }
    }
}

impl ServerConfig {
    /// The cluster's voters as `[[cluster.members]]` lists them, each with its peer and client
    /// addresses (empty for a one-node cluster, which founds itself).
    pub fn member_nodes(&self) -> std::collections::BTreeMap<u64, polis_raft::PeerNode> {
        self.cluster
            .members
            .iter()
            .map(|member| {
                (
                    member.id,
                    polis_raft::PeerNode::new(
                        member.peer_address.clone(),
                        member.client_address.clone(),
                    ),
                )
            })
            .collect()
    }

    /// Reads a configuration file. Relative paths in it are taken relative to the file's folder,
    /// so a configuration can be moved together with its certificates and data.
    pub fn load(file: &Path) -> anyhow::Result<ServerConfig> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut config: ServerConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        config.resolve_relative_to(base);
        config.validate()?;
        Ok(config)
    }

    fn resolve_relative_to(&mut self, base: &Path) {
        for path in [
            &mut self.data_dir,
            &mut self.tls.ca,
            &mut self.tls.certificate,
            &mut self.tls.key,
        ] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        self.console.resolve_relative_to(base);
        if let Some(cache_dir) = &mut self.plugins.cache_dir
            && cache_dir.is_relative()
        {
            *cache_dir = base.join(&*cache_dir);
        }
    }

    /// Refuses settings that cannot work, with a message naming the field.
    pub fn validate(&self) -> anyhow::Result<()> {
        let limits = &self.limits;
        limits.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            self.frame_len_max > limits.data_len_max,
            "frame_len_max must exceed limits.data_len_max so that the largest node fits a frame"
        );
        anyhow::ensure!(
            self.outbound_queue_max > 0,
            "outbound_queue_max must be positive"
        );
        anyhow::ensure!(
            self.outbound_queue_bytes_max > 0 && self.outbound_queue_bytes_max <= u32::MAX as usize,
            "outbound_queue_bytes_max must be positive and at most 4 GiB"
        );
        anyhow::ensure!(self.connections_max > 0, "connections_max must be positive");
        anyhow::ensure!(
            self.connections_per_address_max > 0,
            "connections_per_address_max must be positive"
        );
        anyhow::ensure!(
            self.zookeeper.connections_per_address_max > 0,
            "zookeeper.connections_per_address_max must be positive"
        );
        anyhow::ensure!(
            self.sessions_per_identity_max > 0,
            "sessions_per_identity_max must be positive"
        );
        anyhow::ensure!(
            self.zookeeper.sessions_per_owner_max > 0,
            "zookeeper.sessions_per_owner_max must be positive"
        );
        anyhow::ensure!(
            self.tick_interval_ms > 0,
            "tick_interval_ms must be positive"
        );
        anyhow::ensure!(
            self.runtime_threads
                .is_none_or(|threads| (1..=RUNTIME_THREADS_MAX).contains(&threads)),
            "runtime_threads must be between 1 and {RUNTIME_THREADS_MAX}"
        );
        self.zookeeper.four_letter_words()?;
        self.console.validate()?;
        self.zookeeper
            .sasl_users
            .validate(crate::node::IDENTITY_LEN_MAX)
            .map_err(|reason| anyhow::anyhow!("zookeeper.sasl_users: {reason}"))?;
        if let Some(digest) = &self.zookeeper.super_digest {
            anyhow::ensure!(
                digest
                    .split_once(':')
                    .is_some_and(|(name, hash)| !name.is_empty() && hash.len() == 28),
                "zookeeper.super_digest must be NAME:HASH, the digest id of NAME:password \
                 (28 characters of base64 after the colon)"
            );
        }
        anyhow::ensure!(
            self.zookeeper.connections_max > 0,
            "zookeeper.connections_max must be positive"
        );
        self.validate_cluster()
    }

    /// The cluster's settings: unique member ids, and this node among the initial voters unless
    /// it joins later as a learner.
    fn validate_cluster(&self) -> anyhow::Result<()> {
        let cluster = &self.cluster;
        let mut ids = std::collections::BTreeSet::new();
        for member in &cluster.members {
            anyhow::ensure!(
                ids.insert(member.id),
                "cluster.members lists node {} twice",
                member.id
            );
        }
        cluster
            .log_compaction
            .validate()
            .map_err(|reason| anyhow::anyhow!("cluster.log_compaction: {reason}"))?;
        let listed = ids.contains(&cluster.node_id);
        if self.join_cluster {
            anyhow::ensure!(
                !listed,
                "join_cluster = true is for a node added at runtime, but cluster.members lists \
                 this node (cluster.node_id = {}) as an initial voter",
                cluster.node_id
            );
            anyhow::ensure!(
                cluster.peer_listen.is_some(),
                "join_cluster = true needs cluster.peer_listen: the leader must be told where to \
                 reach this node"
            );
        } else {
            anyhow::ensure!(
                ids.is_empty() || listed,
                "cluster.members does not list this node (cluster.node_id = {}); list it, or set \
                 join_cluster = true to start as a node that waits to be added as a learner",
                cluster.node_id
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        let config: ServerConfig = toml::from_str("").unwrap();
        assert_eq!(config, ServerConfig::default());
        config.validate().unwrap();
    }

    #[test]
    fn partial_limits_keep_other_defaults() {
        let config: ServerConfig = toml::from_str("[limits]\ndata_len_max = 1000\n").unwrap();
        assert_eq!(config.limits.data_len_max, 1000);
        assert_eq!(config.limits.path_len_max, Limits::default().path_len_max);
    }

    #[test]
    fn runtime_threads_are_bounded() {
        let config: ServerConfig = toml::from_str("runtime_threads = 1\n").unwrap();
        assert_eq!(config.runtime_threads, Some(1));
        config.validate().unwrap();
        for threads in [0, RUNTIME_THREADS_MAX + 1] {
            let config = ServerConfig {
                runtime_threads: Some(threads),
                ..ServerConfig::default()
            };
            let refused = config.validate().unwrap_err().to_string();
            assert!(refused.contains("runtime_threads"), "{refused}");
        }
    }

    #[test]
    fn sasl_users_and_the_super_digest_are_checked() {
        let parse = |text: &str| toml::from_str::<ServerConfig>(text).unwrap().validate();
        let good = "[zookeeper]\nsuper_digest = \"super:D/InIHSb7yEEbrWz8b9l71RjZJU=\"\n\
                    [zookeeper.sasl_users]\nalice = \"secret\"\n";
        parse(good).unwrap();
        for bad in [
            "[zookeeper]\nsuper_digest = \"super\"\n",
            "[zookeeper]\nsuper_digest = \":D/InIHSb7yEEbrWz8b9l71RjZJU=\"\n",
            "[zookeeper.sasl_users]\n\"a:b\" = \"secret\"\n",
            "[zookeeper.sasl_users]\n\"\" = \"secret\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let shown = format!("{:?}", toml::from_str::<ServerConfig>(good).unwrap());
        assert!(
            !shown.contains("secret"),
            "a password in the configuration's Debug"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<ServerConfig>("lisen = \"127.0.0.1:1\"\n").is_err());
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("polis.toml");
        std::fs::write(&file, "data_dir = \"data\"\n[tls]\nca = \"c/ca.pem\"\n").unwrap();
        let config = ServerConfig::load(&file).unwrap();
        assert_eq!(config.data_dir, directory.path().join("data"));
        assert_eq!(config.tls.ca, directory.path().join("c/ca.pem"));
    }

    fn member(id: u64) -> MemberConfig {
        MemberConfig {
            id,
            peer_address: format!("127.0.0.1:{}", 7000 + id),
            client_address: format!("127.0.0.1:{}", 8000 + id),
        }
    }

    #[test]
    fn a_voter_must_be_a_member_unless_it_joins() {
        let mut config = ServerConfig::default();
        config.cluster.node_id = 4;
        config.cluster.members = vec![member(1), member(2), member(3)];
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("join_cluster"), "{refused}");
        config.join_cluster = true;
        assert!(
            config.validate().is_err(),
            "a joining node needs a peer address"
        );
        config.cluster.peer_listen = Some(SocketAddr::from(([127, 0, 0, 1], 7004)));
        config.validate().unwrap();
        config.cluster.node_id = 2;
        assert!(
            config.validate().is_err(),
            "a listed voter cannot also join as a learner"
        );
        config.join_cluster = false;
        config.validate().unwrap();
        config.cluster.members.push(member(2));
        assert!(config.validate().is_err(), "duplicate ids");
    }

    #[test]
    fn join_cluster_reads_from_the_file() {
        let text = "join_cluster = true\n[cluster]\nnode_id = 4\npeer_listen = \"127.0.0.1:7004\"\n\
                    [[cluster.members]]\nid = 1\npeer_address = \"127.0.0.1:7001\"\n\
                    client_address = \"127.0.0.1:8001\"\n";
        let config: ServerConfig = toml::from_str(text).unwrap();
        assert!(config.join_cluster);
        config.validate().unwrap();
    }

    #[test]
    fn the_zookeeper_face_reads_from_the_file_and_checks_its_words() {
        let text = "[zookeeper]\nenabled = true\nlisten = \"127.0.0.1:2182\"\n\
                    four_letter_words = [\"ruok\", \"mntr\"]\n";
        let config: ServerConfig = toml::from_str(text).unwrap();
        assert!(config.zookeeper.enabled);
        assert_eq!(config.zookeeper.listen.port(), 2182);
        assert_eq!(config.zookeeper.four_letter_words().unwrap().len(), 2);
        config.validate().unwrap();
        assert!(
            !ServerConfig::default().zookeeper.enabled,
            "off unless asked for"
        );
        let every: ServerConfig =
            toml::from_str("[zookeeper]\nfour_letter_words = [\"*\"]\n").unwrap();
        assert_eq!(
            every.zookeeper.four_letter_words().unwrap().len(),
            crate::zookeeper::four_letter_words::IMPLEMENTED.len()
        );
        // A word ZooKeeper has and Polis does not implement is refused by name, as is nonsense.
        for refused in ["nope", "gtmk"] {
            let mut config = ServerConfig::default();
            config.zookeeper.four_letter_words = vec![refused.to_string()];
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(refused), "{error}");
        }
    }

    #[test]
    fn log_compaction_reads_from_the_file_and_keeps_other_defaults() {
        let text = "[cluster.log_compaction]\nsnapshot_interval_entries = 50\n";
        let config: ServerConfig = toml::from_str(text).unwrap();
        let compaction = &config.cluster.log_compaction;
        assert_eq!(compaction.snapshot_interval_entries, 50);
        assert_eq!(
            compaction.purge_batch_entries,
            polis_raft::LogCompaction::default().purge_batch_entries
        );
        config.validate().unwrap();
        let never: ServerConfig =
            toml::from_str("[cluster.log_compaction]\nsnapshot_interval_entries = 0\n").unwrap();
        let refused = never.validate().unwrap_err().to_string();
        assert!(refused.contains("snapshot_interval_entries"), "{refused}");
    }

    #[test]
    fn impossible_settings_are_refused() {
        let config = ServerConfig {
            frame_len_max: 10,
            ..ServerConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
