//! The messages peers exchange, one per QUIC stream direction.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use quinn::{RecvStream, SendStream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::PeerNetworkError;
use crate::{NodeId, TypeConfig};

/// The ALPN of the peer protocol.
pub const PEER_ALPN: &[u8] = b"polis-peer/1";

/// The largest message either side reads. An append-entries request carries at most
/// [`crate::LOG_READ_BYTES_MAX`] bytes of entries plus one more entry (itself at most a znode's
/// 1 MiB of data with its path and ACL), and a snapshot chunk at most
/// [`crate::SNAPSHOT_CHUNK_BYTES_MAX`]; this leaves room for both.
pub const PEER_MESSAGE_BYTES_MAX: usize = 2 * crate::LOG_READ_BYTES_MAX;

/// A Raft RPC from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// A node's request that the leader act for one of its clients.
    Forward(ForwardRequest),
}

/// What a follower asks of the leader on behalf of its clients. A client may connect to any
/// node; writes and linearizable reads still go through the leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Propose these transactions together, in one entry stamped with the leader's clock (a
    /// follower's [`crate::Proposer`] packs its clients' writes); the answer is one
    /// [`crate::CommandResponse`] per transaction, in order.
    ClientWrite(Vec<polis_tree::TxnKind>),
    /// Confirm leadership with a quorum and answer the commit index to wait for (Raft's
    /// ReadIndex), so the follower can then serve a linearizable read locally.
    ReadIndex,
    /// These sessions were heard from: renew them in the leader's session tracker (ZooKeeper's
    /// learners send the same in their pings to the leader).
    TouchSessions(Vec<polis_tree::SessionId>),
    /// Describe the cluster as the leader sees it, with each member's replication progress.
    ClusterStatus,
    /// Add a learner (`crate::membership::add_learner`) and wait up to `catch_up_timeout_ms`
    /// for it to catch up.
    AddLearner {
        id: NodeId,
        node: crate::PeerNode,
        catch_up_timeout_ms: u64,
    },
    /// Change the voters through joint consensus and drop members
    /// (`crate::membership::change_membership`).
    ChangeMembership(crate::MembershipChange),
}

/// The leader's answer to a [`ForwardRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardResponse {
    ClientWrite(Vec<crate::CommandResponse>),
    ReadIndex(u64),
    TouchSessions,
    ClusterStatus(crate::ClusterView),
    AddLearner(crate::LearnerAdded),
    ChangeMembership(crate::ClusterView),
}

/// Why the leader could not act: it is not the leader (with the one it knows, if any), or
/// something else failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    #[error("not the leader (the leader is {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("the peer could not be reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
    /// The leader refused a membership change as invalid; nothing was proposed.
    #[error("refused: {0}")]
    Refused(String),
    /// A conditional membership change found another membership in effect; nothing was
    /// proposed.
    #[error("the membership changed: expected the one of log index {expected}, found {actual}")]
    MembershipChanged { expected: u64, actual: u64 },
}

/// The answer to a [`PeerRequest`], of the same variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Forward(Result<ForwardResponse, ForwardError>),
}

/// Writes `message` as the whole remaining content of `send` and finishes the stream.
pub(crate) async fn write_message<T: Serialize>(
    send: &mut SendStream,
    message: &T,
) -> Result<(), PeerNetworkError> {
    let bytes = postcard::to_allocvec(message)?;
    if bytes.len() > PEER_MESSAGE_BYTES_MAX {
        return Err(PeerNetworkError::MessageTooLarge {
            bytes: bytes.len(),
            bytes_max: PEER_MESSAGE_BYTES_MAX,
        });
    }
    send.write_all(&bytes).await?;
    send.finish()?;
    Ok(())
}

/// Reads the one message `recv` carries, refusing more than [`PEER_MESSAGE_BYTES_MAX`] bytes.
pub(crate) async fn read_message<T: DeserializeOwned>(
    recv: &mut RecvStream,
) -> Result<T, PeerNetworkError> {
    let bytes = recv.read_to_end(PEER_MESSAGE_BYTES_MAX).await?;
    Ok(postcard::from_bytes(&bytes)?)
}
