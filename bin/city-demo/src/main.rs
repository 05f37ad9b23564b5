//! `polis-city-demo` (run it with `scripts/demo`): the city workflows end to end.
//!
//! Starts a local 3-node cluster in this process (or connects to one with `--profile`), loads
//! Cascadia Bay (twelve districts), deploys the three plugins, starts a district system for
//! every district but one (the silent one, to show escalation), publishes a scripted sequence of
//! CAP alerts — an alert, a JSON-rendered one, a geocode one, an update, a test message, an
//! invalid one, a duplicate, a restricted one and a cancel — and prints what each district
//! received with the commit-to-notification latency, then the acknowledgements and escalations,
//! and a round of shelter reports with the city's totals.
//!
//! It is a crate of its own, beside the `polis` binary, because starting nodes in its process
//! needs `polis-server`: `polis-city`, which it drives, stays on the client side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use polis_city::sample_city::{self, fresh_fixture};
use polis_city::{
    CityOptions, DistrictFollower, ROOT, deliveries, deploy_all, packages, publish, read_json,
    read_text, set_up_city, wait_handled,
};
use polis_cli::profile::Profile;
use polis_client::{Acl, Client, ClientConfig, Id, Perms, TlsFiles};
use polis_plugin_layout::plugin_identity;
use polis_security::CertificateAuthority;
use polis_server::RunningServer;
use polis_server::dev::{DEV_ADMIN_NAME, DevLayout};

/// How long any one step may take before the demo gives up.
const STEP_DEADLINE: Duration = Duration::from_secs(30);
/// The silent district: it runs no district system, so its alerts escalate.
const SILENT_DISTRICT: &str = "airport";

#[derive(Debug, Parser)]
#[command(name = "polis-city-demo", about = "The city workflows, end to end")]
struct Arguments {
    /// Connect to this running cluster (a client profile with an administrator's certificate)
    /// instead of starting one.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The folder of the local cluster (certificates, data); emptied first.
    #[arg(long, default_value = "polis-city-demo")]
    dir: PathBuf,
    /// The local cluster's first port (node i: base + 100·(i−1), +1, +2).
    #[arg(long, default_value_t = 7481)]
    base_port: u16,
    /// Where scripts/build-guests put the plugins.
    #[arg(long, default_value = "target/guests/wasm32-unknown-unknown/release")]
    guests: PathBuf,
    /// How long districts have to acknowledge.
    #[arg(long, default_value_t = 3_000)]
    ack_window_ms: i64,
}

struct Cluster {
    servers: Vec<RunningServer>,
    addresses: Vec<std::net::SocketAddr>,
    server_name: String,
    admin_tls: TlsFiles,
    authority: Option<CertificateAuthority>,
}

async fn start_cluster(arguments: &Arguments) -> anyhow::Result<Cluster> {
    if let Some(profile) = &arguments.profile {
        let profile = Profile::load(profile)?;
        return Ok(Cluster {
            servers: Vec::new(),
            addresses: profile.servers.clone(),
            server_name: profile.server_name.clone(),
            admin_tls: profile.tls_files(),
            authority: None,
        });
    }
    if arguments.dir.exists() {
        std::fs::remove_dir_all(&arguments.dir)
            .with_context(|| format!("emptying {}", arguments.dir.display()))?;
    }
    let layout = DevLayout::new(&arguments.dir);
    let mut configs = layout.prepare_cluster(3, arguments.base_port)?;
    for config in &mut configs {
        // Escalation needs a clock that ticks faster than the demo's short window.
        config.plugins.clock_interval_ms = 200;
        config.zookeeper.enabled = false;
    }
    let started = futures::future::join_all(configs.into_iter().map(RunningServer::start)).await;
    let servers = started.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let addresses = servers.iter().map(|server| server.client_address).collect();
    let certs = layout.certs_dir();
    Ok(Cluster {
        servers,
        addresses,
        server_name: "localhost".into(),
        admin_tls: TlsFiles::for_client(&certs, DEV_ADMIN_NAME),
        authority: Some(CertificateAuthority::load(&certs)?),
    })
}

impl Cluster {
    async fn client(&self, name: Option<&str>) -> anyhow::Result<Client> {
        let tls = match (name, &self.authority) {
            (Some(name), Some(authority)) => {
                let files = TlsFiles::for_client(authority.dir(), name);
                if files.certificate_path.exists() {
                    files
                } else {
                    authority.issue_client(name)?
                }
            }
            _ => self.admin_tls.clone(),
        };
        let config = ClientConfig::new(self.addresses.clone(), self.server_name.clone(), tls);
        Ok(Client::connect(config).await?)
    }
}

fn percentile(sorted: &[i64], fraction: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs the demo; any failure ends it with one readable line and a non-zero exit, never a
/// backtrace, and whatever a district system reported is shown and fails the run too.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let arguments = Arguments::parse();
    match run(arguments).await {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} district system(s) failed (above)");
            std::process::ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Connects as the administrator once the cluster answers: a fresh cluster elects its leader in
/// a second or two, and the first write must not race that election.
async fn ready_admin(cluster: &Cluster) -> anyhow::Result<Client> {
    println!("   waiting for the cluster to elect a leader ...");
    let started = std::time::Instant::now();
    loop {
        let attempt = async {
            let admin = cluster.client(None).await?;
            admin.sync("/").await?;
            anyhow::Ok(admin)
        };
        match attempt.await {
            Ok(admin) => return Ok(admin),
            Err(error) if started.elapsed() < STEP_DEADLINE => {
                note_not_ready(&error);
                // Retrying a cluster that is still electing, bounded by STEP_DEADLINE.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => {
                return Err(error.context(format!(
                    "the cluster did not answer within {} s",
                    STEP_DEADLINE.as_secs()
                )));
            }
        }
    }
}

/// Says once in a while why the cluster is not ready yet, so a slow start is not silent.
fn note_not_ready(error: &anyhow::Error) {
    static LAST: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    if let Ok(mut last) = LAST.lock()
        && last.is_none_or(|at| at.elapsed() > Duration::from_secs(5))
    {
        println!("   not ready yet: {error:#}");
        *last = Some(std::time::Instant::now());
    }
}

async fn run(arguments: Arguments) -> anyhow::Result<usize> {
    println!("== starting the cluster ...");
    let cluster = start_cluster(&arguments).await?;
    let admin = ready_admin(&cluster).await?;
    println!(
        "== Cascadia Bay on a {}-node Polis cluster ({})",
        cluster.addresses.len(),
        cluster
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let districts = sample_city::districts()?;
    let access = sample_city::access();
    set_up_city(&admin, &districts, &access).await?;
    println!(
        "   {} districts registered under {ROOT}/districts, {} agencies under {ROOT}/agencies",
        districts.len(),
        access.agencies.len()
    );
    let options = CityOptions {
        ack_window_ms: arguments.ack_window_ms,
    };
    let guests = arguments.guests.clone();
    let mut missing = None;
    let packages = packages(&options, |name| {
        let file = guests.join(format!("{}.wasm", name.replace('-', "_")));
        std::fs::read(&file).unwrap_or_else(|error| {
            missing.get_or_insert(format!(
                "{}: {error} (run scripts/build-guests first, or pass --guests)",
                file.display()
            ));
            Vec::new()
        })
    });
    if let Some(missing) = missing {
        bail!("{missing}");
    }
    let packages = packages?;
    deploy_all(&admin, &packages).await?;
    println!("   plugins deployed: alert-fanout, alert-escalation, shelter-capacity");

    // A district system for every district but the silent one.
    let state_dir = tempfile::tempdir()?;
    let received: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut followers = Vec::new();
    for (name, _) in &districts {
        if name == SILENT_DISTRICT {
            continue;
        }
        let client = cluster.client(Some(name)).await?;
        let follower =
            DistrictFollower::new(client, name, state_dir.path().join(format!("{name}.zxid")));
        let log = received.clone();
        let failures = failed.clone();
        let name = name.clone();
        followers.push(tokio::spawn(async move {
            let outcome = follower
                .run(|item| {
                    let line = format!(
                        "{} {}{}",
                        item.msg_type,
                        item.thread,
                        if item.acknowledged { " (acked)" } else { "" }
                    );
                    if let Ok(mut log) = log.lock() {
                        log.entry(name.clone()).or_default().push(line);
                    }
                })
                .await;
            // A district system that stops is news: say which and why, and fail the run.
            let reason = match outcome {
                Ok(()) => "its watch ended".to_string(),
                Err(error) => error.to_string(),
            };
            eprintln!("   district system {name} stopped: {reason}");
            if let Ok(mut failures) = failures.lock() {
                failures.push(name);
            }
        }));
    }

    // Each agency publishes with its own certificate, into its own inbox.
    let weather_service = cluster.client(Some(sample_city::NWS_AGENCY)).await?;
    let police = cluster.client(Some(sample_city::POLICE_AGENCY)).await?;
    let emergency_management = cluster.client(Some(sample_city::OEM_AGENCY)).await?;
    let agency_client = |agency: &str| match agency {
        sample_city::NWS_AGENCY => &weather_service,
        sample_city::POLICE_AGENCY => &police,
        _ => &emergency_management,
    };
    // A plugin's first invocation compiles its component (seconds in a debug build): warm both
    // alert plugins up so the latencies below are the steady state. The warm-up message is not
    // CAP, so the fan-out just records it as rejected.
    let warm = publish(
        &emergency_management,
        sample_city::OEM_AGENCY,
        "warm-up",
        "warm-up",
        None,
    )
    .await?;
    if !wait_handled(&admin, "alert-fanout", warm.czxid, STEP_DEADLINE * 4).await {
        bail!("the fan-out did not start in time");
    }
    let started = std::time::Instant::now();
    while polis_cli::deploy::status(&admin, "alert-escalation")
        .await
        .map_or(true, |report| report.status.processed_events == 0)
    {
        if started.elapsed() > STEP_DEADLINE * 4 {
            bail!("the escalation plugin did not start in time");
        }
        // Polling for its first clock tick, bounded by the deadline above.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("   plugins compiled and running");
    let police_acl = vec![
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(Perms::READ, plugin_identity("alert-fanout")),
        Acl::new(Perms::READ, Id::new(Id::SCHEME_X509, "CN=harbor,O=Polis")),
    ];
    let script: [(&str, &str, &str); 9] = [
        ("flood-1", "flood-warning.xml", "Flood Warning (polygon)"),
        ("fire-1", "chemical-fire.json", "HazMat fire (JSON, circle)"),
        (
            "storm-1",
            "winter-storm.xml",
            "Winter Storm (geocode UGC ORZ101)",
        ),
        (
            "flood-2",
            "flood-warning-update.xml",
            "Flood Warning Update (moves east)",
        ),
        (
            "rmt-1",
            "monthly-test.xml",
            "Required Monthly Test (status Test)",
        ),
        ("bad-1", "invalid-open-polygon.xml", "an invalid alert"),
        (
            "flood-1-again",
            "flood-warning.xml",
            "the first flood alert, again",
        ),
        (
            "police-1",
            "restricted-police.xml",
            "Restricted police alert",
        ),
        (
            "flood-3",
            "flood-warning-cancel.xml",
            "Flood Warning Cancel",
        ),
    ];
    let mut latencies = Vec::new();
    for (id, file, what) in script {
        let document = fresh_fixture(file);
        let acl = (id == "police-1").then_some(police_acl.as_slice());
        let agency = sample_city::agency_of(&document);
        let published = publish(agency_client(agency), agency, id, &document, acl).await?;
        if !wait_handled(&admin, "alert-fanout", published.czxid, STEP_DEADLINE).await {
            bail!("the fan-out did not handle {id} in time");
        }
        println!("\n-- {id}: {what}");
        if let Some(reason) = read_text(&admin, &format!("{ROOT}/alerts/rejected/{id}")).await? {
            println!("   rejected: {reason}");
            continue;
        }
        if let Some(key) = read_text(&admin, &format!("{ROOT}/alerts/duplicates/{id}")).await? {
            println!("   duplicate of {key}: nothing sent");
            continue;
        }
        for subtree in ["notifications", "exercises"] {
            for delivery in deliveries(&admin, subtree).await? {
                if delivery.field("alert") != format!("{ROOT}/alerts/inbox/{agency}/{id}") {
                    continue;
                }
                let latency = delivery.latency_ms(&published);
                latencies.push(latency);
                let headline = delivery.field("headline");
                println!(
                    "   {subtree:<13} {:<11} {:<7} {:<9} {:>4} ms  {}",
                    delivery.district,
                    delivery.msg_type(),
                    delivery.field("severity"),
                    latency,
                    if headline.is_empty() {
                        format!(
                            "(scope {}: read {})",
                            delivery.field("scope"),
                            delivery.field("alert")
                        )
                    } else {
                        headline.chars().take(60).collect()
                    }
                );
            }
        }
    }

    // Acknowledgements and escalation: wait for the silent district's escalations.
    println!(
        "\n-- acknowledgements (window {} ms; {SILENT_DISTRICT} runs no district system)",
        arguments.ack_window_ms
    );
    let started = std::time::Instant::now();
    loop {
        let escalated = match admin
            .get_children(&format!("{ROOT}/escalations/{SILENT_DISTRICT}"))
            .await
        {
            Ok((threads, _)) => threads.len(),
            Err(_) => 0,
        };
        if escalated >= 3 || started.elapsed() > STEP_DEADLINE {
            break;
        }
        // Polling the tree for the escalation plugin's effect, bounded by STEP_DEADLINE.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (threads, _) = admin.get_children(&format!("{ROOT}/alerts/acks")).await?;
    for thread in threads {
        if let Some(state) = read_json(&admin, &format!("{ROOT}/alerts/acks/{thread}")).await? {
            let released: Vec<&str> = state["districts"]
                .as_object()
                .map(|districts| {
                    districts
                        .iter()
                        .filter(|(_, progress)| *progress == "released")
                        .map(|(name, _)| name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "   {thread}: acked {} | pending {} | escalated {} | released {released:?}",
                state["acked"], state["pending"], state["escalated"]
            );
        }
    }
    if let Ok(log) = received.lock() {
        println!("\n-- what each district system saw (in order)");
        for (district, lines) in log.iter() {
            println!("   {district:<11} {}", lines.join(" · "));
        }
    }

    println!("\n-- shelters");
    // Each shelter reports with its own certificate: none can write another's report.
    let mut last = None;
    for (shelter, (occupancy, capacity)) in
        sample_city::shelters()
            .iter()
            .zip([(180, 200), (60, 60), (240, 400), (75, 75)])
    {
        let client = cluster.client(Some(&shelter.name)).await?;
        last = Some(shelter.report(&client, occupancy, capacity).await?);
        client.close().await?;
    }
    let last = last.context("the sample city has no shelters")?;
    if !wait_handled(&admin, "shelter-capacity", last.mzxid, STEP_DEADLINE).await {
        bail!("the shelter aggregation did not catch up in time");
    }
    for name in ["harbor", "riverside", "eastbank"] {
        if let Some(totals) =
            read_json(&admin, &format!("{ROOT}/capacity/districts/{name}")).await?
        {
            println!(
                "   {name:<11} {}/{} occupied, full: {}",
                totals["occupancy"], totals["capacity"], totals["full"]
            );
        }
    }
    if let Some(city) = read_json(&admin, &format!("{ROOT}/capacity/city")).await? {
        println!(
            "   city        {}/{} occupied, {} free, full shelters {}",
            city["occupancy"], city["capacity"], city["free"], city["full_shelters"]
        );
    }

    latencies.sort_unstable();
    println!(
        "\n== {} notifications; commit-to-notification latency p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    let failed_districts = failed
        .lock()
        .map(|failed| failed.clone())
        .unwrap_or_default();
    for follower in followers {
        follower.abort();
    }
    for server in cluster.servers {
        server.shutdown().await?;
    }
    if !failed_districts.is_empty() {
        eprintln!(
            "   failed district systems: {}",
            failed_districts.join(", ")
        );
    }
    Ok(failed_districts.len())
}
