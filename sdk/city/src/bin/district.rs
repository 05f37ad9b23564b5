//! `polis-district`: a district's system. Follows `/city/notifications/<district>` (resuming
//! from the zxid saved in `--state-file` after a restart), prints each notification, and
//! acknowledges actual alerts and updates.
//!
//! ```sh
//! polis-district --district harbor --profile polis-dev/profile.toml --state-file harbor.zxid
//! ```

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use polis_city::DistrictFollower;
use polis_cli::profile::Profile;
use polis_client::{Client, ClientConfig, TlsFiles};

#[derive(Debug, Parser)]
#[command(name = "polis-district", about = "A district's alert receiver")]
struct Arguments {
    /// The district's name in the registry (/city/districts/<name>).
    #[arg(long)]
    district: String,
    /// Where the servers are; the client certificate too, unless --cert and --key are given.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The district's client certificate and key (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Where the last handled zxid is kept; default `<district>.zxid`.
    #[arg(long)]
    state_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let profile_path = arguments.profile.unwrap_or_else(Profile::default_path);
    let profile = Profile::load(&profile_path)?;
    let mut tls: TlsFiles = profile.tls_files();
    if let (Some(cert), Some(key)) = (arguments.cert, arguments.key) {
        tls.certificate_path = cert;
        tls.key_path = key;
    }
    let client = Client::connect(ClientConfig::new(
        profile.servers.clone(),
        profile.server_name.clone(),
        tls,
    ))
    .await
    .context("connecting")?;
    let state_file = arguments
        .state_file
        .unwrap_or_else(|| PathBuf::from(format!("{}.zxid", arguments.district)));
    println!(
        "{}: following /city/notifications/{} (state in {})",
        arguments.district,
        arguments.district,
        state_file.display()
    );
    let follower = DistrictFollower::new(client, &arguments.district, state_file);
    follower
        .run(|received| {
            println!(
                "zxid {:>6}  {:<7} {}  {}{}",
                received.zxid,
                received.msg_type,
                received.thread,
                received.headline,
                if received.acknowledged {
                    "  [acknowledged]"
                } else {
                    ""
                }
            );
        })
        .await?;
    Ok(())
}
