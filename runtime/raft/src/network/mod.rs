//! Raft between nodes over QUIC with mutual TLS.
//!
//! Each node listens for its peers on its own endpoint (`PeerNode::peer_address`) with the ALPN
//! [`PEER_ALPN`] (`polis-peer/1`), distinct from the client protocol's `polis/1`, so a client
//! connection can never be mistaken for a peer and a peer port answers no client. Both ends
//! present node certificates issued by the cluster's CA (`polis_security`), and the server also
//! checks that the peer's certificate is a node's (`OU=node`), so a client certificate cannot
//! join the Raft conversation.
//!
//! A node keeps one lasting connection to each peer ([`PeerLinks`]) for all it sends there.
//! Every RPC is one bidirectional QUIC stream: the request as one postcard message, the stream
//! finished, then the response as one postcard message. The end of the stream frames the
//! message, and both sides read at most [`PEER_MESSAGE_BYTES_MAX`] bytes. Snapshots travel in
//! openraft's chunks (`Config::snapshot_max_chunk_size`), one chunk per RPC.
//!
//! [`NetworkFaults`] cuts chosen links for tests and failure drills: a real partition, with both
//! sides running, rather than a stopped node.

mod forward_proposal_sink;
mod network_faults;
mod peer_admission;
mod peer_client;
mod peer_endpoint;
mod peer_link;
mod peer_message;
mod peer_network_error;
mod peer_server;
mod quic_network_factory;

pub use forward_proposal_sink::ForwardProposalSink;
pub use network_faults::NetworkFaults;
pub use peer_admission::{AdmissionView, PeerClaim, PeerRefusal, admit, host_of_address};
pub use peer_client::{PEER_BACKOFF_BASE, PEER_BACKOFF_MAX, QuicPeerClient};
pub use peer_endpoint::{
    PEER_CONNECTIONS_MAX, PEER_IDLE_TIMEOUT, PEER_KEEP_ALIVE_INTERVAL,
    PEER_STREAMS_PER_CONNECTION_MAX, PEER_TRANSPORT_TIMEOUTS, PeerEndpoint,
};
pub use peer_link::{
    PEER_CONNECT_TIMEOUT, PEER_REDIAL_BACKOFF_BASE, PEER_REDIAL_BACKOFF_MAX, PeerLink, PeerLinks,
};
pub use peer_message::{
    ForwardError, ForwardRequest, ForwardResponse, PEER_ALPN, PEER_MESSAGE_BYTES_MAX, PeerRequest,
    PeerResponse,
};
pub use peer_network_error::PeerNetworkError;
pub(crate) use peer_server::forward_error;
pub use peer_server::{PEER_DRAIN_TIMEOUT, PeerServer};
pub use quic_network_factory::QuicNetworkFactory;
