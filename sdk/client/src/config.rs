//! What a client needs to know to reach a Polis ensemble.

use std::net::SocketAddr;
use std::time::Duration;

use polis_security::TlsFiles;

use crate::Error;

/// The configuration of a [`crate::Client`].
///
/// [`ClientConfig::new`] fills every tunable with its default; change fields afterwards as needed.
/// [`ClientConfig::validate`] is called by [`crate::Client::connect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The servers of the ensemble, tried in turn (from a random starting point, so that many
    /// clients spread over the ensemble as ZooKeeper's shuffled host list does).
    pub servers: Vec<SocketAddr>,
    /// The name the servers' certificates are checked against, e.g. `localhost`.
    pub server_name: String,
    /// This client's certificate and key, and the CA the servers must chain to.
    pub tls: TlsFiles,
    /// The session timeout to ask for; the server clamps it to its own bounds and the negotiated
    /// value governs pings and the read timeout.
    pub session_timeout_ms: i32,
    /// How long a call waits for its answer (including time spent queued while reconnecting)
    /// before failing with [`Error::Timeout`].
    pub request_timeout_ms: u64,
    /// How long one connection attempt (QUIC handshake and session handshake) may take.
    pub connect_timeout_ms: u64,
    /// The largest frame sent or accepted, in bytes; it must match the server's bound.
    pub frame_len_max: usize,
    /// The first pause after a full round of failed connection attempts.
    pub reconnect_backoff_min_ms: u64,
    /// The longest pause between rounds of connection attempts.
    pub reconnect_backoff_max_ms: u64,
    /// How many calls may wait to be written to the connection before callers wait for room.
    pub request_queue_len_max: usize,
    /// How many requests may be on the wire without an answer before the writer pauses.
    pub requests_in_flight_max: usize,
    /// How many events a persistent watch stream buffers before it ends with
    /// [`Error::WatchOverflow`].
    pub watch_buffer_len: usize,
}

impl ClientConfig {
    /// ZooKeeper's usual default session timeout.
    pub const SESSION_TIMEOUT_MS_DEFAULT: i32 = 10_000;
    pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;
    pub const CONNECT_TIMEOUT_MS_DEFAULT: u64 = 5_000;
    pub const RECONNECT_BACKOFF_MIN_MS_DEFAULT: u64 = 50;
    pub const RECONNECT_BACKOFF_MAX_MS_DEFAULT: u64 = 2_000;
    pub const REQUEST_QUEUE_LEN_MAX_DEFAULT: usize = 1_024;
    pub const REQUESTS_IN_FLIGHT_MAX_DEFAULT: usize = 1_024;
    pub const WATCH_BUFFER_LEN_DEFAULT: usize = 1_024;
    /// The smallest frame bound accepted: anything less could not carry a `Connected` with a few
    /// identities, let alone a request.
    pub const FRAME_LEN_MIN: usize = 4 * 1024;

    /// A configuration with every tunable at its default.
    pub fn new(servers: Vec<SocketAddr>, server_name: impl Into<String>, tls: TlsFiles) -> Self {
        ClientConfig {
            servers,
            server_name: server_name.into(),
            tls,
            session_timeout_ms: Self::SESSION_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: Self::REQUEST_TIMEOUT_MS_DEFAULT,
            connect_timeout_ms: Self::CONNECT_TIMEOUT_MS_DEFAULT,
            frame_len_max: polis_proto::FRAME_LEN_MAX_DEFAULT,
            reconnect_backoff_min_ms: Self::RECONNECT_BACKOFF_MIN_MS_DEFAULT,
            reconnect_backoff_max_ms: Self::RECONNECT_BACKOFF_MAX_MS_DEFAULT,
            request_queue_len_max: Self::REQUEST_QUEUE_LEN_MAX_DEFAULT,
            requests_in_flight_max: Self::REQUESTS_IN_FLIGHT_MAX_DEFAULT,
            watch_buffer_len: Self::WATCH_BUFFER_LEN_DEFAULT,
        }
    }

    /// Checks that the configuration can work, without touching the network or the files.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidConfig(reason));
        if self.servers.is_empty() {
            return invalid("no servers configured".into());
        }
        if rustls::pki_types::ServerName::try_from(self.server_name.as_str()).is_err() {
            return invalid(format!(
                "server_name {:?} is neither a DNS name nor an IP address",
                self.server_name
            ));
        }
        if self.session_timeout_ms <= 0 {
            return invalid(format!(
                "session_timeout_ms must be positive, not {}",
                self.session_timeout_ms
            ));
        }
        for (name, value) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("reconnect_backoff_min_ms", self.reconnect_backoff_min_ms),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be positive"));
            }
        }
        if self.reconnect_backoff_max_ms < self.reconnect_backoff_min_ms {
            return invalid(format!(
                "reconnect_backoff_max_ms ({}) is below reconnect_backoff_min_ms ({})",
                self.reconnect_backoff_max_ms, self.reconnect_backoff_min_ms
            ));
        }
        if self.frame_len_max < Self::FRAME_LEN_MIN {
            return invalid(format!(
                "frame_len_max must be at least {} bytes, not {}",
                Self::FRAME_LEN_MIN,
                self.frame_len_max
            ));
        }
        for (name, value) in [
            ("request_queue_len_max", self.request_queue_len_max),
            ("requests_in_flight_max", self.requests_in_flight_max),
            ("watch_buffer_len", self.watch_buffer_len),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be positive"));
            }
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        ClientConfig::new(
            vec!["127.0.0.1:2181".parse().unwrap()],
            "localhost",
            TlsFiles::for_client("/nonexistent", "test"),
        )
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
        let mut by_ip = config();
        by_ip.server_name = "127.0.0.1".into();
        assert_eq!(by_ip.validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_refused() {
        let cases: Vec<fn(&mut ClientConfig)> = vec![
            |c| c.servers.clear(),
            |c| c.server_name = String::new(),
            |c| c.server_name = "not a name!".into(),
            |c| c.session_timeout_ms = 0,
            |c| c.session_timeout_ms = -5,
            |c| c.request_timeout_ms = 0,
            |c| c.connect_timeout_ms = 0,
            |c| c.reconnect_backoff_min_ms = 0,
            |c| c.reconnect_backoff_max_ms = c.reconnect_backoff_min_ms - 1,
            |c| c.frame_len_max = 100,
            |c| c.request_queue_len_max = 0,
            |c| c.requests_in_flight_max = 0,
            |c| c.watch_buffer_len = 0,
        ];
        for (index, spoil) in cases.iter().enumerate() {
            let mut bad = config();
            spoil(&mut bad);
            assert!(
                matches!(bad.validate(), Err(Error::InvalidConfig(_))),
                "case {index} was accepted"
            );
        }
    }
}
