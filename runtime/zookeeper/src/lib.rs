//! ZooKeeper's client wire protocol (jute, as ZooKeeper 3.5–3.9 clients speak it) as a pure codec.
//!
//! Nothing here touches a socket: the server's shell reads a frame's 4-byte length, checks it with
//! [`classify_prefix`] (which also recognises four-letter words, as ZooKeeper's `NIOServerCnxn`
//! does), reads exactly that many bytes, and hands them to [`decode_connect`] or
//! [`decode_request`]. Replies and notifications are encoded with [`encode_reply`] and
//! [`encode_notification`].
//!
//! Decoding is bounded and total: every length and count read from the wire is checked against a
//! field of [`JuteLimits`] and against the bytes left in the frame before anything is allocated,
//! so no input can panic or make the decoder allocate more than the frame it was given. A frame
//! that does not decode is a [`DecodeError`]; the server closes that one connection.
//!
//! Main types, one per module:
//! - [`JuteReader`] / [`JuteWriter`]: jute's primitive encodings (big-endian ints, length-prefixed
//!   buffers, strings and vectors).
//! - [`ConnectRequest`] / [`ConnectResponse`]: the session handshake.
//! - [`Request`]: a request header and its operation.
//! - [`Reply`]: a reply header and its body.
//! - [`MultiOp`] / [`MultiResult`]: the parts of `multi` and `multiRead`.
//! - [`WatcherEvent`]: a watch notification.
//! - [`FourLetterWord`]: the administrative commands.
//! - [`JuteLimits`]: every bound the decoder enforces.

mod connect;
pub mod dynamic_config;
mod error;
mod event;
mod four_letter_word;
mod frame;
mod limits;
mod multi;
pub mod opcode;
mod reader;
mod records;
mod reply;
mod request;
mod writer;

pub use connect::{ConnectRequest, ConnectResponse, decode_connect};
pub use error::DecodeError;
pub use event::{EventType, KeeperState, WatcherEvent, encode_notification};
pub use four_letter_word::FourLetterWord;
pub use frame::{FRAME_PREFIX_LEN, FramePrefix, classify_prefix};
pub use limits::JuteLimits;
pub use multi::{MultiOp, MultiResult};
pub use reader::JuteReader;
pub use records::{Acl, Id, Stat};
pub use reply::{Reply, ReplyBody, ReplyHeader, encode_reply};
pub use request::{
    AddWatchMode, CreateKind, CreateRequest, RECONFIG_TEXT_LEN_MAX, Request, RequestBody,
    SASL_TOKEN_LEN_MAX, SetWatchesRequest, WatcherType, decode_request,
};
pub use writer::JuteWriter;

/// Reserved request xids (ZooKeeper's `ClientCnxn`): replies carry them back.
pub mod xid {
    /// A watch notification (`NOTIFICATION_XID`).
    pub const NOTIFICATION: i32 = -1;
    /// A ping (`PING_XID`).
    pub const PING: i32 = -2;
    /// An authentication packet (`AUTHPACKET_XID`).
    pub const AUTH: i32 = -4;
    /// Watches re-registered after a reconnect (`SET_WATCHES_XID`).
    pub const SET_WATCHES: i32 = -8;
}
