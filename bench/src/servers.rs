//! Starts the three systems as local three-member clusters on 127.0.0.1, each member its own
//! child process, waits until each answers requests, and stops them when dropped.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use polis_client::{ClientConfig, TlsFiles};
use serde::Serialize;
use zookeeper_client as zk;

use crate::etcd::EtcdClient;

/// How long a cluster may take from spawning to answering requests on every member: JVM start
/// and a ZooKeeper leader election on a busy two-core machine take several seconds.
const STARTUP_DEADLINE: Duration = Duration::from_secs(90);
/// The pause between two readiness probes of a cluster that is still starting.
const READINESS_POLL: Duration = Duration::from_millis(250);
/// How long one readiness probe (connect and one request per member) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The session timeout that benchmark and probe sessions ask ZooKeeper-protocol servers for.
pub const ZOOKEEPER_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How many trailing bytes of a server's log an error about it quotes.
const LOG_TAIL_LEN: u64 = 2_000;

/// The members of every cluster: three, or one with `--members 1` (each system standalone).
static MEMBERS: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// Sets the members of every cluster, once, before any starts.
pub fn set_members(members: u16) {
    assert!(matches!(members, 1 | 3), "clusters of one or three members");
    assert!(MEMBERS.set(members).is_ok(), "the members are set once");
}

fn member_count() -> u16 {
    *MEMBERS.get_or_init(|| 3)
}
/// ZooKeeper's ports, member `i` (from 0) at `+ i`: away from 2181-2183, where a `polis dev`
/// cluster serves its ZooKeeper faces.
const ZOOKEEPER_CLIENT_PORT_FIRST: u16 = 2281;
const ZOOKEEPER_QUORUM_PORT_FIRST: u16 = 22881;
const ZOOKEEPER_ELECTION_PORT_FIRST: u16 = 23881;
const ETCD_CLIENT_PORT_FIRST: u16 = 23791;
const ETCD_PEER_PORT_FIRST: u16 = 23801;
/// Polis node `i` (from 0) serves QUIC clients at 7481 + 100·i (UDP), its peers at + 1 (UDP),
/// metrics at + 2 (TCP), and its ZooKeeper face at 2481 + i (TCP): the layout of `polis dev
/// --nodes 3` (7181…, 2181…) moved up, clear of a dev cluster on its defaults.
const POLIS_CLIENT_PORT_FIRST: u16 = 7481;
const POLIS_NODE_PORT_STRIDE: u16 = 100;
const POLIS_ZOOKEEPER_PORT_FIRST: u16 = 2481;
/// The benchmark's client certificate name (subject `CN=polis-bench,O=Polis`): an ordinary
/// client, not an administrator, as the ZooKeeper-protocol sessions are ordinary clients.
const BENCH_CLIENT_NAME: &str = "polis-bench";

/// A server process this program started; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    fn spawn(name: &str, command: &mut Command, log: PathBuf) -> anyhow::Result<ServerProcess> {
        let output = std::fs::File::create(&log)
            .with_context(|| format!("creating the log {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone().context("duplicating a log handle")?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(ServerProcess {
            name: name.to_string(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, quoting its log, if the process has exited.
    fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait().context("polling a child process")? {
            anyhow::bail!(
                "{} exited ({status}); the end of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            );
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGKILL: nothing a server would flush on a graceful stop matters here, its data folder
        // is deleted next.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = text.len().saturating_sub(LOG_TAIL_LEN as usize);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// Fails if another program already listens on one of the ports: the benchmark would otherwise
/// measure that program (e.g. someone's own `polis dev`), or its servers would not start.
fn ensure_ports_free(tcp: &[u16], udp: &[u16]) -> anyhow::Result<()> {
    for &port in tcp {
        TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("TCP port 127.0.0.1:{port} is in use"))?;
    }
    for &port in udp {
        UdpSocket::bind(("127.0.0.1", port))
            .with_context(|| format!("UDP port 127.0.0.1:{port} is in use"))?;
    }
    Ok(())
}

fn member_ports(first: u16) -> Vec<u16> {
    (0..member_count()).map(|member| first + member).collect()
}

/// Probes until `probe` succeeds, a process exits, or [`STARTUP_DEADLINE`] passes.
async fn wait_until_ready<Probe, Probing, Ready>(
    what: &str,
    processes: &mut [&mut ServerProcess],
    mut probe: Probe,
) -> anyhow::Result<Ready>
where
    Probe: FnMut() -> Probing,
    Probing: Future<Output = anyhow::Result<Ready>>,
{
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        for process in processes.iter_mut() {
            process.ensure_running()?;
        }
        let failure = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(Ok(ready)) => return Ok(ready),
            Ok(Err(error)) => format!("{error:#}"),
            Err(_) => format!("a probe took over {PROBE_TIMEOUT:?}"),
        };
        if Instant::now() >= deadline {
            anyhow::bail!("{what} was not ready within {STARTUP_DEADLINE:?}: {failure}");
        }
        tokio::time::sleep(READINESS_POLL).await;
    }
}

/// Opens a ZooKeeper session on exactly one server.
pub async fn zookeeper_connect(address: &str) -> anyhow::Result<zk::Client> {
    zk::Client::connector()
        .session_timeout(ZOOKEEPER_SESSION_TIMEOUT)
        .fail_eagerly()
        .connect(address)
        .await
        .with_context(|| format!("ZooKeeper session on {address}"))
}

async fn probe_zookeeper(addresses: &[String]) -> anyhow::Result<()> {
    for address in addresses {
        let client = zookeeper_connect(address).await?;
        client
            .check_stat("/")
            .await
            .with_context(|| format!("exists / on {address}"))?;
    }
    Ok(())
}

/// How to run ZooKeeper.
#[derive(Clone, Debug)]
pub struct ZooKeeperInstall {
    pub java: PathBuf,
    /// The server's class path (Debian: /usr/share/java/zookeeper.jar, whose manifest names its
    /// dependencies, and an slf4j binding so that its log reaches stderr).
    pub classpath: String,
    /// The JVM's heap bound (`-Xmx`).
    pub heap_max: String,
}

/// A three-server ZooKeeper ensemble on loopback, with ZooKeeper's defaults (forceSync on).
#[derive(Debug)]
pub struct ZooKeeperEnsemble {
    pub servers: Vec<ServerProcess>,
    pub client_addresses: Vec<String>,
}

impl ZooKeeperEnsemble {
    pub async fn start(install: &ZooKeeperInstall, dir: &Path) -> anyhow::Result<Self> {
        let client_ports = member_ports(ZOOKEEPER_CLIENT_PORT_FIRST);
        let mut tcp_ports = client_ports.clone();
        tcp_ports.extend(member_ports(ZOOKEEPER_QUORUM_PORT_FIRST));
        tcp_ports.extend(member_ports(ZOOKEEPER_ELECTION_PORT_FIRST));
        ensure_ports_free(&tcp_ports, &[])?;
        let members: String = (0..member_count())
            .map(|member| {
                format!(
                    "server.{}=127.0.0.1:{}:{}\n",
                    member + 1,
                    ZOOKEEPER_QUORUM_PORT_FIRST + member,
                    ZOOKEEPER_ELECTION_PORT_FIRST + member
                )
            })
            .collect();
        let mut servers = Vec::new();
        for member in 0..member_count() {
            let id = member + 1;
            let member_dir = dir.join(format!("zookeeper{id}"));
            let data_dir = member_dir.join("data");
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            std::fs::write(data_dir.join("myid"), format!("{id}\n")).context("writing myid")?;
            // maxClientCnxns=0: ZooKeeper's default of 60 connections per client address would
            // refuse the benchmark's sessions, which all come from 127.0.0.1. The admin server
            // is off because all three would want port 8080.
            let config = format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=srvr,ruok,mntr\n{members}",
                data_dir.display(),
                ZOOKEEPER_CLIENT_PORT_FIRST + member,
            );
            let config_path = member_dir.join("zoo.cfg");
            std::fs::write(&config_path, config).context("writing zoo.cfg")?;
            let mut command = Command::new(&install.java);
            command
                .arg(format!("-Xmx{}", install.heap_max))
                .arg(format!("-Dzookeeper.log.dir={}", member_dir.display()))
                .arg("-cp")
                .arg(&install.classpath)
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(&config_path)
                .current_dir(&member_dir);
            servers.push(ServerProcess::spawn(
                &format!("ZooKeeper server {id}"),
                &mut command,
                member_dir.join("server.log"),
            )?);
        }
        let client_addresses: Vec<String> = client_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let mut ensemble = ZooKeeperEnsemble {
            servers,
            client_addresses,
        };
        let addresses = ensemble.client_addresses.clone();
        let mut processes: Vec<&mut ServerProcess> = ensemble.servers.iter_mut().collect();
        wait_until_ready("the ZooKeeper ensemble", &mut processes, || {
            probe_zookeeper(&addresses)
        })
        .await?;
        Ok(ensemble)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(ServerProcess::pid).collect()
    }
}

/// A three-member etcd cluster on loopback, with etcd's defaults (fsync on).
#[derive(Debug)]
pub struct EtcdCluster {
    pub servers: Vec<ServerProcess>,
    pub client_urls: Vec<String>,
}

impl EtcdCluster {
    pub async fn start(etcd: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut tcp_ports = member_ports(ETCD_CLIENT_PORT_FIRST);
        tcp_ports.extend(member_ports(ETCD_PEER_PORT_FIRST));
        ensure_ports_free(&tcp_ports, &[])?;
        let peer_url = |member: u16| format!("http://127.0.0.1:{}", ETCD_PEER_PORT_FIRST + member);
        let client_urls: Vec<String> = (0..member_count())
            .map(|member| format!("http://127.0.0.1:{}", ETCD_CLIENT_PORT_FIRST + member))
            .collect();
        let initial_cluster = (0..member_count())
            .map(|member| format!("etcd{}={}", member + 1, peer_url(member)))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        for member in 0..member_count() {
            let name = format!("etcd{}", member + 1);
            let member_dir = dir.join(&name);
            std::fs::create_dir_all(&member_dir)
                .with_context(|| format!("creating {}", member_dir.display()))?;
            let client_url = &client_urls[usize::from(member)];
            let mut command = Command::new(etcd);
            command
                .arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(member_dir.join("data"))
                .arg("--listen-client-urls")
                .arg(client_url)
                .arg("--advertise-client-urls")
                .arg(client_url)
                .arg("--listen-peer-urls")
                .arg(peer_url(member))
                .arg("--initial-advertise-peer-urls")
                .arg(peer_url(member))
                .arg("--initial-cluster")
                .arg(&initial_cluster)
                .arg("--initial-cluster-state")
                .arg("new")
                .arg("--initial-cluster-token")
                .arg("polis-bench")
                .current_dir(&member_dir);
            servers.push(ServerProcess::spawn(
                &format!("etcd member {}", member + 1),
                &mut command,
                member_dir.join("server.log"),
            )?);
        }
        let mut cluster = EtcdCluster {
            servers,
            client_urls,
        };
        let urls = cluster.client_urls.clone();
        let mut processes: Vec<&mut ServerProcess> = cluster.servers.iter_mut().collect();
        wait_until_ready("the etcd cluster", &mut processes, || async {
            for url in &urls {
                // A put commits through the quorum: the cluster has a leader.
                EtcdClient::connect(url)
                    .await?
                    .put("polis-bench-ready", b"")
                    .await?;
            }
            Ok(())
        })
        .await?;
        Ok(cluster)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(ServerProcess::pid).collect()
    }
}

/// The keys of a node's `polis.toml` (runtime/server/src/config.rs) that the benchmark sets;
/// every other key keeps its default, as in `polis dev`'s nodes. Written here rather than taken
/// from the server crate, which would bring its whole build (wasmtime, openraft) into this one.
#[derive(Debug, Serialize)]
struct PolisNodeConfig {
    listen: SocketAddr,
    admin_listen: SocketAddr,
    data_dir: PathBuf,
    tls: PolisTls,
    cluster: PolisClusterConfig,
    zookeeper: PolisZooKeeper,
    /// A top-level key: the encoder writes it before the tables whatever its place here.
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_threads: Option<usize>,
}

#[derive(Debug, Serialize)]
struct PolisTls {
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Serialize)]
struct PolisClusterConfig {
    node_id: u64,
    name: String,
    peer_listen: SocketAddr,
    members: Vec<PolisMember>,
}

#[derive(Clone, Debug, Serialize)]
struct PolisMember {
    id: u64,
    peer_address: String,
    client_address: String,
}

#[derive(Debug, Serialize)]
struct PolisZooKeeper {
    enabled: bool,
    listen: SocketAddr,
    four_letter_words: Vec<String>,
    /// `linearizable` (the default) or `sequential` (ZooKeeper's own read guarantee).
    reads: String,
    /// Every session of the benchmark comes from 127.0.0.1: raised as ZooKeeper's
    /// `maxClientCnxns` is lifted for it (64 sessions on one member pass the default of 60).
    connections_per_address_max: usize,
    sessions_per_owner_max: usize,
}

/// The ZooKeeper faces' per-address bounds in the benchmark (the load comes from one address).
const BENCH_CONNECTIONS_PER_ADDRESS_MAX: usize = 4_096;

/// Runs `polis` with `arguments` to completion (certificate authority commands).
fn run_polis(polis: &Path, arguments: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(polis)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {arguments:?}", polis.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "polis {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Three Polis nodes, each its own `polis server` process over real QUIC and redb, as ZooKeeper's
/// and etcd's members are: per-node CPU and metrics, and ports of their own, so that a
/// `polis dev` someone runs on its default ports (7181…, 2181…) can go on beside the benchmark.
#[derive(Debug)]
pub struct PolisCluster {
    pub servers: Vec<ServerProcess>,
    /// Where QUIC clients connect, with the benchmark's CA and client certificate.
    pub client_configs: Vec<ClientConfig>,
    /// The nodes' ZooKeeper faces.
    pub zookeeper_addresses: Vec<String>,
    /// The nodes' admin endpoints (Prometheus `/metrics`).
    pub metrics_addresses: Vec<SocketAddr>,
}

impl PolisCluster {
    /// Starts the three nodes; `zookeeper_reads` is their `[zookeeper] reads`, `runtime_threads`
    /// their `runtime_threads` (`None`: one per core).
    pub async fn start(
        polis: &Path,
        dir: &Path,
        zookeeper_reads: &str,
        runtime_threads: Option<usize>,
    ) -> anyhow::Result<Self> {
        let node_port = |node: u16, offset: u16| {
            POLIS_CLIENT_PORT_FIRST + POLIS_NODE_PORT_STRIDE * node + offset
        };
        let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let zookeeper_ports = member_ports(POLIS_ZOOKEEPER_PORT_FIRST);
        let mut tcp_ports = zookeeper_ports.clone();
        tcp_ports.extend((0..member_count()).map(|node| node_port(node, 2)));
        let udp_ports: Vec<u16> = (0..member_count())
            .flat_map(|node| [node_port(node, 0), node_port(node, 1)])
            .collect();
        ensure_ports_free(&tcp_ports, &udp_ports)?;

        let certs = dir.join("certs");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let certs_arg = certs.to_str().context("a non-UTF-8 work folder")?;
        run_polis(
            polis,
            &["ca", "init", "--dir", certs_arg, "--name", "Polis bench CA"],
        )?;
        run_polis(
            polis,
            &[
                "ca",
                "issue",
                "--dir",
                certs_arg,
                "--client",
                BENCH_CLIENT_NAME,
            ],
        )?;
        let members: Vec<PolisMember> = (0..member_count())
            .map(|node| PolisMember {
                id: u64::from(node) + 1,
                peer_address: address(node_port(node, 1)).to_string(),
                client_address: address(node_port(node, 0)).to_string(),
            })
            .collect();
        let mut servers = Vec::new();
        for node in 0..member_count() {
            let id = node + 1;
            let name = format!("node{id}");
            run_polis(
                polis,
                &[
                    "ca",
                    "issue",
                    "--dir",
                    certs_arg,
                    "--node",
                    &name,
                    "--host",
                    "127.0.0.1",
                    "--host",
                    "localhost",
                ],
            )?;
            let files = TlsFiles::for_node(&certs, &name);
            let node_dir = dir.join(&name);
            std::fs::create_dir_all(&node_dir)
                .with_context(|| format!("creating {}", node_dir.display()))?;
            let config = PolisNodeConfig {
                listen: address(node_port(node, 0)),
                admin_listen: address(node_port(node, 2)),
                data_dir: node_dir.join("data"),
                tls: PolisTls {
                    ca: files.ca_path,
                    certificate: files.certificate_path,
                    key: files.key_path,
                },
                cluster: PolisClusterConfig {
                    node_id: u64::from(id),
                    name: "polis-bench".to_string(),
                    peer_listen: address(node_port(node, 1)),
                    members: members.clone(),
                },
                zookeeper: PolisZooKeeper {
                    enabled: true,
                    listen: address(POLIS_ZOOKEEPER_PORT_FIRST + node),
                    four_letter_words: vec!["ruok".into(), "srvr".into(), "mntr".into()],
                    reads: zookeeper_reads.to_string(),
                    connections_per_address_max: BENCH_CONNECTIONS_PER_ADDRESS_MAX,
                    sessions_per_owner_max: BENCH_CONNECTIONS_PER_ADDRESS_MAX,
                },
                runtime_threads,
            };
            let config = toml::to_string(&config).context("encoding polis.toml")?;
            let config_path = node_dir.join("polis.toml");
            std::fs::write(&config_path, config).context("writing polis.toml")?;
            let mut command = Command::new(polis);
            command
                .arg("server")
                .arg("--config")
                .arg(&config_path)
                // Per-request logging would cost the server CPU the benchmark reports.
                .env("RUST_LOG", "warn")
                .current_dir(&node_dir);
            servers.push(ServerProcess::spawn(
                &format!("Polis node {id}"),
                &mut command,
                node_dir.join("server.log"),
            )?);
        }
        let client_tls = TlsFiles::for_client(&certs, BENCH_CLIENT_NAME);
        let client_configs: Vec<ClientConfig> = (0..member_count())
            .map(|node| {
                ClientConfig::new(
                    vec![address(node_port(node, 0))],
                    "localhost",
                    client_tls.clone(),
                )
            })
            .collect();
        let zookeeper_addresses: Vec<String> = zookeeper_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let metrics_addresses = (0..member_count())
            .map(|node| address(node_port(node, 2)))
            .collect();
        let mut cluster = PolisCluster {
            servers,
            client_configs,
            zookeeper_addresses,
            metrics_addresses,
        };
        let configs = cluster.client_configs.clone();
        let zookeeper_addresses = cluster.zookeeper_addresses.clone();
        let mut processes: Vec<&mut ServerProcess> = cluster.servers.iter_mut().collect();
        wait_until_ready("the Polis cluster", &mut processes, || async {
            for config in &configs {
                let client = polis_client::Client::connect(config.clone())
                    .await
                    .with_context(|| format!("QUIC session on {:?}", config.servers))?;
                // A write commits through the quorum: the cluster has a leader.
                let created = client
                    .create(
                        "/polis-bench-ready",
                        b"",
                        &polis_client::Acl::open(),
                        polis_client::CreateMode::Persistent,
                    )
                    .await;
                let _ = client.close().await;
                match created {
                    Err(error) if !error.is_node_exists() => {
                        return Err(anyhow::Error::from(error).context("a write over QUIC"));
                    }
                    _ => {}
                }
            }
            probe_zookeeper(&zookeeper_addresses).await
        })
        .await?;
        Ok(cluster)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(ServerProcess::pid).collect()
    }
}
