//! Client profiles: where a `polis` client command finds the server and its certificate.
//!
//! Looked up in this order: `--profile FILE`, the `POLIS_PROFILE` environment variable,
//! `polis-dev/profile.toml` in the current folder (written by `polis dev`). Flags (`--server`,
//! `--ca`, `--cert`, `--key`) override single fields.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polis_security::TlsFiles;
use serde::{Deserialize, Serialize};

/// The default dev folder, relative to where `polis dev` runs: it writes its client profile
/// there, and client commands run from the same folder find it with no flags.
pub const DEV_DIR_DEFAULT: &str = "polis-dev";

/// Where and as whom to connect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The servers to try, in order.
    pub servers: Vec<SocketAddr>,
    /// The name the server certificate must carry.
    pub server_name: String,
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl Profile {
    pub fn load(file: &Path) -> anyhow::Result<Profile> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the profile {}", file.display()))?;
        let mut profile: Profile =
            toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for path in [&mut profile.ca, &mut profile.certificate, &mut profile.key] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        Ok(profile)
    }

    pub fn save(&self, file: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self).context("encoding the profile")?;
        std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))
    }

    /// The profile file to use when none is named: `POLIS_PROFILE`, else the dev folder's.
    pub fn default_path() -> PathBuf {
        std::env::var_os("POLIS_PROFILE").map_or_else(
            || Profile::dev_path(Path::new(DEV_DIR_DEFAULT)),
            PathBuf::from,
        )
    }

    /// Where `polis dev` writes the profile of the dev folder `dir`.
    pub fn dev_path(dir: &Path) -> PathBuf {
        dir.join("profile.toml")
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            ca_path: self.ca.clone(),
            certificate_path: self.certificate.clone(),
            key_path: self.key.clone(),
        }
    }
}
