//! Transactions: the committed commands the tree applies, and their results.

use serde::{Deserialize, Serialize};

use crate::{Acl, CreateMode, Id, SessionId, Stat, TreeError, Zxid};

/// One committed transaction. Everything the tree needs to apply it deterministically is inside:
/// its zxid, the leader's commit time, and who asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Must be greater than the zxid of every transaction applied before.
    pub zxid: Zxid,
    /// The leader's clock when it proposed the transaction, in milliseconds since the Unix epoch.
    /// It becomes `ctime`/`mtime` and decides TTL expiry, so replicas never read their own clocks.
    pub time_ms: i64,
    pub kind: TxnKind,
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnKind {
    /// Opens a session whose id is this transaction's zxid. The timeout is clamped to the limits,
    /// as ZooKeeper's server negotiates it; the password is chosen randomly by the proposer.
    OpenSession { timeout_ms: i32, password: [u8; 16] },
    /// Closes or expires a session and deletes its ephemeral nodes in the same step.
    CloseSession {
        session_id: SessionId,
        reason: CloseReason,
    },
    /// One write operation.
    Write { caller: Caller, op: WriteOp },
    /// ZooKeeper's `multi`: all operations succeed together or none takes effect.
    Multi { caller: Caller, ops: Vec<WriteOp> },
    /// Removes a container without children or a TTL node past its TTL, proposed by the leader
    /// after [`crate::DataTree::expired_nodes`]. The condition is checked again at apply time with
    /// this transaction's time, so a node that gained a child or was modified meanwhile stays.
    RemoveExpiredNode { path: String },
    /// Changes nothing but the last applied zxid (Raft's blank and membership entries).
    Noop,
    /// Makes `limits` the cluster's limits from this transaction on, on every replica at the same
    /// zxid (see [`crate::Limits`]). Proposed by a leader whose configured limits differ from the
    /// tree's; limits that do not validate change nothing.
    SetLimits { limits: crate::Limits },
    /// A session's `Write` or `Multi` that takes effect at most once, however often it is
    /// proposed: if the session's record holds `write_id` (see [`crate::SessionWrites`]), the
    /// transaction changes nothing and answers what the first one did. The proposer gives every
    /// write an id of its own and proposes it again under the same id when it cannot tell
    /// whether an earlier proposal committed (Raft thesis §6.3).
    Once { write_id: u64, txn: Box<TxnKind> },
}

impl TxnKind {
    /// The same transaction, to be applied at most once under `write_id`.
    pub fn once(write_id: u64, txn: TxnKind) -> TxnKind {
        debug_assert!(
            matches!(txn, TxnKind::Write { .. } | TxnKind::Multi { .. }),
            "only a session's writes are made idempotent"
        );
        TxnKind::Once {
            write_id,
            txn: Box::new(txn),
        }
    }

    /// True if proposing this transaction again cannot apply it twice.
    pub fn is_once(&self) -> bool {
        matches!(self, TxnKind::Once { .. })
    }
}

/// Why a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// The client closed it.
    Closed,
    /// The leader saw no heartbeat within the timeout.
    Expired,
}

/// Who asks for an operation: the session (for ephemeral ownership) and the identities it has
/// authenticated as (for ACL checks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub session_id: SessionId,
    pub ids: Vec<Id>,
}

impl Caller {
    /// The system itself: no session, administrator rights.
    pub fn system() -> Caller {
        Caller {
            session_id: crate::SYSTEM_SESSION_ID,
            ids: vec![Id::new(Id::SCHEME_SUPER, "polis")],
        }
    }

    /// An unauthenticated caller on `session_id`.
    pub fn anonymous(session_id: SessionId) -> Caller {
        Caller {
            session_id,
            ids: Vec::new(),
        }
    }
}

/// A write operation, alone or inside a multi. A version of -1 matches any version, as in
/// ZooKeeper. Data of `None` is ZooKeeper's null data (length −1 on its wire), which reads back
/// as null, apart from empty data.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "WriteOpEncoding")]
pub enum WriteOp {
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// Succeeds if the node exists and has the version (ZooKeeper's `check`, for multi).
    Check {
        path: String,
        version: i32,
    },
}

/// How a [`WriteOp`] is written into the Raft log. The first five variants are the encoding
/// from before null data was kept, unchanged, so that entries written by an older build stay
/// readable; an operation without data takes one of the variants added at the end (postcard
/// numbers variants by position). An older build refuses an entry with those, rather than
/// apply it with empty data.
#[derive(Deserialize)]
enum WriteOpEncoding {
    Create {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    CreateWithoutData {
        path: String,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    SetDataWithoutData {
        path: String,
        version: i32,
    },
}

/// [`WriteOpEncoding`] borrowing from the operation it writes (the same variants in the same
/// order), so that encoding copies nothing.
#[derive(Serialize)]
enum WriteOpEncodingRef<'op> {
    Create {
        path: &'op String,
        data: &'op Vec<u8>,
        acl: &'op Vec<Acl>,
        mode: &'op CreateMode,
    },
    Delete {
        path: &'op String,
        version: &'op i32,
    },
    SetData {
        path: &'op String,
        data: &'op Vec<u8>,
        version: &'op i32,
    },
    SetAcl {
        path: &'op String,
        acl: &'op Vec<Acl>,
        version: &'op i32,
    },
    Check {
        path: &'op String,
        version: &'op i32,
    },
    CreateWithoutData {
        path: &'op String,
        acl: &'op Vec<Acl>,
        mode: &'op CreateMode,
    },
    SetDataWithoutData {
        path: &'op String,
        version: &'op i32,
    },
}

impl From<WriteOpEncoding> for WriteOp {
    fn from(encoding: WriteOpEncoding) -> WriteOp {
        match encoding {
            WriteOpEncoding::Create {
                path,
                data,
                acl,
                mode,
            } => WriteOp::Create {
                path,
                data: Some(data),
                acl,
                mode,
            },
            WriteOpEncoding::CreateWithoutData { path, acl, mode } => WriteOp::Create {
                path,
                data: None,
                acl,
                mode,
            },
            WriteOpEncoding::Delete { path, version } => WriteOp::Delete { path, version },
            WriteOpEncoding::SetData {
                path,
                data,
                version,
            } => WriteOp::SetData {
                path,
                data: Some(data),
                version,
            },
            WriteOpEncoding::SetDataWithoutData { path, version } => WriteOp::SetData {
                path,
                data: None,
                version,
            },
            WriteOpEncoding::SetAcl { path, acl, version } => {
                WriteOp::SetAcl { path, acl, version }
            }
            WriteOpEncoding::Check { path, version } => WriteOp::Check { path, version },
        }
    }
}

impl Serialize for WriteOp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoding = match self {
            WriteOp::Create {
                path,
                data: Some(data),
                acl,
                mode,
            } => WriteOpEncodingRef::Create {
                path,
                data,
                acl,
                mode,
            },
            WriteOp::Create {
                path,
                data: None,
                acl,
                mode,
            } => WriteOpEncodingRef::CreateWithoutData { path, acl, mode },
            WriteOp::Delete { path, version } => WriteOpEncodingRef::Delete { path, version },
            WriteOp::SetData {
                path,
                data: Some(data),
                version,
            } => WriteOpEncodingRef::SetData {
                path,
                data,
                version,
            },
            WriteOp::SetData {
                path,
                data: None,
                version,
            } => WriteOpEncodingRef::SetDataWithoutData { path, version },
            WriteOp::SetAcl { path, acl, version } => {
                WriteOpEncodingRef::SetAcl { path, acl, version }
            }
            WriteOp::Check { path, version } => WriteOpEncodingRef::Check { path, version },
        };
        encoding.serialize(serializer)
    }
}

impl WriteOp {
    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::Delete { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::SetAcl { path, .. }
            | WriteOp::Check { path, .. } => path,
        }
    }
}

/// The result of a successful transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// The created node's actual path (with the sequence suffix) and stat.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    Checked,
    /// One result per operation of a successful multi.
    Multi(Vec<OpResult>),
    SessionOpened {
        session_id: SessionId,
        timeout_ms: i32,
    },
    /// The paths of the ephemerals deleted with the session.
    SessionClosed {
        ephemerals_deleted: Vec<String>,
    },
    NodeRemoved,
    Noop,
    LimitsSet,
}

/// The result of a transaction. A failed multi reports which operation failed in
/// [`TreeError::MultiFailed`]; [`MultiOpResult::for_failure`] turns that into ZooKeeper's per-op
/// results.
pub type TxnResult = Result<OpResult, TreeError>;

/// One operation's outcome in a multi, as ZooKeeper reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOpResult {
    Ok(OpResult),
    /// Would have succeeded, but an operation failed so it was rolled back (ZooKeeper reports
    /// error code 0, kazoo's `RolledBackError`).
    RolledBack,
    /// The operation that failed.
    Failed(TreeError),
    /// After the failing operation; never attempted (ZooKeeper's `RuntimeInconsistency`).
    NotAttempted,
}

impl MultiOpResult {
    /// ZooKeeper's per-op results for a multi of `ops_len` operations whose operation `index`
    /// failed with `error`.
    pub fn for_failure(ops_len: usize, index: usize, error: &TreeError) -> Vec<MultiOpResult> {
        (0..ops_len)
            .map(|position| match position.cmp(&index) {
                std::cmp::Ordering::Less => MultiOpResult::RolledBack,
                std::cmp::Ordering::Equal => MultiOpResult::Failed(error.clone()),
                std::cmp::Ordering::Greater => MultiOpResult::NotAttempted,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `WriteOp` as the build before null data wrote it into the Raft log.
    #[derive(Serialize)]
    enum WriteOpBeforeNullData {
        Create {
            path: String,
            data: Vec<u8>,
            acl: Vec<Acl>,
            mode: CreateMode,
        },
        #[allow(dead_code)]
        Delete { path: String, version: i32 },
        SetData {
            path: String,
            data: Vec<u8>,
            version: i32,
        },
    }

    /// Log entries written by an older build read back as the same operations, and an
    /// operation with data is written exactly as that build wrote it.
    #[test]
    fn operations_with_data_keep_the_encoding_of_the_build_before_null_data() {
        let acl = Acl::open().to_vec();
        let pairs = [
            (
                WriteOpBeforeNullData::Create {
                    path: "/a".to_string(),
                    data: b"x".to_vec(),
                    acl: acl.clone(),
                    mode: CreateMode::Ephemeral,
                },
                WriteOp::Create {
                    path: "/a".to_string(),
                    data: Some(b"x".to_vec()),
                    acl: acl.clone(),
                    mode: CreateMode::Ephemeral,
                },
            ),
            (
                WriteOpBeforeNullData::SetData {
                    path: "/a".to_string(),
                    data: Vec::new(),
                    version: 3,
                },
                WriteOp::SetData {
                    path: "/a".to_string(),
                    data: Some(Vec::new()),
                    version: 3,
                },
            ),
        ];
        for (old, new) in pairs {
            let old_bytes = postcard::to_allocvec(&old).unwrap();
            assert_eq!(postcard::to_allocvec(&new).unwrap(), old_bytes);
            assert_eq!(postcard::from_bytes::<WriteOp>(&old_bytes).unwrap(), new);
        }
    }

    #[test]
    fn operations_without_data_round_trip_as_null() {
        for op in [
            WriteOp::Create {
                path: "/n".to_string(),
                data: None,
                acl: Vec::new(),
                mode: CreateMode::PersistentWithTtl { ttl_ms: 9 },
            },
            WriteOp::SetData {
                path: "/n".to_string(),
                data: None,
                version: -1,
            },
        ] {
            let bytes = postcard::to_allocvec(&op).unwrap();
            assert_eq!(postcard::from_bytes::<WriteOp>(&bytes).unwrap(), op);
        }
    }
}
