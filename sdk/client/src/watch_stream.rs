//! A persistent watch as a stream of events.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use polis_tree::{WatchEvent, WatchKind};
use tokio::sync::mpsc;

use crate::Error;
use crate::request::Command;
use crate::shared::lock;

/// Why a stream ended, left by the client for the stream to report after its buffered events.
#[derive(Debug, Default)]
pub(crate) struct StreamEnding {
    error: Mutex<Option<Error>>,
}

impl StreamEnding {
    /// Records why the stream ends; the first reason wins.
    pub(crate) fn set(&self, error: Error) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    pub(crate) fn take(&self) -> Option<Error> {
        lock(&self.error).take()
    }
}

/// The events of a persistent or persistent-recursive watch, from [`crate::Client::watch`].
///
/// Events arrive in zxid order. The client puts each event into the stream's bounded buffer
/// before it completes the answer to any later request, so after awaiting a call, every event
/// that the call's result reflects is already waiting here (ZooKeeper's ordering guarantee).
///
/// Across reconnections the stream goes on without a gap: the client re-registers the watch with
/// the last zxid it saw and the server replays what was missed. The stream ends with an error
/// when that is impossible: [`Error::SessionExpired`], [`Error::Closed`], [`Error::Auth`], an
/// [`Error::Api`] if the server could not restore the watch, or [`Error::WatchOverflow`] if this
/// consumer fell more than the buffer behind (resume from the zxid it carries). After the error
/// it yields `None`.
///
/// Dropping the stream removes the watch from the server once no other stream follows the same
/// path in the same mode.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct WatchStream {
    events: mpsc::Receiver<WatchEvent>,
    ending: Arc<StreamEnding>,
    finished: bool,
    path: String,
    kind: WatchKind,
    commands: mpsc::Sender<Command>,
}

impl WatchStream {
    pub(crate) fn new(
        events: mpsc::Receiver<WatchEvent>,
        ending: Arc<StreamEnding>,
        path: String,
        kind: WatchKind,
        commands: mpsc::Sender<Command>,
    ) -> WatchStream {
        WatchStream {
            events,
            ending,
            finished: false,
            path,
            kind,
            commands,
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event))),
            Poll::Ready(None) => {
                // The client drops its sender only after recording why, so the reason is here.
                self.finished = true;
                Poll::Ready(self.ending.take().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        // Close first, so that the client sees this stream gone when it handles the notice.
        self.events.close();
        // Also after the stream ended (an overflow, unrestorable watches), since the server may
        // still hold the watch. Best effort: if the queue is full, or the client is gone, the
        // server keeps the watch until the session reconnects or ends, and the client discards
        // its events meanwhile.
        let _ = self.commands.try_send(Command::WatchDropped {
            path: std::mem::take(&mut self.path),
            kind: self.kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use polis_tree::EventKind;

    use super::*;

    fn event(zxid: i64) -> WatchEvent {
        WatchEvent {
            zxid,
            kind: EventKind::NodeDataChanged,
            path: "/a".into(),
        }
    }

    #[tokio::test]
    async fn buffered_events_come_before_the_ending_error() {
        let (sender, receiver) = mpsc::channel(4);
        let (commands, _command_receiver) = mpsc::channel(4);
        let ending = Arc::new(StreamEnding::default());
        let mut stream = WatchStream::new(
            receiver,
            ending.clone(),
            "/a".into(),
            WatchKind::Persistent,
            commands,
        );
        sender.try_send(event(1)).unwrap();
        sender.try_send(event(2)).unwrap();
        ending.set(Error::SessionExpired);
        ending.set(Error::Closed);
        drop(sender);
        assert_eq!(stream.next().await, Some(Ok(event(1))));
        assert_eq!(stream.next().await, Some(Ok(event(2))));
        assert_eq!(stream.next().await, Some(Err(Error::SessionExpired)));
        assert_eq!(stream.next().await, None);
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test]
    async fn dropping_a_live_stream_notifies_the_client() {
        let (sender, receiver) = mpsc::channel(4);
        let (commands, mut command_receiver) = mpsc::channel(4);
        let stream = WatchStream::new(
            receiver,
            Arc::default(),
            "/a".into(),
            WatchKind::PersistentRecursive,
            commands,
        );
        drop(stream);
        assert!(sender.is_closed());
        match command_receiver.try_recv() {
            Ok(Command::WatchDropped { path, kind }) => {
                assert_eq!(path, "/a");
                assert_eq!(kind, WatchKind::PersistentRecursive);
            }
            _ => panic!("no drop notice"),
        }
    }
}
