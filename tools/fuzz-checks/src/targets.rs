//! One check per fuzz target; see the crate's documentation for what every check asserts.

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use polis_proto::frame::encode_frame;
use polis_proto::wire;
use polis_raft::fuzzing as raft_files;
use polis_raft::network::{PeerRequest, PeerResponse};
use polis_raft::{LogEntry, SnapshotFile};
use polis_tree::{
    DataTree, HistoryEntry, Limits, NodeRecord, NodeRecordWithoutNull, QuotaLimits, Session,
    SessionWrites,
};
use polis_zookeeper::{
    ConnectResponse, FourLetterWord, FramePrefix, JuteLimits, Request, classify_prefix,
    decode_connect, decode_request,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{AllocationBound, bounded};

/// Decoders that hold at most their input and its decoded form: no buffer set aside ahead of
/// the bytes.
const PROPORTIONAL: AllocationBound = AllocationBound {
    fixed_bytes: 64 * 1024,
    per_input_byte: 64,
};

/// Decoders built on serde with postcard: serde preallocates a sequence for at most 1 MiB of
/// elements before they are read (`serde::__private::size_hint::cautious`), once for each
/// sequence being decoded at the time, so up to 1 MiB per level of nesting, whatever the input's
/// size. The types fuzzed here nest many sequences (a peer's append-entries request: entries,
/// their transactions, a multi's operations, a node's ACL, ids, data; a session's recent writes
/// and their results), and the fuzzer reached 4.8 MB from 3,372 bytes of a peer message and
/// 9.5 MB from 3,091 bytes of a store record that way (fuzz/regressions/peer_messages/,
/// fuzz/regressions/store_records/). Bounded, and both inputs come from a member (its
/// certificate checked) or the node's own disk, so this is the bound, not a bug; README.md,
/// "Reliability", says so.
const POSTCARD: AllocationBound = AllocationBound {
    fixed_bytes: 16 * 1024 * 1024,
    per_input_byte: 64,
};

/// The TOML and JSON parsers of plugin manifests: their own working memory (tables, spans,
/// error context) is a few hundred bytes per input byte for small documents; the fuzzer found
/// 100 KB for a 493-byte manifest (fuzz/regressions/plugin_manifest/). A manifest is at most a
/// node's data (1 MiB), written by an administrator deploying the plugin.
const TEXT_PARSER: AllocationBound = AllocationBound {
    fixed_bytes: 256 * 1024,
    per_input_byte: 512,
};

/// The jute limits of the fuzz targets: tight, so that inputs of a few kilobytes reach every one.
fn jute_limits() -> JuteLimits {
    JuteLimits {
        frame_len_max: 4096,
        path_len_max: 256,
        data_len_max: 1024,
        acl_entries_max: 8,
        multi_ops_max: 16,
        watch_paths_max: 32,
        password_len_max: 16,
    }
}

/// The ZooKeeper face: a frame's 4-byte prefix (length or four-letter word), the connect
/// request, every request (multi, SASL, setWatches, ACLs included) and, as a client would read
/// it, the connect response. The decoder's documented bound: nothing beyond the frame it was
/// given, so no fixed allowance beyond the proportional one.
pub fn zk_frames(bytes: &[u8]) {
    let limits = jute_limits();
    if let Some(prefix) = bytes.first_chunk::<4>() {
        for first_on_connection in [true, false] {
            match classify_prefix(*prefix, first_on_connection, &limits) {
                Ok(FramePrefix::FourLetterWord(word)) => {
                    assert!(
                        first_on_connection,
                        "zk_frames: a word after the first frame"
                    );
                    assert_eq!(word.name().as_bytes(), prefix, "zk_frames: word name");
                    assert_eq!(FourLetterWord::from_name(word.name()), Some(word));
                }
                Ok(FramePrefix::Frame { len }) => {
                    assert!(
                        len <= limits.frame_len_max,
                        "zk_frames: frame over its limit"
                    );
                }
                Err(_) => {}
            }
        }
    }
    let connect = bounded("zk_frames", bytes, PROPORTIONAL, || {
        decode_connect(bytes, &limits)
    });
    if let Ok(connect) = connect {
        let frame = connect.encode();
        let again = decode_connect(&frame[4..], &limits).expect("zk_frames: connect re-decodes");
        assert_eq!(again, connect, "zk_frames: connect round trip");
    }
    let request = bounded("zk_frames", bytes, PROPORTIONAL, || {
        decode_request(bytes, &limits)
    });
    if let Ok(request) = request {
        let frame = request.encode();
        let again: Request =
            decode_request(&frame[4..], &limits).expect("zk_frames: request re-decodes");
        assert_eq!(again, request, "zk_frames: request round trip");
        assert_eq!(again.encode(), frame, "zk_frames: request encoding stable");
    }
    let response = bounded("zk_frames", bytes, PROPORTIONAL, || {
        ConnectResponse::decode(bytes, &limits)
    });
    if let Ok(response) = response {
        let frame = response.encode();
        let again =
            ConnectResponse::decode(&frame[4..], &limits).expect("zk_frames: response re-decodes");
        assert_eq!(again, response, "zk_frames: connect response round trip");
    }
}

/// Authentication on the ZooKeeper face, from anonymous clients: a DIGEST-MD5 SASL exchange
/// (the empty first token, then the input as the client's response) and an `addAuth` of the
/// `digest` scheme, whose credentials are `user:password` text.
pub fn zk_auth(bytes: &[u8]) {
    use polis_server::zookeeper::sasl_digest::{DigestMd5Exchange, SaslStep, SaslUsers};
    let users = SaslUsers::from([("alice", "secret"), ("super", "test")]);
    let mut exchange = DigestMd5Exchange::default();
    let challenge = exchange.step(b"", || "bm9uY2U".to_string(), &users);
    assert!(
        matches!(challenge, Ok(SaslStep::Challenge(_))),
        "zk_auth: the first empty token gets a challenge"
    );
    let step = bounded("zk_auth", bytes, PROPORTIONAL, || {
        exchange.step(bytes, || unreachable!("no second challenge"), &users)
    });
    if let Ok(SaslStep::Authenticated { user, .. }) = &step {
        assert!(
            users.get(user).is_some(),
            "zk_auth: authenticated an unknown user"
        );
    }
    assert!(
        exchange.step(b"", String::new, &users).is_err(),
        "zk_auth: the exchange ends after the client's response"
    );
    let add_auth = wire::AddAuth {
        scheme: "digest".to_string(),
        auth: bytes.to_vec(),
    };
    let identity = bounded("zk_auth", bytes, PROPORTIONAL, || {
        polis_server::connection::digest_identity(&add_auth)
    });
    if let Ok(id) = identity {
        let credentials = std::str::from_utf8(bytes).expect("zk_auth: accepted text is UTF-8");
        let (user, _) = credentials.split_once(':').expect("zk_auth: user:password");
        assert!(
            id.id.starts_with(&format!("{user}:")),
            "zk_auth: the digest id names its user"
        );
    }
}

/// Polls a future that never waits (reading from a slice) to its end.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading from a slice waited"),
    }
}

/// The frame bound of the native-frames target: small, so that the fuzzer reaches it.
const NATIVE_FRAME_LEN_MAX: usize = 64 * 1024;

/// Reads every frame in `bytes` as messages `M`, as a server (`ClientMessage`) or a client
/// (`ServerMessage`) does, and checks each decoded message's round trip.
fn native_frames_of<M: prost::Message + Default + PartialEq>(bytes: &[u8]) {
    // `read_frame` sets aside the frame's announced length, at most `frame_len_max`, before
    // reading it: that is its documented bound.
    let bound = AllocationBound {
        fixed_bytes: NATIVE_FRAME_LEN_MAX + PROPORTIONAL.fixed_bytes,
        per_input_byte: PROPORTIONAL.per_input_byte,
    };
    let mut input = bytes;
    loop {
        let read = bounded("native_frames", bytes, bound, || {
            ready(polis_proto::read_frame::<M, _>(
                &mut input,
                NATIVE_FRAME_LEN_MAX,
            ))
        });
        let Ok(Some(message)) = read else {
            return;
        };
        let frame = encode_frame(&message, NATIVE_FRAME_LEN_MAX)
            .expect("native_frames: a decoded message fits its frame again");
        let again: M = ready(polis_proto::read_frame(
            &mut frame.as_slice(),
            NATIVE_FRAME_LEN_MAX,
        ))
        .expect("native_frames: re-encoded frame decodes")
        .expect("native_frames: re-encoded frame present");
        assert!(again == message, "native_frames: round trip");
    }
}

/// The native QUIC protocol: length-delimited protobuf frames, both directions.
pub fn native_frames(bytes: &[u8]) {
    native_frames_of::<wire::ClientMessage>(bytes);
    native_frames_of::<wire::ServerMessage>(bytes);
}

/// The admin HTTP endpoint's request head, from anyone reaching the admin port.
pub fn admin_http_head(bytes: &[u8]) {
    use polis_server::admin_http::{AdminRequest, head_is_complete, parse_request_head};
    let (_, request) = bounded("admin_http_head", bytes, PROPORTIONAL, || {
        (head_is_complete(bytes), parse_request_head(bytes))
    });
    // Only a request line whose first word is GET is served; anything else is refused whole.
    let line = bytes
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    assert_eq!(
        request == AdminRequest::MethodNotAllowed,
        line.split_whitespace().next() != Some("GET"),
        "admin_http_head: served a request that is not a GET"
    );
}

/// Postcard's round trip for values without `PartialEq`: the encoding of what decodes is
/// stable (`encode(decode(encode(x))) == encode(x)`).
fn postcard_stable<T: Serialize + DeserializeOwned>(target: &str, value: &T) {
    let encoded = postcard::to_allocvec(value).expect("encodes");
    let again: T = postcard::from_bytes(&encoded)
        .unwrap_or_else(|error| panic!("{target}: re-encoded value does not decode: {error}"));
    let twice = postcard::to_allocvec(&again).expect("encodes");
    assert_eq!(twice, encoded, "{target}: encoding not stable");
}

/// Messages from other nodes on the peer port (Raft RPCs, forwarded requests, and their
/// answers), postcard-encoded.
pub fn peer_messages(bytes: &[u8]) {
    let request = bounded("peer_messages", bytes, POSTCARD, || {
        postcard::from_bytes::<PeerRequest>(bytes)
    });
    if let Ok(request) = request {
        postcard_stable("peer_messages", &request);
    }
    let response = bounded("peer_messages", bytes, POSTCARD, || {
        postcard::from_bytes::<PeerResponse>(bytes)
    });
    if let Ok(response) = response {
        postcard_stable("peer_messages", &response);
    }
}

thread_local! {
    /// A directory per thread for the targets that read files, made once: making one per input
    /// would cost more than the decoding.
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// This thread's scratch directory, emptied.
fn scratch() -> PathBuf {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let dir = scratch.get_or_insert_with(|| {
            // In memory where the machine has it: the snapshot file's round trip fsyncs, which
            // on a disk would cost more than everything else the target does.
            let shm = Path::new("/dev/shm");
            let parent = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            tempfile::Builder::new()
                .prefix("polis-fuzz-")
                .tempdir_in(parent)
                .expect("a scratch directory")
        });
        let path = dir.path().to_path_buf();
        for entry in std::fs::read_dir(&path).expect("scratch readable") {
            let entry = entry.expect("scratch entry");
            if entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).expect("scratch emptied");
            } else {
                std::fs::remove_file(entry.path()).expect("scratch emptied");
            }
        }
        path
    })
}

/// The Raft log's journal as a restart reads it: the input is the file, read for the
/// generation its first record names (any other generation reads nothing). Each record read back
/// encodes to the bytes it came from, and its entries are decoded as the log decodes them.
pub fn raft_journal(bytes: &[u8]) {
    let dir = scratch();
    let log_file = dir.join("raft-log.redb");
    std::fs::write(log_file.with_extension("journal"), bytes).expect("journal written");
    let generation = bytes.get(8..16).map_or(0, |field| {
        u64::from_le_bytes(field.try_into().expect("8 bytes"))
    });
    let records = bounded("raft_journal", bytes, PROPORTIONAL, || {
        raft_files::read_journal(&log_file, generation)
    });
    let Ok(records) = records else {
        return;
    };
    let mut at = 0usize;
    for (first_index, entries) in &records {
        let encoded = raft_files::encode_journal_record(generation, *first_index, entries)
            .expect("raft_journal: a record read back encodes");
        assert_eq!(
            bytes.get(at..at + encoded.len()),
            Some(encoded.as_slice()),
            "raft_journal: a record read back encodes to the bytes it came from"
        );
        at += encoded.len();
        for entry in entries {
            let decoded = bounded("raft_journal", entry, POSTCARD, || {
                postcard::from_bytes::<LogEntry>(entry)
            });
            if let Ok(decoded) = decoded {
                postcard_stable("raft_journal", &decoded);
            }
        }
    }
}

/// Writes `bytes` as the snapshot file of `dir` and reads it back as a restart does.
fn read_snapshot_file_of(dir: &Path, bytes: &[u8]) -> Result<Option<SnapshotFile>, String> {
    std::fs::write(dir.join(polis_raft::SNAPSHOT_FILE_NAME), bytes).expect("snapshot written");
    raft_files::read_snapshot_file(dir).map_err(|error| error.to_string())
}

/// The Raft snapshot file a node reads when it starts (`raft-snapshot.bin`: openraft's metadata
/// and the tree's snapshot). What reads back writes and reads back equal.
pub fn raft_snapshot_file(bytes: &[u8]) {
    let dir = scratch();
    let read = bounded("raft_snapshot_file", bytes, POSTCARD, || {
        read_snapshot_file_of(&dir, bytes)
    });
    let Ok(Some(snapshot)) = read else {
        return;
    };
    let again_dir = dir.join("again");
    std::fs::create_dir(&again_dir).expect("second directory");
    raft_files::write_snapshot_file(&snapshot, &again_dir).expect("raft_snapshot_file: writes");
    let again = raft_files::read_snapshot_file(&again_dir)
        .expect("raft_snapshot_file: reads back")
        .expect("raft_snapshot_file: present");
    assert_eq!(again, snapshot, "raft_snapshot_file: round trip");
}

/// The tree's snapshot format, read from a snapshot file, a snapshot sent by the leader, or a
/// backup being restored. What reads back writes the same bytes again when read and written.
pub fn tree_snapshot(bytes: &[u8]) {
    let tree = bounded("tree_snapshot", bytes, POSTCARD, || {
        DataTree::read_snapshot(Limits::default(), bytes)
    });
    let Ok(tree) = tree else {
        return;
    };
    let written = tree
        .write_snapshot(Vec::new())
        .expect("tree_snapshot: a tree read back writes");
    let again = DataTree::read_snapshot(Limits::default(), written.as_slice())
        .expect("tree_snapshot: a written snapshot reads back");
    let rewritten = again.write_snapshot(Vec::new()).expect("writes");
    assert_eq!(rewritten, written, "tree_snapshot: round trip");
}

/// Decodes `bytes` as a `T`, bounded, and checks its round trip.
fn store_record<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    let decoded = bounded("store_records", bytes, POSTCARD, || {
        postcard::from_bytes::<T>(bytes)
    });
    if let Ok(value) = decoded {
        let encoded = postcard::to_allocvec(&value).expect("encodes");
        let again: T = postcard::from_bytes(&encoded).expect("store_records: re-decodes");
        assert_eq!(again, value, "store_records: round trip");
    }
}

/// The records of the tree store (`tree.redb`) as a restart reads them: nodes (both formats),
/// sessions, sessions' recent writes and history entries, postcard-encoded. The first byte picks
/// the record kind, the rest is the record.
pub fn store_records(bytes: &[u8]) {
    let Some((kind, record)) = bytes.split_first() else {
        return;
    };
    match kind % 5 {
        0 => store_record::<NodeRecord>(record),
        1 => store_record::<Session>(record),
        2 => store_record::<SessionWrites>(record),
        3 => store_record::<HistoryEntry>(record),
        _ => {
            let decoded = bounded("store_records", record, POSTCARD, || {
                postcard::from_bytes::<NodeRecordWithoutNull>(record)
            });
            if let Ok(old) = decoded {
                // The old format reads as a current record; both encode stably.
                postcard_stable("store_records", &old);
                let current = NodeRecord::from(old);
                let encoded = postcard::to_allocvec(&current).expect("encodes");
                let again: NodeRecord = postcard::from_bytes(&encoded).expect("re-decodes");
                assert_eq!(again, current, "store_records: converted round trip");
            }
        }
    }
}

/// ZooKeeper's `StatsTrack` text of a quota's limits node, written by any client allowed under
/// `/zookeeper/quota` and read by every node's quota table.
pub fn quota_text(bytes: &[u8]) {
    let limits = bounded("quota_text", bytes, PROPORTIONAL, || {
        QuotaLimits::parse(bytes)
    });
    if let Ok(limits) = limits {
        let text = format!(
            "count={},bytes={};countHardLimit={};byteHardLimit={}",
            limits.count, limits.bytes, limits.count_hard, limits.bytes_hard
        );
        assert_eq!(
            QuotaLimits::parse(text.as_bytes()),
            Ok(limits),
            "quota_text: round trip"
        );
    }
}

/// A plugin's manifest, TOML or JSON, from the plugin's author (deployed into the tree, read by
/// every leader). What parses writes and parses back equal, in both forms.
pub fn plugin_manifest(bytes: &[u8]) {
    use polis_plugin_host::PluginManifest;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let parsed = bounded("plugin_manifest", bytes, TEXT_PARSER, || {
        (
            PluginManifest::from_toml(text),
            PluginManifest::from_json(text),
        )
    });
    for manifest in [parsed.0, parsed.1].into_iter().flatten() {
        let toml = PluginManifest::from_toml(&manifest.to_toml())
            .expect("plugin_manifest: its TOML parses back");
        assert_eq!(toml, manifest, "plugin_manifest: TOML round trip");
        let json = PluginManifest::from_json(&manifest.to_json())
            .expect("plugin_manifest: its JSON parses back");
        assert_eq!(json, manifest, "plugin_manifest: JSON round trip");
    }
}

/// A CAP 1.2 alert, as any agency publishes it for the alert fan-out plugin (natively here), and
/// its times as CAP writes them.
pub fn cap_xml(bytes: &[u8]) {
    use polis_alert_fanout::cap_time::parse_cap_time;
    use polis_alert_fanout::cap_xml::parse_xml;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = bounded("cap_xml", bytes, PROPORTIONAL, || {
        (parse_xml(text), parse_cap_time(text))
    });
}
