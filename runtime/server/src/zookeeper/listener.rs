//! The TCP listener of the ZooKeeper face and its accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::{ZooKeeperContext, connection};

/// A running ZooKeeper listener. Its connections run in its accept task's [`JoinSet`], so
/// stopping the listener ends them all.
#[derive(Debug)]
pub struct ZooKeeperListener {
    /// The bound address (the real port if the configuration said 0).
    pub address: SocketAddr,
    context: Arc<ZooKeeperContext>,
    accept: JoinHandle<()>,
}

impl ZooKeeperListener {
    /// Binds the address; done before the node opens its storage, so that a taken port fails
    /// the start with nothing left open.
    pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
        TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the ZooKeeper listener on {address}"))
    }

    /// Starts accepting connections.
    pub fn spawn(
        listener: TcpListener,
        context: ZooKeeperContext,
    ) -> anyhow::Result<ZooKeeperListener> {
        let address = listener.local_addr()?;
        let context = Arc::new(context);
        let accept = tokio::spawn(accept_loop(listener, context.clone()));
        Ok(ZooKeeperListener {
            address,
            context,
            accept,
        })
    }

    /// The number of ZooKeeper connections open now.
    pub fn connection_count(&self) -> usize {
        self.context.connection_count()
    }

    /// Stops accepting and ends every connection (their sessions live on until they expire or
    /// resume elsewhere, as when a ZooKeeper server stops).
    pub async fn shutdown(self) {
        self.accept.abort();
        let _ = self.accept.await;
    }
}

/// The first pause after a failed accept; it doubles with each failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// The longest pause after failed accepts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

async fn accept_loop(listener: TcpListener, context: Arc<ZooKeeperContext>) {
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: the next accept may succeed once
                        // connections close, but retrying at once would spin on the same error
                        // (the pending connection stays queued), so pause, longer each time.
                        tracing::warn!(%error, ?backoff, "accepting a ZooKeeper connection failed");
                        metrics::counter!("polis_zookeeper_accept_errors_total").increment(1);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                };
                backoff = ACCEPT_BACKOFF_MIN;
                if context.connection_count() >= context.connections_max {
                    metrics::counter!("polis_zookeeper_connections_refused_total", "reason" => "connections_max").increment(1);
                    drop(stream);
                    continue;
                }
                let Some(slot) = context.address_caps.admit(remote.ip()) else {
                    metrics::counter!("polis_zookeeper_connections_refused_total", "reason" => "connections_per_address_max").increment(1);
                    drop(stream);
                    continue;
                };
                let context = context.clone();
                connections.spawn(async move {
                    connection::serve(stream, remote, context).await;
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
