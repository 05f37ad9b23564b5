//! The replicated state machine: znodes, sessions and the change history.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::ops::Bound;

use crate::acl::{self, allows};
use crate::child_names::ChildNames;
use crate::quota::{self, QuotaTable, UsageChange};
use crate::{
    Acl, AclList, Caller, ChangeHistory, ChangeSet, CloseReason, CreateMode, EventKind,
    HistoryEntry, Id, Limits, NodeKind, NodeRecord, OpResult, Perms, Session, SessionId,
    SessionTable, SessionWrites, SnapshotError, SnapshotReader, SnapshotWriter, Stat, TreeError,
    Txn, TxnKind, TxnResult, WatchEvent, WriteOp, Zxid, path,
};

mod quota_upkeep;

/// The whole replicated state in plain, ordered parts: what storage loads and snapshots carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeState {
    pub last_zxid: Zxid,
    /// The commit time of the last transaction that carried one (see [`DataTree::last_time_ms`]).
    pub last_time_ms: i64,
    /// The cluster's limits; `None` in a state stored before they were kept, which then takes
    /// the node's configured ones.
    pub limits: Option<Limits>,
    /// Every node, root included, in ascending path order.
    pub nodes: Vec<(String, NodeRecord)>,
    /// Every session in ascending id order.
    pub sessions: Vec<(SessionId, Session)>,
    /// The record of recent writes of each session that has one, in ascending id order (empty in
    /// a state stored before they were kept).
    pub session_writes: Vec<(SessionId, SessionWrites)>,
    /// The history window, oldest first.
    pub history: Vec<HistoryEntry>,
    pub history_compacted_through: Zxid,
    /// The sequence number of the next history entry.
    pub history_next_seq: u64,
}

/// What applying one transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub zxid: Zxid,
    pub result: TxnResult,
    /// The watch events the transaction fired, in ZooKeeper's order. Empty if it failed.
    pub events: Vec<WatchEvent>,
    /// The ACL of each event's node when the event fired, in the order of `events`: the
    /// deleted node's for NodeDeleted, the parent's for NodeChildrenChanged. A server delivers an
    /// event only to a watcher that may READ the node (ZooKeeper 3.9.2, CVE-2024-23944), so that
    /// a recursive watch on `/` cannot learn the paths of nodes hidden from it.
    pub event_acls: Vec<AclList>,
}

/// One znode in memory: its record and the names of its children.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Znode {
    record: NodeRecord,
    children: ChildNames,
}

/// The names of a node's children, in ascending order. Boxed strings rather than `String`s: a
/// name never grows, and the set's leaves hold 16 bytes per name instead of 24.
pub type Children = BTreeSet<Box<str>>;

/// Every znode by path. A B-tree leaf holds eleven entries and, filled in path order as
/// sequential and bulk-loaded nodes are, splits into halves that stay about half full; each
/// entry is therefore a boxed path and a pointer to the node (24 bytes) rather than a `String`
/// and the node itself (160 bytes then), which left as much again of empty slots behind it. At
/// 1 M znodes this was 128 bytes per znode less (538 → 410, `bench/memory`).
type NodeMap = BTreeMap<Box<str>, Box<Znode>>;

// A node fills one allocation of the allocator's 112-byte size class; a field added here that
// outgrows it costs 16 to 48 bytes per znode (the next classes are 128 and 160).
const _: () = assert!(std::mem::size_of::<Znode>() <= 112);

impl Znode {
    fn stat(&self) -> Stat {
        self.record.stat(self.children.len())
    }
}

/// Which change to its children a parent records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChildChange {
    Created,
    Deleted,
}

/// The commit point of the transaction being applied.
#[derive(Clone, Copy, Debug)]
struct At {
    zxid: Zxid,
    time_ms: i64,
}

/// How to reverse one operation of a multi that must be rolled back. Each primitive operation
/// either fails before changing anything or succeeds and returns its undo.
#[derive(Debug)]
enum Undo {
    Create {
        path: String,
        parent_cversion: i32,
        parent_pzxid: Zxid,
    },
    Delete {
        path: String,
        record: NodeRecord,
        parent_cversion: i32,
        parent_pzxid: Zxid,
    },
    SetData {
        path: String,
        data: Option<Box<[u8]>>,
        version: i32,
        mzxid: Zxid,
        mtime: i64,
    },
    SetAcl {
        path: String,
        acl: AclList,
        aversion: i32,
    },
    Nothing,
}

/// The znode tree with its sessions and change history.
///
/// [`DataTree::apply`] is the only way to change it. Reads answer from the current state; whether
/// that state is fresh enough (linearizable reads) is the consensus layer's concern.
#[derive(Clone, Debug)]
pub struct DataTree {
    /// The cluster's limits: replicated state, changed only by [`TxnKind::SetLimits`].
    limits: Limits,
    nodes: NodeMap,
    sessions: SessionTable,
    /// Each session's recent writes, so that a write proposed again takes effect once.
    session_writes: BTreeMap<SessionId, SessionWrites>,
    history: ChangeHistory,
    last_zxid: Zxid,
    /// The commit time of the last applied transaction that carried one: no later transaction
    /// commits before it (see [`DataTree::apply`]).
    last_time_ms: i64,
    /// Containers and TTL nodes, so that finding expired ones does not scan the tree.
    containers: BTreeSet<String>,
    ttl_nodes: BTreeSet<String>,
    /// Distinct ACL lists, shared by all nodes that carry them.
    acl_lists: BTreeSet<AclList>,
    /// What changed since the last `take_changes`, for storage.
    dirty_nodes: BTreeSet<String>,
    dirty_sessions: BTreeSet<SessionId>,
    dirty_session_writes: BTreeSet<SessionId>,
    pending_history: Vec<HistoryEntry>,
    /// Whether the limits changed since the last `take_changes`.
    limits_changed: bool,
    /// The ACLs of the nodes the transaction being applied deleted, in deletion order; empty
    /// between transactions.
    deleted_acls: Vec<(String, AclList)>,
    /// ZooKeeper's quotas with the usage of each quota'd subtree: derived from the limits nodes
    /// under `/zookeeper/quota` and the nodes themselves, so rebuilt on load, never stored.
    quotas: QuotaTable,
}

impl PartialEq for DataTree {
    /// Two trees are equal if their replicated state is; pending changes do not count.
    fn eq(&self, other: &DataTree) -> bool {
        self.last_zxid == other.last_zxid
            && self.last_time_ms == other.last_time_ms
            && self.limits == other.limits
            && self.nodes == other.nodes
            && self.sessions == other.sessions
            && self.session_writes == other.session_writes
            && self.history == other.history
    }
}

impl DataTree {
    /// ACL lists beyond this many distinct ones are pruned of unused entries.
    const ACL_LISTS_PRUNE_AT: usize = 4096;

    /// A new tree: the root (open to everyone as in ZooKeeper, except for changing its ACL:
    /// [`Acl::root`]) and the system node [`SYSTEM_PATH`]
    /// (administrators only: it holds plugin deployments, their configuration, logs and dead
    /// letters, which are nobody else's business; a node below it may grant more, as
    /// `/polis/clock` does, and an administrator may publish a plugin's status with `setACL`).
    ///
    /// [`SYSTEM_PATH`]: crate::SYSTEM_PATH
    pub fn new(limits: Limits) -> DataTree {
        let mut tree = DataTree::empty(limits);
        let open = tree.intern_acl(&Acl::root());
        let administrators_only = tree.intern_acl(&Acl::administrators_only());
        tree.nodes.insert(
            "/".into(),
            Box::new(Znode {
                record: genesis_record(open),
                children: ChildNames::new(),
            }),
        );
        tree.insert_node(
            crate::SYSTEM_PATH.to_string(),
            genesis_record(administrators_only),
        );
        // The first change set carries the whole genesis state, root and limits included, so
        // that a store that commits it holds a loadable tree.
        tree.dirty_nodes.insert("/".to_string());
        tree.limits_changed = true;
        tree
    }

    fn empty(limits: Limits) -> DataTree {
        let history = ChangeHistory::new(limits.history_events_max);
        DataTree {
            limits,
            nodes: NodeMap::new(),
            sessions: SessionTable::default(),
            session_writes: BTreeMap::new(),
            history,
            last_zxid: 0,
            last_time_ms: 0,
            containers: BTreeSet::new(),
            ttl_nodes: BTreeSet::new(),
            acl_lists: BTreeSet::new(),
            dirty_nodes: BTreeSet::new(),
            dirty_sessions: BTreeSet::new(),
            dirty_session_writes: BTreeSet::new(),
            pending_history: Vec::new(),
            limits_changed: false,
            deleted_acls: Vec::new(),
            quotas: QuotaTable::default(),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Applying transactions.

    /// Applies one committed transaction. A failed operation changes nothing but the last applied
    /// zxid, as a ZooKeeper error transaction does.
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        if txn.zxid <= self.last_zxid {
            return Applied {
                zxid: txn.zxid,
                result: Err(TreeError::ZxidOutOfOrder {
                    zxid: txn.zxid,
                    last_zxid: self.last_zxid,
                }),
                events: Vec::new(),
                event_acls: Vec::new(),
            };
        }
        let time_ms = self.commit_time_of(txn);
        let at = At {
            zxid: txn.zxid,
            time_ms,
        };
        let mut events = Vec::new();
        let result = match &txn.kind {
            TxnKind::OpenSession {
                timeout_ms,
                password,
            } => self.open_session(at, *timeout_ms, *password),
            TxnKind::CloseSession { session_id, reason } => {
                self.close_session(at, *session_id, *reason, &mut events)
            }
            TxnKind::Write { caller, op } => self
                .write(at, caller, op, &mut events)
                .map(|(result, _undo)| result),
            TxnKind::Multi { caller, ops } => self.multi(at, caller, ops, &mut events),
            TxnKind::RemoveExpiredNode { path } => self.remove_expired_node(at, path, &mut events),
            TxnKind::Noop => Ok(OpResult::Noop),
            TxnKind::SetLimits { limits } => self.set_limits(limits),
            TxnKind::Once { write_id, txn } => self.apply_once(at, *write_id, txn, &mut events),
        };
        if result.is_err() {
            events.clear();
        }
        let event_acls = self.event_acls(&events);
        self.deleted_acls.clear();
        self.last_zxid = txn.zxid;
        debug_assert!(time_ms >= self.last_time_ms || txn.kind == TxnKind::Noop);
        self.last_time_ms = self.last_time_ms.max(time_ms);
        if !events.is_empty() {
            let appended = self.history.append(&events, time_ms);
            self.pending_history.extend(appended);
        }
        Applied {
            zxid: txn.zxid,
            result,
            events,
            event_acls,
        }
    }

    /// The time `txn` commits at: its leader's stamp, but never before the commit time of the
    /// transaction applied before it.
    ///
    /// A leader never stamps backwards while it leads (its proposer holds its stamps still when
    /// the wall clock is set back), but a new leader's clock may run behind the old one's.
    /// ZooKeeper clients rely on `ctime`/`mtime` rising with the zxid, a TTL node must not live
    /// longer because leadership moved, and plugins take commit times as the passing of time;
    /// so the tree itself, the one place every replica passes through in the same order, keeps
    /// commit times monotonic. A no-op carries no time and leaves the last time alone.
    fn commit_time_of(&self, txn: &Txn) -> i64 {
        if txn.kind == TxnKind::Noop {
            txn.time_ms
        } else {
            txn.time_ms.max(self.last_time_ms)
        }
    }

    /// The ACL of each event's node as the event fired (see [`Applied::event_acls`]): a deleted
    /// node's from the deletions of this transaction, in order, and any other node's from the
    /// tree after it (or, for a node that a later operation of the same multi deleted, from that
    /// deletion). A node that is nowhere to be found gets an empty ACL: administrators only.
    fn event_acls(&self, events: &[WatchEvent]) -> Vec<AclList> {
        let mut deletions = self.deleted_acls.iter();
        events
            .iter()
            .map(|event| {
                if event.kind == EventKind::NodeDeleted
                    && let Some((_, acl)) = deletions.next()
                {
                    return acl.clone();
                }
                if let Some(node) = self.nodes.get(event.path.as_str()) {
                    return node.record.acl.clone();
                }
                self.deleted_acls
                    .iter()
                    .find(|(deleted, _)| *deleted == event.path)
                    .map_or_else(|| AclList::from(Vec::new()), |(_, acl)| acl.clone())
            })
            .collect()
    }

    /// The ACL a replayed history event is checked against: the node's now, or, for a node since
    /// deleted, that of its nearest existing ancestor (the history keeps no ACLs).
    pub fn replay_acl(&self, event_path: &str) -> AclList {
        path::self_and_ancestors(event_path)
            .find_map(|candidate| self.nodes.get(candidate))
            .map_or_else(|| AclList::from(Vec::new()), |node| node.record.acl.clone())
    }

    fn open_session(&mut self, at: At, timeout_ms: i32, password: [u8; 16]) -> TxnResult {
        if self.sessions.len() >= self.limits.sessions_max {
            return Err(TreeError::LimitExceeded {
                limit: "sessions_max",
                max: self.limits.sessions_max,
            });
        }
        // ZooKeeper clamps the requested timeout into [minSessionTimeout, maxSessionTimeout].
        let timeout_ms = timeout_ms.clamp(
            self.limits.session_timeout_min_ms,
            self.limits.session_timeout_max_ms,
        );
        let session_id = at.zxid;
        self.sessions.insert(
            session_id,
            Session {
                timeout_ms,
                password,
                ephemerals: BTreeSet::new(),
            },
        );
        self.dirty_sessions.insert(session_id);
        Ok(OpResult::SessionOpened {
            session_id,
            timeout_ms,
        })
    }

    /// A session's write that takes effect at most once (see [`SessionWrites`]): answered from
    /// the session's record if it already did, applied and recorded otherwise. Only a write that
    /// took effect is recorded: one that failed changed nothing, so applying it again is no
    /// second effect.
    fn apply_once(
        &mut self,
        at: At,
        write_id: u64,
        txn: &TxnKind,
        events: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        let session_id = match txn {
            TxnKind::Write { caller, .. } | TxnKind::Multi { caller, .. } => caller.session_id,
            _ => {
                return Err(TreeError::BadArguments {
                    reason: "only a session's write or multi may be applied once".to_string(),
                });
            }
        };
        if let Some(earlier) = self
            .session_writes
            .get(&session_id)
            .and_then(|writes| writes.find(write_id))
        {
            debug_assert!(earlier.zxid < at.zxid);
            return earlier
                .result
                .clone()
                .ok_or(TreeError::AppliedBefore { zxid: earlier.zxid });
        }
        let result = match txn {
            TxnKind::Write { caller, op } => {
                self.write(at, caller, op, events).map(|(result, _)| result)
            }
            TxnKind::Multi { caller, ops } => self.multi(at, caller, ops, events),
            _ => unreachable!("checked above"),
        };
        // A session that is gone (or the system's) keeps no record: nothing can retry for it.
        if let Ok(result) = &result
            && self.sessions.contains(session_id)
        {
            self.session_writes
                .entry(session_id)
                .or_default()
                .record(write_id, at.zxid, result);
            self.dirty_session_writes.insert(session_id);
        }
        result
    }

    /// The record of `session_id`'s recent writes, if it has one.
    pub fn session_writes(&self, session_id: SessionId) -> Option<&SessionWrites> {
        self.session_writes.get(&session_id)
    }

    fn close_session(
        &mut self,
        at: At,
        session_id: SessionId,
        _reason: CloseReason,
        events: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        let Some(session) = self.sessions.get(session_id) else {
            return Err(TreeError::SessionExpired { session_id });
        };
        // Ephemerals cannot have children, so they can be deleted in any order; path order keeps
        // the events the same on every replica.
        let ephemerals: Vec<String> = session.ephemerals.iter().cloned().collect();
        for ephemeral in &ephemerals {
            self.delete_unchecked(at, ephemeral, events);
        }
        self.sessions.remove(session_id);
        self.dirty_sessions.insert(session_id);
        if self.session_writes.remove(&session_id).is_some() {
            self.dirty_session_writes.insert(session_id);
        }
        Ok(OpResult::SessionClosed {
            ephemerals_deleted: ephemerals,
        })
    }

    /// Makes `limits` the cluster's limits. Everything already in the tree stays, even where a
    /// lower limit would refuse it now (as ZooKeeper keeps nodes larger than a lowered
    /// `jute.maxbuffer`): limits bound what grows from here on. A lower history bound drops the
    /// oldest events at once.
    fn set_limits(&mut self, limits: &Limits) -> TxnResult {
        limits
            .validate()
            .map_err(|reason| TreeError::BadArguments { reason })?;
        if *limits != self.limits {
            self.history.set_events_max(limits.history_events_max);
            self.limits = limits.clone();
            self.limits_changed = true;
        }
        Ok(OpResult::LimitsSet)
    }

    fn remove_expired_node(
        &mut self,
        at: At,
        node_path: &str,
        events: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        let Some(node) = self.nodes.get(node_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        if !node.children.is_empty() {
            return Err(TreeError::NotEmpty {
                path: node_path.to_string(),
            });
        }
        if !is_expired(node, at.time_ms) {
            return Err(TreeError::NotExpired {
                path: node_path.to_string(),
            });
        }
        self.delete_unchecked(at, node_path, events);
        Ok(OpResult::NodeRemoved)
    }

    fn multi(
        &mut self,
        at: At,
        caller: &Caller,
        ops: &[WriteOp],
        events: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        if ops.len() > self.limits.multi_ops_max {
            return Err(TreeError::LimitExceeded {
                limit: "multi_ops_max",
                max: self.limits.multi_ops_max,
            });
        }
        let events_before = events.len();
        // The nodes this multi touches are collected apart, so that a rolled-back multi leaves
        // nothing behind for storage to rewrite.
        let dirty_before = std::mem::take(&mut self.dirty_nodes);
        let mut results = Vec::with_capacity(ops.len());
        let mut undos = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            match self.write(at, caller, op, events) {
                Ok((result, undo)) => {
                    results.push(result);
                    undos.push(undo);
                }
                Err(error) => {
                    for undo in undos.into_iter().rev() {
                        self.undo(undo);
                    }
                    self.dirty_nodes = dirty_before;
                    events.truncate(events_before);
                    return Err(TreeError::MultiFailed {
                        index,
                        error: Box::new(error),
                    });
                }
            }
        }
        let touched = std::mem::replace(&mut self.dirty_nodes, dirty_before);
        self.dirty_nodes.extend(touched);
        Ok(OpResult::Multi(results))
    }

    fn write(
        &mut self,
        at: At,
        caller: &Caller,
        op: &WriteOp,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(OpResult, Undo), TreeError> {
        if caller.session_id != crate::SYSTEM_SESSION_ID
            && !self.sessions.contains(caller.session_id)
        {
            return Err(TreeError::SessionExpired {
                session_id: caller.session_id,
            });
        }
        match op {
            WriteOp::Create { path, .. } => {
                Self::check_zookeeper_subtree(caller, path, Perms::CREATE)?;
            }
            WriteOp::Delete { path, .. } => {
                Self::check_zookeeper_subtree(caller, path, Perms::DELETE)?;
            }
            WriteOp::SetData { path, .. } => {
                Self::check_zookeeper_subtree(caller, path, Perms::WRITE)?;
            }
            WriteOp::SetAcl { path, .. } => {
                Self::check_zookeeper_subtree(caller, path, Perms::ADMIN)?;
            }
            WriteOp::Check { .. } => {}
        }
        match op {
            WriteOp::Create {
                path,
                data,
                acl,
                mode,
            } => self.create(at, caller, path, data.as_deref(), acl, *mode, events),
            WriteOp::Delete { path, version } => self.delete(at, caller, path, *version, events),
            WriteOp::SetData {
                path,
                data,
                version,
            } => self.set_data(at, caller, path, data.as_deref(), *version, events),
            WriteOp::SetAcl { path, acl, version } => self.set_acl(caller, path, acl, *version),
            WriteOp::Check { path, version } => {
                self.check(caller, path, *version)?;
                Ok((OpResult::Checked, Undo::Nothing))
            }
        }
    }

    /// ZooKeeper's create, with its checks in `PrepRequestProcessor`'s order.
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        at: At,
        caller: &Caller,
        requested_path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(OpResult, Undo), TreeError> {
        // A sequential create may name only the parent ("/queue/"): the suffix completes the path.
        let probe_path = if mode.is_sequential() {
            format!("{requested_path}0")
        } else {
            requested_path.to_string()
        };
        path::validate(&probe_path, self.limits.path_len_max)?;
        // No special case for "/": its parent is the root itself, so a plain create of "/" fails
        // with NodeExists after the ACL checks and a sequential one creates "/0000000000", as in
        // ZooKeeper.
        self.check_data_len(data)?;
        if let Some(ttl_ms) = mode.ttl_ms()
            && !(1..=self.limits.ttl_max_ms).contains(&ttl_ms)
        {
            return Err(TreeError::BadArguments {
                reason: format!("a TTL must be between 1 and {} ms", self.limits.ttl_max_ms),
            });
        }
        if mode.is_ephemeral() && caller.session_id == crate::SYSTEM_SESSION_ID {
            return Err(TreeError::BadArguments {
                reason: "the system session cannot own ephemeral nodes".to_string(),
            });
        }
        let acl = acl::fixup(acl, &caller.ids, &self.limits)?;
        let parent_path = path::parent(&probe_path).to_string();
        let Some(parent) = self.nodes.get(parent_path.as_str()) else {
            return Err(TreeError::NoNode { path: parent_path });
        };
        require(&parent.record.acl, Perms::CREATE, caller, &parent_path)?;
        let node_path = if mode.is_sequential() {
            // ZooKeeper names sequential nodes after the parent's cversion, zero-padded to 10.
            format!("{requested_path}{:010}", parent.record.cversion)
        } else {
            requested_path.to_string()
        };
        path::validate(&node_path, self.limits.path_len_max)?;
        if self.nodes.contains_key(node_path.as_str()) {
            return Err(TreeError::NodeExists { path: node_path });
        }
        if matches!(parent.record.kind, NodeKind::Ephemeral { .. }) {
            return Err(TreeError::NoChildrenForEphemerals { path: node_path });
        }
        if parent.children.len() >= self.limits.children_max {
            return Err(TreeError::LimitExceeded {
                limit: "children_max",
                max: self.limits.children_max,
            });
        }
        if self.nodes.len() >= self.limits.nodes_max {
            return Err(TreeError::LimitExceeded {
                limit: "nodes_max",
                max: self.limits.nodes_max,
            });
        }
        Self::check_quota_node(&node_path, data)?;
        self.check_quota(&node_path, 1, data_len(data))?;
        let kind = match mode {
            CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                let ephemerals = self
                    .sessions
                    .get(caller.session_id)
                    .map_or(0, |session| session.ephemerals.len());
                if ephemerals >= self.limits.ephemerals_per_session_max {
                    return Err(TreeError::LimitExceeded {
                        limit: "ephemerals_per_session_max",
                        max: self.limits.ephemerals_per_session_max,
                    });
                }
                NodeKind::Ephemeral {
                    owner: caller.session_id,
                }
            }
            CreateMode::Container => NodeKind::Container,
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => NodeKind::Ttl { ttl_ms },
        };
        let acl = self.intern_acl(&acl);
        let record = NodeRecord {
            data: data.map(Box::from),
            acl,
            kind,
            czxid: at.zxid,
            mzxid: at.zxid,
            pzxid: at.zxid,
            ctime: at.time_ms,
            mtime: at.time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
        };
        let stat = record.stat(0);
        self.insert_node(node_path.clone(), record);
        let (parent_cversion, parent_pzxid) =
            self.touch_parent(&parent_path, at.zxid, ChildChange::Created);
        events.push(event(at, EventKind::NodeCreated, &node_path));
        events.push(event(at, EventKind::NodeChildrenChanged, &parent_path));
        Ok((
            OpResult::Created {
                path: node_path.clone(),
                stat,
            },
            Undo::Create {
                path: node_path,
                parent_cversion,
                parent_pzxid,
            },
        ))
    }

    fn delete(
        &mut self,
        at: At,
        caller: &Caller,
        node_path: &str,
        version: i32,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(OpResult, Undo), TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        if node_path == "/" {
            return Err(TreeError::BadArguments {
                reason: "the root cannot be deleted".to_string(),
            });
        }
        if node_path == crate::SYSTEM_PATH {
            if !caller.ids.iter().any(Id::is_super) {
                return Err(TreeError::NoAuth {
                    path: node_path.to_string(),
                    perm: Perms::DELETE.name(),
                });
            }
            // Not even an administrator: the cluster keeps its plugins and their state below
            // it, and a tree without it could deploy no plugin until someone recreated it by
            // hand, open to the world. ZooKeeper keeps `/zookeeper` likewise.
            return Err(TreeError::BadArguments {
                reason: format!("{node_path} is the cluster's own node and cannot be deleted"),
            });
        }
        let parent_path = path::parent(node_path);
        let Some(parent) = self.nodes.get(parent_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        require(&parent.record.acl, Perms::DELETE, caller, parent_path)?;
        let Some(node) = self.nodes.get(node_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        check_version(node_path, version, node.record.version)?;
        if !node.children.is_empty() {
            return Err(TreeError::NotEmpty {
                path: node_path.to_string(),
            });
        }
        let (record, parent_cversion, parent_pzxid) = self.delete_unchecked(at, node_path, events);
        Ok((
            OpResult::Deleted,
            Undo::Delete {
                path: node_path.to_string(),
                record,
                parent_cversion,
                parent_pzxid,
            },
        ))
    }

    fn set_data(
        &mut self,
        at: At,
        caller: &Caller,
        node_path: &str,
        data: Option<&[u8]>,
        version: i32,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(OpResult, Undo), TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        self.check_data_len(data)?;
        let Some(node) = self.nodes.get_mut(node_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        require(&node.record.acl, Perms::WRITE, caller, node_path)?;
        check_version(node_path, version, node.record.version)?;
        Self::check_quota_node(node_path, data)?;
        let old_len = data_len(node.record.data.as_deref());
        let new_len = data_len(data);
        // The quota table is a field apart from the nodes, so checking it borrows alongside.
        self.quotas.check(
            node_path,
            UsageChange {
                count: 0,
                bytes: new_len - old_len,
            },
        )?;
        let undo = Undo::SetData {
            path: node_path.to_string(),
            data: std::mem::replace(&mut node.record.data, data.map(Box::from)),
            version: node.record.version,
            mzxid: node.record.mzxid,
            mtime: node.record.mtime,
        };
        node.record.version = next_version(node.record.version);
        node.record.mzxid = at.zxid;
        node.record.mtime = at.time_ms;
        let stat = node.stat();
        self.dirty_nodes.insert(node_path.to_string());
        self.quota_after_data_change(node_path, old_len, new_len);
        events.push(event(at, EventKind::NodeDataChanged, node_path));
        Ok((OpResult::DataSet { stat }, undo))
    }

    fn set_acl(
        &mut self,
        caller: &Caller,
        node_path: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<(OpResult, Undo), TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        // ZooKeeper validates the new ACL before it looks the node up.
        let acl = acl::fixup(acl, &caller.ids, &self.limits)?;
        let Some(node) = self.nodes.get(node_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        require(&node.record.acl, Perms::ADMIN, caller, node_path)?;
        check_version(node_path, version, node.record.aversion)?;
        let acl = self.intern_acl(&acl);
        let Some(node) = self.nodes.get_mut(node_path) else {
            unreachable!("checked above");
        };
        let undo = Undo::SetAcl {
            path: node_path.to_string(),
            acl: std::mem::replace(&mut node.record.acl, acl),
            aversion: node.record.aversion,
        };
        node.record.aversion = next_version(node.record.aversion);
        let stat = node.stat();
        self.dirty_nodes.insert(node_path.to_string());
        // ZooKeeper's setACL fires no watch.
        Ok((OpResult::AclSet { stat }, undo))
    }

    fn check(&self, caller: &Caller, node_path: &str, version: i32) -> Result<(), TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        let Some(node) = self.nodes.get(node_path) else {
            return Err(TreeError::NoNode {
                path: node_path.to_string(),
            });
        };
        require(&node.record.acl, Perms::READ, caller, node_path)?;
        check_version(node_path, version, node.record.version)
    }

    /// Deletes a node known to exist and to have no children, updating its parent. Returns the
    /// node's record and the parent's previous cversion and pzxid.
    fn delete_unchecked(
        &mut self,
        at: At,
        node_path: &str,
        events: &mut Vec<WatchEvent>,
    ) -> (NodeRecord, i32, Zxid) {
        let record = self.remove_node(node_path);
        self.deleted_acls
            .push((node_path.to_string(), record.acl.clone()));
        let parent_path = path::parent(node_path).to_string();
        let (parent_cversion, parent_pzxid) =
            self.touch_parent(&parent_path, at.zxid, ChildChange::Deleted);
        events.push(event(at, EventKind::NodeDeleted, node_path));
        events.push(event(at, EventKind::NodeChildrenChanged, &parent_path));
        (record, parent_cversion, parent_pzxid)
    }

    /// Records a child change on the parent, as ZooKeeper 3.9's `DataTree` does: pzxid becomes the
    /// zxid of the change; cversion counts child creations only (`createNode` bumps it, while
    /// `deleteNode` touches only pzxid), so it only grows and sequential names, taken from it, are
    /// never reused. Returns the previous values.
    fn touch_parent(&mut self, parent_path: &str, zxid: Zxid, change: ChildChange) -> (i32, Zxid) {
        let parent = self
            .nodes
            .get_mut(parent_path)
            .expect("a node's parent exists");
        let previous = (parent.record.cversion, parent.record.pzxid);
        if change == ChildChange::Created {
            parent.record.cversion = parent.record.cversion.wrapping_add(1);
        }
        parent.record.pzxid = zxid;
        self.dirty_nodes.insert(parent_path.to_string());
        previous
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Create {
                path: node_path,
                parent_cversion,
                parent_pzxid,
            } => {
                self.remove_node(&node_path);
                self.restore_parent(&node_path, parent_cversion, parent_pzxid);
            }
            Undo::Delete {
                path: node_path,
                record,
                parent_cversion,
                parent_pzxid,
            } => {
                self.insert_node(node_path.clone(), record);
                self.restore_parent(&node_path, parent_cversion, parent_pzxid);
            }
            Undo::SetData {
                path: node_path,
                data,
                version,
                mzxid,
                mtime,
            } => {
                let node = self
                    .nodes
                    .get_mut(node_path.as_str())
                    .expect("undo of a live node");
                let (old_len, new_len) = (
                    data_len(node.record.data.as_deref()),
                    data_len(data.as_deref()),
                );
                node.record.data = data;
                node.record.version = version;
                node.record.mzxid = mzxid;
                node.record.mtime = mtime;
                self.quota_after_data_change(&node_path, old_len, new_len);
            }
            Undo::SetAcl {
                path: node_path,
                acl,
                aversion,
            } => {
                let node = self
                    .nodes
                    .get_mut(node_path.as_str())
                    .expect("undo of a live node");
                node.record.acl = acl;
                node.record.aversion = aversion;
            }
            Undo::Nothing => {}
        }
    }

    fn restore_parent(&mut self, node_path: &str, cversion: i32, pzxid: Zxid) {
        let parent = self
            .nodes
            .get_mut(path::parent(node_path))
            .expect("a node's parent exists");
        parent.record.cversion = cversion;
        parent.record.pzxid = pzxid;
    }

    /// Adds a node under its existing parent and to every index.
    fn insert_node(&mut self, node_path: String, record: NodeRecord) {
        debug_assert!(
            !self.nodes.contains_key(node_path.as_str()),
            "inserting over the live node {node_path}"
        );
        let parent = self
            .nodes
            .get_mut(path::parent(&node_path))
            .expect("a node's parent exists");
        let added = parent.children.insert(path::name(&node_path).into());
        debug_assert!(added, "{node_path} was already its parent's child");
        match record.kind {
            NodeKind::Ephemeral { owner } => {
                if let Some(session) = self.sessions.get_mut(owner) {
                    session.ephemerals.insert(node_path.clone());
                }
            }
            NodeKind::Container => {
                self.containers.insert(node_path.clone());
            }
            NodeKind::Ttl { .. } => {
                self.ttl_nodes.insert(node_path.clone());
            }
            NodeKind::Persistent => {}
        }
        self.dirty_nodes.insert(node_path.clone());
        let quota_relevant = !self.quotas.is_empty() || quota::is_zookeeper_subtree(&node_path);
        let inserted = quota_relevant.then(|| node_path.clone());
        self.nodes.insert(
            node_path.into_boxed_str(),
            Box::new(Znode {
                record,
                children: ChildNames::new(),
            }),
        );
        if let Some(inserted) = inserted {
            self.quota_after_insert(&inserted);
        }
    }

    /// Removes a childless node from its parent and every index.
    fn remove_node(&mut self, node_path: &str) -> NodeRecord {
        let node = self.nodes.remove(node_path).expect("removing a live node");
        debug_assert!(node.children.is_empty(), "removing a node with children");
        let parent = self
            .nodes
            .get_mut(path::parent(node_path))
            .expect("a live node's parent is live");
        let removed = parent.children.remove(path::name(node_path));
        debug_assert!(removed, "{node_path} was not its parent's child");
        match node.record.kind {
            NodeKind::Ephemeral { owner } => {
                if let Some(session) = self.sessions.get_mut(owner) {
                    session.ephemerals.remove(node_path);
                }
            }
            NodeKind::Container => {
                self.containers.remove(node_path);
            }
            NodeKind::Ttl { .. } => {
                self.ttl_nodes.remove(node_path);
            }
            NodeKind::Persistent => {}
        }
        self.dirty_nodes.insert(node_path.to_string());
        self.quota_after_remove(node_path, &node.record);
        node.record
    }

    fn check_data_len(&self, data: Option<&[u8]>) -> Result<(), TreeError> {
        if data.map_or(0, <[u8]>::len) > self.limits.data_len_max {
            return Err(TreeError::LimitExceeded {
                limit: "data_len_max",
                max: self.limits.data_len_max,
            });
        }
        Ok(())
    }

    /// Returns the shared copy of an ACL list, adding it if new.
    fn intern_acl(&mut self, acl: &[Acl]) -> AclList {
        if let Some(shared) = self.acl_lists.get(acl) {
            return shared.clone();
        }
        if self.acl_lists.len() >= Self::ACL_LISTS_PRUNE_AT {
            self.acl_lists
                .retain(|shared| std::sync::Arc::strong_count(shared) > 1);
        }
        let shared: AclList = acl.into();
        self.acl_lists.insert(shared.clone());
        shared
    }

    // ----------------------------------------------------------------------------------------
    // Reads.

    /// A node's data (`None` for null data) and stat (ZooKeeper's `getData`); needs READ.
    pub fn get_data(
        &self,
        node_path: &str,
        caller_ids: &[Id],
    ) -> Result<(Option<&[u8]>, Stat), TreeError> {
        let node = self.readable(node_path, caller_ids)?;
        Ok((node.record.data.as_deref(), node.stat()))
    }

    /// A node's stat, or `None` if it does not exist (ZooKeeper's `exists`, which checks no ACL).
    pub fn exists(&self, node_path: &str) -> Result<Option<Stat>, TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        Ok(self.nodes.get(node_path).map(|node| node.stat()))
    }

    /// A node's children names in ascending order and its stat (`getChildren2`); needs READ.
    pub fn get_children(
        &self,
        node_path: &str,
        caller_ids: &[Id],
    ) -> Result<(Vec<String>, Stat), TreeError> {
        let node = self.readable(node_path, caller_ids)?;
        Ok((
            node.children
                .names()
                .iter()
                .map(|name| name.to_string())
                .collect(),
            node.stat(),
        ))
    }

    /// A node's ACL and stat (`getACL`); needs READ or ADMIN.
    ///
    /// As ZooKeeper since 3.4.14/3.5.5 (ZOOKEEPER-1392, CVE-2019-0201): a caller without ADMIN
    /// sees digest entries as `user:x`, so that password hashes are not handed to anyone who
    /// may read the node's data.
    pub fn get_acl(
        &self,
        node_path: &str,
        caller_ids: &[Id],
    ) -> Result<(AclList, Stat), TreeError> {
        let node = self.existing(node_path)?;
        let acl = &node.record.acl;
        let is_admin = allows(acl, Perms::ADMIN, caller_ids);
        if !is_admin && !allows(acl, Perms::READ, caller_ids) {
            return Err(TreeError::NoAuth {
                path: node_path.to_string(),
                perm: "READ or ADMIN",
            });
        }
        if is_admin || !acl.iter().any(|entry| entry.id.scheme == Id::SCHEME_DIGEST) {
            return Ok((acl.clone(), node.stat()));
        }
        let masked: Vec<Acl> = acl
            .iter()
            .map(|entry| match entry.id.id.split_once(':') {
                Some((user, _hash)) if entry.id.scheme == Id::SCHEME_DIGEST => {
                    Acl::new(entry.perms, Id::new(Id::SCHEME_DIGEST, format!("{user}:x")))
                }
                _ => entry.clone(),
            })
            .collect();
        Ok((AclList::from(masked), node.stat()))
    }

    /// The number of nodes below a node, at any depth (`getAllChildrenNumber`); needs READ.
    pub fn count_descendants(
        &self,
        node_path: &str,
        caller_ids: &[Id],
    ) -> Result<usize, TreeError> {
        self.readable(node_path, caller_ids)?;
        if node_path == "/" {
            return Ok(self.nodes.len() - 1);
        }
        // Descendants are exactly the keys in ["{path}/", "{path}0"): '0' follows '/' in ASCII.
        let start = format!("{node_path}/");
        let end = format!("{node_path}0");
        Ok(self
            .nodes
            .range::<str, _>((
                Bound::Included(start.as_str()),
                Bound::Excluded(end.as_str()),
            ))
            .count())
    }

    /// The paths of a session's ephemeral nodes at or below `prefix` (`getEphemerals`).
    pub fn ephemerals(&self, session_id: SessionId, prefix: &str) -> Vec<String> {
        self.sessions
            .get(session_id)
            .map(|session| {
                session
                    .ephemerals
                    .iter()
                    .filter(|ephemeral| ephemeral.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A node's stored record and children, for storage and diagnostics.
    pub fn node(&self, node_path: &str) -> Option<(&NodeRecord, &Children)> {
        self.nodes
            .get(node_path)
            .map(|node| (&node.record, node.children.names()))
    }

    /// Containers that have had children and have none left, and TTL nodes without children not
    /// modified for longer than their TTL at `now_ms`, in path order. The leader proposes a
    /// [`TxnKind::RemoveExpiredNode`] for each (ZooKeeper's `ContainerManager`).
    pub fn expired_nodes(&self, now_ms: i64) -> Vec<String> {
        let mut expired: Vec<String> = self
            .containers
            .iter()
            .chain(self.ttl_nodes.iter())
            .filter(|candidate| {
                self.nodes
                    .get(candidate.as_str())
                    .is_some_and(|node| is_expired(node, now_ms))
            })
            .cloned()
            .collect();
        expired.sort();
        expired
    }

    fn existing(&self, node_path: &str) -> Result<&Znode, TreeError> {
        path::validate(node_path, self.limits.path_len_max)?;
        self.nodes
            .get(node_path)
            .map(|node| &**node)
            .ok_or_else(|| TreeError::NoNode {
                path: node_path.to_string(),
            })
    }

    fn readable(&self, node_path: &str, caller_ids: &[Id]) -> Result<&Znode, TreeError> {
        let node = self.existing(node_path)?;
        if !allows(&node.record.acl, Perms::READ, caller_ids) {
            return Err(TreeError::NoAuth {
                path: node_path.to_string(),
                perm: Perms::READ.name(),
            });
        }
        Ok(node)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// The commit time of the last applied transaction that carried one, in milliseconds since
    /// the Unix epoch: the replicated state's own "now", which never goes backwards (see
    /// [`DataTree::apply`]'s commit times). A leader deciding which TTL nodes have expired takes
    /// the later of this and its wall clock.
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }

    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    pub fn history(&self) -> &ChangeHistory {
        &self.history
    }

    /// The number of znodes, root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    // ----------------------------------------------------------------------------------------
    // Persistence.

    /// Everything changed since the last call, for storage to write in one transaction.
    pub fn take_changes(&mut self) -> ChangeSet {
        let nodes = std::mem::take(&mut self.dirty_nodes)
            .into_iter()
            .map(|node_path| {
                let record = self
                    .nodes
                    .get(node_path.as_str())
                    .map(|node| node.record.clone());
                (node_path, record)
            })
            .collect();
        let sessions = std::mem::take(&mut self.dirty_sessions)
            .into_iter()
            .map(|session_id| (session_id, self.sessions.get(session_id).cloned()))
            .collect();
        let session_writes = std::mem::take(&mut self.dirty_session_writes)
            .into_iter()
            .map(|session_id| (session_id, self.session_writes.get(&session_id).cloned()))
            .collect();
        ChangeSet {
            nodes,
            sessions,
            session_writes,
            history_appended: std::mem::take(&mut self.pending_history),
            history_first_retained_seq: self.history.first_retained_seq(),
            history_compacted_through: self.history.compacted_through(),
            history_next_seq: self.history.next_seq(),
            last_zxid: self.last_zxid,
            last_time_ms: self.last_time_ms,
            limits: std::mem::take(&mut self.limits_changed).then(|| self.limits.clone()),
        }
    }

    /// The whole state as ordered parts.
    pub fn to_state(&self) -> TreeState {
        TreeState {
            last_zxid: self.last_zxid,
            last_time_ms: self.last_time_ms,
            limits: Some(self.limits.clone()),
            nodes: self
                .nodes
                .iter()
                .map(|(node_path, node)| (node_path.to_string(), node.record.clone()))
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(session_id, session)| (session_id, session.clone()))
                .collect(),
            session_writes: self
                .session_writes
                .iter()
                .map(|(session_id, writes)| (*session_id, writes.clone()))
                .collect(),
            history: self.history.entries().cloned().collect(),
            history_compacted_through: self.history.compacted_through(),
            history_next_seq: self.history.next_seq(),
        }
    }

    /// Rebuilds a tree from its parts, checking that they form a tree: a root, every node's parent
    /// present, every ephemeral's owner an open session. The state's own limits win;
    /// `configured_limits` are for a state stored before limits were kept.
    pub fn from_state(
        configured_limits: Limits,
        state: TreeState,
    ) -> Result<DataTree, SnapshotError> {
        let corrupt = |what: String| SnapshotError::Corrupt(what);
        let stored_limits = state.limits.is_some();
        let limits = state.limits.clone().unwrap_or(configured_limits);
        limits.validate().map_err(corrupt)?;
        let mut tree = DataTree::empty(limits);
        // A state stored before limits were kept gets them stored with its next change set.
        tree.limits_changed = !stored_limits;
        tree.last_zxid = state.last_zxid;
        tree.last_time_ms = state.last_time_ms;
        for (session_id, session) in state.sessions {
            tree.sessions.insert(
                session_id,
                Session {
                    ephemerals: BTreeSet::new(),
                    ..session
                },
            );
        }
        for (session_id, writes) in state.session_writes {
            if !tree.sessions.contains(session_id) {
                return Err(corrupt(format!(
                    "writes recorded for unknown session {session_id}"
                )));
            }
            tree.session_writes.insert(session_id, writes);
        }
        let mut nodes = state.nodes.into_iter();
        match nodes.next() {
            Some((root_path, mut record)) if root_path == "/" => {
                record.acl = tree.intern_acl(&record.acl);
                tree.nodes.insert(
                    root_path.into_boxed_str(),
                    Box::new(Znode {
                        record,
                        children: ChildNames::new(),
                    }),
                );
            }
            _ => return Err(corrupt("the first node is not the root".to_string())),
        }
        for (node_path, mut record) in nodes {
            // The path bound is the ceiling, not the cluster's limit: a limit lowered after a
            // node was created leaves the node in place.
            path::validate(&node_path, Limits::PATH_LEN_MAX_CEILING)
                .map_err(|error| corrupt(error.to_string()))?;
            if !tree.nodes.contains_key(path::parent(&node_path)) {
                return Err(corrupt(format!("{node_path} has no parent")));
            }
            if let NodeKind::Ephemeral { owner } = record.kind
                && !tree.sessions.contains(owner)
            {
                return Err(corrupt(format!(
                    "{node_path} is owned by unknown session {owner}"
                )));
            }
            record.acl = tree.intern_acl(&record.acl);
            tree.insert_node(node_path, record);
        }
        tree.history = ChangeHistory::from_parts(
            state.history,
            state.history_compacted_through,
            state.history_next_seq,
            tree.limits.history_events_max,
        );
        tree.dirty_nodes.clear();
        Ok(tree)
    }

    /// Writes the whole state in the snapshot format. Two trees that applied the same
    /// transactions write the same bytes.
    pub fn write_snapshot<W: Write>(&self, out: W) -> io::Result<W> {
        let mut writer = SnapshotWriter::new(
            out,
            self.last_zxid,
            self.last_time_ms,
            &self.limits,
            self.history.compacted_through(),
            self.history.next_seq(),
        )?;
        for (node_path, node) in &self.nodes {
            writer.node(node_path, &node.record)?;
        }
        for (session_id, session) in self.sessions.iter() {
            writer.session(session_id, session)?;
        }
        for (session_id, writes) in &self.session_writes {
            writer.session_writes(*session_id, writes)?;
        }
        for entry in self.history.entries() {
            writer.history(entry)?;
        }
        writer.finish()
    }

    /// Reads a tree from a snapshot.
    pub fn read_snapshot(limits: Limits, input: impl Read) -> Result<DataTree, SnapshotError> {
        let state = SnapshotReader::read(input, &limits)?;
        DataTree::from_state(limits, state)
    }
}

fn genesis_record(acl: AclList) -> NodeRecord {
    NodeRecord {
        data: Some(Box::default()),
        acl,
        kind: NodeKind::Persistent,
        czxid: 0,
        mzxid: 0,
        pzxid: 0,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
    }
}

fn event(at: At, kind: EventKind, node_path: &str) -> WatchEvent {
    WatchEvent {
        zxid: at.zxid,
        kind,
        path: node_path.to_string(),
    }
}

/// ZooKeeper's versioned compare-and-set: -1 matches any version.
fn check_version(node_path: &str, expected: i32, actual: i32) -> Result<(), TreeError> {
    if expected == -1 || expected == actual {
        Ok(())
    } else {
        Err(TreeError::BadVersion {
            path: node_path.to_string(),
            expected,
            actual,
        })
    }
}

/// The version after `version`. Like ZooKeeper (ZOOKEEPER-4743) it wraps from `i32::MAX` and skips
/// -1, which a client could not ask for since -1 means "any version".
fn next_version(version: i32) -> i32 {
    match version.wrapping_add(1) {
        -1 => 0,
        next => next,
    }
}

fn require(acl: &[Acl], perm: Perms, caller: &Caller, node_path: &str) -> Result<(), TreeError> {
    if allows(acl, perm, &caller.ids) {
        Ok(())
    } else {
        Err(TreeError::NoAuth {
            path: node_path.to_string(),
            perm: perm.name(),
        })
    }
}

/// The container and TTL expiry rule of ZooKeeper's `ContainerManager.getCandidates`.
/// A node's data length as quotas count it (null counts as empty).
fn data_len(data: Option<&[u8]>) -> i64 {
    data.map_or(0, |data| data.len() as i64)
}

fn is_expired(node: &Znode, now_ms: i64) -> bool {
    if !node.children.is_empty() {
        return false;
    }
    match node.record.kind {
        NodeKind::Container => node.record.cversion > 0,
        NodeKind::Ttl { ttl_ms } => now_ms.saturating_sub(node.record.mtime) > ttl_ms,
        NodeKind::Persistent | NodeKind::Ephemeral { .. } => false,
    }
}
