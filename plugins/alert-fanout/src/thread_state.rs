//! The state node of an alert thread (`<root>/alerts/state/<thread>`): an alert and the updates
//! and cancel that replace it share one thread, named by the first alert's key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the fan-out last told a district about the thread. Acknowledgements and escalations are
/// the `alert-escalation` plugin's, in `<root>/alerts/acks/<thread>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistrictProgress {
    /// It holds the current message and should act on it (and acknowledge an actual one).
    Notified,
    /// Told that the alert no longer concerns it (cancelled, or outside an update's area).
    Released,
}

/// The thread's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadState {
    pub thread: String,
    /// The key of the latest message of the thread.
    pub current: String,
    /// Every key of the thread, oldest first; all but the last are superseded.
    pub keys: Vec<String>,
    pub msg_type: String,
    pub status: String,
    pub actual: bool,
    pub cancelled: bool,
    /// The commit time of the latest message, in ms: the acknowledgement window starts here.
    pub notified_ms: i64,
    pub districts: BTreeMap<String, DistrictProgress>,
}

impl ThreadState {
    pub fn with(&self, progress: DistrictProgress) -> Vec<String> {
        self.districts
            .iter()
            .filter(|(_, state)| **state == progress)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(data: &[u8]) -> Result<ThreadState, String> {
        serde_json::from_slice(data).map_err(|error| format!("thread state: {error}"))
    }
}

/// `<root>/alerts/keys/<key>`: the dedupe record of one accepted message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub thread: String,
    /// The inbox node the message came from: the full alert, as published.
    pub alert: String,
    pub msg_type: String,
    /// The key of the message that replaced this one.
    pub superseded_by: Option<String>,
}

impl KeyRecord {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(data: &[u8]) -> Result<KeyRecord, String> {
        serde_json::from_slice(data).map_err(|error| format!("key record: {error}"))
    }
}
