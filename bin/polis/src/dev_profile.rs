//! The client half of a `polis dev` folder: the profile through which client commands find the
//! dev nodes. The node half (CA, certificates, configuration, data) is `polis_server::dev`; the
//! binary joins the two, so that neither the server nor the client side imports the other.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polis_cli::profile::Profile;
use polis_security::TlsFiles;
use polis_server::dev::{DEV_ADMIN_NAME, DevLayout};

/// Writes the dev folder's client profile for nodes listening on `servers`: the administrator's
/// certificate `polis dev` issued, with absolute paths, so that the profile works from anywhere.
pub fn write_dev_profile(layout: &DevLayout, servers: &[SocketAddr]) -> anyhow::Result<()> {
    let admin = TlsFiles::for_client(layout.certs_dir(), DEV_ADMIN_NAME);
    let profile = Profile {
        servers: servers.to_vec(),
        server_name: "localhost".to_string(),
        ca: absolute(&admin.ca_path)?,
        certificate: absolute(&admin.certificate_path)?,
        key: absolute(&admin.key_path)?,
    };
    profile.save(&Profile::dev_path(&layout.dir))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}
