//! `polis plugin deploy|upgrade|rollback|resume|rm|ls|status|logs|dead-letters`: wasm plugins, deployed by
//! administrators (the profile's certificate must be one of the servers' `admins`, because
//! deployments live under `/polis`). See [`crate::deploy`] for what each step writes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use polis_plugin_host::{EngineConfig, PluginEngine};
use polis_plugin_layout::{Deployment, PluginPaths, StoredLogLine};
use serde_json::json;

use super::{CommonArguments, with_client};
use crate::deploy::{self, PluginPackage, PluginReport};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Start a new plugin from the SDK's template, in ./NAME (or --dir).
    New {
        name: String,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The polis-plugin-sdk crate to depend on (default: the SDK of the source tree this
        /// `polis` was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Compile the plugin in DIR (default: here) for wasm32-unknown-unknown, with rustup's target
    /// if installed, otherwise Debian's rustc-web.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run the plugin's native tests in DIR (default: here), against the SDK's in-memory tree.
    Test {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Deploy a new plugin: a manifest (TOML or JSON) and a wasm component or core module.
    Deploy {
        manifest: PathBuf,
        wasm: PathBuf,
        /// Skip compiling the plugin and running its `init` here before uploading it.
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Replace a deployed plugin's manifest and component; it goes on from its cursor.
    Upgrade {
        manifest: PathBuf,
        wasm: PathBuf,
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Go back to the plugin's previous revision.
    Rollback {
        name: String,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Start a paused or failed plugin again, at the event it stopped at.
    Resume {
        name: String,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Remove a plugin, its cursor, status, log and dead letters.
    Rm {
        name: String,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// List the deployed plugins with their state.
    Ls {
        #[command(flatten)]
        common: CommonArguments,
    },
    /// A plugin's revision, state, cursor, lag, counters, last error and dead letters.
    Status {
        name: String,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// A plugin's last log lines.
    Logs {
        name: String,
        /// Keep printing new lines as the plugin writes them, until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// A plugin's dead letters (the events it gave up on), or replay or drop one.
    DeadLetters {
        name: String,
        /// Run this dead letter's events again with the running revision (after fixing the
        /// cause); its writes commit, or it becomes a dead letter again with the new error.
        #[arg(long, conflicts_with = "drop")]
        replay: Option<String>,
        /// Give this dead letter's events up for good.
        #[arg(long)]
        drop: Option<String>,
        #[command(flatten)]
        common: CommonArguments,
    },
}

pub async fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { name, dir, sdk } => {
            super::plugin_authoring::new_plugin(&name, dir, sdk)
        }
        PluginCommand::Build { dir } => super::plugin_authoring::build_plugin(&dir),
        PluginCommand::Test { dir } => super::plugin_authoring::test_plugin(&dir),
        PluginCommand::Deploy {
            manifest,
            wasm,
            no_check,
            common,
        } => {
            let package = package(&manifest, &wasm, no_check)?;
            with_client(&common, async |client, _| {
                let deployment = deploy::deploy(client, &package).await?;
                print_revision(
                    "deployed",
                    &package,
                    deployment.current.revision,
                    common.json,
                );
                Ok(())
            })
            .await
        }
        PluginCommand::Upgrade {
            manifest,
            wasm,
            no_check,
            common,
        } => {
            let package = package(&manifest, &wasm, no_check)?;
            with_client(&common, async |client, _| {
                let deployment = deploy::upgrade(client, &package).await?;
                print_revision(
                    "upgraded",
                    &package,
                    deployment.current.revision,
                    common.json,
                );
                Ok(())
            })
            .await
        }
        PluginCommand::Rollback { name, common } => {
            with_client(&common, async |client, _| {
                let deployment = deploy::rollback(client, &name).await?;
                print_change("rolled back", &name, &deployment, common.json);
                Ok(())
            })
            .await
        }
        PluginCommand::Resume { name, common } => {
            with_client(&common, async |client, _| {
                let deployment = deploy::resume(client, &name).await?;
                print_change("resumed", &name, &deployment, common.json);
                Ok(())
            })
            .await
        }
        PluginCommand::Rm { name, common } => {
            with_client(&common, async |client, _| {
                deploy::remove(client, &name).await?;
                if common.json {
                    println!("{}", json!({ "removed": name }));
                } else {
                    println!("removed {name}");
                }
                Ok(())
            })
            .await
        }
        PluginCommand::Ls { common } => {
            with_client(&common, async |client, _| {
                let mut reports = Vec::new();
                for name in deploy::list(client).await? {
                    reports.push(deploy::status(client, &name).await?);
                }
                if common.json {
                    println!("{}", serde_json::to_string(&reports)?);
                } else {
                    for report in &reports {
                        println!(
                            "{}\t{}\trevision {}\t{:?}\tlag {}",
                            report.name,
                            report.deployment.current.manifest.version,
                            report.deployment.current.revision,
                            report.status.state,
                            report.lag_entries
                        );
                    }
                }
                Ok(())
            })
            .await
        }
        PluginCommand::Status { name, common } => {
            with_client(&common, async |client, _| {
                let report = deploy::status(client, &name).await?;
                print_report(&report, common.json)?;
                Ok(())
            })
            .await
        }
        PluginCommand::DeadLetters {
            name,
            replay,
            drop,
            common,
        } => {
            with_client(&common, async |client, _| {
                match (replay, drop) {
                    (Some(id), _) => {
                        deploy::replay_dead_letter(client, &name, &id).await?;
                        println!(
                            "asked {name} to replay {id}; see `polis plugin dead-letters {name}`"
                        );
                    }
                    (None, Some(id)) => {
                        deploy::drop_dead_letter(client, &name, &id).await?;
                        println!("dropped {id} of {name}");
                    }
                    (None, None) => {
                        let report = deploy::status(client, &name).await?;
                        if common.json {
                            println!("{}", serde_json::to_string(&report.dead_letters)?);
                        } else {
                            for (id, letter) in &report.dead_letters {
                                let events: Vec<String> = letter
                                    .events
                                    .iter()
                                    .map(|event| {
                                        format!("{} {} @{}", event.kind, event.path, event.zxid)
                                    })
                                    .collect();
                                println!(
                                    "{id}	revision {}	attempts {}	{}	[{}]",
                                    letter.revision,
                                    letter.attempts,
                                    letter.error,
                                    events.join(", ")
                                );
                            }
                        }
                    }
                }
                Ok(())
            })
            .await
        }
        PluginCommand::Logs {
            name,
            follow,
            common,
        } => {
            with_client(&common, async |client, _| {
                if follow {
                    follow_logs(client, &name, common.json).await?;
                    return Ok(());
                }
                let lines = deploy::logs(client, &name).await?;
                if common.json {
                    println!("{}", serde_json::to_string(&lines)?);
                } else {
                    for line in &lines {
                        print_log_line(line, false)?;
                    }
                }
                Ok(())
            })
            .await
        }
    }
}

fn print_log_line(line: &StoredLogLine, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(line)?);
    } else {
        println!("{}\t{}\t{}", line.zxid, line.level, line.message);
    }
    Ok(())
}

/// The lines of `now` after the last of `before`: the log node appends at its end and trims at
/// its front, so whatever follows `before`'s last line is new (all of `now`, if that line was
/// trimmed away meanwhile).
fn new_log_lines<'a>(before: &[StoredLogLine], now: &'a [StoredLogLine]) -> &'a [StoredLogLine] {
    let Some(last) = before.last() else {
        return now;
    };
    match now.iter().rposition(|line| line == last) {
        Some(index) => &now[index + 1..],
        None => now,
    }
}

/// Prints the plugin's log lines, then each new one as the log node changes (a data watch on it,
/// set again after each change), until Ctrl-C.
async fn follow_logs(
    client: &polis_client::Client,
    name: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let path = PluginPaths::new(name).logs;
    let mut printed: Vec<StoredLogLine> = Vec::new();
    loop {
        let ((data, _), changed) = client.get_data_watch(&path).await?;
        let lines: Vec<StoredLogLine> =
            serde_json::from_slice(&data).with_context(|| format!("{path} is not a log"))?;
        for line in new_log_lines(&printed, &lines) {
            print_log_line(line, as_json)?;
        }
        printed = lines;
        tokio::select! {
            event = changed => {
                event?;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Reads the manifest and the wasm file, and unless told not to, compiles the plugin and runs its
/// `init` with the manifest's config, so that a broken plugin is refused here rather than failing
/// on the leader.
fn package(manifest: &Path, wasm: &Path, no_check: bool) -> anyhow::Result<PluginPackage> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let package = PluginPackage::new(deploy::parse_manifest(&text)?, &bytes)?;
    if !no_check {
        let engine = PluginEngine::new(EngineConfig {
            max_concurrent_invocations: 1,
            ..EngineConfig::default()
        })?;
        engine
            .instantiate(package.manifest.clone(), &package.component)?
            .check_config()
            .context("the plugin refused its config")?;
    }
    Ok(package)
}

fn print_revision(what: &str, package: &PluginPackage, revision: u64, as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({
                "result": what,
                "name": package.manifest.name,
                "version": package.manifest.version,
                "revision": revision,
                "component": package.sha256,
            })
        );
    } else {
        println!(
            "{what} {} {} (revision {revision}, component {})",
            package.manifest.name, package.manifest.version, package.sha256
        );
    }
}

fn print_change(what: &str, name: &str, deployment: &Deployment, as_json: bool) {
    let current = &deployment.current;
    if as_json {
        println!(
            "{}",
            json!({
                "result": what,
                "name": name,
                "version": current.manifest.version,
                "revision": current.revision,
                "component": current.component,
            })
        );
    } else {
        println!(
            "{what} {name}: now {} (revision {}, component {})",
            current.manifest.version, current.revision, current.component
        );
    }
}

fn print_report(report: &PluginReport, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let status = &report.status;
    let current = &report.deployment.current;
    println!("plugin     {} {}", report.name, current.manifest.version);
    println!(
        "revision   {} (component {})",
        current.revision, current.component
    );
    println!("state      {:?}", status.state);
    println!(
        "cursor     zxid {} (lag {} log entries)",
        report.cursor.zxid, report.lag_entries
    );
    println!(
        "processed  {} events in {} batches; {} failures; {} dead-lettered",
        status.processed_events, status.committed_batches, status.failures, status.dead_letters
    );
    if let Some(error) = &status.last_error {
        println!(
            "last error {error} (at zxid {})",
            status.last_error_zxid.unwrap_or_default()
        );
    }
    for (name, entry) in &report.dead_letters {
        let zxids: Vec<i64> = entry.events.iter().map(|event| event.zxid).collect();
        println!(
            "dead letter {name}: zxids {zxids:?} after {} attempts: {}",
            entry.attempts, entry.error
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(zxid: i64, message: &str) -> StoredLogLine {
        StoredLogLine {
            zxid,
            level: "info".to_string(),
            message: message.to_string(),
        }
    }

    #[test]
    fn following_the_log_prints_each_line_once() {
        let first = vec![line(1, "a"), line(2, "b")];
        assert_eq!(new_log_lines(&[], &first), first.as_slice());
        // Appended at the end, trimmed at the front: only what follows the last printed line.
        let second = vec![line(2, "b"), line(3, "c"), line(3, "d")];
        assert_eq!(new_log_lines(&first, &second), &second[1..]);
        assert!(new_log_lines(&second, &second).is_empty());
        // The last printed line was trimmed away meanwhile: everything is new.
        let third = vec![line(9, "x")];
        assert_eq!(new_log_lines(&second, &third), third.as_slice());
    }
}
