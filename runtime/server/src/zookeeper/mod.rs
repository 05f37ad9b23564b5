//! ZooKeeper's face of the node: a TCP listener speaking ZooKeeper's jute protocol, so that
//! existing ZooKeeper clients (the Java client, Curator, kazoo, zkCli) work unchanged.
//!
//! It is a translator, not a second store: a ZooKeeper connection opens (or resumes) a Polis
//! session through [`crate::node::Node::connect`] and each of its requests becomes a request of
//! that session, answered by the same [`crate::node::SessionHandler`] as the QUIC clients' — the
//! same tree, sessions, watches, ACLs and quorum. Connections have no certificate: they are
//! anonymous (`world:anyone`) until they add a digest identity with `addAuth`.
//!
//! - [`context`]: what every ZooKeeper connection shares.
//! - [`listener`]: the TCP listener and its accept loop.
//! - [`connection`]: one connection's shell (framing, handshake, reader and writer).
//! - [`translator`]: jute requests to Polis requests and Polis responses to jute replies (pure).
//! - [`four_letter_words`]: `ruok`, `srvr`, `stat`, `mntr`, `conf`, `cons`, `wchs`.

pub mod connection;
pub mod context;
pub mod four_letter_words;
pub mod listener;
pub mod request_latency;
pub mod sasl_digest;
pub mod tls;
pub mod translator;

pub use context::ZooKeeperContext;
pub use listener::ZooKeeperListener;
pub use tls::ZooKeeperTls;
