//! Requests of attached sessions: reads answered from the tree, writes applied as transactions,
//! watches registered or replayed from the history.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use polis_proto::convert::{
    acl_list_from_wire, acl_to_wire, create_mode_from_wire, id_to_wire, stat_to_wire,
    watch_kind_from_wire,
};
use polis_proto::wire::{self, request::Op, response::Result as Reply};
use polis_tree::{
    Caller, CloseReason, ErrorCode, Id, MultiOpResult, OpResult, SessionId, TreeError, TxnKind,
    WatchKind, WriteOp, Zxid, path,
};

use super::core::Pending;
use super::{ConnectionId, Core};

/// What a handler answers: a result, or a tree error turned into a ZooKeeper error code.
type Answer = Result<Reply, TreeError>;

impl Core {
    pub(super) fn request(
        &mut self,
        connection_id: ConnectionId,
        session_id: SessionId,
        identities: Arc<[Id]>,
        request: wire::Request,
        received_at: Instant,
    ) {
        let attached_here = self
            .attachments
            .get(&session_id)
            .is_some_and(|attachment| attachment.connection_id == connection_id);
        if !attached_here {
            // The session moved to a newer connection or ended; this connection is being closed.
            return;
        }
        let now_ms = self.clock.monotonic_ms();
        self.tracker.touch(session_id, now_ms);
        let caller = Caller {
            session_id,
            ids: identities.to_vec(),
        };
        let xid = request.xid;
        let Some(op) = request.op else {
            self.respond(
                session_id,
                xid,
                "unknown",
                received_at,
                Err(TreeError::BadArguments {
                    reason: "a request without an operation".to_string(),
                }),
            );
            return;
        };
        let op_name = op_name(&op);
        let mut closes_session = false;
        let answer = match op {
            Op::Create(create) => self.write(&caller, write_op_create(&create)),
            Op::Delete(delete) => self.write(
                &caller,
                Ok(WriteOp::Delete {
                    path: delete.path,
                    version: delete.version,
                }),
            ),
            Op::SetData(set) => self.write(
                &caller,
                Ok(WriteOp::SetData {
                    path: set.path,
                    data: set.data,
                    version: set.version,
                }),
            ),
            Op::SetAcl(set) => self.write(
                &caller,
                acl_list_from_wire(&set.acl).map(|acl| WriteOp::SetAcl {
                    path: set.path,
                    acl,
                    version: set.version,
                }),
            ),
            Op::Check(check) => self.write(
                &caller,
                Ok(WriteOp::Check {
                    path: check.path,
                    version: check.version,
                }),
            ),
            Op::Multi(multi) => {
                self.multi(session_id, xid, &caller, multi, received_at);
                return;
            }
            Op::Exists(exists) => self.exists(session_id, &exists.path, exists.watch),
            Op::GetData(get) => self.get_data(session_id, &caller, &get.path, get.watch),
            Op::GetChildren(get) => self.get_children(session_id, &caller, &get.path, get.watch),
            Op::GetAcl(get) => self.tree.get_acl(&get.path).map(|(acl, stat)| {
                Reply::GetAcl(wire::GetAclResult {
                    acl: acl.iter().map(acl_to_wire).collect(),
                    stat: Some(stat_to_wire(&stat)),
                })
            }),
            Op::Sync(sync) => Ok(Reply::Sync(wire::SyncResult { path: sync.path })),
            Op::CountDescendants(count) => self
                .tree
                .count_descendants(&count.path, &caller.ids)
                .map(|count| {
                    Reply::CountDescendants(wire::CountResult {
                        count: i64::try_from(count).unwrap_or(i64::MAX),
                    })
                }),
            Op::GetEphemerals(get) => Ok(Reply::GetEphemerals(wire::PathsResult {
                paths: self.tree.ephemerals(session_id, &get.prefix),
            })),
            Op::AddWatch(add) => self.add_watch(session_id, add),
            Op::RemoveWatch(remove) => watch_kind_from_wire(remove.mode).and_then(|kind| {
                self.watches
                    .remove(session_id, &remove.path, kind)
                    .map(|()| Reply::RemoveWatch(wire::Empty {}))
            }),
            Op::SetWatches(set) => Ok(self.set_watches(session_id, set)),
            Op::Ping(_) => Ok(Reply::Ping(wire::Empty {})),
            // The connection has already added the new identity to `identities`.
            Op::AddAuth(add_auth) => crate::connection::digest_identity(&add_auth).map(|_| {
                Reply::AddAuth(wire::IdsResult {
                    identities: caller.ids.iter().map(id_to_wire).collect(),
                })
            }),
            Op::Close(_) => {
                closes_session = true;
                let applied = self.propose(TxnKind::CloseSession {
                    session_id,
                    reason: CloseReason::Closed,
                });
                applied.result.map(|_| Reply::Close(wire::Empty {}))
            }
        };
        self.respond(session_id, xid, op_name, received_at, answer);
        if closes_session {
            self.end_session(
                session_id,
                ErrorCode::SessionExpired,
                "the client closed the session",
            );
        }
    }

    /// Queues a response and its metrics.
    fn respond(
        &mut self,
        session_id: SessionId,
        xid: u64,
        op: &'static str,
        received_at: Instant,
        answer: Answer,
    ) {
        let mut response = wire::Response {
            xid,
            zxid: self.tree.last_zxid(),
            ..wire::Response::default()
        };
        match answer {
            Ok(result) => response.result = Some(result),
            Err(error) => {
                response.error_code = error.code().as_i32();
                response.error_message = error.to_string();
            }
        }
        self.pending.push(Pending::Served {
            op,
            error_code: response.error_code,
            received_at,
        });
        self.send(
            session_id,
            wire::ServerMessage {
                body: Some(wire::server_message::Body::Response(response)),
            },
        );
    }

    fn write(&mut self, caller: &Caller, op: Result<WriteOp, TreeError>) -> Answer {
        let op = op?;
        let applied = self.propose(TxnKind::Write {
            caller: caller.clone(),
            op,
        });
        applied.result.map(reply_of)
    }

    fn multi(
        &mut self,
        session_id: SessionId,
        xid: u64,
        caller: &Caller,
        multi: wire::Multi,
        received_at: Instant,
    ) {
        let ops_len = multi.ops.len();
        // Convert every operation first; one that is malformed fails the multi at its index,
        // exactly as if the tree had refused it.
        let mut ops = Vec::with_capacity(ops_len);
        let mut failure: Option<(usize, TreeError)> = None;
        for (index, op) in multi.ops.into_iter().enumerate() {
            match write_op_of_multi(op) {
                Ok(op) => ops.push(op),
                Err(error) => {
                    failure = Some((index, error));
                    break;
                }
            }
        }
        let outcome = match failure {
            Some((index, error)) => Err((index, error)),
            None => {
                let applied = self.propose(TxnKind::Multi {
                    caller: caller.clone(),
                    ops,
                });
                match applied.result {
                    Ok(OpResult::Multi(results)) => Ok(results),
                    Ok(other) => Ok(vec![other]),
                    Err(TreeError::MultiFailed { index, error }) => Err((index, *error)),
                    Err(error) => Err((0, error)),
                }
            }
        };
        let mut response = wire::Response {
            xid,
            zxid: self.tree.last_zxid(),
            ..wire::Response::default()
        };
        let results = match outcome {
            Ok(results) => results
                .into_iter()
                .map(|result| wire::MultiOpResult {
                    error_code: 0,
                    result: multi_reply_of(result),
                })
                .collect(),
            Err((index, error)) => {
                response.error_code = error.code().as_i32();
                response.error_message = format!("operation {index}: {error}");
                MultiOpResult::for_failure(ops_len, index, &error)
                    .into_iter()
                    .map(|result| wire::MultiOpResult {
                        error_code: match result {
                            MultiOpResult::Ok(_) | MultiOpResult::RolledBack => 0,
                            MultiOpResult::Failed(error) => error.code().as_i32(),
                            MultiOpResult::NotAttempted => ErrorCode::RuntimeInconsistency.as_i32(),
                        },
                        result: None,
                    })
                    .collect()
            }
        };
        response.result = Some(Reply::Multi(wire::MultiResult { results }));
        self.pending.push(Pending::Served {
            op: "multi",
            error_code: response.error_code,
            received_at,
        });
        self.send(
            session_id,
            wire::ServerMessage {
                body: Some(wire::server_message::Body::Response(response)),
            },
        );
    }

    fn exists(&mut self, session_id: SessionId, node_path: &str, watch: bool) -> Answer {
        let stat = self.tree.exists(node_path)?;
        if watch {
            // ZooKeeper's exists sets a watch whether or not the node exists, so that a client
            // can wait for a node to be created.
            self.watches.add(session_id, node_path, WatchKind::Data)?;
        }
        Ok(Reply::Exists(wire::ExistsResult {
            stat: stat.as_ref().map(stat_to_wire),
        }))
    }

    fn get_data(
        &mut self,
        session_id: SessionId,
        caller: &Caller,
        node_path: &str,
        watch: bool,
    ) -> Answer {
        let (data, stat) = self.tree.get_data(node_path, &caller.ids)?;
        let reply = Reply::GetData(wire::GetDataResult {
            data: data.to_vec(),
            stat: Some(stat_to_wire(&stat)),
        });
        if watch {
            self.watches.add(session_id, node_path, WatchKind::Data)?;
        }
        Ok(reply)
    }

    fn get_children(
        &mut self,
        session_id: SessionId,
        caller: &Caller,
        node_path: &str,
        watch: bool,
    ) -> Answer {
        let (children, stat) = self.tree.get_children(node_path, &caller.ids)?;
        if watch {
            self.watches
                .add(session_id, node_path, WatchKind::Children)?;
        }
        Ok(Reply::GetChildren(wire::GetChildrenResult {
            children,
            stat: Some(stat_to_wire(&stat)),
        }))
    }

    fn add_watch(&mut self, session_id: SessionId, add: wire::AddWatch) -> Answer {
        path::validate(&add.path, self.config.limits.path_len_max)?;
        let kind = watch_kind_from_wire(add.mode)?;
        let mut replayed = 0;
        if let Some(after_zxid) = add.resume_after_zxid {
            let watches = [(kind, add.path.clone())];
            let (count, fired) = self.replay(session_id, after_zxid, &watches)?;
            replayed = count;
            if fired.contains(&0) {
                // A one-shot watch that already fired from the history is not registered again.
                return Ok(Reply::AddWatch(wire::AddWatchResult {
                    replayed_events: replayed,
                }));
            }
        }
        self.watches.add(session_id, &add.path, kind)?;
        Ok(Reply::AddWatch(wire::AddWatchResult {
            replayed_events: replayed,
        }))
    }

    /// ZooKeeper's setWatches after a reconnect: replay what each watch missed, then register
    /// the watches still waiting.
    fn set_watches(&mut self, session_id: SessionId, set: wire::SetWatches) -> Reply {
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
        for (kind, paths) in lists {
            for watch_path in paths {
                if path::validate(&watch_path, self.config.limits.path_len_max).is_ok() {
                    watches.push((kind, watch_path));
                }
            }
        }
        let (replayed, fired, history_compacted) =
            match self.replay(session_id, set.last_zxid_seen, &watches) {
                Ok((replayed, fired)) => (replayed, fired, false),
                Err(_) => {
                    let (replayed, fired) =
                        self.settle_by_stat(session_id, set.last_zxid_seen, &watches);
                    (replayed, fired, true)
                }
            };
        for (index, (kind, watch_path)) in watches.iter().enumerate() {
            if fired.contains(&index) {
                continue;
            }
            if let Err(error) = self.watches.add(session_id, watch_path, *kind) {
                tracing::warn!(session_id, %error, "could not restore a watch");
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
        &mut self,
        session_id: SessionId,
        after_zxid: Zxid,
        watches: &[(WatchKind, String)],
    ) -> Result<(u32, BTreeSet<usize>), TreeError> {
        let mut fired: BTreeSet<usize> = BTreeSet::new();
        let mut events = Vec::new();
        for entry in self.tree.history().since(after_zxid)? {
            let mut matched = false;
            for (index, (kind, watch_path)) in watches.iter().enumerate() {
                let one_shot = matches!(kind, WatchKind::Data | WatchKind::Children);
                if one_shot && fired.contains(&index) {
                    continue;
                }
                if kind.fires_for(watch_path, &entry.event) {
                    matched = true;
                    if one_shot {
                        fired.insert(index);
                    }
                }
            }
            if matched {
                events.push(entry.event.clone());
            }
        }
        let replayed = u32::try_from(events.len()).unwrap_or(u32::MAX);
        for event in &events {
            self.send_event(session_id, event);
        }
        Ok((replayed, fired))
    }

    /// ZooKeeper's own setWatches rule, for when the history no longer reaches back to the
    /// client's zxid: compare each watched node's zxids with the client's.
    fn settle_by_stat(
        &mut self,
        session_id: SessionId,
        after_zxid: Zxid,
        watches: &[(WatchKind, String)],
    ) -> (u32, BTreeSet<usize>) {
        use polis_tree::{EventKind, WatchEvent};
        let mut fired = BTreeSet::new();
        let mut events = Vec::new();
        let last_zxid = self.tree.last_zxid();
        for (index, (kind, watch_path)) in watches.iter().enumerate() {
            let stat = self.tree.exists(watch_path).ok().flatten();
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
                events.push(WatchEvent {
                    zxid: last_zxid,
                    kind: event_kind,
                    path: watch_path.clone(),
                });
            }
        }
        let replayed = u32::try_from(events.len()).unwrap_or(u32::MAX);
        for event in &events {
            self.send_event(session_id, event);
        }
        (replayed, fired)
    }
}

fn write_op_create(create: &wire::Create) -> Result<WriteOp, TreeError> {
    Ok(WriteOp::Create {
        path: create.path.clone(),
        data: create.data.clone(),
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
            data: set.data,
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
        Op::Ping(_) => "ping",
        Op::AddAuth(_) => "add_auth",
        Op::Close(_) => "close",
        Op::SetWatches(_) => "set_watches",
        Op::Check(_) => "check",
    }
}
