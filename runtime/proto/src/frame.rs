//! Length-delimited frames: a varint byte length, then one protobuf message.
//!
//! This is protobuf's own delimited format (`writeDelimitedTo` / `parseDelimitedFrom`), so other
//! languages need no framing code of their own. Every read is bounded by `frame_len_max` before
//! anything is allocated, so a hostile length prefix cannot make the server allocate gigabytes.

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed length prefix")]
    BadLength,
    #[error("the stream ended inside a frame")]
    Truncated,
    #[error("malformed message: {0}")]
    Malformed(#[from] prost::DecodeError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame. Returns `None` if the stream ended cleanly before a new frame.
pub async fn read_frame<M, R>(input: &mut R, frame_len_max: usize) -> Result<Option<M>, FrameError>
where
    M: Message + Default,
    R: AsyncRead + Unpin,
{
    let Some(len) = read_length(input).await? else {
        return Ok(None);
    };
    if len > frame_len_max {
        return Err(FrameError::TooLarge {
            len,
            max: frame_len_max,
        });
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(error)
        }
    })?;
    Ok(Some(M::decode(body.as_slice())?))
}

/// Writes one frame, refusing one longer than `frame_len_max`.
pub async fn write_frame<M, W>(
    output: &mut W,
    message: &M,
    frame_len_max: usize,
) -> Result<(), FrameError>
where
    M: Message,
    W: AsyncWrite + Unpin,
{
    let bytes = encode_frame(message, frame_len_max)?;
    output.write_all(&bytes).await?;
    Ok(())
}

/// Encodes one frame (length prefix and message) into a buffer.
pub fn encode_frame<M: Message>(message: &M, frame_len_max: usize) -> Result<Vec<u8>, FrameError> {
    let len = message.encoded_len();
    if len > frame_len_max {
        return Err(FrameError::TooLarge {
            len,
            max: frame_len_max,
        });
    }
    Ok(message.encode_length_delimited_to_vec())
}

/// Reads a varint length: at most 10 bytes, none of them beyond the 64 bits of a u64.
async fn read_length<R: AsyncRead + Unpin>(input: &mut R) -> Result<Option<usize>, FrameError> {
    let mut value: u64 = 0;
    for index in 0..10 {
        let mut byte = [0u8; 1];
        let read = input.read(&mut byte).await?;
        if read == 0 {
            return if index == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        let bits = u64::from(byte[0] & 0x7f);
        if index == 9 && bits > 1 {
            return Err(FrameError::BadLength);
        }
        value |= bits << (7 * index);
        if byte[0] & 0x80 == 0 {
            return usize::try_from(value)
                .map(Some)
                .map_err(|_| FrameError::BadLength);
        }
    }
    Err(FrameError::BadLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    fn ping(xid: u64) -> wire::ClientMessage {
        wire::ClientMessage {
            body: Some(wire::client_message::Body::Request(wire::Request {
                xid,
                allow_stale: false,
                op: Some(wire::request::Op::Ping(wire::Ping {})),
            })),
        }
    }

    #[tokio::test]
    async fn frames_round_trip_in_order() {
        let mut buffer = Vec::new();
        for xid in 0..3 {
            write_frame(&mut buffer, &ping(xid), 1024).await.unwrap();
        }
        let mut input = buffer.as_slice();
        for xid in 0..3 {
            let message: wire::ClientMessage = read_frame(&mut input, 1024).await.unwrap().unwrap();
            assert_eq!(message, ping(xid));
        }
        let end: Option<wire::ClientMessage> = read_frame(&mut input, 1024).await.unwrap();
        assert!(end.is_none());
    }

    #[tokio::test]
    async fn oversize_frame_is_refused_before_allocation() {
        // A length prefix claiming 2^40 bytes, followed by nothing.
        let mut input: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        let result: Result<Option<wire::ClientMessage>, _> = read_frame(&mut input, 1024).await;
        assert!(matches!(result, Err(FrameError::TooLarge { .. })));
    }

    #[tokio::test]
    async fn garbage_is_malformed_and_cut_frames_are_truncated() {
        let mut garbage: &[u8] = &[3, 0xff, 0xff, 0xff];
        let result: Result<Option<wire::ClientMessage>, _> = read_frame(&mut garbage, 1024).await;
        assert!(matches!(result, Err(FrameError::Malformed(_))));
        let mut cut: &[u8] = &[10, 1, 2];
        let result: Result<Option<wire::ClientMessage>, _> = read_frame(&mut cut, 1024).await;
        assert!(matches!(result, Err(FrameError::Truncated)));
        let mut endless_varint: &[u8] = &[0xff; 12];
        let result: Result<Option<wire::ClientMessage>, _> =
            read_frame(&mut endless_varint, usize::MAX).await;
        assert!(matches!(result, Err(FrameError::BadLength)));
    }

    #[tokio::test]
    async fn oversize_frame_is_not_written() {
        let mut buffer = Vec::new();
        let result = write_frame(&mut buffer, &ping(1), 2).await;
        assert!(matches!(result, Err(FrameError::TooLarge { .. })));
        assert!(buffer.is_empty());
    }
}
