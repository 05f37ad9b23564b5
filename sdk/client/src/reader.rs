//! The reader task of one connection: it reads every frame the server sends, in order, and
//! dispatches watch events and completes requests in that same order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polis_proto::convert::{error_code_from_wire, event_kind_from_wire};
use polis_proto::read_frame;
use polis_proto::wire;
use polis_proto::wire::server_message::Body as ServerBody;
use polis_tree::{ErrorCode, WatchEvent};
use quinn::RecvStream;
use tokio::sync::Notify;

use crate::Error;
use crate::request::{Pending, PendingWatch, Purpose};
use crate::shared::{Shared, lock};

/// The requests written on one connection and not yet answered, oldest first. The server
/// answers in request order, so the answer to the oldest is always the next to arrive.
pub(crate) type PendingQueue = Arc<Mutex<VecDeque<Pending>>>;

/// When the last frame arrived, for the driver's read timeout.
#[derive(Debug)]
pub(crate) struct ReceiveClock {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl ReceiveClock {
    pub(crate) fn new() -> ReceiveClock {
        ReceiveClock {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now_ms, Ordering::Release);
    }

    /// The instant of the last frame (the clock's creation before any).
    pub(crate) fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }
}

/// How a connection's reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReaderEnd {
    /// The stream broke, ended, or carried something unreadable; reconnecting may help.
    Lost(String),
    /// The server ended the session (`SessionEnded`).
    SessionEnded { code: ErrorCode, reason: String },
}

#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) recv: RecvStream,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pending: PendingQueue,
    pub(crate) clock: Arc<ReceiveClock>,
    pub(crate) answered: Arc<Notify>,
    pub(crate) frame_len_max: usize,
}

impl Reader {
    pub(crate) async fn run(mut self) -> ReaderEnd {
        loop {
            let message: Option<wire::ServerMessage> =
                match read_frame(&mut self.recv, self.frame_len_max).await {
                    Ok(message) => message,
                    Err(error) => {
                        return ReaderEnd::Lost(format!("reading from the server: {error}"));
                    }
                };
            let Some(message) = message else {
                return ReaderEnd::Lost("the server ended the stream".into());
            };
            self.clock.touch();
            let is_response = matches!(message.body, Some(ServerBody::Response(_)));
            if let Some(end) = handle_message(&self.shared, &self.pending, message) {
                return end;
            }
            if is_response {
                // A stored permit if the driver is not waiting: no wake-up is lost.
                self.answered.notify_one();
            }
        }
    }
}

/// Handles one frame; `Some` if the connection is finished.
///
/// Everything here is synchronous: an event is in its watchers' buffers before the next frame
/// (possibly the answer to a request the event precedes) is looked at, which is what gives
/// callers ZooKeeper's ordering guarantee.
pub(crate) fn handle_message(
    shared: &Shared,
    pending: &Mutex<VecDeque<Pending>>,
    message: wire::ServerMessage,
) -> Option<ReaderEnd> {
    match message.body {
        Some(ServerBody::Event(event)) => {
            handle_event(shared, &event);
            None
        }
        Some(ServerBody::Response(response)) => handle_response(shared, pending, response).err(),
        Some(ServerBody::SessionEnded(ended)) => Some(ReaderEnd::SessionEnded {
            code: error_code_from_wire(ended.error_code),
            reason: ended.reason,
        }),
        Some(ServerBody::Connected(_)) => Some(ReaderEnd::Lost(
            "protocol error: a second Connected on an open session".into(),
        )),
        None => Some(ReaderEnd::Lost(
            "protocol error: a server message without a body".into(),
        )),
    }
}

fn handle_event(shared: &Shared, event: &wire::WatchEvent) {
    shared.observe_zxid(event.zxid);
    // EVENT_TYPE_NONE carries no node change (ZooKeeper uses it for state changes, which this
    // protocol reports otherwise); nothing to dispatch.
    let Some(kind) = event_kind_from_wire(event.r#type) else {
        return;
    };
    let event = WatchEvent {
        zxid: event.zxid,
        kind,
        path: event.path.clone(),
    };
    lock(&shared.watches).dispatch(&event);
}

fn handle_response(
    shared: &Shared,
    pending: &Mutex<VecDeque<Pending>>,
    response: wire::Response,
) -> Result<(), ReaderEnd> {
    shared.observe_zxid(response.zxid);
    let Some(request) = lock(pending).pop_front() else {
        return Err(ReaderEnd::Lost(format!(
            "protocol error: an answer to xid {} that was never asked",
            response.xid
        )));
    };
    if request.xid != response.xid {
        // Put it back so that the driver fails it with the rest.
        let expected = request.xid;
        lock(pending).push_front(request);
        return Err(ReaderEnd::Lost(format!(
            "protocol error: answer to xid {} while xid {expected} was next",
            response.xid
        )));
    }
    let code = error_code_from_wire(response.error_code);
    match request.purpose {
        Purpose::Call { reply, watch } => {
            match watch {
                PendingWatch::None => {}
                PendingWatch::OneShot { kind, path, sender } => {
                    if code == ErrorCode::Ok {
                        lock(&shared.watches).add_one_shot(kind, path, sender);
                    }
                }
                PendingWatch::Persistent { id } => {
                    if code != ErrorCode::Ok {
                        lock(&shared.watches).remove_persistent(id);
                    }
                }
            }
            // A caller that gave up (timed out) no longer listens; that is fine.
            let _ = reply.send(Ok(response));
        }
        Purpose::SetWatches => {
            let compacted = matches!(
                &response.result,
                Some(wire::response::Result::SetWatches(result)) if result.history_compacted
            );
            if code == ErrorCode::Ok && compacted {
                // The server's history no longer reaches back to our last zxid: it settled the
                // one-shot watches by comparing stats, as ZooKeeper does, but the persistent
                // streams may have missed events. End them rather than let them look gapless;
                // their owners re-read and watch again.
                tracing::warn!(
                    "history compacted past our last zxid; ending persistent watch streams"
                );
                lock(&shared.watches).end_persistent(&Error::api(
                    ErrorCode::DataInconsistency,
                    "history compacted while disconnected: this stream may have missed events; \
                     re-read the state and watch again",
                    None,
                ));
            }
            if code != ErrorCode::Ok {
                // The server could not restore the watches (for example its history no longer
                // reaches back to our last zxid), so they may have missed events: end them all
                // rather than let them look intact. Their owners re-read and watch again.
                tracing::warn!(?code, message = %response.error_message, "watches could not be restored after reconnecting");
                lock(&shared.watches).end_all(&Error::api(
                    code,
                    format!(
                        "the watch could not be restored after a reconnect: {}",
                        response.error_message
                    ),
                    None,
                ));
            }
        }
        Purpose::ReplayAuth => {
            if code != ErrorCode::Ok {
                tracing::warn!(?code, message = %response.error_message, "re-sending credentials after reconnecting failed");
            }
        }
        Purpose::Ping | Purpose::RemoveWatch => {}
        Purpose::Close { done } => {
            let _ = done.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use polis_tree::{EventKind, WatchKind};
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::watch_book::PersistentWatch;
    use crate::watch_stream::StreamEnding;

    fn event_frame(zxid: i64, kind: wire::EventType, path: &str) -> wire::ServerMessage {
        wire::ServerMessage {
            body: Some(ServerBody::Event(wire::WatchEvent {
                zxid,
                r#type: kind as i32,
                path: path.into(),
            })),
        }
    }

    fn response_frame(xid: u64, zxid: i64, code: ErrorCode) -> wire::ServerMessage {
        wire::ServerMessage {
            body: Some(ServerBody::Response(wire::Response {
                xid,
                zxid,
                error_code: code.as_i32(),
                ..Default::default()
            })),
        }
    }

    #[tokio::test]
    async fn an_event_is_buffered_before_the_answer_that_follows_it_completes() {
        let shared = Shared::new();
        let pending = Mutex::new(VecDeque::new());
        let (sender, receiver) = mpsc::channel(8);
        let ending = Arc::new(StreamEnding::default());
        lock(&shared.watches).add_persistent(PersistentWatch {
            path: "/a".into(),
            kind: WatchKind::Persistent,
            floor: 0,
            sender,
            ending: ending.clone(),
        });
        let (reply, mut answer) = oneshot::channel();
        lock(&pending).push_back(Pending {
            xid: 7,
            purpose: Purpose::Call {
                reply,
                watch: PendingWatch::None,
            },
        });
        assert_eq!(
            handle_message(
                &shared,
                &pending,
                event_frame(41, wire::EventType::NodeDataChanged, "/a")
            ),
            None
        );
        // The event is already waiting when the answer is delivered.
        let (commands, _) = mpsc::channel(1);
        let mut stream = crate::WatchStream::new(
            receiver,
            ending,
            "/a".into(),
            WatchKind::Persistent,
            commands,
        );
        assert!(answer.try_recv().is_err());
        assert_eq!(
            handle_message(&shared, &pending, response_frame(7, 42, ErrorCode::Ok)),
            None
        );
        assert_eq!(answer.try_recv().unwrap().unwrap().zxid, 42);
        let event = stream.next().await.unwrap().unwrap();
        assert_eq!(event.zxid, 41);
        assert_eq!(event.kind, EventKind::NodeDataChanged);
        assert_eq!(shared.last_zxid_seen(), 42);
    }

    #[test]
    fn one_shot_watches_are_registered_only_on_success() {
        let shared = Shared::new();
        let pending = Mutex::new(VecDeque::new());
        let mut watches = Vec::new();
        for (xid, code) in [(1, ErrorCode::Ok), (2, ErrorCode::NoNode)] {
            let (reply, _answer) = oneshot::channel();
            let (sender, receiver) = oneshot::channel();
            watches.push(receiver);
            lock(&pending).push_back(Pending {
                xid,
                purpose: Purpose::Call {
                    reply,
                    watch: PendingWatch::OneShot {
                        kind: WatchKind::Data,
                        path: format!("/n{xid}"),
                        sender,
                    },
                },
            });
            handle_message(&shared, &pending, response_frame(xid, 1, code));
        }
        assert_eq!(
            lock(&shared.watches).registrations().data,
            vec!["/n1".to_string()]
        );
    }

    #[test]
    fn out_of_order_answers_and_session_ends_stop_the_reader() {
        let shared = Shared::new();
        let pending = Mutex::new(VecDeque::new());
        assert!(matches!(
            handle_message(&shared, &pending, response_frame(1, 0, ErrorCode::Ok)),
            Some(ReaderEnd::Lost(_))
        ));
        lock(&pending).push_back(Pending {
            xid: 2,
            purpose: Purpose::Ping,
        });
        assert!(matches!(
            handle_message(&shared, &pending, response_frame(3, 0, ErrorCode::Ok)),
            Some(ReaderEnd::Lost(_))
        ));
        assert_eq!(lock(&pending).len(), 1);
        let ended = wire::ServerMessage {
            body: Some(ServerBody::SessionEnded(wire::SessionEnded {
                session_id: 5,
                error_code: ErrorCode::SessionExpired.as_i32(),
                reason: "gone".into(),
            })),
        };
        assert_eq!(
            handle_message(&shared, &pending, ended),
            Some(ReaderEnd::SessionEnded {
                code: ErrorCode::SessionExpired,
                reason: "gone".into()
            })
        );
    }
}
