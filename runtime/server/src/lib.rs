//! The Polis server: a node serving the znode tree over QUIC with mutual TLS.
//!
//! - [`node`]: a Raft member whose state machine is the tree; sessions, watches, the leader's
//!   duties.
//! - [`connection`]: the QUIC shell of one client; [`server`] starts and stops a node.
//! - [`admin_http`]: Prometheus `/metrics` and `/health`.
//! - [`config`]: the `polis.toml` settings.
//! - [`dev`]: a single dev node with generated certificates.

pub mod admin_http;
pub mod config;
pub mod connection;
pub mod dev;
pub mod node;
pub mod profile;
pub mod server;

pub use config::ServerConfig;
pub use server::RunningServer;
