//! Reading jute's primitive encodings from one frame, with every length checked.

use crate::DecodeError;

/// A cursor over one frame. Every read checks that the bytes are there, and every length or count
/// is checked against its limit and against the bytes left, so nothing is allocated beyond the
/// frame.
///
/// Jute (`BinaryInputArchive`) writes an int as 4 big-endian bytes, a long as 8, a boolean as one
/// byte, and a buffer, string or vector as a 4-byte length (or count) followed by its content,
/// where -1 stands for null.
#[derive(Debug)]
pub struct JuteReader<'a> {
    bytes: &'a [u8],
}

/// The length jute writes for a null buffer, string or vector.
const NULL_LEN: i32 = -1;

impl<'a> JuteReader<'a> {
    pub fn new(bytes: &'a [u8]) -> JuteReader<'a> {
        JuteReader { bytes }
    }

    /// The bytes not read yet.
    pub fn remaining_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.bytes.len() {
            return Err(DecodeError::Truncated {
                field,
                needed: len,
                remaining: self.bytes.len(),
            });
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(field, N)?);
        Ok(array)
    }

    pub fn read_int(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array(field)?))
    }

    pub fn read_long(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array(field)?))
    }

    /// Java's `DataInput.readBoolean`: any byte but 0 is true.
    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.take_array::<1>(field)?[0] != 0)
    }

    /// A length prefix: -1 (null) reads as 0; other negative lengths and lengths over `max` fail.
    fn read_len(
        &mut self,
        field: &'static str,
        limit: &'static str,
        max: usize,
    ) -> Result<usize, DecodeError> {
        let len = self.read_int(field)?;
        if len == NULL_LEN {
            return Ok(0);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { field, len })?;
        if len > max {
            return Err(DecodeError::TooLong {
                field,
                limit,
                len,
                max,
            });
        }
        Ok(len)
    }

    /// A buffer of at most `max` bytes; null reads as empty.
    pub fn read_buffer(
        &mut self,
        field: &'static str,
        limit: &'static str,
        max: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let len = self.read_len(field, limit, max)?;
        Ok(self.take(field, len)?.to_vec())
    }

    /// A buffer of at most `max` bytes, `None` for null: a znode's data, where ZooKeeper keeps
    /// null (length -1) apart from empty.
    pub fn read_nullable_buffer(
        &mut self,
        field: &'static str,
        limit: &'static str,
        max: usize,
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        let rest = self.bytes;
        if self.read_int(field)? == NULL_LEN {
            return Ok(None);
        }
        self.bytes = rest;
        self.read_buffer(field, limit, max).map(Some)
    }

    /// A UTF-8 string of at most `max` bytes; null reads as empty (which no path validates).
    pub fn read_string(
        &mut self,
        field: &'static str,
        limit: &'static str,
        max: usize,
    ) -> Result<String, DecodeError> {
        let len = self.read_len(field, limit, max)?;
        let bytes = self.take(field, len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// A vector's element count, at most `max`, and small enough that `count` elements of at
    /// least `element_len_min` bytes each fit in what is left of the frame, so that a caller may
    /// reserve room for them. Null reads as 0.
    pub fn read_count(
        &mut self,
        field: &'static str,
        limit: &'static str,
        max: usize,
        element_len_min: usize,
    ) -> Result<usize, DecodeError> {
        let count = self.read_int(field)?;
        if count == NULL_LEN {
            return Ok(0);
        }
        let count = usize::try_from(count)
            .map_err(|_| DecodeError::NegativeLength { field, len: count })?;
        if count > max {
            return Err(DecodeError::TooMany {
                field,
                limit,
                count,
                max,
            });
        }
        let needed = count.saturating_mul(element_len_min);
        if needed > self.bytes.len() {
            return Err(DecodeError::Truncated {
                field,
                needed,
                remaining: self.bytes.len(),
            });
        }
        Ok(count)
    }
}
