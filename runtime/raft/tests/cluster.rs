//! Three Raft nodes over real QUIC with mutual TLS on 127.0.0.1 elect a leader and replicate a
//! write to every node's tree and apply observer.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::create;
use polis_raft::network::{NetworkFaults, PeerEndpoint, PeerServer, QuicNetworkFactory};
use polis_raft::{
    ApplyNotice, ApplyObserver, Command, LeaderLease, PeerNode, PolisRaft, RAFT_LOG_FILE_NAME,
    READ_LEASE, RedbLogStore, TreeReader, TreeStateMachine, polis_raft_config,
};
use polis_security::{CertificateAuthority, CertificateRejection, TlsFiles, TransportTimeouts};
use polis_tree::Limits;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// The bound on every wait for the cluster: elections take about a second.
const CLUSTER_WAIT: Duration = Duration::from_secs(30);

struct TestNode {
    id: u64,
    raft: PolisRaft,
    /// The read lease this node's replication renews.
    lease: LeaderLease,
    /// This node's peer network's fault switch.
    faults: NetworkFaults,
    reader: TreeReader,
    notices: mpsc::Receiver<ApplyNotice>,
    peer_endpoint: PeerEndpoint,
    _server: PeerServer,
    _dir: TempDir,
}

async fn start_cluster(
    ca: &CertificateAuthority,
    ids: &[u64],
) -> (Vec<TestNode>, BTreeMap<u64, PeerNode>) {
    let nodes = ids
        .iter()
        .map(|id| {
            let files = ca
                .issue_node(&format!("n{id}"), &["127.0.0.1".to_string()])
                .expect("issue a node certificate");
            (*id, files)
        })
        .collect();
    start_nodes(nodes).await
}

/// Starts a node for each `(id, certificate files)`, none of them initialised.
async fn start_nodes(nodes: Vec<(u64, TlsFiles)>) -> (Vec<TestNode>, BTreeMap<u64, PeerNode>) {
    start_nodes_on(nodes, "127.0.0.1").await
}

/// Starts a node for each `(id, certificate files)` with its peer endpoint on `ip`, none of them
/// initialised.
async fn start_nodes_on(
    nodes: Vec<(u64, TlsFiles)>,
    ip: &str,
) -> (Vec<TestNode>, BTreeMap<u64, PeerNode>) {
    let mut endpoints = Vec::new();
    let mut members = BTreeMap::new();
    for (id, files) in nodes {
        let peer_endpoint = PeerEndpoint::bind(
            &files,
            format!("{ip}:0").parse().expect("an address"),
            &TransportTimeouts::default(),
        )
        .expect("a peer endpoint");
        let address = peer_endpoint.endpoint().local_addr().expect("bound");
        members.insert(id, PeerNode::new(address.to_string(), "127.0.0.1:0"));
        endpoints.push((id, peer_endpoint));
    }
    let config = Arc::new(polis_raft_config("polis-test").expect("config"));
    let mut nodes = Vec::new();
    for (id, peer_endpoint) in endpoints {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open the log");
        let (observer, notices) = ApplyObserver::channel(64);
        let state_machine =
            TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
                .expect("open the state machine");
        let reader = state_machine.reader();
        let endpoint = peer_endpoint.endpoint().clone();
        let faults = NetworkFaults::new();
        let network = QuicNetworkFactory::new(id, endpoint.clone(), faults.clone());
        let lease = network.links().lease().clone();
        let raft = PolisRaft::new(id, config.clone(), network, log, state_machine)
            .await
            .expect("start raft");
        let server = PeerServer::spawn(endpoint, raft.clone());
        nodes.push(TestNode {
            id,
            raft,
            lease,
            faults,
            reader,
            notices,
            peer_endpoint,
            _server: server,
            _dir: dir,
        });
    }
    (nodes, members)
}

/// Initialises a cluster of `members` on `founder` (node 1) and waits until it leads.
async fn found_cluster(founder: &TestNode, members: BTreeMap<u64, PeerNode>) -> PolisRaft {
    let leader = founder.raft.clone();
    leader.initialize(members).await.expect("initialize");
    leader
        .wait(Some(CLUSTER_WAIT))
        .metrics(|metrics| metrics.current_leader == Some(1), "node 1 leads")
        .await
        .expect("a leader");
    leader
}

/// Waits until `node`'s observer reported the entry at `zxid`.
async fn wait_for_notice(node: &mut TestNode, zxid: i64) -> polis_raft::AppliedEntry {
    loop {
        let notice = tokio::time::timeout(CLUSTER_WAIT, node.notices.recv())
            .await
            .expect("a notice in time")
            .expect("the observer channel is open");
        if let ApplyNotice::Applied(batch) = notice
            && let Some(entry) = batch
                .entries
                .into_iter()
                .find(|entry| entry.applied.zxid == zxid)
        {
            return entry;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_quic_elect_a_leader_and_replicate_a_write() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    let (mut nodes, members) = start_cluster(&ca, &[1, 2, 3]).await;

    nodes[0]
        .raft
        .initialize(members)
        .await
        .expect("initialize the cluster");
    let metrics = nodes[0]
        .raft
        .wait(Some(CLUSTER_WAIT))
        .metrics(
            |metrics| metrics.current_leader.is_some(),
            "a leader is elected",
        )
        .await
        .expect("a leader");
    let leader_id = metrics.current_leader.expect("a leader");
    let leader = nodes
        .iter()
        .find(|node| node.id == leader_id)
        .expect("the leader is a member")
        .raft
        .clone();

    let written = leader
        .client_write(Command::new(1_700_000_000_000, create("/hello", b"world")))
        .await
        .expect("the write commits");
    let index = written.log_id.index;
    let zxid = polis_raft::zxid_of(index, 0).expect("a zxid");
    let [response] = written.data.txns.as_slice() else {
        panic!("one response per transaction: {:?}", written.data);
    };
    assert_eq!(response.zxid, zxid);
    assert!(response.result.is_ok(), "{:?}", response.result);

    for node in &mut nodes {
        node.raft
            .wait(Some(CLUSTER_WAIT))
            .applied_index_at_least(Some(index), "the write is applied")
            .await
            .expect("applied on every node");
        {
            let tree = node.reader.read().await;
            let (data, stat) = tree.get_data("/hello", &[]).expect("the node exists");
            assert_eq!(data, Some(&b"world"[..]));
            assert_eq!(stat.czxid, zxid);
        }
        let observed = wait_for_notice(node, zxid).await;
        assert_eq!(observed.log_id, written.log_id);
        assert!(
            !observed.applied.events.is_empty(),
            "the create fires events on every node"
        );
    }

    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}

/// Raft's lease-based read (Ongaro's thesis, §6.4.1): while a majority accepts its
/// AppendEntries, the leader names its commit index without a quorum round; cut off, it stops
/// doing so once `READ_LEASE` has passed since the last AppendEntries that got through, even
/// though it still believes it leads (openraft has no check-quorum) — long before the followers,
/// who refuse votes for twice as long, can elect anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_reads_on_its_lease_while_followed_and_not_once_cut_off() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    let (nodes, members) = start_cluster(&ca, &[1, 2, 3]).await;
    let leader = found_cluster(&nodes[0], members).await;
    let written = leader
        .client_write(Command::new(1_700_000_000_000, create("/lease", b"")))
        .await
        .expect("the write commits");

    // Heartbeats renew the lease within a few intervals of the election.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    let index = loop {
        if let Some(index) = nodes[0].lease.read_index(&leader).await {
            break index;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        index >= written.log_id.index,
        "the lease's read index {index} covers the acknowledged write {}",
        written.log_id.index
    );
    for follower in &nodes[1..] {
        assert_eq!(
            follower.lease.read_index(&follower.raft).await,
            None,
            "a follower holds no lease"
        );
    }

    // Cut the leader off from both followers: every AppendEntries that still gets through was
    // sent before this instant.
    let cut = std::time::Instant::now();
    for follower in &nodes[1..] {
        let address = follower
            .peer_endpoint
            .endpoint()
            .local_addr()
            .expect("bound");
        nodes[0].faults.block(address);
    }
    tokio::time::sleep_until((cut + READ_LEASE).into()).await;
    assert!(
        leader.metrics().borrow().state.is_leader(),
        "the cut-off leader still believes it leads"
    );
    assert_eq!(
        nodes[0].lease.read_index(&leader).await,
        None,
        "no read on the lease once it ran out"
    );
    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_behind_a_purged_log_catches_up_from_a_chunked_snapshot() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    let (mut nodes, mut members) = start_cluster(&ca, &[1, 2]).await;
    let learner_node = members.remove(&2).expect("node 2's address");

    // A one-node cluster writes more than one snapshot chunk of data, snapshots and purges its log.
    let leader = found_cluster(&nodes[0], members).await;
    let data = vec![42u8; 700 * 1024];
    let mut last_log_id = None;
    for index in 0..3 {
        let written = leader
            .client_write(Command::new(
                1_700_000_000_000,
                create(&format!("/large-{index}"), &data),
            ))
            .await
            .expect("the write commits");
        last_log_id = Some(written.log_id);
    }
    leader
        .trigger()
        .snapshot()
        .await
        .expect("trigger a snapshot");
    leader
        .wait(Some(CLUSTER_WAIT))
        .snapshot(last_log_id.expect("written"), "the snapshot is built")
        .await
        .expect("a snapshot");
    let snapshot_index = last_log_id.expect("written").index;
    leader
        .trigger()
        .purge_log(snapshot_index)
        .await
        .expect("trigger a purge");
    leader
        .wait(Some(CLUSTER_WAIT))
        .purged(last_log_id, "the log is purged")
        .await
        .expect("purged");

    // The learner can only be brought up to date by the snapshot, sent in several chunks.
    leader
        .add_learner(2, learner_node, true)
        .await
        .expect("the learner catches up");
    let learner = &mut nodes[1];
    learner
        .raft
        .wait(Some(CLUSTER_WAIT))
        .applied_index_at_least(Some(snapshot_index), "the learner applied the snapshot")
        .await
        .expect("caught up");
    {
        let tree = learner.reader.read().await;
        for index in 0..3 {
            let (stored, _) = tree
                .get_data(&format!("/large-{index}"), &[])
                .expect("the node arrived with the snapshot");
            assert_eq!(stored, Some(data.as_slice()));
        }
    }
    let notice = tokio::time::timeout(CLUSTER_WAIT, learner.notices.recv())
        .await
        .expect("a notice in time")
        .expect("the observer channel is open");
    assert_eq!(
        notice,
        ApplyNotice::SnapshotInstalled {
            last_log_id,
            // Each write was alone in its entry: the tree stands at the snapshot entry's first
            // zxid.
            zxid: polis_raft::zxid_of(snapshot_index, 0).expect("a zxid"),
        }
    );

    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_cannot_speak_the_peer_protocol() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    let (nodes, members) = start_cluster(&ca, &[1]).await;
    let address: std::net::SocketAddr = members[&1].peer_address.parse().expect("an address");

    let client_files = ca.issue_client("alice").expect("a client certificate");
    let (connection, refused) = ask_for_a_vote(address, &client_files, 9).await;
    assert!(refused.is_err(), "the peer server answers no RPC");
    match connection.closed().await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.reason.as_ref(), b"not a node certificate");
        }
        other => panic!("closed for another reason: {other}"),
    }

    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}

/// The candidate the CA-rotation probes name: member 1, whose host (127.0.0.1) every test node
/// certificate names, so that the peer server admits the RPC (see
/// `polis_raft::network::admit`) and only the TLS handshake decides.
const MEMBER: u64 = 1;

/// Sends one Vote RPC, as the holder of `files` for `candidate`, to the peer endpoint at
/// `address`, and returns
/// the connection (to see why it ended) with the answer's bytes or why there was none.
///
/// The caller's side of the handshake must succeed: in TLS 1.3 a server that refuses the
/// caller's certificate says so only after the caller has finished, on the first read.
async fn ask_for_a_vote(
    address: std::net::SocketAddr,
    files: &TlsFiles,
    candidate: u64,
) -> (
    quinn::Connection,
    Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>,
) {
    let vote = polis_raft::network::PeerRequest::Vote(openraft::raft::VoteRequest::new(
        polis_raft::Vote::new(1, candidate),
        None,
    ));
    ask(address, files, &vote).await
}

/// Sends one peer RPC, as the holder of `files`, to the peer endpoint at `address`; returns as
/// [`ask_for_a_vote`] does.
async fn ask(
    address: std::net::SocketAddr,
    files: &TlsFiles,
    request: &polis_raft::network::PeerRequest,
) -> (
    quinn::Connection,
    Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>,
) {
    let client_config = polis_security::quinn_client_config(
        files,
        &[polis_raft::network::PEER_ALPN.to_vec()],
        &TransportTimeouts::default(),
    )
    .expect("a client configuration");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address")).expect("an endpoint");
    endpoint.set_default_client_config(client_config);
    let connection = endpoint
        .connect(address, "127.0.0.1")
        .expect("connect")
        .await
        .expect("the TLS handshake itself succeeds on the caller's side");
    let answer = tokio::time::timeout(CLUSTER_WAIT, async {
        let (mut send, mut recv) = connection.open_bi().await?;
        send.write_all(&postcard::to_allocvec(request)?).await?;
        send.finish()?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(recv.read_to_end(64 * 1024).await?)
    })
    .await
    .expect("an answer in time");
    (connection, answer)
}

/// Replaces a file's contents the way an operator's tooling would: a new file renamed over it.
fn replace_file(path: &std::path::Path, contents: &[u8]) {
    let staging = path.with_extension("new");
    std::fs::write(&staging, contents).expect("write the new file");
    std::fs::rename(&staging, path).expect("rename it into place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_endpoint_takes_a_rotated_ca_for_the_peers_it_accepts_and_dials() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let original = CertificateAuthority::init(&dir.path().join("original"), "polis-original-ca")
        .expect("a CA");
    let rotated =
        CertificateAuthority::init(&dir.path().join("rotated"), "polis-rotated-ca").expect("a CA");
    let original_pem = std::fs::read_to_string(original.certificate_path()).expect("read");
    let rotated_pem = std::fs::read_to_string(rotated.certificate_path()).expect("read");
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(
        &bundle,
        format!("{}\n{rotated_pem}", original_pem.trim_end()),
    )
    .expect("write");
    let hosts = ["127.0.0.1".to_string()];
    let node_files = |authority: &CertificateAuthority, name: &str| TlsFiles {
        ca_path: bundle.clone(),
        ..authority.issue_node(name, &hosts).expect("issue")
    };

    // Node 1 trusts its own copy of the original CA, which the rotation below rewrites; node 2
    // holds a certificate from the rotated CA and trusts both, as do the probing peers, so that
    // every refusal below is node 1's.
    let node1_ca = dir.path().join("node1-ca.pem");
    std::fs::write(&node1_ca, &original_pem).expect("write");
    let node1 = TlsFiles {
        ca_path: node1_ca.clone(),
        ..original.issue_node("n1", &hosts).expect("issue")
    };
    let (nodes, mut members) =
        start_nodes(vec![(1, node1.clone()), (2, node_files(&rotated, "n2"))]).await;
    let learner_node = members.remove(&2).expect("node 2's address");
    let node1_address = members[&1].peer_address.parse().expect("an address");
    let leader = found_cluster(&nodes[0], members).await;
    let newcomer = node_files(&rotated, "n3");
    let (connection, answer) = ask_for_a_vote(node1_address, &newcomer, MEMBER).await;
    assert!(answer.is_err(), "node 1 does not trust the rotated CA yet");
    assert!(connection.closed().await.is_certificate_rejection());

    // Step 1: node 1's CA file becomes a bundle of both CAs.
    replace_file(&node1_ca, std::fs::read(&bundle).expect("read").as_slice());
    nodes[0]
        .peer_endpoint
        .install_certificates(&node1)
        .expect("install the bundle");
    let (_, answer) = ask_for_a_vote(node1_address, &newcomer, MEMBER).await;
    answer.expect("node 1 answers a peer whose certificate comes from the rotated CA");
    // Node 1's dialing side trusts it too, through the endpoint handle Raft was given at start:
    // it replicates to node 2, whose certificate comes from the rotated CA.
    tokio::time::timeout(CLUSTER_WAIT, leader.add_learner(2, learner_node, true))
        .await
        .expect("node 2 is reached in time")
        .expect("node 2 becomes a learner");
    let written = leader
        .client_write(Command::new(1_700_000_000_000, create("/rotated", b"")))
        .await
        .expect("the write commits");
    nodes[1]
        .raft
        .wait(Some(CLUSTER_WAIT))
        .applied_index_at_least(Some(written.log_id.index), "node 2 applies the write")
        .await
        .expect("replicated");

    // Step 2: node 1's certificate is reissued by the rotated CA, which becomes its only CA.
    let reissued = rotated.issue_node("n1", &hosts).expect("reissue");
    replace_file(
        &node1.key_path,
        &std::fs::read(&reissued.key_path).expect("read"),
    );
    replace_file(
        &node1.certificate_path,
        &std::fs::read(&reissued.certificate_path).expect("read"),
    );
    replace_file(&node1_ca, rotated_pem.as_bytes());
    nodes[0]
        .peer_endpoint
        .install_certificates(&node1)
        .expect("install the reissued certificate");
    let (connection, answer) =
        ask_for_a_vote(node1_address, &node_files(&original, "n4"), MEMBER).await;
    assert!(answer.is_err(), "node 1 no longer trusts the original CA");
    assert!(connection.closed().await.is_certificate_rejection());
    let (connection, answer) = ask_for_a_vote(node1_address, &newcomer, MEMBER).await;
    answer.expect("node 1 still answers the rotated CA's peers");
    let presented = polis_security::Identity::from_connection(&connection)
        .expect("node 1's identity")
        .certificate_der()
        .clone();
    let reissued_chain = reissued
        .load_certificate_chain()
        .expect("read the reissued certificate");
    assert_eq!(
        presented, reissued_chain[0],
        "node 1 presents its reissued certificate"
    );

    // A certificate that does not match its key is refused and changes nothing.
    let mismatched = TlsFiles {
        key_path: newcomer.key_path.clone(),
        ..node1.clone()
    };
    assert!(
        nodes[0]
            .peer_endpoint
            .install_certificates(&mismatched)
            .is_err()
    );
    let (_, answer) = ask_for_a_vote(node1_address, &newcomer, MEMBER).await;
    answer.expect("node 1 keeps the certificate it had");

    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}

/// Issue 13: every node certificate of the cluster's CA passes the handshake, so the peer port
/// ties a certificate to the member whose peer address it names (the check a dialling peer
/// makes). A node certificate that names no member's host — a removed node's, or one issued for
/// some other machine — may not forward writes, may not win a vote, and may not pose as a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_certificate_that_names_no_member_may_not_forward_nor_vote() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    // Node 1 lives on its own loopback address, which only its certificate names (every
    // certificate names 127.0.0.1 and localhost as well).
    let node1_files = ca
        .issue_node("n1", &["127.0.0.2".to_string()])
        .expect("a node certificate");
    let (nodes, members) = start_nodes_on(vec![(1, node1_files.clone())], "127.0.0.2").await;
    let address: std::net::SocketAddr = members[&1].peer_address.parse().expect("an address");
    found_cluster(&nodes[0], members).await;
    let stranger = ca
        .issue_node("n9", &["127.0.0.3".to_string()])
        .expect("a node certificate of the same CA");
    let closed_because = |connection: quinn::Connection| async move {
        match connection.closed().await {
            quinn::ConnectionError::ApplicationClosed(close) => close.reason.to_vec(),
            other => panic!("closed for another reason: {other}"),
        }
    };

    let forward =
        polis_raft::network::PeerRequest::Forward(polis_raft::network::ForwardRequest::ReadIndex);
    let (connection, answer) = ask(address, &stranger, &forward).await;
    assert!(answer.is_err(), "a stranger's forward is not served");
    assert_eq!(closed_because(connection).await, b"not a member");

    let (connection, answer) = ask_for_a_vote(address, &stranger, 9).await;
    assert!(answer.is_err(), "a stranger gets no vote");
    assert_eq!(closed_because(connection).await, b"not a member");

    let (connection, answer) = ask_for_a_vote(address, &stranger, 1).await;
    assert!(answer.is_err(), "a stranger may not pose as member 1");
    assert_eq!(
        closed_because(connection).await,
        b"certificate does not match the member"
    );

    // The member's own certificate is served.
    let (_, answer) = ask(address, &node1_files, &forward).await;
    answer.expect("member 1's forward is answered");

    for node in &nodes {
        node.raft.shutdown().await.expect("shut down");
    }
}
