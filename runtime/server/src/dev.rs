//! `polis dev`: a single node with generated certificates and data under one local folder.
//!
//! The folder (default `polis-dev/`) holds everything: `certs/` (a private CA, the node's
//! certificate, and an `admin` client certificate), `data/` (the redb file), `polis.toml` (the
//! node's configuration, written once so an operator can edit it) and `profile.toml` (where the
//! `polis` client commands find the node and their certificate when run from the folder that
//! contains `polis-dev/`). This module prepares the node's half; the profile is the client's
//! (`polis_cli::profile`), which the `polis` binary writes once the nodes listen, so that the
//! node never depends on the client side.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polis_security::{CertificateAuthority, TlsFiles};

use crate::config::{ServerConfig, TlsConfig};

/// The name of the dev node's certificate.
pub const DEV_NODE_NAME: &str = "node1";
/// The name of the administrator client certificate `polis dev` issues.
pub const DEV_ADMIN_NAME: &str = "admin";
/// ZooKeeper's own default client port, where `polis dev` serves ZooKeeper clients (node `i` of a
/// dev cluster at this port + `i` - 1).
pub const ZOOKEEPER_DEV_PORT_FIRST: u64 = 2181;

/// The files of a dev folder.
#[derive(Clone, Debug)]
pub struct DevLayout {
    pub dir: PathBuf,
}

impl DevLayout {
    pub fn new(dir: impl Into<PathBuf>) -> DevLayout {
        DevLayout { dir: dir.into() }
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("polis.toml")
    }

    /// Creates what is missing (CA, certificates, configuration, profile) and returns the node's
    /// configuration with `listen` / `admin_listen` overriding the file when given (a `listen` on
    /// port 0 puts the ZooKeeper face on a free port too).
    pub fn prepare(
        &self,
        listen: Option<SocketAddr>,
        admin_listen: Option<SocketAddr>,
    ) -> anyhow::Result<ServerConfig> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let certs = self.certs_dir();
        let authority = if certs.join("ca.pem").exists() {
            CertificateAuthority::load(&certs).context("loading the dev CA")?
        } else {
            CertificateAuthority::init(&certs, "Polis dev CA").context("creating the dev CA")?
        };
        let node = TlsFiles::for_node(&certs, DEV_NODE_NAME);
        if !node.certificate_path.exists() {
            authority
                .issue_node(DEV_NODE_NAME, &["localhost".to_string()])
                .context("issuing the dev node certificate")?;
        }
        let admin = TlsFiles::for_client(&certs, DEV_ADMIN_NAME);
        if !admin.certificate_path.exists() {
            authority
                .issue_client(DEV_ADMIN_NAME)
                .context("issuing the dev admin certificate")?;
        }
        let config_path = self.config_path();
        if !config_path.exists() {
            let config = ServerConfig {
                data_dir: PathBuf::from("data"),
                tls: TlsConfig {
                    ca: PathBuf::from("certs/ca.pem"),
                    certificate: relative(&node.certificate_path, &self.dir),
                    key: relative(&node.key_path, &self.dir),
                },
                admins: vec![format!("CN={DEV_ADMIN_NAME},O=Polis")],
                zookeeper: dev_zookeeper(1)?,
                ..ServerConfig::default()
            };
            let text = toml::to_string_pretty(&config).context("encoding polis.toml")?;
            std::fs::write(
                &config_path,
                format!("# Written by `polis dev`; edit freely.\n{text}"),
            )
            .with_context(|| format!("writing {}", config_path.display()))?;
        }
        let mut config = ServerConfig::load(&config_path)?;
        if let Some(listen) = listen {
            config.listen = listen;
            if listen.port() == 0 {
                // Dev nodes on ports the OS picks (tests) run side by side: their ZooKeeper faces
                // must not all want 2181.
                config.zookeeper.listen = SocketAddr::new(listen.ip(), 0);
            }
        }
        if admin_listen.is_some() {
            config.admin_listen = admin_listen;
        }
        Ok(config)
    }

    /// Prepares a local cluster of `nodes` voters on loopback, node `i` (from 1) using ports
    /// `base_port + 100 * (i - 1)` for clients, `+ 1` for peers and `+ 2` for the admin
    /// endpoint, with its data and configuration under `node<i>/`. Every node gets its own
    /// certificate from the dev CA.
    pub fn prepare_cluster(&self, nodes: u64, base_port: u16) -> anyhow::Result<Vec<ServerConfig>> {
        anyhow::ensure!((1..=9).contains(&nodes), "--nodes takes 1 to 9");
        self.prepare(None, None)?;
        let authority =
            CertificateAuthority::load(&self.certs_dir()).context("loading the dev CA")?;
        let port = |node: u64, offset: u16| -> anyhow::Result<SocketAddr> {
            let port = u16::try_from(u64::from(base_port) + 100 * (node - 1) + u64::from(offset))
                .context("the ports run past 65535; choose a lower --base-port")?;
            Ok(SocketAddr::from(([127, 0, 0, 1], port)))
        };
        let mut members = Vec::new();
        for node in 1..=nodes {
            members.push(crate::config::MemberConfig {
                id: node,
                peer_address: port(node, 1)?.to_string(),
                client_address: port(node, 0)?.to_string(),
            });
        }
        let mut configs = Vec::new();
        for node in 1..=nodes {
            let name = format!("node{node}");
            let files = TlsFiles::for_node(self.certs_dir(), &name);
            if !files.certificate_path.exists() {
                authority
                    .issue_node(&name, &["localhost".to_string(), "127.0.0.1".to_string()])
                    .with_context(|| format!("issuing the certificate of {name}"))?;
            }
            configs.push(ServerConfig {
                listen: port(node, 0)?,
                admin_listen: Some(port(node, 2)?),
                data_dir: self.dir.join(&name).join("data"),
                tls: TlsConfig {
                    ca: files.ca_path.clone(),
                    certificate: files.certificate_path.clone(),
                    key: files.key_path.clone(),
                },
                admins: vec![format!("CN={DEV_ADMIN_NAME},O=Polis")],
                cluster: crate::config::ClusterConfig {
                    node_id: node,
                    name: "polis-dev".to_string(),
                    peer_listen: Some(port(node, 1)?),
                    members: members.clone(),
                    ..crate::config::ClusterConfig::default()
                },
                zookeeper: dev_zookeeper(node)?,
                ..ServerConfig::default()
            });
        }
        Ok(configs)
    }
}

/// The dev node's ZooKeeper face: on, at 127.0.0.1:2181 for node 1, 2182 for node 2, and so on,
/// answering every four-letter word Polis implements.
fn dev_zookeeper(node: u64) -> anyhow::Result<crate::config::ZooKeeperConfig> {
    let port = u16::try_from(ZOOKEEPER_DEV_PORT_FIRST + node - 1)
        .context("the ZooKeeper dev port runs past 65535")?;
    Ok(crate::config::ZooKeeperConfig {
        enabled: true,
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        four_letter_words: vec!["*".to_string()],
        ..crate::config::ZooKeeperConfig::default()
    })
}

fn relative(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}
