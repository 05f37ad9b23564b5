//! A property test: random transactions applied to the `DataTree` and to a small reference model
//! written here from ZooKeeper's rules, compared after every step.
//!
//! The model keeps nodes in a `BTreeMap<String, ModelNode>` and computes children, owners and
//! expiry by brute force; a failed multi is rolled back by restoring a clone. After each step the
//! test compares the result (value or error), the events, the stat, data, ACL and children of every
//! node, the sessions, the expired-node candidates, the history window and resume, and the change
//! set. The events are also fed through a `WatchRegistry` holding random watches, and the notified
//! sessions are compared with the model's own reading of the trigger rules.
//!
//! A failure prints the shrunk steps and is persisted in `proptest-regressions/model.txt` (crate
//! root; commit it), whose seeds are replayed first on every run. `PROPTEST_CASES=N` runs more
//! cases than the default 256; `PROPTEST_RNG_SEED=N` makes a run's case generation repeatable.

use std::collections::{BTreeMap, BTreeSet};

use polis_tree::{
    Acl, Caller, CloseReason, CreateMode, DataTree, ErrorCode, EventKind, Id, Limits, NodeRecord,
    OpResult, Perms, SessionId, Stat, TreeError, Txn, TxnKind, WatchEvent, WatchKind,
    WatchRegistry, WriteOp, Zxid,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

// ------------------------------------------------------------------------------------------------
// Limits: small, so that every bound is reached often. A few vary between cases, since tighter
// bounds are hit more often but hide what looser ones allow (several ephemerals per session, a
// history window holding several transactions).

const WATCHES_PER_SESSION_MAX: usize = 3;
const TTL_MAX_MS: i64 = 3_000;

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (
        prop::sample::select(vec![1usize, 3]),
        prop::sample::select(vec![3usize, 4]),
        prop::sample::select(vec![7usize, 10]),
        prop::sample::select(vec![4usize, 12]),
    )
        .prop_map(
            |(ephemerals_per_session_max, children_max, nodes_max, history_events_max)| Limits {
                data_len_max: 4,
                path_len_max: 20,
                children_max,
                nodes_max,
                multi_ops_max: 3,
                acl_entries_max: 2,
                acl_id_len_max: 64,
                watches_per_session_max: WATCHES_PER_SESSION_MAX,
                sessions_max: 2,
                ephemerals_per_session_max,
                history_events_max,
                session_timeout_min_ms: 1_000,
                session_timeout_max_ms: 5_000,
                ttl_max_ms: TTL_MAX_MS,
            },
        )
}

// ------------------------------------------------------------------------------------------------
// Generated steps. Paths, sessions and versions are picked abstractly and resolved against the
// model's state when the step runs, so that steps often hit existing nodes and open sessions.

/// Paths of the small alphabet, so that operations collide often; some are sequential prefixes.
const COMMON_PATHS: &[&str] = &[
    "/a", "/b", "/a/b", "/a/c", "/b/a", "/a/b/c", "/a/", "/s-", "/a/s-",
];

/// Rarer paths: the root, the system node, invalid ones, one longer than `path_len_max`.
const ODD_PATHS: &[&str] = &[
    "/",
    "/polis",
    "/polis/x",
    "/abcdefghijklmnopqrstu",
    "a",
    "/a//b",
    "/a/.",
    "/b/",
];

/// Names appended to existing nodes, to grow deeper trees.
const CHILD_NAMES: &[&str] = &["x", "y", "q-"];

#[derive(Clone, Debug)]
enum PathPick {
    Fixed(&'static str),
    /// The n-th existing node (modulo their number), in path order.
    Existing(usize),
    /// A child of the n-th existing node.
    Child(usize, &'static str),
    /// The n-th node that has expired (a container or TTL node the leader would remove), or an
    /// existing node if none has.
    Expired(usize),
}

#[derive(Clone, Copy, Debug)]
enum SessionPick {
    System,
    /// The n-th open session (modulo their number), or the system if none is open.
    Open(usize),
    /// The n-th session ever opened, open or not.
    Known(usize),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
enum WhoPick {
    Anonymous,
    Alice,
    AliceAndX509,
    Super,
}

#[derive(Clone, Copy, Debug)]
enum VersionPick {
    Any,
    Current,
    Wrong(i32),
    Fixed(i32),
}

#[derive(Clone, Copy, Debug)]
enum AclPick {
    Open,
    ReadOnly,
    AliceAll,
    Auth,
    NoDelete,
    NoCreateButAlice,
    NoAdmin,
    NoRead,
    Empty,
    BadWorld,
    Duplicates,
    TooMany,
}

#[derive(Clone, Copy, Debug)]
enum ModePick {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    Ttl(i64),
    SequentialTtl(i64),
}

#[derive(Clone, Debug)]
enum OpSpec {
    Create {
        path: PathPick,
        data_len: usize,
        acl: AclPick,
        mode: ModePick,
    },
    Delete {
        path: PathPick,
        version: VersionPick,
    },
    SetData {
        path: PathPick,
        data_len: usize,
        version: VersionPick,
    },
    SetAcl {
        path: PathPick,
        acl: AclPick,
        version: VersionPick,
    },
    Check {
        path: PathPick,
        version: VersionPick,
    },
}

#[derive(Clone, Debug)]
enum StepSpec {
    Open {
        timeout_ms: i32,
    },
    Close {
        session: SessionPick,
        expired: bool,
    },
    Write {
        session: SessionPick,
        who: WhoPick,
        op: OpSpec,
    },
    Multi {
        session: SessionPick,
        who: WhoPick,
        ops: Vec<OpSpec>,
    },
    RemoveExpired {
        path: PathPick,
    },
    /// A write or multi (`inner`) applied at most once under `write_id`; the small id range
    /// makes the same id come back, as a retried proposal does.
    Once {
        write_id: u64,
        inner: Box<StepSpec>,
    },
    Noop,
    /// A transaction whose zxid is not above the last applied one.
    StaleZxid {
        back: i64,
    },
    AddWatch {
        session: SessionId,
        path: PathPick,
        kind: WatchKind,
    },
    RemoveWatch {
        session: SessionId,
        path: PathPick,
        kind: WatchKind,
    },
    DropWatches {
        session: SessionId,
    },
}

#[derive(Clone, Debug)]
struct Step {
    spec: StepSpec,
    /// How far the clock moves before this step.
    advance_ms: i64,
    /// How far the zxid moves (Raft indexes may skip).
    zxid_gap: i64,
}

/// A path for an operation on an existing node: mostly one that exists.
fn path_pick() -> impl Strategy<Value = PathPick> {
    prop_oneof![
        6 => (0usize..64).prop_map(PathPick::Existing),
        1 => (0usize..64, prop::sample::select(CHILD_NAMES))
            .prop_map(|(index, name)| PathPick::Child(index, name)),
        2 => prop::sample::select(COMMON_PATHS).prop_map(PathPick::Fixed),
        1 => prop::sample::select(ODD_PATHS).prop_map(PathPick::Fixed),
    ]
}

/// A path for a create: mostly a new one.
fn new_path_pick() -> impl Strategy<Value = PathPick> {
    prop_oneof![
        1 => (0usize..64).prop_map(PathPick::Existing),
        3 => (0usize..64, prop::sample::select(CHILD_NAMES))
            .prop_map(|(index, name)| PathPick::Child(index, name)),
        3 => prop::sample::select(COMMON_PATHS).prop_map(PathPick::Fixed),
        1 => prop::sample::select(ODD_PATHS).prop_map(PathPick::Fixed),
    ]
}

fn session_pick() -> impl Strategy<Value = SessionPick> {
    prop_oneof![
        4 => Just(SessionPick::System),
        20 => (0usize..8).prop_map(SessionPick::Open),
        2 => (0usize..8).prop_map(SessionPick::Known),
        1 => Just(SessionPick::Unknown),
    ]
}

fn who_pick() -> impl Strategy<Value = WhoPick> {
    prop_oneof![
        4 => Just(WhoPick::Anonymous),
        2 => Just(WhoPick::Alice),
        1 => Just(WhoPick::AliceAndX509),
        1 => Just(WhoPick::Super),
    ]
}

fn version_pick() -> impl Strategy<Value = VersionPick> {
    prop_oneof![
        3 => Just(VersionPick::Any),
        3 => Just(VersionPick::Current),
        1 => (1i32..=3).prop_map(VersionPick::Wrong),
        1 => (0i32..=2).prop_map(VersionPick::Fixed),
    ]
}

fn acl_pick() -> impl Strategy<Value = AclPick> {
    prop_oneof![
        16 => Just(AclPick::Open),
        1 => Just(AclPick::ReadOnly),
        2 => Just(AclPick::AliceAll),
        1 => Just(AclPick::Auth),
        1 => Just(AclPick::NoDelete),
        1 => Just(AclPick::NoCreateButAlice),
        1 => Just(AclPick::NoAdmin),
        2 => Just(AclPick::NoRead),
        1 => Just(AclPick::Empty),
        1 => Just(AclPick::BadWorld),
        1 => Just(AclPick::Duplicates),
        1 => Just(AclPick::TooMany),
    ]
}

/// TTLs and clock steps share a 500 ms grid, so that "exactly the TTL has passed" happens.
fn ttl() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(1i64),
        2 => Just(1_000),
        2 => Just(1_500),
        1 => Just(0),
        1 => Just(TTL_MAX_MS + 1),
    ]
}

fn mode_pick() -> impl Strategy<Value = ModePick> {
    prop_oneof![
        4 => Just(ModePick::Persistent),
        3 => Just(ModePick::Ephemeral),
        2 => Just(ModePick::PersistentSequential),
        2 => Just(ModePick::EphemeralSequential),
        2 => Just(ModePick::Container),
        2 => ttl().prop_map(ModePick::Ttl),
        1 => ttl().prop_map(ModePick::SequentialTtl),
    ]
}

/// An operation's data: null for one byte value in five, so that null data and empty data (a
/// length of 0) both occur and must stay apart.
fn node_data(byte: u8, len: usize) -> Option<Vec<u8>> {
    (!byte.is_multiple_of(5)).then(|| vec![byte; len])
}

fn data_len() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..=3, 1 => 4usize..=6]
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        10 => (new_path_pick(), data_len(), acl_pick(), mode_pick()).prop_map(
            |(path, data_len, acl, mode)| OpSpec::Create {
                path,
                data_len,
                acl,
                mode
            }
        ),
        3 => (path_pick(), version_pick())
            .prop_map(|(path, version)| OpSpec::Delete { path, version }),
        3 => (path_pick(), data_len(), version_pick()).prop_map(|(path, data_len, version)| {
            OpSpec::SetData {
                path,
                data_len,
                version,
            }
        }),
        1 => (path_pick(), acl_pick(), version_pick())
            .prop_map(|(path, acl, version)| OpSpec::SetAcl { path, acl, version }),
        2 => (path_pick(), version_pick())
            .prop_map(|(path, version)| OpSpec::Check { path, version }),
    ]
}

fn watch_kind() -> impl Strategy<Value = WatchKind> {
    prop::sample::select(vec![
        WatchKind::Data,
        WatchKind::Children,
        WatchKind::Persistent,
        WatchKind::PersistentRecursive,
    ])
}

/// A write or a multi of one session.
fn session_write_spec() -> impl Strategy<Value = StepSpec> {
    prop_oneof![
        3 => (session_pick(), who_pick(), op_spec())
            .prop_map(|(session, who, op)| StepSpec::Write { session, who, op }),
        1 => (session_pick(), who_pick(), prop::collection::vec(op_spec(), 1..=3))
            .prop_map(|(session, who, ops)| StepSpec::Multi { session, who, ops }),
    ]
}

fn step_spec() -> impl Strategy<Value = StepSpec> {
    prop_oneof![
        4 => (0u64..3, session_write_spec()).prop_map(|(write_id, inner)| StepSpec::Once {
            write_id,
            inner: Box::new(inner),
        }),
        3 => (-500i32..7_000).prop_map(|timeout_ms| StepSpec::Open { timeout_ms }),
        1 => (
            prop_oneof![4 => (0usize..8).prop_map(SessionPick::Open), 1 => session_pick()],
            any::<bool>()
        )
            .prop_map(|(session, expired)| StepSpec::Close { session, expired }),
        14 => (session_pick(), who_pick(), op_spec())
            .prop_map(|(session, who, op)| StepSpec::Write { session, who, op }),
        4 => (
            session_pick(),
            who_pick(),
            prop_oneof![
                6 => prop::collection::vec(op_spec(), 1..=3),
                1 => prop::collection::vec(op_spec(), 0..=4),
            ]
        )
            .prop_map(|(session, who, ops)| StepSpec::Multi { session, who, ops }),
        2 => prop_oneof![
            3 => (0usize..8).prop_map(PathPick::Expired),
            1 => path_pick(),
        ]
        .prop_map(|path| StepSpec::RemoveExpired { path }),
        1 => Just(StepSpec::Noop),
        1 => (0i64..=2).prop_map(|back| StepSpec::StaleZxid { back }),
        4 => (1i64..=4, path_pick(), watch_kind())
            .prop_map(|(session, path, kind)| StepSpec::AddWatch { session, path, kind }),
        1 => (1i64..=4, path_pick(), watch_kind())
            .prop_map(|(session, path, kind)| StepSpec::RemoveWatch { session, path, kind }),
        1 => (1i64..=4).prop_map(|session| StepSpec::DropWatches { session }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        step_spec(),
        prop_oneof![
            3 => prop::sample::select(vec![0i64, 500, 1_000, 1_500]),
            1 => prop::sample::select(vec![2_500i64, 4_000]),
            1 => 0i64..=2_000,
        ],
        prop_oneof![4 => Just(1i64), 1 => Just(2i64)],
    )
        .prop_map(|(spec, advance_ms, zxid_gap)| Step {
            spec,
            advance_ms,
            zxid_gap,
        })
}

// ------------------------------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelKind {
    Persistent,
    Ephemeral(SessionId),
    Container,
    Ttl(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelNode {
    /// `None` is ZooKeeper's null data.
    data: Option<Vec<u8>>,
    acl: Vec<Acl>,
    kind: ModelKind,
    czxid: Zxid,
    mzxid: Zxid,
    pzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
}

impl ModelNode {
    fn genesis(acl: Vec<Acl>) -> ModelNode {
        ModelNode {
            data: Some(Vec::new()),
            acl,
            kind: ModelKind::Persistent,
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

    /// ZooKeeper's `ephemeralOwner` encodings, written out by hand.
    fn ephemeral_owner(&self) -> i64 {
        match self.kind {
            ModelKind::Persistent => 0,
            ModelKind::Ephemeral(owner) => owner,
            ModelKind::Container => i64::MIN,
            ModelKind::Ttl(ttl_ms) => (0xFF_i64 << 56) | ttl_ms,
        }
    }
}

/// How a model operation failed: the `TreeError` variant, without messages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fail {
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    NoChildrenForEphemerals,
    InvalidPath,
    BadArguments,
    InvalidAcl,
    NoAuth,
    SessionExpired,
    Limit(&'static str),
    NotExpired,
    ZxidOutOfOrder,
    AppliedBefore,
    Multi(usize, Box<Fail>),
}

impl Fail {
    /// ZooKeeper's code for each failure, as the model understands it.
    fn code(&self) -> ErrorCode {
        match self {
            Fail::NoNode => ErrorCode::NoNode,
            Fail::NodeExists => ErrorCode::NodeExists,
            Fail::BadVersion => ErrorCode::BadVersion,
            Fail::NotEmpty => ErrorCode::NotEmpty,
            Fail::NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
            Fail::InvalidPath | Fail::BadArguments | Fail::Limit(_) | Fail::NotExpired => {
                ErrorCode::BadArguments
            }
            Fail::InvalidAcl => ErrorCode::InvalidAcl,
            Fail::NoAuth => ErrorCode::NoAuth,
            Fail::SessionExpired => ErrorCode::SessionExpired,
            Fail::ZxidOutOfOrder => ErrorCode::RuntimeInconsistency,
            Fail::AppliedBefore => ErrorCode::ConnectionLoss,
            Fail::Multi(_, inner) => inner.code(),
        }
    }

    fn of(error: &TreeError) -> Fail {
        match error {
            TreeError::NoNode { .. } => Fail::NoNode,
            TreeError::NodeExists { .. } => Fail::NodeExists,
            TreeError::BadVersion { .. } => Fail::BadVersion,
            TreeError::NotEmpty { .. } => Fail::NotEmpty,
            TreeError::NoChildrenForEphemerals { .. } => Fail::NoChildrenForEphemerals,
            TreeError::InvalidPath { .. } => Fail::InvalidPath,
            TreeError::BadArguments { .. } => Fail::BadArguments,
            TreeError::InvalidAcl { .. } => Fail::InvalidAcl,
            TreeError::NoAuth { .. } => Fail::NoAuth,
            TreeError::SessionExpired { .. } => Fail::SessionExpired,
            TreeError::LimitExceeded { limit, .. } => Fail::Limit(limit),
            TreeError::NotExpired { .. } => Fail::NotExpired,
            TreeError::ZxidOutOfOrder { .. } => Fail::ZxidOutOfOrder,
            TreeError::AppliedBefore { .. } => Fail::AppliedBefore,
            TreeError::MultiFailed { index, error } => {
                Fail::Multi(*index, Box::new(Fail::of(error)))
            }
            other => panic!("the tree cannot fail a transaction with {other:?}"),
        }
    }
}

#[derive(Clone, Debug)]
struct ModelSession {
    timeout_ms: i32,
    password: [u8; 16],
}

/// What a model transaction did.
#[derive(Debug, Default)]
struct Effects {
    events: Vec<WatchEvent>,
    touched_nodes: BTreeSet<String>,
    touched_sessions: BTreeSet<SessionId>,
}

#[derive(Clone, Debug)]
struct Model {
    limits: Limits,
    nodes: BTreeMap<String, ModelNode>,
    sessions: BTreeMap<SessionId, ModelSession>,
    /// Every session ever opened, in order, for picking.
    opened: Vec<SessionId>,
    last_zxid: Zxid,
    /// Every event ever fired, oldest first; its index is the history sequence number.
    all_events: Vec<WatchEvent>,
    /// The clock of the step being generated, for picking expired nodes.
    now_ms: i64,
    /// Each session's last writes applied once: (write id, zxid, result if small), oldest first.
    once_writes: BTreeMap<SessionId, Vec<(u64, Zxid, Option<OpResult>)>>,
}

/// The parent of a path: everything before the last slash, or the root. The root is its own
/// parent, which is what ZooKeeper's create of "/" amounts to.
fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(index) => &path[..index],
    }
}

/// ZooKeeper's path rules, for the model's ASCII alphabet.
fn valid_path(path: &str, max: usize) -> bool {
    if path.is_empty() || path.len() > max || !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    !path.ends_with('/')
        && path[1..]
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

fn anyone() -> Id {
    Id::new("world", "anyone")
}

fn alice() -> Id {
    Id::new("digest", "alice:aGFzaA==")
}

fn bob() -> Id {
    Id::new("digest", "bob:aGFzaA==")
}

fn x509() -> Id {
    Id::new("x509", "CN=traffic,O=City")
}

fn super_id() -> Id {
    Id::new("super", "admin")
}

fn without(perm: Perms) -> Perms {
    Perms(Perms::ALL.0 & !perm.0)
}

fn acl_of(pick: AclPick) -> Vec<Acl> {
    match pick {
        AclPick::Open => vec![Acl::new(Perms::ALL, anyone())],
        AclPick::ReadOnly => vec![Acl::new(Perms::READ, anyone())],
        AclPick::AliceAll => vec![Acl::new(Perms::ALL, alice())],
        AclPick::Auth => vec![
            Acl::new(Perms::ALL, Id::new("auth", "")),
            Acl::new(Perms::READ, anyone()),
        ],
        AclPick::NoDelete => vec![Acl::new(without(Perms::DELETE), anyone())],
        AclPick::NoCreateButAlice => vec![
            Acl::new(without(Perms::CREATE), anyone()),
            Acl::new(Perms::ALL, alice()),
        ],
        AclPick::NoAdmin => vec![Acl::new(without(Perms::ADMIN), anyone())],
        AclPick::NoRead => vec![
            Acl::new(without(Perms::READ), anyone()),
            Acl::new(Perms::READ, alice()),
        ],
        AclPick::Empty => vec![],
        AclPick::BadWorld => vec![Acl::new(Perms::ALL, Id::new("world", "bob"))],
        AclPick::Duplicates => vec![
            Acl::new(Perms::READ, anyone()),
            Acl::new(Perms::ALL, alice()),
            Acl::new(Perms::READ, anyone()),
            Acl::new(Perms::ALL, alice()),
        ],
        AclPick::TooMany => vec![
            Acl::new(Perms::READ, anyone()),
            Acl::new(Perms::ALL, alice()),
            Acl::new(Perms::ALL, bob()),
        ],
    }
}

fn ids_of(who: WhoPick) -> Vec<Id> {
    match who {
        WhoPick::Anonymous => vec![],
        WhoPick::Alice => vec![alice()],
        WhoPick::AliceAndX509 => vec![alice(), x509()],
        WhoPick::Super => vec![super_id()],
    }
}

fn is_super(ids: &[Id]) -> bool {
    ids.iter().any(|id| id.scheme == "super")
}

/// ZooKeeper's ACL check.
fn allows(acl: &[Acl], perm: Perms, ids: &[Id]) -> bool {
    is_super(ids)
        || acl.iter().any(|entry| {
            entry.perms.0 & perm.0 == perm.0 && (entry.id == anyone() || ids.contains(&entry.id))
        })
}

/// The version after `version`: +1, wrapping, never -1 (ZOOKEEPER-4743).
fn bump(version: i32) -> i32 {
    let next = if version == i32::MAX {
        i32::MIN
    } else {
        version + 1
    };
    if next == -1 { 0 } else { next }
}

fn fires(kind: WatchKind, watch_path: &str, event: &WatchEvent) -> bool {
    let same = event.path == watch_path;
    let below = watch_path == "/" || same || event.path.starts_with(&format!("{watch_path}/"));
    let children_changed = event.kind == EventKind::NodeChildrenChanged;
    match kind {
        WatchKind::Data => same && !children_changed,
        WatchKind::Children => same && (children_changed || event.kind == EventKind::NodeDeleted),
        WatchKind::Persistent => same,
        WatchKind::PersistentRecursive => below && !children_changed,
    }
}

impl Model {
    fn new(limits: Limits) -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            ModelNode::genesis(vec![Acl::new(
                Perms(Perms::ALL.0 & !Perms::ADMIN.0),
                anyone(),
            )]),
        );
        nodes.insert(
            "/polis".to_string(),
            // Administrators only: they pass every ACL, and the entry grants nobody else.
            ModelNode::genesis(vec![Acl::new(
                Perms::ALL,
                Id::new(Id::SCHEME_SUPER, Acl::ADMINISTRATORS),
            )]),
        );
        Model {
            limits,
            nodes,
            sessions: BTreeMap::new(),
            opened: Vec::new(),
            last_zxid: 0,
            all_events: Vec::new(),
            now_ms: 0,
            once_writes: BTreeMap::new(),
        }
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|candidate| candidate.as_str() != "/" && parent_of(candidate) == path)
            .map(|candidate| candidate.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    fn owned_by(&self, session_id: SessionId) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.kind == ModelKind::Ephemeral(session_id))
            .map(|(path, _)| path.clone())
            .collect()
    }

    fn stat(&self, path: &str) -> Stat {
        let node = &self.nodes[path];
        Stat {
            czxid: node.czxid,
            mzxid: node.mzxid,
            ctime: node.ctime,
            mtime: node.mtime,
            version: node.version,
            cversion: node.cversion,
            aversion: node.aversion,
            ephemeral_owner: node.ephemeral_owner(),
            data_length: node.data.as_ref().map_or(0, Vec::len) as i32,
            num_children: self.children(path).len() as i32,
            pzxid: node.pzxid,
        }
    }

    fn expired(&self, path: &str, now_ms: i64) -> bool {
        let node = &self.nodes[path];
        self.children(path).is_empty()
            && match node.kind {
                ModelKind::Container => node.cversion > 0,
                ModelKind::Ttl(ttl_ms) => now_ms - node.mtime > ttl_ms,
                _ => false,
            }
    }

    // ---- resolving picks ----

    fn path(&self, pick: &PathPick) -> String {
        let existing = |index: usize| {
            let paths: Vec<&String> = self.nodes.keys().collect();
            paths[index % paths.len()].clone()
        };
        match pick {
            PathPick::Fixed(path) => path.to_string(),
            PathPick::Existing(index) => existing(*index),
            PathPick::Child(index, name) => match existing(*index).as_str() {
                "/" => format!("/{name}"),
                parent => format!("{parent}/{name}"),
            },
            PathPick::Expired(index) => {
                let expired: Vec<&String> = self
                    .nodes
                    .keys()
                    .filter(|path| self.expired(path, self.now_ms))
                    .collect();
                if expired.is_empty() {
                    existing(*index)
                } else {
                    expired[index % expired.len()].clone()
                }
            }
        }
    }

    fn session(&self, pick: SessionPick) -> SessionId {
        let open: Vec<SessionId> = self.sessions.keys().copied().collect();
        match pick {
            SessionPick::System => 0,
            SessionPick::Open(index) if !open.is_empty() => open[index % open.len()],
            SessionPick::Open(_) => 0,
            SessionPick::Known(index) if !self.opened.is_empty() => {
                self.opened[index % self.opened.len()]
            }
            SessionPick::Known(_) | SessionPick::Unknown => 1_000_000,
        }
    }

    fn version(&self, path: &str, pick: VersionPick, of_acl: bool) -> i32 {
        let current = self
            .nodes
            .get(path)
            .map_or(0, |node| if of_acl { node.aversion } else { node.version });
        match pick {
            VersionPick::Any => -1,
            VersionPick::Current => current,
            VersionPick::Wrong(offset) => current + offset,
            VersionPick::Fixed(version) => version,
        }
    }

    fn op(&self, spec: &OpSpec, byte: u8) -> WriteOp {
        match spec {
            OpSpec::Create {
                path,
                data_len,
                acl,
                mode,
            } => WriteOp::Create {
                path: self.path(path),
                data: node_data(byte, *data_len),
                acl: acl_of(*acl),
                mode: match *mode {
                    ModePick::Persistent => CreateMode::Persistent,
                    ModePick::Ephemeral => CreateMode::Ephemeral,
                    ModePick::PersistentSequential => CreateMode::PersistentSequential,
                    ModePick::EphemeralSequential => CreateMode::EphemeralSequential,
                    ModePick::Container => CreateMode::Container,
                    ModePick::Ttl(ttl_ms) => CreateMode::PersistentWithTtl { ttl_ms },
                    ModePick::SequentialTtl(ttl_ms) => {
                        CreateMode::PersistentSequentialWithTtl { ttl_ms }
                    }
                },
            },
            OpSpec::Delete { path, version } => {
                let path = self.path(path);
                let version = self.version(&path, *version, false);
                WriteOp::Delete { path, version }
            }
            OpSpec::SetData {
                path,
                data_len,
                version,
            } => {
                let path = self.path(path);
                let version = self.version(&path, *version, false);
                WriteOp::SetData {
                    path,
                    data: node_data(byte, *data_len),
                    version,
                }
            }
            OpSpec::SetAcl { path, acl, version } => {
                let path = self.path(path);
                let version = self.version(&path, *version, true);
                WriteOp::SetAcl {
                    path,
                    acl: acl_of(*acl),
                    version,
                }
            }
            OpSpec::Check { path, version } => {
                let path = self.path(path);
                let version = self.version(&path, *version, false);
                WriteOp::Check { path, version }
            }
        }
    }

    // ---- applying ----

    fn apply(&mut self, txn: &Txn) -> (Result<OpResult, Fail>, Effects) {
        let mut effects = Effects::default();
        if txn.zxid <= self.last_zxid {
            return (Err(Fail::ZxidOutOfOrder), effects);
        }
        let result = self.apply_kind(txn.zxid, txn.time_ms, &txn.kind, &mut effects);
        self.last_zxid = txn.zxid;
        if result.is_err() {
            effects = Effects::default();
        }
        self.all_events.extend(effects.events.iter().cloned());
        (result, effects)
    }

    fn apply_kind(
        &mut self,
        zxid: Zxid,
        now: i64,
        kind: &TxnKind,
        effects: &mut Effects,
    ) -> Result<OpResult, Fail> {
        match kind {
            TxnKind::OpenSession {
                timeout_ms,
                password,
            } => self.open(zxid, *timeout_ms, *password, effects),
            TxnKind::CloseSession { session_id, .. } => self.close(zxid, *session_id, effects),
            TxnKind::Write { caller, op } => self.write(zxid, now, caller, op, effects),
            TxnKind::Multi { caller, ops } => {
                if ops.len() > self.limits.multi_ops_max {
                    Err(Fail::Limit("multi_ops_max"))
                } else {
                    let saved = self.nodes.clone();
                    let mut results = Vec::new();
                    let mut failure = None;
                    for (index, op) in ops.iter().enumerate() {
                        match self.write(zxid, now, caller, op, effects) {
                            Ok(result) => results.push(result),
                            Err(fail) => {
                                failure = Some(Fail::Multi(index, Box::new(fail)));
                                break;
                            }
                        }
                    }
                    match failure {
                        Some(fail) => {
                            self.nodes = saved;
                            Err(fail)
                        }
                        None => Ok(OpResult::Multi(results)),
                    }
                }
            }
            TxnKind::RemoveExpiredNode { path } => {
                if !self.nodes.contains_key(path) {
                    Err(Fail::NoNode)
                } else if !self.children(path).is_empty() {
                    Err(Fail::NotEmpty)
                } else if !self.expired(path, now) {
                    Err(Fail::NotExpired)
                } else {
                    self.remove(zxid, path, effects);
                    Ok(OpResult::NodeRemoved)
                }
            }
            TxnKind::Noop => Ok(OpResult::Noop),
            // The model's workloads keep one set of limits; changing them is tested directly.
            TxnKind::SetLimits { .. } => panic!("the model does not change its limits"),
            TxnKind::Once { write_id, txn } => self.apply_once(zxid, now, *write_id, txn, effects),
        }
    }

    /// The Raft thesis's client-session rule, as plainly as it can be said: a write id the
    /// session's last four writes that took effect carry is answered from the record.
    fn apply_once(
        &mut self,
        zxid: Zxid,
        now: i64,
        write_id: u64,
        txn: &TxnKind,
        effects: &mut Effects,
    ) -> Result<OpResult, Fail> {
        let (TxnKind::Write { caller, .. } | TxnKind::Multi { caller, .. }) = txn else {
            return Err(Fail::BadArguments);
        };
        let session_id = caller.session_id;
        let recorded = self.once_writes.get(&session_id).and_then(|writes| {
            writes
                .iter()
                .find(|(id, _, _)| *id == write_id)
                .map(|(_, zxid, result)| (*zxid, result.clone()))
        });
        if let Some((_, result)) = recorded {
            return result.ok_or(Fail::AppliedBefore);
        }
        let result = self.apply_kind(zxid, now, txn, effects);
        if let Ok(result) = &result
            && self.sessions.contains_key(&session_id)
        {
            let small = postcard::to_allocvec(result).is_ok_and(|bytes| bytes.len() <= 1024);
            let writes = self.once_writes.entry(session_id).or_default();
            if writes.len() == 4 {
                writes.remove(0);
            }
            writes.push((write_id, zxid, small.then(|| result.clone())));
        }
        result
    }

    fn open(
        &mut self,
        zxid: Zxid,
        timeout_ms: i32,
        password: [u8; 16],
        effects: &mut Effects,
    ) -> Result<OpResult, Fail> {
        if self.sessions.len() >= self.limits.sessions_max {
            return Err(Fail::Limit("sessions_max"));
        }
        let timeout_ms = timeout_ms
            .max(self.limits.session_timeout_min_ms)
            .min(self.limits.session_timeout_max_ms);
        self.sessions.insert(
            zxid,
            ModelSession {
                timeout_ms,
                password,
            },
        );
        self.opened.push(zxid);
        effects.touched_sessions.insert(zxid);
        Ok(OpResult::SessionOpened {
            session_id: zxid,
            timeout_ms,
        })
    }

    fn close(
        &mut self,
        zxid: Zxid,
        session_id: SessionId,
        effects: &mut Effects,
    ) -> Result<OpResult, Fail> {
        if !self.sessions.contains_key(&session_id) {
            return Err(Fail::SessionExpired);
        }
        let owned = self.owned_by(session_id);
        for path in &owned {
            self.remove(zxid, path, effects);
        }
        self.sessions.remove(&session_id);
        self.once_writes.remove(&session_id);
        effects.touched_sessions.insert(session_id);
        Ok(OpResult::SessionClosed {
            ephemerals_deleted: owned,
        })
    }

    /// Removes a node and records the child change on its parent.
    fn remove(&mut self, zxid: Zxid, path: &str, effects: &mut Effects) {
        self.nodes.remove(path);
        let parent = parent_of(path).to_string();
        let parent_node = self.nodes.get_mut(&parent).unwrap();
        // ZooKeeper 3.9's deleteNode moves only pzxid; cversion counts creations.
        parent_node.pzxid = zxid;
        effects.events.push(WatchEvent {
            zxid,
            kind: EventKind::NodeDeleted,
            path: path.to_string(),
        });
        effects.events.push(WatchEvent {
            zxid,
            kind: EventKind::NodeChildrenChanged,
            path: parent.clone(),
        });
        effects.touched_nodes.insert(path.to_string());
        effects.touched_nodes.insert(parent);
    }

    /// ZooKeeper's `fixupACL`: drop repeated entries, validate, expand `auth`.
    fn fixup(&self, acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, Fail> {
        let mut unique: Vec<&Acl> = Vec::new();
        for entry in acl {
            if !unique.contains(&entry) {
                unique.push(entry);
            }
        }
        if unique.is_empty() {
            return Err(Fail::InvalidAcl);
        }
        let mut fixed = Vec::new();
        for entry in unique {
            if entry.perms.0 & !Perms::ALL.0 != 0 {
                return Err(Fail::InvalidAcl);
            }
            match entry.id.scheme.as_str() {
                "world" if entry.id.id == "anyone" => fixed.push(entry.clone()),
                "auth" => {
                    let mine: Vec<&Id> = ids
                        .iter()
                        .filter(|id| id.scheme != "world" && id.scheme != "super")
                        .collect();
                    if mine.is_empty() {
                        return Err(Fail::InvalidAcl);
                    }
                    fixed.extend(mine.into_iter().map(|id| Acl::new(entry.perms, id.clone())));
                }
                "digest" if entry.id.id.contains(':') => fixed.push(entry.clone()),
                "x509" | "super" if !entry.id.id.is_empty() => fixed.push(entry.clone()),
                _ => return Err(Fail::InvalidAcl),
            }
        }
        if fixed.len() > self.limits.acl_entries_max {
            return Err(Fail::Limit("acl_entries_max"));
        }
        if fixed
            .iter()
            .any(|entry| entry.id.id.len() > self.limits.acl_id_len_max)
        {
            return Err(Fail::Limit("acl_id_len_max"));
        }
        Ok(fixed)
    }

    fn write(
        &mut self,
        zxid: Zxid,
        now: i64,
        caller: &Caller,
        op: &WriteOp,
        effects: &mut Effects,
    ) -> Result<OpResult, Fail> {
        let ids = &caller.ids;
        if caller.session_id != 0 && !self.sessions.contains_key(&caller.session_id) {
            return Err(Fail::SessionExpired);
        }
        let max_path = self.limits.path_len_max;
        let check_version = |expected: i32, actual: i32| {
            if expected == -1 || expected == actual {
                Ok(())
            } else {
                Err(Fail::BadVersion)
            }
        };
        match op {
            WriteOp::Create {
                path,
                data,
                acl,
                mode,
            } => {
                let sequential = mode.is_sequential();
                let probe = if sequential {
                    format!("{path}0")
                } else {
                    path.clone()
                };
                if !valid_path(&probe, max_path) {
                    return Err(Fail::InvalidPath);
                }
                if data.as_ref().map_or(0, Vec::len) > self.limits.data_len_max {
                    return Err(Fail::Limit("data_len_max"));
                }
                let kind = match *mode {
                    CreateMode::Persistent | CreateMode::PersistentSequential => {
                        ModelKind::Persistent
                    }
                    CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                        ModelKind::Ephemeral(caller.session_id)
                    }
                    CreateMode::Container => ModelKind::Container,
                    CreateMode::PersistentWithTtl { ttl_ms }
                    | CreateMode::PersistentSequentialWithTtl { ttl_ms } => {
                        if ttl_ms < 1 || ttl_ms > self.limits.ttl_max_ms {
                            return Err(Fail::BadArguments);
                        }
                        ModelKind::Ttl(ttl_ms)
                    }
                };
                let ephemeral = matches!(kind, ModelKind::Ephemeral(_));
                if ephemeral && caller.session_id == 0 {
                    return Err(Fail::BadArguments);
                }
                let acl = self.fixup(acl, ids)?;
                let parent = parent_of(&probe).to_string();
                let Some(parent_node) = self.nodes.get(&parent) else {
                    return Err(Fail::NoNode);
                };
                if !allows(&parent_node.acl, Perms::CREATE, ids) {
                    return Err(Fail::NoAuth);
                }
                let name = if sequential {
                    format!("{path}{:010}", parent_node.cversion)
                } else {
                    path.clone()
                };
                if !valid_path(&name, max_path) {
                    return Err(Fail::InvalidPath);
                }
                if self.nodes.contains_key(&name) {
                    return Err(Fail::NodeExists);
                }
                if matches!(parent_node.kind, ModelKind::Ephemeral(_)) {
                    return Err(Fail::NoChildrenForEphemerals);
                }
                if self.children(&parent).len() >= self.limits.children_max {
                    return Err(Fail::Limit("children_max"));
                }
                if self.nodes.len() >= self.limits.nodes_max {
                    return Err(Fail::Limit("nodes_max"));
                }
                if ephemeral
                    && self.owned_by(caller.session_id).len()
                        >= self.limits.ephemerals_per_session_max
                {
                    return Err(Fail::Limit("ephemerals_per_session_max"));
                }
                self.nodes.insert(
                    name.clone(),
                    ModelNode {
                        data: data.clone(),
                        acl,
                        kind,
                        czxid: zxid,
                        mzxid: zxid,
                        pzxid: zxid,
                        ctime: now,
                        mtime: now,
                        version: 0,
                        cversion: 0,
                        aversion: 0,
                    },
                );
                let parent_node = self.nodes.get_mut(&parent).unwrap();
                parent_node.cversion += 1;
                parent_node.pzxid = zxid;
                effects.events.push(WatchEvent {
                    zxid,
                    kind: EventKind::NodeCreated,
                    path: name.clone(),
                });
                effects.events.push(WatchEvent {
                    zxid,
                    kind: EventKind::NodeChildrenChanged,
                    path: parent.clone(),
                });
                effects.touched_nodes.insert(name.clone());
                effects.touched_nodes.insert(parent);
                Ok(OpResult::Created {
                    stat: self.stat(&name),
                    path: name,
                })
            }
            WriteOp::Delete { path, version } => {
                if !valid_path(path, max_path) {
                    return Err(Fail::InvalidPath);
                }
                if path == "/" {
                    return Err(Fail::BadArguments);
                }
                if path == "/polis" {
                    return Err(if is_super(ids) {
                        Fail::BadArguments
                    } else {
                        Fail::NoAuth
                    });
                }
                let Some(parent_node) = self.nodes.get(parent_of(path)) else {
                    return Err(Fail::NoNode);
                };
                if !allows(&parent_node.acl, Perms::DELETE, ids) {
                    return Err(Fail::NoAuth);
                }
                let Some(node) = self.nodes.get(path) else {
                    return Err(Fail::NoNode);
                };
                check_version(*version, node.version)?;
                if !self.children(path).is_empty() {
                    return Err(Fail::NotEmpty);
                }
                self.remove(zxid, path, effects);
                Ok(OpResult::Deleted)
            }
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                if !valid_path(path, max_path) {
                    return Err(Fail::InvalidPath);
                }
                if data.as_ref().map_or(0, Vec::len) > self.limits.data_len_max {
                    return Err(Fail::Limit("data_len_max"));
                }
                let Some(node) = self.nodes.get_mut(path) else {
                    return Err(Fail::NoNode);
                };
                if !allows(&node.acl, Perms::WRITE, ids) {
                    return Err(Fail::NoAuth);
                }
                check_version(*version, node.version)?;
                node.data = data.clone();
                node.version = bump(node.version);
                node.mzxid = zxid;
                node.mtime = now;
                effects.events.push(WatchEvent {
                    zxid,
                    kind: EventKind::NodeDataChanged,
                    path: path.clone(),
                });
                effects.touched_nodes.insert(path.clone());
                Ok(OpResult::DataSet {
                    stat: self.stat(path),
                })
            }
            WriteOp::SetAcl { path, acl, version } => {
                if !valid_path(path, max_path) {
                    return Err(Fail::InvalidPath);
                }
                let acl = self.fixup(acl, ids)?;
                let Some(node) = self.nodes.get_mut(path) else {
                    return Err(Fail::NoNode);
                };
                if !allows(&node.acl, Perms::ADMIN, ids) {
                    return Err(Fail::NoAuth);
                }
                check_version(*version, node.aversion)?;
                node.acl = acl;
                node.aversion = bump(node.aversion);
                effects.touched_nodes.insert(path.clone());
                Ok(OpResult::AclSet {
                    stat: self.stat(path),
                })
            }
            WriteOp::Check { path, version } => {
                if !valid_path(path, max_path) {
                    return Err(Fail::InvalidPath);
                }
                let Some(node) = self.nodes.get(path) else {
                    return Err(Fail::NoNode);
                };
                if !allows(&node.acl, Perms::READ, ids) {
                    return Err(Fail::NoAuth);
                }
                check_version(*version, node.version)?;
                Ok(OpResult::Checked)
            }
        }
    }

    /// The history window: the longest run of whole transactions at the end of all events that
    /// fits in `history_events_max`. Returns (first retained index, compacted-through zxid).
    fn history_window(&self) -> (usize, Zxid) {
        let max = self.limits.history_events_max;
        let events = &self.all_events;
        let mut start = events.len();
        // Walk back one transaction's events at a time while they fit.
        while start > 0 {
            let zxid = events[start - 1].zxid;
            let mut group_start = start;
            while group_start > 0 && events[group_start - 1].zxid == zxid {
                group_start -= 1;
            }
            if events.len() - group_start > max {
                break;
            }
            start = group_start;
        }
        let compacted = if start == 0 {
            0
        } else {
            events[start - 1].zxid
        };
        (start, compacted)
    }
}

// ------------------------------------------------------------------------------------------------
// Comparing.

fn record_matches(record: &NodeRecord, node: &ModelNode) -> bool {
    let kind_matches = match (record.kind, node.kind) {
        (polis_tree::NodeKind::Persistent, ModelKind::Persistent) => true,
        (polis_tree::NodeKind::Ephemeral { owner }, ModelKind::Ephemeral(model_owner)) => {
            owner == model_owner
        }
        (polis_tree::NodeKind::Container, ModelKind::Container) => true,
        (polis_tree::NodeKind::Ttl { ttl_ms }, ModelKind::Ttl(model_ttl)) => ttl_ms == model_ttl,
        _ => false,
    };
    kind_matches
        && record.data.as_deref() == node.data.as_deref()
        && *record.acl == *node.acl
        && (
            record.czxid,
            record.mzxid,
            record.pzxid,
            record.ctime,
            record.mtime,
        ) == (node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime)
        && (record.version, record.cversion, record.aversion)
            == (node.version, node.cversion, node.aversion)
}

fn compare_state(tree: &DataTree, model: &Model, now_ms: i64) -> Result<(), TestCaseError> {
    prop_assert_eq!(tree.last_zxid(), model.last_zxid);
    prop_assert_eq!(tree.node_count(), model.nodes.len());
    let admin = [super_id()];
    for (path, node) in &model.nodes {
        let Some((record, children)) = tree.node(path) else {
            return Err(TestCaseError::fail(format!(
                "{path} is missing from the tree"
            )));
        };
        prop_assert!(
            record_matches(record, node),
            "{}: tree {:?} model {:?}",
            path,
            record,
            node
        );
        let expected_children = model.children(path);
        prop_assert_eq!(
            children
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>(),
            expected_children.clone()
        );
        let stat = model.stat(path);
        prop_assert_eq!(tree.exists(path), Ok(Some(stat)), "stat of {}", path);
        prop_assert_eq!(
            tree.get_children(path, &admin),
            Ok((expected_children, stat))
        );
        let descendants = model
            .nodes
            .keys()
            .filter(|other| {
                *other != path && (path == "/" || other.starts_with(&format!("{path}/")))
            })
            .count();
        prop_assert_eq!(tree.count_descendants(path, &admin), Ok(descendants));
    }
    prop_assert_eq!(tree.sessions().len(), model.sessions.len());
    for (session_id, session) in &model.sessions {
        let Some(actual) = tree.sessions().get(*session_id) else {
            return Err(TestCaseError::fail(format!(
                "session {session_id} is missing"
            )));
        };
        prop_assert_eq!(actual.timeout_ms, session.timeout_ms);
        prop_assert_eq!(actual.password, session.password);
        let owned = model.owned_by(*session_id);
        prop_assert_eq!(
            actual.ephemerals.iter().cloned().collect::<Vec<_>>(),
            owned.clone()
        );
        prop_assert_eq!(tree.ephemerals(*session_id, "/"), owned);
    }
    let expired: Vec<String> = model
        .nodes
        .keys()
        .filter(|path| model.expired(path, now_ms))
        .cloned()
        .collect();
    prop_assert_eq!(tree.expired_nodes(now_ms), expired);
    Ok(())
}

fn compare_history(tree: &DataTree, model: &Model) -> Result<(), TestCaseError> {
    let history = tree.history();
    let (start, compacted) = model.history_window();
    prop_assert_eq!(history.compacted_through(), compacted);
    let retained: Vec<(u64, WatchEvent)> = model.all_events[start..]
        .iter()
        .enumerate()
        .map(|(offset, event)| ((start + offset) as u64, event.clone()))
        .collect();
    let actual: Vec<(u64, WatchEvent)> = history
        .entries()
        .map(|entry| (entry.seq, entry.event.clone()))
        .collect();
    prop_assert_eq!(actual, retained);
    prop_assert_eq!(history.first_retained_seq(), start as u64);
    for after in [
        0,
        compacted,
        compacted + 1,
        model.last_zxid - 1,
        model.last_zxid,
    ] {
        match history.since(after) {
            Err(error) => {
                prop_assert!(
                    after < compacted,
                    "resume from {} refused: {:?}",
                    after,
                    error
                );
                prop_assert_eq!(
                    error,
                    TreeError::HistoryCompacted {
                        requested: after,
                        compacted_through: compacted
                    }
                );
            }
            Ok(entries) => {
                prop_assert!(after >= compacted);
                let events: Vec<WatchEvent> = entries.map(|entry| entry.event.clone()).collect();
                let expected: Vec<WatchEvent> = model.all_events[start..]
                    .iter()
                    .filter(|event| event.zxid > after)
                    .cloned()
                    .collect();
                prop_assert_eq!(events, expected);
            }
        }
    }
    Ok(())
}

/// Compares the change set of one transaction with what the model touched.
fn compare_changes(
    tree: &mut DataTree,
    model: &Model,
    effects: &Effects,
    events_before: usize,
) -> Result<(), TestCaseError> {
    let changes = tree.take_changes();
    prop_assert_eq!(
        changes.nodes.keys().cloned().collect::<BTreeSet<_>>(),
        effects.touched_nodes.clone()
    );
    for (path, record) in &changes.nodes {
        match (record, model.nodes.get(path)) {
            (None, None) => {}
            (Some(record), Some(node)) => prop_assert!(record_matches(record, node), "{}", path),
            (record, node) => {
                return Err(TestCaseError::fail(format!(
                    "change set has {record:?} for {path}, model {node:?}"
                )));
            }
        }
    }
    prop_assert_eq!(
        changes.sessions.keys().copied().collect::<BTreeSet<_>>(),
        effects.touched_sessions.clone()
    );
    for (session_id, session) in &changes.sessions {
        prop_assert_eq!(session.is_some(), model.sessions.contains_key(session_id));
    }
    let appended: Vec<(u64, WatchEvent)> = changes
        .history_appended
        .iter()
        .map(|entry| (entry.seq, entry.event.clone()))
        .collect();
    let expected: Vec<(u64, WatchEvent)> = effects
        .events
        .iter()
        .enumerate()
        .map(|(offset, event)| ((events_before + offset) as u64, event.clone()))
        .collect();
    prop_assert_eq!(appended, expected);
    let (start, compacted) = model.history_window();
    prop_assert_eq!(changes.history_first_retained_seq, start as u64);
    prop_assert_eq!(changes.history_compacted_through, compacted);
    prop_assert_eq!(changes.last_zxid, model.last_zxid);
    Ok(())
}

/// The model's watches and the registry under test, side by side.
struct Watches {
    registry: WatchRegistry,
    model: BTreeSet<(SessionId, WatchKind, String)>,
}

impl Watches {
    fn count(&self, session: SessionId) -> usize {
        self.model.iter().filter(|(s, _, _)| *s == session).count()
    }

    fn add(
        &mut self,
        session: SessionId,
        path: &str,
        kind: WatchKind,
    ) -> Result<(), TestCaseError> {
        let key = (session, kind, path.to_string());
        let expected_ok =
            self.model.contains(&key) || self.count(session) < WATCHES_PER_SESSION_MAX;
        let result = self.registry.add(session, path, kind);
        prop_assert_eq!(result.is_ok(), expected_ok, "{:?}", result);
        if let Err(error) = result {
            let over_limit = matches!(
                error,
                TreeError::LimitExceeded {
                    limit: "watches_per_session_max",
                    ..
                }
            );
            prop_assert!(over_limit, "{:?}", error);
        } else {
            self.model.insert(key);
        }
        Ok(())
    }

    fn remove(
        &mut self,
        session: SessionId,
        path: &str,
        kind: WatchKind,
    ) -> Result<(), TestCaseError> {
        let existed = self.model.remove(&(session, kind, path.to_string()));
        let result = self.registry.remove(session, path, kind);
        if existed {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert_eq!(
                result,
                Err(TreeError::NoWatcher {
                    path: path.to_string()
                })
            );
        }
        Ok(())
    }

    fn drop_session(&mut self, session: SessionId) {
        self.model.retain(|(s, _, _)| *s != session);
        self.registry.remove_session(session);
    }

    fn trigger(&mut self, event: &WatchEvent) -> Result<(), TestCaseError> {
        let mut expected = BTreeSet::new();
        let mut fired_one_shot = Vec::new();
        for watch in &self.model {
            let (session, kind, path) = watch;
            let model_fires = fires(*kind, path, event);
            prop_assert_eq!(
                kind.fires_for(path, event),
                model_fires,
                "{:?} on {}",
                kind,
                path
            );
            if model_fires {
                expected.insert(*session);
                if matches!(kind, WatchKind::Data | WatchKind::Children) {
                    fired_one_shot.push(watch.clone());
                }
            }
        }
        for watch in fired_one_shot {
            self.model.remove(&watch);
        }
        prop_assert_eq!(
            self.registry.trigger(event),
            expected.into_iter().collect::<Vec<_>>(),
            "notified of {:?}",
            event
        );
        Ok(())
    }

    fn compare(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.registry.len(), self.model.len());
        prop_assert_eq!(self.registry.is_empty(), self.model.is_empty());
        for session in 1..=4 {
            prop_assert_eq!(
                self.registry.session_watch_count(session),
                self.count(session)
            );
            let mut held: Vec<(WatchKind, String)> = self
                .registry
                .session_watches(session)
                .map(|(kind, path)| (kind, path.to_string()))
                .collect();
            held.sort();
            let mut expected: Vec<(WatchKind, String)> = self
                .model
                .iter()
                .filter(|(s, _, _)| *s == session)
                .map(|(_, kind, path)| (*kind, path.clone()))
                .collect();
            expected.sort();
            prop_assert_eq!(held, expected);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// The property.

fn run(limits: Limits, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut tree = DataTree::new(limits.clone());
    let mut model = Model::new(limits);
    let mut watches = Watches {
        registry: WatchRegistry::new(WATCHES_PER_SESSION_MAX),
        model: BTreeSet::new(),
    };
    tree.take_changes();
    let mut now_ms: i64 = 1_000_000;
    let mut next_zxid: Zxid = 1;
    compare_state(&tree, &model, now_ms)?;
    for (index, step) in steps.iter().enumerate() {
        now_ms += step.advance_ms;
        model.now_ms = now_ms;
        let byte = index as u8;
        let kind = match &step.spec {
            StepSpec::AddWatch {
                session,
                path,
                kind,
            } => {
                watches.add(*session, &model.path(path), *kind)?;
                watches.compare()?;
                continue;
            }
            StepSpec::RemoveWatch {
                session,
                path,
                kind,
            } => {
                watches.remove(*session, &model.path(path), *kind)?;
                watches.compare()?;
                continue;
            }
            StepSpec::DropWatches { session } => {
                watches.drop_session(*session);
                watches.compare()?;
                continue;
            }
            StepSpec::Open { timeout_ms } => TxnKind::OpenSession {
                timeout_ms: *timeout_ms,
                password: [byte; 16],
            },
            StepSpec::Close { session, expired } => TxnKind::CloseSession {
                session_id: model.session(*session),
                reason: if *expired {
                    CloseReason::Expired
                } else {
                    CloseReason::Closed
                },
            },
            StepSpec::Write { .. } | StepSpec::Multi { .. } => {
                session_write_of(&model, &step.spec, byte)
            }
            StepSpec::Once { write_id, inner } => {
                TxnKind::once(*write_id, session_write_of(&model, inner, byte))
            }
            StepSpec::RemoveExpired { path } => TxnKind::RemoveExpiredNode {
                path: model.path(path),
            },
            StepSpec::Noop | StepSpec::StaleZxid { .. } => TxnKind::Noop,
        };
        let zxid = match step.spec {
            StepSpec::StaleZxid { back } => next_zxid - 1 - back,
            _ => {
                let zxid = next_zxid + step.zxid_gap - 1;
                next_zxid = zxid + 1;
                zxid
            }
        };
        let txn = Txn {
            zxid,
            time_ms: now_ms,
            kind,
        };
        let events_before = model.all_events.len();
        let applied = tree.apply(&txn);
        let (expected, effects) = model.apply(&txn);
        prop_assert_eq!(applied.zxid, zxid);
        match (&applied.result, &expected) {
            (Ok(actual), Ok(expected)) => prop_assert_eq!(actual, expected, "{:?}", txn),
            (Err(error), Err(fail)) => {
                prop_assert_eq!(&Fail::of(error), fail, "{:?}: {}", txn, error);
                prop_assert_eq!(error.code(), fail.code());
            }
            (actual, expected) => {
                return Err(TestCaseError::fail(format!(
                    "{txn:?}\ntree:  {actual:?}\nmodel: {expected:?}"
                )));
            }
        }
        prop_assert_eq!(&applied.events, &effects.events, "{:?}", txn);
        compare_state(&tree, &model, now_ms)?;
        compare_history(&tree, &model)?;
        compare_changes(&mut tree, &model, &effects, events_before)?;
        for event in &applied.events {
            watches.trigger(event)?;
        }
        watches.compare()?;
    }
    Ok(())
}

/// The transaction of a `Write` or `Multi` step.
fn session_write_of(model: &Model, spec: &StepSpec, byte: u8) -> TxnKind {
    match spec {
        StepSpec::Write { session, who, op } => TxnKind::Write {
            caller: Caller {
                session_id: model.session(*session),
                ids: ids_of(*who),
            },
            op: model.op(op, byte),
        },
        StepSpec::Multi { session, who, ops } => TxnKind::Multi {
            caller: Caller {
                session_id: model.session(*session),
                ids: ids_of(*who),
            },
            ops: ops.iter().map(|op| model.op(op, byte)).collect(),
        },
        other => panic!("not a session's write: {other:?}"),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/model.txt"
        )))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tree_matches_the_reference_model(
        limits in limits_strategy(),
        steps in prop::collection::vec(step(), 1..150),
    ) {
        run(limits, &steps)?;
    }
}
