//! The driver task: it owns the session's connection, writes requests, keeps the session alive,
//! and reconnects.
//!
//! State machine (one driver per client):
//!
//! ```text
//!             connect() succeeded
//!                    │
//!                    ▼
//!   ┌──────────► serving ──── Close / every handle dropped ──► Closed
//!   │                │  └──── SessionEnded(expired) ────────► Expired
//!   │   connection lost / read timeout / protocol error
//!   │                ▼
//!   │          reconnecting: servers in turn, backoff between rounds
//!   │                │  ├──── Connected(SessionExpired) ────► Expired
//!   │                │  ├──── certificate / password refused ► AuthFailed
//!   └─ Connected ────┘  └──── close() ──────────────────────► Closed
//! ```
//!
//! While serving, the driver writes each caller's request (assigning the xid and queueing it as
//! pending *before* the bytes leave, so the reader can never see an answer it does not expect),
//! pings when nothing was sent for a third of the session timeout, and declares the connection
//! dead when nothing arrived for two thirds of it; both are ZooKeeper's client rules
//! (`ClientCnxn`: ping at `readTimeout / 2`, with `readTimeout = 2/3 sessionTimeout`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use polis_proto::wire;
use polis_proto::wire::client_message::Body as ClientBody;
use polis_proto::wire::request::Op as RequestOp;
use polis_proto::{FrameError, PROTOCOL_VERSION};
use polis_tree::ErrorCode;
use quinn::{Connection, SendStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::connector::{Connector, Established, HandshakeError};
use crate::reader::{PendingQueue, Reader, ReaderEnd, ReceiveClock};
use crate::request::{Call, Command, Pending, PendingWatch, Purpose, WatchIntent};
use crate::shared::{Shared, lock};
use crate::watch_book::WatchRegistrations;
use crate::{ClientConfig, ClientState, Error, SessionEvent};

/// How a connection (or the whole client) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The connection is gone but the session may live: reconnect.
    Lost(String),
    Expired,
    Auth(String),
    Closed,
}

impl Outcome {
    /// What the requests still waiting on the connection are told.
    fn error(&self) -> Error {
        match self {
            Outcome::Lost(_) => Error::ConnectionLoss,
            Outcome::Expired => Error::SessionExpired,
            Outcome::Auth(reason) => Error::Auth(reason.clone()),
            Outcome::Closed => Error::Closed,
        }
    }
}

/// Why a request could not be written.
enum WriteFailure {
    /// Too large for one frame: only this request fails, the connection is fine.
    TooLarge {
        len: usize,
        max: usize,
        purpose: Purpose,
    },
    /// The connection is broken.
    Broken(String),
}

/// One live connection, as the driver sees it.
struct Live {
    connection: Connection,
    send: SendStream,
    server: SocketAddr,
    pending: PendingQueue,
    reader: JoinHandle<ReaderEnd>,
    reader_done: bool,
    clock: Arc<ReceiveClock>,
    /// Signalled by the reader after each answer, to wake a writer paused at the in-flight bound.
    answered: Arc<Notify>,
    last_send: Instant,
    ping_interval: Duration,
    read_timeout: Duration,
}

#[derive(Debug)]
pub(crate) struct Driver {
    shared: Arc<Shared>,
    config: ClientConfig,
    connector: Connector,
    commands: mpsc::Receiver<Command>,
    shutdown: watch::Receiver<bool>,
    next_xid: u64,
    next_server: usize,
    backoff: Backoff,
}

impl Driver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        config: ClientConfig,
        connector: Connector,
        commands: mpsc::Receiver<Command>,
        shutdown: watch::Receiver<bool>,
        next_server: usize,
    ) -> Driver {
        let backoff = Backoff::new(
            config.reconnect_backoff_min_ms,
            config.reconnect_backoff_max_ms,
        );
        Driver {
            shared,
            config,
            connector,
            commands,
            shutdown,
            next_xid: 1,
            next_server,
            backoff,
        }
    }

    /// Serves the session from its first connection until it ends.
    pub(crate) async fn run(mut self, first: Established) {
        let mut established = first;
        loop {
            let outcome = match self.serve(established).await {
                Outcome::Lost(reason) => {
                    tracing::warn!(%reason, session_id = self.shared.session_id(), "connection lost; reconnecting");
                    self.shared
                        .transition(ClientState::Disconnected, SessionEvent::Disconnected);
                    match self.reconnect().await {
                        Ok(next) => {
                            established = next;
                            continue;
                        }
                        Err(outcome) => outcome,
                    }
                }
                outcome => outcome,
            };
            self.finish(outcome);
            self.connector.shutdown().await;
            return;
        }
    }

    /// Builds the `Connect` for the session as it stands.
    pub(crate) fn connect_request(shared: &Shared, config: &ClientConfig) -> wire::Connect {
        wire::Connect {
            protocol_version: PROTOCOL_VERSION,
            session_timeout_ms: config.session_timeout_ms,
            session_id: shared.session_id(),
            password: shared.password(),
            last_zxid_seen: shared.last_zxid_seen(),
        }
    }

    /// Tries the servers in turn, pausing with backoff after each full round, until one resumes
    /// the session or the session can no longer be resumed.
    async fn reconnect(&mut self) -> Result<Established, Outcome> {
        let servers = self.config.servers.clone();
        loop {
            for _ in 0..servers.len() {
                if *self.shutdown.borrow() {
                    return Err(Outcome::Closed);
                }
                let server = servers[self.next_server % servers.len()];
                self.next_server = self.next_server.wrapping_add(1);
                let connect = Self::connect_request(&self.shared, &self.config);
                let within = resume_attempt_max(self.shared.session_timeout_ms(), servers.len());
                let attempt = tokio::select! {
                    biased;
                    () = closing(&mut self.shutdown) => return Err(Outcome::Closed),
                    attempt = self.connector.establish_within(server, connect, within) => attempt,
                };
                match attempt {
                    Ok(established) => return Ok(established),
                    Err(
                        HandshakeError::Unreachable(reason) | HandshakeError::Unsettled(reason),
                    ) => {
                        tracing::debug!(%server, %reason, "reconnect attempt failed");
                        // As ZooKeeper's ClientCnxn.cleanup: calls queued during a failed attempt
                        // fail with ConnectionLoss rather than wait indefinitely.
                        self.fail_queued_calls(&Error::ConnectionLoss);
                    }
                    Err(HandshakeError::Expired) => return Err(Outcome::Expired),
                    Err(HandshakeError::Auth(reason)) => return Err(Outcome::Auth(reason)),
                }
            }
            let delay = self.backoff.next_delay();
            tokio::select! {
                biased;
                () = closing(&mut self.shutdown) => return Err(Outcome::Closed),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, established: Established) -> Outcome {
        let Established {
            connection,
            send,
            recv,
            connected,
            server,
        } = established;
        let previous = self.shared.session_id();
        if previous != 0 && connected.session_id != previous {
            // A server that cannot resume a session must say SessionExpired; a new session in
            // its place would silently lose our ephemerals and watches, so treat it as expiry.
            connection.close(0u32.into(), b"unexpected session");
            return Outcome::Expired;
        }
        let timeout_ms = if connected.session_timeout_ms > 0 {
            connected.session_timeout_ms
        } else {
            self.config.session_timeout_ms
        };
        self.shared
            .set_session(connected.session_id, &connected.password, timeout_ms);
        self.backoff.reset();
        let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(1));
        let pending = PendingQueue::default();
        let clock = Arc::new(ReceiveClock::new());
        let answered = Arc::new(Notify::new());
        let reader = tokio::spawn(
            Reader {
                recv,
                shared: self.shared.clone(),
                pending: pending.clone(),
                clock: clock.clone(),
                answered: answered.clone(),
                frame_len_max: self.config.frame_len_max,
            }
            .run(),
        );
        let mut live = Live {
            connection,
            send,
            server,
            pending,
            reader,
            reader_done: false,
            clock,
            answered,
            last_send: Instant::now(),
            ping_interval: timeout / 3,
            read_timeout: timeout * 2 / 3,
        };
        if let Err(reason) = self.prime(&mut live).await {
            return self.drop_connection(live, Outcome::Lost(reason)).await;
        }
        let session_id = connected.session_id;
        let event = if previous == 0 {
            SessionEvent::Connected { session_id }
        } else {
            SessionEvent::Reconnected { session_id }
        };
        self.shared.transition(ClientState::Connected, event);
        tracing::debug!(%server, session_id, "session connected");
        loop {
            let accepting = lock(&live.pending).len() < self.config.requests_in_flight_max;
            let read_deadline = Instant::from_std(live.clock.last()) + live.read_timeout;
            let deadline = read_deadline.min(live.last_send + live.ping_interval);
            tokio::select! {
                biased;
                () = closing(&mut self.shutdown) => {
                    return self.close_session(live).await;
                }
                end = &mut live.reader, if !live.reader_done => {
                    live.reader_done = true;
                    let outcome = match end {
                        Ok(ReaderEnd::Lost(reason)) => Outcome::Lost(reason),
                        Ok(ReaderEnd::SessionEnded { code: ErrorCode::SessionExpired, .. }) => {
                            Outcome::Expired
                        }
                        Ok(ReaderEnd::SessionEnded { code, reason }) => {
                            // SessionMoved: another connection took the session over. ZooKeeper's
                            // client treats it as a connection loss too.
                            Outcome::Lost(format!("session ended by the server: {code:?}: {reason}"))
                        }
                        Err(error) => Outcome::Lost(format!("reader task failed: {error}")),
                    };
                    return self.drop_connection(live, outcome).await;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if let Err(reason) = self.keep_alive(&mut live).await {
                        return self.drop_connection(live, Outcome::Lost(reason)).await;
                    }
                }
                // The reader answered a request: there may be room for more in flight again.
                () = live.answered.notified(), if !accepting => {}
                command = self.commands.recv(), if accepting => {
                    let Some(command) = command else {
                        // Every handle and stream is gone: nobody can use the session any more.
                        return self.close_session(live).await;
                    };
                    if let Err(reason) = self.handle_command(&mut live, command).await {
                        return self.drop_connection(live, Outcome::Lost(reason)).await;
                    }
                }
            }
        }
    }

    /// ZooKeeper's client liveness rules: the connection is dead after two thirds of the session
    /// timeout without a frame from the server, and a ping goes out after a third of it without
    /// a frame to the server.
    async fn keep_alive(&mut self, live: &mut Live) -> Result<(), String> {
        let now = Instant::now();
        if now >= Instant::from_std(live.clock.last()) + live.read_timeout {
            return Err(format!(
                "nothing from {} for {} ms",
                live.server,
                live.read_timeout.as_millis()
            ));
        }
        if now < live.last_send + live.ping_interval {
            return Ok(());
        }
        match self
            .write_request(live, RequestOp::Ping(wire::Ping {}), Purpose::Ping, false)
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteFailure::Broken(reason)) => Err(reason),
            Err(WriteFailure::TooLarge { .. }) => Err("a ping exceeds the frame limit".into()),
        }
    }

    /// Re-registers the watches and credentials on a new connection, before any queued call, as
    /// ZooKeeper's `primeConnection` does. The server replays the events our watches missed
    /// (after `last_zxid_seen`) ahead of its answer.
    async fn prime(&mut self, live: &mut Live) -> Result<(), String> {
        let registrations = lock(&self.shared.watches).registrations();
        if !registrations.is_empty() {
            let last_zxid_seen = self.shared.last_zxid_seen();
            for set_watches in
                split_set_watches(registrations, last_zxid_seen, self.config.frame_len_max / 2)
            {
                self.write_internal(
                    live,
                    RequestOp::SetWatches(set_watches),
                    Purpose::SetWatches,
                )
                .await?;
            }
        }
        let auths = lock(&self.shared.auths).clone();
        for auth in auths {
            let op = RequestOp::AddAuth(wire::AddAuth {
                scheme: auth.scheme,
                auth: auth.auth,
            });
            self.write_internal(live, op, Purpose::ReplayAuth).await?;
        }
        Ok(())
    }

    async fn handle_command(&mut self, live: &mut Live, command: Command) -> Result<(), String> {
        match command {
            Command::Call(Call {
                op,
                reply,
                watch,
                allow_stale,
            }) => {
                if reply.is_closed() {
                    // The caller gave up (timed out or was cancelled) before we got to it; do
                    // not apply a request nobody waits for.
                    return Ok(());
                }
                let watch = match watch {
                    WatchIntent::None => PendingWatch::None,
                    WatchIntent::OneShot { kind, path, sender } => {
                        PendingWatch::OneShot { kind, path, sender }
                    }
                    WatchIntent::Persistent(persistent) => PendingWatch::Persistent {
                        id: lock(&self.shared.watches).add_persistent(persistent),
                    },
                };
                match self
                    .write_request(live, op, Purpose::Call { reply, watch }, allow_stale)
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(WriteFailure::TooLarge { len, max, purpose }) => {
                        self.fail_purpose(purpose, &Error::RequestTooLarge { len, max });
                        Ok(())
                    }
                    Err(WriteFailure::Broken(reason)) => Err(reason),
                }
            }
            Command::WatchDropped { path, kind } => {
                if lock(&self.shared.watches).has_live_persistent(&path, kind) {
                    return Ok(());
                }
                let op = RequestOp::RemoveWatch(wire::RemoveWatch {
                    path,
                    mode: polis_proto::convert::watch_kind_to_wire(kind) as i32,
                });
                self.write_internal(live, op, Purpose::RemoveWatch).await
            }
        }
    }

    /// Writes a request of the client's own; one too large is skipped with a warning.
    async fn write_internal(
        &mut self,
        live: &mut Live,
        op: RequestOp,
        purpose: Purpose,
    ) -> Result<(), String> {
        match self.write_request(live, op, purpose, false).await {
            Ok(()) => Ok(()),
            Err(WriteFailure::TooLarge { len, max, .. }) => {
                tracing::warn!(
                    len,
                    max,
                    "an internal request exceeds the frame limit; skipped"
                );
                Ok(())
            }
            Err(WriteFailure::Broken(reason)) => Err(reason),
        }
    }

    /// Assigns the next xid, queues the request as pending, then writes it. `allow_stale` lets
    /// the server answer a read from its local copy.
    async fn write_request(
        &mut self,
        live: &mut Live,
        op: RequestOp,
        purpose: Purpose,
        allow_stale: bool,
    ) -> Result<(), WriteFailure> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let message = wire::ClientMessage {
            body: Some(ClientBody::Request(wire::Request {
                xid,
                op: Some(op),
                allow_stale,
            })),
        };
        let bytes = match polis_proto::frame::encode_frame(&message, self.config.frame_len_max) {
            Ok(bytes) => bytes,
            Err(FrameError::TooLarge { len, max }) => {
                return Err(WriteFailure::TooLarge { len, max, purpose });
            }
            Err(error) => return Err(WriteFailure::Broken(format!("encoding: {error}"))),
        };
        lock(&live.pending).push_back(Pending { xid, purpose });
        match tokio::time::timeout(live.read_timeout, live.send.write_all(&bytes)).await {
            Ok(Ok(())) => {
                live.last_send = Instant::now();
                Ok(())
            }
            Ok(Err(error)) => Err(WriteFailure::Broken(format!(
                "writing to {}: {error}",
                live.server
            ))),
            Err(_) => Err(WriteFailure::Broken(format!(
                "writing to {} stalled for {} ms",
                live.server,
                live.read_timeout.as_millis()
            ))),
        }
    }

    /// Ends the session politely: `Close`, then wait (bounded) for its answer, which comes after
    /// the answers to everything written before it.
    async fn close_session(&mut self, mut live: Live) -> Outcome {
        let (done, closed) = oneshot::channel();
        let written = self
            .write_request(
                &mut live,
                RequestOp::Close(wire::Close {}),
                Purpose::Close { done },
                false,
            )
            .await;
        if written.is_ok() {
            let wait = async {
                tokio::select! {
                    _ = closed => {}
                    _ = &mut live.reader, if !live.reader_done => { live.reader_done = true; }
                }
            };
            if tokio::time::timeout(self.config.request_timeout(), wait)
                .await
                .is_err()
            {
                tracing::debug!("no answer to Close; closing the connection anyway");
            }
        }
        self.drop_connection(live, Outcome::Closed).await
    }

    /// Tears a connection down and fails everything still waiting on it.
    async fn drop_connection(&mut self, mut live: Live, outcome: Outcome) -> Outcome {
        if !live.reader_done {
            live.reader.abort();
            // Wait for the abort, so the reader touches no request the loop below fails.
            let _ = (&mut live.reader).await;
        }
        let reason: &[u8] = match outcome {
            Outcome::Closed => b"closed",
            _ => b"dropped",
        };
        live.connection.close(0u32.into(), reason);
        let error = outcome.error();
        let stranded: Vec<Pending> = lock(&live.pending).drain(..).collect();
        for pending in stranded {
            self.fail_purpose(pending.purpose, &error);
        }
        outcome
    }

    /// Tells whoever waits for a request that it failed.
    fn fail_purpose(&self, purpose: Purpose, error: &Error) {
        match purpose {
            Purpose::Call { reply, watch } => {
                if let PendingWatch::Persistent { id } = watch {
                    lock(&self.shared.watches).remove_persistent(id);
                }
                let _ = reply.send(Err(error.clone()));
            }
            Purpose::Close { done } => {
                let _ = done.send(());
            }
            Purpose::Ping | Purpose::SetWatches | Purpose::ReplayAuth | Purpose::RemoveWatch => {}
        }
    }

    /// Fails every call waiting in the queue.
    fn fail_queued_calls(&mut self, error: &Error) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Call(call) => {
                    let _ = call.reply.send(Err(error.clone()));
                }
                // Nothing to tell the server now; the next SetWatches leaves the stream out.
                Command::WatchDropped { .. } => {}
            }
        }
    }

    /// Moves to the terminal state and ends everything that waits on the session.
    fn finish(&mut self, outcome: Outcome) {
        let session_id = self.shared.session_id();
        let (state, event) = match &outcome {
            Outcome::Expired => (ClientState::Expired, SessionEvent::Expired { session_id }),
            Outcome::Auth(reason) => (
                ClientState::AuthFailed,
                SessionEvent::AuthFailed {
                    reason: reason.clone(),
                },
            ),
            Outcome::Closed | Outcome::Lost(_) => (ClientState::Closed, SessionEvent::Closed),
        };
        match &outcome {
            Outcome::Expired => tracing::warn!(session_id, "session expired"),
            Outcome::Auth(reason) => tracing::warn!(%reason, "authentication refused"),
            Outcome::Closed | Outcome::Lost(_) => tracing::debug!(session_id, "session closed"),
        }
        // The state first, so that a call refused by the closed queue reports the right error.
        self.shared.transition(state, event);
        let error = match outcome {
            Outcome::Lost(_) => Error::Closed,
            other => other.error(),
        };
        lock(&self.shared.watches).end_all(&error);
        self.commands.close();
        self.fail_queued_calls(&error);
    }
}

/// Resolves once the client asks the session to end (or the last handle is gone).
async fn closing(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once every handle is dropped.
    let _ = shutdown.wait_for(|closing| *closing).await;
}

/// Splits the watches into `SetWatches` requests of about `budget` bytes each, as ZooKeeper's
/// client splits its `setWatches` packets (at 128 KiB) so that no frame exceeds the limit.
fn split_set_watches(
    registrations: WatchRegistrations,
    last_zxid_seen: i64,
    budget: usize,
) -> Vec<wire::SetWatches> {
    // Per path: the bytes, a length prefix and a tag, generously.
    const PATH_OVERHEAD: usize = 8;
    let empty = || wire::SetWatches {
        last_zxid_seen,
        ..Default::default()
    };
    let mut requests = Vec::new();
    let mut current = empty();
    let mut size = 0;
    let lists = [
        (registrations.data, 0),
        (registrations.children, 1),
        (registrations.persistent, 2),
        (registrations.persistent_recursive, 3),
    ];
    for (paths, list) in lists {
        for path in paths {
            let cost = path.len() + PATH_OVERHEAD;
            if size > 0 && size + cost > budget {
                requests.push(std::mem::replace(&mut current, empty()));
                size = 0;
            }
            size += cost;
            match list {
                0 => current.data_watches.push(path),
                1 => current.child_watches.push(path),
                2 => current.persistent_watches.push(path),
                _ => current.persistent_recursive_watches.push(path),
            }
        }
    }
    if size > 0 {
        requests.push(current);
    }
    requests
}

/// How long one attempt to resume the session may take: the session timeout shared among the
/// servers, as ZooKeeper's `ClientCnxn` sets its connect timeout (`sessionTimeout / servers`), so
/// that a dead server tried first cannot use up the time the session has left for a live one.
/// Before any session was negotiated (`session_timeout_ms` 0) the connect timeout alone applies.
fn resume_attempt_max(session_timeout_ms: i32, servers: usize) -> Duration {
    assert!(servers > 0, "a client has at least one server");
    match u64::try_from(session_timeout_ms) {
        Ok(timeout_ms) if timeout_ms > 0 => {
            Duration::from_millis(timeout_ms / u64::try_from(servers).unwrap_or(u64::MAX))
        }
        _ => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_attempt_gets_its_share_of_the_session_timeout() {
        assert_eq!(resume_attempt_max(4_000, 3), Duration::from_millis(1_333));
        assert_eq!(resume_attempt_max(4_000, 1), Duration::from_millis(4_000));
        assert_eq!(resume_attempt_max(0, 3), Duration::MAX);
        assert_eq!(resume_attempt_max(-1, 3), Duration::MAX);
    }

    #[test]
    fn set_watches_are_split_within_the_budget_and_keep_every_path() {
        let registrations = WatchRegistrations {
            data: (0..50).map(|index| format!("/data/{index:04}")).collect(),
            children: vec!["/c".into()],
            persistent: vec!["/p".into()],
            persistent_recursive: (0..50).map(|index| format!("/r/{index:04}")).collect(),
        };
        let requests = split_set_watches(registrations.clone(), 77, 200);
        assert!(requests.len() > 1);
        let mut data = Vec::new();
        let mut recursive = Vec::new();
        for request in &requests {
            assert_eq!(request.last_zxid_seen, 77);
            let size: usize = request
                .data_watches
                .iter()
                .chain(&request.child_watches)
                .chain(&request.persistent_watches)
                .chain(&request.persistent_recursive_watches)
                .map(|path| path.len() + 8)
                .sum();
            assert!(size <= 200, "{size}");
            data.extend(request.data_watches.clone());
            recursive.extend(request.persistent_recursive_watches.clone());
        }
        assert_eq!(data, registrations.data);
        assert_eq!(recursive, registrations.persistent_recursive);
        assert!(split_set_watches(WatchRegistrations::default(), 1, 200).is_empty());
    }
}
