//! Three Raft nodes over real QUIC with mutual TLS on 127.0.0.1 elect a leader and replicate a
//! write to every node's tree and apply observer.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::create;
use polis_raft::network::{NetworkFaults, PeerServer, QuicNetworkFactory, peer_endpoint};
use polis_raft::{
    ApplyNotice, ApplyObserver, Command, PeerNode, PolisRaft, RAFT_LOG_FILE_NAME, RedbLogStore,
    TreeReader, TreeStateMachine, polis_raft_config,
};
use polis_security::{CertificateAuthority, TransportTimeouts};
use polis_tree::Limits;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// The bound on every wait for the cluster: elections take about a second.
const CLUSTER_WAIT: Duration = Duration::from_secs(30);

struct TestNode {
    id: u64,
    raft: PolisRaft,
    reader: TreeReader,
    notices: mpsc::Receiver<ApplyNotice>,
    _server: PeerServer,
    _dir: TempDir,
}

async fn start_cluster(
    ca: &CertificateAuthority,
    ids: &[u64],
) -> (Vec<TestNode>, BTreeMap<u64, PeerNode>) {
    let mut endpoints = Vec::new();
    let mut members = BTreeMap::new();
    for id in ids {
        let files = ca
            .issue_node(&format!("n{id}"), &["127.0.0.1".to_string()])
            .expect("issue a node certificate");
        let endpoint = peer_endpoint(
            &files,
            "127.0.0.1:0".parse().expect("an address"),
            &TransportTimeouts::default(),
        )
        .expect("a peer endpoint");
        let address = endpoint.local_addr().expect("bound");
        members.insert(*id, PeerNode::new(address.to_string(), "127.0.0.1:0"));
        endpoints.push((*id, endpoint));
    }
    let config = Arc::new(polis_raft_config("polis-test").expect("config"));
    let mut nodes = Vec::new();
    for (id, endpoint) in endpoints {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open the log");
        let (observer, notices) = ApplyObserver::channel(64);
        let state_machine =
            TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, Some(observer))
                .expect("open the state machine");
        let reader = state_machine.reader();
        let raft = PolisRaft::new(
            id,
            config.clone(),
            QuicNetworkFactory::new(id, endpoint.clone(), NetworkFaults::new()),
            log,
            state_machine,
        )
        .await
        .expect("start raft");
        let server = PeerServer::spawn(endpoint, raft.clone());
        nodes.push(TestNode {
            id,
            raft,
            reader,
            notices,
            _server: server,
            _dir: dir,
        });
    }
    (nodes, members)
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
    assert_eq!(written.data.zxid, index as i64);
    assert!(written.data.result.is_ok(), "{:?}", written.data.result);

    for node in &mut nodes {
        node.raft
            .wait(Some(CLUSTER_WAIT))
            .applied_index_at_least(Some(index), "the write is applied")
            .await
            .expect("applied on every node");
        {
            let tree = node.reader.read().await;
            let (data, stat) = tree.get_data("/hello", &[]).expect("the node exists");
            assert_eq!(data, b"world");
            assert_eq!(stat.czxid, index as i64);
        }
        let observed = wait_for_notice(node, index as i64).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_behind_a_purged_log_catches_up_from_a_chunked_snapshot() {
    let ca_dir = tempfile::tempdir().expect("a temporary directory");
    let ca = CertificateAuthority::init(ca_dir.path(), "polis-test-ca").expect("a CA");
    let (mut nodes, mut members) = start_cluster(&ca, &[1, 2]).await;
    let learner_node = members.remove(&2).expect("node 2's address");

    // A one-node cluster writes more than one snapshot chunk of data, snapshots and purges its log.
    let leader = nodes[0].raft.clone();
    leader.initialize(members).await.expect("initialize");
    leader
        .wait(Some(CLUSTER_WAIT))
        .metrics(|metrics| metrics.current_leader == Some(1), "node 1 leads")
        .await
        .expect("a leader");
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
            assert_eq!(stored, data.as_slice());
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
            zxid: snapshot_index as i64,
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
    let client_config = polis_security::quinn_client_config(
        &client_files,
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
        .expect("the TLS handshake itself succeeds: the certificate chains to the CA");
    let refused = tokio::time::timeout(CLUSTER_WAIT, async {
        let (mut send, mut recv) = connection.open_bi().await?;
        let vote = polis_raft::network::PeerRequest::Vote(openraft::raft::VoteRequest::new(
            polis_raft::Vote::new(1, 9),
            None,
        ));
        send.write_all(&postcard::to_allocvec(&vote)?).await?;
        send.finish()?;
        recv.read_to_end(1024).await?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await
    .expect("an answer in time");
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
