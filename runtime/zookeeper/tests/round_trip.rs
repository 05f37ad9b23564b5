//! Property tests: every request a client can encode decodes to itself, and no byte string makes
//! the decoder panic or read past its frame.

use polis_zookeeper::{
    Acl, ConnectRequest, CreateKind, CreateRequest, Id, JuteLimits, MultiOp, Request, RequestBody,
    SetWatchesRequest, decode_connect, decode_request,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn path() -> impl Strategy<Value = String> {
    "(/[a-z0-9é-]{0,8}){1,4}"
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

/// A znode's data: null (length -1) as well as empty and non-empty, each read back as written.
fn node_data() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(data())
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (0..32i32, "[a-z]{0,6}", "[a-z:=]{0,12}").prop_map(|(perms, scheme, id)| Acl {
            perms,
            id: Id { scheme, id },
        }),
        0..4,
    )
}

fn create_kind() -> impl Strategy<Value = CreateKind> {
    prop_oneof![
        Just(CreateKind::Create),
        Just(CreateKind::Create2),
        Just(CreateKind::Container),
        Just(CreateKind::Ttl),
    ]
}

fn create() -> impl Strategy<Value = (CreateKind, CreateRequest)> {
    (
        create_kind(),
        path(),
        node_data(),
        acl(),
        0..7i32,
        any::<i64>(),
    )
        .prop_map(|(kind, path, data, acl, flags, ttl_ms)| {
            let ttl_ms = if kind == CreateKind::Ttl { ttl_ms } else { 0 };
            (
                kind,
                CreateRequest {
                    path,
                    data,
                    acl,
                    flags,
                    ttl_ms,
                },
            )
        })
}

fn write_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create().prop_map(|(kind, create)| MultiOp::Create(kind, create)),
        (path(), any::<i32>()).prop_map(|(path, version)| MultiOp::Delete { path, version }),
        (path(), node_data(), any::<i32>()).prop_map(|(path, data, version)| MultiOp::SetData {
            path,
            data,
            version
        }),
        (path(), any::<i32>()).prop_map(|(path, version)| MultiOp::Check { path, version }),
    ]
}

fn read_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (path(), any::<bool>()).prop_map(|(path, watch)| MultiOp::GetData { path, watch }),
        (path(), any::<bool>()).prop_map(|(path, watch)| MultiOp::GetChildren { path, watch }),
    ]
}

fn paths() -> impl Strategy<Value = Vec<String>> {
    vec(path(), 0..4)
}

fn set_watches() -> impl Strategy<Value = SetWatchesRequest> {
    (any::<i64>(), paths(), paths(), paths(), paths(), paths()).prop_map(
        |(relative_zxid, data, exist, child, persistent, recursive)| SetWatchesRequest {
            relative_zxid,
            data_watches: data,
            exist_watches: exist,
            child_watches: child,
            persistent_watches: persistent,
            persistent_recursive_watches: recursive,
        },
    )
}

fn body() -> impl Strategy<Value = RequestBody> {
    prop_oneof![
        Just(RequestBody::Ping),
        Just(RequestBody::CloseSession),
        Just(RequestBody::WhoAmI),
        create().prop_map(|(kind, create)| RequestBody::Create(kind, create)),
        (path(), any::<i32>()).prop_map(|(path, version)| RequestBody::Delete { path, version }),
        (path(), any::<bool>()).prop_map(|(path, watch)| RequestBody::Exists { path, watch }),
        (path(), any::<bool>()).prop_map(|(path, watch)| RequestBody::GetData { path, watch }),
        (path(), any::<bool>()).prop_map(|(path, watch)| RequestBody::GetChildren { path, watch }),
        (path(), any::<bool>()).prop_map(|(path, watch)| RequestBody::GetChildren2 { path, watch }),
        (path(), node_data(), any::<i32>()).prop_map(|(path, data, version)| {
            RequestBody::SetData {
                path,
                data,
                version,
            }
        }),
        path().prop_map(|path| RequestBody::GetAcl { path }),
        (path(), acl(), any::<i32>()).prop_map(|(path, acl, version)| RequestBody::SetAcl {
            path,
            acl,
            version
        }),
        path().prop_map(|path| RequestBody::Sync { path }),
        data().prop_map(|token| RequestBody::Sasl { token }),
        (path(), any::<i32>()).prop_map(|(path, version)| RequestBody::Check { path, version }),
        vec(write_op(), 0..5).prop_map(RequestBody::Multi),
        vec(read_op(), 0..5).prop_map(RequestBody::MultiRead),
        (any::<i32>(), "[a-z]{0,8}", data()).prop_map(|(auth_type, scheme, auth)| {
            RequestBody::Auth {
                auth_type,
                scheme,
                auth,
            }
        }),
        set_watches().prop_map(|set| RequestBody::SetWatches(SetWatchesRequest {
            persistent_watches: Vec::new(),
            persistent_recursive_watches: Vec::new(),
            ..set
        })),
        set_watches().prop_map(RequestBody::SetWatches2),
        path().prop_map(|prefix| RequestBody::GetEphemerals { prefix }),
        path().prop_map(|path| RequestBody::GetAllChildrenNumber { path }),
        (path(), any::<i32>()).prop_map(|(path, mode)| RequestBody::AddWatch { path, mode }),
        (path(), any::<i32>())
            .prop_map(|(path, watcher_type)| RequestBody::CheckWatches { path, watcher_type }),
        (path(), any::<i32>())
            .prop_map(|(path, watcher_type)| RequestBody::RemoveWatches { path, watcher_type }),
        (path(), path(), path(), any::<i64>()).prop_map(
            |(joining, leaving, new_members, from_config)| RequestBody::Reconfig {
                joining,
                leaving,
                new_members,
                from_config,
            }
        ),
        // Opcode 20 (`deleteContainer`) is server-internal: its record is not read.
        Just(RequestBody::Unsupported { op_code: 20 }),
    ]
}

proptest! {
    #[test]
    fn every_request_decodes_to_what_was_encoded(xid in any::<i32>(), body in body()) {
        let request = Request { xid, body };
        let frame = request.encode();
        let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
        prop_assert_eq!(len as usize, frame.len() - 4);
        prop_assert_eq!(decode_request(&frame[4..], &JuteLimits::default()), Ok(request));
    }

    #[test]
    fn every_connect_request_decodes_to_what_was_encoded(
        last_zxid_seen in any::<i64>(),
        timeout_ms in any::<i32>(),
        session_id in any::<i64>(),
        password in vec(any::<u8>(), 0..=16),
        read_only in proptest::option::of(any::<bool>()),
    ) {
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout_ms,
            session_id,
            password,
            read_only,
        };
        let frame = request.encode();
        prop_assert_eq!(decode_connect(&frame[4..], &JuteLimits::default()), Ok(request));
    }

    #[test]
    fn every_truncation_of_a_request_fails_cleanly(xid in any::<i32>(), body in body(), cut in any::<prop::sample::Index>()) {
        let frame = Request { xid, body }.encode();
        let body = &frame[4..];
        let cut = cut.index(body.len() + 1);
        // A prefix may happen to decode (trailing fields are ignored), but must never panic.
        let _ = decode_request(&body[..cut], &JuteLimits::default());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..512)) {
        let tight = JuteLimits {
            frame_len_max: 512,
            path_len_max: 64,
            data_len_max: 128,
            acl_entries_max: 4,
            multi_ops_max: 8,
            watch_paths_max: 16,
            password_len_max: 16,
        };
        let _ = decode_request(&bytes, &tight);
        let _ = decode_connect(&bytes, &tight);
    }
}

#[test]
fn a_huge_vector_count_fails_before_allocating() {
    // setWatches with a count of 2^31 - 1 data watches and no bytes behind it.
    let mut frame = Vec::new();
    frame.extend_from_slice(&(-8i32).to_be_bytes());
    frame.extend_from_slice(&101i32.to_be_bytes());
    frame.extend_from_slice(&0i64.to_be_bytes());
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    let limits = JuteLimits {
        watch_paths_max: usize::MAX,
        ..JuteLimits::default()
    };
    assert!(decode_request(&frame, &limits).is_err());
}

#[test]
fn a_multi_over_the_operation_limit_is_refused() {
    let ops = (0..5)
        .map(|index| MultiOp::Delete {
            path: format!("/n{index}"),
            version: -1,
        })
        .collect();
    let frame = Request {
        xid: 1,
        body: RequestBody::Multi(ops),
    }
    .encode();
    let limits = JuteLimits {
        multi_ops_max: 4,
        ..JuteLimits::default()
    };
    assert!(decode_request(&frame[4..], &limits).is_err());
    assert!(decode_request(&frame[4..], &JuteLimits::default()).is_ok());
}

#[test]
fn a_read_inside_a_multi_is_refused() {
    let frame = Request {
        xid: 1,
        body: RequestBody::MultiRead(vec![MultiOp::GetData {
            path: "/a".to_string(),
            watch: false,
        }]),
    }
    .encode();
    let mut bytes = frame[4..].to_vec();
    // Turn the multiRead into a multi.
    bytes[4..8].copy_from_slice(&14i32.to_be_bytes());
    assert!(decode_request(&bytes, &JuteLimits::default()).is_err());
}

#[test]
fn a_path_over_the_limit_is_refused() {
    let frame = Request {
        xid: 1,
        body: RequestBody::GetData {
            path: format!("/{}", "a".repeat(100)),
            watch: false,
        },
    }
    .encode();
    let limits = JuteLimits {
        path_len_max: 50,
        ..JuteLimits::default()
    };
    assert!(decode_request(&frame[4..], &limits).is_err());
}
