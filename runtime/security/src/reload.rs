//! Reloading a listener's certificate and CA when their files change, without restarting the
//! process.
//!
//! [`spawn_certificate_reloader`] polls the files and hands a change to the caller's `install`,
//! which builds and installs the configurations. A node passes one that reloads all of its TLS
//! faces at once: the client QUIC listener, the Raft peer endpoint (accepting and dialing) and
//! the ZooKeeper TLS listener. [`spawn_reloader`] is the one for a lone QUIC server endpoint.

use std::fmt::Display;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::quic_config::{TransportTimeouts, quinn_server_config};
use crate::tls_config::TlsConfigError;
use crate::tls_files::TlsFiles;
use crate::tls_files_watcher::TlsFilesWatcher;

/// Watches the CA, certificate and key files and rebuilds a QUIC server configuration when any
/// of them changes.
#[derive(Debug)]
pub struct CertificateReloader {
    watcher: TlsFilesWatcher,
    alpn_protocols: Vec<Vec<u8>>,
    timeouts: TransportTimeouts,
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
        CertificateReloader {
            watcher: TlsFilesWatcher::new(files),
            alpn_protocols,
            timeouts,
        }
    }

    /// The files being watched.
    pub fn files(&self) -> &TlsFiles {
        self.watcher.files()
    }

    /// A freshly built server configuration if any file changed since the last check, `None` if
    /// none did.
    ///
    /// An error means a file changed but the new set cannot be used (for example a key that does
    /// not match its certificate, or a half-written file); the caller should keep its current
    /// configuration. The failed version is remembered, so the error is reported once, and the
    /// next change is tried again.
    pub fn check(&mut self) -> Result<Option<quinn::ServerConfig>, TlsConfigError> {
        if !self.watcher.changed()? {
            return Ok(None);
        }
        quinn_server_config(self.watcher.files(), &self.alpn_protocols, &self.timeouts).map(Some)
    }
}

/// Polls `files` every `poll_interval` and installs a freshly built configuration on `endpoint`
/// whenever they change, so that new connections use the new certificate and CA while existing
/// ones carry on.
///
/// See [`spawn_certificate_reloader`] for when it installs and what it does with a change that
/// cannot be used.
pub fn spawn_reloader(
    endpoint: quinn::Endpoint,
    files: TlsFiles,
    alpn_protocols: Vec<Vec<u8>>,
    timeouts: TransportTimeouts,
    poll_interval: Duration,
) -> JoinHandle<()> {
    spawn_certificate_reloader("client listener", files, poll_interval, move |files| {
        let config = quinn_server_config(files, &alpn_protocols, &timeouts)?;
        endpoint.set_server_config(Some(config));
        Ok::<(), TlsConfigError>(())
    })
}

/// Polls `files` every `poll_interval` and calls `install` whenever they change; `install`
/// builds the configurations of one TLS face (`face` names it in the log) from the files and
/// puts them in place for new connections.
///
/// The first poll happens at once and always installs, from the files as they are then, which
/// closes the window between the caller building its initial configuration and this task
/// starting. A change that `install` refuses (a half-written file, a key that does not match its
/// certificate) is logged as an error once and the face keeps the configuration it has; the next
/// change is tried again. The task runs until it is aborted through the returned handle.
pub fn spawn_certificate_reloader<E, F>(
    face: &'static str,
    files: TlsFiles,
    poll_interval: Duration,
    mut install: F,
) -> JoinHandle<()>
where
    E: Display,
    F: FnMut(&TlsFiles) -> Result<(), E> + Send + 'static,
{
    tokio::spawn(async move {
        let mut watcher = TlsFilesWatcher::unseen(files);
        let mut ticks = tokio::time::interval(poll_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A file that cannot even be inspected fails every poll; logging it once per distinct
        // failure keeps the log readable while the operator fixes it.
        let mut last_failure: Option<String> = None;
        loop {
            ticks.tick().await;
            let installed = match watcher.changed() {
                Ok(false) => continue,
                Ok(true) => install(watcher.files()).map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            let certificate = watcher.files().certificate_path.display();
            match installed {
                Ok(()) => {
                    last_failure = None;
                    tracing::info!(
                        face,
                        certificate = %certificate,
                        "installed the TLS certificate and CA from disk"
                    );
                }
                Err(failure) => {
                    if last_failure.as_ref() != Some(&failure) {
                        tracing::error!(
                            face,
                            certificate = %certificate,
                            error = %failure,
                            "cannot reload the TLS certificate; keeping the current one"
                        );
                        last_failure = Some(failure);
                    }
                }
            }
        }
    })
}
