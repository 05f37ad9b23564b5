//! Where plugins live in the tree, and the records stored there.
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
//!     logs                         the plugin's last LOG_LINES_KEPT log lines (JSON)
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
/// How many log lines the `logs` node keeps.
pub const LOG_LINES_KEPT: usize = 100;
/// The most bytes of log text the `logs` node keeps.
pub const LOG_BYTES_KEPT: usize = 64 * 1024;
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

/// Which revision handles a plugin's next events, and up to where.
///
/// An upgrade or rollback takes effect at the zxid that committed it (`changed_at`, the
/// deployment record's mzxid: only a revision change rewrites that record), and each retired
/// revision keeps the zxid it took effect at ([`Revision::started_at`]). Every event belongs to
/// the revision that was current when it was committed: the newest revision whose start the
/// cursor has passed runs, bounded to the events before the next revision's start
/// (`Some(start)`), and hands over once it has passed them. So however many upgrades landed
/// while a plugin was behind, and across a failover (the new leader's runner reads the same
/// record and cursor), each event runs under its own revision, as far back as the history keeps
/// revisions ([`HISTORY_REVISIONS_MAX`]; events older than the oldest kept go to it). Only if the
/// revision that would run cannot (it is paused or failed, which is why it was replaced) do its
/// pending events go to the current one. Pure, so that the rule is tested alone.
pub fn revision_to_run(
    deployment: &Deployment,
    changed_at: Zxid,
    cursor: Cursor,
    state: PluginState,
) -> (Revision, Option<Zxid>) {
    // The cursor has passed `start` once every event before it is handled.
    let passed = |start: Zxid| {
        cursor.zxid >= start
            || (cursor.zxid == start.saturating_sub(1) && cursor.handled_in_zxid.is_none())
    };
    let current_start = deployment.current.started_at.unwrap_or(changed_at);
    if passed(current_start) || matches!(state, PluginState::Paused | PluginState::Failed) {
        return (deployment.current.clone(), None);
    }
    let mut newer_start = current_start;
    let mut oldest_kept = None;
    for revision in &deployment.history {
        match revision.started_at {
            Some(start) if !passed(start) => {
                oldest_kept = Some((revision.clone(), newer_start));
                newer_start = start;
            }
            // Its start passed, or is not recorded (an older record): it is the one.
            _ => return (revision.clone(), Some(newer_start)),
        }
    }
    match oldest_kept {
        Some((revision, before)) => (revision, Some(before)),
        None => (deployment.current.clone(), None),
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

/// Keeps the newest lines within [`LOG_LINES_KEPT`] and [`LOG_BYTES_KEPT`].
pub fn trim_logs(lines: &mut Vec<StoredLogLine>) {
    if lines.len() > LOG_LINES_KEPT {
        lines.drain(..lines.len() - LOG_LINES_KEPT);
    }
    let mut bytes: usize = lines.iter().map(|line| line.message.len() + 32).sum();
    let mut drop = 0;
    while bytes > LOG_BYTES_KEPT && drop < lines.len() {
        bytes -= lines[drop].message.len() + 32;
        drop += 1;
    }
    lines.drain(..drop);
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
    fn log_trimming_keeps_the_newest_lines_within_both_bounds() {
        let line = |index: usize, len: usize| StoredLogLine {
            zxid: index as i64,
            level: "info".to_string(),
            message: "x".repeat(len),
        };
        let mut lines: Vec<StoredLogLine> = (0..LOG_LINES_KEPT + 5).map(|i| line(i, 10)).collect();
        trim_logs(&mut lines);
        assert_eq!(lines.len(), LOG_LINES_KEPT);
        assert_eq!(lines[0].zxid, 5);

        let mut big: Vec<StoredLogLine> = (0..10).map(|i| line(i, LOG_BYTES_KEPT / 4)).collect();
        trim_logs(&mut big);
        assert!(big.len() < 4);
        assert_eq!(big.last().map(|l| l.zxid), Some(9));
    }

    fn deployment_upgraded_from_1_to_2() -> Deployment {
        let revision = |number: u64, version: &str| Revision {
            revision: number,
            manifest: PluginManifest::new("echo", version, &["/in"]),
            component: "00".repeat(32),
            started_at: None,
        };
        Deployment {
            current: revision(2, "2.0.0"),
            history: vec![revision(1, "1.0.0")],
        }
    }

    /// Issue 16: the events before an upgrade's zxid are the old revision's, the ones after it
    /// the new one's, whatever the cursor when the upgrade lands.
    #[test]
    fn the_revision_current_at_the_cursor_runs_until_the_upgrade_zxid() {
        let deployment = deployment_upgraded_from_1_to_2();
        let run = |cursor: Cursor, state: PluginState| {
            let (revision, before) = revision_to_run(&deployment, 100, cursor, state);
            (revision.revision, before)
        };
        // Behind the upgrade: revision 1, for the events before zxid 100.
        assert_eq!(run(Cursor::after(40), PluginState::Running), (1, Some(100)));
        let partly = Cursor {
            zxid: 99,
            handled_in_zxid: Some(3),
        };
        assert_eq!(run(partly, PluginState::Running), (1, Some(100)));
        // Everything before it handled: revision 2, unbounded.
        assert_eq!(run(Cursor::after(99), PluginState::Running), (2, None));
        assert_eq!(run(Cursor::after(150), PluginState::Retrying), (2, None));
        // A paused or failed revision is why it was replaced: the new one takes its events.
        assert_eq!(run(Cursor::after(40), PluginState::Paused), (2, None));
        assert_eq!(run(Cursor::after(40), PluginState::Failed), (2, None));
        // A first deployment has nothing before it.
        let fresh = Deployment {
            history: Vec::new(),
            ..deployment_upgraded_from_1_to_2()
        };
        assert_eq!(
            revision_to_run(&fresh, 100, Cursor::after(40), PluginState::Deployed)
                .0
                .revision,
            2
        );
    }

    /// Issue 16's corner: two upgrades in quick succession while the plugin is behind both (and
    /// a failover, after which a new leader decides from the same record and cursor). Revision
    /// 1 was current until zxid 100, revision 2 until 200, revision 3 since.
    #[test]
    fn each_event_runs_under_the_revision_current_when_it_committed_across_upgrades() {
        let revision = |number: u64, started_at: Option<Zxid>| Revision {
            revision: number,
            manifest: PluginManifest::new("echo", &format!("{number}.0.0"), &["/in"]),
            component: "00".repeat(32),
            started_at,
        };
        let deployment = Deployment {
            current: revision(3, None),
            history: vec![revision(2, Some(100)), revision(1, Some(10))],
        };
        let run = |cursor: Cursor, state: PluginState| {
            let (revision, before) = revision_to_run(&deployment, 200, cursor, state);
            (revision.revision, before)
        };
        assert_eq!(run(Cursor::after(40), PluginState::Running), (1, Some(100)));
        assert_eq!(run(Cursor::after(99), PluginState::Running), (2, Some(200)));
        assert_eq!(
            run(Cursor::after(150), PluginState::Running),
            (2, Some(200))
        );
        assert_eq!(run(Cursor::after(199), PluginState::Running), (3, None));
        // Behind every revision kept: the oldest kept stands in for the ones dropped.
        assert_eq!(run(Cursor::after(5), PluginState::Running), (1, Some(100)));
        // A paused revision is why the plugin was upgraded: the current one takes its events.
        assert_eq!(run(Cursor::after(40), PluginState::Paused), (3, None));

        // A resume is the same code going on: revision 4 starts where revision 3 did, so the
        // events between revision 3's start and the resume are not handed back to revision 2.
        let resumed = Deployment {
            current: revision(4, Some(200)),
            ..deployment.clone()
        };
        let (running, before) =
            revision_to_run(&resumed, 300, Cursor::after(250), PluginState::Running);
        assert_eq!((running.revision, before), (4, None));
        let (running, before) =
            revision_to_run(&resumed, 300, Cursor::after(150), PluginState::Running);
        assert_eq!((running.revision, before), (2, Some(200)));
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
