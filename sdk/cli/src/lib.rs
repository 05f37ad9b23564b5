//! The client side of the `polis` binary, on top of `polis-client`.
//!
//! - [`commands`]: the client commands (`ls`, `get`, `set`, `create`, `rm`, `stat`, `watch`,
//!   `acl`, `multi`, `plugin …`, `cluster …`) as one clap subcommand the binary flattens into
//!   its own.
//! - [`profile`]: where a client command finds the servers and its certificate.
//! - [`deploy`]: deploying, upgrading, rolling back and removing plugins through a client, as
//!   ordinary tree operations under `/polis/plugins` (whose layout is `polis_plugin_layout`).
//!
//! This crate never depends on `polis-server`: the city's SDK and every other client-side tool
//! build on it without pulling in the node. The commands that run a node (`polis server`,
//! `polis dev`, `polis backup`, `polis restore`) are the binary's, which joins this crate with
//! the server.

pub mod commands;
pub mod deploy;
pub mod profile;
