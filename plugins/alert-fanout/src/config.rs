//! The plugin's config blob (JSON, every field optional) and the tree layout it implies.

use serde::Deserialize;

/// The longest acknowledgement window a config may set: a day.
pub const ACK_WINDOW_MS_MAX: i64 = 86_400_000;

/// ```json
/// {"root": "/city", "ack_window_ms": 300000, "escalations_per_tick_max": 64}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the city lives in the tree.
    pub root: String,
    /// How long a district has to acknowledge an actual alert (or its update) before it is
    /// escalated; counted from the commit that notified it.
    pub ack_window_ms: i64,
    /// The most overdue alerts one clock tick escalates; the rest wait for the next tick, so one
    /// tick's commit stays bounded.
    pub escalations_per_tick_max: usize,
    /// The most districts the registry may hold: bounds the reads and writes of one alert. One
    /// alert to N districts stages up to 3N + 4 writes (a notification, its `ack` node and, the
    /// first time, the district's folder), so 300 stays under the host's 1024 operations per
    /// commit when a batch that holds more fails and the host retries it one event at a time.
    pub districts_max: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: "/city".into(),
            ack_window_ms: 300_000,
            escalations_per_tick_max: 64,
            districts_max: 300,
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
        if config.escalations_per_tick_max == 0 || config.districts_max == 0 {
            return Err("config: the per-tick and district bounds must be positive".into());
        }
        Ok(config)
    }

    pub fn inbox(&self) -> String {
        format!("{}/alerts/inbox", self.root)
    }
    /// An alerting agency's registry entry: who it is and which CAP senders it speaks for.
    pub fn agency(&self, agency: &str) -> String {
        format!("{}/agencies/{agency}", self.root)
    }
    pub fn rejected(&self, id: &str) -> String {
        format!("{}/alerts/rejected/{id}", self.root)
    }
    pub fn duplicates(&self, id: &str) -> String {
        format!("{}/alerts/duplicates/{id}", self.root)
    }
    pub fn key_record(&self, key: &str) -> String {
        format!("{}/alerts/keys/{key}", self.root)
    }
    pub fn state(&self, thread: &str) -> String {
        format!("{}/alerts/state/{thread}", self.root)
    }
    pub fn pending_dir(&self) -> String {
        format!("{}/alerts/pending", self.root)
    }
    pub fn pending(&self, thread: &str) -> String {
        format!("{}/pending/{thread}", self.alerts())
    }
    fn alerts(&self) -> String {
        format!("{}/alerts", self.root)
    }
    pub fn districts(&self) -> String {
        format!("{}/districts", self.root)
    }
    /// Where a district's notifications go: actual alerts and the rest (Test, Exercise, System)
    /// in separate subtrees, so a drill never lands where real alerts are acted on.
    pub fn notifications(&self, actual: bool) -> String {
        if actual {
            format!("{}/notifications", self.root)
        } else {
            format!("{}/exercises", self.root)
        }
    }
    pub fn notification(&self, actual: bool, district: &str, thread: &str) -> String {
        format!("{}/{district}/{thread}", self.notifications(actual))
    }
    pub fn escalation(&self, district: &str, thread: &str) -> String {
        format!("{}/escalations/{district}/{thread}", self.root)
    }
}
