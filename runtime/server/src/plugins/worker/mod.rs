//! One deployed plugin on the leader: from committed events to committed effects, exactly once.
//!
//! The worker reads the plugin's cursor, takes the next batch of matching events from the change
//! history ([`super::batch`]), runs the plugin on a blocking thread, and commits what it staged in
//! **one multi** together with the cursor's advance, conditioned on the cursor's version. If the
//! leader dies after the commit, the next leader reads the advanced cursor and skips the batch; if
//! it dies before, the cursor has not moved and the batch runs again; and if two leaders overlap
//! for a moment, the second commit fails on the cursor's version. Either way the tree sees each
//! batch's effects once.
//!
//! A failed invocation (trap, fuel, deadline, memory, capability, output, guest error) or a
//! refused commit (the plugin's writes conflict with the tree) is retried with exponential
//! backoff, one event at a time so that one bad event cannot hold back the others. Once the
//! manifest's attempts are used up, the event goes to the dead-letter node and the plugin moves
//! on, or the plugin pauses, as the manifest says. Every step is written to the status node.

mod commit;
mod component;
mod idle_step;

use std::sync::Arc;
use std::time::{Duration, Instant};

use polis_plugin_host::{
    EventBatch, FailureKind, InvocationOutcome, LogLevel, OnExhaustion, PluginEngine, PluginEvent,
    PluginInstance, RetryDecision,
};
use polis_plugin_layout::{
    Cursor, DeadLetter, DeadLetterEvent, PluginPaths, PluginState, PluginStatus, REPLAY_PREFIX,
    Revision, StoredLogLine, plugin_identity,
};
use polis_tree::{EventKind, Id, TreeError, Zxid};
use tokio::sync::watch;

use self::commit::CommitOutcome;
use self::component::{LoadFailure, read_component};
use self::idle_step::{IdleStep, idle_step};
use super::batch::{PendingBatch, Scan, next_batch};
use super::log_lines::trim_logs;
use super::view::LockedTreeView;
use crate::node::Node;

/// How long the worker waits before trying again when the cluster has no leader or this node
/// stopped leading mid-commit (the runner stops the worker if leadership moved for good).
const LEADER_RETRY_WAIT: Duration = Duration::from_millis(200);
/// Without matching events, the cursor is committed forward after this many history entries
/// were looked at (or a quarter of the history window, if smaller), so that an idle plugin's
/// cursor never falls out of the window and each look at the history stays short.
const IDLE_CURSOR_ADVANCE_ENTRIES: usize = 10_000;
/// How much longer than its deadline a stopping worker waits for an invocation in flight.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(1);

/// The plugin's position and counters, as this worker last committed or read them.
#[derive(Debug)]
struct Progress {
    cursor: Cursor,
    cursor_version: i32,
    status: PluginStatus,
    logs: Vec<StoredLogLine>,
    logs_changed: bool,
    /// Failed attempts at the one event at the cursor.
    attempts: u32,
    /// After a batch of several events failed: run one event at a time until the cursor passes
    /// this position, so that the bad event is found and the others go through.
    isolate_through: Option<Cursor>,
    /// A position past the cursor up to which no history entry concerns the plugin (found by an
    /// earlier look), and how many entries that look skipped since the cursor last moved.
    skipped: Option<Cursor>,
    skipped_entries: usize,
    /// The zxid of this worker's last commit of the cursor, and when it was made.
    last_commit: Option<(Zxid, Instant)>,
}

/// One plugin revision running on this node.
pub(super) struct Worker {
    node: Arc<Node>,
    engine: PluginEngine,
    revision: Revision,
    paths: PluginPaths,
    identities: Arc<[Id]>,
    /// Cloned into each invocation's blocking thread: while it has other owners an invocation
    /// is running, holding a handle on the tree.
    in_flight: Arc<()>,
    /// Set when a newer revision took effect at this zxid: this worker handles only the events
    /// before it, then ends (see [`super::revisions::revision_to_run`]).
    handles_before: watch::Receiver<Option<Zxid>>,
    /// `polis_plugin_cursor_zxid` and `polis_plugin_lag_entries` of this plugin, looked up once:
    /// an idle worker publishes its position after every applied change.
    cursor_gauge: metrics::Gauge,
    lag_gauge: metrics::Gauge,
}

impl Worker {
    pub(super) fn new(
        node: Arc<Node>,
        engine: PluginEngine,
        revision: Revision,
        handles_before: watch::Receiver<Option<Zxid>>,
    ) -> Worker {
        let name = revision.manifest.name.clone();
        Worker {
            node,
            engine,
            paths: PluginPaths::new(&name),
            identities: vec![plugin_identity(&name)].into(),
            in_flight: Arc::new(()),
            cursor_gauge: metrics::gauge!("polis_plugin_cursor_zxid", "plugin" => name.clone()),
            lag_gauge: metrics::gauge!("polis_plugin_lag_entries", "plugin" => name),
            revision,
            handles_before,
        }
    }

    fn name(&self) -> &str {
        &self.revision.manifest.name
    }

    /// Runs until `stop` says so (the runner: leadership moved, the revision changed, the node
    /// stops). An invocation cannot be interrupted from outside its thread; it ends by its
    /// deadline at the latest, and `run` returns only once it has, so that nothing still reads
    /// the node's tree after the runner has stopped.
    pub(super) async fn run(self, mut stop: watch::Receiver<bool>) {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => {}
            () = self.work() => {}
        }
        let bound =
            Duration::from_millis(self.revision.manifest.limits.deadline_ms) + IN_FLIGHT_GRACE;
        let started = std::time::Instant::now();
        while Arc::strong_count(&self.in_flight) > 1 && started.elapsed() < bound {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn work(&self) {
        let Some(deployment_mzxid) = self
            .node
            .reader
            .read()
            .await
            .node(&self.paths.deployment)
            .map(|(record, _)| record.mzxid)
        else {
            return std::future::pending().await;
        };
        let Some(mut progress) = self.read_progress().await else {
            // The deployment was removed under us; the runner will stop this worker.
            return std::future::pending().await;
        };
        if progress.status.state == PluginState::Paused
            && progress.status.revision == self.revision.revision
        {
            tracing::info!(plugin = self.name(), "paused; waiting for a new revision");
            return std::future::pending().await;
        }
        let instance = match self.load().await {
            Ok(instance) => instance,
            Err(failure) => {
                tracing::warn!(plugin = self.name(), %failure, "the plugin cannot run");
                progress.status.state = PluginState::Failed;
                progress.status.last_error = Some(failure.to_string());
                self.commit_status(&mut progress).await;
                return std::future::pending().await;
            }
        };
        if progress.status.revision != self.revision.revision
            || progress.status.state == PluginState::Deployed
            || progress.status.state == PluginState::Failed
        {
            progress.status.revision = self.revision.revision;
            progress.status.version = self.revision.manifest.version.clone();
            progress.status.state = PluginState::Running;
            progress.status.consecutive_failures = 0;
            self.commit_status(&mut progress).await;
        }
        tracing::info!(
            plugin = self.name(),
            revision = self.revision.revision,
            cursor = progress.cursor.zxid,
            "plugin running"
        );
        loop {
            if let Some((path, letter)) = self.pending_replay().await {
                self.replay(&instance, &mut progress, path, letter).await;
                continue;
            }
            let applied = self.node.hub.applied_zxid();
            let (scan, newer_revision_at) = match self.scan(&progress, deployment_mzxid).await {
                Ok((scan, newer_revision_at)) => (Ok(scan), newer_revision_at),
                Err(error) => (Err(error), None),
            };
            match scan {
                Err(TreeError::HistoryCompacted {
                    compacted_through, ..
                }) => {
                    self.skip_compacted(&mut progress, compacted_through).await;
                }
                Err(error) => {
                    tracing::warn!(plugin = self.name(), %error, "cannot read the history");
                    tokio::time::sleep(LEADER_RETRY_WAIT).await;
                }
                Ok(Scan {
                    batch: Some(batch), ..
                }) => {
                    self.handle_batch(&instance, &mut progress, batch).await;
                }
                Ok(Scan { batch: None, .. }) if newer_revision_at.is_some() => {
                    // Every event before the newer revision's zxid is handled: hand over.
                    let before = newer_revision_at.expect("checked just above");
                    self.hand_over(&mut progress, before).await;
                    return;
                }
                Ok(Scan {
                    batch: None,
                    scanned_through,
                    examined,
                }) => {
                    // The next look starts where this one ended, so an idle plugin looks at each
                    // history entry once, not once per later change.
                    progress.skipped = Some(scanned_through);
                    progress.skipped_entries += examined;
                    // Everything applied before the look began was looked at, including
                    // transactions that leave no history entry (sessions opening and closing).
                    let looked_through = if applied > scanned_through.zxid {
                        Cursor::after(applied)
                    } else {
                        scanned_through
                    };
                    self.publish_position(&progress, looked_through.zxid);
                    let window = self.node.limits.history_events_max / 4;
                    let step = idle_step(
                        progress.cursor,
                        looked_through,
                        progress.skipped_entries,
                        IDLE_CURSOR_ADVANCE_ENTRIES.min(window.max(1)),
                        applied,
                        progress.last_commit.map(|(zxid, at)| (zxid, at.elapsed())),
                    );
                    if let IdleStep::Advance(target) = step {
                        self.advance_idle(&mut progress, target).await;
                    } else {
                        // Idle until the next applied change, until a newer revision takes
                        // over (then everything before it may already be handled), or until
                        // the cursor is due to move.
                        let mut newer = self.handles_before.clone();
                        newer.borrow_and_update();
                        let due = async {
                            match step {
                                IdleStep::WaitAtMost(wait) => tokio::time::sleep(wait).await,
                                _ => std::future::pending().await,
                            }
                        };
                        tokio::select! {
                            () = self.node.hub.applied_through(applied + 1) => {}
                            _ = newer.changed() => {}
                            () = due => {}
                        }
                    }
                }
            }
        }
    }

    /// Reads the cursor, status and logs nodes; `None` if the deployment is gone.
    async fn read_progress(&self) -> Option<Progress> {
        let tree = self.node.reader.read().await;
        let (cursor_record, _) = tree.node(&self.paths.cursor)?;
        // A new plugin starts after the transaction that deployed it.
        let cursor = Cursor::of_node(cursor_record.data_or_empty(), cursor_record.czxid);
        let cursor_version = cursor_record.version;
        let status = tree
            .node(&self.paths.status)
            .and_then(|(record, _)| serde_json::from_slice(record.data_or_empty()).ok())
            .unwrap_or_default();
        let logs = tree
            .node(&self.paths.logs)
            .and_then(|(record, _)| serde_json::from_slice(record.data_or_empty()).ok())
            .unwrap_or_default();
        Some(Progress {
            cursor,
            cursor_version,
            status,
            logs,
            logs_changed: false,
            attempts: 0,
            isolate_through: None,
            skipped: None,
            skipped_entries: 0,
            last_commit: None,
        })
    }

    /// Reassembles the component from the tree, checks it, compiles it (or finds it in the
    /// engine's cache) and runs `init` once with the manifest's config.
    async fn load(&self) -> Result<PluginInstance, LoadFailure> {
        let sha256 = self.revision.component.clone();
        let bytes = {
            let tree = self.node.reader.read().await;
            read_component(&tree, &sha256)?
        };
        let engine = self.engine.clone();
        let manifest = self.revision.manifest.clone();
        let instance = tokio::task::spawn_blocking(move || {
            let instance = engine
                .instantiate(manifest, &bytes)
                .map_err(|error| LoadFailure::Plugin(error.to_string()))?;
            instance
                .check_config()
                .map_err(|error| LoadFailure::Plugin(format!("init failed: {error}")))?;
            Ok::<_, LoadFailure>(instance)
        })
        .await
        .map_err(|error| LoadFailure::Plugin(format!("loading stopped: {error}")))??;
        if instance.component().sha256() != sha256 {
            return Err(LoadFailure::ComponentCorrupt {
                sha256,
                reason: format!("its bytes hash to {}", instance.component().sha256()),
            });
        }
        Ok(instance)
    }

    /// The next batch of events for this revision, and the zxid at which a newer revision took
    /// over, if one did. The deployment record is read under the same hold of the tree's lock as
    /// the history: an event after an upgrade is only in the history once the upgrade is in the
    /// tree, so this revision never handles one, even before the runner has noticed.
    async fn scan(
        &self,
        progress: &Progress,
        deployment_mzxid: Zxid,
    ) -> Result<(Scan, Option<Zxid>), TreeError> {
        let tree = self.node.reader.read().await;
        // Only a revision change rewrites the deployment record, so a record changed since this
        // worker started names a newer revision, effective at its mzxid.
        let superseded_at = tree
            .node(&self.paths.deployment)
            .map(|(record, _)| record.mzxid)
            .filter(|mzxid| *mzxid != deployment_mzxid);
        let newer_revision_at = match (self.newer_revision_at(), superseded_at) {
            (Some(told), Some(seen)) => Some(told.min(seen)),
            (told, seen) => told.or(seen),
        };
        let manifest = &self.revision.manifest;
        // Nothing between the cursor and an earlier look's end concerns the plugin.
        let start = match progress.skipped {
            Some(skipped) if skipped.zxid > progress.cursor.zxid => skipped,
            _ => progress.cursor,
        };
        // Events of the start's own transaction are still wanted when it was only partly handled.
        let after = if start.handled_in_zxid.is_some() {
            start.zxid - 1
        } else {
            start.zxid
        };
        let entries = tree.history().since(after)?.take_while(move |entry| {
            newer_revision_at.is_none_or(|before| entry.event.zxid < before)
        });
        let isolating = progress.isolate_through.is_some_and(|through| {
            progress.cursor.zxid < through.zxid
                || (progress.cursor.zxid == through.zxid
                    && progress.cursor.handled_in_zxid.is_some())
        });
        let events_max = if isolating || progress.attempts > 0 {
            // Retrying: one event at a time, so that a bad event is isolated.
            1
        } else {
            manifest.limits.events_per_batch_max as usize
        };
        Ok((
            next_batch(entries, start, &manifest.triggers, events_max),
            newer_revision_at,
        ))
    }

    /// The events as the plugin gets them: with the node's data when the plugin may read it
    /// and the node still holds what the event's transaction wrote (a later change has its own
    /// event, which carries the newer data).
    async fn plugin_events(&self, batch: &PendingBatch) -> Vec<PluginEvent> {
        let tree = self.node.reader.read().await;
        let capabilities = &self.revision.manifest.capabilities;
        batch
            .events
            .iter()
            .map(|event| {
                let wants_data = matches!(
                    event.kind,
                    EventKind::NodeCreated | EventKind::NodeDataChanged
                ) && capabilities.can_read(&event.path);
                let data = wants_data
                    .then(|| tree.get_data(&event.path, &self.identities).ok())
                    .flatten()
                    .filter(|(_, stat)| stat.mzxid == event.zxid)
                    .map(|(data, _)| data.unwrap_or_default().to_vec());
                PluginEvent::new(event, data)
            })
            .collect()
    }

    async fn invoke(&self, instance: &PluginInstance, batch: EventBatch) -> InvocationOutcome {
        let instance = instance.clone();
        let reader = self.node.reader.clone();
        let identities = self.identities.clone();
        let limits = self.node.limits.clone();
        let name = self.name().to_string();
        let in_flight = self.in_flight.clone();
        tokio::task::spawn_blocking(move || {
            let _in_flight = in_flight;
            let view = LockedTreeView::new(&reader, &identities, &limits);
            instance.invoke(&batch, &view)
        })
        .await
        .unwrap_or_else(|error| InvocationOutcome {
            plugin: name,
            result: Err(polis_plugin_host::PluginFailure::Trap {
                message: format!("the invocation thread failed: {error}"),
            }),
            logs: Vec::new(),
            fuel_used: 0,
            elapsed: Duration::ZERO,
        })
    }

    async fn handle_batch(
        &self,
        instance: &PluginInstance,
        progress: &mut Progress,
        batch: PendingBatch,
    ) {
        let events = self.plugin_events(&batch).await;
        let first_zxid = batch.events.first().map_or(0, |event| event.zxid);
        let outcome = self
            .invoke(
                instance,
                EventBatch::new(batch.commit_time_ms, events.clone()),
            )
            .await;
        self.keep_logs(progress, &outcome, first_zxid);
        let failure = match outcome.result {
            Ok(staged) => {
                let staged_len = staged.ops.len();
                progress.status.processed_events += batch.events.len() as u64;
                progress.status.committed_batches += 1;
                progress.status.state = PluginState::Running;
                progress.status.consecutive_failures = 0;
                progress.status.cursor_zxid = batch.cursor_after.zxid;
                match self
                    .commit_with_cursor(progress, staged.ops, batch.cursor_after)
                    .await
                {
                    CommitOutcome::Committed => {
                        progress.attempts = 0;
                        metrics::counter!("polis_plugin_commits_total", "plugin" => self.name().to_string())
                            .increment(1);
                        self.publish_position(progress, progress.cursor.zxid);
                        return;
                    }
                    CommitOutcome::CursorMoved | CommitOutcome::NoLeader => {
                        self.reload(progress).await;
                        return;
                    }
                    CommitOutcome::Refused(reason) => {
                        // Undo the optimistic counters: nothing was committed.
                        progress.status.processed_events -= batch.events.len() as u64;
                        progress.status.committed_batches -= 1;
                        metrics::counter!(
                            polis_plugin_host::metrics::FAILURES,
                            "plugin" => self.name().to_string(),
                            "kind" => "commit_refused"
                        )
                        .increment(1);
                        format!("the tree refused the plugin's {staged_len} writes: {reason}")
                    }
                }
            }
            Err(failure) => {
                if failure.kind() == FailureKind::Unavailable {
                    // The host is saturated: not the plugin's fault, try again shortly.
                    tokio::time::sleep(LEADER_RETRY_WAIT).await;
                    return;
                }
                failure.to_string()
            }
        };
        self.handle_failure(progress, &batch, first_zxid, failure)
            .await;
    }

    async fn handle_failure(
        &self,
        progress: &mut Progress,
        batch: &PendingBatch,
        first_zxid: Zxid,
        error: String,
    ) {
        progress.status.failures += 1;
        progress.status.last_error = Some(error.clone());
        progress.status.last_error_zxid = Some(first_zxid);
        tracing::warn!(plugin = self.name(), zxid = first_zxid, %error, "plugin invocation failed");
        if batch.events.len() > 1 {
            // Which event is at fault is unknown: retry the batch one event at a time, at once,
            // so that the others go through and the policy counts against the bad one alone.
            progress.isolate_through = Some(batch.cursor_after);
            progress.attempts = 0;
            progress.status.consecutive_failures = 0;
            progress.status.state = PluginState::Retrying;
            self.commit_status(progress).await;
            return;
        }
        progress.attempts += 1;
        progress.status.consecutive_failures = progress.attempts;
        match self
            .revision
            .manifest
            .retry
            .after_failure(progress.attempts)
        {
            RetryDecision::RetryAfter(wait) => {
                progress.status.state = PluginState::Retrying;
                self.commit_status(progress).await;
                tokio::time::sleep(wait).await;
            }
            RetryDecision::Exhausted(OnExhaustion::DeadLetterAndContinue) => {
                let events = batch.events.iter().map(dead_letter_event).collect();
                let attempts = progress.attempts;
                self.commit_dead_letter(progress, events, error, attempts, batch.cursor_after)
                    .await;
            }
            RetryDecision::Exhausted(OnExhaustion::Pause) => {
                progress.status.state = PluginState::Paused;
                self.commit_status(progress).await;
                tracing::warn!(
                    plugin = self.name(),
                    "plugin paused after repeated failures"
                );
                std::future::pending::<()>().await;
            }
        }
    }

    /// The history no longer holds events the plugin has not handled (it was stopped or failing
    /// for longer than the window). Nothing can bring them back; the gap is recorded as a dead
    /// letter, so an operator sees it, and the plugin goes on after it.
    async fn skip_compacted(&self, progress: &mut Progress, compacted_through: Zxid) {
        let error = format!(
            "the events after zxid {} through zxid {compacted_through} left the change history \
             before the plugin handled them",
            progress.cursor.zxid
        );
        tracing::error!(plugin = self.name(), %error, "plugin missed events");
        progress.status.last_error = Some(error.clone());
        progress.status.last_error_zxid = Some(progress.cursor.zxid);
        self.commit_dead_letter(
            progress,
            Vec::new(),
            error,
            0,
            Cursor::after(compacted_through),
        )
        .await;
    }

    /// Moves the cursor over history entries none of which concern the plugin.
    async fn advance_idle(&self, progress: &mut Progress, scanned_through: Cursor) {
        progress.status.cursor_zxid = scanned_through.zxid;
        if !matches!(
            self.commit_with_cursor(progress, Vec::new(), scanned_through)
                .await,
            CommitOutcome::Committed
        ) {
            self.reload(progress).await;
        }
    }

    /// The first dead letter an administrator asked to replay, with its path, if any.
    async fn pending_replay(&self) -> Option<(String, DeadLetter)> {
        let tree = self.node.reader.read().await;
        let (_, children) = tree.node(&self.paths.dead_letter)?;
        let child = children
            .range::<str, _>((
                std::ops::Bound::Included(REPLAY_PREFIX),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .filter(|child| child.starts_with(REPLAY_PREFIX))?;
        let path = format!("{}/{child}", self.paths.dead_letter);
        let (record, _) = tree.node(&path)?;
        match serde_json::from_slice(record.data_or_empty()) {
            Ok(letter) => Some((path, letter)),
            Err(error) => {
                tracing::warn!(plugin = self.name(), %path, %error, "a replay request does not parse");
                None
            }
        }
    }

    /// Runs a dead letter's events again with this revision: the events as recorded, each with
    /// its node's data if the node still holds what that event's transaction wrote, at the
    /// tree's current commit time. The cursor does not move; the replay request is consumed by
    /// the commit, so a replay happens at most once even across leaders.
    async fn replay(
        &self,
        instance: &PluginInstance,
        progress: &mut Progress,
        path: String,
        letter: DeadLetter,
    ) {
        let events: Vec<polis_tree::WatchEvent> =
            letter.events.iter().filter_map(recorded_event).collect();
        let commit_time_ms = self.node.reader.read().await.last_time_ms();
        let batch = PendingBatch {
            events,
            cursor_after: progress.cursor,
            commit_time_ms,
        };
        let first_zxid = batch.events.first().map_or(0, |event| event.zxid);
        let plugin_events = self.plugin_events(&batch).await;
        let outcome = self
            .invoke(instance, EventBatch::new(commit_time_ms, plugin_events))
            .await;
        self.keep_logs(progress, &outcome, first_zxid);
        let replayed = match outcome.result {
            Ok(staged) => {
                self.commit_replay(progress, staged.ops, &path, &letter)
                    .await
            }
            Err(failure) => {
                self.commit_replay_failed(progress, &path, &letter, failure.to_string())
                    .await
            }
        };
        tracing::info!(plugin = self.name(), %path, replayed, "replayed a dead letter");
    }

    /// The zxid at which a newer revision took over, if one did.
    fn newer_revision_at(&self) -> Option<Zxid> {
        *self.handles_before.borrow()
    }

    /// Records that every event before `before` is handled, so that the newer revision starts
    /// there; if another commit overtook this one, the runner decides again from what is stored.
    async fn hand_over(&self, progress: &mut Progress, before: Zxid) {
        let through = Cursor::after(before - 1);
        if progress.cursor.zxid < through.zxid || progress.cursor.handled_in_zxid.is_some() {
            self.advance_idle(progress, through).await;
        }
        tracing::info!(
            plugin = self.name(),
            revision = self.revision.revision,
            before,
            "handed over to the newer revision"
        );
    }

    /// Re-reads the plugin's state after another commit overtook this worker's.
    async fn reload(&self, progress: &mut Progress) {
        match self.read_progress().await {
            Some(fresh) => *progress = fresh,
            None => std::future::pending().await,
        }
    }

    fn keep_logs(&self, progress: &mut Progress, outcome: &InvocationOutcome, zxid: Zxid) {
        for line in &outcome.logs {
            tracing::debug!(plugin = self.name(), level = ?line.level, message = %line.message, "plugin log");
            progress.logs.push(StoredLogLine {
                zxid,
                level: level_name(line.level).to_string(),
                message: line.message.clone(),
            });
            progress.logs_changed = true;
        }
        trim_logs(&mut progress.logs);
    }

    /// Publishes the cursor and the lag behind the applied zxid, counted from `looked_through`:
    /// the cursor, or past it where a look found nothing for the plugin up to there.
    fn publish_position(&self, progress: &Progress, looked_through: Zxid) {
        debug_assert!(looked_through >= progress.cursor.zxid);
        let lag = polis_raft::entries_between(looked_through, self.node.hub.applied_zxid());
        // Zxids and entry counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        {
            self.cursor_gauge.set(progress.cursor.zxid as f64);
            self.lag_gauge.set(lag as f64);
        }
    }
}

/// The event a dead letter recorded (its kind as `dead_letter_event` names it).
fn recorded_event(event: &DeadLetterEvent) -> Option<polis_tree::WatchEvent> {
    let kind = match event.kind.as_str() {
        "NodeCreated" => EventKind::NodeCreated,
        "NodeDeleted" => EventKind::NodeDeleted,
        "NodeDataChanged" => EventKind::NodeDataChanged,
        "NodeChildrenChanged" => EventKind::NodeChildrenChanged,
        _ => return None,
    };
    Some(polis_tree::WatchEvent {
        zxid: event.zxid,
        kind,
        path: event.path.clone(),
    })
}

fn dead_letter_event(event: &polis_tree::WatchEvent) -> DeadLetterEvent {
    DeadLetterEvent {
        path: event.path.clone(),
        kind: format!("{:?}", event.kind),
        zxid: event.zxid,
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
