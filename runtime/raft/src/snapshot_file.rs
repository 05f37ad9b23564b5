//! The current snapshot on disk, so that it survives a restart.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::{RaftStoreError, SnapshotMeta};

/// The file name of the current snapshot inside a node's data directory.
pub const SNAPSHOT_FILE_NAME: &str = "raft-snapshot.bin";

const MAGIC: &[u8; 8] = b"POLISRSN";
const FORMAT_VERSION: u32 = 1;

/// A snapshot file is synced every this many bytes while it is written (see
/// [`SnapshotFile::stage`]).
pub const SNAPSHOT_SYNC_INTERVAL_BYTES: usize = 4 * 1024 * 1024;

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
        self.stage(dir, StagingName::Installed)?.publish()
    }

    /// Writes the snapshot beside the current one, durably, without making it current: the slow
    /// half of [`SnapshotFile::write`] (a snapshot is as large as the tree), which a builder does
    /// without the state machine's lock. The installer and the builder stage under different
    /// names, so an installation while a build is staged cannot mix their bytes.
    pub(crate) fn stage(
        &self,
        dir: &Path,
        name: StagingName,
    ) -> Result<StagedSnapshot, RaftStoreError> {
        let meta = postcard::to_allocvec(&self.meta)?;
        let meta_len = u32::try_from(meta.len())
            .map_err(|_| RaftStoreError::Corrupt("snapshot metadata beyond 4 GiB".to_string()))?;
        let mut header = Vec::with_capacity(MAGIC.len() + 8 + meta.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&meta_len.to_le_bytes());
        header.extend_from_slice(&meta);
        let checksum = crc32fast::hash(&header);

        let staged = StagedSnapshot {
            temporary: dir.join(name.file_name()),
            dir: dir.to_path_buf(),
            published: false,
        };
        let mut file = File::create(&staged.temporary)?;
        file.write_all(&header)?;
        file.write_all(&checksum.to_le_bytes())?;
        for chunk in self.data.chunks(SNAPSHOT_SYNC_INTERVAL_BYTES) {
            file.write_all(chunk)?;
            // On ext4 (data=ordered) an fsync of the Raft log commits the file system's journal,
            // which first writes out every dirty data block, this file's included: a snapshot
            // written whole and synced once put up to 100 MB in front of the log's next fsync.
            // Syncing as it goes keeps what a log fsync can find dirty to one interval, as
            // RocksDB's `bytes_per_sync` does.
            file.sync_data()?;
        }
        file.sync_all()?;
        Ok(staged)
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

/// Which writer staged a snapshot file: each has a temporary file of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StagingName {
    /// A snapshot received from the leader, being installed.
    Installed,
    /// A snapshot this node built of its own state.
    Built,
}

impl StagingName {
    fn file_name(self) -> String {
        match self {
            StagingName::Installed => format!("{SNAPSHOT_FILE_NAME}.tmp"),
            StagingName::Built => format!("{SNAPSHOT_FILE_NAME}.built"),
        }
    }
}

/// A snapshot written and synced beside the current one; [`StagedSnapshot::publish`] makes it
/// current, and dropping it unpublished removes it.
#[derive(Debug)]
pub(crate) struct StagedSnapshot {
    temporary: PathBuf,
    dir: PathBuf,
    published: bool,
}

impl StagedSnapshot {
    /// Renames the staged file over the current snapshot and syncs the directory: a crash
    /// leaves either the old or the new snapshot, whole.
    pub(crate) fn publish(mut self) -> Result<(), RaftStoreError> {
        fs::rename(&self.temporary, SnapshotFile::path(&self.dir))?;
        self.published = true;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

impl Drop for StagedSnapshot {
    fn drop(&mut self) {
        if !self.published {
            // A snapshot superseded before it was published; a file left behind by a crash is
            // overwritten by the next one staged under its name.
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

fn corrupt(what: &str) -> RaftStoreError {
    RaftStoreError::Corrupt(format!("{SNAPSHOT_FILE_NAME}: {what}"))
}
