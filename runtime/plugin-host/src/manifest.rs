//! The plugin manifest: what a plugin reacts to, what it may touch, its limits, its retry policy
//! and its config blob. Read from TOML or JSON, validated, with documented defaults.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use polis_tree::{EventKind, WatchEvent, path};
use serde::{Deserialize, Serialize};

/// The longest path a manifest may name (the tree's default `path_len_max`).
const PREFIX_LEN_MAX: usize = 4096;
/// The most prefixes in one list of a manifest.
const PREFIXES_MAX: usize = 64;
/// The largest config blob.
pub const CONFIG_LEN_MAX: usize = 1024 * 1024;
/// The longest deadline a manifest may ask for.
pub const DEADLINE_MS_MAX: u64 = 60_000;
/// The most a manifest may ask for as `staged_bytes_max`. An invocation's staged writes commit
/// as one `multi` together with the cursor, status and log, in one proposal, which the server
/// refuses above 4 MiB (`polis_raft::PROPOSAL_REQUEST_BYTES_MAX`, the bound that keeps every
/// entry within what the peer transport carries); this leaves a mebibyte for the rest.
pub const STAGED_BYTES_MAX_CEILING: u64 = 3 * 1024 * 1024;

/// A plugin's manifest.
///
/// ```toml
/// name = "district-fanout"          # [a-z0-9][a-z0-9._-]{0,63}: metric label, node name
/// version = "1.2.0"
/// config = '{"districts": "/city/districts"}'   # optional; or { base64 = "..." }, or [1, 2]
///
/// [triggers]
/// prefixes = ["/alerts"]            # required, at least one
/// kinds = ["created", "data-changed"]   # default: all four
/// recursive = true                  # default true: the prefix and everything below it
///
/// [capabilities]
/// read = ["/alerts", "/city"]       # default: the trigger prefixes
/// write = ["/city/districts"]       # default: nothing
///
/// [limits]                          # every field optional, defaults in PluginLimits
/// fuel_per_invocation = 500_000_000
///
/// [retry]                           # every field optional, defaults in RetryPolicy
/// attempts = 5
/// on_exhaustion = "pause"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    pub name: String,
    pub version: String,
    pub triggers: Triggers,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: PluginLimits,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Passed to the plugin's `init` on every fresh instance.
    #[serde(default, skip_serializing_if = "ConfigBlob::is_empty")]
    pub config: ConfigBlob,
}

/// Which events run the plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Absolute znode paths; at least one.
    pub prefixes: Vec<String>,
    /// The event kinds that run the plugin; all four by default.
    #[serde(default = "TriggerKind::all")]
    pub kinds: Vec<TriggerKind>,
    /// True (the default): events on a prefix and on anything below it. False: events on a prefix
    /// and on its direct children only.
    #[serde(default = "default_true")]
    pub recursive: bool,
}

fn default_true() -> bool {
    true
}

/// A watch event kind, as manifests name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
}

impl TriggerKind {
    pub fn all() -> Vec<TriggerKind> {
        vec![
            TriggerKind::Created,
            TriggerKind::Deleted,
            TriggerKind::DataChanged,
            TriggerKind::ChildrenChanged,
        ]
    }

    pub fn event_kind(self) -> EventKind {
        match self {
            TriggerKind::Created => EventKind::NodeCreated,
            TriggerKind::Deleted => EventKind::NodeDeleted,
            TriggerKind::DataChanged => EventKind::NodeDataChanged,
            TriggerKind::ChildrenChanged => EventKind::NodeChildrenChanged,
        }
    }
}

impl Triggers {
    /// True if an event on `event_path` of `kind` runs the plugin.
    pub fn matches_path(&self, event_path: &str, kind: EventKind) -> bool {
        self.kinds.iter().any(|k| k.event_kind() == kind)
            && self.prefixes.iter().any(|prefix| {
                if self.recursive {
                    path::is_self_or_descendant(event_path, prefix)
                } else {
                    event_path == prefix
                        || (event_path != "/" && path::parent(event_path) == prefix)
                }
            })
    }

    /// True if `event` runs the plugin.
    pub fn matches(&self, event: &WatchEvent) -> bool {
        self.matches_path(&event.path, event.kind)
    }
}

/// What the plugin may touch. A read or a staged write outside these prefixes ends the
/// invocation with [`crate::PluginFailure::CapabilityViolation`]. The tree's ACLs apply on top,
/// for the identities the plugin runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Readable prefixes (each with everything below it). Empty in the file means the trigger
    /// prefixes; the parsers fill them in.
    #[serde(default)]
    pub read: Vec<String>,
    /// Writable prefixes (each with everything below it); none by default. A sequential create
    /// needs its parent writable, since the created node is a sibling of the path it names.
    #[serde(default)]
    pub write: Vec<String>,
}

impl Capabilities {
    pub fn can_read(&self, node_path: &str) -> bool {
        self.read
            .iter()
            .any(|prefix| path::is_self_or_descendant(node_path, prefix))
    }

    pub fn can_write(&self, node_path: &str) -> bool {
        self.write
            .iter()
            .any(|prefix| path::is_self_or_descendant(node_path, prefix))
    }
}

/// The bounds of one invocation (`init` and `handle-events` together).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginLimits {
    /// Wasmtime fuel, about one unit per WebAssembly instruction. Default 500 M (a few hundred
    /// milliseconds of guest code).
    pub fuel_per_invocation: u64,
    /// The largest linear memory, in bytes. Default 32 MiB; at most the engine's
    /// [`crate::EngineConfig::memory_bytes_max`]. A Rust guest needs a bit over 1 MiB to start.
    pub memory_bytes_max: u64,
    /// Wall-clock time for the invocation, enforced with epoch interruption (to within one epoch
    /// tick). Default 1000 ms, at most 60 s.
    pub deadline_ms: u64,
    /// The most events in one batch. Default 256.
    pub events_per_batch_max: u32,
    /// The most writes one invocation may stage. Default 256. The commit also carries the
    /// cursor, so the tree's `multi_ops_max` less two bounds it as well.
    pub staged_writes_max: u32,
    /// The most bytes (paths plus data) one invocation may stage. Default 1 MiB, at most
    /// [`STAGED_BYTES_MAX_CEILING`] (3 MiB).
    pub staged_bytes_max: u64,
    /// The most log lines one invocation may write. Default 100; lines are cut at 4 KiB.
    pub log_lines_max: u32,
}

impl Default for PluginLimits {
    fn default() -> PluginLimits {
        PluginLimits {
            fuel_per_invocation: 500_000_000,
            memory_bytes_max: 32 * 1024 * 1024,
            deadline_ms: 1_000,
            events_per_batch_max: 256,
            staged_writes_max: 256,
            staged_bytes_max: 1024 * 1024,
            log_lines_max: 100,
        }
    }
}

/// What the server does when an invocation fails: retry the same batch with exponential backoff,
/// then dead-letter it or pause the plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included. Default 3.
    pub attempts: u32,
    /// The wait before the second attempt. Default 100 ms.
    pub backoff_min_ms: u64,
    /// The longest wait between attempts (the wait doubles from the minimum). Default 10 s.
    pub backoff_max_ms: u64,
    /// After the last failed attempt. Default dead-letter-and-continue.
    pub on_exhaustion: OnExhaustion,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff_min_ms: 100,
            backoff_max_ms: 10_000,
            on_exhaustion: OnExhaustion::DeadLetterAndContinue,
        }
    }
}

/// What happens to a batch whose attempts all failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnExhaustion {
    /// Record the batch as a dead letter and move the cursor past it.
    #[default]
    DeadLetterAndContinue,
    /// Stop the plugin at this batch until an operator resumes it.
    Pause,
}

/// The decision after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try the same batch again after this long.
    RetryAfter(Duration),
    /// No attempts left.
    Exhausted(OnExhaustion),
}

impl RetryPolicy {
    /// What to do after `attempts_made` (at least 1) attempts of one batch have failed. The
    /// backoff is deterministic: `backoff_min_ms` doubled per further attempt, capped at
    /// `backoff_max_ms`; a caller that wants jitter adds it.
    pub fn after_failure(&self, attempts_made: u32) -> RetryDecision {
        if attempts_made >= self.attempts {
            return RetryDecision::Exhausted(self.on_exhaustion);
        }
        let doublings = attempts_made.saturating_sub(1).min(63);
        let wait = self
            .backoff_min_ms
            .saturating_mul(1u64 << doublings)
            .min(self.backoff_max_ms);
        RetryDecision::RetryAfter(Duration::from_millis(wait))
    }
}

/// The config blob given to `init`. In TOML or JSON it is a string (UTF-8 text, the usual
/// case), `{ base64 = "..." }`, or an array of bytes; it is written back as a string when it is
/// UTF-8, as base64 otherwise.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigBlob(pub Vec<u8>);

impl ConfigBlob {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ConfigBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) if text.len() <= 256 => write!(f, "ConfigBlob({text:?})"),
            _ => write!(f, "ConfigBlob({} bytes)", self.0.len()),
        }
    }
}

impl From<&[u8]> for ConfigBlob {
    fn from(bytes: &[u8]) -> ConfigBlob {
        ConfigBlob(bytes.to_vec())
    }
}

impl From<&str> for ConfigBlob {
    fn from(text: &str) -> ConfigBlob {
        ConfigBlob(text.as_bytes().to_vec())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ConfigBlobRepr {
    Text(String),
    Base64 { base64: String },
    Bytes(Vec<u8>),
}

impl Serialize for ConfigBlob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => ConfigBlobRepr::Text(text.to_string()),
            Err(_) => ConfigBlobRepr::Base64 {
                base64: base64::engine::general_purpose::STANDARD.encode(&self.0),
            },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConfigBlob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ConfigBlob, D::Error> {
        match ConfigBlobRepr::deserialize(deserializer)? {
            ConfigBlobRepr::Text(text) => Ok(ConfigBlob(text.into_bytes())),
            ConfigBlobRepr::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64.as_bytes())
                .map(ConfigBlob)
                .map_err(|error| serde::de::Error::custom(format!("config.base64: {error}"))),
            ConfigBlobRepr::Bytes(bytes) => Ok(ConfigBlob(bytes)),
        }
    }
}

/// Why a manifest was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest does not parse: {0}")]
    Parse(String),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl PluginManifest {
    /// A manifest with every default, triggered by `prefixes` (which it may also read).
    pub fn new(name: &str, version: &str, prefixes: &[&str]) -> PluginManifest {
        let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
        PluginManifest {
            name: name.to_string(),
            version: version.to_string(),
            capabilities: Capabilities {
                read: prefixes.clone(),
                write: Vec::new(),
            },
            triggers: Triggers {
                prefixes,
                kinds: TriggerKind::all(),
                recursive: true,
            },
            limits: PluginLimits::default(),
            retry: RetryPolicy::default(),
            config: ConfigBlob::default(),
        }
    }

    /// Parses, fills in the defaults and validates a TOML manifest.
    pub fn from_toml(text: &str) -> Result<PluginManifest, ManifestError> {
        let manifest: PluginManifest =
            toml::from_str(text).map_err(|error| ManifestError::Parse(error.to_string()))?;
        manifest.normalized()
    }

    /// Parses, fills in the defaults and validates a JSON manifest.
    pub fn from_json(text: &str) -> Result<PluginManifest, ManifestError> {
        let manifest: PluginManifest =
            serde_json::from_str(text).map_err(|error| ManifestError::Parse(error.to_string()))?;
        manifest.normalized()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest serializes to TOML")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serializes to JSON")
    }

    fn normalized(mut self) -> Result<PluginManifest, ManifestError> {
        if self.capabilities.read.is_empty() {
            self.capabilities.read = self.triggers.prefixes.clone();
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
            });
        if !name_ok {
            return Err(invalid(
                "name",
                format!(
                    "{:?} is not 1 to 64 of a-z, 0-9 and . _ - (not first)",
                    self.name
                ),
            ));
        }
        if self.version.is_empty()
            || self.version.len() > 64
            || !self.version.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "version",
                "must be 1 to 64 printable characters without spaces",
            ));
        }
        check_prefixes("triggers.prefixes", &self.triggers.prefixes)?;
        if self.triggers.prefixes.is_empty() {
            return Err(invalid("triggers.prefixes", "needs at least one prefix"));
        }
        if self.triggers.kinds.is_empty() {
            return Err(invalid("triggers.kinds", "needs at least one event kind"));
        }
        check_prefixes("capabilities.read", &self.capabilities.read)?;
        check_prefixes("capabilities.write", &self.capabilities.write)?;
        for prefix in &self.triggers.prefixes {
            if !self.capabilities.can_read(prefix) {
                return Err(invalid(
                    "triggers.prefixes",
                    format!("{prefix} is not readable, but its events carry its nodes' data"),
                ));
            }
        }
        let limits = &self.limits;
        for (field, value) in [
            ("limits.fuel_per_invocation", limits.fuel_per_invocation),
            ("limits.memory_bytes_max", limits.memory_bytes_max),
            ("limits.deadline_ms", limits.deadline_ms),
            (
                "limits.events_per_batch_max",
                u64::from(limits.events_per_batch_max),
            ),
            ("limits.staged_bytes_max", limits.staged_bytes_max),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be positive"));
            }
        }
        if limits.memory_bytes_max < 65_536 {
            return Err(invalid(
                "limits.memory_bytes_max",
                "must be at least one WebAssembly page (65536)",
            ));
        }
        if limits.staged_bytes_max > STAGED_BYTES_MAX_CEILING {
            return Err(invalid(
                "limits.staged_bytes_max",
                format!("must be at most {STAGED_BYTES_MAX_CEILING}"),
            ));
        }
        if limits.deadline_ms > DEADLINE_MS_MAX {
            return Err(invalid(
                "limits.deadline_ms",
                format!("must be at most {DEADLINE_MS_MAX}"),
            ));
        }
        if self.retry.attempts == 0 {
            return Err(invalid("retry.attempts", "must be at least 1"));
        }
        if self.retry.backoff_min_ms > self.retry.backoff_max_ms {
            return Err(invalid(
                "retry.backoff_min_ms",
                "must not exceed retry.backoff_max_ms",
            ));
        }
        if self.config.0.len() > CONFIG_LEN_MAX {
            return Err(invalid(
                "config",
                format!("is longer than {CONFIG_LEN_MAX} bytes"),
            ));
        }
        Ok(())
    }
}

fn check_prefixes(field: &str, prefixes: &[String]) -> Result<(), ManifestError> {
    if prefixes.len() > PREFIXES_MAX {
        return Err(invalid(field, format!("at most {PREFIXES_MAX} prefixes")));
    }
    for prefix in prefixes {
        path::validate(prefix, PREFIX_LEN_MAX)
            .map_err(|error| invalid(field, error.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "district-fanout"
version = "1.2.0"
config = '{"districts": "/city/districts"}'

[triggers]
prefixes = ["/alerts"]
kinds = ["created", "data-changed"]
recursive = false

[capabilities]
read = ["/alerts", "/city"]
write = ["/city/districts"]

[limits]
fuel_per_invocation = 1_000
memory_bytes_max = 1_048_576
deadline_ms = 20
events_per_batch_max = 8
staged_writes_max = 4
staged_bytes_max = 4096
log_lines_max = 2

[retry]
attempts = 5
backoff_min_ms = 10
backoff_max_ms = 50
on_exhaustion = "pause"
"#;

    #[test]
    fn a_full_manifest_parses_and_round_trips() {
        let manifest = PluginManifest::from_toml(FULL).unwrap();
        assert_eq!(manifest.name, "district-fanout");
        assert_eq!(
            manifest.triggers.kinds,
            [TriggerKind::Created, TriggerKind::DataChanged]
        );
        assert!(!manifest.triggers.recursive);
        assert_eq!(manifest.capabilities.write, ["/city/districts"]);
        assert_eq!(manifest.limits.log_lines_max, 2);
        assert_eq!(manifest.retry.on_exhaustion, OnExhaustion::Pause);
        assert_eq!(
            manifest.config.as_bytes(),
            br#"{"districts": "/city/districts"}"#
        );
        assert_eq!(
            PluginManifest::from_toml(&manifest.to_toml()).unwrap(),
            manifest
        );
        assert_eq!(
            PluginManifest::from_json(&manifest.to_json()).unwrap(),
            manifest
        );
    }

    #[test]
    fn a_minimal_manifest_gets_the_documented_defaults() {
        let manifest = PluginManifest::from_toml(
            "name = \"m\"\nversion = \"1\"\n[triggers]\nprefixes = [\"/in\"]\n",
        )
        .unwrap();
        assert_eq!(manifest, PluginManifest::new("m", "1", &["/in"]));
        assert_eq!(manifest.triggers.kinds, TriggerKind::all());
        assert!(manifest.triggers.recursive);
        assert_eq!(manifest.capabilities.read, ["/in"]);
        assert!(manifest.capabilities.write.is_empty());
        assert_eq!(manifest.limits, PluginLimits::default());
        assert_eq!(manifest.limits.fuel_per_invocation, 500_000_000);
        assert_eq!(manifest.limits.memory_bytes_max, 32 << 20);
        assert_eq!(manifest.limits.deadline_ms, 1000);
        assert_eq!(manifest.retry, RetryPolicy::default());
        assert!(manifest.config.is_empty());
        let json = PluginManifest::from_json(
            r#"{"name": "m", "version": "1", "triggers": {"prefixes": ["/in"]}}"#,
        )
        .unwrap();
        assert_eq!(json, manifest);
    }

    #[test]
    fn config_blobs_take_three_forms() {
        let base = "name = \"m\"\nversion = \"1\"\n[triggers]\nprefixes = [\"/in\"]\n";
        let with = |config: &str| {
            PluginManifest::from_toml(&format!("{config}\n{base}"))
                .unwrap()
                .config
        };
        assert_eq!(with("config = \"text\"").0, b"text");
        assert_eq!(with("config = { base64 = \"AP8=\" }").0, [0, 255]);
        assert_eq!(with("config = [0, 255]").0, [0, 255]);
        let mut manifest = PluginManifest::new("m", "1", &["/in"]);
        manifest.config = ConfigBlob(vec![0, 255]);
        assert!(manifest.to_toml().contains("base64"));
        assert_eq!(
            PluginManifest::from_toml(&manifest.to_toml()).unwrap(),
            manifest
        );
        assert!(
            PluginManifest::from_toml(&format!("config = {{ base64 = \"!!\" }}\n{base}")).is_err()
        );
    }

    #[test]
    fn invalid_manifests_say_which_field() {
        let field_of = |edit: fn(&mut PluginManifest)| {
            let mut manifest = PluginManifest::new("m", "1", &["/in"]);
            edit(&mut manifest);
            match manifest.validate() {
                Err(ManifestError::Invalid { field, .. }) => field,
                other => panic!("expected an invalid field, got {other:?}"),
            }
        };
        assert_eq!(field_of(|m| m.name = "Bad Name".into()), "name");
        assert_eq!(field_of(|m| m.name = "-lead".into()), "name");
        assert_eq!(field_of(|m| m.version = "1 0".into()), "version");
        assert_eq!(
            field_of(|m| m.triggers.prefixes.clear()),
            "triggers.prefixes"
        );
        assert_eq!(
            field_of(|m| m.triggers.prefixes = vec!["in".into()]),
            "triggers.prefixes"
        );
        assert_eq!(field_of(|m| m.triggers.kinds.clear()), "triggers.kinds");
        assert_eq!(
            field_of(|m| m.capabilities.write = vec!["/a/".into()]),
            "capabilities.write"
        );
        assert_eq!(
            field_of(|m| m.capabilities.read = vec!["/elsewhere".into()]),
            "triggers.prefixes"
        );
        assert_eq!(
            field_of(|m| m.limits.fuel_per_invocation = 0),
            "limits.fuel_per_invocation"
        );
        assert_eq!(
            field_of(|m| m.limits.memory_bytes_max = 1000),
            "limits.memory_bytes_max"
        );
        assert_eq!(
            field_of(|m| m.limits.deadline_ms = DEADLINE_MS_MAX + 1),
            "limits.deadline_ms"
        );
        assert_eq!(
            field_of(|m| m.limits.staged_bytes_max = STAGED_BYTES_MAX_CEILING + 1),
            "limits.staged_bytes_max"
        );
        assert_eq!(field_of(|m| m.retry.attempts = 0), "retry.attempts");
        assert_eq!(
            field_of(|m| m.retry.backoff_min_ms = m.retry.backoff_max_ms + 1),
            "retry.backoff_min_ms"
        );
        assert_eq!(
            field_of(|m| m.config = ConfigBlob(vec![0; CONFIG_LEN_MAX + 1])),
            "config"
        );
        assert!(matches!(
            PluginManifest::from_toml(
                "name = \"m\"\nversion = \"1\"\nsurprise = 1\n[triggers]\nprefixes = [\"/in\"]\n"
            ),
            Err(ManifestError::Parse(_))
        ));
    }

    #[test]
    fn triggers_match_recursively_or_one_level() {
        let mut triggers = PluginManifest::new("m", "1", &["/city"]).triggers;
        let created = EventKind::NodeCreated;
        assert!(triggers.matches_path("/city", created));
        assert!(triggers.matches_path("/city/a/b", created));
        assert!(!triggers.matches_path("/cityhall", created));
        assert!(!triggers.matches_path("/", created));
        triggers.recursive = false;
        assert!(triggers.matches_path("/city", created));
        assert!(triggers.matches_path("/city/a", created));
        assert!(!triggers.matches_path("/city/a/b", created));
        triggers.kinds = vec![TriggerKind::Deleted];
        assert!(!triggers.matches_path("/city/a", created));
        assert!(triggers.matches(&WatchEvent {
            zxid: 1,
            kind: EventKind::NodeDeleted,
            path: "/city/a".into()
        }));
        let root = PluginManifest::new("m", "1", &["/"]).triggers;
        assert!(root.matches_path("/anything/at/all", created));
    }

    #[test]
    fn capabilities_are_prefixes_of_whole_segments() {
        let capabilities = Capabilities {
            read: vec!["/a".into()],
            write: vec!["/a/out".into()],
        };
        assert!(capabilities.can_read("/a/b"));
        assert!(!capabilities.can_read("/ab"));
        assert!(capabilities.can_write("/a/out"));
        assert!(capabilities.can_write("/a/out/x"));
        assert!(!capabilities.can_write("/a/outside"));
    }

    #[test]
    fn retries_back_off_exponentially_then_give_up() {
        let policy = RetryPolicy {
            attempts: 5,
            backoff_min_ms: 100,
            backoff_max_ms: 500,
            on_exhaustion: OnExhaustion::Pause,
        };
        let waits: Vec<RetryDecision> = (1..=5).map(|n| policy.after_failure(n)).collect();
        let ms = |ms| RetryDecision::RetryAfter(Duration::from_millis(ms));
        assert_eq!(
            waits,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(500),
                RetryDecision::Exhausted(OnExhaustion::Pause)
            ]
        );
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        assert_eq!(
            once.after_failure(1),
            RetryDecision::Exhausted(OnExhaustion::DeadLetterAndContinue)
        );
        let huge = RetryPolicy {
            attempts: u32::MAX,
            backoff_max_ms: u64::MAX,
            ..RetryPolicy::default()
        };
        assert_eq!(huge.after_failure(200), ms(u64::MAX));
    }
}
