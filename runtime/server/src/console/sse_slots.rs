//! The bound on live-update streams: a slot per open stream, given back when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts open server-sent event streams against `sse_clients_max`.
#[derive(Debug)]
pub struct SseSlots {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open stream's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct SseSlot {
    open: Arc<AtomicUsize>,
}

impl SseSlots {
    pub fn new(max: usize) -> SseSlots {
        SseSlots {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or `None` when `max` streams are open.
    pub fn take(&self) -> Option<SseSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| SseSlot {
                open: self.open.clone(),
            })
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for SseSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_than_max_streams_and_a_closed_one_frees_its_slot() {
        let slots = SseSlots::new(2);
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(first);
        assert_eq!(slots.open(), 1);
        assert!(slots.take().is_some());
    }
}
