//! A real Polis cluster for tests: several nodes in this process, each with its own data folder,
//! node certificate, client listener and Raft peer endpoint on 127.0.0.1, talking over real QUIC.
//! More nodes may join later as learners ([`TestCluster::start_joining`]).

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use polis_client::{Client, ClientConfig, ReadConsistency, Stat};
use polis_security::{CertificateAuthority, TlsFiles};
use polis_server::config::{ClusterConfig, MemberConfig, TlsConfig};
use polis_server::node::Node;
use polis_server::{RunningServer, ServerConfig};
use tempfile::TempDir;

use crate::node::ADMIN_NAME;

/// How long a test waits for the cluster to do something (elect, replicate, fail over).
pub const CLUSTER_DEADLINE: Duration = Duration::from_secs(20);

/// How long a restart may wait for the stopped node's ports to be free again. A node's shutdown
/// frees its peer port before it returns (`PeerServer::release`); the client port's endpoint may
/// still be letting go of its last connections for a moment.
pub const RESTART_DEADLINE: Duration = Duration::from_secs(5);

/// One member of a [`TestCluster`]: running, or stopped (its folder kept for a restart).
#[derive(Debug)]
pub struct Member {
    pub id: u64,
    pub config: ServerConfig,
    pub server: Option<RunningServer>,
}

/// A cluster of nodes sharing one CA.
#[derive(Debug)]
pub struct TestCluster {
    pub members: Vec<Member>,
    pub authority: CertificateAuthority,
    pub dir: TempDir,
}

/// How many times [`TestCluster::start_with`] tries, each on new ports.
const START_ATTEMPTS_MAX: usize = 3;

/// A free UDP port on 127.0.0.1 (the OS picks it; the socket is closed again at once, so a rare
/// race with another binder is possible: see [`TestCluster::start_with`]).
fn free_udp_address() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a free port");
    socket.local_addr().expect("its address")
}

impl TestCluster {
    /// Starts `size` voters and waits for a leader.
    pub async fn start(size: u64) -> TestCluster {
        TestCluster::start_with(size, |_| {}).await
    }

    /// Starts `size` voters whose configurations `adjust` may change, and waits for a leader.
    ///
    /// The ports come from [`free_udp_address`], which lets them go again before the nodes bind
    /// them, so another test of the same process may take one meanwhile (its clients bind
    /// ephemeral ports too); a start that fails to bind is tried again on new ports, at most
    /// [`START_ATTEMPTS_MAX`] times in all.
    pub async fn start_with(size: u64, adjust: impl Fn(&mut ServerConfig)) -> TestCluster {
        let mut attempt = 1;
        loop {
            match TestCluster::try_start(size, &adjust).await {
                Ok(cluster) => {
                    cluster.leader().await;
                    return cluster;
                }
                Err(error)
                    if attempt < START_ATTEMPTS_MAX && format!("{error:#}").contains("binding") =>
                {
                    attempt += 1;
                }
                Err(error) => panic!("node starts: {error:?}"),
            }
        }
    }

    /// One start on fresh ports; on failure the nodes that did start are stopped again.
    async fn try_start(
        size: u64,
        adjust: &impl Fn(&mut ServerConfig),
    ) -> anyhow::Result<TestCluster> {
        let dir = tempfile::tempdir().expect("tempdir");
        let authority =
            CertificateAuthority::init(&dir.path().join("certs"), "Polis test CA").expect("CA");
        authority
            .issue_client(ADMIN_NAME)
            .expect("admin certificate");
        let addresses: Vec<(u64, SocketAddr, SocketAddr)> = (1..=size)
            .map(|id| (id, free_udp_address(), free_udp_address()))
            .collect();
        let members_config: Vec<MemberConfig> = addresses
            .iter()
            .map(|(id, client, peer)| MemberConfig {
                id: *id,
                peer_address: peer.to_string(),
                client_address: client.to_string(),
            })
            .collect();
        let mut members = Vec::new();
        for (id, client, peer) in &addresses {
            let mut config = node_config(
                &authority,
                dir.path(),
                *id,
                *client,
                *peer,
                members_config.clone(),
            );
            adjust(&mut config);
            members.push(Member {
                id: *id,
                config,
                server: None,
            });
        }
        // Start them together: the founder's first election needs the others up.
        let servers = futures::future::join_all(
            members
                .iter()
                .map(|member| RunningServer::start(member.config.clone())),
        )
        .await;
        let mut failure = None;
        for (member, server) in members.iter_mut().zip(servers) {
            match server {
                Ok(server) => member.server = Some(server),
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            for member in &mut members {
                if let Some(server) = member.server.take() {
                    let _ = server.shutdown().await;
                }
            }
            return Err(error);
        }
        Ok(TestCluster {
            members,
            authority,
            dir,
        })
    }

    /// The current leader's id, waiting for one.
    pub async fn leader(&self) -> u64 {
        crate::eventually("a leader elected", CLUSTER_DEADLINE, async || {
            self.members.iter().find_map(|member| {
                let server = member.server.as_ref()?;
                let leader = server.node.raft.metrics().borrow().current_leader;
                (leader == Some(member.id)).then_some(member.id)
            })
        })
        .await
    }

    /// The leader as the members in `ids` see it, waiting until one of them leads. Unlike
    /// [`TestCluster::leader`], it ignores a partitioned old leader that still believes it leads.
    pub async fn leader_among(&self, ids: &[u64]) -> u64 {
        let what = format!("one of {ids:?} elected");
        crate::eventually(&what, CLUSTER_DEADLINE, async || {
            ids.iter().copied().find(|id| {
                self.member(*id).server.as_ref().is_some_and(|server| {
                    server.node.raft.metrics().borrow().current_leader == Some(*id)
                })
            })
        })
        .await
    }

    /// Cuts the network between the members in `minority` and all the others, both ways, with
    /// every node left running and serving its clients (`polis_raft::network::NetworkFaults`
    /// on each running node). The links inside each side stay up. A node started later does
    /// not inherit the cut.
    pub fn partition(&self, minority: &[u64]) {
        for member in &self.members {
            let Some(server) = &member.server else {
                continue;
            };
            let inside = minority.contains(&member.id);
            for other in &self.members {
                if minority.contains(&other.id) != inside {
                    server
                        .node
                        .network_faults()
                        .block(self.peer_address(other.id));
                }
            }
        }
    }

    /// Restores every link cut by [`TestCluster::partition`].
    pub fn heal(&self) {
        for member in &self.members {
            if let Some(server) = &member.server {
                server.node.network_faults().heal();
            }
        }
    }

    /// Starts node `id` on a fresh folder with its own certificate, configured to join this
    /// cluster (`join_cluster = true`, absent from `cluster.members`, which list the initial
    /// voters): it waits until an administrator adds it as a learner. Returns its peer and client
    /// addresses.
    pub async fn start_joining(&mut self, id: u64) -> (SocketAddr, SocketAddr) {
        assert!(
            self.members.iter().all(|member| member.id != id),
            "node {id} exists already"
        );
        let voters = self.members[0].config.cluster.members.clone();
        let (client, peer) = (free_udp_address(), free_udp_address());
        let mut config = node_config(&self.authority, self.dir.path(), id, client, peer, voters);
        config.join_cluster = true;
        config.request_timeout_ms = self.members[0].config.request_timeout_ms;
        let server = RunningServer::start(config.clone())
            .await
            .expect("the joining node starts");
        self.members.push(Member {
            id,
            config,
            server: Some(server),
        });
        (peer, client)
    }

    /// The running node `id`.
    pub fn node(&self, id: u64) -> &Arc<Node> {
        &self
            .member(id)
            .server
            .as_ref()
            .expect("the member is running")
            .node
    }

    /// The peer address of a member.
    pub fn peer_address(&self, id: u64) -> SocketAddr {
        self.member(id)
            .config
            .cluster
            .peer_listen
            .expect("a peer address")
    }

    /// The ids of the running members.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|member| member.server.is_some())
            .map(|member| member.id)
            .collect()
    }

    /// An administrator's client of the given members.
    pub async fn admin(&self, ids: &[u64]) -> Client {
        self.client(ADMIN_NAME, ids).await
    }

    pub fn member(&self, id: u64) -> &Member {
        self.members
            .iter()
            .find(|member| member.id == id)
            .expect("a member with that id")
    }

    /// The client address of a member.
    pub fn address(&self, id: u64) -> SocketAddr {
        self.member(id).config.listen
    }

    /// Stops a member (its folder stays).
    pub async fn stop(&mut self, id: u64) {
        let member = self
            .members
            .iter_mut()
            .find(|member| member.id == id)
            .expect("a member with that id");
        if let Some(server) = member.server.take() {
            server.shutdown().await.expect("shutdown");
        }
    }

    /// Starts a stopped member again on its folder.
    pub async fn restart(&mut self, id: u64) {
        let member = self
            .members
            .iter_mut()
            .find(|member| member.id == id)
            .expect("a member with that id");
        let deadline = std::time::Instant::now() + RESTART_DEADLINE;
        loop {
            match RunningServer::start(member.config.clone()).await {
                Ok(server) => {
                    member.server = Some(server);
                    return;
                }
                // The stopped node's sockets may take a moment to be released; any other error
                // is a real failure.
                Err(error)
                    if crate::node::is_address_in_use(&error)
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("restart failed: {error:#}"),
            }
        }
    }

    /// A client certificate for `name`.
    pub fn client_files(&self, name: &str) -> TlsFiles {
        let files = TlsFiles::for_client(self.authority.dir(), name);
        if files.certificate_path.exists() {
            return files;
        }
        self.authority
            .issue_client(name)
            .expect("client certificate")
    }

    /// A client of the given members, in that order of preference.
    pub async fn client(&self, name: &str, ids: &[u64]) -> Client {
        Client::connect(self.client_config(name, ids))
            .await
            .expect("client connects")
    }

    /// The configuration [`TestCluster::client`] uses: the given members, the certificate of
    /// `name`, a session timeout of 4 s.
    pub fn client_config(&self, name: &str, ids: &[u64]) -> ClientConfig {
        let servers = ids.iter().map(|id| self.address(*id)).collect();
        let mut config = ClientConfig::new(servers, "localhost", self.client_files(name));
        config.session_timeout_ms = 4_000;
        config
    }

    /// Every znode on node `id` as it has applied them, after a `sync` there so that it holds
    /// at least everything committed before: path → (data, stat). Read with local reads, so
    /// what is compared is the node's own copy, not the leader's.
    ///
    /// Retried (within [`CLUSTER_DEADLINE`]) while the node cannot reach a leader yet, as right
    /// after a partition heals and the cluster settles on one.
    pub async fn tree_of(&self, id: u64) -> BTreeMap<String, (Vec<u8>, Stat)> {
        let deadline = std::time::Instant::now() + CLUSTER_DEADLINE;
        loop {
            match self.try_tree_of(id).await {
                Ok(tree) => return tree,
                Err(_) if std::time::Instant::now() < deadline => {
                    // Polling for the cluster to settle, bounded by the deadline above.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("the tree of node {id}: {error}"),
            }
        }
    }

    async fn try_tree_of(
        &self,
        id: u64,
    ) -> Result<BTreeMap<String, (Vec<u8>, Stat)>, polis_client::Error> {
        let client = Client::connect(self.client_config(ADMIN_NAME, &[id])).await?;
        let tree = async {
            client.sync("/").await?;
            local_tree(&client).await
        }
        .await;
        let _ = client.close().await;
        tree
    }

    pub async fn shutdown(mut self) {
        let ids: Vec<u64> = self.members.iter().map(|member| member.id).collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

/// Every znode the connected server holds, read from its local copy
/// ([`ReadConsistency::Local`]): path → (data, stat).
pub async fn local_tree(
    client: &Client,
) -> Result<BTreeMap<String, (Vec<u8>, Stat)>, polis_client::Error> {
    let local = client.with_read_consistency(ReadConsistency::Local);
    let mut tree = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = local.get_data(&path).await?;
        let (children, _) = local.get_children(&path).await?;
        for child in children {
            pending.push(polis_tree::path::join(&path, &child));
        }
        tree.insert(path, (data, stat));
    }
    Ok(tree)
}

/// The configuration of test node `id` in `dir`, with a node certificate for 127.0.0.1.
fn node_config(
    authority: &CertificateAuthority,
    dir: &std::path::Path,
    id: u64,
    client: SocketAddr,
    peer: SocketAddr,
    members: Vec<MemberConfig>,
) -> ServerConfig {
    let node = authority
        .issue_node(&format!("n{id}"), &["127.0.0.1".to_string()])
        .expect("node certificate");
    ServerConfig {
        listen: client,
        admin_listen: None,
        data_dir: dir.join(format!("n{id}")),
        tls: TlsConfig {
            ca: node.ca_path.clone(),
            certificate: node.certificate_path.clone(),
            key: node.key_path.clone(),
        },
        admins: vec![format!("CN={ADMIN_NAME},O=Polis")],
        request_timeout_ms: 5_000,
        cluster: ClusterConfig {
            node_id: id,
            name: "polis-test".to_string(),
            peer_listen: Some(peer),
            members,
            ..ClusterConfig::default()
        },
        ..ServerConfig::default()
    }
}
