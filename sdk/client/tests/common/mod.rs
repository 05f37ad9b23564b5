//! A scripted stand-in for the Polis server, speaking the real wire protocol over real QUIC and
//! mutual TLS, with just enough of the tree (flat data, sequential and ephemeral nodes, one-shot
//! and persistent watches, a change history for `SetWatches` replay) to exercise the client's
//! connection handling: pipelining, event ordering, reconnection, expiry and refusals.
//!
//! It is not the server: its semantics are the minimum the client tests need. End-to-end tests
//! against the real server live in the workspace `tests/` crate.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polis_client::{ClientConfig, TlsFiles};
use polis_proto::wire;
use polis_proto::wire::request::Op as RequestOp;
use polis_proto::wire::response::Result as ResponseResult;
use polis_proto::wire::server_message::Body as ServerBody;
use polis_proto::{FRAME_LEN_MAX_DEFAULT, PROTOCOL_VERSION, read_frame, write_frame};
use polis_security::{CertificateAuthority, TransportTimeouts, quinn_server_config};
use polis_tree::{ErrorCode, EventKind, WatchEvent, WatchKind};
use tokio::sync::mpsc;

/// The bound on every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: CertificateAuthority,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = CertificateAuthority::init(dir.path(), "Client Test CA").expect("CA");
        Pki { _dir: dir, ca }
    }

    pub fn client_files(&self, name: &str) -> TlsFiles {
        self.ca.issue_client(name).expect("client certificate")
    }
}

pub fn client_config(server: &FakeServer, files: TlsFiles) -> ClientConfig {
    let mut config = ClientConfig::new(vec![server.address], "localhost", files);
    config.session_timeout_ms = 3_000;
    config.request_timeout_ms = 5_000;
    config.connect_timeout_ms = 2_000;
    config.reconnect_backoff_min_ms = 10;
    config.reconnect_backoff_max_ms = 100;
    config
}

#[derive(Clone, Debug)]
struct Node {
    data: Vec<u8>,
    version: i32,
    cversion: i32,
    czxid: i64,
    mzxid: i64,
    ephemeral_owner: i64,
}

impl Node {
    fn stat(&self, num_children: i32) -> wire::Stat {
        wire::Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            version: self.version,
            cversion: self.cversion,
            ephemeral_owner: self.ephemeral_owner,
            data_length: self.data.len() as i32,
            num_children,
            pzxid: self.czxid,
            ..Default::default()
        }
    }
}

struct Session {
    password: Vec<u8>,
    timeout_ms: i32,
    watches: BTreeSet<(WatchKind, String)>,
    outbound: Option<mpsc::UnboundedSender<wire::ServerMessage>>,
    connection: Option<quinn::Connection>,
}

#[derive(Default)]
struct World {
    zxid: i64,
    nodes: BTreeMap<String, Node>,
    sessions: HashMap<i64, Session>,
    history: Vec<WatchEvent>,
    connections_accepted: usize,
}

fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(index) => path[..index].to_string(),
    }
}

impl World {
    fn children_of(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|candidate| candidate.as_str() != "/" && parent_of(candidate) == path)
            .map(|child| child.rsplit('/').next().unwrap_or_default().to_string())
            .collect()
    }

    fn stat_of(&self, path: &str) -> Option<wire::Stat> {
        let node = self.nodes.get(path)?;
        Some(node.stat(self.children_of(path).len() as i32))
    }

    /// Fires an event to every session watching it, before whatever the caller sends next.
    fn fire(&mut self, zxid: i64, kind: EventKind, path: &str) {
        let event = WatchEvent {
            zxid,
            kind,
            path: path.to_string(),
        };
        self.history.push(event.clone());
        for session in self.sessions.values_mut() {
            let matching: Vec<(WatchKind, String)> = session
                .watches
                .iter()
                .filter(|(kind, watch_path)| kind.fires_for(watch_path, &event))
                .cloned()
                .collect();
            if matching.is_empty() {
                continue;
            }
            for (kind, watch_path) in &matching {
                if matches!(kind, WatchKind::Data | WatchKind::Children) {
                    session.watches.remove(&(*kind, watch_path.clone()));
                }
            }
            if let Some(outbound) = &session.outbound {
                let _ = outbound.send(event_message(&event));
            }
        }
    }

    fn delete_node(&mut self, path: &str) {
        self.zxid += 1;
        let zxid = self.zxid;
        self.nodes.remove(path);
        let parent = parent_of(path);
        if let Some(parent_node) = self.nodes.get_mut(&parent) {
            parent_node.cversion += 1;
        }
        self.fire(zxid, EventKind::NodeDeleted, path);
        self.fire(zxid, EventKind::NodeChildrenChanged, &parent);
    }

    fn end_session(&mut self, session_id: i64) {
        let ephemerals: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.ephemeral_owner == session_id)
            .map(|(path, _)| path.clone())
            .collect();
        for path in ephemerals {
            self.delete_node(&path);
        }
        if let Some(session) = self.sessions.remove(&session_id)
            && let Some(connection) = session.connection
        {
            connection.close(0u32.into(), b"session ended");
        }
    }
}

fn event_message(event: &WatchEvent) -> wire::ServerMessage {
    let kind = match event.kind {
        EventKind::NodeCreated => wire::EventType::NodeCreated,
        EventKind::NodeDeleted => wire::EventType::NodeDeleted,
        EventKind::NodeDataChanged => wire::EventType::NodeDataChanged,
        EventKind::NodeChildrenChanged => wire::EventType::NodeChildrenChanged,
    };
    wire::ServerMessage {
        body: Some(ServerBody::Event(wire::WatchEvent {
            zxid: event.zxid,
            r#type: kind as i32,
            path: event.path.clone(),
        })),
    }
}

/// The stand-in server, listening on 127.0.0.1 until dropped.
pub struct FakeServer {
    pub address: SocketAddr,
    endpoint: quinn::Endpoint,
    world: Arc<Mutex<World>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.endpoint.close(0u32.into(), b"test over");
    }
}

impl FakeServer {
    pub fn start(pki: &Pki) -> FakeServer {
        let files = pki.ca.issue_node("fake", &[]).expect("node certificate");
        let config = quinn_server_config(
            &files,
            &[polis_proto::ALPN_CLIENT.to_vec()],
            &TransportTimeouts::default(),
        )
        .expect("server config");
        let endpoint =
            quinn::Endpoint::server(config, "127.0.0.1:0".parse().expect("address")).expect("bind");
        let address = endpoint.local_addr().expect("address");
        let mut world = World::default();
        world.nodes.insert(
            "/".into(),
            Node {
                data: Vec::new(),
                version: 0,
                cversion: 0,
                czxid: 0,
                mzxid: 0,
                ephemeral_owner: 0,
            },
        );
        let world = Arc::new(Mutex::new(world));
        let accepting = endpoint.clone();
        let shared_world = world.clone();
        let acceptor = tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let world = shared_world.clone();
                tokio::spawn(async move {
                    if let Ok(connection) = incoming.await {
                        serve(world, connection).await;
                    }
                });
            }
        });
        FakeServer {
            address,
            endpoint,
            world,
            acceptor,
        }
    }

    /// Breaks every open connection, as a network failure would; sessions stay.
    pub fn drop_connections(&self) {
        let mut world = self.world.lock().unwrap();
        for session in world.sessions.values_mut() {
            session.outbound = None;
            if let Some(connection) = session.connection.take() {
                connection.close(1u32.into(), b"network failure");
            }
        }
    }

    /// Expires a session: its ephemerals go and its connection closes.
    pub fn expire(&self, session_id: i64) {
        self.world.lock().unwrap().end_session(session_id);
    }

    pub fn connections_accepted(&self) -> usize {
        self.world.lock().unwrap().connections_accepted
    }

    /// Changes a node's data behind every client's back.
    pub fn set_data(&self, path: &str, data: &[u8]) {
        let mut world = self.world.lock().unwrap();
        world.zxid += 1;
        let zxid = world.zxid;
        let node = world.nodes.get_mut(path).expect("node exists");
        node.data = data.to_vec();
        node.version += 1;
        node.mzxid = zxid;
        world.fire(zxid, EventKind::NodeDataChanged, path);
    }
}

async fn serve(world: Arc<Mutex<World>>, connection: quinn::Connection) {
    let Ok((mut send, mut recv)) = connection.accept_bi().await else {
        return;
    };
    let frame_len_max = FRAME_LEN_MAX_DEFAULT;
    let Ok(Some(first)) = read_frame::<wire::ClientMessage, _>(&mut recv, frame_len_max).await
    else {
        return;
    };
    let Some(wire::client_message::Body::Connect(connect)) = first.body else {
        return;
    };
    let (outbound, mut outbound_receiver) = mpsc::unbounded_channel::<wire::ServerMessage>();
    let session_id = {
        let mut world = world.lock().unwrap();
        world.connections_accepted += 1;
        let refusal = |code: ErrorCode| wire::ServerMessage {
            body: Some(ServerBody::Connected(wire::Connected {
                protocol_version: PROTOCOL_VERSION,
                error_code: code.as_i32(),
                error_message: format!("{code:?}"),
                ..Default::default()
            })),
        };
        let session_id = if connect.session_id == 0 {
            world.zxid += 1;
            let session_id = world.zxid;
            world.sessions.insert(
                session_id,
                Session {
                    password: session_id.to_be_bytes().to_vec(),
                    timeout_ms: connect.session_timeout_ms,
                    watches: BTreeSet::new(),
                    outbound: None,
                    connection: None,
                },
            );
            session_id
        } else {
            match world.sessions.get(&connect.session_id) {
                None => {
                    let _ = outbound.send(refusal(ErrorCode::SessionExpired));
                    0
                }
                Some(session) if session.password != connect.password => {
                    let _ = outbound.send(refusal(ErrorCode::AuthFailed));
                    0
                }
                Some(_) => connect.session_id,
            }
        };
        if session_id != 0 {
            let last_zxid = world.zxid;
            let session = world.sessions.get_mut(&session_id).expect("session");
            let _ = outbound.send(wire::ServerMessage {
                body: Some(ServerBody::Connected(wire::Connected {
                    protocol_version: PROTOCOL_VERSION,
                    session_timeout_ms: session.timeout_ms,
                    session_id,
                    password: session.password.clone(),
                    last_zxid,
                    ..Default::default()
                })),
            });
            session.outbound = Some(outbound.clone());
            session.connection = Some(connection.clone());
        }
        session_id
    };
    let writer = tokio::spawn(async move {
        while let Some(message) = outbound_receiver.recv().await {
            if write_frame(&mut send, &message, FRAME_LEN_MAX_DEFAULT)
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = send.finish();
    });
    if session_id == 0 {
        drop(outbound);
        let _ = writer.await;
        return;
    }
    drop(outbound);
    while let Ok(Some(message)) =
        read_frame::<wire::ClientMessage, _>(&mut recv, frame_len_max).await
    {
        let Some(wire::client_message::Body::Request(request)) = message.body else {
            break;
        };
        let mut world = world.lock().unwrap();
        let Some(outbound) = world
            .sessions
            .get(&session_id)
            .and_then(|session| session.outbound.clone())
        else {
            break;
        };
        let closing = matches!(request.op, Some(RequestOp::Close(_)));
        let response = handle(&mut world, session_id, request);
        let _ = outbound.send(wire::ServerMessage {
            body: Some(ServerBody::Response(response)),
        });
        if closing {
            world.end_session(session_id);
            break;
        }
    }
    let _ = writer.await;
}

fn answer(xid: u64, zxid: i64, result: ResponseResult) -> wire::Response {
    wire::Response {
        xid,
        zxid,
        result: Some(result),
        ..Default::default()
    }
}

fn failure(xid: u64, zxid: i64, code: ErrorCode, path: &str) -> wire::Response {
    wire::Response {
        xid,
        zxid,
        error_code: code.as_i32(),
        error_message: format!("{code:?} at {path}"),
        ..Default::default()
    }
}

fn handle(world: &mut World, session_id: i64, request: wire::Request) -> wire::Response {
    let xid = request.xid;
    let Some(op) = request.op else {
        return failure(xid, world.zxid, ErrorCode::BadArguments, "");
    };
    match op {
        RequestOp::Ping(_) => answer(xid, world.zxid, ResponseResult::Ping(wire::Empty {})),
        RequestOp::Close(_) => answer(xid, world.zxid, ResponseResult::Close(wire::Empty {})),
        RequestOp::Create(create) => {
            let parent = parent_of(&create.path);
            let Some(parent_node) = world.nodes.get(&parent) else {
                return failure(xid, world.zxid, ErrorCode::NoNode, &create.path);
            };
            let sequential = create.mode == wire::CreateMode::EphemeralSequential as i32
                || create.mode == wire::CreateMode::PersistentSequential as i32;
            let ephemeral = create.mode == wire::CreateMode::EphemeralSequential as i32
                || create.mode == wire::CreateMode::Ephemeral as i32;
            let path = if sequential {
                format!("{}{:010}", create.path, parent_node.cversion)
            } else {
                create.path.clone()
            };
            if world.nodes.contains_key(&path) {
                return failure(xid, world.zxid, ErrorCode::NodeExists, &path);
            }
            world.zxid += 1;
            let zxid = world.zxid;
            let node = Node {
                data: create.data,
                version: 0,
                cversion: 0,
                czxid: zxid,
                mzxid: zxid,
                ephemeral_owner: if ephemeral { session_id } else { 0 },
            };
            world.nodes.insert(path.clone(), node);
            if let Some(parent_node) = world.nodes.get_mut(&parent) {
                parent_node.cversion += 1;
            }
            world.fire(zxid, EventKind::NodeCreated, &path);
            world.fire(zxid, EventKind::NodeChildrenChanged, &parent);
            let stat = world.stat_of(&path);
            answer(
                xid,
                zxid,
                ResponseResult::Create(wire::CreateResult { path, stat }),
            )
        }
        RequestOp::Delete(delete) => {
            let Some(node) = world.nodes.get(&delete.path) else {
                return failure(xid, world.zxid, ErrorCode::NoNode, &delete.path);
            };
            if delete.version != -1 && delete.version != node.version {
                return failure(xid, world.zxid, ErrorCode::BadVersion, &delete.path);
            }
            world.delete_node(&delete.path);
            answer(xid, world.zxid, ResponseResult::Delete(wire::Empty {}))
        }
        RequestOp::Exists(exists) => {
            if exists.watch {
                world
                    .sessions
                    .get_mut(&session_id)
                    .expect("session")
                    .watches
                    .insert((WatchKind::Data, exists.path.clone()));
            }
            let stat = world.stat_of(&exists.path);
            answer(
                xid,
                world.zxid,
                ResponseResult::Exists(wire::ExistsResult { stat }),
            )
        }
        RequestOp::GetData(get) => {
            let Some(node) = world.nodes.get(&get.path).cloned() else {
                return failure(xid, world.zxid, ErrorCode::NoNode, &get.path);
            };
            if get.watch {
                world
                    .sessions
                    .get_mut(&session_id)
                    .expect("session")
                    .watches
                    .insert((WatchKind::Data, get.path.clone()));
            }
            let stat = world.stat_of(&get.path);
            answer(
                xid,
                world.zxid,
                ResponseResult::GetData(wire::GetDataResult {
                    data: node.data,
                    stat,
                }),
            )
        }
        RequestOp::SetData(set) => {
            let Some(node) = world.nodes.get(&set.path) else {
                return failure(xid, world.zxid, ErrorCode::NoNode, &set.path);
            };
            if set.version != -1 && set.version != node.version {
                return failure(xid, world.zxid, ErrorCode::BadVersion, &set.path);
            }
            world.zxid += 1;
            let zxid = world.zxid;
            let node = world.nodes.get_mut(&set.path).expect("node");
            node.data = set.data;
            node.version += 1;
            node.mzxid = zxid;
            world.fire(zxid, EventKind::NodeDataChanged, &set.path);
            let stat = world.stat_of(&set.path);
            answer(
                xid,
                zxid,
                ResponseResult::SetData(wire::StatResult { stat }),
            )
        }
        RequestOp::GetChildren(get) => {
            if !world.nodes.contains_key(&get.path) {
                return failure(xid, world.zxid, ErrorCode::NoNode, &get.path);
            }
            if get.watch {
                world
                    .sessions
                    .get_mut(&session_id)
                    .expect("session")
                    .watches
                    .insert((WatchKind::Children, get.path.clone()));
            }
            let children = world.children_of(&get.path);
            let stat = world.stat_of(&get.path);
            answer(
                xid,
                world.zxid,
                ResponseResult::GetChildren(wire::GetChildrenResult { children, stat }),
            )
        }
        RequestOp::AddWatch(add) => {
            let kind = polis_proto::convert::watch_kind_from_wire(add.mode).expect("mode");
            let mut replayed = 0;
            if let Some(after) = add.resume_after_zxid {
                let events: Vec<WatchEvent> = world
                    .history
                    .iter()
                    .filter(|event| event.zxid > after && kind.fires_for(&add.path, event))
                    .cloned()
                    .collect();
                let session = world.sessions.get(&session_id).expect("session");
                if let Some(outbound) = &session.outbound {
                    for event in &events {
                        let _ = outbound.send(event_message(event));
                        replayed += 1;
                    }
                }
            }
            world
                .sessions
                .get_mut(&session_id)
                .expect("session")
                .watches
                .insert((kind, add.path));
            answer(
                xid,
                world.zxid,
                ResponseResult::AddWatch(wire::AddWatchResult {
                    replayed_events: replayed,
                }),
            )
        }
        RequestOp::RemoveWatch(remove) => {
            let kind = polis_proto::convert::watch_kind_from_wire(remove.mode).expect("mode");
            world
                .sessions
                .get_mut(&session_id)
                .expect("session")
                .watches
                .remove(&(kind, remove.path));
            answer(xid, world.zxid, ResponseResult::RemoveWatch(wire::Empty {}))
        }
        RequestOp::SetWatches(set) => {
            let mut watches = Vec::new();
            for (paths, kind) in [
                (&set.data_watches, WatchKind::Data),
                (&set.child_watches, WatchKind::Children),
                (&set.persistent_watches, WatchKind::Persistent),
                (
                    &set.persistent_recursive_watches,
                    WatchKind::PersistentRecursive,
                ),
            ] {
                for path in paths {
                    watches.push((kind, path.clone()));
                }
            }
            let missed: Vec<WatchEvent> = world
                .history
                .iter()
                .filter(|event| event.zxid > set.last_zxid_seen)
                .cloned()
                .collect();
            let session = world.sessions.get_mut(&session_id).expect("session");
            let mut replayed = 0;
            for (kind, path) in watches {
                let fired: Vec<&WatchEvent> = missed
                    .iter()
                    .filter(|event| kind.fires_for(&path, event))
                    .collect();
                let one_shot = matches!(kind, WatchKind::Data | WatchKind::Children);
                for event in &fired {
                    if let Some(outbound) = &session.outbound {
                        let _ = outbound.send(event_message(event));
                        replayed += 1;
                    }
                    if one_shot {
                        break;
                    }
                }
                if !one_shot || fired.is_empty() {
                    session.watches.insert((kind, path));
                }
            }
            answer(
                xid,
                world.zxid,
                ResponseResult::SetWatches(wire::SetWatchesResult {
                    replayed_events: replayed,
                    history_compacted: false,
                }),
            )
        }
        RequestOp::Multi(multi) => {
            let mut results = Vec::new();
            let mut failed = None;
            for op in &multi.ops {
                let code = match &op.op {
                    Some(wire::multi_op::Op::Check(check)) => match world.nodes.get(&check.path) {
                        None => ErrorCode::NoNode,
                        Some(node) if check.version != -1 && node.version != check.version => {
                            ErrorCode::BadVersion
                        }
                        Some(_) => ErrorCode::Ok,
                    },
                    _ => ErrorCode::Unimplemented,
                };
                if code != ErrorCode::Ok && failed.is_none() {
                    failed = Some(code);
                }
                results.push(code);
            }
            let results = results
                .into_iter()
                .map(|code| wire::MultiOpResult {
                    error_code: code.as_i32(),
                    result: (code == ErrorCode::Ok && failed.is_none())
                        .then_some(wire::multi_op_result::Result::Check(wire::Empty {})),
                })
                .collect();
            wire::Response {
                xid,
                zxid: world.zxid,
                error_code: failed.map_or(0, ErrorCode::as_i32),
                result: Some(ResponseResult::Multi(wire::MultiResult { results })),
                ..Default::default()
            }
        }
        RequestOp::AddAuth(add) => answer(
            xid,
            world.zxid,
            ResponseResult::AddAuth(wire::IdsResult {
                identities: vec![wire::Id {
                    scheme: add.scheme,
                    id: String::from_utf8_lossy(&add.auth).into_owned(),
                }],
            }),
        ),
        _ => failure(xid, world.zxid, ErrorCode::Unimplemented, ""),
    }
}
