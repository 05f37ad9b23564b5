//! A one-shot watch as a future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use polis_tree::WatchEvent;
use tokio::sync::oneshot;

use crate::Error;

/// The watch set by [`crate::Client::get_data_watch`], [`crate::Client::exists_watch`] or
/// [`crate::Client::get_children_watch`]: a future that resolves to the one event that fires it.
///
/// As in ZooKeeper, the watch survives a reconnection (the client re-registers it, and the server
/// fires it at once if it missed the change), and it resolves to [`Error::SessionExpired`] or
/// [`Error::Closed`] if the session ends first. Dropping it is allowed; the client forgets the
/// watch then.
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct OneShotWatch {
    receiver: oneshot::Receiver<Result<WatchEvent, Error>>,
}

impl OneShotWatch {
    pub(crate) fn new(receiver: oneshot::Receiver<Result<WatchEvent, Error>>) -> OneShotWatch {
        OneShotWatch { receiver }
    }
}

impl Future for OneShotWatch {
    type Output = Result<WatchEvent, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.receiver).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            // The client only drops a registered watch without an outcome when it shuts down.
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
