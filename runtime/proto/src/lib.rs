//! The Polis client wire protocol.
//!
//! The schema is `proto/polis.proto` (protobuf 3), from which [`wire`] is generated; any language
//! with a protobuf generator can speak it. Protobuf was chosen over a bespoke encoding because
//! every platform a city runs has a generator for it, its field-number rules let the protocol grow
//! without breaking old clients, and `prost` makes it cheap in Rust.
//!
//! [`frame`] reads and writes length-delimited frames with a bound; [`convert`] maps between wire
//! types and the tree's types.

pub mod convert;
pub mod frame;

/// The types generated from `proto/polis.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/polis.v1.rs"));
}

/// The ALPN protocol id of the client protocol, version 1.
pub const ALPN_CLIENT: &[u8] = b"polis/1";

/// The QUIC application close codes of the client protocol: why the server closed a connection.
pub mod close_code {
    pub const NORMAL: u32 = 0;
    /// A malformed or oversize frame.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// The session was closed, expired, or moved to another connection.
    pub const SESSION_ENDED: u32 = 2;
    /// The client did not read its responses and events fast enough.
    pub const OVERLOADED: u32 = 3;
    pub const SERVER_SHUTDOWN: u32 = 4;
    /// The connection carries no usable client certificate: an authentication failure, never a
    /// reason to retry.
    pub const NOT_AUTHENTICATED: u32 = 5;
}

/// The protocol version a client sends in `Connect` and the server echoes.
pub const PROTOCOL_VERSION: u32 = 1;

/// The default bound on one frame: the largest node payload plus room for the rest of a request.
pub const FRAME_LEN_MAX_DEFAULT: usize = polis_tree::Limits::DATA_LEN_MAX_DEFAULT + 64 * 1024;

pub use frame::{FrameError, read_frame, write_frame};
