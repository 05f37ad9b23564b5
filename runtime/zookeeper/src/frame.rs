//! The 4-byte prefix of every frame: a big-endian length, or on a fresh connection a four-letter
//! word.

use crate::{DecodeError, FourLetterWord, JuteLimits};

/// The length of the prefix before every frame.
pub const FRAME_PREFIX_LEN: usize = 4;

/// What the first four bytes of a frame announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePrefix {
    /// A frame of this many bytes follows.
    Frame { len: usize },
    /// An administrative command (only recognised as the first bytes of a connection).
    FourLetterWord(FourLetterWord),
}

/// Reads a frame prefix. `first_on_connection` enables the four-letter words, which ZooKeeper's
/// `NIOServerCnxn.readLength` recognises only before a session is established: later, the same
/// bytes are a length like any other. A negative length, or one over `frame_len_max`, fails.
pub fn classify_prefix(
    prefix: [u8; FRAME_PREFIX_LEN],
    first_on_connection: bool,
    limits: &JuteLimits,
) -> Result<FramePrefix, DecodeError> {
    if first_on_connection && let Some(word) = FourLetterWord::from_bytes(prefix) {
        return Ok(FramePrefix::FourLetterWord(word));
    }
    let len = i32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(len) if len <= limits.frame_len_max => Ok(FramePrefix::Frame { len }),
        _ => Err(DecodeError::FrameLength {
            len: i64::from(len),
            max: limits.frame_len_max,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_four_letter_word_is_recognised_only_first_on_a_connection() {
        let limits = JuteLimits::default();
        assert_eq!(
            classify_prefix(*b"ruok", true, &limits),
            Ok(FramePrefix::FourLetterWord(FourLetterWord::Ruok))
        );
        assert!(classify_prefix(*b"ruok", false, &limits).is_err());
    }

    #[test]
    fn negative_and_oversize_lengths_are_refused() {
        let limits = JuteLimits {
            frame_len_max: 100,
            ..JuteLimits::default()
        };
        assert_eq!(
            classify_prefix(100i32.to_be_bytes(), true, &limits),
            Ok(FramePrefix::Frame { len: 100 })
        );
        assert!(classify_prefix(101i32.to_be_bytes(), true, &limits).is_err());
        assert!(classify_prefix((-1i32).to_be_bytes(), false, &limits).is_err());
    }
}
