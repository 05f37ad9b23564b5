//! Why a frame did not decode.

/// A frame that is not valid jute for what it should hold. The server closes the connection that
/// sent it, as ZooKeeper does on an `IOException` while reading a packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame length {len} is negative or exceeds frame_len_max {max}")]
    FrameLength { len: i64, max: usize },
    #[error("truncated: {field} needs {needed} bytes, {remaining} left")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("{field} has the negative length {len}")]
    NegativeLength { field: &'static str, len: i32 },
    #[error("{field} is {len} bytes long, more than {limit} ({max})")]
    TooLong {
        field: &'static str,
        limit: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} has {count} entries, more than {limit} ({max})")]
    TooMany {
        field: &'static str,
        limit: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{field} is not UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("{field} is absent (null) where ZooKeeper requires a value")]
    Null { field: &'static str },
    #[error("operation {op_code} is not allowed inside {inside}")]
    UnexpectedMultiOp { op_code: i32, inside: &'static str },
}
