//! One test per behaviour of the tree's public API: every operation, every error code, full stats,
//! watch events, history resume and change sets.

mod common;

use std::collections::BTreeMap;

use common::*;
use polis_tree::{
    Acl, Caller, CloseReason, CreateMode, DataTree, ErrorCode, EventKind, Id, Limits,
    MultiOpResult, NodeKind, OpResult, Perms, SYSTEM_PATH, Stat, TreeError, TreeState, Txn,
    TxnKind, WatchKind, WatchRegistry, WriteOp,
};

/// The commit time of the transaction with this zxid, for a harness whose clock was not moved.
fn time_of(zxid: i64) -> i64 {
    START_MS + (zxid - 1) * 1_000
}

fn super_id() -> Id {
    Id::new(Id::SCHEME_SUPER, "admin")
}

fn assert_code(applied: &polis_tree::Applied, code: ErrorCode) {
    let error = error_of(applied);
    assert_eq!(error.code(), code, "{error:?}");
    assert!(
        applied.events.is_empty(),
        "a failed transaction fires nothing"
    );
}

// ------------------------------------------------------------------------------------------------
// Genesis.

#[test]
fn new_tree_has_an_open_root_and_an_administrators_only_system_node() {
    let tree = DataTree::new(Limits::default());
    assert_eq!(tree.last_zxid(), 0);
    assert_eq!(tree.node_count(), 2);
    let (children, root) = tree.get_children("/", &[]).unwrap();
    assert_eq!(children, vec!["polis".to_string()]);
    assert_eq!(
        root,
        Stat {
            num_children: 1,
            ..Stat::default()
        }
    );
    assert_eq!(&*tree.get_acl("/", &[]).unwrap().0, &*Acl::root());
    let administrator = [Id::new(Id::SCHEME_SUPER, "admin")];
    let (acl, system) = tree.get_acl(SYSTEM_PATH, &administrator).unwrap();
    assert_eq!(&*acl, &*Acl::administrators_only());
    assert!(
        tree.get_data(SYSTEM_PATH, &[Id::anyone()]).is_err(),
        "only administrators read /polis"
    );
    assert_eq!(system, Stat::default());
    assert!(tree.sessions().is_empty());
    assert!(tree.history().is_empty());
}

// ------------------------------------------------------------------------------------------------
// Create.

#[test]
fn persistent_create_returns_the_path_and_a_full_stat() {
    let mut h = Harness::new();
    let session = h.open_session();
    let applied = h.write(session, create_op("/app", b"hello", CreateMode::Persistent));
    let expected = Stat {
        czxid: 2,
        mzxid: 2,
        ctime: time_of(2),
        mtime: time_of(2),
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
        pzxid: 2,
    };
    assert_eq!(
        applied.result,
        Ok(OpResult::Created {
            path: "/app".to_string(),
            stat: expected
        })
    );
    let (data, stat) = h.tree.get_data("/app", &[]).unwrap();
    assert_eq!((data, stat), (Some(&b"hello"[..]), expected));
    assert_eq!(h.tree.node("/app").unwrap().0.kind, NodeKind::Persistent);
}

#[test]
fn create_bumps_parent_cversion_pzxid_and_num_children_only() {
    let mut h = Harness::new();
    h.create(0, "/p", b"data", CreateMode::Persistent); // zxid 1
    h.create(0, "/p/a", b"", CreateMode::Persistent); // zxid 2
    h.create(0, "/p/b", b"", CreateMode::Persistent); // zxid 3
    assert_eq!(
        h.stat("/p"),
        Stat {
            czxid: 1,
            mzxid: 1,
            ctime: time_of(1),
            mtime: time_of(1),
            version: 0,
            cversion: 2,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 4,
            num_children: 2,
            pzxid: 3,
        }
    );
    // The root counts its own children the same way; /polis was there from genesis.
    let root = h.stat("/");
    assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 1, 2));
}

#[test]
fn create_fires_node_created_then_parent_children_changed() {
    let mut h = Harness::new();
    h.create_persistent("/p");
    let applied = h.write(0, create_op("/p/c", b"", CreateMode::Persistent));
    assert_eq!(
        applied.events,
        vec![
            event(2, EventKind::NodeCreated, "/p/c"),
            event(2, EventKind::NodeChildrenChanged, "/p"),
        ]
    );
}

#[test]
fn ephemeral_node_is_owned_by_the_creating_session() {
    let mut h = Harness::new();
    let session = h.open_session();
    let applied = h.write(session, create_op("/e", b"x", CreateMode::Ephemeral));
    let Ok(OpResult::Created { stat, .. }) = applied.result else {
        panic!("{applied:?}");
    };
    assert_eq!(stat.ephemeral_owner, session);
    assert_eq!(h.stat("/e").ephemeral_owner, session);
    assert_eq!(
        h.tree.node("/e").unwrap().0.kind,
        NodeKind::Ephemeral { owner: session }
    );
    assert_eq!(h.tree.ephemerals(session, "/"), vec!["/e".to_string()]);
    assert!(
        h.tree
            .sessions()
            .get(session)
            .unwrap()
            .ephemerals
            .contains("/e")
    );
}

#[test]
fn sequential_suffix_comes_from_parent_cversion() {
    let mut h = Harness::new();
    h.create_persistent("/q");
    h.create_persistent("/q/a");
    h.create_persistent("/q/b");
    assert_eq!(h.stat("/q").cversion, 2);
    let name = h.create(0, "/q/n-", b"", CreateMode::PersistentSequential);
    assert_eq!(name, "/q/n-0000000002");
    assert_eq!(h.stat("/q").cversion, 3);
    let name = h.create(0, "/q/m-", b"", CreateMode::PersistentSequential);
    assert_eq!(name, "/q/m-0000000003");
}

#[test]
fn child_deletes_move_pzxid_but_not_cversion_so_sequence_numbers_are_never_reused() {
    // ZooKeeper 3.9: createNode bumps the parent's cversion, deleteNode only its pzxid.
    let mut h = Harness::new();
    h.create_persistent("/q");
    let first = h.create(0, "/q/n-", b"", CreateMode::PersistentSequential);
    assert_eq!(first, "/q/n-0000000000");
    let deleted = h.write(0, delete_op(&first, -1));
    deleted.result.unwrap();
    assert_eq!(h.stat("/q").cversion, 1);
    assert_eq!(h.stat("/q").pzxid, deleted.zxid);
    let name = h.create(0, "/q/n-", b"", CreateMode::PersistentSequential);
    assert_eq!(name, "/q/n-0000000001");
}

#[test]
fn sequential_create_with_trailing_slash_names_the_node_by_its_number_alone() {
    let mut h = Harness::new();
    h.create_persistent("/queue");
    let first = h.create(0, "/queue/", b"1", CreateMode::PersistentSequential);
    let second = h.create(0, "/queue/", b"2", CreateMode::PersistentSequential);
    assert_eq!(first, "/queue/0000000000");
    assert_eq!(second, "/queue/0000000001");
    assert_eq!(h.children("/queue"), vec!["0000000000", "0000000001"]);
}

#[test]
fn sequential_create_of_the_root_path_makes_a_numbered_child_of_the_root() {
    let mut h = Harness::new();
    // As in ZooKeeper: "/" plus the root's cversion (0: /polis is genesis, not a create).
    let name = h.create(0, "/", b"", CreateMode::PersistentSequential);
    assert_eq!(name, "/0000000000");
}

#[test]
fn ephemeral_sequential_node_is_numbered_and_owned() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create_persistent("/locks");
    let first = h.create(
        session,
        "/locks/lock-",
        b"",
        CreateMode::EphemeralSequential,
    );
    let second = h.create(
        session,
        "/locks/lock-",
        b"",
        CreateMode::EphemeralSequential,
    );
    assert_eq!(first, "/locks/lock-0000000000");
    assert_eq!(second, "/locks/lock-0000000001");
    assert_eq!(h.stat(&first).ephemeral_owner, session);
    assert_eq!(h.tree.ephemerals(session, "/locks"), vec![first, second]);
}

#[test]
fn container_node_carries_zookeepers_container_owner_marker() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/c", b"", CreateMode::Container);
    assert_eq!(h.stat("/c").ephemeral_owner, i64::MIN);
    assert_eq!(
        NodeKind::CONTAINER_EPHEMERAL_OWNER,
        0x8000_0000_0000_0000_u64 as i64
    );
    assert_eq!(h.tree.node("/c").unwrap().0.kind, NodeKind::Container);
    assert!(h.tree.ephemerals(session, "/").is_empty());
}

#[test]
fn ttl_node_encodes_its_ttl_in_the_ephemeral_owner() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(
        session,
        "/ttl",
        b"",
        CreateMode::PersistentWithTtl { ttl_ms: 5_000 },
    );
    let name = h.create(
        session,
        "/ttl-",
        b"",
        CreateMode::PersistentSequentialWithTtl { ttl_ms: 0x12_3456 },
    );
    assert_eq!(name, "/ttl-0000000001");
    assert_eq!(
        h.stat("/ttl").ephemeral_owner,
        0xFF00_0000_0000_1388_u64 as i64
    );
    assert_eq!(
        h.stat(&name).ephemeral_owner,
        0xFF00_0000_0012_3456_u64 as i64
    );
    assert_eq!(
        h.tree.node("/ttl").unwrap().0.kind,
        NodeKind::Ttl { ttl_ms: 5_000 }
    );
}

#[test]
fn ttl_up_to_the_limit_is_accepted() {
    let mut h = Harness::new();
    let name = h.create(
        0,
        "/t",
        b"",
        CreateMode::PersistentWithTtl {
            ttl_ms: Limits::TTL_MAX_MS,
        },
    );
    assert_eq!(
        h.stat(&name).ephemeral_owner,
        0xFF00_00FF_FFFF_FFFF_u64 as i64
    );
}

#[test]
fn create_of_an_existing_path_is_node_exists() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    let applied = h.write(0, create_op("/a", b"", CreateMode::Persistent));
    assert_code(&applied, ErrorCode::NodeExists);
    assert!(matches!(
        error_of(&applied),
        TreeError::NodeExists { path } if path == "/a"
    ));
    let applied = h.write(0, create_op("/polis", b"", CreateMode::Container));
    assert_code(&applied, ErrorCode::NodeExists);
}

#[test]
fn create_of_the_root_is_node_exists() {
    let mut h = Harness::new();
    let applied = h.write(0, create_op("/", b"", CreateMode::Persistent));
    assert_code(&applied, ErrorCode::NodeExists);
}

#[test]
fn create_without_a_parent_is_no_node() {
    let mut h = Harness::new();
    let applied = h.write(0, create_op("/a/b", b"", CreateMode::Persistent));
    assert_code(&applied, ErrorCode::NoNode);
    let applied = h.write(0, create_op("/a/", b"", CreateMode::PersistentSequential));
    assert_code(&applied, ErrorCode::NoNode);
}

#[test]
fn create_under_an_ephemeral_is_no_children_for_ephemerals() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/e", b"", CreateMode::Ephemeral);
    for mode in [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
    ] {
        let applied = h.write(session, create_op("/e/child", b"", mode));
        assert_code(&applied, ErrorCode::NoChildrenForEphemerals);
    }
    assert_eq!(h.stat("/e").cversion, 0);
}

#[test]
fn invalid_path_is_bad_arguments() {
    let mut h = Harness::new();
    for path in [
        "",
        "a",
        "a/b",
        "/a/",
        "//",
        "/a//b",
        "/.",
        "/a/..",
        "/a/./b",
        "/a\u{0}b",
        "/a\nb",
        "/\u{7f}",
        "/\u{e000}",
    ] {
        let applied = h.write(0, create_op(path, b"", CreateMode::Persistent));
        assert_code(&applied, ErrorCode::BadArguments);
        assert!(
            matches!(error_of(&applied), TreeError::InvalidPath { .. }),
            "{path:?}"
        );
        for op in [
            delete_op(path, -1),
            set_data_op(path, b"", -1),
            set_acl_op(path, Acl::open().to_vec(), -1),
            check_op(path, -1),
        ] {
            assert!(matches!(
                error_of(&h.write(0, op)),
                TreeError::InvalidPath { .. }
            ));
        }
        assert!(matches!(
            h.tree.exists(path),
            Err(TreeError::InvalidPath { .. })
        ));
        assert!(matches!(
            h.tree.get_data(path, &[]),
            Err(TreeError::InvalidPath { .. })
        ));
    }
    // A sequential create may end with a slash, a plain one may not.
    let applied = h.write(0, create_op("/q//", b"", CreateMode::PersistentSequential));
    assert!(matches!(error_of(&applied), TreeError::InvalidPath { .. }));
}

#[test]
fn create_with_ttl_out_of_range_is_bad_arguments() {
    let mut h = Harness::with_limits(small_limits());
    for ttl_ms in [0, -1, small_limits().ttl_max_ms + 1] {
        for mode in [
            CreateMode::PersistentWithTtl { ttl_ms },
            CreateMode::PersistentSequentialWithTtl { ttl_ms },
        ] {
            let applied = h.write(0, create_op("/t", b"", mode));
            assert_code(&applied, ErrorCode::BadArguments);
            assert!(matches!(error_of(&applied), TreeError::BadArguments { .. }));
        }
    }
}

#[test]
fn ephemeral_create_by_the_system_session_is_bad_arguments() {
    let mut h = Harness::new();
    for mode in [CreateMode::Ephemeral, CreateMode::EphemeralSequential] {
        let applied = h.write_as(Caller::system(), create_op("/e", b"", mode));
        assert!(matches!(error_of(&applied), TreeError::BadArguments { .. }));
    }
}

#[test]
fn write_from_an_unknown_or_closed_session_is_session_expired() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    let session = h.open_session();
    h.close_session(session, CloseReason::Closed)
        .result
        .unwrap();
    for session_id in [session, 999] {
        for op in [
            create_op("/b", b"", CreateMode::Persistent),
            delete_op("/a", -1),
            set_data_op("/a", b"x", -1),
            set_acl_op("/a", Acl::open().to_vec(), -1),
            check_op("/a", -1),
        ] {
            let applied = h.write(session_id, op);
            assert_code(&applied, ErrorCode::SessionExpired);
            assert_eq!(
                applied.result,
                Err(TreeError::SessionExpired { session_id })
            );
        }
        let applied = h.multi(session_id, vec![check_op("/a", -1)]);
        assert_code(&applied, ErrorCode::SessionExpired);
    }
    assert_eq!(h.stat("/a").version, 0);
}

#[test]
fn invalid_acl_is_refused() {
    let mut h = Harness::new();
    let bad_acls = vec![
        vec![],
        vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_WORLD, "bob"))],
        vec![Acl::new(Perms::ALL, Id::new("ip", "10.0.0.1"))],
        vec![Acl::new(Perms(32), Id::anyone())],
        vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""))],
        vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_DIGEST, "no-colon"))],
        vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_X509, ""))],
        vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_SUPER, ""))],
        // One bad entry spoils the list.
        vec![
            Acl::new(Perms::ALL, Id::anyone()),
            Acl::new(Perms::READ, Id::new("unknown", "x")),
        ],
    ];
    h.create_persistent("/a");
    for acl in bad_acls {
        let applied = h.write(
            0,
            create_with_acl("/b", acl.clone(), CreateMode::Persistent),
        );
        assert_code(&applied, ErrorCode::InvalidAcl);
        let applied = h.write(0, set_acl_op("/a", acl.clone(), -1));
        assert_code(&applied, ErrorCode::InvalidAcl);
        // Like ZooKeeper, setACL validates the ACL before looking the node up.
        let applied = h.write(0, set_acl_op("/missing", acl, -1));
        assert_code(&applied, ErrorCode::InvalidAcl);
    }
    // An anonymous caller has no identity for the auth scheme either.
    let session = h.open_session();
    let auth = vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""))];
    let applied = h.write(session, create_with_acl("/b", auth, CreateMode::Persistent));
    assert_code(&applied, ErrorCode::InvalidAcl);
}

#[test]
fn auth_acl_expands_to_the_callers_identities() {
    let mut h = Harness::new();
    let x509 = Id::new(Id::SCHEME_X509, "CN=traffic,O=City");
    let caller = caller_with(0, vec![Id::anyone(), alice(), x509.clone(), super_id()]);
    let acl = vec![
        Acl::new(Perms::READ | Perms::WRITE, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    h.write_as(caller, create_with_acl("/a", acl, CreateMode::Persistent))
        .result
        .unwrap();
    let expected = vec![
        Acl::new(Perms::READ | Perms::WRITE, alice()),
        Acl::new(Perms::READ | Perms::WRITE, x509),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    assert_eq!(
        h.tree.get_acl("/a", &[super_id()]).unwrap().0.to_vec(),
        expected
    );
}

#[test]
fn repeated_acl_entries_are_dropped_keeping_the_first() {
    let mut h = Harness::with_limits(small_limits());
    let read_alice = Acl::new(Perms::READ, alice());
    let all_bob = Acl::new(Perms::ALL, bob());
    let acl = vec![
        read_alice.clone(),
        all_bob.clone(),
        read_alice.clone(),
        Acl::new(Perms::READ, Id::anyone()),
        all_bob.clone(),
    ];
    // Five entries, three distinct: within acl_entries_max = 3.
    h.write(0, create_with_acl("/a", acl, CreateMode::Persistent))
        .result
        .unwrap();
    assert_eq!(
        h.tree.get_acl("/a", &[super_id()]).unwrap().0.to_vec(),
        vec![read_alice, all_bob, Acl::new(Perms::READ, Id::anyone())]
    );
}

#[test]
fn create_needs_create_permission_on_the_parent() {
    let mut h = Harness::new();
    let no_create = Perms(Perms::ALL.0 & !Perms::CREATE.0);
    h.write(
        0,
        create_with_acl(
            "/p",
            vec![
                Acl::new(no_create, Id::anyone()),
                Acl::new(Perms::CREATE, alice()),
            ],
            CreateMode::Persistent,
        ),
    )
    .result
    .unwrap();
    let applied = h.write(0, create_op("/p/c", b"", CreateMode::Persistent));
    assert_code(&applied, ErrorCode::NoAuth);
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { path, perm: "CREATE" } if path == "/p"
    ));
    h.write_as(
        caller_with(0, vec![alice()]),
        create_op("/p/c", b"", CreateMode::Persistent),
    )
    .result
    .unwrap();
    h.write_as(
        caller_with(0, vec![super_id()]),
        create_op("/p/d", b"", CreateMode::Persistent),
    )
    .result
    .unwrap();
}

#[test]
fn system_node_is_readable_and_writable_only_by_administrators() {
    let mut h = Harness::new();
    let session = h.open_session();
    let users = [
        Caller::anonymous(session),
        caller_with(session, vec![alice()]),
        caller_with(0, vec![]),
    ];
    for caller in users {
        for op in [
            create_op("/polis/x", b"", CreateMode::Persistent),
            set_data_op("/polis", b"x", -1),
            set_acl_op("/polis", Acl::open().to_vec(), -1),
            delete_op("/polis", -1),
        ] {
            let applied = h.write_as(caller.clone(), op);
            assert_code(&applied, ErrorCode::NoAuth);
        }
    }
    // Nobody but administrators may read it.
    assert!(h.tree.get_data("/polis", &[]).is_err());
    assert!(
        h.tree
            .get_data("/polis", &[Id::new(Id::SCHEME_SUPER, "admin")])
            .is_ok()
    );
    // The system writes below it.
    h.write_as(
        Caller::system(),
        create_op("/polis/config", b"c", CreateMode::Persistent),
    )
    .result
    .unwrap();
    h.write_as(Caller::system(), set_data_op("/polis", b"v", 0))
        .result
        .unwrap();
    // Even a caller whose ACL would allow the delete may not remove /polis itself.
    let applied = h.write_as(caller_with(0, vec![alice()]), delete_op("/polis", -1));
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { path, perm: "DELETE" } if path == "/polis"
    ));
    // Nor may an administrator, once it is empty: the cluster's plugins live below it.
    h.write_as(Caller::system(), delete_op("/polis/config", -1))
        .result
        .unwrap();
    let administrator = caller_with(0, vec![Id::new(Id::SCHEME_SUPER, "admin")]);
    let applied = h.write_as(administrator, delete_op("/polis", -1));
    assert_code(&applied, ErrorCode::BadArguments);
    assert!(h.tree.node("/polis").is_some());
}

// ------------------------------------------------------------------------------------------------
// Delete.

#[test]
fn delete_with_any_version_removes_the_node_and_updates_the_parent() {
    let mut h = Harness::new();
    h.create(0, "/p", b"", CreateMode::Persistent); // 1
    h.create(0, "/p/c", b"", CreateMode::Persistent); // 2
    h.write(0, set_data_op("/p/c", b"x", -1)).result.unwrap(); // 3
    let applied = h.write(0, delete_op("/p/c", -1)); // 4
    assert_eq!(applied.result, Ok(OpResult::Deleted));
    assert!(!h.exists("/p/c"));
    assert_eq!(
        h.stat("/p"),
        Stat {
            czxid: 1,
            mzxid: 1,
            ctime: time_of(1),
            mtime: time_of(1),
            version: 0,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
            pzxid: 4,
        }
    );
    assert!(h.children("/p").is_empty());
}

#[test]
fn delete_with_the_exact_version_succeeds() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.write(0, set_data_op("/a", b"1", 0)).result.unwrap();
    h.write(0, set_data_op("/a", b"2", 1)).result.unwrap();
    assert_eq!(h.write(0, delete_op("/a", 2)).result, Ok(OpResult::Deleted));
    assert!(!h.exists("/a"));
}

#[test]
fn delete_with_wrong_version_is_bad_version() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    let applied = h.write(0, delete_op("/a", 1));
    assert_code(&applied, ErrorCode::BadVersion);
    assert_eq!(
        applied.result,
        Err(TreeError::BadVersion {
            path: "/a".to_string(),
            expected: 1,
            actual: 0
        })
    );
    assert!(h.exists("/a"));
}

#[test]
fn delete_of_a_node_with_children_is_not_empty() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.create_persistent("/a/b");
    let applied = h.write(0, delete_op("/a", -1));
    assert_code(&applied, ErrorCode::NotEmpty);
    // The version is checked first, as in ZooKeeper.
    let applied = h.write(0, delete_op("/a", 5));
    assert_code(&applied, ErrorCode::BadVersion);
    assert!(h.exists("/a/b"));
}

#[test]
fn delete_of_a_missing_node_is_no_node() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    assert_code(&h.write(0, delete_op("/a/b", -1)), ErrorCode::NoNode);
    assert_code(&h.write(0, delete_op("/x/y", -1)), ErrorCode::NoNode);
}

#[test]
fn delete_of_the_root_is_bad_arguments() {
    let mut h = Harness::new();
    let applied = h.write_as(Caller::system(), delete_op("/", -1));
    assert!(matches!(error_of(&applied), TreeError::BadArguments { .. }));
}

#[test]
fn delete_needs_delete_permission_on_the_parent() {
    let mut h = Harness::new();
    let no_delete = Perms(Perms::ALL.0 & !Perms::DELETE.0);
    h.write(
        0,
        create_with_acl(
            "/p",
            vec![Acl::new(no_delete, Id::anyone())],
            CreateMode::Persistent,
        ),
    )
    .result
    .unwrap();
    // The child itself is open: its own ACL does not matter.
    h.create_persistent("/p/c");
    let applied = h.write(0, delete_op("/p/c", -1));
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { path, perm: "DELETE" } if path == "/p"
    ));
    // A read-only child under an open parent can be deleted.
    h.write(
        0,
        create_with_acl("/r", Acl::read_only().to_vec(), CreateMode::Persistent),
    )
    .result
    .unwrap();
    assert_eq!(
        h.write(0, delete_op("/r", -1)).result,
        Ok(OpResult::Deleted)
    );
}

#[test]
fn delete_fires_node_deleted_then_parent_children_changed() {
    let mut h = Harness::new();
    h.create_persistent("/p");
    h.create_persistent("/p/c");
    let applied = h.write(0, delete_op("/p/c", 0));
    assert_eq!(
        applied.events,
        vec![
            event(3, EventKind::NodeDeleted, "/p/c"),
            event(3, EventKind::NodeChildrenChanged, "/p"),
        ]
    );
}

// ------------------------------------------------------------------------------------------------
// Reads.

#[test]
fn exists_returns_the_stat_or_none_and_checks_no_acl() {
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/secret", alice_acl(Perms::ALL), CreateMode::Persistent),
    )
    .result
    .unwrap();
    assert_eq!(h.tree.exists("/missing"), Ok(None));
    let stat = h.tree.exists("/secret").unwrap().unwrap();
    assert_eq!(stat.czxid, 1);
}

#[test]
fn get_data_needs_read_permission() {
    let mut h = Harness::new();
    h.write(
        0,
        WriteOp::Create {
            path: "/secret".to_string(),
            data: Some(b"s".to_vec()),
            acl: alice_acl(Perms::READ),
            mode: CreateMode::Persistent,
        },
    )
    .result
    .unwrap();
    let error = h.tree.get_data("/secret", &[]).unwrap_err();
    assert_eq!(error.code(), ErrorCode::NoAuth);
    assert_eq!(
        h.tree.get_data("/secret", &[alice()]).unwrap().0,
        Some(&b"s"[..])
    );
    assert_eq!(
        h.tree.get_data("/secret", &[super_id()]).unwrap().0,
        Some(&b"s"[..])
    );
    assert_eq!(
        h.tree.get_children("/secret", &[bob()]).unwrap_err().code(),
        ErrorCode::NoAuth
    );
    assert_eq!(
        h.tree.count_descendants("/secret", &[]).unwrap_err().code(),
        ErrorCode::NoAuth
    );
}

#[test]
fn reads_of_a_missing_node_are_no_node() {
    let h = Harness::new();
    assert_eq!(
        h.tree.get_data("/x", &[]).unwrap_err(),
        TreeError::NoNode {
            path: "/x".to_string()
        }
    );
    assert_eq!(
        h.tree.get_children("/x", &[]).unwrap_err().code(),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.tree.get_acl("/x", &[super_id()]).unwrap_err().code(),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.tree.count_descendants("/x", &[]).unwrap_err().code(),
        ErrorCode::NoNode
    );
}

#[test]
fn get_children_lists_names_in_order_with_the_parent_stat() {
    let mut h = Harness::new();
    h.create_persistent("/p");
    for name in ["/p/b", "/p/a", "/p/c"] {
        h.create_persistent(name);
    }
    h.create_persistent("/p/a/deep");
    let (children, stat) = h.tree.get_children("/p", &[]).unwrap();
    assert_eq!(children, vec!["a", "b", "c"]);
    assert_eq!(stat, h.stat("/p"));
    assert_eq!((stat.num_children, stat.cversion, stat.pzxid), (3, 3, 4));
}

#[test]
fn count_descendants_counts_every_depth_and_only_below_the_node() {
    let mut h = Harness::new();
    for path in ["/a", "/a/b", "/a/b/c", "/a/d", "/ab", "/a0"] {
        h.create_persistent(path);
    }
    assert_eq!(h.tree.count_descendants("/a", &[]).unwrap(), 3);
    assert_eq!(h.tree.count_descendants("/a/b", &[]).unwrap(), 1);
    assert_eq!(h.tree.count_descendants("/a/b/c", &[]).unwrap(), 0);
    // The root counts every node but itself, /polis included.
    assert_eq!(h.tree.count_descendants("/", &[]).unwrap(), 7);
}

#[test]
fn ephemerals_lists_a_sessions_nodes_by_string_prefix() {
    let mut h = Harness::new();
    let one = h.open_session();
    let two = h.open_session();
    h.create_persistent("/app");
    h.create(one, "/app/e1", b"", CreateMode::Ephemeral);
    h.create(two, "/app/e2", b"", CreateMode::Ephemeral);
    h.create(one, "/apple", b"", CreateMode::Ephemeral);
    h.create(one, "/other", b"", CreateMode::Ephemeral);
    assert_eq!(
        h.tree.ephemerals(one, "/"),
        vec!["/app/e1", "/apple", "/other"]
    );
    assert_eq!(h.tree.ephemerals(one, ""), h.tree.ephemerals(one, "/"));
    // ZooKeeper's getEphemerals matches a plain string prefix.
    assert_eq!(h.tree.ephemerals(one, "/app"), vec!["/app/e1", "/apple"]);
    assert_eq!(h.tree.ephemerals(one, "/app/"), vec!["/app/e1"]);
    assert_eq!(h.tree.ephemerals(two, "/"), vec!["/app/e2"]);
    assert!(h.tree.ephemerals(999, "/").is_empty());
}

#[test]
fn get_acl_returns_the_acl_and_the_stat() {
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/a", alice_acl(Perms::READ), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let (acl, stat) = h.tree.get_acl("/a", &[super_id()]).unwrap();
    assert_eq!(acl.to_vec(), alice_acl(Perms::READ));
    assert_eq!(stat, h.stat("/a"));
}

#[test]
fn get_acl_needs_read_or_admin() {
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/readable", alice_acl(Perms::READ), CreateMode::Persistent),
    )
    .result
    .unwrap();
    h.write(
        0,
        create_with_acl(
            "/administered",
            alice_acl(Perms::ADMIN),
            CreateMode::Persistent,
        ),
    )
    .result
    .unwrap();
    h.write(
        0,
        create_with_acl("/writable", alice_acl(Perms::WRITE), CreateMode::Persistent),
    )
    .result
    .unwrap();
    assert!(h.tree.get_acl("/readable", &[alice()]).is_ok());
    assert!(h.tree.get_acl("/administered", &[alice()]).is_ok());
    for (path, ids) in [("/readable", vec![bob()]), ("/writable", vec![alice()])] {
        let error = h.tree.get_acl(path, &ids).unwrap_err();
        assert_eq!(error.code(), ErrorCode::NoAuth, "{path} as {ids:?}");
    }
}

#[test]
fn get_acl_shows_digest_hashes_only_to_callers_with_admin() {
    // ZooKeeper since 3.4.14/3.5.5 (CVE-2019-0201): readers see `user:x`, administrators the hash.
    let mut h = Harness::new();
    let acl = vec![
        Acl::new(Perms::READ, alice()),
        Acl::new(Perms::ALL, bob()),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    h.write(
        0,
        create_with_acl("/a", acl.clone(), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let (seen_by_reader, _) = h.tree.get_acl("/a", &[alice()]).unwrap();
    assert_eq!(
        seen_by_reader.to_vec(),
        vec![
            Acl::new(Perms::READ, Id::new(Id::SCHEME_DIGEST, "alice:x")),
            Acl::new(Perms::ALL, Id::new(Id::SCHEME_DIGEST, "bob:x")),
            Acl::new(Perms::READ, Id::anyone()),
        ]
    );
    assert_eq!(h.tree.get_acl("/a", &[bob()]).unwrap().0.to_vec(), acl);
    assert_eq!(h.tree.get_acl("/a", &[super_id()]).unwrap().0.to_vec(), acl);
}

// ------------------------------------------------------------------------------------------------
// Set data.

#[test]
fn set_data_bumps_version_mzxid_and_mtime_only() {
    let mut h = Harness::new();
    h.create(0, "/a", b"one", CreateMode::Persistent); // 1
    h.create_persistent("/a/child"); // 2
    let applied = h.write(0, set_data_op("/a", b"three", 0)); // 3
    let expected = Stat {
        czxid: 1,
        mzxid: 3,
        ctime: time_of(1),
        mtime: time_of(3),
        version: 1,
        cversion: 1,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 1,
        pzxid: 2,
    };
    assert_eq!(applied.result, Ok(OpResult::DataSet { stat: expected }));
    assert_eq!(
        h.tree.get_data("/a", &[]).unwrap(),
        (Some(&b"three"[..]), expected)
    );
    assert_eq!(
        applied.events,
        vec![event(3, EventKind::NodeDataChanged, "/a")]
    );
}

#[test]
fn set_data_is_a_compare_and_set_on_the_version() {
    let mut h = Harness::new();
    h.create_persistent("/counter");
    for expected_version in 0..5 {
        let applied = h.write(0, set_data_op("/counter", b"n", expected_version));
        let Ok(OpResult::DataSet { stat }) = applied.result else {
            panic!("{applied:?}");
        };
        assert_eq!(stat.version, expected_version + 1);
    }
    // A writer holding a stale version loses.
    let applied = h.write(0, set_data_op("/counter", b"stale", 3));
    assert_eq!(
        applied.result,
        Err(TreeError::BadVersion {
            path: "/counter".to_string(),
            expected: 3,
            actual: 5
        })
    );
    assert_eq!(h.tree.get_data("/counter", &[]).unwrap().0, Some(&b"n"[..]));
    // -1 matches any version.
    h.write(0, set_data_op("/counter", b"any", -1))
        .result
        .unwrap();
    assert_eq!(h.stat("/counter").version, 6);
}

#[test]
fn set_data_of_a_missing_node_is_no_node() {
    let mut h = Harness::new();
    assert_code(&h.write(0, set_data_op("/x", b"", -1)), ErrorCode::NoNode);
}

#[test]
fn set_data_needs_write_permission() {
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/ro", Acl::read_only().to_vec(), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let applied = h.write(0, set_data_op("/ro", b"x", -1));
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { perm: "WRITE", .. }
    ));
    h.write_as(
        caller_with(0, vec![super_id()]),
        set_data_op("/ro", b"x", -1),
    )
    .result
    .unwrap();
}

#[test]
fn data_version_after_minus_two_is_zero() {
    // ZOOKEEPER-4743: a version never becomes -1, which would mean "any version" in a request.
    let mut state = DataTree::new(Limits::default()).to_state();
    let mut record = state.nodes[1].1.clone();
    record.version = -2;
    record.aversion = -2;
    state.nodes.push(("/wrapped".to_string(), record));
    let mut h = Harness::new();
    h.tree = DataTree::from_state(Limits::default(), state).unwrap();
    h.write_as(Caller::system(), set_data_op("/wrapped", b"", -2))
        .result
        .unwrap();
    h.write_as(
        Caller::system(),
        set_acl_op("/wrapped", Acl::open().to_vec(), -2),
    )
    .result
    .unwrap();
    let stat = h.stat("/wrapped");
    assert_eq!((stat.version, stat.aversion), (0, 0));
    // And i32::MAX wraps to i32::MIN.
    let mut state = h.tree.to_state();
    state
        .nodes
        .iter_mut()
        .find(|(path, _)| path == "/wrapped")
        .unwrap()
        .1
        .version = i32::MAX;
    h.tree = DataTree::from_state(Limits::default(), state).unwrap();
    h.write_as(Caller::system(), set_data_op("/wrapped", b"", i32::MAX))
        .result
        .unwrap();
    assert_eq!(h.stat("/wrapped").version, i32::MIN);
}

// ------------------------------------------------------------------------------------------------
// Set ACL.

#[test]
fn set_acl_bumps_aversion_only_and_fires_nothing() {
    let mut h = Harness::new();
    h.create(0, "/a", b"d", CreateMode::Persistent); // 1
    let applied = h.write(0, set_acl_op("/a", alice_acl(Perms::ALL), 0)); // 2
    let expected = Stat {
        czxid: 1,
        mzxid: 1,
        ctime: time_of(1),
        mtime: time_of(1),
        version: 0,
        cversion: 0,
        aversion: 1,
        ephemeral_owner: 0,
        data_length: 1,
        num_children: 0,
        pzxid: 1,
    };
    assert_eq!(applied.result, Ok(OpResult::AclSet { stat: expected }));
    assert!(applied.events.is_empty());
    assert_eq!(
        h.tree.get_acl("/a", &[super_id()]).unwrap().0.to_vec(),
        alice_acl(Perms::ALL)
    );
    // The new ACL is in force at once.
    assert_eq!(
        h.tree.get_data("/a", &[]).unwrap_err().code(),
        ErrorCode::NoAuth
    );
}

#[test]
fn set_acl_with_wrong_aversion_is_bad_version() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.write(0, set_data_op("/a", b"x", -1)).result.unwrap();
    // The data version is 1 but the ACL version is 0: setACL compares the ACL version.
    let applied = h.write(0, set_acl_op("/a", Acl::read_only().to_vec(), 1));
    assert_eq!(
        applied.result,
        Err(TreeError::BadVersion {
            path: "/a".to_string(),
            expected: 1,
            actual: 0
        })
    );
    h.write(0, set_acl_op("/a", Acl::read_only().to_vec(), 0))
        .result
        .unwrap();
    assert_eq!(h.stat("/a").aversion, 1);
}

#[test]
fn set_acl_needs_admin_permission() {
    let mut h = Harness::new();
    let no_admin = Perms(Perms::ALL.0 & !Perms::ADMIN.0);
    h.write(
        0,
        create_with_acl(
            "/a",
            vec![
                Acl::new(no_admin, Id::anyone()),
                Acl::new(Perms::ADMIN, alice()),
            ],
            CreateMode::Persistent,
        ),
    )
    .result
    .unwrap();
    let applied = h.write(0, set_acl_op("/a", Acl::open().to_vec(), -1));
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { perm: "ADMIN", .. }
    ));
    h.write_as(
        caller_with(0, vec![alice()]),
        set_acl_op("/a", Acl::open().to_vec(), -1),
    )
    .result
    .unwrap();
}

#[test]
fn set_acl_of_a_missing_node_is_no_node() {
    let mut h = Harness::new();
    assert_code(
        &h.write(0, set_acl_op("/x", Acl::open().to_vec(), -1)),
        ErrorCode::NoNode,
    );
}

// ------------------------------------------------------------------------------------------------
// Check.

#[test]
fn check_compares_the_data_version_and_changes_nothing() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.write(0, set_data_op("/a", b"x", -1)).result.unwrap();
    let before = h.tree.to_state();
    let applied = h.write(0, check_op("/a", 1));
    assert_eq!(applied.result, Ok(OpResult::Checked));
    assert!(applied.events.is_empty());
    assert_eq!(h.write(0, check_op("/a", -1)).result, Ok(OpResult::Checked));
    assert_code(&h.write(0, check_op("/a", 0)), ErrorCode::BadVersion);
    assert_code(&h.write(0, check_op("/b", -1)), ErrorCode::NoNode);
    let after = h.tree.to_state();
    assert_eq!(after.nodes, before.nodes);
    assert_eq!(after.last_zxid, before.last_zxid + 4);
}

#[test]
fn check_needs_read_permission() {
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/a", alice_acl(Perms::ALL), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let applied = h.write(0, check_op("/a", 0));
    assert!(matches!(
        error_of(&applied),
        TreeError::NoAuth { perm: "READ", .. }
    ));
    h.write_as(caller_with(0, vec![alice()]), check_op("/a", 0))
        .result
        .unwrap();
}

// ------------------------------------------------------------------------------------------------
// Multi.

#[test]
fn multi_applies_every_op_at_one_zxid_and_returns_results_in_order() {
    let mut h = Harness::new();
    h.create_persistent("/a"); // 1
    let applied = h.multi(
        0,
        vec![
            create_op("/a/b", b"b", CreateMode::Persistent),
            set_data_op("/a", b"new", 0),
            check_op("/a", 1),
            set_acl_op("/a", Acl::open().to_vec(), 0),
            delete_op("/a/b", 0),
        ],
    ); // 2
    let b_stat = Stat {
        czxid: 2,
        mzxid: 2,
        ctime: time_of(2),
        mtime: time_of(2),
        data_length: 1,
        pzxid: 2,
        ..Stat::default()
    };
    // setData sees the child that the multi created before it.
    let a_after_set = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: time_of(1),
        mtime: time_of(2),
        version: 1,
        cversion: 1,
        data_length: 3,
        num_children: 1,
        pzxid: 2,
        ..Stat::default()
    };
    let a_after_acl = Stat {
        aversion: 1,
        ..a_after_set
    };
    assert_eq!(
        applied.result,
        Ok(OpResult::Multi(vec![
            OpResult::Created {
                path: "/a/b".to_string(),
                stat: b_stat
            },
            OpResult::DataSet { stat: a_after_set },
            OpResult::Checked,
            OpResult::AclSet { stat: a_after_acl },
            OpResult::Deleted,
        ]))
    );
    assert_eq!(
        applied.events,
        vec![
            event(2, EventKind::NodeCreated, "/a/b"),
            event(2, EventKind::NodeChildrenChanged, "/a"),
            event(2, EventKind::NodeDataChanged, "/a"),
            event(2, EventKind::NodeDeleted, "/a/b"),
            event(2, EventKind::NodeChildrenChanged, "/a"),
        ]
    );
    assert_eq!(
        h.stat("/a"),
        Stat {
            cversion: 1,
            num_children: 0,
            ..a_after_acl
        }
    );
}

#[test]
fn sequential_creates_in_one_multi_get_consecutive_numbers() {
    let mut h = Harness::new();
    h.create_persistent("/q");
    let applied = h.multi(
        0,
        vec![
            create_op("/q/", b"", CreateMode::PersistentSequential),
            create_op("/q/", b"", CreateMode::PersistentSequential),
        ],
    );
    let Ok(OpResult::Multi(results)) = applied.result else {
        panic!("{applied:?}");
    };
    let paths: Vec<_> = results
        .iter()
        .map(|result| match result {
            OpResult::Created { path, .. } => path.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(paths, vec!["/q/0000000000", "/q/0000000001"]);
}

#[test]
fn failed_multi_changes_nothing_and_reports_per_op_results() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create_persistent("/a");
    h.create(session, "/a/e", b"", CreateMode::Ephemeral);
    let before = h.tree.to_state();
    let ops = vec![
        create_op("/a/q-", b"", CreateMode::PersistentSequential),
        set_data_op("/a", b"x", 0),
        delete_op("/a/e", -1),
        set_acl_op("/a", Acl::read_only().to_vec(), 0),
        delete_op("/missing", -1),
        create_op("/never", b"", CreateMode::Persistent),
    ];
    let applied = h.multi(session, ops.clone());
    let Err(TreeError::MultiFailed { index, error }) = &applied.result else {
        panic!("{applied:?}");
    };
    assert_eq!(*index, 4);
    assert_eq!(
        **error,
        TreeError::NoNode {
            path: "/missing".to_string()
        }
    );
    // The multi fails with the code of the failed operation.
    assert_code(&applied, ErrorCode::NoNode);
    assert_eq!(
        MultiOpResult::for_failure(ops.len(), *index, error),
        vec![
            MultiOpResult::RolledBack,
            MultiOpResult::RolledBack,
            MultiOpResult::RolledBack,
            MultiOpResult::RolledBack,
            MultiOpResult::Failed(TreeError::NoNode {
                path: "/missing".to_string()
            }),
            MultiOpResult::NotAttempted,
        ]
    );
    let after = h.tree.to_state();
    assert_eq!(after.nodes, before.nodes);
    assert_eq!(after.sessions, before.sessions);
    assert_eq!(after.history, before.history);
    assert_eq!(after.last_zxid, before.last_zxid + 1);
    // The rolled-back delete gave the ephemeral back to its session, and the rolled-back create
    // gave the sequence number back.
    assert_eq!(h.tree.ephemerals(session, "/"), vec!["/a/e"]);
    let name = h.create(0, "/a/q-", b"", CreateMode::PersistentSequential);
    assert_eq!(name, "/a/q-0000000001");
}

#[test]
fn multi_failing_on_its_first_op_reports_the_rest_not_attempted() {
    let mut h = Harness::new();
    let ops = vec![
        check_op("/x", -1),
        create_op("/y", b"", CreateMode::Persistent),
    ];
    let applied = h.multi(0, ops.clone());
    let Err(TreeError::MultiFailed { index, error }) = &applied.result else {
        panic!("{applied:?}");
    };
    assert_eq!(
        MultiOpResult::for_failure(ops.len(), *index, error),
        vec![
            MultiOpResult::Failed(TreeError::NoNode {
                path: "/x".to_string()
            }),
            MultiOpResult::NotAttempted,
        ]
    );
    assert!(!h.exists("/y"));
}

#[test]
fn multi_reports_the_code_of_each_kind_of_failure() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.create_persistent("/a/b");
    let cases = vec![
        (
            create_op("/a", b"", CreateMode::Persistent),
            ErrorCode::NodeExists,
        ),
        (delete_op("/a", -1), ErrorCode::NotEmpty),
        (check_op("/a", 3), ErrorCode::BadVersion),
        (set_acl_op("/a", vec![], -1), ErrorCode::InvalidAcl),
        (set_data_op("/a/", b"", -1), ErrorCode::BadArguments),
    ];
    for (op, code) in cases {
        let applied = h.multi(0, vec![create_op("/ok", b"", CreateMode::Persistent), op]);
        assert!(matches!(
            error_of(&applied),
            TreeError::MultiFailed { index: 1, .. }
        ));
        assert_code(&applied, code);
        assert!(!h.exists("/ok"));
    }
}

#[test]
fn empty_multi_succeeds_with_no_results() {
    let mut h = Harness::new();
    let applied = h.multi(0, vec![]);
    assert_eq!(applied.result, Ok(OpResult::Multi(vec![])));
    assert!(applied.events.is_empty());
}

// ------------------------------------------------------------------------------------------------
// Sessions.

#[test]
fn open_session_takes_the_zxid_as_id_and_clamps_the_timeout() {
    let mut h = Harness::new();
    let requested = [
        (10_000, 10_000),
        (1, 2_000),
        (i32::MAX, 120_000),
        (-5, 2_000),
    ];
    for (timeout_ms, negotiated) in requested {
        let zxid = h.next_zxid;
        let applied = h.apply(TxnKind::OpenSession {
            timeout_ms,
            password: [9; 16],
        });
        assert_eq!(
            applied.result,
            Ok(OpResult::SessionOpened {
                session_id: zxid,
                timeout_ms: negotiated
            })
        );
        assert!(applied.events.is_empty());
        let session = h.tree.sessions().get(zxid).unwrap();
        assert_eq!(
            (session.timeout_ms, session.password),
            (negotiated, [9; 16])
        );
    }
    assert_eq!(h.tree.sessions().len(), 4);
}

#[test]
fn ephemeral_node_is_removed_when_session_closes() {
    let mut h = Harness::new();
    let session = h.open_session(); // 1
    let other = h.open_session(); // 2
    h.create_persistent("/b"); // 3
    h.create(session, "/b/e2", b"", CreateMode::Ephemeral); // 4
    h.create(session, "/a", b"", CreateMode::Ephemeral); // 5
    h.create(other, "/b/kept", b"", CreateMode::Ephemeral); // 6
    h.create(session, "/b/e1", b"", CreateMode::Ephemeral); // 7
    let applied = h.close_session(session, CloseReason::Closed); // 8
    assert_eq!(
        applied.result,
        Ok(OpResult::SessionClosed {
            ephemerals_deleted: vec!["/a".into(), "/b/e1".into(), "/b/e2".into()]
        })
    );
    // In path order, every event at the close's zxid.
    assert_eq!(
        applied.events,
        vec![
            event(8, EventKind::NodeDeleted, "/a"),
            event(8, EventKind::NodeChildrenChanged, "/"),
            event(8, EventKind::NodeDeleted, "/b/e1"),
            event(8, EventKind::NodeChildrenChanged, "/b"),
            event(8, EventKind::NodeDeleted, "/b/e2"),
            event(8, EventKind::NodeChildrenChanged, "/b"),
        ]
    );
    assert!(!h.exists("/a") && !h.exists("/b/e1") && !h.exists("/b/e2"));
    assert!(h.exists("/b/kept"));
    let b = h.stat("/b");
    assert_eq!((b.cversion, b.pzxid, b.num_children), (3, 8, 1));
    assert!(!h.tree.sessions().contains(session));
    assert!(h.tree.ephemerals(session, "/").is_empty());
    assert_eq!(h.tree.ephemerals(other, "/"), vec!["/b/kept"]);
}

#[test]
fn session_expiry_deletes_ephemerals_like_a_close() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/e", b"", CreateMode::Ephemeral);
    let applied = h.close_session(session, CloseReason::Expired);
    assert_eq!(
        applied.result,
        Ok(OpResult::SessionClosed {
            ephemerals_deleted: vec!["/e".into()]
        })
    );
    assert_eq!(applied.events.len(), 2);
    assert!(!h.exists("/e"));
}

#[test]
fn closing_an_unknown_session_is_session_expired() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.close_session(session, CloseReason::Closed)
        .result
        .unwrap();
    for session_id in [session, 12_345, 0] {
        let applied = h.close_session(session_id, CloseReason::Expired);
        assert_eq!(
            applied.result,
            Err(TreeError::SessionExpired { session_id })
        );
    }
}

#[test]
fn an_ephemeral_deleted_by_hand_is_no_longer_the_sessions() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/e", b"", CreateMode::Ephemeral);
    h.write(0, delete_op("/e", -1)).result.unwrap();
    assert!(h.tree.ephemerals(session, "/").is_empty());
    let applied = h.close_session(session, CloseReason::Closed);
    assert_eq!(
        applied.result,
        Ok(OpResult::SessionClosed {
            ephemerals_deleted: vec![]
        })
    );
    assert!(applied.events.is_empty());
}

// ------------------------------------------------------------------------------------------------
// Containers and TTL nodes.

#[test]
fn container_is_removed_once_its_last_child_goes() {
    let mut h = Harness::new();
    h.create(0, "/c", b"", CreateMode::Container); // 1
    h.create_persistent("/c/x"); // 2
    assert!(h.tree.expired_nodes(h.now_ms).is_empty());
    h.write(0, delete_op("/c/x", -1)).result.unwrap(); // 3
    assert_eq!(h.tree.expired_nodes(h.now_ms), vec!["/c"]);
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/c".to_string(),
    }); // 4
    assert_eq!(applied.result, Ok(OpResult::NodeRemoved));
    assert_eq!(
        applied.events,
        vec![
            event(4, EventKind::NodeDeleted, "/c"),
            event(4, EventKind::NodeChildrenChanged, "/"),
        ]
    );
    assert!(!h.exists("/c"));
    assert!(h.tree.expired_nodes(h.now_ms).is_empty());
}

#[test]
fn container_that_never_had_a_child_is_not_expired() {
    let mut h = Harness::new();
    h.create(0, "/c", b"", CreateMode::Container);
    h.now_ms += 1_000_000_000;
    assert!(h.tree.expired_nodes(h.now_ms).is_empty());
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/c".to_string(),
    });
    assert_eq!(
        applied.result,
        Err(TreeError::NotExpired {
            path: "/c".to_string()
        })
    );
    assert_code(&applied, ErrorCode::BadArguments);
    assert!(h.exists("/c"));
}

#[test]
fn container_that_gained_a_child_again_is_kept() {
    let mut h = Harness::new();
    h.create(0, "/c", b"", CreateMode::Container);
    h.create_persistent("/c/x");
    h.write(0, delete_op("/c/x", -1)).result.unwrap();
    // The leader saw it expired and proposed the removal; a child arrived before it applied.
    assert_eq!(h.tree.expired_nodes(h.now_ms), vec!["/c"]);
    h.create_persistent("/c/y");
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/c".to_string(),
    });
    assert_code(&applied, ErrorCode::NotEmpty);
    assert!(h.exists("/c/y"));
}

#[test]
fn ttl_node_expires_only_after_its_ttl_without_modification() {
    let mut h = Harness::new();
    let created_at = h.now_ms;
    h.create(
        0,
        "/t",
        b"",
        CreateMode::PersistentWithTtl { ttl_ms: 5_000 },
    );
    // Exactly at the TTL it is not expired yet.
    assert!(h.tree.expired_nodes(created_at + 5_000).is_empty());
    assert_eq!(h.tree.expired_nodes(created_at + 5_001), vec!["/t"]);
    // The leader proposes with a time at which it has not expired: refused.
    h.now_ms = created_at + 4_000;
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/t".to_string(),
    });
    assert_eq!(
        applied.result,
        Err(TreeError::NotExpired {
            path: "/t".to_string()
        })
    );
    // A write refreshes the node.
    h.now_ms = created_at + 5_000;
    let modified_at = h.now_ms;
    h.write(0, set_data_op("/t", b"keepalive", -1))
        .result
        .unwrap();
    h.now_ms = created_at + 9_000;
    assert!(h.tree.expired_nodes(h.now_ms).is_empty());
    assert_code(
        &h.apply(TxnKind::RemoveExpiredNode {
            path: "/t".to_string(),
        }),
        ErrorCode::BadArguments,
    );
    h.now_ms = modified_at + 5_001;
    let zxid = h.next_zxid;
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/t".to_string(),
    });
    assert_eq!(applied.result, Ok(OpResult::NodeRemoved));
    assert_eq!(
        applied.events,
        vec![
            event(zxid, EventKind::NodeDeleted, "/t"),
            event(zxid, EventKind::NodeChildrenChanged, "/"),
        ]
    );
}

#[test]
fn ttl_node_with_a_child_is_not_expired() {
    let mut h = Harness::new();
    h.create(0, "/t", b"", CreateMode::PersistentWithTtl { ttl_ms: 10 });
    h.create_persistent("/t/c");
    h.now_ms += 1_000_000;
    assert!(h.tree.expired_nodes(h.now_ms).is_empty());
    assert_code(
        &h.apply(TxnKind::RemoveExpiredNode {
            path: "/t".to_string(),
        }),
        ErrorCode::NotEmpty,
    );
    // A child does not refresh the TTL: once it goes, the node is expired at once.
    h.write(0, delete_op("/t/c", -1)).result.unwrap();
    assert_eq!(h.tree.expired_nodes(h.now_ms), vec!["/t"]);
}

#[test]
fn remove_expired_of_other_nodes_is_refused() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create_persistent("/p");
    h.create(session, "/e", b"", CreateMode::Ephemeral);
    h.now_ms += 1_000_000_000;
    for path in ["/p", "/e", "/", "/polis"] {
        let applied = h.apply(TxnKind::RemoveExpiredNode {
            path: path.to_string(),
        });
        assert!(
            matches!(
                error_of(&applied),
                TreeError::NotExpired { .. } | TreeError::NotEmpty { .. }
            ),
            "{path}: {applied:?}"
        );
    }
    assert_code(
        &h.apply(TxnKind::RemoveExpiredNode {
            path: "/missing".to_string(),
        }),
        ErrorCode::NoNode,
    );
}

#[test]
fn expired_nodes_are_listed_in_path_order() {
    let mut h = Harness::new();
    h.create(0, "/z", b"", CreateMode::PersistentWithTtl { ttl_ms: 1 });
    h.create(0, "/b", b"", CreateMode::Container);
    h.create_persistent("/b/x");
    h.write(0, delete_op("/b/x", -1)).result.unwrap();
    h.create(
        0,
        "/a-",
        b"",
        CreateMode::PersistentSequentialWithTtl { ttl_ms: 1 },
    );
    h.now_ms += 10;
    assert_eq!(
        h.tree.expired_nodes(h.now_ms),
        vec!["/a-0000000002", "/b", "/z"]
    );
}

// ------------------------------------------------------------------------------------------------
// Limits.

#[test]
fn data_len_max_bounds_create_and_set_data() {
    let mut h = Harness::with_limits(small_limits());
    let max = small_limits().data_len_max;
    h.create(0, "/a", &vec![1; max], CreateMode::Persistent);
    let applied = h.write(
        0,
        create_op("/b", &vec![1; max + 1], CreateMode::Persistent),
    );
    assert_eq!(
        applied.result,
        Err(TreeError::LimitExceeded {
            limit: "data_len_max",
            max
        })
    );
    assert_code(&applied, ErrorCode::BadArguments);
    let applied = h.write(0, set_data_op("/a", &vec![2; max + 1], -1));
    assert!(matches!(
        error_of(&applied),
        TreeError::LimitExceeded {
            limit: "data_len_max",
            ..
        }
    ));
    assert_eq!(h.stat("/a").data_length, max as i32);
}

#[test]
fn path_len_max_bounds_paths_including_the_sequence_suffix() {
    let mut h = Harness::with_limits(small_limits());
    let max = small_limits().path_len_max;
    let longest = format!("/{}", "a".repeat(max - 1));
    h.create_persistent(&longest);
    let too_long = format!("/{}", "b".repeat(max));
    let applied = h.write(0, create_op(&too_long, b"", CreateMode::Persistent));
    assert!(matches!(error_of(&applied), TreeError::InvalidPath { .. }));
    assert_code(&applied, ErrorCode::BadArguments);
    assert!(h.tree.exists(&too_long).is_err());
    // The requested prefix fits, the suffixed name does not.
    let prefix = format!("/{}", "s".repeat(max - 10));
    let applied = h.write(0, create_op(&prefix, b"", CreateMode::PersistentSequential));
    assert!(matches!(error_of(&applied), TreeError::InvalidPath { .. }));
    let prefix = format!("/{}", "s".repeat(max - 11));
    let name = h.create(0, &prefix, b"", CreateMode::PersistentSequential);
    assert_eq!(name.len(), max);
}

#[test]
fn children_max_bounds_children_of_one_node() {
    let mut h = Harness::with_limits(small_limits());
    h.create_persistent("/p");
    for index in 0..small_limits().children_max {
        h.create_persistent(&format!("/p/{index}"));
    }
    let applied = h.write(0, create_op("/p/x", b"", CreateMode::Persistent));
    assert_eq!(
        applied.result,
        Err(TreeError::LimitExceeded {
            limit: "children_max",
            max: small_limits().children_max
        })
    );
    // Deeper nodes are not children of /p.
    h.create_persistent("/p/0/deeper");
}

#[test]
fn nodes_max_bounds_the_whole_tree_root_included() {
    let limits = Limits {
        nodes_max: 5,
        ..small_limits()
    };
    let mut h = Harness::with_limits(limits);
    for path in ["/a", "/b", "/a/c"] {
        h.create_persistent(path);
    }
    assert_eq!(h.tree.node_count(), 5);
    let applied = h.write(0, create_op("/d", b"", CreateMode::Persistent));
    assert_eq!(
        applied.result,
        Err(TreeError::LimitExceeded {
            limit: "nodes_max",
            max: 5
        })
    );
    h.write(0, delete_op("/b", -1)).result.unwrap();
    h.create_persistent("/d");
}

#[test]
fn multi_ops_max_bounds_a_multi() {
    let mut h = Harness::with_limits(small_limits());
    let max = small_limits().multi_ops_max;
    let ops: Vec<_> = (0..max).map(|_| check_op("/", -1)).collect();
    assert_eq!(
        h.multi(0, ops).result,
        Ok(OpResult::Multi(vec![OpResult::Checked; max]))
    );
    let ops: Vec<_> = (0..=max).map(|_| check_op("/", -1)).collect();
    let applied = h.multi(0, ops);
    // The whole request is refused, not one operation of it.
    assert_eq!(
        applied.result,
        Err(TreeError::LimitExceeded {
            limit: "multi_ops_max",
            max
        })
    );
}

#[test]
fn acl_entries_max_bounds_acls_after_expansion() {
    let mut h = Harness::with_limits(small_limits());
    let max = small_limits().acl_entries_max;
    let entries = |count: usize| -> Vec<Acl> {
        (0..count)
            .map(|index| Acl::new(Perms::ALL, Id::new(Id::SCHEME_X509, format!("CN={index}"))))
            .collect()
    };
    h.write(
        0,
        create_with_acl("/a", entries(max), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let limit = Err(TreeError::LimitExceeded {
        limit: "acl_entries_max",
        max,
    });
    let applied = h.write(
        0,
        create_with_acl("/b", entries(max + 1), CreateMode::Persistent),
    );
    assert_eq!(applied.result, limit);
    let applied = h.write_as(
        caller_with(0, vec![super_id()]),
        set_acl_op("/a", entries(max + 1), -1),
    );
    assert_eq!(applied.result, limit);
    // One "auth" entry becomes one entry per identity of the caller.
    let caller = caller_with(
        0,
        (0..=max)
            .map(|index| Id::new(Id::SCHEME_X509, format!("CN={index}")))
            .collect(),
    );
    let auth = vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""))];
    let applied = h.write_as(caller, create_with_acl("/c", auth, CreateMode::Persistent));
    assert_eq!(applied.result, limit);
}

#[test]
fn sessions_max_bounds_open_sessions() {
    let mut h = Harness::with_limits(small_limits());
    let sessions: Vec<_> = (0..small_limits().sessions_max)
        .map(|_| h.open_session())
        .collect();
    let applied = h.apply(TxnKind::OpenSession {
        timeout_ms: 5_000,
        password: [0; 16],
    });
    assert_eq!(
        applied.result,
        Err(TreeError::LimitExceeded {
            limit: "sessions_max",
            max: small_limits().sessions_max
        })
    );
    h.close_session(sessions[0], CloseReason::Closed)
        .result
        .unwrap();
    h.open_session();
}

#[test]
fn ephemerals_per_session_max_bounds_a_sessions_ephemerals() {
    let mut h = Harness::with_limits(Limits {
        children_max: 100,
        ..small_limits()
    });
    let session = h.open_session();
    let other = h.open_session();
    let max = small_limits().ephemerals_per_session_max;
    for index in 0..max {
        h.create(session, &format!("/e{index}"), b"", CreateMode::Ephemeral);
    }
    for mode in [CreateMode::Ephemeral, CreateMode::EphemeralSequential] {
        let applied = h.write(session, create_op("/x", b"", mode));
        assert_eq!(
            applied.result,
            Err(TreeError::LimitExceeded {
                limit: "ephemerals_per_session_max",
                max
            })
        );
    }
    // Persistent nodes and other sessions are not bounded by it.
    h.create(session, "/p", b"", CreateMode::Persistent);
    h.create(other, "/o", b"", CreateMode::Ephemeral);
    h.write(session, delete_op("/e0", -1)).result.unwrap();
    h.create(session, "/x", b"", CreateMode::Ephemeral);
}

// ------------------------------------------------------------------------------------------------
// Zxids.

#[test]
fn zxid_not_above_the_last_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    h.create_persistent("/a"); // 1
    h.create_persistent("/b"); // 2
    let before = h.tree.to_state();
    for zxid in [2, 1, 0, -7] {
        let applied = h.tree.apply(&Txn {
            zxid,
            time_ms: START_MS,
            kind: TxnKind::Write {
                caller: Caller::system(),
                op: create_op("/c", b"", CreateMode::Persistent),
            },
        });
        assert_eq!(
            applied.result,
            Err(TreeError::ZxidOutOfOrder { zxid, last_zxid: 2 })
        );
        assert_eq!(error_of(&applied).code(), ErrorCode::RuntimeInconsistency);
        assert!(applied.events.is_empty());
    }
    assert_eq!(h.tree.to_state(), before);
    assert!(h.tree.take_changes().nodes.contains_key("/b"));
}

#[test]
fn failed_and_noop_transactions_still_advance_the_last_zxid() {
    let mut h = Harness::new();
    h.apply(TxnKind::Noop).result.unwrap();
    assert_eq!(h.tree.last_zxid(), 1);
    assert_code(&h.write(0, delete_op("/x", -1)), ErrorCode::NoNode);
    assert_eq!(h.tree.last_zxid(), 2);
    // Zxids may skip numbers.
    let applied = h.tree.apply(&Txn {
        zxid: 10,
        time_ms: START_MS,
        kind: TxnKind::Noop,
    });
    assert_eq!(applied.result, Ok(OpResult::Noop));
    assert!(applied.events.is_empty());
    assert_eq!(h.tree.last_zxid(), 10);
}

// ------------------------------------------------------------------------------------------------
// History.

#[test]
fn history_resumes_with_every_event_after_a_zxid() {
    let mut h = Harness::new();
    h.create_persistent("/a"); // 1
    h.write(0, set_data_op("/a", b"x", -1)).result.unwrap(); // 2
    h.apply(TxnKind::Noop); // 3
    h.write(0, delete_op("/a", -1)).result.unwrap(); // 4
    let since = |z| -> Vec<_> {
        h.tree
            .history()
            .since(z)
            .unwrap()
            .map(|entry| entry.event.clone())
            .collect()
    };
    assert_eq!(
        since(1),
        vec![
            event(2, EventKind::NodeDataChanged, "/a"),
            event(4, EventKind::NodeDeleted, "/a"),
            event(4, EventKind::NodeChildrenChanged, "/"),
        ]
    );
    assert_eq!(since(3), since(2));
    assert!(since(4).is_empty());
    assert_eq!(since(0).len(), 5);
    let seqs: Vec<u64> = h.tree.history().entries().map(|entry| entry.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
}

#[test]
fn history_resume_from_before_the_window_is_compacted() {
    let limits = Limits {
        history_events_max: 4,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.create_persistent("/a"); // 1: 2 events
    h.create_persistent("/b"); // 2: 2 events
    assert_eq!(h.tree.history().compacted_through(), 0);
    h.create_persistent("/c"); // 3: 2 events, zxid 1 leaves
    assert_eq!(h.tree.history().compacted_through(), 1);
    assert_eq!(h.tree.history().len(), 4);
    let error = h.tree.history().since(0).err().unwrap();
    assert_eq!(
        error,
        TreeError::HistoryCompacted {
            requested: 0,
            compacted_through: 1
        }
    );
    assert_eq!(error.code(), ErrorCode::DataInconsistency);
    let zxids: Vec<_> = h
        .tree
        .history()
        .since(1)
        .unwrap()
        .map(|entry| entry.event.zxid)
        .collect();
    assert_eq!(zxids, vec![2, 2, 3, 3]);
    // A multi's events leave the window together.
    h.multi(
        0,
        vec![
            create_op("/d", b"", CreateMode::Persistent),
            create_op("/e", b"", CreateMode::Persistent),
        ],
    )
    .result
    .unwrap(); // 4: 4 events
    assert_eq!(h.tree.history().compacted_through(), 3);
    assert!(h.tree.history().since(2).is_err());
    assert_eq!(h.tree.history().since(3).unwrap().count(), 4);
    assert_eq!(h.tree.history().first_retained_seq(), 6);
}

// ------------------------------------------------------------------------------------------------
// Change sets.

#[test]
fn first_change_set_of_a_new_tree_holds_the_genesis() {
    let mut tree = DataTree::new(Limits::default());
    let changes = tree.take_changes();
    let expected: BTreeMap<_, _> = tree
        .to_state()
        .nodes
        .into_iter()
        .map(|(path, record)| (path, Some(record)))
        .collect();
    assert_eq!(changes.nodes, expected);
    assert!(changes.sessions.is_empty() && changes.history_appended.is_empty());
    assert_eq!(changes.last_zxid, 0);
    // Storing it yields a loadable tree.
    let state = TreeState {
        nodes: changes
            .nodes
            .into_iter()
            .map(|(path, record)| (path, record.unwrap()))
            .collect(),
        ..TreeState::default()
    };
    assert_eq!(
        DataTree::from_state(Limits::default(), state).unwrap(),
        tree
    );
    assert!(tree.take_changes().is_empty());
}

#[test]
fn take_changes_reports_exactly_what_each_transaction_changed() {
    let mut h = Harness::new();
    h.tree.take_changes();
    let record = |h: &Harness, path: &str| Some(h.tree.node(path).unwrap().0.clone());

    let session = h.open_session();
    let changes = h.tree.take_changes();
    assert!(changes.nodes.is_empty() && changes.history_appended.is_empty());
    assert_eq!(
        changes.sessions,
        BTreeMap::from([(session, h.tree.sessions().get(session).cloned())])
    );
    assert_eq!(changes.last_zxid, 1);

    h.create(session, "/e", b"", CreateMode::Ephemeral);
    let changes = h.tree.take_changes();
    assert_eq!(
        changes.nodes,
        BTreeMap::from([
            ("/".to_string(), record(&h, "/")),
            ("/e".to_string(), record(&h, "/e")),
        ])
    );
    assert!(changes.sessions.is_empty());
    let appended: Vec<_> = changes
        .history_appended
        .iter()
        .map(|entry| (entry.seq, entry.event.clone()))
        .collect();
    assert_eq!(
        appended,
        vec![
            (0, event(2, EventKind::NodeCreated, "/e")),
            (1, event(2, EventKind::NodeChildrenChanged, "/")),
        ]
    );

    h.create_persistent("/p");
    h.tree.take_changes();
    h.write(0, set_data_op("/p", b"x", -1)).result.unwrap();
    h.write(0, set_acl_op("/p", Acl::open().to_vec(), -1))
        .result
        .unwrap();
    h.write(0, check_op("/p", -1)).result.unwrap();
    let changes = h.tree.take_changes();
    assert_eq!(
        changes.nodes,
        BTreeMap::from([("/p".to_string(), record(&h, "/p"))])
    );
    assert_eq!(changes.history_appended.len(), 1);

    h.close_session(session, CloseReason::Expired)
        .result
        .unwrap();
    let changes = h.tree.take_changes();
    assert_eq!(
        changes.nodes,
        BTreeMap::from([("/".to_string(), record(&h, "/")), ("/e".to_string(), None),])
    );
    assert_eq!(changes.sessions, BTreeMap::from([(session, None)]));
    assert_eq!(changes.last_zxid, h.last_zxid());
    assert_eq!(changes.history_first_retained_seq, 0);
    assert_eq!(changes.history_compacted_through, 0);
}

#[test]
fn failed_transactions_leave_no_changes_but_the_zxid() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create_persistent("/a");
    h.create(session, "/a/e", b"", CreateMode::Ephemeral);
    h.tree.take_changes();
    assert_code(&h.write(0, delete_op("/a", -1)), ErrorCode::NotEmpty);
    // A multi that changed several nodes before failing.
    let applied = h.multi(
        session,
        vec![
            create_op("/b", b"", CreateMode::Persistent),
            set_data_op("/a", b"x", -1),
            delete_op("/a/e", -1),
            check_op("/a", 0),
        ],
    );
    assert!(applied.result.is_err());
    let changes = h.tree.take_changes();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(changes.last_zxid, h.last_zxid());
}

#[test]
fn node_created_and_deleted_in_one_batch_is_reported_deleted() {
    let mut h = Harness::new();
    h.tree.take_changes();
    h.create_persistent("/tmp");
    h.write(0, delete_op("/tmp", -1)).result.unwrap();
    let changes = h.tree.take_changes();
    assert_eq!(changes.nodes.get("/tmp"), Some(&None));
    assert_eq!(changes.history_appended.len(), 4);
    let seqs: Vec<_> = changes
        .history_appended
        .iter()
        .map(|entry| entry.seq)
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3]);
}

#[test]
fn change_set_reports_the_history_window_moving() {
    let limits = Limits {
        history_events_max: 2,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    h.create_persistent("/a");
    h.create_persistent("/b");
    let changes = h.tree.take_changes();
    assert_eq!(changes.history_appended.len(), 4);
    assert_eq!(changes.history_first_retained_seq, 2);
    assert_eq!(changes.history_compacted_through, 1);
}

// ------------------------------------------------------------------------------------------------
// Watches fed with the tree's events.

fn notify(
    registry: &mut WatchRegistry,
    events: &[polis_tree::WatchEvent],
) -> Vec<(String, Vec<i64>)> {
    events
        .iter()
        .map(|event| {
            (
                format!("{:?} {}", event.kind, event.path),
                registry.trigger(event),
            )
        })
        .filter(|(_, sessions)| !sessions.is_empty())
        .collect()
}

#[test]
fn exists_watch_on_a_missing_node_fires_when_it_is_created() {
    let mut h = Harness::new();
    let mut registry = WatchRegistry::new(10);
    registry.add(7, "/x", WatchKind::Data).unwrap();
    let applied = h.write(0, create_op("/x", b"", CreateMode::Persistent));
    assert_eq!(
        notify(&mut registry, &applied.events),
        vec![("NodeCreated /x".to_string(), vec![7])]
    );
    assert!(!registry.contains(7, "/x", WatchKind::Data));
}

#[test]
fn child_watch_fires_on_a_new_child_and_on_the_nodes_deletion() {
    let mut h = Harness::new();
    h.create_persistent("/p");
    let mut registry = WatchRegistry::new(10);
    registry.add(1, "/p", WatchKind::Children).unwrap();
    registry.add(2, "/p", WatchKind::Data).unwrap();
    let applied = h.write(0, create_op("/p/c", b"", CreateMode::Persistent));
    assert_eq!(
        notify(&mut registry, &applied.events),
        vec![("NodeChildrenChanged /p".to_string(), vec![1])]
    );
    h.write(0, delete_op("/p/c", -1)).result.unwrap();
    registry.add(1, "/p", WatchKind::Children).unwrap();
    let applied = h.write(0, delete_op("/p", -1));
    assert_eq!(
        notify(&mut registry, &applied.events),
        vec![("NodeDeleted /p".to_string(), vec![1, 2])]
    );
    assert!(registry.is_empty());
}

#[test]
fn recursive_watch_sees_every_node_a_session_close_deletes() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create_persistent("/app");
    h.create(session, "/app/a", b"", CreateMode::Ephemeral);
    h.create(session, "/app/b", b"", CreateMode::Ephemeral);
    h.create(session, "/elsewhere", b"", CreateMode::Ephemeral);
    let mut registry = WatchRegistry::new(10);
    registry
        .add(3, "/app", WatchKind::PersistentRecursive)
        .unwrap();
    registry.add(4, "/app", WatchKind::Persistent).unwrap();
    let applied = h.close_session(session, CloseReason::Expired);
    assert_eq!(
        notify(&mut registry, &applied.events),
        vec![
            ("NodeDeleted /app/a".to_string(), vec![3]),
            ("NodeChildrenChanged /app".to_string(), vec![4]),
            ("NodeDeleted /app/b".to_string(), vec![3]),
            ("NodeChildrenChanged /app".to_string(), vec![4]),
        ]
    );
    assert_eq!(registry.len(), 2);
}

// ------------------------------------------------------------------------------------------------
// Wire values.

#[test]
fn error_codes_have_zookeepers_wire_values() {
    let expected = [
        (ErrorCode::Ok, 0),
        (ErrorCode::RuntimeInconsistency, -2),
        (ErrorCode::DataInconsistency, -3),
        (ErrorCode::BadArguments, -8),
        (ErrorCode::NoNode, -101),
        (ErrorCode::NoAuth, -102),
        (ErrorCode::BadVersion, -103),
        (ErrorCode::NoChildrenForEphemerals, -108),
        (ErrorCode::NodeExists, -110),
        (ErrorCode::NotEmpty, -111),
        (ErrorCode::SessionExpired, -112),
        (ErrorCode::InvalidAcl, -114),
        (ErrorCode::NoWatcher, -121),
    ];
    for (code, value) in expected {
        assert_eq!(code.as_i32(), value);
        assert_eq!(ErrorCode::from_i32(value), Some(code));
    }
    assert_eq!(ErrorCode::from_i32(-9999), None);
}

#[test]
fn create_modes_have_zookeepers_flags() {
    let modes = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl { ttl_ms: 5 },
        CreateMode::PersistentSequentialWithTtl { ttl_ms: 5 },
    ];
    for (flag, mode) in modes.into_iter().enumerate() {
        assert_eq!(mode.flag(), flag as i32);
        assert_eq!(CreateMode::from_flag(flag as i32, 5), Ok(mode));
    }
    assert_eq!(
        CreateMode::from_flag(7, 0).unwrap_err().code(),
        ErrorCode::BadArguments
    );
}

#[test]
fn every_event_carries_the_acl_of_its_node_when_it_fired() {
    // Servers deliver an event only to watchers that may read its node (CVE-2024-23944): a
    // deleted node's ACL is the one it had, a child change is judged by the parent's.
    let mut h = Harness::new();
    h.write(
        0,
        create_with_acl("/a", alice_acl(Perms::ALL), CreateMode::Persistent),
    )
    .result
    .unwrap();
    let applied = h.apply(TxnKind::Multi {
        caller: caller_with(0, vec![super_id()]),
        ops: vec![
            create_with_acl("/a/b", alice_acl(Perms::READ), CreateMode::Persistent),
            delete_op("/a/b", -1),
        ],
    });
    applied.result.as_ref().unwrap();
    assert_eq!(applied.events.len(), applied.event_acls.len());
    let acl_of = |kind: EventKind, path: &str| {
        let index = applied
            .events
            .iter()
            .position(|event| event.kind == kind && event.path == path)
            .unwrap_or_else(|| panic!("{kind:?} {path}"));
        applied.event_acls[index].to_vec()
    };
    assert_eq!(
        acl_of(EventKind::NodeCreated, "/a/b"),
        alice_acl(Perms::READ)
    );
    assert_eq!(
        acl_of(EventKind::NodeDeleted, "/a/b"),
        alice_acl(Perms::READ)
    );
    assert_eq!(
        acl_of(EventKind::NodeChildrenChanged, "/a"),
        alice_acl(Perms::ALL)
    );
    let failed = h.apply(TxnKind::Multi {
        caller: caller_with(0, vec![super_id()]),
        ops: vec![delete_op("/a", -1), delete_op("/missing", -1)],
    });
    assert!(failed.events.is_empty() && failed.event_acls.is_empty());
}

/// ZooKeeper's root is open to all, so anyone could `setACL /` to a list naming only themselves
/// and lock every other client out. Polis's root lets anyone read, write, create and delete, but
/// only administrators change its ACL.
#[test]
fn only_an_administrator_changes_the_roots_acl() {
    let mut h = Harness::new();
    let session = h.open_session();
    let locked = h.write(
        session,
        set_acl_op(
            "/",
            vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_DIGEST, "me:x"))],
            -1,
        ),
    );
    assert!(
        matches!(locked.result, Err(TreeError::NoAuth { .. })),
        "{locked:?}"
    );
    let created = h.write(session, create_op("/top", b"", CreateMode::Persistent));
    assert!(created.result.is_ok(), "anyone still creates at the top");
    let admin = h.write_as(Caller::system(), set_acl_op("/", Acl::open().to_vec(), -1));
    assert!(admin.result.is_ok(), "{admin:?}");
}

// ------------------------------------------------------------------------------------------------
// Commit time across leaders.

#[test]
fn commit_times_never_go_backwards_when_a_new_leader_stamps_earlier() {
    let mut h = Harness::new();
    h.create_persistent("/a"); // stamped START_MS
    let first = h.stat("/a");
    assert_eq!(h.tree.last_time_ms(), START_MS);
    // The next leader's clock runs a minute behind the old one's.
    h.now_ms = START_MS - 60_000;
    h.create_persistent("/b");
    let second = h.stat("/b");
    assert!(second.czxid > first.czxid);
    assert_eq!(second.ctime, first.ctime, "held at the last commit time");
    assert_eq!(h.tree.last_time_ms(), START_MS);
    // The change history carries the same, monotonic, time.
    let times: Vec<i64> = h
        .tree
        .history()
        .entries()
        .map(|entry| entry.time_ms)
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
    // Once the new leader's clock passes the old time, its stamps count again.
    h.now_ms = START_MS + 5_000;
    h.write(0, set_data_op("/a", b"x", -1)).result.unwrap();
    assert_eq!(h.stat("/a").mtime, START_MS + 5_000);
    assert_eq!(h.tree.last_time_ms(), START_MS + 5_000);
}

#[test]
fn a_ttl_node_does_not_outlive_its_ttl_because_the_leader_clock_went_back() {
    let mut h = Harness::new();
    h.create(
        0,
        "/ttl",
        b"",
        CreateMode::PersistentWithTtl { ttl_ms: 10_000 },
    );
    // The node is 11 s old by the committed time when a leader whose clock is 20 s behind
    // proposes its removal: it is removed, at the committed time.
    h.now_ms = START_MS + 11_000;
    h.apply(TxnKind::Noop);
    h.create_persistent("/tick");
    assert_eq!(h.tree.last_time_ms(), START_MS + 12_000);
    h.now_ms = START_MS - 9_000;
    let applied = h.apply(TxnKind::RemoveExpiredNode {
        path: "/ttl".to_string(),
    });
    assert_eq!(applied.result, Ok(OpResult::NodeRemoved));
}

#[test]
fn the_last_commit_time_survives_state_and_change_sets() {
    let mut h = Harness::new();
    h.create_persistent("/a");
    h.now_ms = START_MS + 42_000;
    h.create_persistent("/b");
    let changes = h.tree.take_changes();
    assert_eq!(changes.last_time_ms, START_MS + 42_000);
    let rebuilt = DataTree::from_state(Limits::default(), h.tree.to_state()).unwrap();
    assert_eq!(rebuilt.last_time_ms(), START_MS + 42_000);
    assert_eq!(rebuilt, h.tree);
}

// ------------------------------------------------------------------------------------------------
// The cluster's limits, replicated.

#[test]
fn set_limits_changes_what_every_replica_refuses_from_its_zxid_on() {
    let mut h = Harness::new();
    h.write(0, create_op("/big", &[7; 100], CreateMode::Persistent))
        .result
        .unwrap();
    let lowered = Limits {
        data_len_max: 10,
        ..Limits::default()
    };
    let applied = h.apply(TxnKind::SetLimits {
        limits: lowered.clone(),
    });
    assert_eq!(applied.result, Ok(OpResult::LimitsSet));
    assert_eq!(h.tree.limits(), &lowered);
    let refused = h.write(0, create_op("/next", &[7; 11], CreateMode::Persistent));
    assert_code(&refused, ErrorCode::BadArguments);
    // What the tree already held stays.
    assert_eq!(h.tree.node("/big").unwrap().0.data_len(), 100);
    // The change reaches storage once, and survives the state round trip.
    let changes = h.tree.take_changes();
    assert_eq!(changes.limits, Some(lowered.clone()));
    assert_eq!(h.tree.take_changes().limits, None);
    let rebuilt = DataTree::from_state(Limits::default(), h.tree.to_state()).unwrap();
    assert_eq!(
        rebuilt.limits(),
        &lowered,
        "the state's limits win over the configured"
    );
}

#[test]
fn set_limits_that_do_not_validate_change_nothing() {
    let mut h = Harness::new();
    let before = h.tree.limits().clone();
    for limits in [
        Limits {
            data_len_max: 0,
            ..Limits::default()
        },
        Limits {
            data_len_max: Limits::DATA_LEN_MAX_CEILING + 1,
            ..Limits::default()
        },
    ] {
        let applied = h.apply(TxnKind::SetLimits { limits });
        assert_code(&applied, ErrorCode::BadArguments);
        assert_eq!(h.tree.limits(), &before);
    }
}

#[test]
fn a_lower_history_bound_drops_the_oldest_events_at_once() {
    let mut h = Harness::new();
    for index in 0..10 {
        h.create_persistent(&format!("/n{index}"));
    }
    assert!(h.tree.history().entries().count() >= 10);
    h.apply(TxnKind::SetLimits {
        limits: Limits {
            history_events_max: 4,
            ..Limits::default()
        },
    })
    .result
    .unwrap();
    assert!(h.tree.history().entries().count() <= 4);
    assert!(h.tree.history().compacted_through() > 0);
}

// ---- writes applied once (Raft thesis §6.3) ----

fn once(write_id: u64, session_id: i64, op: WriteOp) -> TxnKind {
    TxnKind::once(
        write_id,
        TxnKind::Write {
            caller: Caller::anonymous(session_id),
            op,
        },
    )
}

#[test]
fn a_sequential_create_proposed_again_under_its_write_id_takes_effect_once() {
    let mut harness = Harness::new();
    let session = harness.open_session();
    harness.create_persistent("/queue");
    let create = once(
        41,
        session,
        create_op("/queue/item-", b"x", CreateMode::PersistentSequential),
    );
    let first = harness.apply(create.clone());
    let again = harness.apply(create);
    assert_eq!(
        again.result, first.result,
        "the retry answers what the first did"
    );
    assert!(again.events.is_empty(), "the retry changes nothing");
    assert_eq!(harness.children("/queue"), vec!["item-0000000000"]);
    let recorded = harness.tree.session_writes(session).expect("a record");
    assert_eq!(recorded.find(41).map(|write| write.zxid), Some(first.zxid));
}

#[test]
fn a_write_that_failed_is_applied_when_proposed_again() {
    let mut harness = Harness::new();
    let session = harness.open_session();
    harness.create_persistent("/taken");
    let create = once(5, session, create_op("/taken", b"", CreateMode::Persistent));
    assert_code(&harness.apply(create.clone()), ErrorCode::NodeExists);
    harness.write(0, delete_op("/taken", -1));
    // The failure changed nothing and is not recorded: the retry is the write's one effect.
    let again = harness.apply(create);
    assert!(
        matches!(again.result, Ok(OpResult::Created { .. })),
        "{again:?}"
    );
}

#[test]
fn a_retry_whose_result_was_too_large_to_keep_reports_the_write_applied() {
    let mut harness = Harness::new();
    let session = harness.open_session();
    let ops: Vec<WriteOp> = (0..40)
        .map(|index| {
            create_op(
                &format!("/{}{index}", "n".repeat(40)),
                b"",
                CreateMode::Persistent,
            )
        })
        .collect();
    let multi = TxnKind::once(
        9,
        TxnKind::Multi {
            caller: Caller::anonymous(session),
            ops,
        },
    );
    let first = harness.apply(multi.clone());
    assert!(first.result.is_ok(), "{first:?}");
    let again = harness.apply(multi);
    assert_eq!(
        again.result,
        Err(TreeError::AppliedBefore { zxid: first.zxid })
    );
    assert_eq!(error_of(&again).code(), ErrorCode::ConnectionLoss);
}

#[test]
fn a_closed_sessions_record_of_writes_goes_with_it() {
    let mut harness = Harness::new();
    let session = harness.open_session();
    harness.apply(once(
        1,
        session,
        create_op("/a", b"", CreateMode::Persistent),
    ));
    assert!(harness.tree.session_writes(session).is_some());
    harness.tree.take_changes();
    harness.close_session(session, CloseReason::Closed);
    assert!(harness.tree.session_writes(session).is_none());
    let changes = harness.tree.take_changes();
    assert_eq!(changes.session_writes.get(&session), Some(&None));
}

#[test]
fn only_a_sessions_write_or_multi_can_be_applied_once() {
    let mut harness = Harness::new();
    let applied = harness.apply(TxnKind::Once {
        write_id: 1,
        txn: Box::new(TxnKind::Noop),
    });
    assert_code(&applied, ErrorCode::BadArguments);
}

/// ZooKeeper keeps null data (a create or setData with data of length −1) apart from empty
/// data: it reads back as null, its stat's dataLength is 0, and a multi rolled back restores it.
#[test]
fn null_data_reads_back_as_null_apart_from_empty_data() {
    let mut h = Harness::new();
    let session = h.open_session();
    let create = |path: &str, data: Option<Vec<u8>>| WriteOp::Create {
        path: path.to_string(),
        data,
        acl: polis_tree::Acl::open().to_vec(),
        mode: CreateMode::Persistent,
    };
    let set = |path: &str, data: Option<Vec<u8>>| WriteOp::SetData {
        path: path.to_string(),
        data,
        version: -1,
    };
    assert!(h.write(session, create("/null", None)).result.is_ok());
    assert!(
        h.write(session, create("/empty", Some(Vec::new())))
            .result
            .is_ok()
    );
    let (data, stat) = h.tree.get_data("/null", &[]).unwrap();
    assert_eq!((data, stat.data_length), (None, 0));
    assert_eq!(h.tree.get_data("/empty", &[]).unwrap().0, Some(&[][..]));

    // setData to data and back to null.
    assert!(
        h.write(session, set("/null", Some(b"x".to_vec())))
            .result
            .is_ok()
    );
    assert_eq!(h.tree.get_data("/null", &[]).unwrap().0, Some(&b"x"[..]));
    assert!(h.write(session, set("/null", None)).result.is_ok());
    let (data, stat) = h.tree.get_data("/null", &[]).unwrap();
    assert_eq!((data, stat.data_length, stat.version), (None, 0, 2));

    // A failed multi puts the null data back.
    let applied = h.multi(
        session,
        vec![set("/null", Some(b"y".to_vec())), check_op("/missing", -1)],
    );
    assert!(applied.result.is_err());
    assert_eq!(h.tree.get_data("/null", &[]).unwrap().0, None);
}
