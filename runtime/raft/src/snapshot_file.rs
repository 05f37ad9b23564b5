//! The current snapshot on disk, so that it survives a restart.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::{RaftStoreError, SnapshotMeta};

/// The file name of the current snapshot inside a node's data directory.
pub const SNAPSHOT_FILE_NAME: &str = "raft-snapshot.bin";

const MAGIC: &[u8; 8] = b"POLISRSN";
const FORMAT_VERSION: u32 = 1;

/// The largest encoded [`SnapshotMeta`] accepted when reading: a membership of thousands of
/// members with long addresses stays far below it.
const SNAPSHOT_META_LEN_MAX: usize = 1024 * 1024;

/// A snapshot as the state machine keeps it: openraft's metadata and the tree's snapshot bytes.
///
/// File layout:
///
/// ```text
/// "POLISRSN" | format version (u32 LE) | meta length (u32 LE) | postcard(SnapshotMeta)
///   | crc32 of everything before (u32 LE) | tree snapshot bytes (self-checksummed)
/// ```
///
/// It is written to a temporary file, fsynced, renamed over the current one and the directory
/// fsynced, so a crash leaves either the old or the new snapshot, whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    pub meta: SnapshotMeta,
    /// The tree's deterministic snapshot (`DataTree::write_snapshot`).
    pub data: Vec<u8>,
}

impl SnapshotFile {
    fn path(dir: &Path) -> PathBuf {
        dir.join(SNAPSHOT_FILE_NAME)
    }

    /// Writes the snapshot as the current one of `dir`, atomically and durably.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), RaftStoreError> {
        let meta = postcard::to_allocvec(&self.meta)?;
        let meta_len = u32::try_from(meta.len())
            .map_err(|_| RaftStoreError::Corrupt("snapshot metadata beyond 4 GiB".to_string()))?;
        let mut header = Vec::with_capacity(MAGIC.len() + 8 + meta.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&meta_len.to_le_bytes());
        header.extend_from_slice(&meta);
        let checksum = crc32fast::hash(&header);

        let temporary = dir.join(format!("{SNAPSHOT_FILE_NAME}.tmp"));
        {
            let mut file = File::create(&temporary)?;
            file.write_all(&header)?;
            file.write_all(&checksum.to_le_bytes())?;
            file.write_all(&self.data)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, Self::path(dir))?;
        // The rename is durable only once the directory entry is.
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Reads the current snapshot of `dir`, if there is one. The tree bytes are checked when the
    /// tree reads them (`DataTree::read_snapshot` verifies their own checksum).
    pub(crate) fn read(dir: &Path) -> Result<Option<SnapshotFile>, RaftStoreError> {
        let mut file = match File::open(Self::path(dir)) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let mut fixed = [0u8; 16];
        file.read_exact(&mut fixed)?;
        if &fixed[..8] != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let version = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        if version != FORMAT_VERSION {
            return Err(RaftStoreError::UnsupportedFormat {
                file: SNAPSHOT_FILE_NAME,
                found: u64::from(version),
                expected: u64::from(FORMAT_VERSION),
            });
        }
        let meta_len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]) as usize;
        if meta_len > SNAPSHOT_META_LEN_MAX {
            return Err(corrupt("metadata length beyond its bound"));
        }
        let mut meta = vec![0u8; meta_len];
        file.read_exact(&mut meta)?;
        let mut stored_checksum = [0u8; 4];
        file.read_exact(&mut stored_checksum)?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed);
        hasher.update(&meta);
        if hasher.finalize() != u32::from_le_bytes(stored_checksum) {
            return Err(corrupt("header checksum mismatch"));
        }
        let meta: SnapshotMeta = postcard::from_bytes(&meta)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        Ok(Some(SnapshotFile { meta, data }))
    }
}

fn corrupt(what: &str) -> RaftStoreError {
    RaftStoreError::Corrupt(format!("{SNAPSHOT_FILE_NAME}: {what}"))
}
