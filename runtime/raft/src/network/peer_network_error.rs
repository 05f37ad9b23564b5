//! Errors of the peer network.

/// Why talking to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerNetworkError {
    #[error("peer address {address:?} is not host:port: {reason}")]
    Address { address: String, reason: String },
    #[error("resolving {address}: {source}")]
    Resolve {
        address: String,
        source: std::io::Error,
    },
    #[error("connecting: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("connecting to {address} took longer than {timeout_ms} ms")]
    ConnectTimeout { address: String, timeout_ms: u64 },
    /// The last dials failed; the next waits out a backoff (`super::PEER_REDIAL_BACKOFF_BASE`).
    #[error("not dialling {address} again yet: {failures} dials failed in a row")]
    BackingOff { address: String, failures: u32 },
    #[error("writing: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("stream already closed: {0}")]
    ClosedStream(#[from] quinn::ClosedStream),
    #[error("reading: {0}")]
    Read(#[from] quinn::ReadToEndError),
    #[error("encoding: {0}")]
    Encoding(#[from] postcard::Error),
    #[error("a message of {bytes} bytes exceeds the bound of {bytes_max}")]
    MessageTooLarge { bytes: usize, bytes_max: usize },
    #[error("the peer answered a different RPC than was asked")]
    UnexpectedResponse,
    #[error("the peer's certificate is not a node's: {0}")]
    NotANode(String),
    #[error("refused {subject}: {refusal}")]
    Refused {
        subject: String,
        refusal: super::PeerRefusal,
    },
    #[error("TLS configuration: {0}")]
    Tls(#[from] polis_security::TlsConfigError),
    /// Fault injection ([`super::NetworkFaults`]) cuts the link to this peer.
    #[error("the link to {address} is cut (fault injection)")]
    Blocked { address: std::net::SocketAddr },
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}
