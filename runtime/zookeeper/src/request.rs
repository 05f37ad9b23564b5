//! Requests: a `RequestHeader` (xid, operation code) and the operation's record.

use crate::multi::encode_end;
use crate::{Acl, DecodeError, JuteLimits, JuteReader, JuteWriter, MultiOp, opcode};

/// The longest SASL token a client may send, in bytes. A DIGEST-MD5 response is a few hundred
/// bytes; GSSAPI tokens, which Polis does not accept, run to a few kilobytes.
pub const SASL_TOKEN_LEN_MAX: usize = 4096;

/// One request frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Chosen by the client and echoed in the reply; the reserved ones are in [`crate::xid`].
    pub xid: i32,
    pub body: RequestBody,
}

/// Which of ZooKeeper's four create operations: they share a record (TTL adds a field) and differ
/// in what they answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// `create`: answers the path.
    Create,
    /// `create2`: answers the path and the stat.
    Create2,
    /// `createContainer`: as create2, for container nodes.
    Container,
    /// `createTTL`: as create2, with a TTL.
    Ttl,
}

impl CreateKind {
    pub fn op_code(self) -> i32 {
        match self {
            CreateKind::Create => opcode::CREATE,
            CreateKind::Create2 => opcode::CREATE2,
            CreateKind::Container => opcode::CREATE_CONTAINER,
            CreateKind::Ttl => opcode::CREATE_TTL,
        }
    }

    pub fn of_op_code(op_code: i32) -> Option<CreateKind> {
        match op_code {
            opcode::CREATE => Some(CreateKind::Create),
            opcode::CREATE2 => Some(CreateKind::Create2),
            opcode::CREATE_CONTAINER => Some(CreateKind::Container),
            opcode::CREATE_TTL => Some(CreateKind::Ttl),
            _ => None,
        }
    }

    /// Whether the reply carries the stat as well as the path.
    pub fn answers_stat(self) -> bool {
        self != CreateKind::Create
    }
}

/// `CreateRequest` / `CreateTTLRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    /// `None` is null data (length -1), which ZooKeeper keeps apart from empty data.
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    /// `CreateMode.toFlag()`: 0 persistent, 1 ephemeral, 2 persistent sequential, 3 ephemeral
    /// sequential, 4 container, 5 persistent with TTL, 6 persistent sequential with TTL.
    pub flags: i32,
    /// Only in `createTTL` (0 otherwise).
    pub ttl_ms: i64,
}

impl CreateRequest {
    pub fn encode(&self, kind: CreateKind, writer: &mut JuteWriter) {
        writer.write_string(&self.path);
        writer.write_nullable_buffer(self.data.as_deref());
        Acl::encode_list(&self.acl, writer);
        writer.write_int(self.flags);
        if kind == CreateKind::Ttl {
            writer.write_long(self.ttl_ms);
        }
    }

    pub fn decode(
        kind: CreateKind,
        reader: &mut JuteReader<'_>,
        limits: &JuteLimits,
    ) -> Result<CreateRequest, DecodeError> {
        let path = reader.read_string("create.path", "path_len_max", limits.path_len_max)?;
        let data =
            reader.read_nullable_buffer("create.data", "data_len_max", limits.data_len_max)?;
        let acl = Acl::decode_list(reader, limits)?;
        let flags = reader.read_int("create.flags")?;
        let ttl_ms = if kind == CreateKind::Ttl {
            reader.read_long("create.ttl")?
        } else {
            0
        };
        Ok(CreateRequest {
            path,
            data,
            acl,
            flags,
            ttl_ms,
        })
    }
}

/// `AddWatchRequest.mode` (`AddWatchMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

impl AddWatchMode {
    pub fn from_i32(mode: i32) -> Option<AddWatchMode> {
        match mode {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }
}

/// `Watcher.WatcherType`, in `checkWatches` and `removeWatches`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl WatcherType {
    pub fn from_i32(kind: i32) -> Option<WatcherType> {
        match kind {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            4 => Some(WatcherType::Persistent),
            5 => Some(WatcherType::PersistentRecursive),
            _ => None,
        }
    }
}

/// `SetWatches` (persistent lists empty) and `SetWatches2`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatchesRequest {
    pub relative_zxid: i64,
    pub data_watches: Vec<String>,
    pub exist_watches: Vec<String>,
    pub child_watches: Vec<String>,
    pub persistent_watches: Vec<String>,
    pub persistent_recursive_watches: Vec<String>,
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestBody {
    Ping,
    CloseSession,
    Create(CreateKind, CreateRequest),
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        /// `None` is null data.
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Auth {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    },
    SetWatches(SetWatchesRequest),
    SetWatches2(SetWatchesRequest),
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    /// `mode` as sent; see [`AddWatchMode::from_i32`].
    AddWatch {
        path: String,
        mode: i32,
    },
    /// `watcher_type` as sent; see [`WatcherType::from_i32`].
    CheckWatches {
        path: String,
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    WhoAmI,
    /// `ReconfigRequest` (opcode 16): servers joining and leaving (comma-separated, ZooKeeper's
    /// `server.<id>=...` form and ids), or the whole new membership, and the configuration
    /// version it applies to (-1: any). Each string is bounded by [`RECONFIG_TEXT_LEN_MAX`].
    Reconfig {
        joining: String,
        leaving: String,
        new_members: String,
        from_config: i64,
    },
    /// `GetSASLRequest`: one token of a SASL exchange (opcode 102).
    Sasl {
        token: Vec<u8>,
    },
    /// An operation this server does not offer (reconfig, server-internal codes, unknown
    /// codes): its record is not read, and the reply says Unimplemented.
    Unsupported {
        op_code: i32,
    },
}

impl RequestBody {
    /// The operation code of the request header.
    pub fn op_code(&self) -> i32 {
        match self {
            RequestBody::Ping => opcode::PING,
            RequestBody::CloseSession => opcode::CLOSE_SESSION,
            RequestBody::Create(kind, _) => kind.op_code(),
            RequestBody::Delete { .. } => opcode::DELETE,
            RequestBody::Exists { .. } => opcode::EXISTS,
            RequestBody::GetData { .. } => opcode::GET_DATA,
            RequestBody::SetData { .. } => opcode::SET_DATA,
            RequestBody::GetAcl { .. } => opcode::GET_ACL,
            RequestBody::SetAcl { .. } => opcode::SET_ACL,
            RequestBody::GetChildren { .. } => opcode::GET_CHILDREN,
            RequestBody::GetChildren2 { .. } => opcode::GET_CHILDREN2,
            RequestBody::Sync { .. } => opcode::SYNC,
            RequestBody::Check { .. } => opcode::CHECK,
            RequestBody::Multi(_) => opcode::MULTI,
            RequestBody::MultiRead(_) => opcode::MULTI_READ,
            RequestBody::Auth { .. } => opcode::AUTH,
            RequestBody::SetWatches(_) => opcode::SET_WATCHES,
            RequestBody::SetWatches2(_) => opcode::SET_WATCHES2,
            RequestBody::GetEphemerals { .. } => opcode::GET_EPHEMERALS,
            RequestBody::GetAllChildrenNumber { .. } => opcode::GET_ALL_CHILDREN_NUMBER,
            RequestBody::AddWatch { .. } => opcode::ADD_WATCH,
            RequestBody::CheckWatches { .. } => opcode::CHECK_WATCHES,
            RequestBody::RemoveWatches { .. } => opcode::REMOVE_WATCHES,
            RequestBody::WhoAmI => opcode::WHO_AM_I,
            RequestBody::Reconfig { .. } => opcode::RECONFIG,
            RequestBody::Sasl { .. } => opcode::SASL,
            RequestBody::Unsupported { op_code } => *op_code,
        }
    }

    /// The operation's name, as metrics and logs label it.
    pub fn name(&self) -> &'static str {
        match self {
            RequestBody::Ping => "ping",
            RequestBody::CloseSession => "closeSession",
            RequestBody::Create(CreateKind::Create, _) => "create",
            RequestBody::Create(CreateKind::Create2, _) => "create2",
            RequestBody::Create(CreateKind::Container, _) => "createContainer",
            RequestBody::Create(CreateKind::Ttl, _) => "createTTL",
            RequestBody::Delete { .. } => "delete",
            RequestBody::Exists { .. } => "exists",
            RequestBody::GetData { .. } => "getData",
            RequestBody::SetData { .. } => "setData",
            RequestBody::GetAcl { .. } => "getACL",
            RequestBody::SetAcl { .. } => "setACL",
            RequestBody::GetChildren { .. } => "getChildren",
            RequestBody::GetChildren2 { .. } => "getChildren2",
            RequestBody::Sync { .. } => "sync",
            RequestBody::Check { .. } => "check",
            RequestBody::Multi(_) => "multi",
            RequestBody::MultiRead(_) => "multiRead",
            RequestBody::Auth { .. } => "auth",
            RequestBody::SetWatches(_) => "setWatches",
            RequestBody::SetWatches2(_) => "setWatches2",
            RequestBody::GetEphemerals { .. } => "getEphemerals",
            RequestBody::GetAllChildrenNumber { .. } => "getAllChildrenNumber",
            RequestBody::AddWatch { .. } => "addWatch",
            RequestBody::CheckWatches { .. } => "checkWatches",
            RequestBody::RemoveWatches { .. } => "removeWatches",
            RequestBody::WhoAmI => "whoAmI",
            RequestBody::Reconfig { .. } => "reconfig",
            RequestBody::Sasl { .. } => "sasl",
            RequestBody::Unsupported { .. } => "unsupported",
        }
    }
}

impl Request {
    /// The whole frame, length prefix included (what a client sends).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = JuteWriter::new();
        writer.write_int(self.xid);
        writer.write_int(self.body.op_code());
        match &self.body {
            RequestBody::Ping
            | RequestBody::CloseSession
            | RequestBody::WhoAmI
            | RequestBody::Unsupported { .. } => {}
            RequestBody::Reconfig {
                joining,
                leaving,
                new_members,
                from_config,
            } => {
                writer.write_string(joining);
                writer.write_string(leaving);
                writer.write_string(new_members);
                writer.write_long(*from_config);
            }
            RequestBody::Create(kind, create) => create.encode(*kind, &mut writer),
            RequestBody::Delete { path, version } | RequestBody::Check { path, version } => {
                writer.write_string(path);
                writer.write_int(*version);
            }
            RequestBody::Exists { path, watch }
            | RequestBody::GetData { path, watch }
            | RequestBody::GetChildren { path, watch }
            | RequestBody::GetChildren2 { path, watch } => {
                writer.write_string(path);
                writer.write_bool(*watch);
            }
            RequestBody::SetData {
                path,
                data,
                version,
            } => {
                writer.write_string(path);
                writer.write_nullable_buffer(data.as_deref());
                writer.write_int(*version);
            }
            RequestBody::Sasl { token } => writer.write_buffer(token),
            RequestBody::GetAcl { path }
            | RequestBody::Sync { path }
            | RequestBody::GetAllChildrenNumber { path }
            | RequestBody::GetEphemerals { prefix: path } => writer.write_string(path),
            RequestBody::SetAcl { path, acl, version } => {
                writer.write_string(path);
                Acl::encode_list(acl, &mut writer);
                writer.write_int(*version);
            }
            RequestBody::Multi(ops) | RequestBody::MultiRead(ops) => {
                for op in ops {
                    writer.write_int(op.op_code());
                    writer.write_bool(false);
                    writer.write_int(-1);
                    op.encode(&mut writer);
                }
                encode_end(&mut writer);
            }
            RequestBody::Auth {
                auth_type,
                scheme,
                auth,
            } => {
                writer.write_int(*auth_type);
                writer.write_string(scheme);
                writer.write_buffer(auth);
            }
            RequestBody::SetWatches(set) | RequestBody::SetWatches2(set) => {
                writer.write_long(set.relative_zxid);
                writer.write_strings(&set.data_watches);
                writer.write_strings(&set.exist_watches);
                writer.write_strings(&set.child_watches);
                if matches!(self.body, RequestBody::SetWatches2(_)) {
                    writer.write_strings(&set.persistent_watches);
                    writer.write_strings(&set.persistent_recursive_watches);
                }
            }
            RequestBody::AddWatch { path, mode } => {
                writer.write_string(path);
                writer.write_int(*mode);
            }
            RequestBody::CheckWatches { path, watcher_type }
            | RequestBody::RemoveWatches { path, watcher_type } => {
                writer.write_string(path);
                writer.write_int(*watcher_type);
            }
        }
        writer.finish()
    }
}

/// The longest text of one `reconfig` field (joining servers, leaving ids, new members), in
/// bytes: room for [`crate::dynamic_config::RECONFIG_SERVERS_MAX`] servers of
/// [`crate::dynamic_config::SERVER_DESCRIPTOR_LEN_MAX`] bytes each.
pub const RECONFIG_TEXT_LEN_MAX: usize = 64 * 1024;

/// The smallest encoding of a multi part: its header (type, done, err).
const MULTI_HEADER_LEN: usize = 4 + 1 + 4;
/// The smallest encoding of a string in a vector: its length.
const STRING_LEN_MIN: usize = 4;

/// Decodes a request from one frame (without its length prefix). Bytes after the record are
/// ignored, as jute's record readers ignore what is left of a packet.
pub fn decode_request(frame: &[u8], limits: &JuteLimits) -> Result<Request, DecodeError> {
    let mut reader = JuteReader::new(frame);
    let xid = reader.read_int("header.xid")?;
    let op_code = reader.read_int("header.type")?;
    let body = decode_body(op_code, &mut reader, limits)?;
    Ok(Request { xid, body })
}

fn decode_body(
    op_code: i32,
    reader: &mut JuteReader<'_>,
    limits: &JuteLimits,
) -> Result<RequestBody, DecodeError> {
    let path_max = limits.path_len_max;
    let path = |reader: &mut JuteReader<'_>| reader.read_string("path", "path_len_max", path_max);
    if let Some(kind) = CreateKind::of_op_code(op_code) {
        return Ok(RequestBody::Create(
            kind,
            CreateRequest::decode(kind, reader, limits)?,
        ));
    }
    let body = match op_code {
        opcode::PING => RequestBody::Ping,
        opcode::CLOSE_SESSION => RequestBody::CloseSession,
        opcode::WHO_AM_I => RequestBody::WhoAmI,
        opcode::DELETE => RequestBody::Delete {
            path: path(reader)?,
            version: reader.read_int("delete.version")?,
        },
        opcode::CHECK => RequestBody::Check {
            path: path(reader)?,
            version: reader.read_int("check.version")?,
        },
        opcode::EXISTS => RequestBody::Exists {
            path: path(reader)?,
            watch: reader.read_bool("exists.watch")?,
        },
        opcode::GET_DATA => RequestBody::GetData {
            path: path(reader)?,
            watch: reader.read_bool("getData.watch")?,
        },
        opcode::GET_CHILDREN => RequestBody::GetChildren {
            path: path(reader)?,
            watch: reader.read_bool("getChildren.watch")?,
        },
        opcode::GET_CHILDREN2 => RequestBody::GetChildren2 {
            path: path(reader)?,
            watch: reader.read_bool("getChildren2.watch")?,
        },
        opcode::SET_DATA => RequestBody::SetData {
            path: path(reader)?,
            data: reader.read_nullable_buffer(
                "setData.data",
                "data_len_max",
                limits.data_len_max,
            )?,
            version: reader.read_int("setData.version")?,
        },
        opcode::GET_ACL => RequestBody::GetAcl {
            path: path(reader)?,
        },
        opcode::SET_ACL => RequestBody::SetAcl {
            path: path(reader)?,
            acl: Acl::decode_list(reader, limits)?,
            version: reader.read_int("setACL.version")?,
        },
        opcode::SYNC => RequestBody::Sync {
            path: path(reader)?,
        },
        opcode::GET_EPHEMERALS => RequestBody::GetEphemerals {
            prefix: path(reader)?,
        },
        opcode::GET_ALL_CHILDREN_NUMBER => RequestBody::GetAllChildrenNumber {
            path: path(reader)?,
        },
        opcode::ADD_WATCH => RequestBody::AddWatch {
            path: path(reader)?,
            mode: reader.read_int("addWatch.mode")?,
        },
        opcode::CHECK_WATCHES => RequestBody::CheckWatches {
            path: path(reader)?,
            watcher_type: reader.read_int("checkWatches.type")?,
        },
        opcode::REMOVE_WATCHES => RequestBody::RemoveWatches {
            path: path(reader)?,
            watcher_type: reader.read_int("removeWatches.type")?,
        },
        opcode::AUTH => RequestBody::Auth {
            auth_type: reader.read_int("auth.type")?,
            scheme: reader.read_string("auth.scheme", "path_len_max", path_max)?,
            auth: reader.read_buffer("auth.auth", "data_len_max", limits.data_len_max)?,
        },
        opcode::RECONFIG => {
            let mut text =
                |field| reader.read_string(field, "RECONFIG_TEXT_LEN_MAX", RECONFIG_TEXT_LEN_MAX);
            RequestBody::Reconfig {
                joining: text("reconfig.joiningServers")?,
                leaving: text("reconfig.leavingServers")?,
                new_members: text("reconfig.newMembers")?,
                from_config: reader.read_long("reconfig.curConfigId")?,
            }
        }
        opcode::SASL => RequestBody::Sasl {
            token: reader.read_buffer("sasl.token", "SASL_TOKEN_LEN_MAX", SASL_TOKEN_LEN_MAX)?,
        },
        opcode::MULTI => RequestBody::Multi(decode_multi(reader, limits, false)?),
        opcode::MULTI_READ => RequestBody::MultiRead(decode_multi(reader, limits, true)?),
        opcode::SET_WATCHES => RequestBody::SetWatches(decode_set_watches(reader, limits, false)?),
        opcode::SET_WATCHES2 => RequestBody::SetWatches2(decode_set_watches(reader, limits, true)?),
        other => RequestBody::Unsupported { op_code: other },
    };
    Ok(body)
}

/// The parts of a multi, up to the header marked done (`MultiRequest.deserialize`).
fn decode_multi(
    reader: &mut JuteReader<'_>,
    limits: &JuteLimits,
    reads: bool,
) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let op_code = reader.read_int("multi.header.type")?;
        let done = reader.read_bool("multi.header.done")?;
        let _err = reader.read_int("multi.header.err")?;
        if done {
            return Ok(ops);
        }
        if ops.len() >= limits.multi_ops_max {
            return Err(DecodeError::TooMany {
                field: "multi",
                limit: "multi_ops_max",
                count: ops.len() + 1,
                max: limits.multi_ops_max,
            });
        }
        // Each part needs at least a header more (the end marker), which bounds the loop by the
        // frame as well.
        if reader.remaining_len() < MULTI_HEADER_LEN {
            return Err(DecodeError::Truncated {
                field: "multi",
                needed: MULTI_HEADER_LEN,
                remaining: reader.remaining_len(),
            });
        }
        let op = MultiOp::decode(op_code, reader, limits)?;
        // ZooKeeper's client never mixes reads into a multi or writes into a multiRead, and its
        // server refuses such a mixture.
        if op.is_read() != reads {
            return Err(DecodeError::UnexpectedMultiOp {
                op_code,
                inside: if reads { "a multiRead" } else { "a multi" },
            });
        }
        ops.push(op);
    }
}

fn decode_set_watches(
    reader: &mut JuteReader<'_>,
    limits: &JuteLimits,
    version2: bool,
) -> Result<SetWatchesRequest, DecodeError> {
    let relative_zxid = reader.read_long("setWatches.relativeZxid")?;
    let mut budget = limits.watch_paths_max;
    let mut list = |reader: &mut JuteReader<'_>, field: &'static str| {
        let count = reader.read_count(field, "watch_paths_max", budget, STRING_LEN_MIN)?;
        budget -= count;
        let mut paths = Vec::with_capacity(count);
        for _ in 0..count {
            paths.push(reader.read_string(field, "path_len_max", limits.path_len_max)?);
        }
        Ok::<_, DecodeError>(paths)
    };
    let data_watches = list(reader, "setWatches.dataWatches")?;
    let exist_watches = list(reader, "setWatches.existWatches")?;
    let child_watches = list(reader, "setWatches.childWatches")?;
    let (persistent_watches, persistent_recursive_watches) = if version2 {
        (
            list(reader, "setWatches2.persistentWatches")?,
            list(reader, "setWatches2.persistentRecursiveWatches")?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(SetWatchesRequest {
        relative_zxid,
        data_watches,
        exist_watches,
        child_watches,
        persistent_watches,
        persistent_recursive_watches,
    })
}
