//! What a Raft member is to its peers and clients: the addresses it listens on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One member of the cluster as openraft records it in a membership entry.
///
/// Membership entries are replicated through the log, so every node learns every other node's
/// addresses from the log itself: adding a node is one membership change, with no separate
/// discovery service. Openraft requires `Default` of a node type; the default (empty addresses)
/// never appears in a committed membership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerNode {
    /// Where other members reach this node's Raft service (`host:port`, ALPN `polis-peer/1`).
    pub peer_address: String,
    /// Where clients reach this node's client service (`host:port`, ALPN `polis/1`), so a
    /// follower can tell a client which address the leader serves on.
    pub client_address: String,
}

impl PeerNode {
    pub fn new(peer_address: impl Into<String>, client_address: impl Into<String>) -> PeerNode {
        PeerNode {
            peer_address: peer_address.into(),
            client_address: client_address.into(),
        }
    }
}

impl fmt::Display for PeerNode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "peer {} client {}",
            self.peer_address, self.client_address
        )
    }
}
