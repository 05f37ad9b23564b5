//! [`PluginRunner`]: runs the deployed plugins while this node leads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use polis_plugin_host::PluginEngine;
use polis_plugin_layout::{Cursor, DEPLOYED_PATH, Deployment, PluginPaths, PluginStatus, Revision};
use polis_tree::Zxid;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::clock::Clock;
use super::revisions::revision_to_run;
use super::worker::Worker;
use crate::node::Node;

/// How often the runner looks at leadership and at the deployments, besides after every applied
/// change to them.
const RUNNER_TICK: Duration = Duration::from_millis(100);
/// The most plugins one node runs; deployments beyond it wait (and the runner logs it).
pub const DEPLOYED_PLUGINS_MAX: usize = 256;

/// A running worker and the switch that stops it.
struct RunningWorker {
    revision: u64,
    stop: watch::Sender<bool>,
    /// Where a newer revision takes over, once one does.
    handles_before: watch::Sender<Option<Zxid>>,
    task: JoinHandle<()>,
}

/// Plugins run on the leader only, in zxid order per plugin (see [`super::worker`]); every node
/// has a runner that starts the workers when the node becomes leader and stops them when it
/// stops leading, or when a deployment changes revision or goes away.
#[derive(Debug)]
pub struct PluginRunner {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PluginRunner {
    /// Starts the runner; it ends when the node stops or [`PluginRunner::shutdown`] is called.
    /// `clock_interval` is how often the leader ticks [`CLOCK_PATH`] for plugins that trigger on
    /// it (zero: never).
    pub fn spawn(node: Arc<Node>, engine: PluginEngine, clock_interval: Duration) -> PluginRunner {
        let (stop, stopped) = watch::channel(false);
        PluginRunner {
            stop,
            task: tokio::spawn(run(node, engine, clock_interval, stopped)),
        }
    }

    /// Stops every worker and waits until they have let go of the node, including an invocation
    /// in flight (bounded by its deadline), so that the node's storage can close.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

async fn run(
    node: Arc<Node>,
    engine: PluginEngine,
    clock_interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut stopping = node.stopping();
    let mut clock = Clock::new(clock_interval);
    let mut workers: BTreeMap<String, RunningWorker> = BTreeMap::new();
    let mut ticks = tokio::time::interval(RUNNER_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = stopping.changed() => {
                if changed.is_err() || *stopping.borrow() {
                    break;
                }
            }
            _ = stopped.wait_for(|stopped| *stopped) => break,
            _ = ticks.tick() => {}
        }
        let leading = node.raft.metrics().borrow().current_leader == Some(node.id);
        let wanted = if leading {
            deployed_revisions(&node).await
        } else {
            BTreeMap::new()
        };
        workers.retain(|name, worker| {
            let keep = wanted
                .get(name)
                .is_some_and(|(revision, _)| revision.revision == worker.revision)
                && !worker.task.is_finished();
            if keep && let Some((_, handles_before)) = wanted.get(name) {
                worker
                    .handles_before
                    .send_if_modified(|current| std::mem::replace(current, *handles_before) != *handles_before);
            }
            if !keep {
                worker.stop.send_replace(true);
                tracing::info!(plugin = %name, revision = worker.revision, "plugin stopped on this node");
            }
            keep
        });
        clock.tick_if_due(&node, &wanted);
        for (name, (revision, handles_before)) in wanted {
            if workers.contains_key(&name) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            let (bound, bounded) = watch::channel(handles_before);
            let number = revision.revision;
            let worker = Worker::new(node.clone(), engine.clone(), revision, bounded);
            let task = tokio::spawn(worker.run(stopped));
            workers.insert(
                name,
                RunningWorker {
                    revision: number,
                    stop,
                    handles_before: bound,
                    task,
                },
            );
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("polis_plugins_running").set(workers.len() as f64);
    }
    for worker in workers.values() {
        worker.stop.send_replace(true);
    }
    for (_, worker) in workers {
        let _ = worker.task.await;
    }
}

/// The revision every deployed plugin should run now, and where a newer one takes over, read
/// from the local tree (see [`revision_to_run`]).
async fn deployed_revisions(node: &Node) -> BTreeMap<String, (Revision, Option<Zxid>)> {
    let tree = node.reader.read().await;
    let Some((_, children)) = tree.node(DEPLOYED_PATH) else {
        return BTreeMap::new();
    };
    let mut wanted = BTreeMap::new();
    for name in children.iter() {
        if wanted.len() >= DEPLOYED_PLUGINS_MAX {
            tracing::warn!(
                limit = DEPLOYED_PLUGINS_MAX,
                "more plugins are deployed than one node runs"
            );
            break;
        }
        let path = format!("{DEPLOYED_PATH}/{name}");
        let Some((record, _)) = tree.node(&path) else {
            continue;
        };
        match serde_json::from_slice::<Deployment>(record.data_or_empty()) {
            Ok(deployment) if *deployment.current.manifest.name == **name => {
                let paths = PluginPaths::new(name);
                let Some((cursor_record, _)) = tree.node(&paths.cursor) else {
                    continue;
                };
                let cursor = Cursor::of_node(cursor_record.data_or_empty(), cursor_record.czxid);
                let state = tree
                    .node(&paths.status)
                    .and_then(|(status, _)| {
                        serde_json::from_slice::<PluginStatus>(status.data_or_empty()).ok()
                    })
                    .unwrap_or_default()
                    .state;
                wanted.insert(
                    name.to_string(),
                    revision_to_run(&deployment, record.mzxid, cursor, state),
                );
            }
            Ok(_) => tracing::warn!(plugin = %name, "a deployment names another plugin; ignored"),
            Err(error) => {
                tracing::warn!(plugin = %name, %error, "a deployment does not parse; ignored")
            }
        }
    }
    wanted
}
