//! How a client command finds its server and certificate.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use polis_client::{Client, ClientConfig};

use crate::profile::Profile;

#[derive(Debug, Args)]
pub struct ConnectionArguments {
    /// The client profile (default: $POLIS_PROFILE, else polis-dev/profile.toml).
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    /// The server address, `HOST:PORT` with a name or an IP address (overrides the profile;
    /// repeat for several).
    #[arg(long = "server", global = true)]
    servers: Vec<String>,
    /// The name in the server's certificate (default: the profile's; without a profile, the
    /// first --server's host name, else localhost).
    #[arg(long, global = true)]
    server_name: Option<String>,
    /// The CA certificate that signed the server's certificate.
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    /// This client's certificate.
    #[arg(long, global = true)]
    cert: Option<PathBuf>,
    /// This client's private key.
    #[arg(long, global = true)]
    key: Option<PathBuf>,
}

impl ConnectionArguments {
    /// The profile with the flags applied over it.
    pub fn resolve(&self) -> anyhow::Result<Profile> {
        let profile_path = self.profile.clone().unwrap_or_else(Profile::default_path);
        let mut profile = if profile_path.exists() {
            Profile::load(&profile_path)?
        } else {
            let (Some(ca), Some(certificate), Some(key)) =
                (self.ca.clone(), self.cert.clone(), self.key.clone())
            else {
                anyhow::bail!(
                    "no profile at {} — run `polis dev` in this folder, or give --profile, or \
                     --server with --ca, --cert and --key",
                    profile_path.display()
                );
            };
            Profile {
                servers: Vec::new(),
                server_name: self
                    .servers
                    .first()
                    .and_then(|server| host_name(server))
                    .unwrap_or_else(|| "localhost".to_string()),
                ca,
                certificate,
                key,
            }
        };
        if !self.servers.is_empty() {
            profile.servers = self
                .servers
                .iter()
                .map(|server| resolve_server(server))
                .collect::<anyhow::Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
        }
        if let Some(server_name) = &self.server_name {
            profile.server_name = server_name.clone();
        }
        if let Some(ca) = &self.ca {
            profile.ca = ca.clone();
        }
        if let Some(cert) = &self.cert {
            profile.certificate = cert.clone();
        }
        if let Some(key) = &self.key {
            profile.key = key.clone();
        }
        anyhow::ensure!(
            !profile.servers.is_empty(),
            "no server address: give --server"
        );
        Ok(profile)
    }

    pub async fn connect(&self) -> anyhow::Result<Client> {
        let profile = self.resolve()?;
        let config = ClientConfig::new(
            profile.servers.clone(),
            profile.server_name.clone(),
            profile.tls_files(),
        );
        Client::connect(config).await.map_err(|error| {
            // rustls words it so (`Error::InvalidCertificate`), and the client passes it on as
            // text. The usual cause is a second `polis dev`, from another folder and with its
            // own CA, on the ports this profile names.
            let hint = if error.to_string().contains("invalid peer certificate") {
                format!(
                    "; the server's certificate is not signed by the CA at {} (is another `polis \
                     dev`, from another folder, serving these ports, or is the profile out of \
                     date?)",
                    profile.ca.display()
                )
            } else {
                String::new()
            };
            anyhow::Error::from(error).context(format!("connecting to {:?}{hint}", profile.servers))
        })
    }
}

/// The addresses `server` (`HOST:PORT`) names: a host name is looked up now, as a Kubernetes
/// service or pod name is, once per command.
fn resolve_server(server: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let addresses: Vec<SocketAddr> = server
        .to_socket_addrs()
        .with_context(|| format!("--server {server:?}: not HOST:PORT, or the host is unknown"))?
        .collect();
    anyhow::ensure!(
        !addresses.is_empty(),
        "--server {server:?} names no address"
    );
    Ok(addresses)
}

/// The host name of `HOST:PORT`, unless the host is an IP address (which certificates here do
/// not name as a TLS server name).
fn host_name(server: &str) -> Option<String> {
    let (host, _port) = server.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.parse::<IpAddr>().is_err() && !host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_may_be_named_by_host_and_the_name_defaults_from_it() {
        let local = resolve_server("localhost:7181").expect("resolves");
        assert!(
            local
                .iter()
                .all(|address| address.ip().is_loopback() && address.port() == 7181),
            "{local:?}"
        );
        assert_eq!(
            resolve_server("127.0.0.1:7181").expect("an address"),
            vec![SocketAddr::from(([127, 0, 0, 1], 7181))]
        );
        assert!(resolve_server("no-port").is_err());
        assert_eq!(
            host_name("polis-0.polis-peers:7181").as_deref(),
            Some("polis-0.polis-peers")
        );
        assert_eq!(host_name("127.0.0.1:7181"), None);
        assert_eq!(host_name("[::1]:7181"), None);
    }
}
