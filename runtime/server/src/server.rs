//! Starting and stopping a Polis node: QUIC client listener, admin endpoint, and the Raft node
//! with its storage.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use polis_security::{TransportTimeouts, spawn_certificate_reloader};
use tokio::task::JoinHandle;

use crate::address_caps::{AddressCaps, connections_within_descriptors, raise_descriptor_limit};
use crate::config::ServerConfig;
use crate::connection::{self, ConnectionContext, close_code};
use crate::node::{Node, NodeSettings, OutboundBounds};
use crate::tls_faces::{TlsFaces, client_server_config};
use crate::zookeeper::{ZooKeeperContext, ZooKeeperListener};

/// How long shutdown waits for connections to acknowledge their close.
const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for the node's tasks to let go of it, so that its files are closed
/// when `shutdown` returns and a restart can open them.
const SHUTDOWN_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running node.
#[derive(Debug)]
pub struct RunningServer {
    /// The address clients connect to (the bound one, if the configuration said port 0).
    pub client_address: SocketAddr,
    /// The admin HTTP address, if enabled.
    pub admin_address: Option<SocketAddr>,
    /// The address peers reach this node on.
    pub peer_address: SocketAddr,
    /// The operator console's address, if enabled (the bound one, for port 0).
    pub console_address: Option<SocketAddr>,
    /// The ZooKeeper-compatible TCP address, if enabled (the bound one, for port 0).
    pub zookeeper_address: Option<SocketAddr>,
    pub node: Arc<Node>,
    zookeeper: Option<ZooKeeperListener>,
    endpoint: quinn::Endpoint,
    context: Arc<ConnectionContext>,
    tasks: Vec<JoinHandle<()>>,
    /// Runs the deployed plugins while this node leads (absent if plugins are disabled).
    plugin_runner: Option<crate::plugins::PluginRunner>,
}

impl RunningServer {
    /// Starts a node with `config`. Returns once it accepts connections; requests wait for the
    /// cluster to have a leader.
    pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;

        // Everything that can fail for want of a port or a file comes before the node opens its
        // storage, so a failed start leaves nothing open behind it.
        let tls_files = config.tls.files();
        let alpn = vec![polis_proto::ALPN_CLIENT.to_vec()];
        let timeouts = TransportTimeouts::default();
        let server_config =
            client_server_config(&tls_files, &alpn, &timeouts, config.frame_len_max)
                .context("building the TLS configuration from the certificate files")?;
        let endpoint = quinn::Endpoint::server(server_config, config.listen)
            .with_context(|| format!("binding the QUIC listener on {}", config.listen))?;
        let client_address = endpoint.local_addr()?;
        let admin = match config.admin_listen {
            Some(address) => {
                let listener = crate::admin_http::bind(address).await?;
                let address = listener.local_addr()?;
                Some((listener, address, crate::admin_http::prometheus_handle()?))
            }
            None => None,
        };
        let console_listener = if config.console.enabled {
            let logins = crate::console::read_logins(&config.console)?;
            Some((crate::console::bind(config.console.listen).await?, logins))
        } else {
            None
        };
        let zookeeper_listener = if config.zookeeper.enabled {
            Some(ZooKeeperListener::bind(config.zookeeper.listen).await?)
        } else {
            None
        };

        let members = config.member_nodes();
        let node = Node::start(
            NodeSettings {
                id: config.cluster.node_id,
                cluster_name: config.cluster.name.clone(),
                data_dir: config.data_dir.clone(),
                tls: tls_files.clone(),
                peer_listen: config
                    .cluster
                    .peer_listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                members,
                join: config.join_cluster,
                limits: config.limits.clone(),
                leader_wait_max: Duration::from_millis(config.request_timeout_ms),
                log_compaction: config.cluster.log_compaction.clone(),
                session_tick: Duration::from_millis(config.tick_interval_ms),
                lease_reads: config.cluster.lease_reads,
            },
            client_address,
        )
        .await?;
        let peer_address = node.peer_address;

        let context = Arc::new(ConnectionContext {
            node: node.clone(),
            admins: config.admins.iter().cloned().collect(),
            frame_len_max: config.frame_len_max,
            outbound: outbound_bounds(&config),
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
            sessions_per_identity_max: config.sessions_per_identity_max,
            next_connection_id: AtomicU64::new(1),
            active_connections: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        });
        let zookeeper_tls = zookeeper_tls(&config)?;
        let tls_faces = TlsFaces {
            client_endpoint: endpoint.clone(),
            client_alpn: alpn,
            client_timeouts: timeouts,
            client_frame_len_max: config.frame_len_max,
            peer_endpoint: node.peer_endpoint().clone(),
            zookeeper: zookeeper_tls.clone(),
        };
        let mut tasks = vec![
            spawn_certificate_reloader(
                "node",
                tls_files,
                Duration::from_millis(config.certificate_reload_interval_ms),
                move |files| {
                    tls_faces
                        .install_certificates(files)
                        .map_err(|error| format!("{error:#}"))?;
                    record_certificate_expiry(files);
                    Ok::<(), String>(())
                },
            ),
            tokio::spawn(accept_loop(
                endpoint.clone(),
                context.clone(),
                config.connections_max,
                AddressCaps::new(config.connections_per_address_max),
            )),
        ];
        let mut plugin_runner = None;
        if config.plugins.enabled {
            let engine = polis_plugin_host::PluginEngine::new(polis_plugin_host::EngineConfig {
                cache_dir: Some(
                    config
                        .plugins
                        .cache_dir
                        .clone()
                        .unwrap_or_else(|| config.data_dir.join("plugin-cache")),
                ),
                max_concurrent_invocations: config.plugins.invocations_max,
                memory_bytes_max: config.plugins.memory_bytes_max,
                ..polis_plugin_host::EngineConfig::default()
            })
            .context("starting the plugin host")?;
            plugin_runner = Some(crate::plugins::PluginRunner::spawn(
                node.clone(),
                engine,
                Duration::from_millis(config.plugins.clock_interval_ms),
            ));
        }
        let mut admin_address = None;
        if let Some((listener, address, prometheus)) = admin {
            admin_address = Some(address);
            tasks.push(tokio::spawn(crate::admin_http::serve(
                listener,
                prometheus,
                Arc::downgrade(&node),
            )));
        }
        let mut console_address = None;
        if let Some((listener, logins)) = console_listener {
            console_address = Some(listener.local_addr()?);
            let console =
                crate::console::Console::new(&config.console, logins, Arc::downgrade(&node));
            tasks.push(tokio::spawn(crate::console::serve(
                listener,
                Arc::new(console),
            )));
        }
        let zookeeper = match zookeeper_listener {
            Some(listener) => Some(ZooKeeperListener::spawn(
                listener,
                ZooKeeperContext::new(
                    node.clone(),
                    zookeeper_limits(&config),
                    outbound_bounds(&config),
                    Duration::from_millis(config.handshake_timeout_ms),
                    zookeeper_connections_max(&config),
                    config.zookeeper.four_letter_words()?,
                    config.zookeeper.listen,
                    config.data_dir.clone(),
                )
                .with_tls_if(zookeeper_tls)
                .with_reads(config.zookeeper.reads)
                .with_sasl_users(config.zookeeper.sasl_users.clone())
                .with_super_digest(config.zookeeper.super_digest.clone())
                .with_reconfig_enabled(config.zookeeper.reconfig_enabled)
                .with_connections_per_address_max(config.zookeeper.connections_per_address_max)
                .with_sessions_per_owner_max(config.zookeeper.sessions_per_owner_max),
            )?),
            None => None,
        };
        let zookeeper_address = zookeeper.as_ref().map(|listener| listener.address);
        tracing::info!(
            %client_address,
            %peer_address,
            ?admin_address,
            ?console_address,
            ?zookeeper_address,
            node_id = config.cluster.node_id,
            data_dir = %config.data_dir.display(),
            "polis is serving"
        );
        Ok(RunningServer {
            client_address,
            admin_address,
            console_address,
            peer_address,
            zookeeper_address,
            node,
            zookeeper,
            endpoint,
            context,
            tasks,
            plugin_runner,
        })
    }

    /// The number of client connections open now.
    pub fn active_connections(&self) -> u64 {
        self.context.active_connections.load(Ordering::Relaxed)
    }

    /// The number of ZooKeeper connections open now (0 without the ZooKeeper face).
    pub fn zookeeper_connections(&self) -> usize {
        self.zookeeper
            .as_ref()
            .map_or(0, ZooKeeperListener::connection_count)
    }

    /// The number of open sessions, as of the last entry this node applied.
    pub fn sessions(&self) -> usize {
        self.node.hub.session_count()
    }

    /// The number of watches the sessions attached to this node hold.
    pub fn watches(&self) -> usize {
        self.node.hub.lock().watches.len()
    }

    /// Stops accepting, closes every connection, leaves the cluster and closes the files.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        // `Endpoint::close` closes only the connections that exist when it is called; one still
        // in its handshake is closed by its own task once it sees this flag.
        self.context.closing.store(true, Ordering::Release);
        self.endpoint
            .close(close_code::SERVER_SHUTDOWN.into(), b"server shutting down");
        if let Some(runner) = self.plugin_runner {
            runner.shutdown().await;
        }
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(zookeeper) = self.zookeeper {
            zookeeper.shutdown().await;
        }
        // A peer that never acknowledges the close would hold the endpoint for the whole idle
        // timeout, so the wait is bounded, and the port is freed for a restart at once.
        polis_security::release_endpoint_port(&self.endpoint, SHUTDOWN_DRAIN_TIMEOUT).await;
        drop(self.context);
        let node = self.node;
        let storage = node.reader.closing();
        let stopped = node.shutdown().await;
        // Connection and proposal tasks finish and let go of the node; its storage closes with
        // the last reference to the state machine, which a plugin call finishing on a blocking
        // thread may hold a moment longer. The files are closed when this returns (within the
        // bound), so a node started again in the same process can open them (a restart).
        let started = Instant::now();
        while Arc::strong_count(&node) > 1 && started.elapsed() < SHUTDOWN_RELEASE_TIMEOUT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(node);
        while !storage.is_closed() && started.elapsed() < SHUTDOWN_RELEASE_TIMEOUT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !storage.is_closed() {
            tracing::warn!("the state machine is still held after shutdown; its files stay open");
        }
        stopped
    }
}

/// The ZooKeeper face's TLS, if the configuration asks for it.
fn zookeeper_tls(config: &ServerConfig) -> anyhow::Result<Option<crate::zookeeper::ZooKeeperTls>> {
    if !config.zookeeper.tls {
        return Ok(None);
    }
    let tls = crate::zookeeper::ZooKeeperTls::from_files(
        &config.tls.files(),
        config.admins.iter().cloned().collect(),
    )
    .context("building the ZooKeeper listener's TLS configuration")?;
    Ok(Some(tls))
}

/// The bounds of every client connection's queue, on either face.
fn outbound_bounds(config: &ServerConfig) -> OutboundBounds {
    OutboundBounds {
        messages_max: config.outbound_queue_max,
        bytes_max: config.outbound_queue_bytes_max,
    }
}

/// The jute decoder's bounds, from the node's: a request the tree would refuse is refused before
/// it is buffered twice.
fn zookeeper_limits(config: &ServerConfig) -> polis_zookeeper::JuteLimits {
    let limits = &config.limits;
    polis_zookeeper::JuteLimits {
        frame_len_max: config.frame_len_max,
        path_len_max: limits.path_len_max,
        data_len_max: limits.data_len_max,
        acl_entries_max: limits.acl_entries_max,
        multi_ops_max: limits.multi_ops_max,
        watch_paths_max: limits.watches_per_session_max,
        ..polis_zookeeper::JuteLimits::default()
    }
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    context: Arc<ConnectionContext>,
    connections_max: usize,
    address_caps: Arc<AddressCaps>,
) {
    while let Some(incoming) = endpoint.accept().await {
        if context.active_connections.load(Ordering::Relaxed) as usize >= connections_max {
            metrics::counter!("polis_connections_refused_total", "reason" => "connections_max")
                .increment(1);
            incoming.refuse();
            continue;
        }
        let Some(slot) = address_caps.admit(incoming.remote_address().ip()) else {
            metrics::counter!(
                "polis_connections_refused_total",
                "reason" => "connections_per_address_max"
            )
            .increment(1);
            incoming.refuse();
            continue;
        };
        let context = context.clone();
        tokio::spawn(async move {
            connection::serve(incoming, context).await;
            drop(slot);
        });
    }
}

/// The ZooKeeper face's connection bound, within what the open-files limit leaves room for
/// (raised to its hard limit first).
fn zookeeper_connections_max(config: &ServerConfig) -> usize {
    let descriptors_max = raise_descriptor_limit();
    let connections_max =
        connections_within_descriptors(config.zookeeper.connections_max, descriptors_max);
    if connections_max < config.zookeeper.connections_max {
        tracing::warn!(
            configured = config.zookeeper.connections_max,
            descriptors_max,
            connections_max,
            "the open-files limit leaves room for fewer ZooKeeper connections than configured; \
             raise it (LimitNOFILE in a systemd unit, ulimit -n) to accept more"
        );
    }
    connections_max
}

/// Publishes when the installed certificate and its CA expire (`polis_certificate_expiry_seconds`
/// by `certificate`, `node` or `ca`, in Unix seconds), so that an alert can fire weeks before a
/// node stops being able to talk to its peers and clients (deploy/prometheus/polis-alerts.yaml).
fn record_certificate_expiry(files: &polis_security::TlsFiles) {
    match files.expiry() {
        Ok(expiry) => {
            metrics::gauge!("polis_certificate_expiry_seconds", "certificate" => "node")
                .set(expiry.certificate as f64);
            metrics::gauge!("polis_certificate_expiry_seconds", "certificate" => "ca")
                .set(expiry.ca as f64);
        }
        Err(error) => tracing::warn!(%error, "cannot read the certificate's expiry"),
    }
}
