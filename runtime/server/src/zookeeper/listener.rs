//! The TCP listener of the ZooKeeper face and its accept loop.

use std::net::SocketAddr;
use std::sync::Arc;

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

async fn accept_loop(listener: TcpListener, context: Arc<ZooKeeperContext>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: the next accept may succeed.
                        tracing::warn!(%error, "accepting a ZooKeeper connection failed");
                        continue;
                    }
                };
                if context.connection_count() >= context.connections_max {
                    metrics::counter!("polis_zookeeper_connections_refused_total").increment(1);
                    drop(stream);
                    continue;
                }
                connections.spawn(connection::serve(stream, remote, context.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
