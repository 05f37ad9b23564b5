//! The state shared by client handles, the driver and the reader.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use polis_tree::{SessionId, Zxid};
use tokio::sync::{broadcast, watch};

use crate::watch_book::WatchBook;
use crate::{ClientState, SessionEvent};

/// How many session events a slow observer may fall behind before it sees `Lagged`.
const SESSION_EVENTS_LEN_MAX: usize = 64;

/// How many `AddAuth` credentials are kept for replay after a reconnect.
pub(crate) const AUTHS_LEN_MAX: usize = 16;

/// One `AddAuth` to replay on every new connection, as ZooKeeper's client re-sends its
/// `authInfo` in `primeConnection`: the server attaches digest identities to the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthEntry {
    pub(crate) scheme: String,
    pub(crate) auth: Vec<u8>,
}

/// Locks a mutex, carrying on after a panic elsewhere: every critical section here leaves the
/// data consistent at each step, so a poisoned lock holds nothing half-done.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
pub(crate) struct Shared {
    session_id: AtomicI64,
    session_timeout_ms: AtomicI32,
    last_zxid_seen: AtomicI64,
    password: Mutex<Vec<u8>>,
    pub(crate) watches: Mutex<WatchBook>,
    pub(crate) auths: Mutex<Vec<AuthEntry>>,
    state: watch::Sender<ClientState>,
    events: broadcast::Sender<SessionEvent>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        let (events, _) = broadcast::channel(SESSION_EVENTS_LEN_MAX);
        Shared {
            session_id: AtomicI64::new(0),
            session_timeout_ms: AtomicI32::new(0),
            last_zxid_seen: AtomicI64::new(0),
            password: Mutex::new(Vec::new()),
            watches: Mutex::new(WatchBook::default()),
            auths: Mutex::new(Vec::new()),
            state: watch::Sender::new(ClientState::Disconnected),
            events,
        }
    }

    pub(crate) fn session_id(&self) -> SessionId {
        self.session_id.load(Ordering::Acquire)
    }

    pub(crate) fn session_timeout_ms(&self) -> i32 {
        self.session_timeout_ms.load(Ordering::Acquire)
    }

    pub(crate) fn password(&self) -> Vec<u8> {
        lock(&self.password).clone()
    }

    /// Records the session the server granted or resumed.
    pub(crate) fn set_session(&self, session_id: SessionId, password: &[u8], timeout_ms: i32) {
        *lock(&self.password) = password.to_vec();
        self.session_timeout_ms.store(timeout_ms, Ordering::Release);
        self.session_id.store(session_id, Ordering::Release);
    }

    pub(crate) fn last_zxid_seen(&self) -> Zxid {
        self.last_zxid_seen.load(Ordering::Acquire)
    }

    /// Raises the highest zxid seen; it never goes down, so that a reconnect never asks a server
    /// for an older view than the client already had.
    pub(crate) fn observe_zxid(&self, zxid: Zxid) {
        self.last_zxid_seen.fetch_max(zxid, Ordering::AcqRel);
    }

    pub(crate) fn state(&self) -> ClientState {
        *self.state.borrow()
    }

    pub(crate) fn subscribe_state(&self) -> watch::Receiver<ClientState> {
        self.state.subscribe()
    }

    /// Moves to `state` and tells observers with `event`, unless the client is in that state
    /// already or has reached a terminal state.
    pub(crate) fn transition(&self, state: ClientState, event: SessionEvent) {
        let changed = self.state.send_if_modified(|current| {
            if *current == state || current.is_terminal() {
                return false;
            }
            *current = state;
            true
        });
        if changed {
            // Nobody listening is fine.
            let _ = self.events.send(event);
        }
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }
}
