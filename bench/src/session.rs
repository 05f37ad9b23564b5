//! One client session of any benchmarked system, and the operations the workloads use, so that
//! a workload is written once and runs over every protocol.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use polis_client::{Acl, ClientConfig, CreateMode, Op};
use zookeeper_client as zk;

use crate::etcd::EtcdClient;
use crate::servers::zookeeper_connect;

/// The systems the benchmark compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum SystemKind {
    /// Apache ZooKeeper, three servers, over the ZooKeeper protocol.
    #[value(name = "zookeeper")]
    ZooKeeper,
    /// etcd, three members, over gRPC.
    #[value(name = "etcd")]
    Etcd,
    /// Polis, three nodes, over its ZooKeeper face.
    #[value(name = "polis-zk")]
    PolisZooKeeper,
    /// Polis, three nodes, over its native QUIC protocol.
    #[value(name = "polis-quic")]
    PolisQuic,
}

impl SystemKind {
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::ZooKeeper => "zookeeper",
            SystemKind::Etcd => "etcd",
            SystemKind::PolisZooKeeper => "polis-zk",
            SystemKind::PolisQuic => "polis-quic",
        }
    }

    pub fn is_polis(self) -> bool {
        matches!(self, SystemKind::PolisZooKeeper | SystemKind::PolisQuic)
    }
}

/// Where a system's sessions connect: one endpoint per member; session `i` uses member
/// `i mod members`, spreading sessions evenly as clients of a real deployment spread.
#[derive(Clone, Debug)]
pub enum Endpoints {
    ZooKeeper(Vec<String>),
    Etcd(Vec<String>),
    PolisQuic(Vec<ClientConfig>),
}

impl Endpoints {
    pub async fn connect(&self, index: usize) -> anyhow::Result<Session> {
        Ok(match self {
            Endpoints::ZooKeeper(addresses) => {
                Session::ZooKeeper(zookeeper_connect(&addresses[index % addresses.len()]).await?)
            }
            Endpoints::Etcd(urls) => {
                Session::Etcd(EtcdClient::connect(&urls[index % urls.len()]).await?)
            }
            Endpoints::PolisQuic(configs) => {
                let config = configs[index % configs.len()].clone();
                Session::PolisQuic(
                    polis_client::Client::connect(config)
                        .await
                        .context("Polis QUIC session")?,
                )
            }
        })
    }
}

/// A future resolving to the instant a watch fired.
pub type WatchFired = Pin<Box<dyn Future<Output = anyhow::Result<Instant>> + Send>>;

/// One session: one connection to one member, one request in flight at a time.
#[derive(Debug)]
pub enum Session {
    ZooKeeper(zk::Client),
    Etcd(EtcdClient),
    PolisQuic(polis_client::Client),
    /// An etcd session with a watch stream open on one key, and the arrivals of its events.
    EtcdWatching(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>),
}

fn zookeeper_open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

impl Session {
    /// Creates a persistent node (etcd: puts a key).
    pub async fn create(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Session::ZooKeeper(client) => {
                client.create(path, data, &zookeeper_open()).await?;
            }
            Session::Etcd(client) => client.put(path, data).await?,
            Session::PolisQuic(client) => {
                client
                    .create(path, data, &Acl::open(), CreateMode::Persistent)
                    .await?;
            }
            Session::EtcdWatching(_) => anyhow::bail!("a watching session only watches"),
        }
        Ok(())
    }

    /// Creates the node unless it exists (setup, not measured).
    pub async fn ensure(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        let outcome = match self {
            Session::ZooKeeper(client) => {
                match client.create(path, data, &zookeeper_open()).await {
                    Err(zk::Error::NodeExists) => Ok(()),
                    other => other.map(|_| ()).map_err(anyhow::Error::from),
                }
            }
            Session::PolisQuic(client) => match client
                .create(path, data, &Acl::open(), CreateMode::Persistent)
                .await
            {
                Err(error) if error.is_node_exists() => Ok(()),
                other => other.map(|_| ()).map_err(anyhow::Error::from),
            },
            _ => self.create(path, data).await,
        };
        outcome.with_context(|| format!("creating {path}"))
    }

    pub async fn set(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Session::ZooKeeper(client) => {
                client.set_data(path, data, None).await?;
            }
            Session::Etcd(client) => client.put(path, data).await?,
            Session::PolisQuic(client) => {
                client.set_data(path, data, -1).await?;
            }
            Session::EtcdWatching(_) => anyhow::bail!("a watching session only watches"),
        }
        Ok(())
    }

    /// Reads a node at the system's default consistency: ZooKeeper's reads are served by the
    /// member the session is on (possibly stale); etcd's and Polis's QUIC reads are
    /// linearizable by default; Polis's ZooKeeper face answers as its QUIC reads do.
    pub async fn get(&self, path: &str) -> anyhow::Result<()> {
        match self {
            Session::ZooKeeper(client) => {
                client.get_data(path).await?;
            }
            Session::Etcd(client) => {
                client.get(path).await?;
            }
            Session::PolisQuic(client) => {
                client.get_data(path).await?;
            }
            Session::EtcdWatching(_) => anyhow::bail!("a watching session only watches"),
        }
        Ok(())
    }

    /// Creates every node in one atomic multi (etcd: one Txn of puts); setup, not measured.
    pub async fn create_all(&self, paths: &[String], data: &[u8]) -> anyhow::Result<()> {
        match self {
            Session::ZooKeeper(client) => {
                let mut multi = client.new_multi_writer();
                for path in paths {
                    multi.add_create(path, data, &zookeeper_open())?;
                }
                multi
                    .commit()
                    .await
                    .map_err(|error| anyhow::anyhow!("multi: {error}"))?;
            }
            Session::Etcd(client) => client.put_all(paths, data).await?,
            Session::PolisQuic(client) => {
                let ops = paths
                    .iter()
                    .map(|path| {
                        Op::create(path.as_str(), data, &Acl::open(), CreateMode::Persistent)
                    })
                    .collect();
                client.multi(ops).await?;
            }
            Session::EtcdWatching(_) => anyhow::bail!("a watching session only watches"),
        }
        Ok(())
    }

    /// Sets every node in one atomic multi (etcd: one Txn of puts).
    pub async fn set_all(&self, paths: &[String], data: &[u8]) -> anyhow::Result<()> {
        match self {
            Session::ZooKeeper(client) => {
                let mut multi = client.new_multi_writer();
                for path in paths {
                    multi.add_set_data(path, data, None)?;
                }
                multi
                    .commit()
                    .await
                    .map_err(|error| anyhow::anyhow!("multi: {error}"))?;
            }
            Session::Etcd(client) => client.put_all(paths, data).await?,
            Session::PolisQuic(client) => {
                let ops = paths
                    .iter()
                    .map(|path| Op::set_data(path.as_str(), data, -1))
                    .collect();
                client.multi(ops).await?;
            }
            Session::EtcdWatching(_) => anyhow::bail!("a watching session only watches"),
        }
        Ok(())
    }

    /// Turns an etcd session into one watching `path` (a persistent watch stream); other
    /// sessions are returned as they are, their one-shot watches being set per round by
    /// [`Session::arm_watch`].
    pub async fn into_watcher(self, path: &str) -> anyhow::Result<Session> {
        match self {
            Session::Etcd(client) => {
                let events = client.watch(path).await?;
                Ok(Session::EtcdWatching(Arc::new(tokio::sync::Mutex::new(
                    events,
                ))))
            }
            other => Ok(other),
        }
    }

    /// Sets a watch on `path` for the next change and returns a future resolving to the
    /// instant the event reached this client. ZooKeeper-protocol and Polis watches are one-shot
    /// (getData with a watch), as ZooKeeper clients use them; etcd's stream is already open.
    pub async fn arm_watch(&self, path: &str) -> anyhow::Result<WatchFired> {
        Ok(match self {
            Session::ZooKeeper(client) => {
                let (_, _, watcher) = client.get_and_watch_data(path).await?;
                Box::pin(async move {
                    watcher.changed().await;
                    Ok(Instant::now())
                })
            }
            Session::PolisQuic(client) => {
                let (_, watch) = client.get_data_watch(path).await?;
                Box::pin(async move {
                    watch.await?;
                    Ok(Instant::now())
                })
            }
            Session::EtcdWatching(events) => {
                let events = events.clone();
                // An abandoned round's late event must not end this round: drop what arrived
                // before this round's set.
                {
                    let mut receiver = events.lock().await;
                    while receiver.try_recv().is_ok() {}
                }
                Box::pin(async move {
                    events
                        .lock()
                        .await
                        .recv()
                        .await
                        .context("the etcd watch stream ended")
                })
            }
            Session::Etcd(_) => anyhow::bail!("an etcd session watches after into_watcher"),
        })
    }

    pub async fn close(self) {
        match self {
            Session::PolisQuic(client) => {
                let _ = client.close().await;
            }
            // Dropping the last handle closes a ZooKeeper session and an etcd connection.
            Session::ZooKeeper(_) | Session::Etcd(_) | Session::EtcdWatching(_) => {}
        }
    }
}
