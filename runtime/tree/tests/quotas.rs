//! ZooKeeper's quotas: limits nodes under `/zookeeper/quota`, usage kept by the tree, hard limits
//! refused with QuotaExceeded, and only administrators writing there.

mod common;

use common::{Harness, caller_with, create_op, delete_op, error_of, set_data_op};
use polis_tree::{CreateMode, DataTree, ErrorCode, Id, Limits, QuotaUsage, SessionId};

fn admin(session_id: SessionId) -> polis_tree::Caller {
    caller_with(session_id, vec![Id::new(Id::SCHEME_SUPER, "admin")])
}

/// What zkCli's `setquota` does, as an administrator: the quota path's nodes, then the limits
/// node and the stats node.
fn set_quota(h: &mut Harness, session: SessionId, target: &str, limits: &str) {
    let mut quota_path = String::new();
    for segment in format!("/zookeeper/quota{target}").split('/').skip(1) {
        quota_path.push('/');
        quota_path.push_str(segment);
        if !h.exists(&quota_path) {
            let created = h.write_as(
                admin(session),
                create_op(&quota_path, b"", CreateMode::Persistent),
            );
            assert!(created.result.is_ok(), "{quota_path}: {:?}", created.result);
        }
    }
    for (node, data) in [
        ("zookeeper_limits", limits),
        ("zookeeper_stats", "count=0,bytes=0"),
    ] {
        let created = h.write_as(
            admin(session),
            create_op(
                &format!("{quota_path}/{node}"),
                data.as_bytes(),
                CreateMode::Persistent,
            ),
        );
        assert!(created.result.is_ok(), "{node}: {:?}", created.result);
    }
}

fn stats_text(h: &Harness, target: &str) -> String {
    let (data, _) = h
        .tree
        .get_data(&format!("/zookeeper/quota{target}/zookeeper_stats"), &[])
        .expect("the stats node");
    String::from_utf8(data.unwrap_or_default().to_vec()).expect("text")
}

#[test]
fn a_hard_count_limit_refuses_creates_past_it_with_quota_exceeded() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"12345", CreateMode::Persistent);
    h.create(session, "/app/a", b"", CreateMode::Persistent);
    set_quota(
        &mut h,
        session,
        "/app",
        "count=-1,bytes=-1,countHardLimit=3,byteHardLimit=-1",
    );
    assert_eq!(
        stats_text(&h, "/app"),
        "count=2,bytes=5",
        "the usage counts what was there"
    );

    h.create(session, "/app/b", b"xy", CreateMode::Persistent);
    assert_eq!(stats_text(&h, "/app"), "count=3,bytes=7");
    let refused = h.write(session, create_op("/app/c", b"", CreateMode::Persistent));
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
    let refused = h.write(
        session,
        create_op("/app/b/deep", b"", CreateMode::Ephemeral),
    );
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
    assert!(!h.exists("/app/c"));
    h.create(session, "/elsewhere", b"", CreateMode::Persistent);

    assert!(h.write(session, delete_op("/app/a", -1)).result.is_ok());
    assert_eq!(stats_text(&h, "/app"), "count=2,bytes=7");
    h.create(session, "/app/c", b"", CreateMode::Persistent);
    assert_eq!(
        h.tree.quota("/app").map(|(_, usage)| usage),
        Some(QuotaUsage { count: 3, bytes: 7 })
    );
}

#[test]
fn a_hard_byte_limit_refuses_growing_data_and_lets_it_shrink() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"", CreateMode::Persistent);
    set_quota(
        &mut h,
        session,
        "/app",
        "count=-1,bytes=-1,byteHardLimit=10",
    );
    h.create(session, "/app/a", b"0123456789", CreateMode::Persistent);
    let refused = h.write(session, set_data_op("/app/a", b"0123456789a", -1));
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
    let refused = h.write(session, create_op("/app/b", b"x", CreateMode::Persistent));
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
    // An empty node adds a node but no bytes.
    h.create(session, "/app/b", b"", CreateMode::Persistent);
    assert!(
        h.write(session, set_data_op("/app/a", b"01234", -1))
            .result
            .is_ok()
    );
    assert!(
        h.write(session, set_data_op("/app/b", b"56789", -1))
            .result
            .is_ok()
    );
    assert_eq!(stats_text(&h, "/app"), "count=3,bytes=10");
}

#[test]
fn soft_limits_are_reported_and_not_enforced() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"", CreateMode::Persistent);
    set_quota(&mut h, session, "/app", "count=1,bytes=1");
    h.create(
        session,
        "/app/a",
        b"more than a byte",
        CreateMode::Persistent,
    );
    assert_eq!(stats_text(&h, "/app"), "count=2,bytes=16");
}

#[test]
fn a_rolled_back_multi_leaves_usage_and_stats_as_they_were() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"", CreateMode::Persistent);
    h.create(session, "/app/a", b"abc", CreateMode::Persistent);
    set_quota(
        &mut h,
        session,
        "/app",
        "count=-1,bytes=-1,countHardLimit=10",
    );
    let before = h.tree.clone();
    let failed = h.multi(
        session,
        vec![
            create_op("/app/b", b"12345", CreateMode::Persistent),
            set_data_op("/app/a", b"", -1),
            delete_op("/app/a", -1),
            create_op("/missing/x", b"", CreateMode::Persistent),
        ],
    );
    assert_eq!(error_of(&failed).code(), ErrorCode::NoNode);
    assert_eq!(h.tree.quota("/app"), before.quota("/app"));
    assert_eq!(stats_text(&h, "/app"), "count=2,bytes=3");
}

#[test]
fn only_administrators_write_under_zookeepers_own_node() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"", CreateMode::Persistent);
    for op in [
        create_op("/zookeeper", b"", CreateMode::Persistent),
        create_op("/zookeeper/", b"", CreateMode::PersistentSequential),
    ] {
        let refused = h.write(session, op);
        assert_eq!(error_of(&refused).code(), ErrorCode::NoAuth);
    }
    set_quota(
        &mut h,
        session,
        "/app",
        "count=-1,bytes=-1,countHardLimit=1",
    );
    let limits = "/zookeeper/quota/app/zookeeper_limits";
    for op in [
        set_data_op(limits, b"count=-1,bytes=-1", -1),
        delete_op(limits, -1),
        create_op("/zookeeper/quota/app/x", b"", CreateMode::Persistent),
    ] {
        let refused = h.write(session, op);
        assert_eq!(error_of(&refused).code(), ErrorCode::NoAuth);
    }
    // Reading stays open, as in ZooKeeper.
    assert!(h.tree.get_data(limits, &[]).is_ok());
    // The administrator lifts the quota by deleting its limits node.
    assert!(
        h.write_as(admin(session), delete_op(limits, -1))
            .result
            .is_ok()
    );
    assert_eq!(h.tree.quota("/app"), None);
    h.create(session, "/app/free", b"", CreateMode::Persistent);
}

#[test]
fn limits_that_do_not_parse_or_name_no_quotable_path_are_refused() {
    let mut h = Harness::new();
    let session = h.open_session();
    set_quota(&mut h, session, "/app", "count=5,bytes=-1");
    for (path, data) in [
        ("/zookeeper/quota/app/zookeeper_limits", &b"count=lots"[..]),
        ("/zookeeper/quota/app/zookeeper_limits", b"size=1"),
    ] {
        let refused = h.write_as(admin(session), set_data_op(path, data, -1));
        assert_eq!(
            error_of(&refused).code(),
            ErrorCode::BadArguments,
            "{data:?}"
        );
    }
    let parent = h.write_as(
        admin(session),
        create_op("/zookeeper/quota/zookeeper", b"", CreateMode::Persistent),
    );
    assert!(parent.result.is_ok());
    let refused = h.write_as(
        admin(session),
        create_op(
            "/zookeeper/quota/zookeeper/zookeeper_limits",
            b"count=1",
            CreateMode::Persistent,
        ),
    );
    assert_eq!(error_of(&refused).code(), ErrorCode::BadArguments);
    // The quota was set before its node existed: creating the node counts it.
    h.create(session, "/app", b"ab", CreateMode::Persistent);
    assert_eq!(stats_text(&h, "/app"), "count=1,bytes=2");
}

#[test]
fn quotas_are_rebuilt_from_a_snapshot_with_their_usage() {
    let mut h = Harness::new();
    let session = h.open_session();
    h.create(session, "/app", b"", CreateMode::Persistent);
    h.create(session, "/app/a", b"abc", CreateMode::Persistent);
    set_quota(
        &mut h,
        session,
        "/app",
        "count=-1,bytes=-1,countHardLimit=3",
    );
    // A quota on a path that sorts after `/zookeeper`: its nodes load after its limits node.
    h.create(session, "/zz", b"1", CreateMode::Persistent);
    set_quota(&mut h, session, "/zz", "count=-1,bytes=-1,byteHardLimit=2");
    h.create(session, "/zz/a", b"2", CreateMode::Persistent);
    let bytes = h.tree.write_snapshot(Vec::new()).expect("write");
    let restored = DataTree::read_snapshot(Limits::default(), bytes.as_slice()).expect("read");
    assert_eq!(restored, h.tree);
    assert_eq!(
        restored.quotas().collect::<Vec<_>>(),
        h.tree.quotas().collect::<Vec<_>>()
    );
    assert_eq!(
        restored.quota("/zz").map(|(_, usage)| usage),
        Some(QuotaUsage { count: 2, bytes: 2 })
    );
    let mut h = Harness {
        tree: restored,
        next_zxid: h.next_zxid,
        now_ms: h.now_ms,
    };
    h.create(session, "/app/b", b"", CreateMode::Persistent);
    let refused = h.write(session, create_op("/app/c", b"", CreateMode::Persistent));
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
    let refused = h.write(session, create_op("/zz/b", b"3", CreateMode::Persistent));
    assert_eq!(error_of(&refused).code(), ErrorCode::QuotaExceeded);
}
