//! Reloading the server's certificate when its files change, without restarting the process.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::quic_config::{TransportTimeouts, quinn_server_config};
use crate::tls_config::TlsConfigError;
use crate::tls_files::TlsFiles;

/// Watches the CA, certificate and key files and rebuilds the server configuration when any of
/// them changes.
///
/// A change is noticed by comparing each file's modification time, size and (on Unix) device and
/// inode with those seen last. The stamps are taken before the files are read, so a change made
/// while a configuration is being built is still noticed by the next check.
#[derive(Debug)]
pub struct CertificateReloader {
    files: TlsFiles,
    alpn_protocols: Vec<Vec<u8>>,
    timeouts: TransportTimeouts,
    stamps: Option<[FileStamp; 3]>,
}

impl CertificateReloader {
    /// A reloader that takes the files as they are now as the ones already in use.
    ///
    /// Create it before building the initial server configuration, so that a change landing in
    /// between is seen as a change. If the files cannot be inspected now, the first check that
    /// can inspect them returns a configuration.
    pub fn new(
        files: TlsFiles,
        alpn_protocols: Vec<Vec<u8>>,
        timeouts: TransportTimeouts,
    ) -> CertificateReloader {
        let stamps = stamp_all(&files).ok();
        CertificateReloader {
            files,
            alpn_protocols,
            timeouts,
            stamps,
        }
    }

    /// The files being watched.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// A freshly built server configuration if any file changed since the last check, `None` if
    /// none did.
    ///
    /// An error means a file changed but the new set cannot be used (for example a key that does
    /// not match its certificate, or a half-written file); the caller should keep its current
    /// configuration. The failed version is remembered, so the error is reported once, and the
    /// next change is tried again.
    pub fn check(&mut self) -> Result<Option<quinn::ServerConfig>, TlsConfigError> {
        let stamps = stamp_all(&self.files)?;
        if self.stamps.as_ref() == Some(&stamps) {
            return Ok(None);
        }
        self.stamps = Some(stamps);
        quinn_server_config(&self.files, &self.alpn_protocols, &self.timeouts).map(Some)
    }
}

/// Polls `files` every `poll_interval` and installs a freshly built configuration on `endpoint`
/// whenever they change, so that new connections use the new certificate while existing ones
/// carry on.
///
/// The first poll happens at once and always installs a configuration built from the files as
/// they are then, which closes the window between the caller building its initial configuration
/// and this task starting. A change that cannot be used is logged as an error and the endpoint
/// keeps the configuration it has. The task runs until it is aborted through the returned handle.
pub fn spawn_reloader(
    endpoint: quinn::Endpoint,
    files: TlsFiles,
    alpn_protocols: Vec<Vec<u8>>,
    timeouts: TransportTimeouts,
    poll_interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reloader = CertificateReloader {
            files,
            alpn_protocols,
            timeouts,
            stamps: None,
        };
        let mut ticks = tokio::time::interval(poll_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A file that cannot even be inspected fails every poll; logging it once per distinct
        // failure keeps the log readable while the operator fixes it.
        let mut last_failure: Option<String> = None;
        loop {
            ticks.tick().await;
            match reloader.check() {
                Ok(None) => {}
                Ok(Some(config)) => {
                    endpoint.set_server_config(Some(config));
                    last_failure = None;
                    tracing::info!(
                        certificate = %reloader.files.certificate_path.display(),
                        "installed the TLS certificate from disk"
                    );
                }
                Err(error) => {
                    let failure = error.to_string();
                    if last_failure.as_ref() != Some(&failure) {
                        tracing::error!(
                            certificate = %reloader.files.certificate_path.display(),
                            %error,
                            "cannot reload the TLS certificate; keeping the current one"
                        );
                        last_failure = Some(failure);
                    }
                }
            }
        }
    })
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
