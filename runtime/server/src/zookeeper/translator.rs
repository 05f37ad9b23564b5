//! The translation between ZooKeeper's jute requests and replies and the Polis session's wire
//! messages: pure functions and one small state machine, no I/O.
//!
//! A ZooKeeper request becomes a [`Plan`]: the Polis requests to hand to the session (usually
//! one; a `multiRead` or a `removeWatches` of every kind needs several), and a [`Pending`] that
//! tells the [`ReplyAssembler`] how to turn their responses back into one jute reply. Requests the
//! session has no operation for are answered here, in order, through the same queue.

use polis_proto::wire;
use polis_tree::{ErrorCode, Id};

use crate::config::ZooKeeperReads;
use polis_zookeeper::{
    Acl, AddWatchMode, ConnectRequest, ConnectResponse, CreateKind, CreateRequest, EventType,
    KeeperState, MultiOp, MultiResult, Reply, ReplyBody, ReplyHeader, Request, RequestBody, Stat,
    WatcherEvent, WatcherType, encode_notification,
};

/// What the connection does after writing a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterReply {
    Continue,
    /// Close the connection: the session was closed, or authentication failed (ZooKeeper closes
    /// the connection after an AuthFailed reply).
    Close,
    /// Do not send the reply, and close the connection: it would be larger than the face's frame
    /// bound, which a ZooKeeper client refuses to read anyway (its `jute.maxbuffer`) and which the
    /// server will not build in memory. The session survives, as after any lost connection.
    TooLarge,
}

/// How to build the reply of one ZooKeeper request from the responses of its Polis requests.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyKind {
    Create(CreateKind),
    Delete,
    Exists,
    GetData,
    SetData,
    GetAcl,
    /// `reconfig`, answered as getData of the new configuration.
    Reconfig,
    SetAcl,
    GetChildren,
    GetChildren2,
    Sync,
    Check,
    /// The operation code of each part, which decides the type of its result.
    Multi(Vec<i32>),
    MultiRead,
    Auth,
    SetWatches,
    Ping,
    Close,
    GetEphemerals,
    GetAllChildrenNumber,
    AddWatch,
    CheckWatches,
    /// Succeeds if any part did (a watcher type that covers several kinds).
    RemoveWatches,
    /// Answered without the session.
    Local(Reply),
}

/// A request waiting for its responses.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub xid: i32,
    pub kind: ReplyKind,
    /// How many Polis responses make up the reply (at least 1: a local answer travels through
    /// the queue behind a placeholder response, to keep its place in line).
    pub parts: usize,
}

/// What to do with one ZooKeeper request.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The Polis requests to hand to the session, in order (none for a local answer).
    pub requests: Vec<wire::Request>,
    pub pending: Pending,
}

/// The Polis requests for a ZooKeeper request, and how to reply; reads are served with the
/// consistency `reads` (writes and `sync` are unaffected: the session core ignores the stale
/// flag for them).
pub fn plan(request: Request, identities: &[Id], reads: ZooKeeperReads) -> Plan {
    let xid = request.xid;
    let local_reads = reads == ZooKeeperReads::Sequential;
    let forward = |op: wire::request::Op, kind: ReplyKind| Plan {
        requests: vec![polis_request(xid, op, local_reads)],
        pending: Pending {
            xid,
            kind,
            parts: 1,
        },
    };
    let local = local_plan;
    let error = |code: ErrorCode| Reply {
        header: ReplyHeader {
            xid,
            zxid: 0,
            err: code.as_i32(),
        },
        body: ReplyBody::Empty,
    };
    use wire::request::Op;
    match request.body {
        RequestBody::Ping => forward(Op::Ping(wire::Ping {}), ReplyKind::Ping),
        RequestBody::CloseSession => forward(Op::Close(wire::Close {}), ReplyKind::Close),
        RequestBody::Create(kind, create) => {
            // ZooKeeper refuses an empty ACL (InvalidACL); so does the session core, but with
            // its own reason, and ZooKeeper clients expect the bare code.
            if create.acl.is_empty() {
                return local(error(ErrorCode::InvalidAcl));
            }
            forward(Op::Create(create_to_wire(create)), ReplyKind::Create(kind))
        }
        RequestBody::Delete { path, version } => forward(
            Op::Delete(wire::Delete { path, version }),
            ReplyKind::Delete,
        ),
        RequestBody::Exists { path, watch } => {
            forward(Op::Exists(wire::Exists { path, watch }), ReplyKind::Exists)
        }
        RequestBody::GetData { path, watch } => forward(
            Op::GetData(wire::GetData { path, watch }),
            ReplyKind::GetData,
        ),
        RequestBody::SetData {
            path,
            data,
            version,
        } => forward(
            Op::SetData(wire::SetData {
                path,
                null_data: data.is_none(),
                data: data.unwrap_or_default(),
                version,
            }),
            ReplyKind::SetData,
        ),
        RequestBody::GetAcl { path } => {
            forward(Op::GetAcl(wire::GetAcl { path }), ReplyKind::GetAcl)
        }
        RequestBody::SetAcl { path, acl, version } => {
            if acl.is_empty() {
                return local(error(ErrorCode::InvalidAcl));
            }
            forward(
                Op::SetAcl(wire::SetAcl {
                    path,
                    acl: acl.iter().map(acl_to_wire).collect(),
                    version,
                }),
                ReplyKind::SetAcl,
            )
        }
        RequestBody::GetChildren { path, watch } => forward(
            Op::GetChildren(wire::GetChildren { path, watch }),
            ReplyKind::GetChildren,
        ),
        RequestBody::GetChildren2 { path, watch } => forward(
            Op::GetChildren(wire::GetChildren { path, watch }),
            ReplyKind::GetChildren2,
        ),
        RequestBody::Sync { path } => forward(Op::Sync(wire::Sync { path }), ReplyKind::Sync),
        RequestBody::Check { path, version } => {
            forward(Op::Check(wire::Check { path, version }), ReplyKind::Check)
        }
        RequestBody::Multi(ops) => {
            let op_codes = ops.iter().map(MultiOp::op_code).collect();
            let mut wire_ops = Vec::with_capacity(ops.len());
            for op in ops {
                use wire::multi_op::Op as Part;
                let part = match op {
                    MultiOp::Create(_, create) => {
                        if create.acl.is_empty() {
                            return local(error(ErrorCode::InvalidAcl));
                        }
                        Part::Create(create_to_wire(create))
                    }
                    MultiOp::Delete { path, version } => {
                        Part::Delete(wire::Delete { path, version })
                    }
                    MultiOp::SetData {
                        path,
                        data,
                        version,
                    } => Part::SetData(wire::SetData {
                        path,
                        null_data: data.is_none(),
                        data: data.unwrap_or_default(),
                        version,
                    }),
                    MultiOp::Check { path, version } => Part::Check(wire::Check { path, version }),
                    // The decoder keeps reads out of a multi.
                    MultiOp::GetChildren { .. } | MultiOp::GetData { .. } => {
                        return local(error(ErrorCode::BadArguments));
                    }
                };
                wire_ops.push(wire::MultiOp { op: Some(part) });
            }
            forward(
                Op::Multi(wire::Multi { ops: wire_ops }),
                ReplyKind::Multi(op_codes),
            )
        }
        RequestBody::MultiRead(ops) => {
            if ops.is_empty() {
                return local(Reply {
                    header: ReplyHeader {
                        xid,
                        zxid: 0,
                        err: 0,
                    },
                    body: ReplyBody::Multi(Vec::new()),
                });
            }
            // The first read waits for the leader's commit point (ReadIndex); the others then
            // read the same node's tree, which is at least as new, without asking again.
            let requests: Vec<wire::Request> = ops
                .into_iter()
                .enumerate()
                .map(|(index, op)| {
                    let op = match op {
                        MultiOp::GetChildren { path, watch } => {
                            Op::GetChildren(wire::GetChildren { path, watch })
                        }
                        MultiOp::GetData { path, watch } => {
                            Op::GetData(wire::GetData { path, watch })
                        }
                        // The decoder keeps writes out of a multiRead; a harmless stand-in.
                        _ => Op::Ping(wire::Ping {}),
                    };
                    polis_request(xid, op, local_reads || index > 0)
                })
                .collect();
            let parts = requests.len();
            Plan {
                requests,
                pending: Pending {
                    xid,
                    kind: ReplyKind::MultiRead,
                    parts,
                },
            }
        }
        RequestBody::Auth { scheme, auth, .. } => {
            forward(Op::AddAuth(wire::AddAuth { scheme, auth }), ReplyKind::Auth)
        }
        RequestBody::SetWatches(set) | RequestBody::SetWatches2(set) => {
            // ZooKeeper keeps exists watches apart from data watches only to know, client side,
            // which callback to call; on the server both are data watches.
            let mut data_watches = set.data_watches;
            data_watches.extend(set.exist_watches);
            forward(
                Op::SetWatches(wire::SetWatches {
                    last_zxid_seen: set.relative_zxid,
                    data_watches,
                    child_watches: set.child_watches,
                    persistent_watches: set.persistent_watches,
                    persistent_recursive_watches: set.persistent_recursive_watches,
                }),
                ReplyKind::SetWatches,
            )
        }
        RequestBody::GetEphemerals { prefix } => forward(
            Op::GetEphemerals(wire::GetEphemerals { prefix }),
            ReplyKind::GetEphemerals,
        ),
        RequestBody::GetAllChildrenNumber { path } => forward(
            Op::CountDescendants(wire::CountDescendants { path }),
            ReplyKind::GetAllChildrenNumber,
        ),
        RequestBody::AddWatch { path, mode } => {
            let mode = match AddWatchMode::from_i32(mode) {
                Some(AddWatchMode::Persistent) => wire::WatchMode::Persistent,
                Some(AddWatchMode::PersistentRecursive) => wire::WatchMode::PersistentRecursive,
                None => return local(error(ErrorCode::BadArguments)),
            };
            forward(
                Op::AddWatch(wire::AddWatch {
                    path,
                    mode: mode as i32,
                    resume_after_zxid: None,
                }),
                ReplyKind::AddWatch,
            )
        }
        RequestBody::CheckWatches { path, watcher_type } => {
            // Any kind present is enough, as for removal.
            per_watch_mode(xid, watcher_type, ReplyKind::CheckWatches, |mode| {
                Op::CheckWatch(wire::CheckWatch {
                    path: path.clone(),
                    mode,
                })
            })
            .unwrap_or_else(|| local(error(ErrorCode::BadArguments)))
        }
        RequestBody::RemoveWatches { path, watcher_type } => {
            per_watch_mode(xid, watcher_type, ReplyKind::RemoveWatches, |mode| {
                Op::RemoveWatch(wire::RemoveWatch {
                    path: path.clone(),
                    mode,
                })
            })
            .unwrap_or_else(|| local(error(ErrorCode::BadArguments)))
        }
        RequestBody::WhoAmI => local(Reply {
            header: ReplyHeader {
                xid,
                zxid: 0,
                err: 0,
            },
            body: ReplyBody::WhoAmI(
                identities
                    .iter()
                    .map(|id| (id.scheme.clone(), id.id.clone()))
                    .collect(),
            ),
        }),
        RequestBody::Reconfig {
            joining,
            leaving,
            new_members,
            from_config,
        } => forward(
            Op::Reconfig(wire::Reconfig {
                joining_servers: joining,
                leaving_servers: leaving,
                new_members,
                from_config,
            }),
            ReplyKind::Reconfig,
        ),
        RequestBody::Unsupported { .. } => local(error(ErrorCode::Unimplemented)),
        // The connection answers SASL itself, since the exchange has state of its own
        // (`sasl_digest`); a token that reaches the translator has no exchange to join.
        RequestBody::Sasl { .. } => local(error(ErrorCode::AuthFailed)),
    }
}

/// A reply with no body carrying `code`, as ZooKeeper answers a refused request.
pub fn error_reply(xid: i32, code: ErrorCode) -> Reply {
    Reply {
        header: ReplyHeader {
            xid,
            zxid: 0,
            err: code.as_i32(),
        },
        body: ReplyBody::Empty,
    }
}

/// The plan of a request answered without the session: `reply`, in its place in line.
pub fn local_plan(reply: Reply) -> Plan {
    Plan {
        requests: Vec::new(),
        pending: Pending {
            xid: reply.header.xid,
            kind: ReplyKind::Local(reply),
            parts: 1,
        },
    }
}

/// The watch kinds a ZooKeeper watcher type covers. `Any` is every kind, as ZooKeeper 3.6+'s
/// `WatchManager.removeWatcher` with `WatcherType.Any`.
/// One Polis request per watch kind that ZooKeeper's `watcher_type` covers (checkWatches and
/// removeWatches of type Any cover several), answered together as one reply; `None` for an
/// unknown watcher type.
fn per_watch_mode(
    xid: i32,
    watcher_type: i32,
    kind: ReplyKind,
    op: impl Fn(i32) -> wire::request::Op,
) -> Option<Plan> {
    let modes = WatcherType::from_i32(watcher_type).map(watch_modes)?;
    let requests: Vec<wire::Request> = modes
        .iter()
        .map(|mode| polis_request(xid, op(*mode as i32), true))
        .collect();
    let parts = requests.len();
    Some(Plan {
        requests,
        pending: Pending { xid, kind, parts },
    })
}

fn watch_modes(watcher_type: WatcherType) -> Vec<wire::WatchMode> {
    match watcher_type {
        WatcherType::Children => vec![wire::WatchMode::Children],
        WatcherType::Data => vec![wire::WatchMode::Data],
        WatcherType::Persistent => vec![wire::WatchMode::Persistent],
        WatcherType::PersistentRecursive => vec![wire::WatchMode::PersistentRecursive],
        WatcherType::Any => vec![
            wire::WatchMode::Data,
            wire::WatchMode::Children,
            wire::WatchMode::Persistent,
            wire::WatchMode::PersistentRecursive,
        ],
    }
}

fn polis_request(xid: i32, op: wire::request::Op, allow_stale: bool) -> wire::Request {
    wire::Request {
        // Only for logs: the assembler pairs responses with requests by their order.
        xid: u64::from(xid as u32),
        op: Some(op),
        allow_stale,
    }
}

/// A read's data as jute writes it: `None` for null data (length -1).
fn data_of(get: &wire::GetDataResult) -> Option<Vec<u8>> {
    (!get.null_data).then(|| get.data.clone())
}

fn create_to_wire(create: CreateRequest) -> wire::Create {
    wire::Create {
        path: create.path,
        null_data: create.data.is_none(),
        data: create.data.unwrap_or_default(),
        acl: create.acl.iter().map(acl_to_wire).collect(),
        // ZooKeeper's CreateMode flags are Polis's wire enum values.
        mode: create.flags,
        ttl_ms: create.ttl_ms,
    }
}

fn acl_to_wire(acl: &Acl) -> wire::Acl {
    wire::Acl {
        // Negative bits become unknown high bits, which the tree refuses as InvalidACL.
        perms: acl.perms as u32,
        id: Some(wire::Id {
            scheme: acl.id.scheme.clone(),
            id: acl.id.id.clone(),
        }),
    }
}

fn acl_from_wire(acl: &wire::Acl) -> Acl {
    let id = acl.id.clone().unwrap_or_default();
    Acl {
        perms: acl.perms as i32,
        id: polis_zookeeper::Id {
            scheme: id.scheme,
            id: id.id,
        },
    }
}

fn stat_from_wire(stat: Option<&wire::Stat>) -> Stat {
    let stat = stat.cloned().unwrap_or_default();
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

/// Collects the responses of each pending request and builds its reply once all have arrived.
///
/// Bounded in bytes: a `multiRead` of 1,024 reads of 1 MiB nodes would otherwise gather a
/// gigabyte here before encoding it. Once the parts of one reply pass `reply_bytes_max`, their
/// payloads are dropped as they arrive and the reply comes out as [`AfterReply::TooLarge`].
#[derive(Debug)]
pub struct ReplyAssembler {
    current: Option<Gathering>,
    reply_bytes_max: usize,
}

/// The responses gathered so far for one pending request.
#[derive(Debug)]
struct Gathering {
    pending: Pending,
    responses: Vec<wire::Response>,
    parts_seen: usize,
    /// The encoded bytes of the responses seen, kept or dropped.
    bytes: usize,
}

impl Default for ReplyAssembler {
    fn default() -> ReplyAssembler {
        ReplyAssembler::new(usize::MAX)
    }
}

impl ReplyAssembler {
    /// An assembler of replies of at most `reply_bytes_max` bytes of responses.
    pub fn new(reply_bytes_max: usize) -> ReplyAssembler {
        ReplyAssembler {
            current: None,
            reply_bytes_max,
        }
    }

    /// A response arrived; `next_pending` gives the next request waiting for its responses (the
    /// connection's reader hands them over in the order it sends the requests). Returns the reply
    /// when this response completes one.
    pub fn on_response(
        &mut self,
        response: wire::Response,
        next_pending: impl FnOnce() -> Option<Pending>,
    ) -> Option<(Reply, AfterReply)> {
        let mut gathering = match self.current.take() {
            Some(gathering) => gathering,
            None => Gathering {
                pending: next_pending()?,
                responses: Vec::new(),
                parts_seen: 0,
                bytes: 0,
            },
        };
        gathering.parts_seen += 1;
        // Only a multi-part reply accumulates here. A reply of one part is in hand whole already
        // (the connection's queue bounded it) and the writer checks its encoded frame, so the
        // common case pays no size computation.
        if gathering.pending.parts > 1 {
            gathering.bytes = gathering
                .bytes
                .saturating_add(prost::Message::encoded_len(&response));
        }
        let too_large = gathering.bytes > self.reply_bytes_max;
        if too_large {
            // Only the count of parts matters from here on.
            gathering.responses = Vec::new();
        } else {
            gathering.responses.push(response);
        }
        debug_assert!(gathering.parts_seen <= gathering.pending.parts);
        if gathering.parts_seen < gathering.pending.parts {
            self.current = Some(gathering);
            return None;
        }
        if too_large {
            let header = ReplyHeader {
                xid: gathering.pending.xid,
                zxid: 0,
                err: 0,
            };
            let reply = Reply {
                header,
                body: ReplyBody::Empty,
            };
            return Some((reply, AfterReply::TooLarge));
        }
        Some(reply_of(gathering.pending, &gathering.responses))
    }
}

/// The jute reply of a request whose responses all arrived.
pub fn reply_of(pending: Pending, responses: &[wire::Response]) -> (Reply, AfterReply) {
    use wire::response::Result as Answer;
    let zxid = responses
        .iter()
        .map(|response| response.zxid)
        .max()
        .unwrap_or(0);
    let first = &responses[0];
    let mut header = ReplyHeader {
        xid: pending.xid,
        zxid,
        err: first.error_code,
    };
    let ok = |body: ReplyBody| (body, AfterReply::Continue);
    let (body, after) = match (&pending.kind, &first.result) {
        (ReplyKind::Local(reply), _) => {
            let mut reply = reply.clone();
            if reply.header.zxid == 0 {
                reply.header.zxid = zxid;
            }
            // ZooKeeper closes the connection after it answers AuthFailed (a failed SASL
            // exchange).
            let after = if reply.header.err == ErrorCode::AuthFailed.as_i32() {
                AfterReply::Close
            } else {
                AfterReply::Continue
            };
            return (reply, after);
        }
        (ReplyKind::Multi(op_codes), Some(Answer::Multi(multi))) => {
            // ZooKeeper answers a failed multi with header err 0 and an ErrorResult for every
            // part (0 before the failing one, its code, RuntimeInconsistency after).
            header.err = 0;
            let failed = first.error_code != 0;
            let results = multi
                .results
                .iter()
                .enumerate()
                .map(|(index, result)| {
                    if failed {
                        return MultiResult::Error {
                            code: result.error_code,
                        };
                    }
                    let op_code = op_codes.get(index).copied().unwrap_or(0);
                    multi_result_of(op_code, result)
                })
                .collect();
            ok(ReplyBody::Multi(results))
        }
        (ReplyKind::MultiRead, _) => {
            // Each read of a multiRead succeeds or fails on its own.
            header.err = 0;
            let results = responses
                .iter()
                .map(|response| match &response.result {
                    _ if response.error_code != 0 => MultiResult::Error {
                        code: response.error_code,
                    },
                    Some(Answer::GetData(get)) => MultiResult::GetData {
                        data: data_of(get),
                        stat: stat_from_wire(get.stat.as_ref()),
                    },
                    Some(Answer::GetChildren(get)) => MultiResult::GetChildren {
                        children: get.children.clone(),
                    },
                    _ => MultiResult::Error {
                        code: ErrorCode::SystemError.as_i32(),
                    },
                })
                .collect();
            ok(ReplyBody::Multi(results))
        }
        (ReplyKind::RemoveWatches | ReplyKind::CheckWatches, _) => {
            // Any kind found is success; else the first part's error (NoWatcher).
            match responses.iter().find(|response| response.error_code == 0) {
                Some(_) => header.err = 0,
                None => header.err = first.error_code,
            }
            ok(ReplyBody::Empty)
        }
        (ReplyKind::Auth, _) if first.error_code != 0 => {
            // ZooKeeper answers a failed addAuth with AuthFailed and closes the connection.
            header.err = ErrorCode::AuthFailed.as_i32();
            (ReplyBody::Empty, AfterReply::Close)
        }
        (ReplyKind::Close, _) => (ReplyBody::Empty, AfterReply::Close),
        (_, _) if first.error_code != 0 => ok(ReplyBody::Empty),
        (ReplyKind::Exists, Some(Answer::Exists(exists))) => match &exists.stat {
            Some(stat) => ok(ReplyBody::Stat(stat_from_wire(Some(stat)))),
            // ZooKeeper answers exists on a missing node with NoNode, which clients turn into
            // "no stat" (and an exists watch).
            None => {
                header.err = ErrorCode::NoNode.as_i32();
                ok(ReplyBody::Empty)
            }
        },
        (ReplyKind::Create(kind), Some(Answer::Create(create))) => {
            if kind.answers_stat() {
                ok(ReplyBody::PathStat(
                    create.path.clone(),
                    stat_from_wire(create.stat.as_ref()),
                ))
            } else {
                ok(ReplyBody::Path(create.path.clone()))
            }
        }
        (ReplyKind::GetData, Some(Answer::GetData(get)))
        | (ReplyKind::Reconfig, Some(Answer::Reconfig(get))) => ok(ReplyBody::Data(
            data_of(get),
            stat_from_wire(get.stat.as_ref()),
        )),
        (ReplyKind::SetData, Some(Answer::SetData(set)))
        | (ReplyKind::SetAcl, Some(Answer::SetAcl(set))) => {
            ok(ReplyBody::Stat(stat_from_wire(set.stat.as_ref())))
        }
        (ReplyKind::GetAcl, Some(Answer::GetAcl(get))) => ok(ReplyBody::Acl(
            get.acl.iter().map(acl_from_wire).collect(),
            stat_from_wire(get.stat.as_ref()),
        )),
        (ReplyKind::GetChildren, Some(Answer::GetChildren(get))) => {
            ok(ReplyBody::Children(get.children.clone()))
        }
        (ReplyKind::GetChildren2, Some(Answer::GetChildren(get))) => ok(ReplyBody::Children2(
            get.children.clone(),
            stat_from_wire(get.stat.as_ref()),
        )),
        (ReplyKind::Sync, Some(Answer::Sync(sync))) => ok(ReplyBody::Path(sync.path.clone())),
        (ReplyKind::GetEphemerals, Some(Answer::GetEphemerals(paths))) => {
            ok(ReplyBody::Children(paths.paths.clone()))
        }
        (ReplyKind::GetAllChildrenNumber, Some(Answer::CountDescendants(count))) => ok(
            ReplyBody::Count(i32::try_from(count.count).unwrap_or(i32::MAX)),
        ),
        // addWatch answers ErrorResponse(0) (ZooKeeper's FinalRequestProcessor).
        (ReplyKind::AddWatch, _) => ok(ReplyBody::Error(0)),
        (
            ReplyKind::Delete
            | ReplyKind::Check
            | ReplyKind::Ping
            | ReplyKind::Auth
            | ReplyKind::SetWatches,
            _,
        ) => ok(ReplyBody::Empty),
        (kind, result) => {
            tracing::warn!(?kind, ?result, "a response that does not fit its request");
            header.err = ErrorCode::SystemError.as_i32();
            ok(ReplyBody::Empty)
        }
    };
    (Reply { header, body }, after)
}

fn multi_result_of(op_code: i32, result: &wire::MultiOpResult) -> MultiResult {
    use polis_zookeeper::opcode;
    use wire::multi_op_result::Result as Part;
    match &result.result {
        Some(Part::Create(create)) if op_code == opcode::CREATE => MultiResult::Create {
            path: create.path.clone(),
        },
        Some(Part::Create(create)) => MultiResult::Create2 {
            path: create.path.clone(),
            stat: stat_from_wire(create.stat.as_ref()),
        },
        Some(Part::Delete(_)) => MultiResult::Delete,
        Some(Part::SetData(set)) | Some(Part::SetAcl(set)) => MultiResult::SetData {
            stat: stat_from_wire(set.stat.as_ref()),
        },
        Some(Part::Check(_)) => MultiResult::Check,
        None => MultiResult::Error {
            code: result.error_code,
        },
    }
}

/// The notification frame of a Polis watch event.
pub fn notification(event: &wire::WatchEvent) -> Vec<u8> {
    let event_type = match wire::EventType::try_from(event.r#type) {
        Ok(wire::EventType::NodeCreated) => EventType::NodeCreated,
        Ok(wire::EventType::NodeDeleted) => EventType::NodeDeleted,
        Ok(wire::EventType::NodeDataChanged) => EventType::NodeDataChanged,
        Ok(wire::EventType::NodeChildrenChanged) => EventType::NodeChildrenChanged,
        Ok(wire::EventType::None) | Err(_) => EventType::None,
    };
    encode_notification(
        event.zxid,
        &WatcherEvent {
            event_type,
            state: KeeperState::SyncConnected,
            path: event.path.clone(),
        },
    )
}

/// The Polis connect of a ZooKeeper connect request.
pub fn connect_to_wire(connect: &ConnectRequest) -> wire::Connect {
    wire::Connect {
        protocol_version: polis_proto::PROTOCOL_VERSION,
        session_timeout_ms: connect.timeout_ms,
        session_id: connect.session_id,
        password: connect.password.clone(),
        last_zxid_seen: connect.last_zxid_seen,
    }
}

/// How a connect ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// The session is open: answer and serve requests.
    Accepted(ConnectResponse),
    /// The session to resume is gone (or its password is wrong): answer timeout 0 and close, as
    /// ZooKeeper does, so the client reports SessionExpired.
    Expired(ConnectResponse),
    /// The server cannot serve the client now (no leader, or the client has seen a newer zxid
    /// than this server): close without answering, so the client tries again or elsewhere, as
    /// ZooKeeper does.
    Refused,
}

pub fn connect_outcome(connect: &ConnectRequest, connected: &wire::Connected) -> ConnectOutcome {
    let code = ErrorCode::from_i32(connected.error_code);
    match code {
        Some(ErrorCode::Ok) => ConnectOutcome::Accepted(ConnectResponse {
            protocol_version: 0,
            timeout_ms: connected.session_timeout_ms,
            session_id: connected.session_id,
            password: connected.password.clone(),
            // Polis has no read-only mode: every server it answers from is read-write.
            read_only: connect.read_only.map(|_| false),
        }),
        Some(ErrorCode::SessionExpired | ErrorCode::AuthFailed) => {
            ConnectOutcome::Expired(ConnectResponse::expired(connect.read_only))
        }
        _ => ConnectOutcome::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(result: wire::response::Result) -> wire::Response {
        wire::Response {
            xid: 0,
            zxid: 7,
            error_code: 0,
            error_message: String::new(),
            result: Some(result),
        }
    }

    fn failure(code: ErrorCode) -> wire::Response {
        wire::Response {
            xid: 0,
            zxid: 7,
            error_code: code.as_i32(),
            error_message: "no".to_string(),
            result: None,
        }
    }

    fn reply_to(request: RequestBody, responses: Vec<wire::Response>) -> (Reply, AfterReply) {
        let plan = plan(
            Request {
                xid: 3,
                body: request,
            },
            &[],
            ZooKeeperReads::Linearizable,
        );
        assert_eq!(plan.pending.parts, responses.len().max(1));
        let mut assembler = ReplyAssembler::default();
        let mut pending = Some(plan.pending);
        let mut replies = Vec::new();
        for response in responses {
            if let Some(reply) = assembler.on_response(response, || pending.take()) {
                replies.push(reply);
            }
        }
        assert_eq!(replies.len(), 1);
        replies.remove(0)
    }

    #[test]
    fn exists_on_a_missing_node_answers_no_node() {
        let (reply, _) = reply_to(
            RequestBody::Exists {
                path: "/a".to_string(),
                watch: true,
            },
            vec![response(wire::response::Result::Exists(
                wire::ExistsResult { stat: None },
            ))],
        );
        assert_eq!(reply.header.err, ErrorCode::NoNode.as_i32());
        assert_eq!(reply.body, ReplyBody::Empty);
    }

    #[test]
    fn create_answers_the_path_and_create2_the_stat_too() {
        let created = || {
            response(wire::response::Result::Create(wire::CreateResult {
                path: "/a0000000001".to_string(),
                stat: Some(wire::Stat {
                    czxid: 7,
                    ..wire::Stat::default()
                }),
            }))
        };
        let request = |kind| {
            RequestBody::Create(
                kind,
                CreateRequest {
                    path: "/a".to_string(),
                    acl: vec![Acl::default()],
                    flags: 2,
                    ..CreateRequest::default()
                },
            )
        };
        let (reply, _) = reply_to(request(CreateKind::Create), vec![created()]);
        assert_eq!(reply.body, ReplyBody::Path("/a0000000001".to_string()));
        let (reply, _) = reply_to(request(CreateKind::Create2), vec![created()]);
        assert!(matches!(reply.body, ReplyBody::PathStat(_, stat) if stat.czxid == 7));
    }

    #[test]
    fn an_empty_acl_is_refused_as_zookeeper_does() {
        let plan = plan(
            Request {
                xid: 1,
                body: RequestBody::Create(CreateKind::Create, CreateRequest::default()),
            },
            &[],
            ZooKeeperReads::Linearizable,
        );
        assert!(plan.requests.is_empty());
        assert!(matches!(
            plan.pending.kind,
            ReplyKind::Local(Reply { header, .. }) if header.err == ErrorCode::InvalidAcl.as_i32()
        ));
    }

    #[test]
    fn a_failed_multi_answers_header_zero_and_an_error_per_part() {
        let ops = vec![
            MultiOp::Check {
                path: "/a".to_string(),
                version: 1,
            },
            MultiOp::Delete {
                path: "/b".to_string(),
                version: -1,
            },
        ];
        let mut failed = response(wire::response::Result::Multi(wire::MultiResult {
            results: vec![
                wire::MultiOpResult {
                    error_code: -103,
                    result: None,
                },
                wire::MultiOpResult {
                    error_code: -2,
                    result: None,
                },
            ],
        }));
        failed.error_code = -103;
        let (reply, _) = reply_to(RequestBody::Multi(ops), vec![failed]);
        assert_eq!(reply.header.err, 0);
        assert_eq!(
            reply.body,
            ReplyBody::Multi(vec![
                MultiResult::Error { code: -103 },
                MultiResult::Error { code: -2 }
            ])
        );
    }

    #[test]
    fn sequential_reads_are_local_and_linearizable_reads_wait_for_the_leader() {
        let get = |reads| {
            plan(
                Request {
                    xid: 2,
                    body: RequestBody::GetData {
                        path: "/a".to_string(),
                        watch: false,
                    },
                },
                &[],
                reads,
            )
        };
        let linearizable = get(ZooKeeperReads::Linearizable);
        assert_eq!(linearizable.requests.len(), 1);
        assert!(!linearizable.requests[0].allow_stale);
        let sequential = get(ZooKeeperReads::Sequential);
        assert_eq!(sequential.requests.len(), 1);
        assert!(sequential.requests[0].allow_stale);
    }

    #[test]
    fn a_multi_read_collects_one_result_per_read() {
        let ops = vec![
            MultiOp::GetData {
                path: "/a".to_string(),
                watch: false,
            },
            MultiOp::GetChildren {
                path: "/missing".to_string(),
                watch: false,
            },
        ];
        let plan = plan(
            Request {
                xid: 1,
                body: RequestBody::MultiRead(ops.clone()),
            },
            &[],
            ZooKeeperReads::Linearizable,
        );
        assert_eq!(plan.requests.len(), 2);
        assert!(!plan.requests[0].allow_stale);
        assert!(plan.requests[1].allow_stale);
        let (reply, _) = reply_to(
            RequestBody::MultiRead(ops),
            vec![
                response(wire::response::Result::GetData(wire::GetDataResult {
                    data: b"x".to_vec(),
                    stat: None,
                    null_data: false,
                })),
                failure(ErrorCode::NoNode),
            ],
        );
        assert_eq!(reply.header.err, 0);
        assert!(matches!(
            &reply.body,
            ReplyBody::Multi(results) if results[1] == MultiResult::Error { code: -101 }
        ));
    }

    #[test]
    fn removing_any_watch_succeeds_if_one_kind_was_there() {
        let request = RequestBody::RemoveWatches {
            path: "/a".to_string(),
            watcher_type: 3,
        };
        let (reply, _) = reply_to(
            request.clone(),
            vec![
                failure(ErrorCode::NoWatcher),
                response(wire::response::Result::RemoveWatch(wire::Empty {})),
                failure(ErrorCode::NoWatcher),
                failure(ErrorCode::NoWatcher),
            ],
        );
        assert_eq!(reply.header.err, 0);
        let (reply, _) = reply_to(
            request,
            (0..4).map(|_| failure(ErrorCode::NoWatcher)).collect(),
        );
        assert_eq!(reply.header.err, ErrorCode::NoWatcher.as_i32());
    }

    #[test]
    fn a_failed_auth_answers_auth_failed_and_closes() {
        let (reply, after) = reply_to(
            RequestBody::Auth {
                auth_type: 0,
                scheme: "ip".to_string(),
                auth: Vec::new(),
            },
            vec![failure(ErrorCode::BadArguments)],
        );
        assert_eq!(reply.header.err, ErrorCode::AuthFailed.as_i32());
        assert_eq!(after, AfterReply::Close);
    }

    #[test]
    fn an_expired_session_is_answered_with_timeout_zero() {
        let connect = ConnectRequest {
            session_id: 5,
            password: vec![1; 16],
            read_only: Some(false),
            ..ConnectRequest::default()
        };
        let connected = wire::Connected {
            error_code: ErrorCode::SessionExpired.as_i32(),
            ..wire::Connected::default()
        };
        let ConnectOutcome::Expired(response) = connect_outcome(&connect, &connected) else {
            panic!("expected an expired answer");
        };
        assert_eq!(response.timeout_ms, 0);
        let no_leader = wire::Connected {
            error_code: ErrorCode::ConnectionLoss.as_i32(),
            ..wire::Connected::default()
        };
        assert_eq!(
            connect_outcome(&connect, &no_leader),
            ConnectOutcome::Refused
        );
    }
}
