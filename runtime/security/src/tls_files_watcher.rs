//! Noticing that a certificate, key or CA file changed on disk.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::tls_config::TlsConfigError;
use crate::tls_files::TlsFiles;

/// Remembers the CA, certificate and key files as last seen and says when any of them changed.
///
/// A change is noticed by comparing each file's modification time, size and (on Unix) device and
/// inode with those seen last. The stamps are taken before the caller reads the files, so a
/// change made while a configuration is being built from them is still noticed by the next check.
#[derive(Debug)]
pub struct TlsFilesWatcher {
    files: TlsFiles,
    stamps: Option<[FileStamp; 3]>,
}

impl TlsFilesWatcher {
    /// A watcher that takes the files as they are now as the ones already in use.
    ///
    /// Create it before building the initial configuration, so that a change landing in between
    /// is seen as a change. If the files cannot be inspected now, the first check that can
    /// inspect them reports a change.
    pub fn new(files: TlsFiles) -> TlsFilesWatcher {
        let stamps = stamp_all(&files).ok();
        TlsFilesWatcher { files, stamps }
    }

    /// A watcher for which the first successful check always reports a change, so that its
    /// owner installs a configuration built from the files as they are then.
    pub fn unseen(files: TlsFiles) -> TlsFilesWatcher {
        TlsFilesWatcher {
            files,
            stamps: None,
        }
    }

    /// The files being watched.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Whether any file changed since the last check (or since [`TlsFilesWatcher::new`]).
    ///
    /// A changed version is reported once: if the caller then fails to use it (a half-written
    /// file, a key that does not match its certificate), the same version is not reported again,
    /// and the next change is. An error means a file cannot even be inspected (it is missing,
    /// for instance) and is reported on every check until it can be.
    pub fn changed(&mut self) -> Result<bool, TlsConfigError> {
        let stamps = stamp_all(&self.files)?;
        if self.stamps.as_ref() == Some(&stamps) {
            return Ok(false);
        }
        self.stamps = Some(stamps);
        Ok(true)
    }
}

/// What is remembered about one file to notice that it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    modified: Option<SystemTime>,
    size_bytes: u64,
    device: u64,
    inode: u64,
}

/// The stamps of the CA, certificate and key files, in that order.
fn stamp_all(files: &TlsFiles) -> Result<[FileStamp; 3], TlsConfigError> {
    Ok([
        stamp(&files.ca_path)?,
        stamp(&files.certificate_path)?,
        stamp(&files.key_path)?,
    ])
}

fn stamp(path: &Path) -> Result<FileStamp, TlsConfigError> {
    let metadata = std::fs::metadata(path).map_err(|source| TlsConfigError::Metadata {
        path: path.to_path_buf(),
        source,
    })?;
    let (device, inode) = file_identity(&metadata);
    Ok(FileStamp {
        path: path.to_path_buf(),
        modified: metadata.modified().ok(),
        size_bytes: metadata.len(),
        device,
        inode,
    })
}

/// The device and inode of a file, which change when a file is replaced by renaming a new one
/// over it even if the size and modification time happen to match.
#[cfg(unix)]
fn file_identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn file_identity(_metadata: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}
