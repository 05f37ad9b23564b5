//! Helpers shared by the integration tests of `polis-tree`.
//!
//! Each test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use polis_tree::{
    Acl, Applied, Caller, CloseReason, CreateMode, DataTree, EventKind, Id, Limits, OpResult,
    Perms, SessionId, Stat, TreeError, Txn, TxnKind, WatchEvent, WriteOp, Zxid,
};

/// The commit time of the first transaction a [`Harness`] applies.
pub const START_MS: i64 = 1_700_000_000_000;

/// A tree and a clock: applies transactions with consecutive zxids (1, 2, 3, ...) and a commit
/// time that advances by one second per transaction unless a test moves it.
#[derive(Debug)]
pub struct Harness {
    pub tree: DataTree,
    /// The zxid the next transaction gets.
    pub next_zxid: Zxid,
    /// The commit time the next transaction gets.
    pub now_ms: i64,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Harness {
        Harness {
            tree: DataTree::new(limits),
            next_zxid: 1,
            now_ms: START_MS,
        }
    }

    /// Applies a transaction of this kind with the next zxid at the current time, then moves the
    /// clock on by a second.
    pub fn apply(&mut self, kind: TxnKind) -> Applied {
        let txn = Txn {
            zxid: self.next_zxid,
            time_ms: self.now_ms,
            kind,
        };
        self.next_zxid += 1;
        self.now_ms += 1_000;
        let applied = self.tree.apply(&txn);
        assert_eq!(applied.zxid, txn.zxid);
        applied
    }

    /// The zxid of the last transaction applied through this harness.
    pub fn last_zxid(&self) -> Zxid {
        self.next_zxid - 1
    }

    /// Opens a session with a ten-second timeout and returns its id (the transaction's zxid).
    pub fn open_session(&mut self) -> SessionId {
        let applied = self.apply(TxnKind::OpenSession {
            timeout_ms: 10_000,
            password: [7; 16],
        });
        match applied.result {
            Ok(OpResult::SessionOpened { session_id, .. }) => session_id,
            other => panic!("opening a session failed: {other:?}"),
        }
    }

    pub fn close_session(&mut self, session_id: SessionId, reason: CloseReason) -> Applied {
        self.apply(TxnKind::CloseSession { session_id, reason })
    }

    /// One write by `caller`.
    pub fn write_as(&mut self, caller: Caller, op: WriteOp) -> Applied {
        self.apply(TxnKind::Write { caller, op })
    }

    /// One write by an anonymous caller on `session_id`.
    pub fn write(&mut self, session_id: SessionId, op: WriteOp) -> Applied {
        self.write_as(Caller::anonymous(session_id), op)
    }

    pub fn multi(&mut self, session_id: SessionId, ops: Vec<WriteOp>) -> Applied {
        self.apply(TxnKind::Multi {
            caller: Caller::anonymous(session_id),
            ops,
        })
    }

    /// Creates a node with an open ACL and returns its actual path; panics on failure.
    pub fn create(
        &mut self,
        session_id: SessionId,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> String {
        match self.write(session_id, create_op(path, data, mode)).result {
            Ok(OpResult::Created { path, .. }) => path,
            other => panic!("creating {path} failed: {other:?}"),
        }
    }

    /// Creates a persistent node with an open ACL as the system; panics on failure.
    pub fn create_persistent(&mut self, path: &str) -> String {
        self.create(0, path, b"", CreateMode::Persistent)
    }

    /// The stat of an existing node.
    pub fn stat(&self, path: &str) -> Stat {
        self.tree
            .exists(path)
            .expect("valid path")
            .unwrap_or_else(|| panic!("{path} does not exist"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.tree.exists(path).expect("valid path").is_some()
    }

    pub fn children(&self, path: &str) -> Vec<String> {
        self.tree.get_children(path, &[]).expect("readable node").0
    }
}

/// A create with an open ACL.
pub fn create_op(path: &str, data: &[u8], mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        path: path.to_string(),
        data: Some(data.to_vec()),
        acl: Acl::open().to_vec(),
        mode,
    }
}

pub fn create_with_acl(path: &str, acl: Vec<Acl>, mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        path: path.to_string(),
        data: Some(Vec::new()),
        acl,
        mode,
    }
}

pub fn delete_op(path: &str, version: i32) -> WriteOp {
    WriteOp::Delete {
        path: path.to_string(),
        version,
    }
}

pub fn set_data_op(path: &str, data: &[u8], version: i32) -> WriteOp {
    WriteOp::SetData {
        path: path.to_string(),
        data: Some(data.to_vec()),
        version,
    }
}

pub fn set_acl_op(path: &str, acl: Vec<Acl>, version: i32) -> WriteOp {
    WriteOp::SetAcl {
        path: path.to_string(),
        acl,
        version,
    }
}

pub fn check_op(path: &str, version: i32) -> WriteOp {
    WriteOp::Check {
        path: path.to_string(),
        version,
    }
}

pub fn event(zxid: Zxid, kind: EventKind, path: &str) -> WatchEvent {
    WatchEvent {
        zxid,
        kind,
        path: path.to_string(),
    }
}

pub fn alice() -> Id {
    Id::new(Id::SCHEME_DIGEST, "alice:aGFzaA==")
}

pub fn bob() -> Id {
    Id::new(Id::SCHEME_DIGEST, "bob:aGFzaA==")
}

/// A caller on `session_id` authenticated as `ids`.
pub fn caller_with(session_id: SessionId, ids: Vec<Id>) -> Caller {
    Caller { session_id, ids }
}

/// An ACL that grants `perms` to alice only.
pub fn alice_acl(perms: Perms) -> Vec<Acl> {
    vec![Acl::new(perms, alice())]
}

/// The error of a failed transaction; panics if it succeeded.
pub fn error_of(applied: &Applied) -> &TreeError {
    match &applied.result {
        Err(error) => error,
        Ok(result) => panic!("expected an error, got {result:?}"),
    }
}

/// Limits small enough for tests to reach every bound.
pub fn small_limits() -> Limits {
    Limits {
        data_len_max: 16,
        path_len_max: 32,
        children_max: 4,
        nodes_max: 12,
        multi_ops_max: 4,
        acl_entries_max: 3,
        acl_id_len_max: 64,
        watches_per_session_max: 8,
        sessions_max: 3,
        ephemerals_per_session_max: 2,
        history_events_max: 64,
        session_timeout_min_ms: 1_000,
        session_timeout_max_ms: 30_000,
        ttl_max_ms: 60_000,
    }
}

/// A deterministic workload touching every kind of transaction: sessions, all create modes,
/// deletes, data and ACL changes, multis (one failing), expiry and noops, plus some failures.
/// Zxids start at 1 and are consecutive; times advance by a second.
pub fn sample_workload() -> Vec<Txn> {
    let system = Caller::system();
    let user = |session_id: SessionId| Caller::anonymous(session_id);
    let write = |caller: Caller, op: WriteOp| TxnKind::Write { caller, op };
    let kinds = vec![
        TxnKind::OpenSession {
            timeout_ms: 5_000,
            password: [1; 16],
        },
        TxnKind::OpenSession {
            timeout_ms: 500_000,
            password: [2; 16],
        },
        write(
            system.clone(),
            create_op("/app", b"root of app", CreateMode::Persistent),
        ),
        write(
            user(1),
            create_op("/app/lock-", b"", CreateMode::EphemeralSequential),
        ),
        write(
            user(2),
            create_op("/app/lock-", b"", CreateMode::EphemeralSequential),
        ),
        write(
            user(1),
            create_op("/app/queue/", b"x", CreateMode::PersistentSequential),
        ),
        write(
            user(1),
            create_op("/app/members", b"", CreateMode::Container),
        ),
        write(
            user(2),
            create_op("/app/members/m1", b"m1", CreateMode::Ephemeral),
        ),
        write(
            user(1),
            create_op(
                "/app/lease",
                b"lease",
                CreateMode::PersistentWithTtl { ttl_ms: 2_000 },
            ),
        ),
        write(
            user(1),
            create_op(
                "/app/ttlseq-",
                b"",
                CreateMode::PersistentSequentialWithTtl { ttl_ms: 60_000 },
            ),
        ),
        write(user(1), set_data_op("/app", b"changed", 0)),
        write(
            caller_with(1, vec![alice()]),
            set_acl_op(
                "/app",
                vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""))],
                -1,
            ),
        ),
        TxnKind::Multi {
            caller: system.clone(),
            ops: vec![
                create_op("/multi", b"", CreateMode::Persistent),
                create_op("/multi/a", b"a", CreateMode::Persistent),
                check_op("/multi/a", 0),
                set_data_op("/multi/a", b"aa", 0),
            ],
        },
        // Fails on its last operation: nothing of it stays.
        TxnKind::Multi {
            caller: system.clone(),
            ops: vec![
                create_op("/multi/b", b"", CreateMode::Persistent),
                delete_op("/multi/a", 7),
            ],
        },
        write(user(1), delete_op("/missing", -1)),
        TxnKind::Noop,
        TxnKind::CloseSession {
            session_id: 2,
            reason: CloseReason::Expired,
        },
        TxnKind::RemoveExpiredNode {
            path: "/app/members".to_string(),
        },
        TxnKind::RemoveExpiredNode {
            path: "/app/lease".to_string(),
        },
        write(system, delete_op("/multi/a", 1)),
        TxnKind::OpenSession {
            timeout_ms: 10_000,
            password: [3; 16],
        },
        write(user(21), create_op("/e", b"eph", CreateMode::Ephemeral)),
        // A sequential create proposed twice under one write id takes effect once.
        TxnKind::once(
            7,
            write(
                user(1),
                create_op("/app/queue/", b"once", CreateMode::PersistentSequential),
            ),
        ),
        TxnKind::once(
            7,
            write(
                user(1),
                create_op("/app/queue/", b"once", CreateMode::PersistentSequential),
            ),
        ),
        TxnKind::once(
            8,
            TxnKind::Multi {
                caller: user(21),
                ops: vec![create_op("/once", b"", CreateMode::Persistent)],
            },
        ),
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| Txn {
            zxid: index as Zxid + 1,
            time_ms: START_MS + index as i64 * 1_000,
            kind,
        })
        .collect()
}

/// A tree with `sample_workload` applied.
pub fn sample_tree(limits: Limits) -> DataTree {
    let mut tree = DataTree::new(limits);
    for txn in sample_workload() {
        tree.apply(&txn);
    }
    tree
}
