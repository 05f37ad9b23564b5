//! Where plugins live in the tree, and the records stored there.
//!
//! Both sides of a deployment read and write these records: the CLI's deployment
//! (`polis_cli::deploy`, an administrator's client) writes deployments and reads status, logs
//! and dead letters; the server's plugin runner, on the leader, reads deployments and commits
//! cursors, status, logs and dead letters. So they live in this crate, below both, and neither
//! side imports the other.
//!
//! Everything a deployment needs is replicated state under [`PLUGINS_PATH`], so that any node
//! that becomes leader finds the plugins, their components and their cursors without asking
//! anyone:
//!
//! ```text
//! /polis/plugins
//!   components/<sha256>            ComponentRecord (JSON): length and chunk count
//!     00000, 00001, …              the component's bytes, COMPONENT_CHUNK_LEN each
//!   deployed/<name>                Deployment (JSON): manifest, component, revision, history
//!     cursor                       Cursor (JSON): the last event handled
//!     status                       PluginStatus (JSON): state, counts, last error
//!     logs                         StoredLogLine list (JSON): the plugin's newest log lines
//!     dead-letter/entry-<seq>      DeadLetter (JSON): events given up on, and why
//! ```
//!
//! Only administrators may read or write under `/polis`, so only they deploy and only they see
//! manifests (with their `config`), logs and dead letters. The nodes a plugin's own commits
//! touch (cursor, status, logs, dead letters) also grant the plugin's identity
//! ([`plugin_identity`]) access. To publish a plugin's status to others, an administrator sets
//! its ACL: `polis acl set /polis/plugins/deployed/<name>/status world:anyone:r` (the status
//! keeps its ACL across updates, upgrades and rollbacks).

use polis_plugin_host::PluginManifest;
use polis_tree::{Acl, Id, Perms, Zxid};
use serde::{Deserialize, Serialize};

/// The plugins' clock: the leader sets it to its wall-clock milliseconds every
/// `plugins.clock_interval_ms` while a deployed plugin triggers on it (see the runner).
pub const CLOCK_PATH: &str = "/polis/clock";
/// The root of everything plugins.
pub const PLUGINS_PATH: &str = "/polis/plugins";
/// Components, content-addressed by SHA-256.
pub const COMPONENTS_PATH: &str = "/polis/plugins/components";
/// One node per deployed plugin.
pub const DEPLOYED_PATH: &str = "/polis/plugins/deployed";
/// The largest chunk of a component's bytes stored in one node: well under the tree's default
/// `data_len_max` and the client's frame limit, so a chunk always fits in one request.
pub const COMPONENT_CHUNK_LEN: usize = 256 * 1024;
/// The largest component accepted, in bytes.
pub const COMPONENT_LEN_MAX: usize = 64 * 1024 * 1024;
/// How many earlier revisions a deployment keeps for `rollback`.
pub const HISTORY_REVISIONS_MAX: usize = 8;
/// The name of a dead-letter entry, before its 10-digit sequence number.
pub const DEAD_LETTER_PREFIX: &str = "entry-";
/// A dead letter an administrator asked to replay is renamed `replay-<its name>` (`polis plugin
/// dead-letters NAME --replay ID`); the leader's worker runs its events again before anything
/// else and, if they succeed, commits their writes and deletes it in one multi; if not, it is a
/// dead letter again, with the new error.
pub const REPLAY_PREFIX: &str = "replay-";

/// The paths of one deployed plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginPaths {
    pub deployment: String,
    pub cursor: String,
    pub status: String,
    pub logs: String,
    pub dead_letter: String,
}

impl PluginPaths {
    pub fn new(name: &str) -> PluginPaths {
        let deployment = format!("{DEPLOYED_PATH}/{name}");
        PluginPaths {
            cursor: format!("{deployment}/cursor"),
            status: format!("{deployment}/status"),
            logs: format!("{deployment}/logs"),
            dead_letter: format!("{deployment}/dead-letter"),
            deployment,
        }
    }
}

/// The node of a component.
pub fn component_path(sha256_hex: &str) -> String {
    format!("{COMPONENTS_PATH}/{sha256_hex}")
}

/// The node of one chunk of a component.
pub fn component_chunk_path(sha256_hex: &str, index: usize) -> String {
    format!("{COMPONENTS_PATH}/{sha256_hex}/{index:05}")
}

/// The identity a plugin's reads and commits run as: the ACL id that its nodes grant access to.
/// Certificates issued by `polis ca issue` never carry `OU=plugin`, so no client can pose as a
/// plugin unless an administrator issues such a certificate on purpose.
pub fn plugin_identity(name: &str) -> Id {
    Id::new(Id::SCHEME_X509, format!("CN={name},OU=plugin,O=Polis"))
}

/// The ACL of the nodes a plugin's commits write: the plugin may do anything, and
/// administrators (who pass every ACL); nobody else.
pub fn plugin_state_acl(name: &str) -> Vec<Acl> {
    vec![Acl::new(Perms::ALL, plugin_identity(name))]
}

/// Administrators only (who pass every ACL): deployments, components and their folders.
pub fn administrators_only_acl() -> Vec<Acl> {
    Acl::administrators_only().to_vec()
}

/// A stored component: how to reassemble and verify it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub sha256: String,
    pub len: usize,
    pub chunks: usize,
}

impl ComponentRecord {
    pub fn for_bytes(sha256: String, len: usize) -> ComponentRecord {
        ComponentRecord {
            sha256,
            len,
            chunks: len.div_ceil(COMPONENT_CHUNK_LEN),
        }
    }
}

/// One revision of a deployment: what runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// Counts up from 1 with every deploy, upgrade, rollback and resume.
    pub revision: u64,
    pub manifest: PluginManifest,
    /// The SHA-256 of the component (a node under [`COMPONENTS_PATH`]).
    pub component: String,
    /// The zxid from which this revision handles events, when it is not the deployment record's
    /// mzxid: recorded when the revision is retired by an upgrade (the record's mzxid until
    /// then), and kept by a resume (the same code goes on where it started). Absent in records
    /// written before it was kept, where only the newest boundary is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Zxid>,
}

/// A deployed plugin: the revision that runs now and the earlier ones, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub current: Revision,
    #[serde(default)]
    pub history: Vec<Revision>,
}

/// Where a plugin is in the event stream: every event up to `zxid` is handled, except that of the
/// events of transaction `zxid` itself only the first `handled_in_zxid` are, when a transaction
/// had more events than fit in one batch. A new plugin starts after the transaction that created
/// its cursor (the cursor node's czxid), so it sees the changes made after it was deployed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub zxid: Zxid,
    /// How many events of transaction `zxid` are handled; `None` means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_in_zxid: Option<u32>,
}

impl Cursor {
    /// Every event of transaction `zxid` and before is handled.
    pub fn after(zxid: Zxid) -> Cursor {
        Cursor {
            zxid,
            handled_in_zxid: None,
        }
    }

    /// The cursor a cursor node holds: what it records, or, while it is empty (a new plugin),
    /// the position after the transaction that created it.
    pub fn of_node(data: &[u8], czxid: Zxid) -> Cursor {
        if data.is_empty() {
            return Cursor::after(czxid);
        }
        serde_json::from_slice(data).unwrap_or(Cursor::after(czxid))
    }
}

/// A plugin's state, as its status node says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Deployed; the leader has not run it yet.
    #[default]
    Deployed,
    /// Handling events.
    Running,
    /// The last invocation failed; it is retried after a backoff.
    Retrying,
    /// It gave up on events as its retry policy says and waits for an administrator
    /// (`polis plugin resume`, an upgrade or a rollback).
    Paused,
    /// It cannot run: its component or manifest is broken, or events it needs were compacted
    /// away. Only a new revision helps.
    Failed,
}

/// The status node of a plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginStatus {
    pub state: PluginState,
    /// The revision this status describes.
    pub revision: u64,
    /// The manifest's version string of that revision.
    #[serde(default)]
    pub version: String,
    /// The cursor as of this status.
    pub cursor_zxid: Zxid,
    /// Events handled (committed or dead-lettered).
    pub processed_events: u64,
    /// Invocations that committed.
    pub committed_batches: u64,
    /// Failed invocations and commits, in all.
    pub failures: u64,
    /// Failed attempts at the current batch.
    pub consecutive_failures: u32,
    /// Events given up on and written to the dead-letter node.
    pub dead_letters: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The zxid of the first event of the batch that failed last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_zxid: Option<Zxid>,
}

/// One line of a plugin's log, as the `logs` node keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLogLine {
    /// The zxid of the first event of the invocation that wrote it.
    pub zxid: Zxid,
    pub level: String,
    pub message: String,
}

/// An event the plugin gave up on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterEvent {
    pub path: String,
    pub kind: String,
    pub zxid: Zxid,
}

/// A dead-letter entry: the events of the failed batch, the error and the attempts made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub revision: u64,
    pub events: Vec<DeadLetterEvent>,
    pub error: String,
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_chunks_cover_every_byte() {
        assert_eq!(ComponentRecord::for_bytes(String::new(), 0).chunks, 0);
        assert_eq!(ComponentRecord::for_bytes(String::new(), 1).chunks, 1);
        assert_eq!(
            ComponentRecord::for_bytes(String::new(), COMPONENT_CHUNK_LEN).chunks,
            1
        );
        assert_eq!(
            ComponentRecord::for_bytes(String::new(), COMPONENT_CHUNK_LEN + 1).chunks,
            2
        );
    }

    #[test]
    fn plugin_paths_nest_under_the_deployment() {
        let paths = PluginPaths::new("fanout");
        assert_eq!(paths.deployment, "/polis/plugins/deployed/fanout");
        assert_eq!(paths.cursor, "/polis/plugins/deployed/fanout/cursor");
        assert_eq!(
            paths.dead_letter,
            "/polis/plugins/deployed/fanout/dead-letter"
        );
    }
}
