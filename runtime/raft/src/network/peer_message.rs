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
}

/// The answer to a [`PeerRequest`], of the same variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
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
