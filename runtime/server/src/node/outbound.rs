//! The queue of messages written to one client connection, bounded in messages and in bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use polis_proto::wire;
use prost::Message;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};

/// The sending side of one connection's queue. Cloning gives another handle on the same queue
/// and the same byte budget.
///
/// Why bytes and not only a count: a client that pipelines reads of a 1 MiB node and never reads
/// the replies would otherwise hold `count × 1 MiB` of the server's memory (4 GiB at the old bound
/// of 4,096 messages). Each queued message holds its encoded size of the budget until the
/// connection's writer has written it, so the queue and the frame being written together stay
/// within `bytes_max` (one message larger than the whole budget passes alone).
#[derive(Clone, Debug)]
pub struct Outbound {
    sender: mpsc::Sender<QueuedMessage>,
    budget: Arc<Semaphore>,
    bytes_max: usize,
    cut: Arc<CutOff>,
}

/// The receiving side of one connection's queue, read by its writer.
#[derive(Debug)]
pub struct OutboundQueue {
    receiver: mpsc::Receiver<QueuedMessage>,
    cut: Arc<CutOff>,
}

/// Set when the connection is cut off: its writer stops at once, whoever still holds a sender.
#[derive(Debug, Default)]
struct CutOff {
    cut: AtomicBool,
    wake: Notify,
}

/// A message taken from the queue, holding its share of the byte budget until it is dropped
/// (after the writer has written it).
#[derive(Debug)]
pub struct QueuedMessage {
    pub message: wire::ServerMessage,
    _bytes: OwnedSemaphorePermit,
}

/// A place in the queue, reserved before the message is known (see [`Outbound::reserve`]).
#[derive(Debug)]
pub struct OutboundSlot {
    place: mpsc::OwnedPermit<QueuedMessage>,
    bytes: OwnedSemaphorePermit,
    budget: Arc<Semaphore>,
    bytes_max: usize,
}

impl OutboundSlot {
    /// Queues `message` in the reserved place, at once. It takes its share of the byte budget,
    /// or as much of it as is left: the queue may go over its budget by this one message, since
    /// the message exists already and must not be lost.
    pub fn send(mut self, message: wire::ServerMessage) {
        let share = message.encoded_len().clamp(1, self.bytes_max);
        let wanted = share.saturating_sub(self.bytes.num_permits());
        let available = self.budget.available_permits().min(wanted);
        if available > 0
            && let Ok(more) = self
                .budget
                .clone()
                .try_acquire_many_owned(u32::try_from(available).unwrap_or(u32::MAX))
        {
            self.bytes.merge(more);
        }
        self.place.send(QueuedMessage {
            message,
            _bytes: self.bytes,
        });
    }
}

/// Why a message could not be queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The queue holds `count_max` messages or `bytes_max` bytes: the client does not read.
    #[error("the connection's queue is full")]
    Full,
    /// The connection's writer is gone.
    #[error("the connection is closed")]
    Closed,
}

/// The bounds of every connection's queue (`outbound_queue_max`, `outbound_queue_bytes_max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundBounds {
    pub messages_max: usize,
    pub bytes_max: usize,
}

impl OutboundBounds {
    /// A queue with these bounds.
    pub fn channel(&self) -> (Outbound, OutboundQueue) {
        outbound_channel(self.messages_max, self.bytes_max)
    }
}

/// A queue of at most `count_max` messages and `bytes_max` encoded bytes.
pub fn outbound_channel(count_max: usize, bytes_max: usize) -> (Outbound, OutboundQueue) {
    assert!(count_max > 0 && bytes_max > 0, "a queue holds something");
    // Permits are counted in u32 when several are taken at once.
    let bytes_max = bytes_max.min(u32::MAX as usize);
    let (sender, receiver) = mpsc::channel(count_max);
    let cut = Arc::new(CutOff::default());
    let outbound = Outbound {
        sender,
        budget: Arc::new(Semaphore::new(bytes_max)),
        bytes_max,
        cut: cut.clone(),
    };
    (outbound, OutboundQueue { receiver, cut })
}

impl Outbound {
    /// The share of the budget `message` takes: its encoded size, at least one byte, at most the
    /// whole budget.
    fn share_of(&self, message: &wire::ServerMessage) -> u32 {
        let share = message.encoded_len().clamp(1, self.bytes_max);
        u32::try_from(share).unwrap_or(u32::MAX)
    }

    /// Queues `message`, waiting for room. Waiting is back-pressure on the one session whose
    /// responses these are: its reader stops reading requests until its client reads replies.
    pub async fn send(&self, message: wire::ServerMessage) -> Result<(), OutboundError> {
        if self.is_cut_off() {
            return Err(OutboundError::Closed);
        }
        let share = self.share_of(&message);
        let bytes = self
            .budget
            .clone()
            .acquire_many_owned(share)
            .await
            .map_err(|_| OutboundError::Closed)?;
        self.sender
            .send(QueuedMessage {
                message,
                _bytes: bytes,
            })
            .await
            .map_err(|_| OutboundError::Closed)
    }

    /// Reserves a place for a message not built yet, waiting for room: a place in the queue and
    /// at least one byte of the budget (so a client that does not read holds the session here).
    /// Used where the message must be built under locks that cannot be held across a wait, and
    /// must then be queued before anything else (a read that sets a watch).
    pub async fn reserve(&self) -> Result<OutboundSlot, OutboundError> {
        let bytes = self
            .budget
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| OutboundError::Closed)?;
        let place = self
            .sender
            .clone()
            .reserve_owned()
            .await
            .map_err(|_| OutboundError::Closed)?;
        Ok(OutboundSlot {
            place,
            bytes,
            budget: self.budget.clone(),
            bytes_max: self.bytes_max,
        })
    }

    /// Queues `message` if there is room now. Used where waiting is not allowed (the hub sends
    /// watch events under its lock): a full queue means the client does not read.
    pub fn try_send(&self, message: wire::ServerMessage) -> Result<(), OutboundError> {
        if self.is_cut_off() {
            return Err(OutboundError::Closed);
        }
        let share = self.share_of(&message);
        let bytes = match self.budget.clone().try_acquire_many_owned(share) {
            Ok(bytes) => bytes,
            Err(TryAcquireError::NoPermits) => return Err(OutboundError::Full),
            Err(TryAcquireError::Closed) => return Err(OutboundError::Closed),
        };
        self.sender
            .try_send(QueuedMessage {
                message,
                _bytes: bytes,
            })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => OutboundError::Full,
                mpsc::error::TrySendError::Closed(_) => OutboundError::Closed,
            })
    }

    /// Whether the connection's writer is gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed() || self.is_cut_off()
    }

    /// Cuts the connection off: its writer stops without writing what is queued, and the
    /// connection closes, though the session's reader and handler still hold senders. For a
    /// client that does not read: sending it later messages would give it a stream with gaps.
    pub fn cut_off(&self) {
        self.cut.cut.store(true, Ordering::Release);
        // `notify_one` keeps a permit if the writer is not waiting yet, so it cannot miss it.
        self.cut.wake.notify_one();
    }

    fn is_cut_off(&self) -> bool {
        self.cut.cut.load(Ordering::Acquire)
    }
}

impl OutboundQueue {
    /// The next message, or `None` once every [`Outbound`] handle is gone and the queue is empty,
    /// or at once after [`Outbound::cut_off`].
    pub async fn recv(&mut self) -> Option<QueuedMessage> {
        loop {
            if self.cut.cut.load(Ordering::Acquire) {
                return None;
            }
            tokio::select! {
                biased;
                () = self.cut.wake.notified() => continue,
                message = self.receiver.recv() => return message,
            }
        }
    }

    /// The next message if one is queued now (none after a cut-off).
    pub fn try_recv(&mut self) -> Option<QueuedMessage> {
        if self.cut.cut.load(Ordering::Acquire) {
            return None;
        }
        self.receiver.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(bytes: usize) -> wire::ServerMessage {
        wire::ServerMessage {
            body: Some(wire::server_message::Body::Event(wire::WatchEvent {
                path: "p".repeat(bytes),
                ..wire::WatchEvent::default()
            })),
        }
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_until_the_writer_has_written() {
        let (outbound, mut queue) = outbound_channel(1_000, 10_000);
        outbound.try_send(event_of(6_000)).expect("room");
        assert_eq!(
            outbound.try_send(event_of(6_000)),
            Err(OutboundError::Full),
            "bytes, not messages, ran out"
        );
        outbound.try_send(event_of(100)).expect("small one fits");
        let written = queue.recv().await.expect("queued");
        assert_eq!(
            outbound.try_send(event_of(6_000)),
            Err(OutboundError::Full),
            "a message holds its bytes until the writer drops it"
        );
        drop(written);
        outbound.try_send(event_of(6_000)).expect("room again");
    }

    #[tokio::test]
    async fn a_reserved_place_waits_for_room_and_overdraws_by_at_most_its_message() {
        let (outbound, mut queue) = outbound_channel(10, 1_000);
        let slot = outbound.reserve().await.expect("room");
        slot.send(event_of(800));
        let slot = outbound.reserve().await.expect("200 bytes are left");
        slot.send(event_of(800));
        assert_eq!(outbound.try_send(event_of(1)), Err(OutboundError::Full));
        let sender = outbound.clone();
        let waiting = tokio::spawn(async move { sender.reserve().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "no byte is left: the reservation waits"
        );
        drop(queue.recv().await);
        waiting.await.expect("joined").expect("reserved");
    }

    #[tokio::test]
    async fn a_cut_off_queue_ends_its_writer_though_senders_remain() {
        let (outbound, mut queue) = outbound_channel(10, 1_000);
        outbound.try_send(event_of(1)).expect("room");
        let kept = outbound.clone();
        outbound.cut_off();
        assert!(queue.recv().await.is_none(), "nothing more is written");
        assert_eq!(kept.try_send(event_of(1)), Err(OutboundError::Closed));
        assert!(kept.is_closed());
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_passes_alone() {
        let (outbound, mut queue) = outbound_channel(10, 1_000);
        outbound.send(event_of(5_000)).await.expect("passes alone");
        assert_eq!(outbound.try_send(event_of(1)), Err(OutboundError::Full));
        drop(queue.recv().await);
        outbound.try_send(event_of(1)).expect("room again");
    }

    #[tokio::test]
    async fn a_waiting_sender_goes_on_once_the_writer_catches_up() {
        let (outbound, mut queue) = outbound_channel(10, 1_000);
        outbound.send(event_of(900)).await.expect("room");
        let sender = outbound.clone();
        let waiting = tokio::spawn(async move { sender.send(event_of(900)).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room until the first is written");
        drop(queue.recv().await);
        waiting.await.expect("joined").expect("sent");
        assert!(queue.recv().await.is_some());
    }
}
