//! The `[console]` table of `polis.toml`: the operator console's listener, who may log in, and
//! its bounds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The shortest login token accepted, in bytes. A token is the only thing between the console
/// and whoever reaches its port, so it must be too long to guess (`openssl rand -hex 32` gives
/// 64 characters).
pub const TOKEN_LEN_MIN: usize = 32;

/// The operator console (`crate::console`): a web page served on its own TCP listener.
///
/// Off by default. When enabled it listens on loopback unless `allow_remote` says otherwise,
/// because it speaks plain HTTP: an operator reaches it through an SSH tunnel (`ssh -L
/// 7183:127.0.0.1:7183 node1`) or a TLS-terminating proxy of the city's own.
///
/// ```toml
/// [console]
/// enabled = true
/// listen = "127.0.0.1:7183"
/// admin_token_file = "console-admin.token"     # reads as an administrator (passes every ACL)
/// viewer_token_file = "console-viewer.token"   # reads as world:anyone, plus viewer_identity
/// viewer_identity = "CN=ops,O=Polis"           # optional x509 subject the viewer reads as
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console.
    pub enabled: bool,
    /// The TCP address of the console's HTTP listener.
    pub listen: SocketAddr,
    /// Listening on an address other than loopback must be asked for by name: the console
    /// speaks plain HTTP, so its login token crosses the network in clear text unless a TLS
    /// proxy sits in front of it.
    pub allow_remote: bool,
    /// A file holding the administrators' login token (surrounding whitespace is ignored). Who
    /// logs in with it reads the tree as an administrator.
    pub admin_token_file: Option<PathBuf>,
    /// A file holding the viewers' login token. Who logs in with it reads the tree as
    /// `world:anyone` (and as `viewer_identity`, if set), through the nodes' ACLs.
    pub viewer_token_file: Option<PathBuf>,
    /// A certificate subject (`x509` identity) viewers read as, besides `world:anyone`.
    pub viewer_identity: Option<String>,
    /// The most live-update (server-sent events) streams open at once; further ones are refused
    /// with 503 and the page falls back to polling.
    pub sse_clients_max: usize,
    /// The most logins held at once; a new one past it ends the oldest.
    pub logins_max: usize,
    /// How long a login lasts, in seconds.
    pub login_ttl_s: u64,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 7183)),
            allow_remote: false,
            admin_token_file: None,
            viewer_token_file: None,
            viewer_identity: None,
            sse_clients_max: 16,
            logins_max: 64,
            login_ttl_s: 12 * 60 * 60,
        }
    }
}

impl ConsoleConfig {
    /// Refuses settings that would open the console wider than asked, with a message naming the
    /// field.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        anyhow::ensure!(
            self.listen.ip().is_loopback() || self.allow_remote,
            "console.listen is {}, not a loopback address: the console speaks plain HTTP, so set \
             console.allow_remote = true only behind a TLS proxy or on a trusted network",
            self.listen
        );
        anyhow::ensure!(
            self.admin_token_file.is_some() || self.viewer_token_file.is_some(),
            "console.enabled needs console.admin_token_file or console.viewer_token_file: \
             nobody could log in"
        );
        anyhow::ensure!(
            self.sse_clients_max > 0,
            "console.sse_clients_max must be positive"
        );
        anyhow::ensure!(self.logins_max > 0, "console.logins_max must be positive");
        anyhow::ensure!(self.login_ttl_s > 0, "console.login_ttl_s must be positive");
        Ok(())
    }

    /// Takes relative token paths relative to the configuration file's folder.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        for path in [&mut self.admin_token_file, &mut self.viewer_token_file]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_off_and_on_loopback_by_default() {
        let config = ConsoleConfig::default();
        assert!(!config.enabled);
        assert!(config.listen.ip().is_loopback());
        config.validate().unwrap();
    }

    #[test]
    fn a_remote_listener_must_be_asked_for_and_someone_must_be_able_to_log_in() {
        let mut config = ConsoleConfig {
            enabled: true,
            admin_token_file: Some(PathBuf::from("admin.token")),
            ..ConsoleConfig::default()
        };
        config.validate().unwrap();
        config.listen = SocketAddr::from(([0, 0, 0, 0], 7183));
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("allow_remote"), "{refused}");
        config.allow_remote = true;
        config.validate().unwrap();
        config.admin_token_file = None;
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("token_file"), "{refused}");
    }
}
