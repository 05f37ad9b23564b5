//! `<root>/alerts/acks/<thread>`: where each district stands with the current message of an
//! actual alert thread. This plugin is its only writer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Progress {
    Pending,
    Acked,
    /// Not acknowledged by the deadline: `<root>/escalations/<district>/<thread>` exists.
    Escalated,
    /// The thread no longer concerns it (cancelled, or outside an update's area).
    Released,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AckState {
    pub thread: String,
    /// The message acknowledgements must name; a new one (an update) asks for them again.
    pub key: String,
    pub deadline_ms: Option<i64>,
    /// The name of this thread's entry under `<root>/alerts/pending`, while it has one.
    pub pending_entry: Option<String>,
    pub districts: BTreeMap<String, Progress>,
    /// Derived from `districts`, for readers: who has and has not acknowledged.
    pub acked: Vec<String>,
    pub pending: Vec<String>,
    pub escalated: Vec<String>,
}

impl AckState {
    pub fn has_pending(&self) -> bool {
        self.districts.values().any(|p| *p == Progress::Pending)
    }

    pub fn to_json(&mut self) -> Vec<u8> {
        let with = |wanted: Progress| {
            self.districts
                .iter()
                .filter(|(_, progress)| **progress == wanted)
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        };
        self.acked = with(Progress::Acked);
        self.pending = with(Progress::Pending);
        self.escalated = with(Progress::Escalated);
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(data: &[u8]) -> Result<AckState, String> {
        serde_json::from_slice(data).map_err(|error| format!("ack state: {error}"))
    }
}

/// The fields of the fan-out's thread state this plugin reads (`alert-fanout`'s
/// `ThreadState`, by JSON: the plugins share no code).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FanoutState {
    pub current: String,
    pub actual: bool,
    pub cancelled: bool,
    pub notified_ms: i64,
    /// District → "notified" or "released".
    pub districts: BTreeMap<String, String>,
}
