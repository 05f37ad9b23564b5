//! Writing jute's primitive encodings.

/// Builds one frame: [`JuteWriter::new`] reserves the 4-byte length prefix, [`JuteWriter::finish`]
/// fills it in. Encoding cannot fail: the server only encodes what it holds within its limits.
#[derive(Debug)]
pub struct JuteWriter {
    bytes: Vec<u8>,
}

impl Default for JuteWriter {
    fn default() -> JuteWriter {
        JuteWriter::new()
    }
}

impl JuteWriter {
    /// A frame with room for its length prefix.
    pub fn new() -> JuteWriter {
        JuteWriter {
            bytes: vec![0; crate::FRAME_PREFIX_LEN],
        }
    }

    pub fn write_int(&mut self, value: i32) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn write_long(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn write_bool(&mut self, value: bool) {
        self.bytes.push(u8::from(value));
    }

    /// A length that a Rust collection holds; saturates at `i32::MAX`, which the server's limits
    /// keep far away.
    fn write_len(&mut self, len: usize) {
        self.write_int(i32::try_from(len).unwrap_or(i32::MAX));
    }

    pub fn write_buffer(&mut self, bytes: &[u8]) {
        self.write_len(bytes.len());
        self.bytes.extend_from_slice(bytes);
    }

    /// A buffer, or -1 for null (a znode's null data).
    pub fn write_nullable_buffer(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.write_buffer(bytes),
            None => self.bytes.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    pub fn write_string(&mut self, text: &str) {
        self.write_buffer(text.as_bytes());
    }

    pub fn write_strings(&mut self, texts: &[String]) {
        self.write_len(texts.len());
        for text in texts {
            self.write_string(text);
        }
    }

    /// A vector's element count (the elements follow).
    pub fn write_count(&mut self, count: usize) {
        self.write_len(count);
    }

    /// The frame with its length prefix filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let body_len = self.bytes.len() - crate::FRAME_PREFIX_LEN;
        let prefix = i32::try_from(body_len).unwrap_or(i32::MAX).to_be_bytes();
        self.bytes[..crate::FRAME_PREFIX_LEN].copy_from_slice(&prefix);
        self.bytes
    }

    /// The frame's content without the length prefix (for tests that decode what was encoded).
    pub fn finish_body(self) -> Vec<u8> {
        let mut bytes = self.finish();
        bytes.drain(..crate::FRAME_PREFIX_LEN);
        bytes
    }
}
