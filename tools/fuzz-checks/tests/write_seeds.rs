//! Writes the seed corpus `fuzz/seeds/TARGET/`: a few valid inputs per target, made by the
//! encoders, so that a fuzzer starts from inputs that reach deep into each decoder. Seeds are
//! committed; rerun this after a format changes:
//!
//!   cargo test -p polis-fuzz-checks --test write_seeds -- --ignored

use std::path::Path;

use openraft::{CommittedLeaderId, EntryPayload};
use polis_proto::wire;
use polis_raft::network::{ForwardRequest, ForwardResponse, PeerRequest, PeerResponse};
use polis_raft::{Command, LogEntry, LogId, SnapshotFile, SnapshotMeta, Vote};
use polis_tree::{Acl, DataTree, NodeKind, NodeRecord, Session};
use polis_zookeeper::{ConnectRequest, JuteWriter, opcode};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    std::fs::create_dir_all(&dir).expect("seed folder");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

/// A request frame without its length prefix: `xid`, `op`, then what `body` writes.
fn jute(xid: i32, op: i32, body: impl FnOnce(&mut JuteWriter)) -> Vec<u8> {
    let mut writer = JuteWriter::new();
    writer.write_int(xid);
    writer.write_int(op);
    body(&mut writer);
    writer.finish()[4..].to_vec()
}

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(2, 1), index)
}

fn entry(index: u64) -> LogEntry {
    let txns = polis_store::contract::workload(1, 3)
        .into_iter()
        .map(|txn| txn.kind)
        .collect();
    LogEntry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Command::batch(1_000, txns)),
    }
}

fn tree_snapshot() -> Vec<u8> {
    let mut tree = DataTree::new(polis_store::contract::test_limits());
    for txn in polis_store::contract::workload(1, 40) {
        let _ = tree.apply(&txn);
    }
    tree.write_snapshot(Vec::new()).expect("snapshot")
}

#[test]
#[ignore = "writes the committed seed corpus; run by hand after a format changes"]
fn write_seed_files() {
    // The ZooKeeper face.
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30_000,
        session_id: 0,
        password: vec![0; 16],
        read_only: Some(false),
    };
    write("zk_frames", "connect", &connect.encode()[4..]);
    write("zk_frames", "ruok", b"ruok");
    write("zk_frames", "ping", &jute(-2, opcode::PING, |_| {}));
    write(
        "zk_frames",
        "get_data",
        &jute(1, opcode::GET_DATA, |w| {
            w.write_string("/a/b");
            w.write_bool(true);
        }),
    );
    write(
        "zk_frames",
        "create",
        &jute(2, opcode::CREATE, |w| {
            w.write_string("/a");
            w.write_buffer(b"data");
            w.write_count(1);
            w.write_int(31);
            w.write_string("world");
            w.write_string("anyone");
            w.write_int(0);
        }),
    );
    write(
        "zk_frames",
        "set_watches",
        &jute(-8, opcode::SET_WATCHES, |w| {
            w.write_long(5);
            w.write_strings(&["/a".to_string()]);
            w.write_strings(&["/b".to_string()]);
            w.write_strings(&[]);
        }),
    );
    write(
        "zk_frames",
        "sasl",
        &jute(3, opcode::SASL, |w| w.write_buffer(b"")),
    );

    // Authentication on the ZooKeeper face.
    write(
        "zk_auth",
        "digest_response",
        b"charset=utf-8,username=\"alice\",realm=\"zk-sasl-md5\",nonce=\"bm9uY2U\",nc=00000001,\
          cnonce=\"Y25vbmNl\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
          response=0123456789abcdef0123456789abcdef,qop=auth",
    );
    write("zk_auth", "credentials", b"alice:secret");

    // The native protocol.
    let ping = wire::ClientMessage {
        body: Some(wire::client_message::Body::Request(wire::Request {
            xid: 7,
            allow_stale: false,
            op: Some(wire::request::Op::Ping(wire::Ping {})),
        })),
    };
    let frame = polis_proto::frame::encode_frame(&ping, 1024).expect("frame");
    write("native_frames", "ping", &frame);
    write(
        "native_frames",
        "two_pings",
        &[frame.clone(), frame].concat(),
    );

    // The admin endpoint.
    write(
        "admin_http_head",
        "metrics",
        b"GET /metrics?x=1 HTTP/1.1\r\nHost: node\r\n\r\n",
    );
    write("admin_http_head", "post", b"POST /ready HTTP/1.1\r\n\r\n");

    // Peer messages.
    let append = PeerRequest::AppendEntries(openraft::raft::AppendEntriesRequest {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(log_id(4)),
        entries: vec![entry(5)],
        leader_commit: Some(log_id(4)),
    });
    let encode = |value: &dyn erased::Encode| value.encode();
    write("peer_messages", "append_entries", &encode(&append));
    let vote = PeerRequest::Vote(openraft::raft::VoteRequest::new(
        Vote::new(3, 2),
        Some(log_id(9)),
    ));
    write("peer_messages", "vote", &encode(&vote));
    let forward = PeerRequest::Forward(ForwardRequest::ClientWrite(
        polis_store::contract::workload(1, 6)
            .into_iter()
            .map(|txn| txn.kind)
            .collect(),
    ));
    write("peer_messages", "forward_write", &encode(&forward));
    let answer = PeerResponse::Forward(Ok(ForwardResponse::ReadIndex(12)));
    write("peer_messages", "read_index_answer", &encode(&answer));

    // The Raft log's journal: two records of generation 7.
    let entries = |first: u64, count: u64| -> Vec<Vec<u8>> {
        (first..first + count)
            .map(|index| postcard::to_allocvec(&entry(index)).expect("entry"))
            .collect()
    };
    let journal = [
        polis_raft::fuzzing::encode_journal_record(7, 1, &entries(1, 2)).expect("record"),
        polis_raft::fuzzing::encode_journal_record(7, 3, &entries(3, 1)).expect("record"),
    ]
    .concat();
    write("raft_journal", "two_records", &journal);

    // The tree's snapshot, and the Raft snapshot file around it.
    let snapshot = tree_snapshot();
    write("tree_snapshot", "workload", &snapshot);
    write(
        "tree_snapshot",
        "empty_tree",
        &DataTree::new(polis_tree::Limits::default())
            .write_snapshot(Vec::new())
            .expect("snapshot"),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = SnapshotFile {
        meta: SnapshotMeta {
            last_log_id: Some(log_id(40)),
            last_membership: Default::default(),
            snapshot_id: "seed".to_string(),
        },
        data: snapshot,
    };
    polis_raft::fuzzing::write_snapshot_file(&file, dir.path()).expect("snapshot file");
    let bytes = std::fs::read(dir.path().join(polis_raft::SNAPSHOT_FILE_NAME)).expect("read");
    write("raft_snapshot_file", "workload", &bytes);

    // Tree store records: a kind byte, then the record.
    let node = NodeRecord {
        data: Some(b"value".to_vec().into_boxed_slice()),
        acl: Acl::open(),
        kind: NodeKind::Ephemeral { owner: 3 },
        czxid: 4,
        mzxid: 5,
        pzxid: 6,
        ctime: 1_000,
        mtime: 2_000,
        version: 1,
        cversion: 2,
        aversion: 0,
    };
    let record = |kind: u8, bytes: Vec<u8>| [vec![kind], bytes].concat();
    write(
        "store_records",
        "node",
        &record(0, postcard::to_allocvec(&node).expect("node")),
    );
    let session = Session {
        timeout_ms: 30_000,
        password: [9; 16],
        ephemerals: Default::default(),
    };
    write(
        "store_records",
        "session",
        &record(1, postcard::to_allocvec(&session).expect("session")),
    );

    // Quota text, as zkCli writes it.
    write(
        "quota_text",
        "zkcli",
        b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3",
    );
    write("quota_text", "stats", b"count=10,bytes=100");

    // Plugin manifests.
    let manifest = polis_plugin_host::PluginManifest::new("seed", "1.0.0", &["/alerts"]);
    write(
        "plugin_manifest",
        "minimal.toml",
        manifest.to_toml().as_bytes(),
    );
    write(
        "plugin_manifest",
        "minimal.json",
        manifest.to_json().as_bytes(),
    );
    let template =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/plugin/template/manifest.toml");
    let bytes = std::fs::read(template).expect("the template's manifest");
    write("plugin_manifest", "template.toml", &bytes);

    // CAP alerts: the plugin's own test documents.
    let testdata =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/alert-fanout/testdata");
    for name in [
        "nws-tornado-warning.xml",
        "flood-warning-cancel.xml",
        "invalid-open-polygon.xml",
    ] {
        let bytes = std::fs::read(testdata.join(name)).expect("CAP document");
        write("cap_xml", name, &bytes);
    }
}

/// Postcard encoding behind one object type, so that the seeds above can list messages of
/// different types alike.
mod erased {
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            postcard::to_allocvec(self).expect("encodes")
        }
    }
}
