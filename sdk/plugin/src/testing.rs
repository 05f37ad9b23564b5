//! Native unit tests of plugins: an in-memory tree with the server's semantics.
//!
//! [`MemoryTree`] holds a real `polis_tree::DataTree` (the same state machine every Polis replica
//! runs), lets a test set up nodes, and runs a plugin's function against it as the host would:
//! `init`, then `handle` with a [`Context`] whose reads go to the tree and whose writes are
//! staged, then — if the plugin returned `Ok` — the staged writes committed as one `multi`. The
//! events of that commit come back, so a test can chain plugins or feed a plugin its own output.
//!
//! ```
//! use polis_plugin_sdk::testing::MemoryTree;
//! use polis_plugin_sdk::{Context, WatchEvent};
//!
//! fn count(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
//!     let seen = ctx.get("/count").map_err(|e| e.to_string())?;
//!     let n: u64 = seen.as_ref().map_or(0, |node| String::from_utf8_lossy(&node.data).parse().unwrap_or(0));
//!     ctx.upsert("/count", (n + events.len() as u64).to_string().as_bytes()).map_err(|e| e.to_string())
//! }
//!
//! let mut tree = MemoryTree::new();
//! tree.create("/in", b"");
//! let events = tree.create("/in/a", b"1"); // /in/a created, /in's children changed
//! tree.run_fn(count, b"", &events).unwrap();
//! tree.run_fn(count, b"", &events).unwrap();
//! assert_eq!(tree.get("/count").as_deref(), Some(&b"4"[..]));
//! ```
//!
//! Grants mirror the manifest's capabilities: after [`MemoryTree::grant_read`] or
//! [`MemoryTree::grant_write`], touching a path outside the granted prefixes makes the run fail
//! with [`RunError::CapabilityViolation`], as the host would end the invocation. Without grants
//! everything is allowed (ACLs still apply).

use std::fmt;

use polis_tree::{
    Acl, Caller, CreateMode as TreeCreateMode, DataTree, EventKind as TreeEventKind, Id, Limits,
    Perms, Stat as TreeStat, TreeError, Txn, TxnKind, WriteOp, path,
};

use crate::context::{Backend, StagedWrite};
use crate::{
    AclPreset, Context, CreateMode, EventKind, Level, Node, Plugin, ReadError, Stat, WatchEvent,
    WriteError,
};

/// The tree's own types, for tests that look at what [`MemoryTree::tree`] holds (ACLs, stats).
pub use polis_tree;

/// An in-memory Polis tree to run plugins against natively. See the [module docs](self).
#[derive(Debug)]
pub struct MemoryTree {
    tree: DataTree,
    ids: Vec<Id>,
    time_ms: i64,
    readable: Vec<String>,
    writable: Vec<String>,
    logs: Vec<(Level, String)>,
}

impl Default for MemoryTree {
    fn default() -> MemoryTree {
        MemoryTree::new()
    }
}

/// What a successful [`MemoryTree::run`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The writes the plugin staged, in order.
    pub staged: Vec<StagedWrite>,
    /// Its log lines.
    pub logs: Vec<(Level, String)>,
    /// The events the commit of the staged writes fired (empty if it staged nothing).
    pub events: Vec<WatchEvent>,
}

/// Why a [`MemoryTree::run`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// `init` rejected the config.
    Init(String),
    /// `handle` returned an error.
    Guest(String),
    /// The plugin touched a path outside its grants (`write` tells a staged write from a read).
    CapabilityViolation { path: String, write: bool },
    /// The staged writes did not commit (a version mismatch, a missing parent, an ACL...).
    Commit(TreeError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Init(message) => write!(f, "init failed: {message}"),
            RunError::Guest(message) => write!(f, "handle failed: {message}"),
            RunError::CapabilityViolation { path, write } => write!(
                f,
                "capability violation: {} {path} is outside the grants",
                if *write { "writing" } else { "reading" }
            ),
            RunError::Commit(error) => write!(f, "the staged writes did not commit: {error}"),
        }
    }
}

impl std::error::Error for RunError {}

impl MemoryTree {
    /// The commit time the tree starts at: 2023-11-14T22:13:20Z, in milliseconds.
    pub const START_TIME_MS: i64 = 1_700_000_000_000;

    /// An empty tree (the root and `/polis`), run as `x509:CN=plugin,O=Polis`.
    pub fn new() -> MemoryTree {
        MemoryTree {
            tree: DataTree::new(Limits::default()),
            ids: vec![Id::new(Id::SCHEME_X509, "CN=plugin,O=Polis")],
            time_ms: Self::START_TIME_MS,
            readable: Vec::new(),
            writable: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Runs plugins as these identities (`scheme`, `id`) instead.
    pub fn run_as(&mut self, ids: &[(&str, &str)]) -> &mut MemoryTree {
        self.ids = ids
            .iter()
            .map(|(scheme, id)| Id::new(*scheme, *id))
            .collect();
        self
    }

    /// Allows plugins to read at or below `prefix` (and, once any grant exists, nothing else).
    pub fn grant_read(&mut self, prefix: &str) -> &mut MemoryTree {
        self.readable.push(prefix.to_string());
        self
    }

    /// Allows plugins to write at or below `prefix` (and, once any grant exists, nothing else).
    pub fn grant_write(&mut self, prefix: &str) -> &mut MemoryTree {
        self.writable.push(prefix.to_string());
        self
    }

    /// Moves the commit time on.
    pub fn advance_time(&mut self, ms: i64) {
        self.time_ms += ms;
    }

    /// The current commit time, which plugins see as [`Context::commit_time_ms`].
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// The underlying tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    // ----------------------------------------------------------------------------------------
    // Setting up (as an administrator: no grants or ACLs apply).

    /// Creates a persistent node open to everyone, and any missing ancestors, and returns the
    /// events that fired. Panics if the node exists.
    pub fn create(&mut self, node_path: &str, data: &[u8]) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        let ancestors: Vec<String> = path::self_and_ancestors(path::parent(node_path))
            .map(str::to_string)
            .collect();
        for ancestor in ancestors.iter().rev() {
            if ancestor != "/" && self.get(ancestor).is_none() {
                events.extend(self.admin(WriteOp::Create {
                    path: ancestor.clone(),
                    data: Some(Vec::new()),
                    acl: Acl::open().to_vec(),
                    mode: TreeCreateMode::Persistent,
                }));
            }
        }
        events.extend(self.admin(WriteOp::Create {
            path: node_path.to_string(),
            data: Some(data.to_vec()),
            acl: Acl::open().to_vec(),
            mode: TreeCreateMode::Persistent,
        }));
        events
    }

    /// Sets a node's data and returns the events that fired. Panics if there is no node.
    pub fn set(&mut self, node_path: &str, data: &[u8]) -> Vec<WatchEvent> {
        self.admin(WriteOp::SetData {
            path: node_path.to_string(),
            data: Some(data.to_vec()),
            version: -1,
        })
    }

    /// Deletes a node (which must have no children) and returns the events that fired.
    pub fn delete(&mut self, node_path: &str) -> Vec<WatchEvent> {
        self.admin(WriteOp::Delete {
            path: node_path.to_string(),
            version: -1,
        })
    }

    /// Applies writes as one `multi`, as the plugin's identities would, and returns the events
    /// that fired or the error.
    pub fn multi(&mut self, ops: Vec<WriteOp>) -> Result<Vec<WatchEvent>, TreeError> {
        let caller = self.caller();
        self.apply(TxnKind::Multi { caller, ops })
    }

    fn admin(&mut self, op: WriteOp) -> Vec<WatchEvent> {
        let what = format!("{op:?}");
        self.apply(TxnKind::Write {
            caller: Caller::system(),
            op,
        })
        .unwrap_or_else(|error| panic!("MemoryTree: {what} failed: {error}"))
    }

    fn apply(&mut self, kind: TxnKind) -> Result<Vec<WatchEvent>, TreeError> {
        let txn = Txn {
            zxid: self.tree.last_zxid() + 1,
            time_ms: self.time_ms,
            kind,
        };
        let applied = self.tree.apply(&txn);
        applied.result?;
        Ok(applied
            .events
            .iter()
            .map(|event| {
                let data = match event.kind {
                    TreeEventKind::NodeCreated | TreeEventKind::NodeDataChanged => self
                        .tree
                        .get_data(&event.path, &self.ids)
                        .ok()
                        .filter(|_| granted(&self.readable, &event.path))
                        .map(|(data, _)| data.unwrap_or_default().to_vec()),
                    _ => None,
                };
                WatchEvent {
                    path: event.path.clone(),
                    kind: event_kind(event.kind),
                    zxid: event.zxid,
                    data,
                }
            })
            .collect())
    }

    fn caller(&self) -> Caller {
        Caller {
            session_id: polis_tree::SYSTEM_SESSION_ID,
            ids: self.ids.clone(),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Inspecting.

    /// A node's data, or `None` if there is no node.
    pub fn get(&self, node_path: &str) -> Option<Vec<u8>> {
        self.tree
            .node(node_path)
            .map(|(record, _)| record.data_or_empty().to_vec())
    }

    /// A node's stat, or `None` if there is no node.
    pub fn stat(&self, node_path: &str) -> Option<Stat> {
        self.tree.exists(node_path).ok().flatten().map(stat)
    }

    /// A node's children names in ascending order (empty if there is no node).
    pub fn children(&self, node_path: &str) -> Vec<String> {
        self.tree
            .node(node_path)
            .map(|(_, children)| children.iter().map(|name| name.to_string()).collect())
            .unwrap_or_default()
    }

    /// The log lines of the last run, also when it failed.
    pub fn logs(&self) -> &[(Level, String)] {
        &self.logs
    }

    // ----------------------------------------------------------------------------------------
    // Running plugins.

    /// Runs a [`Plugin`] on `events` as the host would, and commits its staged writes.
    pub fn run<P: Plugin>(
        &mut self,
        config: &[u8],
        events: &[WatchEvent],
    ) -> Result<Run, RunError> {
        self.run_with(P::init, P::handle, config, events)
    }

    /// Runs a plain `handle` function (no config check) on `events`, and commits its staged
    /// writes.
    pub fn run_fn(
        &mut self,
        handle: fn(&mut Context<'_>, &[WatchEvent]) -> Result<(), String>,
        config: &[u8],
        events: &[WatchEvent],
    ) -> Result<Run, RunError> {
        self.run_with(|_| Ok(()), handle, config, events)
    }

    fn run_with(
        &mut self,
        init: impl FnOnce(&[u8]) -> Result<(), String>,
        handle: impl FnOnce(&mut Context<'_>, &[WatchEvent]) -> Result<(), String>,
        config: &[u8],
        events: &[WatchEvent],
    ) -> Result<Run, RunError> {
        self.logs.clear();
        init(config).map_err(RunError::Init)?;
        let mut backend = MemoryBackend {
            tree: &self.tree,
            ids: &self.ids,
            readable: &self.readable,
            writable: &self.writable,
            time_ms: self.time_ms,
            staged: Vec::new(),
            logs: Vec::new(),
            violation: None,
        };
        let result = handle(&mut Context::new(&mut backend, config), events);
        let MemoryBackend {
            staged,
            logs,
            violation,
            ..
        } = backend;
        self.logs = logs.clone();
        if let Some(violation) = violation {
            return Err(violation);
        }
        result.map_err(RunError::Guest)?;
        let events = if staged.is_empty() {
            Vec::new()
        } else {
            let ops = staged.iter().map(write_op).collect();
            self.multi(ops).map_err(RunError::Commit)?
        };
        Ok(Run {
            staged,
            logs,
            events,
        })
    }
}

/// True if `node_path` is at or below one of `prefixes`, or there are no prefixes.
fn granted(prefixes: &[String], node_path: &str) -> bool {
    prefixes.is_empty()
        || prefixes
            .iter()
            .any(|prefix| path::is_self_or_descendant(node_path, prefix))
}

struct MemoryBackend<'t> {
    tree: &'t DataTree,
    ids: &'t [Id],
    readable: &'t [String],
    writable: &'t [String],
    time_ms: i64,
    staged: Vec<StagedWrite>,
    logs: Vec<(Level, String)>,
    violation: Option<RunError>,
}

impl MemoryBackend<'_> {
    /// Checks a read: a malformed path is the plugin's error to handle, a path outside the grants
    /// a violation (recorded; the host would end the invocation here).
    fn check_read(&mut self, node_path: &str) -> Result<(), ReadError> {
        path::validate(node_path, self.tree.limits().path_len_max).map_err(read_error)?;
        if !granted(self.readable, node_path) {
            self.violation
                .get_or_insert_with(|| RunError::CapabilityViolation {
                    path: node_path.to_string(),
                    write: false,
                });
            return Err(ReadError::NoAuth);
        }
        Ok(())
    }
}

impl Backend for MemoryBackend<'_> {
    fn get_data(&mut self, node_path: &str) -> Result<Node, ReadError> {
        self.check_read(node_path)?;
        let (data, node_stat) = self
            .tree
            .get_data(node_path, self.ids)
            .map_err(read_error)?;
        Ok(Node {
            data: data.unwrap_or_default().to_vec(),
            stat: stat(node_stat),
        })
    }

    fn exists(&mut self, node_path: &str) -> Result<Option<Stat>, ReadError> {
        self.check_read(node_path)?;
        Ok(self.tree.exists(node_path).map_err(read_error)?.map(stat))
    }

    fn get_children(&mut self, node_path: &str) -> Result<Vec<String>, ReadError> {
        self.check_read(node_path)?;
        let (children, _) = self
            .tree
            .get_children(node_path, self.ids)
            .map_err(read_error)?;
        Ok(children)
    }

    fn stat(&mut self, node_path: &str) -> Result<Stat, ReadError> {
        self.exists(node_path)?.ok_or(ReadError::NoNode)
    }

    fn stage(&mut self, write: StagedWrite) -> Result<(), WriteError> {
        let limits = self.tree.limits();
        let node_path = write.path();
        path::validate(node_path, limits.path_len_max)
            .map_err(|error| WriteError::InvalidPath(error.to_string()))?;
        // A sequential create makes a sibling of the named path, so its parent must be granted.
        let checked = match &write {
            StagedWrite::Create { mode, .. } if is_sequential(*mode) => path::parent(node_path),
            _ => node_path,
        };
        if !granted(self.writable, checked) {
            self.violation
                .get_or_insert_with(|| RunError::CapabilityViolation {
                    path: node_path.to_string(),
                    write: true,
                });
            return Err(WriteError::InvalidArgument(format!(
                "{node_path} is outside the plugin's writable prefixes"
            )));
        }
        match &write {
            StagedWrite::Create { data, mode, .. } => {
                check_data(data, limits)?;
                check_ttl(*mode, limits)?;
            }
            StagedWrite::SetData { data, version, .. } => {
                check_data(data, limits)?;
                check_version(*version)?;
            }
            StagedWrite::Delete { version, .. } | StagedWrite::Check { version, .. } => {
                check_version(*version)?;
            }
        }
        self.staged.push(write);
        Ok(())
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    fn commit_time_ms(&mut self) -> i64 {
        self.time_ms
    }
}

fn is_sequential(mode: CreateMode) -> bool {
    matches!(
        mode,
        CreateMode::PersistentSequential | CreateMode::PersistentSequentialWithTtl(_)
    )
}

fn check_data(data: &[u8], limits: &Limits) -> Result<(), WriteError> {
    if data.len() > limits.data_len_max {
        return Err(WriteError::InvalidArgument(format!(
            "data of {} bytes is longer than data_len_max ({})",
            data.len(),
            limits.data_len_max
        )));
    }
    Ok(())
}

fn check_ttl(mode: CreateMode, limits: &Limits) -> Result<(), WriteError> {
    if let CreateMode::PersistentWithTtl(ttl_ms) | CreateMode::PersistentSequentialWithTtl(ttl_ms) =
        mode
        && (ttl_ms <= 0 || ttl_ms > limits.ttl_max_ms)
    {
        return Err(WriteError::InvalidArgument(format!(
            "TTL {ttl_ms} ms is outside 1..={}",
            limits.ttl_max_ms
        )));
    }
    Ok(())
}

fn check_version(version: i32) -> Result<(), WriteError> {
    if version < -1 {
        return Err(WriteError::InvalidArgument(format!(
            "version {version} is below -1"
        )));
    }
    Ok(())
}

fn write_op(write: &StagedWrite) -> WriteOp {
    match write.clone() {
        StagedWrite::Create {
            path,
            data,
            mode,
            acl,
        } => WriteOp::Create {
            path,
            data: Some(data),
            acl: acl_of(acl),
            mode: match mode {
                CreateMode::Persistent => TreeCreateMode::Persistent,
                CreateMode::PersistentSequential => TreeCreateMode::PersistentSequential,
                CreateMode::Container => TreeCreateMode::Container,
                CreateMode::PersistentWithTtl(ttl_ms) => {
                    TreeCreateMode::PersistentWithTtl { ttl_ms }
                }
                CreateMode::PersistentSequentialWithTtl(ttl_ms) => {
                    TreeCreateMode::PersistentSequentialWithTtl { ttl_ms }
                }
            },
        },
        StagedWrite::SetData {
            path,
            data,
            version,
        } => WriteOp::SetData {
            path,
            data: Some(data),
            version,
        },
        StagedWrite::Delete { path, version } => WriteOp::Delete { path, version },
        StagedWrite::Check { path, version } => WriteOp::Check { path, version },
    }
}

/// The ACL of a preset, as the host builds it: `auth` entries stand for the plugin's identities.
fn acl_of(preset: AclPreset) -> Vec<Acl> {
    let creator = Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""));
    match preset {
        AclPreset::CreatorAll => vec![creator],
        AclPreset::CreatorAllWorldRead => vec![creator, Acl::new(Perms::READ, Id::anyone())],
        AclPreset::CreatorAllWorldReadAndWriter(subject) => vec![
            creator,
            Acl::new(Perms::READ, Id::anyone()),
            Acl::new(
                Perms(Perms::READ.0 | Perms::WRITE.0),
                Id::new(Id::SCHEME_X509, subject),
            ),
        ],
        AclPreset::Open => Acl::open().to_vec(),
    }
}

fn read_error(error: TreeError) -> ReadError {
    match error {
        TreeError::NoNode { .. } => ReadError::NoNode,
        TreeError::NoAuth { .. } => ReadError::NoAuth,
        other => ReadError::InvalidPath(other.to_string()),
    }
}

fn event_kind(kind: TreeEventKind) -> EventKind {
    match kind {
        TreeEventKind::NodeCreated => EventKind::NodeCreated,
        TreeEventKind::NodeDeleted => EventKind::NodeDeleted,
        TreeEventKind::NodeDataChanged => EventKind::NodeDataChanged,
        TreeEventKind::NodeChildrenChanged => EventKind::NodeChildrenChanged,
    }
}

fn stat(stat: TreeStat) -> Stat {
    Stat {
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        ctime: stat.ctime,
        mtime: stat.mtime,
        version: stat.version,
        cversion: stat.cversion,
        aversion: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
        pzxid: stat.pzxid,
    }
}
