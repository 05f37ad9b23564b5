//! One session's requests on this node: reads answered from the local tree after Raft's
//! ReadIndex (or at once, for reads that allow stale data), writes committed through the leader,
//! watches registered atomically with the read that sets them.
//!
//! A connection handles its session's requests one at a time, in order, as ZooKeeper does for a
//! session; different sessions proceed in parallel.
//!
//! Administrators (a `super` identity) may also ask for the cluster's status and change its
//! membership; the leader carries the changes out (see `polis_raft::membership`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polis_proto::convert::{
    acl_list_from_wire, acl_to_wire, create_mode_from_wire, id_to_wire, stat_to_wire,
    watch_kind_from_wire,
};
use polis_proto::wire::{self, request::Op, response::Result as Reply};
use polis_raft::{ClusterView, CommandResponse, MembershipChange, NodeRole, PeerNode};
use polis_tree::{
    Caller, CloseReason, DataTree, ErrorCode, Id, OpResult, SessionId, TreeError, TxnKind,
    WatchKind, WriteOp, Zxid, path,
};

mod reconfig;

use super::hub::HubState;
use super::{ConnectionId, LeaderError, Node, Outbound};

/// A failed request: a ZooKeeper error code and the reason in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// For a failed multi, the operation that failed.
    pub multi_index: Option<usize>,
    /// For a failed multi, how many operations it had.
    pub multi_len: Option<usize>,
}

impl From<TreeError> for Failure {
    fn from(error: TreeError) -> Failure {
        // A failed multi's message is its failed operation's reason; the operation's position
        // travels beside it, and each face names it in its own words.
        let (multi_index, message) = match &error {
            TreeError::MultiFailed { index, error } => (Some(*index), error.to_string()),
            _ => (None, error.to_string()),
        };
        Failure {
            code: error.code().as_i32(),
            message,
            multi_index,
            multi_len: None,
        }
    }
}

impl From<LeaderError> for Failure {
    fn from(error: LeaderError) -> Failure {
        let code = match error {
            // ZooKeeper reports both as ConnectionLoss: the client cannot know whether a write
            // that timed out took effect, and retries reads elsewhere.
            LeaderError::NoLeader(_) | LeaderError::Unknown(_) => ErrorCode::ConnectionLoss,
            LeaderError::Refused(_) => ErrorCode::BadArguments,
            LeaderError::MembershipChanged { .. } => ErrorCode::BadVersion,
        };
        Failure {
            code: code.as_i32(),
            message: error.to_string(),
            multi_index: None,
            multi_len: None,
        }
    }
}

impl Failure {
    fn of_code(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code: code.as_i32(),
            message: message.into(),
            multi_index: None,
            multi_len: None,
        }
    }
}

/// The most identities one session may hold (its certificate's, and those `addAuth` added).
/// Every write carries its session's identities in its Raft entry, for the ACL checks applied on
/// every replica, so they must stay small: ZooKeeper bounds them by `jute.maxbuffer`, which
/// still let an anonymous client make every write of its session megabytes large.
pub const IDENTITIES_PER_SESSION_MAX: usize = 16;

/// The longest identity `addAuth` may add, in bytes (a digest id is the user name, a colon and
/// a 28-character hash).
pub const IDENTITY_LEN_MAX: usize = 512;

/// `identities` with the digest identity `add_auth` names added (unchanged if already there), or
/// why it is refused: a malformed or unsupported credential, a user name longer than
/// [`IDENTITY_LEN_MAX`] allows, or a session already at [`IDENTITIES_PER_SESSION_MAX`].
pub fn with_added_identity(
    identities: &Arc<[Id]>,
    add_auth: &wire::AddAuth,
) -> Result<Arc<[Id]>, TreeError> {
    with_identity(identities, crate::connection::digest_identity(add_auth)?)
}

/// `identities` with `id` added (unchanged if already there), within the same bounds as
/// [`with_added_identity`]: for identities a face established itself (SASL).
pub fn with_identity(identities: &Arc<[Id]>, id: Id) -> Result<Arc<[Id]>, TreeError> {
    if id.id.len() > IDENTITY_LEN_MAX {
        return Err(TreeError::BadArguments {
            reason: format!(
                "an identity of {} bytes exceeds IDENTITY_LEN_MAX ({IDENTITY_LEN_MAX})",
                id.id.len()
            ),
        });
    }
    if identities.contains(&id) {
        return Ok(identities.clone());
    }
    if identities.len() >= IDENTITIES_PER_SESSION_MAX {
        return Err(TreeError::BadArguments {
            reason: format!(
                "the session already holds {} identities (IDENTITIES_PER_SESSION_MAX)",
                identities.len()
            ),
        });
    }
    let mut added = identities.to_vec();
    added.push(id);
    debug_assert!(added.len() <= IDENTITIES_PER_SESSION_MAX);
    Ok(added.into())
}

/// How long an AddLearner waits for the learner to catch up when the request does not say.
pub const ADD_LEARNER_CATCH_UP_DEFAULT: Duration = Duration::from_secs(2);

type Answer = Result<Reply, Failure>;

/// What the connection does after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterRequest {
    Continue,
    /// The client closed its session; the connection ends after the response.
    SessionClosed,
}

/// The request handler of one attached session.
#[derive(Debug)]
pub struct SessionHandler {
    node: Arc<Node>,
    session_id: SessionId,
    connection_id: ConnectionId,
    identities: Arc<[Id]>,
    outbound: Outbound,
    /// How long a write whose outcome is unknown may be proposed again: a third of the
    /// negotiated session timeout, the client's ping interval, since the requests after it (its
    /// pings included) wait for its answer.
    retry_window: Duration,
}

impl SessionHandler {
    pub fn new(
        node: Arc<Node>,
        session_id: SessionId,
        connection_id: ConnectionId,
        identities: Arc<[Id]>,
        outbound: Outbound,
        session_timeout_ms: i32,
    ) -> SessionHandler {
        let retry_window =
            Duration::from_millis(u64::try_from(session_timeout_ms / 3).unwrap_or(0));
        SessionHandler {
            node,
            session_id,
            connection_id,
            identities,
            outbound,
            retry_window,
        }
    }

    /// The identities later requests run as (after a digest addAuth).
    /// The identities the session's requests are checked against (its certificate's, and those
    /// `addAuth` added).
    pub fn identities(&self) -> &Arc<[Id]> {
        &self.identities
    }

    pub fn set_identities(&mut self, identities: Arc<[Id]>) {
        self.node
            .hub
            .set_identities(self.session_id, self.connection_id, identities.clone());
        self.identities = identities;
    }

    /// Handles one request and queues its response behind everything queued before.
    pub async fn handle(&mut self, request: wire::Request, received_at: Instant) -> AfterRequest {
        if !self
            .node
            .hub
            .is_attached(self.session_id, self.connection_id)
        {
            // The session moved to a newer connection or ended: this one is being closed.
            return AfterRequest::SessionClosed;
        }
        self.node.touch(self.session_id);
        let xid = request.xid;
        let allow_stale = request.allow_stale;
        let Some(op) = request.op else {
            let failure = Failure::from(TreeError::BadArguments {
                reason: "a request without an operation".to_string(),
            });
            self.respond(xid, "unknown", received_at, 0, Err(failure))
                .await;
            return AfterRequest::Continue;
        };
        let op_name = op_name(&op);
        let mut after = AfterRequest::Continue;
        let (zxid, answer) = match op {
            Op::Create(create) => self.write(write_op_create(&create)).await,
            Op::Delete(delete) => {
                self.write(Ok(WriteOp::Delete {
                    path: delete.path,
                    version: delete.version,
                }))
                .await
            }
            Op::SetData(set) => {
                let op = data_from_wire(set.data, set.null_data).map(|data| WriteOp::SetData {
                    path: set.path,
                    data,
                    version: set.version,
                });
                self.write(op).await
            }
            Op::SetAcl(set) => {
                let op = acl_list_from_wire(&set.acl).map(|acl| WriteOp::SetAcl {
                    path: set.path,
                    acl,
                    version: set.version,
                });
                self.write(op).await
            }
            Op::Check(check) => {
                self.write(Ok(WriteOp::Check {
                    path: check.path,
                    version: check.version,
                }))
                .await
            }
            Op::Multi(multi) => self.multi(multi).await,
            Op::Close(_) => {
                // Detach first, so that the close's own SessionEnded notice does not overtake
                // the response to Close.
                self.node.hub.detach(self.session_id, self.connection_id);
                after = AfterRequest::SessionClosed;
                let applied = self
                    .node
                    .leader
                    .propose(TxnKind::CloseSession {
                        session_id: self.session_id,
                        reason: CloseReason::Closed,
                    })
                    .await;
                match applied {
                    Ok(response) => (
                        response.zxid,
                        response
                            .result
                            .map(|_| Reply::Close(wire::Empty {}))
                            .map_err(command_failure),
                    ),
                    Err(error) => (0, Err(Failure::from(error))),
                }
            }
            Op::Ping(_) => (
                self.node.hub.applied_zxid(),
                Ok(Reply::Ping(wire::Empty {})),
            ),
            Op::AddAuth(add_auth) => {
                let zxid = self.node.hub.applied_zxid();
                match with_added_identity(&self.identities, &add_auth) {
                    Ok(identities) => {
                        // The new identity applies to this answer and every request after it.
                        self.set_identities(identities);
                        let identities = self.identities.iter().map(id_to_wire).collect();
                        (zxid, Ok(Reply::AddAuth(wire::IdsResult { identities })))
                    }
                    Err(error) => (zxid, Err(Failure::from(error))),
                }
            }
            Op::Sync(sync) => match self.barrier(false).await {
                Ok(()) => (
                    self.node.hub.applied_zxid(),
                    Ok(Reply::Sync(wire::SyncResult { path: sync.path })),
                ),
                Err(failure) => (0, Err(failure)),
            },
            Op::ClusterStatus(_) => self.admin(self.cluster_status().await),
            Op::AddLearner(add) => self.admin(self.add_learner(add).await),
            Op::ChangeMembership(change) => self.admin(self.change_membership(change).await),
            Op::Reconfig(reconfig) => {
                let answer = self.reconfig(reconfig).await;
                // The configuration's write, when there was one, is the answer's zxid.
                (self.node.hub.applied_zxid(), answer)
            }
            read => {
                self.read_and_respond(xid, op_name, received_at, read, allow_stale)
                    .await;
                return after;
            }
        };
        self.respond(xid, op_name, received_at, zxid, answer).await;
        after
    }

    /// Commits a write through the leader and answers once this node has applied it (so that
    /// the session reads its own writes here, and sees their watch events first).
    async fn write(&self, op: Result<WriteOp, TreeError>) -> (Zxid, Answer) {
        let op = match op {
            Ok(op) => op,
            Err(error) => return (0, Err(error.into())),
        };
        let kind = TxnKind::Write {
            caller: self.caller(),
            op,
        };
        match self.commit(kind).await {
            Ok(response) => (
                response.zxid,
                response.result.map(reply_of).map_err(command_failure),
            ),
            Err(failure) => (0, Err(failure)),
        }
    }

    /// Commits one of the session's writes. Each carries a write id of its own (see
    /// [`TxnKind::Once`]), so that the leader link may propose it again when it cannot tell
    /// whether a proposal committed: the tree applies it at most once.
    async fn commit(&self, kind: TxnKind) -> Result<CommandResponse, Failure> {
        let kind = TxnKind::once(self.node.write_ids.next_id(), kind);
        let response = self
            .node
            .leader
            .propose_retrying(kind, self.retry_window)
            .await?;
        self.node.hub.applied_through(response.zxid).await;
        Ok(response)
    }

    async fn multi(&self, multi: wire::Multi) -> (Zxid, Answer) {
        let ops_len = multi.ops.len();
        let mut ops = Vec::with_capacity(ops_len);
        for (index, op) in multi.ops.into_iter().enumerate() {
            match write_op_of_multi(op) {
                Ok(op) => ops.push(op),
                // A malformed operation fails the multi at its index, as the tree would.
                Err(error) => {
                    let failure = Failure {
                        multi_index: Some(index),
                        multi_len: Some(ops_len),
                        ..Failure::from(error)
                    };
                    return (0, Err(failure));
                }
            }
        }
        let kind = TxnKind::Multi {
            caller: self.caller(),
            ops,
        };
        let outcome = match self.commit(kind).await {
            Ok(response) => match response.result {
                Ok(OpResult::Multi(results)) => (
                    response.zxid,
                    Ok(Reply::Multi(wire::MultiResult {
                        results: results
                            .into_iter()
                            .map(|result| wire::MultiOpResult {
                                error_code: 0,
                                result: multi_reply_of(result),
                            })
                            .collect(),
                    })),
                ),
                Ok(other) => (
                    response.zxid,
                    Err(Failure::from(TreeError::BadArguments {
                        reason: format!("unexpected multi result {other:?}"),
                    })),
                ),
                Err(error) => (response.zxid, Err(command_failure(error))),
            },
            Err(failure) => (0, Err(failure)),
        };
        match outcome {
            (zxid, Err(failure)) => (
                zxid,
                Err(Failure {
                    multi_len: Some(ops_len),
                    ..failure
                }),
            ),
            other => other,
        }
    }

    /// Waits until this node's tree is at least as new as the leader's commit point when the
    /// read arrived (Raft's ReadIndex), unless the request allows a stale, local read.
    async fn barrier(&self, allow_stale: bool) -> Result<(), Failure> {
        if allow_stale {
            return Ok(());
        }
        let index = self.node.read_index().await?;
        self.node.hub.applied_through(index).await;
        Ok(())
    }

    /// Answers a read, queueing the response before any watch event it could miss.
    ///
    /// The tree's read lock, then the hub's: no change can be applied (and so no watch fire)
    /// between reading and registering a watch. The response is queued before the locks are let
    /// go, through a queue slot reserved beforehand: otherwise a write waiting for the lock could
    /// fire the new one-shot watch and queue its event ahead of the response, and a client, which
    /// learns of the watch from the response, would drop the event and wait forever
    /// (ZooKeeper's guarantee: a client sees the response that sets a watch before its event).
    async fn read_and_respond(
        &self,
        xid: u64,
        op_name: &'static str,
        received_at: Instant,
        op: Op,
        allow_stale: bool,
    ) {
        if let Err(failure) = self.barrier(allow_stale).await {
            self.respond(xid, op_name, received_at, 0, Err(failure))
                .await;
            return;
        }
        // Awaiting room in the queue is back-pressure on this session alone.
        let Ok(slot) = self.outbound.reserve().await else {
            return;
        };
        let tree = self.node.reader.read().await;
        let mut hub = self.node.hub.lock();
        let zxid = tree.last_zxid();
        let answer = self.read_locked(&tree, &mut hub, op);
        slot.send(self.response_message(xid, op_name, received_at, zxid, answer));
    }

    fn read_locked(&self, tree: &DataTree, hub: &mut HubState, op: Op) -> Answer {
        let session_id = self.session_id;
        let ids = &*self.identities;
        match op {
            Op::Exists(exists) => {
                let stat = tree.exists(&exists.path)?;
                if exists.watch {
                    // ZooKeeper's exists sets a watch whether or not the node exists, so that a
                    // client can wait for a node to be created.
                    hub.watches.add(session_id, &exists.path, WatchKind::Data)?;
                }
                Ok(Reply::Exists(wire::ExistsResult {
                    stat: stat.as_ref().map(stat_to_wire),
                }))
            }
            Op::GetData(get) => {
                let (data, stat) = tree.get_data(&get.path, ids)?;
                if get.watch {
                    hub.watches.add(session_id, &get.path, WatchKind::Data)?;
                }
                Ok(Reply::GetData(wire::GetDataResult {
                    data: data.unwrap_or_default().to_vec(),
                    stat: Some(stat_to_wire(&stat)),
                    null_data: data.is_none(),
                }))
            }
            Op::GetChildren(get) => {
                let (children, stat) = tree.get_children(&get.path, ids)?;
                if get.watch {
                    hub.watches
                        .add(session_id, &get.path, WatchKind::Children)?;
                }
                Ok(Reply::GetChildren(wire::GetChildrenResult {
                    children,
                    stat: Some(stat_to_wire(&stat)),
                }))
            }
            Op::GetAcl(get) => {
                let (acl, stat) = tree.get_acl(&get.path, ids)?;
                Ok(Reply::GetAcl(wire::GetAclResult {
                    acl: acl.iter().map(acl_to_wire).collect(),
                    stat: Some(stat_to_wire(&stat)),
                }))
            }
            Op::CountDescendants(count) => {
                let count = tree.count_descendants(&count.path, ids)?;
                Ok(Reply::CountDescendants(wire::CountResult {
                    count: i64::try_from(count).unwrap_or(i64::MAX),
                }))
            }
            Op::GetEphemerals(get) => Ok(Reply::GetEphemerals(wire::PathsResult {
                paths: tree.ephemerals(session_id, &get.prefix),
            })),
            Op::AddWatch(add) => self.add_watch(tree, hub, add),
            Op::RemoveWatch(remove) => {
                let kind = watch_kind_from_wire(remove.mode)?;
                hub.watches.remove(session_id, &remove.path, kind)?;
                Ok(Reply::RemoveWatch(wire::Empty {}))
            }
            Op::CheckWatch(check) => {
                let kind = watch_kind_from_wire(check.mode)?;
                if !hub.watches.contains(session_id, &check.path, kind) {
                    return Err(TreeError::NoWatcher { path: check.path }.into());
                }
                Ok(Reply::CheckWatch(wire::Empty {}))
            }
            Op::SetWatches(set) => Ok(self.set_watches(tree, hub, set)),
            other => Err(Failure::from(TreeError::BadArguments {
                reason: format!("{} is not a read", op_name(&other)),
            })),
        }
    }

    fn add_watch(&self, tree: &DataTree, hub: &mut HubState, add: wire::AddWatch) -> Answer {
        path::validate(&add.path, tree.limits().path_len_max)?;
        let kind = watch_kind_from_wire(add.mode)?;
        let mut replayed = 0;
        if let Some(after_zxid) = add.resume_after_zxid {
            let watches = [(kind, add.path.clone())];
            let (count, fired) = self.replay(tree, hub, after_zxid, &watches)?;
            replayed = count;
            if fired.contains(&0) {
                // A one-shot watch that already fired from the history is not registered again.
                return Ok(Reply::AddWatch(wire::AddWatchResult {
                    replayed_events: replayed,
                }));
            }
        }
        hub.watches.add(self.session_id, &add.path, kind)?;
        Ok(Reply::AddWatch(wire::AddWatchResult {
            replayed_events: replayed,
        }))
    }

    /// ZooKeeper's setWatches after a reconnect: replay what each watch missed, then register
    /// the watches still waiting.
    fn set_watches(&self, tree: &DataTree, hub: &mut HubState, set: wire::SetWatches) -> Reply {
        let mut watches: Vec<(WatchKind, String)> = Vec::new();
        let lists = [
            (WatchKind::Data, set.data_watches),
            (WatchKind::Children, set.child_watches),
            (WatchKind::Persistent, set.persistent_watches),
            (
                WatchKind::PersistentRecursive,
                set.persistent_recursive_watches,
            ),
        ];
        // Each (kind, path) once: a watch listed twice is one watch, and a used-up one-shot must
        // not come back through its duplicate.
        let mut listed: BTreeSet<(WatchKind, String)> = BTreeSet::new();
        for (kind, paths) in lists {
            for watch_path in paths {
                if path::validate(&watch_path, tree.limits().path_len_max).is_ok()
                    && listed.insert((kind, watch_path.clone()))
                {
                    watches.push((kind, watch_path));
                }
            }
        }
        let (replayed, fired, history_compacted) =
            match self.replay(tree, hub, set.last_zxid_seen, &watches) {
                Ok((replayed, fired)) => (replayed, fired, false),
                Err(_) => {
                    let (replayed, fired) =
                        self.settle_by_stat(tree, hub, set.last_zxid_seen, &watches);
                    (replayed, fired, true)
                }
            };
        if !hub.attachments.contains_key(&self.session_id) {
            // The replay overflowed the client's queue and the hub cut it off, dropping its
            // watches: registering the rest now would leave them behind a detached session.
            return Reply::SetWatches(wire::SetWatchesResult {
                replayed_events: replayed,
                history_compacted,
            });
        }
        for (index, (kind, watch_path)) in watches.iter().enumerate() {
            if fired.contains(&index) {
                continue;
            }
            if let Err(error) = hub.watches.add(self.session_id, watch_path, *kind) {
                tracing::warn!(session_id = self.session_id, %error, "could not restore a watch");
            }
        }
        Reply::SetWatches(wire::SetWatchesResult {
            replayed_events: replayed,
            history_compacted,
        })
    }

    /// Sends the session every history event after `after_zxid` that one of `watches` would have
    /// fired for, each event once, in zxid order. A one-shot watch fires at most once. Returns the
    /// number of events sent and the indexes of the one-shot watches that fired.
    fn replay(
        &self,
        tree: &DataTree,
        hub: &mut HubState,
        after_zxid: Zxid,
        watches: &[(WatchKind, String)],
    ) -> Result<(u32, BTreeSet<usize>), TreeError> {
        let replay = polis_tree::replay_watches(tree.history().since(after_zxid)?, watches);
        let mut replayed = 0u32;
        for entry in replay.events {
            // As live events, a replayed one reaches only a watcher that may read its node;
            // the history keeps no ACLs, so the node's current one decides.
            let readable = polis_tree::allows(
                &tree.replay_acl(&entry.event.path),
                polis_tree::Perms::READ,
                &self.identities,
            );
            if readable {
                hub.send_event(self.session_id, &entry.event);
                replayed = replayed.saturating_add(1);
            }
        }
        Ok((replayed, replay.fired))
    }

    /// ZooKeeper's own setWatches rule, for when the history no longer reaches back to the
    /// client's zxid: compare each watched node's zxids with the client's.
    fn settle_by_stat(
        &self,
        tree: &DataTree,
        hub: &mut HubState,
        after_zxid: Zxid,
        watches: &[(WatchKind, String)],
    ) -> (u32, BTreeSet<usize>) {
        use polis_tree::{EventKind, WatchEvent};
        let mut fired = BTreeSet::new();
        let mut replayed = 0u32;
        for (index, (kind, watch_path)) in watches.iter().enumerate() {
            let stat = tree.exists(watch_path).ok().flatten();
            let event_kind = match (kind, stat) {
                (WatchKind::Data, None) | (WatchKind::Children, None) => {
                    Some(EventKind::NodeDeleted)
                }
                (WatchKind::Data, Some(stat)) if stat.czxid > after_zxid => {
                    Some(EventKind::NodeCreated)
                }
                (WatchKind::Data, Some(stat)) if stat.mzxid > after_zxid => {
                    Some(EventKind::NodeDataChanged)
                }
                (WatchKind::Children, Some(stat)) if stat.pzxid > after_zxid => {
                    Some(EventKind::NodeChildrenChanged)
                }
                _ => None,
            };
            if let Some(event_kind) = event_kind {
                fired.insert(index);
                hub.send_event(
                    self.session_id,
                    &WatchEvent {
                        zxid: tree.last_zxid(),
                        kind: event_kind,
                        path: watch_path.clone(),
                    },
                );
                replayed = replayed.saturating_add(1);
            }
        }
        (replayed, fired)
    }

    /// An administrative answer, with the zxid this node has applied.
    fn admin(&self, answer: Answer) -> (Zxid, Answer) {
        (self.node.hub.applied_zxid(), answer)
    }

    /// Cluster administration is for administrators: a `super` identity, which the connection
    /// has when its certificate's subject is in the server's `admins`.
    fn require_admin(&self) -> Result<(), Failure> {
        if self.identities.iter().any(Id::is_super) {
            Ok(())
        } else {
            Err(Failure::of_code(
                ErrorCode::NoAuth,
                "cluster administration is for administrators (a certificate subject in the \
                 server's admins)",
            ))
        }
    }

    /// This node's own view of the cluster, now.
    fn local_view(&self) -> ClusterView {
        ClusterView::from_metrics(&self.node.raft.metrics().borrow())
    }

    async fn cluster_status(&self) -> Answer {
        self.require_admin()?;
        let leader_view = self.node.leader.leader_cluster_view().await;
        Ok(Reply::ClusterStatus(status_to_wire(
            &self.local_view(),
            leader_view.as_ref(),
        )))
    }

    async fn add_learner(&self, add: wire::AddLearner) -> Answer {
        self.require_admin()?;
        // The connection answers nothing else meanwhile, so the wait stays well inside the
        // session timeout (the client pings every third of it).
        let session_timeout_ms = self
            .node
            .reader
            .read()
            .await
            .sessions()
            .get(self.session_id)
            .map_or(0, |session| session.timeout_ms);
        let bound = Duration::from_millis(u64::try_from(session_timeout_ms / 3).unwrap_or(0));
        let requested = match add.catch_up_timeout_ms {
            0 => ADD_LEARNER_CATCH_UP_DEFAULT,
            milliseconds => Duration::from_millis(u64::from(milliseconds)),
        };
        let node = PeerNode::new(add.peer_address, add.client_address);
        let added = self
            .node
            .leader
            .add_learner(add.id, node, requested.min(bound))
            .await?;
        Ok(Reply::AddLearner(wire::AddLearnerResult {
            membership_log_index: added.membership_log_index,
            caught_up: added.caught_up,
            status: Some(status_to_wire(&self.local_view(), Some(&added.view))),
        }))
    }

    async fn change_membership(&self, change: wire::ChangeMembership) -> Answer {
        self.require_admin()?;
        let change = MembershipChange {
            voters: change.voters.into_iter().collect(),
            remove: change.remove.into_iter().collect(),
            if_membership_index: change.if_membership_index,
        };
        let view = self.node.leader.change_membership(change).await?;
        Ok(Reply::ChangeMembership(status_to_wire(
            &self.local_view(),
            Some(&view),
        )))
    }

    fn caller(&self) -> Caller {
        Caller {
            session_id: self.session_id,
            ids: self.identities.to_vec(),
        }
    }

    /// Queues the response after the watch events queued before it, and records its metrics.
    async fn respond(
        &self,
        xid: u64,
        op: &'static str,
        received_at: Instant,
        zxid: Zxid,
        answer: Answer,
    ) {
        let message = self.response_message(xid, op, received_at, zxid, answer);
        // Awaiting room in the queue is back-pressure on this session alone.
        let _ = self.outbound.send(message).await;
    }

    /// The response message to a request, with its metrics recorded.
    fn response_message(
        &self,
        xid: u64,
        op: &'static str,
        received_at: Instant,
        zxid: Zxid,
        answer: Answer,
    ) -> wire::ServerMessage {
        let mut response = wire::Response {
            xid,
            zxid: if zxid > 0 {
                zxid
            } else {
                self.node.hub.applied_zxid()
            },
            ..wire::Response::default()
        };
        match answer {
            Ok(result) => response.result = Some(result),
            Err(failure) => {
                response.error_code = failure.code;
                response.error_message = match failure.multi_index {
                    Some(index) => format!("operation {index}: {}", failure.message),
                    None => failure.message,
                };
                if let (Some(index), Some(ops_len)) = (failure.multi_index, failure.multi_len) {
                    response.result =
                        Some(Reply::Multi(failed_multi(index, ops_len, failure.code)));
                }
            }
        }
        let outcome = if response.error_code == 0 {
            "ok"
        } else {
            "error"
        };
        metrics::counter!("polis_requests_total", "op" => op, "outcome" => outcome).increment(1);
        metrics::histogram!("polis_request_seconds", "op" => op)
            .record(received_at.elapsed().as_secs_f64());
        wire::ServerMessage {
            body: Some(wire::server_message::Body::Response(response)),
        }
    }
}

/// ZooKeeper's per-op results of a failed multi of `ops_len` operations: 0 (rolled back) before
/// the failing operation, its code, RuntimeInconsistency after.
fn failed_multi(index: usize, ops_len: usize, code: i32) -> wire::MultiResult {
    let results = (0..ops_len.max(index + 1))
        .map(|position| wire::MultiOpResult {
            error_code: match position.cmp(&index) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => code,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.as_i32(),
            },
            result: None,
        })
        .collect();
    wire::MultiResult { results }
}

fn command_failure(error: polis_raft::CommandError) -> Failure {
    Failure {
        code: error.code,
        message: error.message,
        multi_index: error.multi_index,
        multi_len: None,
    }
}

/// A request's data, `None` for ZooKeeper's null data. A request that says null and carries
/// bytes is refused rather than guessed at.
fn data_from_wire(data: Vec<u8>, null_data: bool) -> Result<Option<Vec<u8>>, TreeError> {
    match (null_data, data.is_empty()) {
        (false, _) => Ok(Some(data)),
        (true, true) => Ok(None),
        (true, false) => Err(TreeError::BadArguments {
            reason: "null data with bytes".to_string(),
        }),
    }
}

fn write_op_create(create: &wire::Create) -> Result<WriteOp, TreeError> {
    Ok(WriteOp::Create {
        path: create.path.clone(),
        data: data_from_wire(create.data.clone(), create.null_data)?,
        acl: acl_list_from_wire(&create.acl)?,
        mode: create_mode_from_wire(create.mode, create.ttl_ms)?,
    })
}

fn write_op_of_multi(op: wire::MultiOp) -> Result<WriteOp, TreeError> {
    use wire::multi_op::Op as MultiOp;
    match op.op {
        Some(MultiOp::Create(create)) => write_op_create(&create),
        Some(MultiOp::Delete(delete)) => Ok(WriteOp::Delete {
            path: delete.path,
            version: delete.version,
        }),
        Some(MultiOp::SetData(set)) => Ok(WriteOp::SetData {
            path: set.path,
            data: data_from_wire(set.data, set.null_data)?,
            version: set.version,
        }),
        Some(MultiOp::Check(check)) => Ok(WriteOp::Check {
            path: check.path,
            version: check.version,
        }),
        Some(MultiOp::SetAcl(set)) => Ok(WriteOp::SetAcl {
            acl: acl_list_from_wire(&set.acl)?,
            path: set.path,
            version: set.version,
        }),
        None => Err(TreeError::BadArguments {
            reason: "a multi operation without an operation".to_string(),
        }),
    }
}

fn reply_of(result: OpResult) -> Reply {
    match result {
        OpResult::Created { path, stat } => Reply::Create(wire::CreateResult {
            path,
            stat: Some(stat_to_wire(&stat)),
        }),
        OpResult::Deleted => Reply::Delete(wire::Empty {}),
        OpResult::DataSet { stat } => Reply::SetData(wire::StatResult {
            stat: Some(stat_to_wire(&stat)),
        }),
        OpResult::AclSet { stat } => Reply::SetAcl(wire::StatResult {
            stat: Some(stat_to_wire(&stat)),
        }),
        OpResult::Checked => Reply::Check(wire::Empty {}),
        // Only writes reach here; the other results have no reply of their own.
        _ => Reply::Ping(wire::Empty {}),
    }
}

fn multi_reply_of(result: OpResult) -> Option<wire::multi_op_result::Result> {
    use wire::multi_op_result::Result as MultiReply;
    match result {
        OpResult::Created { path, stat } => Some(MultiReply::Create(wire::CreateResult {
            path,
            stat: Some(stat_to_wire(&stat)),
        })),
        OpResult::Deleted => Some(MultiReply::Delete(wire::Empty {})),
        OpResult::DataSet { stat } => Some(MultiReply::SetData(wire::StatResult {
            stat: Some(stat_to_wire(&stat)),
        })),
        OpResult::AclSet { stat } => Some(MultiReply::SetAcl(wire::StatResult {
            stat: Some(stat_to_wire(&stat)),
        })),
        OpResult::Checked => Some(MultiReply::Check(wire::Empty {})),
        _ => None,
    }
}

/// The cluster's status for a client: this node's own position (`local`), and the members as the
/// leader sees them (`leader`, with replication progress) if it could be asked, else as this
/// node knows them.
fn status_to_wire(local: &ClusterView, leader: Option<&ClusterView>) -> wire::ClusterStatusResult {
    let shared = leader.unwrap_or(local);
    let from_leader = leader.is_some_and(|view| view.has_replication);
    let leader_last = if from_leader {
        shared.last_log_index
    } else {
        0
    };
    let members = shared
        .members
        .iter()
        .map(|member| {
            let matched_index = member.matched_index.filter(|_| from_leader);
            wire::ClusterMember {
                id: member.id,
                peer_address: member.node.peer_address.clone(),
                client_address: member.node.client_address.clone(),
                kind: if member.voter {
                    wire::MemberKind::Voter
                } else {
                    wire::MemberKind::Learner
                } as i32,
                matched_index,
                lag: from_leader.then(|| leader_last.saturating_sub(matched_index.unwrap_or(0))),
            }
        })
        .collect();
    let role = match local.role {
        NodeRole::Leader => wire::NodeRole::Leader,
        NodeRole::Follower => wire::NodeRole::Follower,
        NodeRole::Candidate => wire::NodeRole::Candidate,
        NodeRole::Learner => wire::NodeRole::Learner,
        NodeRole::Shutdown => wire::NodeRole::Shutdown,
    };
    wire::ClusterStatusResult {
        node_id: local.node_id,
        role: role as i32,
        last_log_index: local.last_log_index,
        applied_index: local.applied_index,
        leader_id: local.leader.or(shared.leader),
        term: local.term.max(shared.term),
        members,
        membership_log_index: shared.membership_log_index,
        joint: shared.joint,
        from_leader,
        leader_last_log_index: leader_last,
    }
}

/// The operation's name, as metrics label it.
fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Create(_) => "create",
        Op::Delete(_) => "delete",
        Op::Exists(_) => "exists",
        Op::GetData(_) => "get_data",
        Op::SetData(_) => "set_data",
        Op::GetChildren(_) => "get_children",
        Op::GetAcl(_) => "get_acl",
        Op::SetAcl(_) => "set_acl",
        Op::Multi(_) => "multi",
        Op::Sync(_) => "sync",
        Op::CountDescendants(_) => "count_descendants",
        Op::GetEphemerals(_) => "get_ephemerals",
        Op::AddWatch(_) => "add_watch",
        Op::RemoveWatch(_) => "remove_watch",
        Op::CheckWatch(_) => "check_watch",
        Op::Ping(_) => "ping",
        Op::AddAuth(_) => "add_auth",
        Op::Close(_) => "close",
        Op::SetWatches(_) => "set_watches",
        Op::Check(_) => "check",
        Op::ClusterStatus(_) => "cluster_status",
        Op::AddLearner(_) => "add_learner",
        Op::ChangeMembership(_) => "change_membership",
        Op::Reconfig(_) => "reconfig",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request says null data with a flag of its own; one that says null and carries bytes is
    /// refused, not guessed at.
    #[test]
    fn null_data_is_told_by_its_flag_and_never_with_bytes() {
        assert_eq!(
            data_from_wire(b"x".to_vec(), false),
            Ok(Some(b"x".to_vec()))
        );
        assert_eq!(data_from_wire(Vec::new(), false), Ok(Some(Vec::new())));
        assert_eq!(data_from_wire(Vec::new(), true), Ok(None));
        assert!(matches!(
            data_from_wire(b"x".to_vec(), true),
            Err(TreeError::BadArguments { .. })
        ));
    }
}
