//! The bounded history of changes that lets a watcher resume from a zxid.
//!
//! ZooKeeper's one-shot watches can miss changes that happen between a notification and the
//! re-registration, and its persistent watches lose events across a disconnect. Polis keeps the
//! last `history_events_max` events so that a client that has seen everything up to zxid `z` can
//! ask for everything after `z` and miss nothing; if `z` is older than the window, it gets an
//! explicit [`TreeError::HistoryCompacted`] and knows to re-read the state instead.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{TreeError, WatchEvent, Zxid};

/// One event in the history, numbered so that storage can key it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Position in the history, counting from 0 for the first event ever recorded.
    pub seq: u64,
    pub event: WatchEvent,
    /// The commit time of the event's transaction (the leader's clock when it proposed it), in
    /// milliseconds since the Unix epoch: what a consumer that replays the history — a plugin —
    /// uses as the time of the change, the same on every replica.
    pub time_ms: i64,
}

/// The window of recent events, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeHistory {
    entries: VecDeque<HistoryEntry>,
    next_seq: u64,
    compacted_through: Zxid,
    events_max: usize,
}

impl ChangeHistory {
    pub fn new(events_max: usize) -> ChangeHistory {
        ChangeHistory {
            entries: VecDeque::new(),
            next_seq: 0,
            compacted_through: 0,
            events_max,
        }
    }

    /// Rebuilds a history from stored entries (oldest first) and the compaction point.
    pub fn from_parts(
        entries: Vec<HistoryEntry>,
        compacted_through: Zxid,
        next_seq: u64,
        events_max: usize,
    ) -> ChangeHistory {
        // The stored counter wins; the entries can only confirm it (an empty window says nothing).
        let next_seq = entries
            .last()
            .map_or(next_seq, |entry| next_seq.max(entry.seq + 1));
        let mut history = ChangeHistory {
            entries: entries.into(),
            next_seq,
            compacted_through,
            events_max,
        };
        history.evict();
        history
    }

    /// Records the events of one transaction and evicts the oldest beyond the bound. Returns the
    /// new entries.
    pub(crate) fn append(&mut self, events: &[WatchEvent], time_ms: i64) -> Vec<HistoryEntry> {
        let appended: Vec<HistoryEntry> = events
            .iter()
            .map(|event| {
                let entry = HistoryEntry {
                    seq: self.next_seq,
                    event: event.clone(),
                    time_ms,
                };
                self.next_seq += 1;
                entry
            })
            .collect();
        self.entries.extend(appended.iter().cloned());
        self.evict();
        appended
    }

    /// Changes the bound (the cluster's `history_events_max` changed), dropping the oldest events
    /// beyond a lower one at once.
    pub(crate) fn set_events_max(&mut self, events_max: usize) {
        assert!(events_max > 0, "the history keeps an event");
        self.events_max = events_max;
        self.evict();
    }

    /// Drops the oldest events beyond the bound. The events of one zxid leave together, so that a
    /// resume never sees half of a multi.
    fn evict(&mut self) {
        while self.entries.len() > self.events_max {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            let zxid = oldest.event.zxid;
            while self
                .entries
                .front()
                .is_some_and(|entry| entry.event.zxid == zxid)
            {
                self.entries.pop_front();
            }
            self.compacted_through = self.compacted_through.max(zxid);
        }
    }

    /// Every retained event with a zxid greater than `after_zxid`, oldest first, or
    /// [`TreeError::HistoryCompacted`] if events after `after_zxid` may have been dropped.
    pub fn since(
        &self,
        after_zxid: Zxid,
    ) -> Result<impl Iterator<Item = &HistoryEntry>, TreeError> {
        if after_zxid < self.compacted_through {
            return Err(TreeError::HistoryCompacted {
                requested: after_zxid,
                compacted_through: self.compacted_through,
            });
        }
        let start = self
            .entries
            .partition_point(|entry| entry.event.zxid <= after_zxid);
        Ok(self.entries.range(start..))
    }

    /// The highest zxid whose events have been dropped; resuming needs a zxid at least this high.
    pub fn compacted_through(&self) -> Zxid {
        self.compacted_through
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The sequence number of the oldest retained entry (or the next one, if none is retained).
    pub fn first_retained_seq(&self) -> u64 {
        self.entries
            .front()
            .map_or(self.next_seq, |entry| entry.seq)
    }

    pub fn entries(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    fn event(zxid: Zxid, path: &str) -> WatchEvent {
        WatchEvent {
            zxid,
            kind: EventKind::NodeCreated,
            path: path.to_string(),
        }
    }

    #[test]
    fn resume_returns_every_event_after_the_zxid() {
        let mut history = ChangeHistory::new(10);
        history.append(&[event(1, "/a")], 1_000);
        history.append(&[event(2, "/b"), event(2, "/c")], 2_000);
        history.append(&[event(3, "/d")], 3_000);
        let paths: Vec<_> = history
            .since(1)
            .unwrap()
            .map(|entry| entry.event.path.as_str())
            .collect();
        assert_eq!(paths, vec!["/b", "/c", "/d"]);
        let times: Vec<i64> = history
            .since(1)
            .unwrap()
            .map(|entry| entry.time_ms)
            .collect();
        assert_eq!(
            times,
            vec![2_000, 2_000, 3_000],
            "each event keeps its commit time"
        );
        assert_eq!(history.since(3).unwrap().count(), 0);
    }

    #[test]
    fn resume_from_before_the_window_is_compacted() {
        let mut history = ChangeHistory::new(2);
        history.append(&[event(1, "/a")], 1_000);
        history.append(&[event(2, "/b")], 2_000);
        history.append(&[event(3, "/c")], 3_000);
        assert_eq!(history.compacted_through(), 1);
        assert!(matches!(
            history.since(0),
            Err(TreeError::HistoryCompacted {
                requested: 0,
                compacted_through: 1
            })
        ));
        assert_eq!(history.since(1).unwrap().count(), 2);
    }

    #[test]
    fn events_of_one_zxid_leave_the_window_together() {
        let mut history = ChangeHistory::new(2);
        history.append(&[event(1, "/a"), event(1, "/b")], 1_000);
        history.append(&[event(2, "/c")], 2_000);
        assert_eq!(history.len(), 1);
        assert_eq!(history.compacted_through(), 1);
        assert_eq!(history.first_retained_seq(), 2);
    }
}
