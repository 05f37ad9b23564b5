//! Snapshots: deterministic bytes, faithful round trips, and refusal of damaged input.

mod common;

use common::*;
use polis_tree::{
    Caller, CloseReason, CreateMode, DataTree, Limits, NodeKind, SNAPSHOT_FORMAT_VERSION,
    SnapshotError, SnapshotReader, SnapshotWriter, Txn, TxnKind, WriteOp,
};

fn snapshot(tree: &DataTree) -> Vec<u8> {
    tree.write_snapshot(Vec::new()).expect("writing to memory")
}

fn read(limits: Limits, bytes: &[u8]) -> Result<DataTree, SnapshotError> {
    DataTree::read_snapshot(limits, bytes)
}

/// Limits whose history window keeps several transactions but not all of the workload. A
/// transaction fires at most four events under them (multis of two, two ephemerals a session).
fn windowed_limits() -> Limits {
    Limits {
        history_events_max: 10,
        ephemerals_per_session_max: 2,
        ..Limits::default()
    }
}

/// A tiny deterministic generator, so that the workloads below are varied but reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A random workload over a small alphabet: sessions, all create modes, deletes, data and ACL
/// changes, small multis, expiry and noops. Many of its transactions fail, which is fine: failures
/// are part of what replicas apply. No transaction fires more than four events, so a window of ten
/// never empties (`history_sequence_survives_a_snapshot_when_the_window_is_empty` covers that).
fn random_workload(seed: u64, length: usize) -> Vec<Txn> {
    const PATHS: &[&str] = &["/a", "/b", "/a/b", "/a/c", "/b/a", "/a/b/c", "/q/", "/a/s-"];
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut sessions: Vec<i64> = Vec::new();
    let mut txns = vec![Txn {
        zxid: 1,
        time_ms: START_MS,
        kind: TxnKind::Write {
            caller: Caller::system(),
            op: create_op("/q", b"", CreateMode::Persistent),
        },
    }];
    let modes = |rng: &mut Rng| match rng.below(7) {
        0 => CreateMode::Persistent,
        1 => CreateMode::Ephemeral,
        2 => CreateMode::PersistentSequential,
        3 => CreateMode::EphemeralSequential,
        4 => CreateMode::Container,
        5 => CreateMode::PersistentWithTtl { ttl_ms: 1_500 },
        _ => CreateMode::PersistentSequentialWithTtl { ttl_ms: 500 },
    };
    for index in 0..length {
        let zxid = index as i64 + 2;
        let session = if sessions.is_empty() {
            0
        } else {
            sessions[rng.below(sessions.len())]
        };
        let op = |rng: &mut Rng| -> WriteOp {
            let path = rng.pick(PATHS);
            let version = rng.below(3) as i32 - 1;
            match rng.below(5) {
                0 | 1 => create_op(path, &[index as u8; 2], modes(rng)),
                2 => delete_op(path, version),
                3 => set_data_op(path, &[rng.below(256) as u8], version),
                _ => set_acl_op(
                    path,
                    if rng.below(2) == 0 {
                        polis_tree::Acl::open().to_vec()
                    } else {
                        alice_acl(polis_tree::Perms::ALL)
                    },
                    -1,
                ),
            }
        };
        let kind = match rng.below(12) {
            0 | 1 => TxnKind::OpenSession {
                timeout_ms: 5_000,
                password: [zxid as u8; 16],
            },
            2 => TxnKind::CloseSession {
                session_id: session,
                reason: CloseReason::Expired,
            },
            3 => TxnKind::Multi {
                caller: Caller::anonymous(session),
                ops: vec![op(&mut rng), op(&mut rng)],
            },
            4 => TxnKind::RemoveExpiredNode {
                path: rng.pick(PATHS).to_string(),
            },
            5 => TxnKind::Noop,
            _ => TxnKind::Write {
                caller: Caller::anonymous(session),
                op: op(&mut rng),
            },
        };
        // Some writes are made idempotent under a few ids, so that proposals repeat.
        let kind = match kind {
            TxnKind::Write { .. } | TxnKind::Multi { .. } if rng.below(3) == 0 => {
                TxnKind::once(rng.below(4) as u64, kind)
            }
            kind => kind,
        };
        if matches!(kind, TxnKind::OpenSession { .. }) {
            sessions.push(zxid);
        }
        txns.push(Txn {
            zxid,
            time_ms: START_MS + index as i64 * 700,
            kind,
        });
    }
    txns
}

fn tree_after(limits: Limits, txns: &[Txn]) -> DataTree {
    let mut tree = DataTree::new(limits);
    for txn in txns {
        tree.apply(txn);
    }
    tree
}

// ------------------------------------------------------------------------------------------------
// Determinism and round trips.

#[test]
fn same_transactions_give_byte_identical_snapshots() {
    let first = sample_tree(Limits::default());
    let mut second = DataTree::new(Limits::default());
    for txn in sample_workload() {
        second.apply(&txn);
        // How often storage drains the change set does not matter.
        second.take_changes();
    }
    assert_eq!(first, second);
    assert_eq!(snapshot(&first), snapshot(&second));
    for seed in 0..20 {
        let txns = random_workload(seed, 80);
        let one = tree_after(windowed_limits(), &txns);
        let other = tree_after(windowed_limits(), &txns);
        assert_eq!(snapshot(&one), snapshot(&other), "seed {seed}");
    }
}

#[test]
fn different_histories_give_different_snapshots() {
    let tree = sample_tree(Limits::default());
    let mut other = tree.clone();
    other.apply(&Txn {
        zxid: tree.last_zxid() + 1,
        time_ms: START_MS,
        kind: TxnKind::Noop,
    });
    // Even a noop changes the snapshot: it carries the last applied zxid.
    assert_ne!(snapshot(&tree), snapshot(&other));
}

#[test]
fn snapshot_read_back_equals_the_tree_and_writes_identical_bytes() {
    let tree = sample_tree(Limits::default());
    let bytes = snapshot(&tree);
    assert_eq!(&bytes[..8], b"POLISNAP");
    assert_eq!(bytes[8..12], SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    let mut restored = read(Limits::default(), &bytes).unwrap();
    assert_eq!(restored, tree);
    assert_eq!(restored.to_state(), tree.to_state());
    assert_eq!(snapshot(&restored), bytes);
    // The derived indexes are rebuilt too: session ephemerals, containers and TTL nodes.
    for (session_id, session) in tree.sessions().iter() {
        assert_eq!(
            restored.sessions().get(session_id).unwrap().ephemerals,
            session.ephemerals
        );
    }
    for now_ms in [START_MS, START_MS + 100_000, START_MS + 10_000_000] {
        assert_eq!(restored.expired_nodes(now_ms), tree.expired_nodes(now_ms));
    }
    assert!(!tree.expired_nodes(START_MS + 10_000_000).is_empty());
    assert!(restored.take_changes().is_empty());
}

#[test]
fn random_workloads_round_trip_and_continue_identically() {
    for seed in 0..20 {
        let txns = random_workload(seed, 120);
        let (before, after) = txns.split_at(60);
        let mut tree = tree_after(windowed_limits(), before);
        let mut restored = read(windowed_limits(), &snapshot(&tree)).unwrap();
        assert_eq!(restored, tree, "seed {seed}");
        // A replica that installed the snapshot goes on exactly like one that applied the log.
        for txn in after {
            let expected = tree.apply(txn);
            let actual = restored.apply(txn);
            assert_eq!(actual, expected, "seed {seed}, {txn:?}");
        }
        assert_eq!(restored, tree, "seed {seed}");
        assert_eq!(snapshot(&restored), snapshot(&tree), "seed {seed}");
        assert_eq!(
            restored.expired_nodes(START_MS + 1_000_000),
            tree.expired_nodes(START_MS + 1_000_000)
        );
    }
}

#[test]
fn snapshot_keeps_every_node_kind_and_the_history_window() {
    let tree = sample_tree(windowed_limits());
    let restored = read(windowed_limits(), &snapshot(&tree)).unwrap();
    let kinds: Vec<NodeKind> = restored
        .to_state()
        .nodes
        .iter()
        .map(|(_, record)| record.kind)
        .collect();
    assert!(kinds.contains(&NodeKind::Persistent));
    assert!(
        kinds
            .iter()
            .any(|kind| matches!(kind, NodeKind::Ephemeral { .. }))
    );
    assert!(
        kinds
            .iter()
            .any(|kind| matches!(kind, NodeKind::Ttl { .. }))
    );
    assert!(tree.history().compacted_through() > 0);
    assert_eq!(
        restored.history().compacted_through(),
        tree.history().compacted_through()
    );
    assert_eq!(
        restored.history().first_retained_seq(),
        tree.history().first_retained_seq()
    );
    let z = tree.history().compacted_through();
    assert!(restored.history().since(z - 1).is_err());
    assert!(
        restored
            .history()
            .since(z)
            .unwrap()
            .eq(tree.history().since(z).unwrap())
    );
}

#[test]
fn genesis_snapshot_round_trips() {
    let tree = DataTree::new(Limits::default());
    let bytes = snapshot(&tree);
    assert_eq!(read(Limits::default(), &bytes).unwrap(), tree);
    assert_eq!(bytes, snapshot(&DataTree::new(Limits::default())));
}

#[test]
fn history_sequence_survives_a_snapshot_when_the_window_is_empty() {
    let limits = Limits {
        history_events_max: 1,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits.clone());
    // Two events at one zxid: more than the window holds, so both leave it at once.
    h.create_persistent("/a");
    assert!(h.tree.history().is_empty());
    assert_eq!(h.tree.history().first_retained_seq(), 2);
    let restored = read(limits, &snapshot(&h.tree)).unwrap();
    assert_eq!(restored.history().first_retained_seq(), 2);
    assert_eq!(restored, h.tree);
}

// ------------------------------------------------------------------------------------------------
// Damaged snapshots.

#[test]
fn every_flipped_byte_is_refused() {
    let bytes = snapshot(&sample_tree(Limits::default()));
    for position in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xFF] {
            let mut damaged = bytes.clone();
            damaged[position] ^= mask;
            match read(Limits::default(), &damaged) {
                Ok(_) => panic!("flipping byte {position} with {mask:#x} went unnoticed"),
                Err(SnapshotError::BadMagic) => assert!(position < 8),
                Err(SnapshotError::UnsupportedVersion(_)) => {
                    assert!((8..12).contains(&position))
                }
                // Flipping the version's low bit may name version 2, which is read as such and
                // then refused as corrupt.
                Err(SnapshotError::Corrupt(_) | SnapshotError::Io(_)) => {
                    assert!(position >= 12 || position == 8)
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = snapshot(&sample_tree(Limits::default()));
    for length in 0..bytes.len() {
        assert!(
            read(Limits::default(), &bytes[..length]).is_err(),
            "a snapshot cut to {length} of {} bytes was accepted",
            bytes.len()
        );
    }
    // Cut exactly before the checksum: the records are whole, the checksum is missing.
    let error = read(Limits::default(), &bytes[..bytes.len() - 4])
        .err()
        .unwrap();
    assert!(matches!(error, SnapshotError::Io(_)), "{error:?}");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = snapshot(&sample_tree(Limits::default()));
    bytes.push(0);
    let error = read(Limits::default(), &bytes).err().unwrap();
    assert!(matches!(error, SnapshotError::Corrupt(_)), "{error:?}");
}

#[test]
fn wrong_magic_is_refused() {
    let mut bytes = snapshot(&sample_tree(Limits::default()));
    bytes[..8].copy_from_slice(b"ZKSNAP01");
    assert!(matches!(
        read(Limits::default(), &bytes),
        Err(SnapshotError::BadMagic)
    ));
    assert!(matches!(
        read(Limits::default(), &b"POLIS"[..]),
        Err(SnapshotError::Io(_))
    ));
}

#[test]
fn wrong_format_version_is_refused() {
    let bytes = snapshot(&sample_tree(Limits::default()));
    for version in [0, SNAPSHOT_FORMAT_VERSION + 1, u32::MAX] {
        let mut damaged = bytes.clone();
        damaged[8..12].copy_from_slice(&version.to_le_bytes());
        match read(Limits::default(), &damaged) {
            Err(SnapshotError::UnsupportedVersion(found)) => assert_eq!(found, version),
            other => panic!("version {version}: {other:?}"),
        }
    }
}

/// The limits a snapshot is read under are the cluster's, which it carries, not the reader's own
/// configuration: a follower configured for fewer nodes, sessions or events than the cluster
/// holds reads the leader's snapshot all the same, and takes the cluster's limits with it.
#[test]
fn snapshot_is_read_under_its_own_limits_not_the_readers() {
    let tree = sample_tree(Limits::default());
    let bytes = snapshot(&tree);
    let narrow = Limits {
        nodes_max: tree.node_count() - 1,
        sessions_max: tree.sessions().len() - 1,
        history_events_max: tree.history().len() - 1,
        ..Limits::default()
    };
    let restored = read(narrow, &bytes).expect("read under the snapshot's limits");
    assert_eq!(restored, tree);
    assert_eq!(restored.limits(), &Limits::default());
    // A record longer than any valid node is refused before it is read.
    let mut huge = Vec::new();
    huge.extend_from_slice(b"POLISNAP");
    huge.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        read(Limits::default(), &huge[..]),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn snapshot_reader_returns_the_trees_state() {
    let tree = sample_tree(Limits::default());
    let state = SnapshotReader::read(&snapshot(&tree)[..], &Limits::default()).unwrap();
    // Which ephemerals a session owns is derived from the nodes: not stored, rebuilt on load.
    let mut expected = tree.to_state();
    for (_, session) in &mut expected.sessions {
        assert!(!session.ephemerals.is_empty());
        session.ephemerals.clear();
    }
    assert_eq!(state, expected);
}

#[test]
fn snapshot_writer_refuses_records_out_of_order() {
    let tree = sample_tree(Limits::default());
    let state = tree.to_state();
    let (root, root_record) = &state.nodes[0];
    let (other, other_record) = &state.nodes[1];

    let mut writer = SnapshotWriter::new(Vec::new(), 1, 0, &Limits::default(), 0, 0).unwrap();
    writer.node(other, other_record).unwrap();
    assert!(writer.node(root, root_record).is_err());
    assert!(writer.node(other, other_record).is_err());

    let (session_id, session) = &state.sessions[0];
    let mut writer = SnapshotWriter::new(Vec::new(), 1, 0, &Limits::default(), 0, 0).unwrap();
    writer.session(*session_id, session).unwrap();
    assert!(writer.node(root, root_record).is_err());
    assert!(writer.session(*session_id, session).is_err());

    let entry = &state.history[0];
    let mut writer = SnapshotWriter::new(Vec::new(), 1, 0, &Limits::default(), 0, 0).unwrap();
    writer.history(entry).unwrap();
    assert!(writer.session(*session_id, session).is_err());
    assert!(writer.history(entry).is_err());
}

// ------------------------------------------------------------------------------------------------
// Rebuilding from parts.

#[test]
fn from_state_rebuilds_an_equal_tree() {
    let tree = sample_tree(Limits::default());
    assert_eq!(
        DataTree::from_state(Limits::default(), tree.to_state()).unwrap(),
        tree
    );
}

#[test]
fn from_state_rejects_a_node_without_a_parent() {
    let tree = sample_tree(Limits::default());
    let mut state = tree.to_state();
    let position = state
        .nodes
        .iter()
        .position(|(path, _)| path == "/app")
        .unwrap();
    assert!(state.nodes[position + 1].0.starts_with("/app/"));
    state.nodes.remove(position);
    assert!(matches!(
        DataTree::from_state(Limits::default(), state),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn from_state_rejects_an_ephemeral_with_an_unknown_owner() {
    let tree = sample_tree(Limits::default());
    let mut state = tree.to_state();
    let owner = state
        .nodes
        .iter()
        .find_map(|(_, record)| match record.kind {
            NodeKind::Ephemeral { owner } => Some(owner),
            _ => None,
        })
        .unwrap();
    state
        .sessions
        .retain(|(session_id, _)| *session_id != owner);
    assert!(matches!(
        DataTree::from_state(Limits::default(), state),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn from_state_rejects_a_state_that_does_not_start_at_the_root() {
    let tree = sample_tree(Limits::default());
    let mut state = tree.to_state();
    state.nodes.remove(0);
    assert!(matches!(
        DataTree::from_state(Limits::default(), state),
        Err(SnapshotError::Corrupt(_))
    ));
    let mut state = tree.to_state();
    state.nodes.clear();
    assert!(matches!(
        DataTree::from_state(Limits::default(), state),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn from_state_rejects_an_invalid_path() {
    let tree = sample_tree(Limits::default());
    let mut state = tree.to_state();
    let record = state.nodes[1].1.clone();
    state.nodes.push(("/app/".to_string(), record));
    assert!(matches!(
        DataTree::from_state(Limits::default(), state),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn corrupt_snapshot_of_a_well_formed_stream_is_refused_by_from_state() {
    // A snapshot whose records are intact but describe an impossible tree: written with the
    // public writer, it passes the checksum and fails the tree checks.
    let tree = sample_tree(Limits::default());
    let state = tree.to_state();
    let mut writer =
        SnapshotWriter::new(Vec::new(), state.last_zxid, 0, &Limits::default(), 0, 0).unwrap();
    for (path, record) in &state.nodes {
        writer.node(path, record).unwrap();
    }
    // No sessions: every ephemeral is orphaned.
    let bytes = writer.finish().unwrap();
    assert!(SnapshotReader::read(&bytes[..], &Limits::default()).is_ok());
    assert!(matches!(
        read(Limits::default(), &bytes),
        Err(SnapshotError::Corrupt(_))
    ));
}

/// The largest node the default limits allow, with data at `data_len_max`, a path at
/// `path_len_max` and a full ACL of ids at `acl_id_len_max`, in an ACL-bounded tree.
fn largest_legal_node(limits: &Limits) -> (String, Vec<u8>, Vec<polis_tree::Acl>) {
    let path = format!("/{}", "p".repeat(limits.path_len_max - 1));
    let data = vec![0xA5; limits.data_len_max];
    let acl = (0..limits.acl_entries_max)
        .map(|index| {
            let user = format!("{index:0>width$}", width = limits.acl_id_len_max - 2);
            polis_tree::Acl::new(
                polis_tree::Perms::ALL,
                polis_tree::Id::new(polis_tree::Id::SCHEME_DIGEST, format!("{user}:h")),
            )
        })
        .collect();
    (path, data, acl)
}

/// Issue 13: a follower or a new learner must always be able to read back the snapshot of a
/// tree the leader accepted. The reader's record bound is derived from the same limits the tree
/// enforces on writes, so the largest legal node travels write → read intact.
#[test]
fn the_largest_legal_node_survives_a_snapshot() {
    let limits = Limits::default();
    let (path, data, acl) = largest_legal_node(&limits);
    let mut tree = DataTree::new(limits.clone());
    let created = tree.apply(&Txn {
        zxid: 1,
        time_ms: START_MS,
        kind: TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::Create {
                path: path.clone(),
                data: Some(data.clone()),
                acl: acl.clone(),
                mode: CreateMode::Persistent,
            },
        },
    });
    assert!(created.result.is_ok(), "{:?}", created.result);
    let bytes = snapshot(&tree);
    assert!(
        bytes.len() > limits.data_len_max + limits.acl_entries_max * limits.acl_id_len_max,
        "the snapshot holds the whole node"
    );
    assert!(bytes.len() < SnapshotReader::record_len_max(&limits) + 4096);
    let restored = read(limits.clone(), &bytes).expect("the largest legal node reads back");
    assert_eq!(snapshot(&restored), bytes);
    let (record, _) = restored.node(&path).expect("the node is there");
    assert_eq!(record.data.as_deref(), Some(data.as_slice()));
    assert_eq!(record.acl.len(), acl.len());
}

/// An ACL id longer than `acl_id_len_max` is refused when it is set, so no tree ever holds a
/// node whose snapshot record the reader would refuse (before the bound, 64 ids of 4 KiB made a
/// record no follower could read).
#[test]
fn an_acl_id_longer_than_its_bound_is_refused() {
    let limits = Limits::default();
    let mut tree = DataTree::new(limits.clone());
    let long_id = format!("{}:h", "u".repeat(limits.acl_id_len_max));
    let refused = tree.apply(&Txn {
        zxid: 1,
        time_ms: START_MS,
        kind: TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::Create {
                path: "/long".to_string(),
                data: Some(Vec::new()),
                acl: vec![polis_tree::Acl::new(
                    polis_tree::Perms::ALL,
                    polis_tree::Id::new(polis_tree::Id::SCHEME_DIGEST, long_id),
                )],
                mode: CreateMode::Persistent,
            },
        },
    });
    assert!(
        matches!(
            refused.result,
            Err(polis_tree::TreeError::LimitExceeded {
                limit: "acl_id_len_max",
                ..
            })
        ),
        "{:?}",
        refused.result
    );
}

/// LEB128, as postcard writes unsigned integers.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Zigzag and LEB128, as postcard writes signed integers.
fn signed_varint(value: i64, out: &mut Vec<u8>) {
    varint(((value << 1) ^ (value >> 63)) as u64, out);
}

/// The record variants' positions: a node before format 5, and since.
const NODE_RECORD_OF_FORMAT_4: u8 = 1;
const NODE_RECORD: u8 = 6;

/// The same snapshot in format 4, as the build before null data wrote it: every node record
/// in the old form (null data, which format 4 could not hold, written as empty).
fn as_format_4(bytes: &[u8]) -> Vec<u8> {
    let mut out = b"POLISNAP".to_vec();
    out.extend_from_slice(&4u32.to_le_bytes());
    let mut rest = &bytes[12..bytes.len() - 4];
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let record = &rest[4..4 + len];
        rest = &rest[4 + len..];
        let converted = if record[0] == NODE_RECORD {
            let (path, node): (String, polis_tree::NodeRecord) =
                postcard::from_bytes(&record[1..]).unwrap();
            let old = polis_tree::NodeRecordWithoutNull::from(&node);
            let mut converted = vec![NODE_RECORD_OF_FORMAT_4];
            converted.extend(postcard::to_allocvec(&(path, old)).unwrap());
            converted
        } else {
            record.to_vec()
        };
        out.extend_from_slice(&(converted.len() as u32).to_le_bytes());
        out.extend_from_slice(&converted);
    }
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// The same tree as a version 2 snapshot: the header without the last commit time.
fn as_version_2(tree: &DataTree, current: &[u8]) -> Vec<u8> {
    let version_3 = as_format_4(current);
    let state = tree.to_state();
    let header_len = u32::from_le_bytes(version_3[12..16].try_into().unwrap()) as usize;
    let mut header = vec![0u8];
    signed_varint(state.last_zxid, &mut header);
    signed_varint(state.history_compacted_through, &mut header);
    varint(state.history_next_seq, &mut header);
    let mut bytes = b"POLISNAP".to_vec();
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header);
    let rest = &version_3[16 + header_len..version_3.len() - 4];
    bytes.extend_from_slice(rest);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

#[test]
fn snapshot_keeps_the_last_commit_time_and_reads_version_2_without_it() {
    // Version 2 knew no records of writes applied once, so the tree has none.
    let workload: Vec<Txn> = sample_workload()
        .into_iter()
        .filter(|txn| !txn.kind.is_once())
        .collect();
    let tree = tree_after(Limits::default(), &workload);
    assert!(tree.last_time_ms() > START_MS);
    let bytes = snapshot(&tree);
    assert_eq!(
        read(Limits::default(), &bytes).unwrap().last_time_ms(),
        tree.last_time_ms()
    );
    // A version 2 snapshot (written before the time was kept) takes the newest history entry's.
    let old = as_version_2(&tree, &bytes);
    let restored = read(Limits::default(), &old).unwrap();
    let newest_event_ms = tree.history().entries().last().unwrap().time_ms;
    assert_eq!(restored.last_time_ms(), newest_event_ms);
    assert_eq!(restored.last_zxid(), tree.last_zxid());
    assert_eq!(restored.node_count(), tree.node_count());
}

/// The cluster's limits travel in the snapshot, and a tree whose limits were lowered below what
/// it already holds still reads back (the reader bounds records by the ceilings, not by them).
#[test]
fn a_snapshot_carries_the_cluster_limits_even_when_lowered_below_the_tree() {
    let limits = Limits::default();
    let (path, data, acl) = largest_legal_node(&limits);
    let mut tree = DataTree::new(limits.clone());
    let create = TxnKind::Write {
        caller: Caller::system(),
        op: WriteOp::Create {
            path: path.clone(),
            data: Some(data),
            acl,
            mode: CreateMode::Persistent,
        },
    };
    let lowered = Limits {
        data_len_max: 16,
        path_len_max: 64,
        acl_entries_max: 1,
        acl_id_len_max: 32,
        nodes_max: 2,
        ..Limits::default()
    };
    for (zxid, kind) in [
        (1, create),
        (
            2,
            TxnKind::SetLimits {
                limits: lowered.clone(),
            },
        ),
    ] {
        let applied = tree.apply(&Txn {
            zxid,
            time_ms: START_MS,
            kind,
        });
        assert!(applied.result.is_ok(), "{:?}", applied.result);
    }
    // Read with other configured limits: the snapshot's own win.
    let restored = read(Limits::default(), &snapshot(&tree)).expect("reads back");
    assert_eq!(restored.limits(), &lowered);
    assert_eq!(restored, tree);
    assert!(restored.node(&path).is_some());
}

/// ZooKeeper keeps null data (length −1) apart from empty data; so does a snapshot.
#[test]
fn null_data_and_empty_data_stay_apart_through_a_snapshot() {
    let mut h = Harness::new();
    let session = h.open_session();
    for (path, data) in [("/null", None), ("/empty", Some(Vec::new()))] {
        let applied = h.write(
            session,
            WriteOp::Create {
                path: path.to_string(),
                data,
                acl: polis_tree::Acl::open().to_vec(),
                mode: CreateMode::Persistent,
            },
        );
        assert!(applied.result.is_ok(), "{:?}", applied.result);
    }
    let bytes = snapshot(&h.tree);
    let restored = read(Limits::default(), &bytes).unwrap();
    assert_eq!(restored, h.tree);
    assert_eq!(restored.get_data("/null", &[]).unwrap().0, None);
    assert_eq!(restored.get_data("/empty", &[]).unwrap().0, Some(&[][..]));
    assert_eq!(snapshot(&restored), bytes);
}

/// A snapshot written by the build before null data was kept (format 4) reads back whole: the
/// same tree, every node's data as data.
#[test]
fn a_format_4_snapshot_reads_back_as_the_same_tree() {
    for seed in 0..10 {
        let tree = tree_after(windowed_limits(), &random_workload(seed, 80));
        let old = as_format_4(&snapshot(&tree));
        assert_eq!(old[8..12], 4u32.to_le_bytes());
        let restored = read(windowed_limits(), &old).expect("a format 4 snapshot reads");
        assert_eq!(restored, tree, "seed {seed}");
    }
    // Format 5 records in a format 4 snapshot, or format 4 records in a format 5 one, are refused.
    let tree = sample_tree(Limits::default());
    let current = snapshot(&tree);
    let mut mislabelled = current[..current.len() - 4].to_vec();
    mislabelled[8..12].copy_from_slice(&4u32.to_le_bytes());
    let checksum = crc32fast::hash(&mislabelled);
    mislabelled.extend_from_slice(&checksum.to_le_bytes());
    assert!(matches!(
        read(Limits::default(), &mislabelled),
        Err(SnapshotError::Corrupt(_))
    ));
    let old = as_format_4(&current);
    let mut mislabelled = old[..old.len() - 4].to_vec();
    mislabelled[8..12].copy_from_slice(&5u32.to_le_bytes());
    let checksum = crc32fast::hash(&mislabelled);
    mislabelled.extend_from_slice(&checksum.to_le_bytes());
    assert!(matches!(
        read(Limits::default(), &mislabelled),
        Err(SnapshotError::Corrupt(_))
    ));
}

/// A reader over `bytes` that remembers the largest buffer it was asked to fill: how much the
/// snapshot reader set aside ahead of the bytes it had.
struct MeasuringReader<'a> {
    bytes: &'a [u8],
    largest_read_len: usize,
}

impl std::io::Read for MeasuringReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.largest_read_len = self.largest_read_len.max(buffer.len());
        self.bytes.read(buffer)
    }
}

/// Found by the fuzz target `tree_snapshot` (fuzz/regressions/tree_snapshot/): a record length
/// under the reader's bound (about 128 MiB, from the limits' ceilings) but far beyond the input
/// made the reader allocate and zero that much before reading, so a few bytes of a corrupt
/// snapshot or backup cost 128 MiB. The record is now read as its bytes arrive.
#[test]
fn a_record_length_beyond_the_input_allocates_nothing_ahead_of_its_bytes() {
    let genesis = snapshot(&DataTree::new(Limits::default()));
    let header_len = u32::from_le_bytes(genesis[12..16].try_into().expect("4 bytes")) as usize;
    let mut bytes = genesis[..16 + header_len].to_vec();
    let record_len = u32::try_from(SnapshotReader::record_len_max(&Limits::ceilings()) - 1)
        .expect("the bound fits a u32");
    bytes.extend_from_slice(&record_len.to_le_bytes());
    bytes.extend_from_slice(b"a few bytes");
    let mut input = MeasuringReader {
        bytes: &bytes,
        largest_read_len: 0,
    };
    let result = SnapshotReader::read(&mut input, &Limits::default());
    assert!(matches!(result, Err(SnapshotError::Io(_))), "{result:?}");
    assert!(
        input.largest_read_len <= 64 * 1024,
        "the reader asked for {} bytes at once for a {}-byte input",
        input.largest_read_len,
        bytes.len()
    );
}
