//! A real Polis node for tests: its own CA, certificates and data folder in a temp dir, QUIC
//! and admin HTTP on 127.0.0.1 with ports the OS picks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use polis_security::{CertificateAuthority, TlsFiles};
use polis_server::config::TlsConfig;
use polis_server::{RunningServer, ServerConfig};
use tempfile::TempDir;

/// The subject of the administrator certificate every test node trusts.
pub const ADMIN_NAME: &str = "admin";

/// How long [`TestNode::admin_get`] waits for the whole response.
const ADMIN_RESPONSE_DEADLINE: Duration = Duration::from_secs(10);

/// How long [`TestNode::restart_on`] waits for the old port to be free again.
const RESTART_DEADLINE: Duration = Duration::from_secs(10);

/// True if starting failed because the address is still taken.
pub(crate) fn is_address_in_use(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}

/// A running node and the folder that holds its state and certificates.
#[derive(Debug)]
pub struct TestNode {
    pub server: RunningServer,
    pub config: ServerConfig,
    pub authority: CertificateAuthority,
    pub dir: TempDir,
}

impl TestNode {
    /// A node with the default configuration.
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    /// A node whose configuration `adjust` may change (limits, timeouts) before it starts.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let authority = CertificateAuthority::init(&certs, "Polis test CA").expect("CA");
        let node = authority
            .issue_node("node1", &["localhost".to_string()])
            .expect("node certificate");
        authority
            .issue_client(ADMIN_NAME)
            .expect("admin certificate");
        let mut config = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: dir.path().join("data"),
            tls: TlsConfig {
                ca: node.ca_path.clone(),
                certificate: node.certificate_path.clone(),
                key: node.key_path.clone(),
            },
            admins: vec![format!("CN={ADMIN_NAME},O=Polis")],
            tick_interval_ms: 10,
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let server = RunningServer::start(config.clone())
            .await
            .expect("server starts");
        TestNode {
            server,
            config,
            authority,
            dir,
        }
    }

    /// Restarts the node on the same data folder and certificates (a process restart, minus the
    /// process). The new node listens on a new port.
    pub async fn restart(self) -> TestNode {
        let TestNode {
            server,
            config,
            authority,
            dir,
        } = self;
        server.shutdown().await.expect("shutdown");
        let server = RunningServer::start(config.clone())
            .await
            .expect("server restarts");
        TestNode {
            server,
            config,
            authority,
            dir,
        }
    }

    /// Restarts the node as [`TestNode::restart`] does, but listening on `listen`: the old
    /// address to come back where clients look for it, or port 0 to move somewhere clients do
    /// not know (a node they cannot reach while the test changes the tree behind their back).
    ///
    /// The old socket is freed once the old endpoint has drained its connections, so binding the
    /// same port again is retried for a bounded time.
    pub async fn restart_on(self, listen: SocketAddr) -> TestNode {
        let TestNode {
            server,
            mut config,
            authority,
            dir,
        } = self;
        server.shutdown().await.expect("shutdown");
        config.listen = listen;
        let deadline = Instant::now() + RESTART_DEADLINE;
        let server = loop {
            match RunningServer::start(config.clone()).await {
                Ok(server) => break server,
                Err(error) if Instant::now() < deadline && is_address_in_use(&error) => {
                    // Polling for the port to be released, not waiting for a guessed moment.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(error) => panic!("server restarts on {listen}: {error:#}"),
            }
        };
        TestNode {
            server,
            config,
            authority,
            dir,
        }
    }

    /// Restarts the node on the address it listens on now, so that clients reconnect to it.
    pub async fn restart_on_same_port(self) -> TestNode {
        let address = self.address();
        self.restart_on(address).await
    }

    pub fn address(&self) -> SocketAddr {
        self.server.client_address
    }

    /// A client certificate for `name` (subject `CN=<name>,O=Polis`), issued on first use.
    pub fn client_files(&self, name: &str) -> TlsFiles {
        let files = TlsFiles::for_client(self.authority.dir(), name);
        if files.certificate_path.exists() {
            return files;
        }
        self.authority
            .issue_client(name)
            .expect("client certificate")
    }

    /// The administrator's certificate.
    pub fn admin_files(&self) -> TlsFiles {
        self.client_files(ADMIN_NAME)
    }

    /// The folder of the node's certificates.
    pub fn certs_dir(&self) -> PathBuf {
        self.authority.dir().to_path_buf()
    }

    /// The whole HTTP response of the node's admin endpoint to `GET target`. The metrics it
    /// serves are the process's: every node of the test binary records into one recorder.
    pub async fn admin_get(&self, target: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.server.admin_address.expect("admin endpoint");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect to the admin endpoint");
        stream
            .write_all(format!("GET {target} HTTP/1.1\r\nHost: polis\r\n\r\n").as_bytes())
            .await
            .expect("send the request");
        let mut response = String::new();
        tokio::time::timeout(
            ADMIN_RESPONSE_DEADLINE,
            stream.read_to_string(&mut response),
        )
        .await
        .expect("the admin endpoint answers in time")
        .expect("read the response");
        response
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await.expect("shutdown");
    }
}
