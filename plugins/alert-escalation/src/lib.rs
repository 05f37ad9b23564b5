//! Acknowledgements and escalation of the alert fan-out's notifications.
//!
//! Time comes from committed events only: the plugin triggers on `/polis/clock`, which the leader
//! sets to its wall clock every `plugins.clock_interval_ms` while a plugin triggers on it, and
//! reads "now" as the batch's commit time. A replayed batch sees the same time, so escalation is
//! as deterministic (and exactly-once) as any other effect.
//!
//! - A thread state written by `alert-fanout` (`<root>/alerts/state/<thread>`, actual alerts
//!   only) opens or renews `<root>/alerts/acks/<thread>`: every notified district pending, a
//!   deadline `ack_window_ms` after the notifying commit, and an entry
//!   `<root>/alerts/pending/<deadline, 15 digits>-<thread>` so a tick finds the overdue threads
//!   by reading names in order, not every thread.
//! - A district acknowledges by writing the notification's `key` into
//!   `<root>/notifications/<district>/<thread>/ack`; an acknowledgement naming an older message of
//!   the thread is ignored (the update asks again).
//! - On a tick, each overdue thread's pending districts get
//!   `<root>/escalations/<district>/<thread>` and become escalated.

pub mod ack_state;

use polis_plugin_sdk::{Context, CreateMode, EventKind, Plugin, WatchEvent};
use serde::Deserialize;

use crate::ack_state::{AckState, FanoutState, Progress};
use polis_plugin_sdk::Staging;

/// The path of the leader clock.
pub const CLOCK_PATH: &str = "/polis/clock";
/// The longest acknowledgement window a config may set: a day.
pub const ACK_WINDOW_MS_MAX: i64 = 86_400_000;

/// ```json
/// {"root": "/city", "ack_window_ms": 300000, "escalations_per_tick_max": 32}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub root: String,
    /// How long a district has to acknowledge, from the commit that notified it.
    pub ack_window_ms: i64,
    /// The most overdue threads one tick escalates; the rest wait for the next tick, so one
    /// commit stays bounded.
    pub escalations_per_tick_max: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: "/city".into(),
            ack_window_ms: 300_000,
            escalations_per_tick_max: 32,
        }
    }
}

impl Config {
    pub fn parse(blob: &[u8]) -> Result<Config, String> {
        let config: Config = if blob.iter().all(u8::is_ascii_whitespace) {
            Config::default()
        } else {
            serde_json::from_slice(blob).map_err(|error| format!("config: {error}"))?
        };
        if !config.root.starts_with('/') || config.root.ends_with('/') {
            return Err(format!(
                "config: root {:?} is not an absolute path",
                config.root
            ));
        }
        if !(1..=ACK_WINDOW_MS_MAX).contains(&config.ack_window_ms) {
            return Err(format!(
                "config: ack_window_ms must be within 1..={ACK_WINDOW_MS_MAX}"
            ));
        }
        if config.escalations_per_tick_max == 0 {
            return Err("config: escalations_per_tick_max must be positive".into());
        }
        Ok(config)
    }

    fn acks(&self, thread: &str) -> String {
        format!("{}/alerts/acks/{thread}", self.root)
    }
    fn pending_dir(&self) -> String {
        format!("{}/alerts/pending", self.root)
    }
    fn ack_node(&self, district: &str, thread: &str) -> String {
        format!("{}/notifications/{district}/{thread}/ack", self.root)
    }
}

/// What an event means to this plugin.
enum Meaning<'e> {
    Tick,
    ThreadState { thread: &'e str },
    Ack { district: &'e str, thread: &'e str },
    Nothing,
}

fn meaning<'e>(config: &Config, event: &'e WatchEvent) -> Meaning<'e> {
    if event.path == CLOCK_PATH {
        return Meaning::Tick;
    }
    let Some(rest) = event.path.strip_prefix(config.root.as_str()) else {
        return Meaning::Nothing;
    };
    let parts: Vec<&'e str> = rest.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["alerts", "state", thread]
            if matches!(
                event.kind,
                EventKind::NodeCreated | EventKind::NodeDataChanged
            ) =>
        {
            Meaning::ThreadState { thread }
        }
        ["notifications", district, thread, "ack"] if event.kind == EventKind::NodeDataChanged => {
            Meaning::Ack { district, thread }
        }
        _ => Meaning::Nothing,
    }
}

fn pending_entry(deadline_ms: i64, thread: &str) -> String {
    format!("{deadline_ms:015}-{thread}")
}

fn load(stage: &mut Staging<'_, '_>, path: &str) -> Result<Option<AckState>, String> {
    stage
        .get(path)?
        .map(|data| AckState::from_json(&data))
        .transpose()
}

/// Drops the thread's pending entry, and makes a new one if districts still owe an ack.
fn reschedule(
    config: &Config,
    stage: &mut Staging<'_, '_>,
    state: &mut AckState,
    deadline_ms: Option<i64>,
) -> Result<(), String> {
    let wanted = deadline_ms
        .filter(|_| state.has_pending())
        .map(|deadline| pending_entry(deadline, &state.thread));
    if wanted == state.pending_entry {
        return Ok(());
    }
    if let Some(old) = state.pending_entry.take() {
        stage.remove(&format!("{}/{old}", config.pending_dir()))?;
    }
    if let Some(entry) = &wanted {
        stage.ensure(&config.pending_dir())?;
        stage.put(
            &format!("{}/{entry}", config.pending_dir()),
            b"",
            CreateMode::Persistent,
        )?;
    }
    state.pending_entry = wanted;
    state.deadline_ms = deadline_ms.filter(|_| state.has_pending());
    Ok(())
}

fn on_thread_state(
    config: &Config,
    stage: &mut Staging<'_, '_>,
    thread: &str,
) -> Result<(), String> {
    let Some(data) = stage.get(&format!("{}/alerts/state/{thread}", config.root))? else {
        return Ok(());
    };
    let fanout: FanoutState =
        serde_json::from_slice(&data).map_err(|error| format!("thread state: {error}"))?;
    if !fanout.actual {
        return Ok(());
    }
    let path = config.acks(thread);
    let mut state = load(stage, &path)?.unwrap_or_else(|| AckState {
        thread: thread.to_string(),
        ..AckState::default()
    });
    if state.key == fanout.current {
        return Ok(());
    }
    state.key = fanout.current.clone();
    for (district, told) in &fanout.districts {
        let progress = if fanout.cancelled || told != "notified" {
            Progress::Released
        } else {
            // The district may have acknowledged before this plugin caught up.
            let acked = stage
                .get(&config.ack_node(district, thread))?
                .is_some_and(|ack| String::from_utf8_lossy(&ack).trim() == fanout.current);
            if acked {
                Progress::Acked
            } else {
                Progress::Pending
            }
        };
        state.districts.insert(district.clone(), progress);
    }
    reschedule(
        config,
        stage,
        &mut state,
        Some(fanout.notified_ms + config.ack_window_ms),
    )?;
    stage.ensure(&format!("{}/alerts/acks", config.root))?;
    stage.put(&path, &state.to_json(), CreateMode::Persistent)
}

fn on_ack(
    config: &Config,
    stage: &mut Staging<'_, '_>,
    district: &str,
    thread: &str,
    data: Option<&[u8]>,
) -> Result<(), String> {
    let acked_key = match data {
        Some(data) => String::from_utf8_lossy(data).trim().to_string(),
        None => match stage.get(&config.ack_node(district, thread))? {
            Some(data) => String::from_utf8_lossy(&data).trim().to_string(),
            None => return Ok(()),
        },
    };
    let path = config.acks(thread);
    let Some(mut state) = load(stage, &path)? else {
        return Ok(());
    };
    if acked_key != state.key {
        stage.context().info(format!(
            "{district} acknowledged {acked_key:?}, not the current {} of {thread}",
            state.key
        ));
        return Ok(());
    }
    match state.districts.get(district) {
        Some(Progress::Pending | Progress::Escalated) => {}
        _ => return Ok(()),
    }
    state
        .districts
        .insert(district.to_string(), Progress::Acked);
    let deadline = state.deadline_ms;
    reschedule(config, stage, &mut state, deadline)?;
    stage.put(&path, &state.to_json(), CreateMode::Persistent)
}

fn on_tick(config: &Config, stage: &mut Staging<'_, '_>, now_ms: i64) -> Result<(), String> {
    let entries = stage.committed_children(&config.pending_dir())?;
    for entry in entries.iter().take(config.escalations_per_tick_max) {
        let Some((deadline, thread)) = entry.split_once('-') else {
            continue;
        };
        let Ok(deadline_ms) = deadline.parse::<i64>() else {
            continue;
        };
        // Names sort by deadline: the first one in the future ends the scan.
        if deadline_ms > now_ms {
            break;
        }
        let path = config.acks(thread);
        let Some(mut state) = load(stage, &path)? else {
            stage.remove(&format!("{}/{entry}", config.pending_dir()))?;
            continue;
        };
        if state.pending_entry.as_deref() != Some(entry.as_str()) {
            // Rescheduled in this batch already.
            continue;
        }
        let overdue: Vec<String> = state
            .districts
            .iter()
            .filter(|(_, progress)| **progress == Progress::Pending)
            .map(|(name, _)| name.clone())
            .collect();
        for district in &overdue {
            let escalation = serde_json::json!({
                "thread": thread,
                "key": state.key,
                "district": district,
                "deadline_ms": deadline_ms,
                "escalated_ms": now_ms,
            });
            stage.ensure(&format!("{}/escalations", config.root))?;
            stage.ensure(&format!("{}/escalations/{district}", config.root))?;
            stage.put(
                &format!("{}/escalations/{district}/{thread}", config.root),
                escalation.to_string().as_bytes(),
                CreateMode::Persistent,
            )?;
            state
                .districts
                .insert(district.clone(), Progress::Escalated);
        }
        stage
            .context()
            .warn(format!("{thread}: escalated {}", overdue.join(", ")));
        reschedule(config, stage, &mut state, None)?;
        stage.put(&path, &state.to_json(), CreateMode::Persistent)?;
    }
    Ok(())
}

/// The plugin.
#[derive(Debug)]
pub struct AlertEscalation;

impl Plugin for AlertEscalation {
    fn init(config: &[u8]) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let config = Config::parse(ctx.config())?;
        let now_ms = ctx.commit_time_ms();
        let mut stage = Staging::new(ctx);
        let mut ticked = false;
        for event in events {
            match meaning(&config, event) {
                Meaning::Tick => ticked = true,
                Meaning::ThreadState { thread } => on_thread_state(&config, &mut stage, thread)?,
                Meaning::Ack { district, thread } => {
                    on_ack(&config, &mut stage, district, thread, event.data.as_deref())?
                }
                Meaning::Nothing => {}
            }
        }
        if ticked {
            on_tick(&config, &mut stage, now_ms)?;
        }
        Ok(())
    }
}

polis_plugin_sdk::export_plugin!(AlertEscalation);

#[cfg(test)]
mod tests {
    use polis_plugin_sdk::testing::MemoryTree;

    use super::*;

    const CONFIG: &[u8] = br#"{"ack_window_ms": 1000}"#;

    /// A tree where the fan-out notified harbor and airport of thread t1 with message k1.
    fn notified() -> (MemoryTree, Vec<WatchEvent>) {
        let mut tree = MemoryTree::new();
        tree.create("/polis/clock", b"0");
        for district in ["harbor", "airport"] {
            tree.create(&format!("/city/notifications/{district}/t1/ack"), b"");
        }
        let now = tree.time_ms();
        let state = serde_json::json!({
            "current": "k1", "actual": true, "cancelled": false, "notified_ms": now,
            "districts": {"harbor": "notified", "airport": "notified"}
        });
        let events = tree.create("/city/alerts/state/t1", state.to_string().as_bytes());
        (tree, events)
    }

    fn state(tree: &MemoryTree) -> AckState {
        AckState::from_json(&tree.get("/city/alerts/acks/t1").unwrap()).unwrap()
    }

    fn tick(tree: &mut MemoryTree, after_ms: i64) {
        tree.advance_time(after_ms);
        let events = tree.set("/polis/clock", tree.time_ms().to_string().as_bytes());
        tree.run::<AlertEscalation>(CONFIG, &events).expect("tick");
    }

    #[test]
    fn a_notified_thread_waits_for_every_district() {
        let (mut tree, events) = notified();
        tree.run::<AlertEscalation>(CONFIG, &events).unwrap();
        let state = state(&tree);
        assert_eq!(state.pending, ["airport", "harbor"]);
        assert_eq!(tree.children("/city/alerts/pending").len(), 1);
    }

    #[test]
    fn a_district_that_acks_in_time_is_not_escalated() {
        let (mut tree, events) = notified();
        tree.run::<AlertEscalation>(CONFIG, &events).unwrap();
        let ack = tree.set("/city/notifications/harbor/t1/ack", b"k1");
        tree.run::<AlertEscalation>(CONFIG, &ack).unwrap();
        tick(&mut tree, 500);
        assert!(tree.children("/city/escalations").is_empty());
        tick(&mut tree, 600);
        assert_eq!(tree.children("/city/escalations"), ["airport"]);
        let state = state(&tree);
        assert_eq!(state.acked, ["harbor"]);
        assert_eq!(state.escalated, ["airport"]);
        assert!(tree.children("/city/alerts/pending").is_empty());
    }

    #[test]
    fn when_all_ack_nothing_waits() {
        let (mut tree, events) = notified();
        tree.run::<AlertEscalation>(CONFIG, &events).unwrap();
        for district in ["harbor", "airport"] {
            let ack = tree.set(&format!("/city/notifications/{district}/t1/ack"), b"k1");
            tree.run::<AlertEscalation>(CONFIG, &ack).unwrap();
        }
        assert!(tree.children("/city/alerts/pending").is_empty());
        tick(&mut tree, 5_000);
        assert!(tree.get("/city/escalations").is_none());
    }

    #[test]
    fn an_ack_of_an_older_message_does_not_count() {
        let (mut tree, events) = notified();
        tree.run::<AlertEscalation>(CONFIG, &events).unwrap();
        let ack = tree.set("/city/notifications/harbor/t1/ack", b"k0");
        tree.run::<AlertEscalation>(CONFIG, &ack).unwrap();
        assert_eq!(state(&tree).pending, ["airport", "harbor"]);
    }
}
