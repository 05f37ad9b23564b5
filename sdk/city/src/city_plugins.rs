//! The city's plugins: their manifests and deployment.

use polis_cli::deploy::{self, PluginPackage, parse_manifest};
use polis_client::Client;

use crate::error::CityError;

pub const FANOUT: &str = "alert-fanout";
pub const ESCALATION: &str = "alert-escalation";
pub const SHELTERS: &str = "shelter-capacity";

/// How the city's plugins are tuned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CityOptions {
    /// How long a district has to acknowledge an actual alert.
    pub ack_window_ms: i64,
}

impl Default for CityOptions {
    fn default() -> CityOptions {
        CityOptions {
            ack_window_ms: 300_000,
        }
    }
}

/// The fan-out's manifest. One alert to N districts stages about 2N + 4 writes (a notification
/// and its `ack` node each, the thread state, the key record; the districts' folders exist from
/// the set-up), so with the writes cap at 1000 (under the tree's 1024 operations per multi) a
/// batch of 4 alerts serves up to about 120 districts each. A larger batch fails as too large and
/// the host retries it one event at a time, which serves the registry's bound of 300 districts.
pub fn fanout_manifest() -> String {
    r#"
name = "alert-fanout"
version = "1.0.0"
config = '{"root": "/city"}'

[triggers]
prefixes = ["/city/alerts/inbox"]
kinds = ["created"]
recursive = true

[capabilities]
read = ["/city/alerts", "/city/agencies", "/city/districts", "/city/notifications", "/city/exercises"]
write = ["/city/alerts/rejected", "/city/alerts/duplicates", "/city/alerts/keys", "/city/alerts/state", "/city/notifications", "/city/exercises"]

[limits]
events_per_batch_max = 4
staged_writes_max = 1000
staged_bytes_max = 3145728
fuel_per_invocation = 2000000000
deadline_ms = 5000

[retry]
attempts = 5
backoff_min_ms = 20
backoff_max_ms = 1000
"#
    .to_string()
}

/// The escalation plugin's manifest: thread states, acknowledgements and the leader clock.
pub fn escalation_manifest(options: &CityOptions) -> String {
    format!(
        r#"
name = "alert-escalation"
version = "1.0.0"
config = '{{"root": "/city", "ack_window_ms": {}}}'

[triggers]
prefixes = ["/city/alerts/state", "/city/notifications", "/polis/clock"]
kinds = ["created", "data-changed"]

[capabilities]
read = ["/city/alerts", "/city/notifications", "/city/escalations", "/polis/clock"]
write = ["/city/alerts/acks", "/city/alerts/pending", "/city/escalations"]

[limits]
staged_writes_max = 1000

[retry]
attempts = 5
backoff_min_ms = 20
backoff_max_ms = 1000
"#,
        options.ack_window_ms
    )
}

/// The shelter aggregation's manifest.
pub fn shelters_manifest() -> String {
    r#"
name = "shelter-capacity"
version = "1.0.0"
config = "/city"

[triggers]
prefixes = ["/city/shelters"]
kinds = ["created", "data-changed", "deleted"]

[capabilities]
read = ["/city/shelters", "/city/capacity"]
write = ["/city/capacity"]

[retry]
attempts = 5
backoff_min_ms = 20
backoff_max_ms = 1000
"#
    .to_string()
}

/// The guest crate (in `plugins/`) of each city plugin.
pub fn guest_crate(plugin: &str) -> String {
    format!("polis-{plugin}")
}

/// The three plugins packaged; `core_module` gives a guest crate's built wasm by crate name
/// (see [`guest_crate`]).
pub fn packages(
    options: &CityOptions,
    mut core_module: impl FnMut(&str) -> Vec<u8>,
) -> Result<Vec<PluginPackage>, CityError> {
    [
        (FANOUT, fanout_manifest()),
        (ESCALATION, escalation_manifest(options)),
        (SHELTERS, shelters_manifest()),
    ]
    .into_iter()
    .map(|(name, manifest)| {
        let failed = |source| CityError::Deploy {
            plugin: name.to_string(),
            source,
        };
        let manifest = parse_manifest(&manifest).map_err(failed)?;
        PluginPackage::new(manifest, &core_module(&guest_crate(name))).map_err(failed)
    })
    .collect()
}

/// Deploys (or, if deployed, upgrades) the packages. Run as an administrator.
pub async fn deploy_all(admin: &Client, packages: &[PluginPackage]) -> Result<(), CityError> {
    for package in packages {
        let name = package.manifest.name.clone();
        let deployed = deploy::list(admin)
            .await
            .map_err(|source| CityError::Deploy {
                plugin: name.clone(),
                source,
            })?
            .contains(&name);
        let outcome = if deployed {
            deploy::upgrade(admin, package).await.map(|_| ())
        } else {
            deploy::deploy(admin, package).await.map(|_| ())
        };
        outcome.map_err(|source| CityError::Deploy {
            plugin: name,
            source,
        })?;
    }
    Ok(())
}

/// How often [`wait_handled`] polls the plugin's cursor.
const CURSOR_POLL_INTERVAL_MS: u64 = 5;

/// Waits until `plugin` has handled every event up to transaction `zxid` (its cursor is past it),
/// polling its cursor; false if `deadline` passes first. Run as an administrator.
pub async fn wait_handled(
    admin: &Client,
    plugin: &str,
    zxid: polis_client::Zxid,
    deadline: std::time::Duration,
) -> bool {
    let started = std::time::Instant::now();
    loop {
        if let Ok(report) = deploy::status(admin, plugin).await
            && (report.cursor.zxid > zxid
                || (report.cursor.zxid == zxid && report.cursor.handled_in_zxid.is_none()))
        {
            return true;
        }
        if started.elapsed() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(CURSOR_POLL_INTERVAL_MS)).await;
    }
}
