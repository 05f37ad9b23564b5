//! Starting and stopping a Polis node: storage, core, QUIC listener, admin endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use polis_security::{TransportTimeouts, quinn_server_config, spawn_reloader};
use polis_store::{CommitDurability, RedbStore};
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::connection::{self, ConnectionContext, close_code};
use crate::service::{Command, Core, CoreConfig, CoreStatus};

/// How long shutdown waits for connections to acknowledge their close.
const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A running node.
#[derive(Debug)]
pub struct RunningServer {
    /// The address clients connect to (the bound one, if the configuration said port 0).
    pub client_address: SocketAddr,
    /// The admin HTTP address, if enabled.
    pub admin_address: Option<SocketAddr>,
    pub status: Arc<CoreStatus>,
    endpoint: quinn::Endpoint,
    context: Arc<ConnectionContext>,
    tasks: Vec<JoinHandle<()>>,
    core_thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Starts a node with `config`. Returns once it accepts connections.
    pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        let store_path = config.data_dir.join("tree.redb");
        // A single node has no replicated log to replay, so every batch is fsynced before its
        // responses go out.
        let store = RedbStore::open(&store_path, CommitDurability::Immediate)
            .with_context(|| format!("opening {}", store_path.display()))?;
        let core = Core::open(
            Box::new(store),
            CoreConfig {
                limits: config.limits.clone(),
                batch_max: config.batch_max,
                ..CoreConfig::default()
            },
        )?;
        let core = core.spawn()?;

        let tls_files = config.tls.files();
        let alpn = vec![polis_proto::ALPN_CLIENT.to_vec()];
        let timeouts = TransportTimeouts::default();
        let server_config = quinn_server_config(&tls_files, &alpn, &timeouts)
            .context("building the TLS configuration from the certificate files")?;
        let endpoint = quinn::Endpoint::server(server_config, config.listen)
            .with_context(|| format!("binding the QUIC listener on {}", config.listen))?;
        let client_address = endpoint.local_addr()?;

        let context = Arc::new(ConnectionContext {
            core: core.commands.clone(),
            admins: config.admins.iter().cloned().collect(),
            frame_len_max: config.frame_len_max,
            outbound_queue_max: config.outbound_queue_max,
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
            next_connection_id: AtomicU64::new(1),
            active_connections: AtomicU64::new(0),
        });

        let mut tasks = Vec::new();
        tasks.push(spawn_reloader(
            endpoint.clone(),
            tls_files,
            alpn,
            timeouts,
            Duration::from_millis(config.certificate_reload_interval_ms),
        ));
        tasks.push(tokio::spawn(accept_loop(
            endpoint.clone(),
            context.clone(),
            config.connections_max,
        )));
        let ticks = core.commands.clone();
        let tick_interval = Duration::from_millis(config.tick_interval_ms);
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if ticks.send(Command::Tick).await.is_err() {
                    return;
                }
            }
        }));
        let mut admin_address = None;
        if let Some(address) = config.admin_listen {
            let listener = crate::admin_http::bind(address).await?;
            admin_address = Some(listener.local_addr()?);
            let prometheus = crate::admin_http::prometheus_handle()?;
            tasks.push(tokio::spawn(crate::admin_http::serve(
                listener,
                prometheus,
                core.status.clone(),
            )));
        }
        tracing::info!(%client_address, ?admin_address, data_dir = %config.data_dir.display(), "polis is serving");
        Ok(RunningServer {
            client_address,
            admin_address,
            status: core.status,
            endpoint,
            context,
            tasks,
            core_thread: core.thread,
        })
    }

    /// The number of client connections open now.
    pub fn active_connections(&self) -> u64 {
        self.context.active_connections.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every connection, lets the core finish its batch and sync storage.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.endpoint
            .close(close_code::SERVER_SHUTDOWN.into(), b"server shutting down");
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        // Connections hold senders to the core; they end as their QUIC connections close. A peer
        // that never acknowledges the close would hold the endpoint for the whole idle timeout,
        // so the wait is bounded: the core does not need the endpoint to be idle to stop.
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN_TIMEOUT, self.endpoint.wait_idle()).await;
        drop(self.context);
        let core_thread = self.core_thread;
        tokio::task::spawn_blocking(move || core_thread.join())
            .await
            .context("joining the core thread")?
            .map_err(|_| anyhow::anyhow!("the core thread panicked"))?
    }
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    context: Arc<ConnectionContext>,
    connections_max: usize,
) {
    while let Some(incoming) = endpoint.accept().await {
        if context.active_connections.load(Ordering::Relaxed) as usize >= connections_max {
            metrics::counter!("polis_connections_refused_total").increment(1);
            incoming.refuse();
            continue;
        }
        tokio::spawn(connection::serve(incoming, context.clone()));
    }
}
