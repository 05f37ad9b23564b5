//! Every bound the jute decoder enforces.

/// The bounds on what one frame may carry. A length or count beyond one of them fails the decode
/// with [`crate::DecodeError::TooLong`] or [`crate::DecodeError::TooMany`] before any allocation.
///
/// The server derives them from its tree's limits, so that a request the tree would refuse anyway
/// is refused here without buffering it twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JuteLimits {
    /// The longest frame (after the 4-byte length prefix), in bytes. ZooKeeper's
    /// `jute.maxbuffer` plays this role; a longer length prefix closes the connection.
    pub frame_len_max: usize,
    /// The longest path, child name or ACL id/scheme string, in bytes.
    pub path_len_max: usize,
    /// The longest node payload or authentication buffer, in bytes.
    pub data_len_max: usize,
    /// The most entries in one ACL.
    pub acl_entries_max: usize,
    /// The most operations in one `multi` or `multiRead`.
    pub multi_ops_max: usize,
    /// The most paths in one `setWatches` / `setWatches2` (all lists together).
    pub watch_paths_max: usize,
    /// The longest session password in a connect request, in bytes (clients send 16).
    pub password_len_max: usize,
}

impl JuteLimits {
    /// ZooKeeper's default `jute.maxbuffer` (0xfffff bytes) bounds node data.
    pub const DATA_LEN_MAX_DEFAULT: usize = 1024 * 1024 - 1;
    /// Room for the rest of a request around the largest payload.
    pub const FRAME_LEN_MAX_DEFAULT: usize = Self::DATA_LEN_MAX_DEFAULT + 64 * 1024;
}

impl Default for JuteLimits {
    fn default() -> JuteLimits {
        JuteLimits {
            frame_len_max: Self::FRAME_LEN_MAX_DEFAULT,
            path_len_max: 4096,
            data_len_max: Self::DATA_LEN_MAX_DEFAULT,
            acl_entries_max: 64,
            multi_ops_max: 1024,
            watch_paths_max: 65_536,
            password_len_max: 64,
        }
    }
}
