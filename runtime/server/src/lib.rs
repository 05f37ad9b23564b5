//! The Polis server: a node serving the znode tree over QUIC with mutual TLS.
//!
//! - [`node`]: a Raft member whose state machine is the tree; sessions, watches, the leader's
//!   duties.
//! - [`connection`]: the QUIC shell of one client; [`server`] starts and stops a node.
//! - [`admin_http`]: Prometheus `/metrics`, `/health` (liveness) and `/ready` (readiness).
//! - [`console`]: the operator console, a web page on its own loopback listener (off by default).
//! - [`config`]: the `polis.toml` settings.
//! - [`plugins`]: the runner that executes the deployed plugins on the leader.
//! - [`dev`]: a single dev node with generated certificates.
//! - [`zookeeper`]: the ZooKeeper-compatible TCP face (jute protocol) of the same sessions.

pub mod address_caps;
pub mod admin_http;
pub mod config;
pub mod connection;
pub mod console;
pub mod dev;
pub mod node;
pub mod plugins;
pub mod server;
pub mod tls_faces;
pub mod zookeeper;

pub use config::ServerConfig;
pub use server::RunningServer;
