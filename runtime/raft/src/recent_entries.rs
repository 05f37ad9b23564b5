//! The newest log entries, kept decoded in memory so that replication does not read back and
//! decode from redb what was written a moment ago.

use std::collections::VecDeque;

use openraft::RaftLogId;

use crate::LogEntry;

/// The most entries [`RecentEntries`] keeps. A leader replicates what it has just appended, and
/// a follower that lags further behind than this reads from the file as before.
pub const RECENT_ENTRIES_MAX: usize = 1024;

/// The most encoded bytes of entries [`RecentEntries`] keeps (entries carry up to 1 MiB of znode
/// data each, so the count alone would let the cache grow to a gigabyte). A busy leader's
/// entries are about 8 KiB (25 writes packed), so the count bounds them first.
pub const RECENT_ENTRIES_BYTES_MAX: usize = 8 * 1024 * 1024;

/// A window of consecutive log entries ending at the last one appended, each with its encoded
/// size, bounded by [`RECENT_ENTRIES_MAX`] and [`RECENT_ENTRIES_BYTES_MAX`].
///
/// The window holds what the file holds plus the appends queued for it: it is extended when an
/// append is queued, cut before a truncation or purge is written, so that serving a read from it
/// gives the answer the file gives once the queue is written (openraft's `RaftLogReader`
/// contract; a leader replicates entries while its own write of them is in flight, Raft thesis
/// §10.2.1). An entry the file does not hold yet is never evicted, since no reader could find it
/// elsewhere: the bounds may be exceeded by the appends in flight, which the proposals in flight
/// bound.
#[derive(Debug, Default)]
pub(crate) struct RecentEntries {
    entries: VecDeque<(LogEntry, usize)>,
    bytes: usize,
    /// The last index the file holds durably, as far as the window knows.
    durable_last: Option<u64>,
}

impl RecentEntries {
    fn first_index(&self) -> Option<u64> {
        self.entries
            .front()
            .map(|(entry, _)| entry.get_log_id().index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries
            .back()
            .map(|(entry, _)| entry.get_log_id().index)
    }

    /// Adds entries queued for the file. Entries that do not continue the window (the file is
    /// rewritten from an earlier index) replace what the window held from there on.
    pub(crate) fn extend(&mut self, appended: impl IntoIterator<Item = (LogEntry, usize)>) {
        for (entry, size) in appended {
            let index = entry.get_log_id().index;
            if self.last_index().is_some_and(|last| index <= last) {
                self.remove_from(index);
            }
            if self.last_index().is_some_and(|last| index != last + 1) {
                self.clear();
            }
            self.bytes = self.bytes.saturating_add(size);
            self.entries.push_back((entry, size));
            while (self.entries.len() > RECENT_ENTRIES_MAX
                || (self.bytes > RECENT_ENTRIES_BYTES_MAX && self.entries.len() > 1))
                && self.front_is_durable()
            {
                self.pop_front();
            }
        }
        self.assert_consecutive();
    }

    /// Records that the file holds every entry up to `index`.
    pub(crate) fn mark_durable(&mut self, index: u64) {
        self.durable_last = Some(index);
        while (self.entries.len() > RECENT_ENTRIES_MAX
            || (self.bytes > RECENT_ENTRIES_BYTES_MAX && self.entries.len() > 1))
            && self.front_is_durable()
        {
            self.pop_front();
        }
        self.assert_consecutive();
    }

    fn front_is_durable(&self) -> bool {
        match (self.first_index(), self.durable_last) {
            (Some(first), Some(durable)) => first <= durable,
            _ => false,
        }
    }

    /// Forgets the entries from `index` on (a truncation).
    pub(crate) fn remove_from(&mut self, index: u64) {
        if self.durable_last.is_some_and(|durable| durable >= index) {
            self.durable_last = index.checked_sub(1);
        }
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Forgets the entries up to and including `index` (a purge).
    pub(crate) fn remove_through(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.pop_front();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    /// The entries `start..end`, stopping before `bytes_max` encoded bytes are exceeded (the first
    /// is always returned), if the window holds the whole range; `None` if the file must answer.
    pub(crate) fn read(&self, start: u64, end: u64, bytes_max: usize) -> Option<Vec<LogEntry>> {
        let first = self.first_index()?;
        let last = self.last_index()?;
        if start < first || end > last + 1 || start >= end {
            return None;
        }
        let skip = usize::try_from(start - first).ok()?;
        let mut taken = Vec::new();
        let mut bytes = 0usize;
        for (entry, size) in self.entries.iter().skip(skip) {
            if entry.get_log_id().index >= end {
                break;
            }
            if !taken.is_empty() && bytes.saturating_add(*size) > bytes_max {
                break;
            }
            bytes = bytes.saturating_add(*size);
            taken.push(entry.clone());
        }
        debug_assert_eq!(
            taken.first().map(|entry| entry.get_log_id().index),
            Some(start),
            "the window is consecutive, so the read starts where it was asked to"
        );
        Some(taken)
    }

    fn assert_consecutive(&self) {
        // Only entries queued and not yet durable may hold the window above its bound.
        debug_assert!(self.entries.len() <= RECENT_ENTRIES_MAX || !self.front_is_durable());
        debug_assert!(
            self.entries
                .iter()
                .zip(self.entries.iter().skip(1))
                .all(|((a, _), (b, _))| a.get_log_id().index + 1 == b.get_log_id().index),
            "the window holds consecutive indexes"
        );
        debug_assert_eq!(
            self.bytes,
            self.entries.iter().map(|(_, size)| size).sum::<usize>()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, LogId};
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> (LogEntry, usize) {
        let entry = LogEntry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command::default()),
        };
        (entry, 10)
    }

    fn indexes(entries: &[LogEntry]) -> Vec<u64> {
        entries
            .iter()
            .map(|entry| entry.get_log_id().index)
            .collect()
    }

    #[test]
    fn a_read_inside_the_window_is_served_and_one_outside_is_not() {
        let mut recent = RecentEntries::default();
        recent.extend((5..=9).map(entry));
        assert_eq!(indexes(&recent.read(6, 9, usize::MAX).unwrap()), [6, 7, 8]);
        assert_eq!(
            recent.read(4, 7, usize::MAX),
            None,
            "starts before the window"
        );
        assert_eq!(
            recent.read(8, 11, usize::MAX),
            None,
            "ends after the window"
        );
        assert_eq!(
            indexes(&recent.read(5, 10, 25).unwrap()),
            [5, 6],
            "byte bound"
        );
        assert_eq!(indexes(&recent.read(5, 10, 1).unwrap()), [5], "always one");
    }

    #[test]
    fn truncation_purge_and_a_rewrite_keep_the_window_true_to_the_file() {
        let mut recent = RecentEntries::default();
        recent.extend((1..=10).map(entry));
        recent.remove_from(8);
        assert_eq!(recent.read(8, 9, usize::MAX), None);
        recent.remove_through(3);
        assert_eq!(recent.read(3, 5, usize::MAX), None);
        assert_eq!(
            indexes(&recent.read(4, 8, usize::MAX).unwrap()),
            [4, 5, 6, 7]
        );
        // A follower whose log is overwritten from index 6 on.
        recent.extend((6..=7).map(entry));
        assert_eq!(
            indexes(&recent.read(4, 8, usize::MAX).unwrap()),
            [4, 5, 6, 7]
        );
        // A gap (entries written past the window) starts the window afresh.
        recent.extend((20..=21).map(entry));
        assert_eq!(recent.read(7, 8, usize::MAX), None);
        assert_eq!(indexes(&recent.read(20, 22, usize::MAX).unwrap()), [20, 21]);
    }

    #[test]
    fn the_window_is_bounded_in_entries() {
        let mut recent = RecentEntries::default();
        let count = RECENT_ENTRIES_MAX as u64 + 10;
        recent.extend((1..=count).map(entry));
        recent.mark_durable(count);
        assert_eq!(recent.read(1, 2, usize::MAX), None);
        assert!(recent.read(11, count + 1, usize::MAX).is_some());
    }

    #[test]
    fn an_entry_the_file_does_not_hold_yet_is_never_evicted() {
        let mut recent = RecentEntries::default();
        let count = RECENT_ENTRIES_MAX as u64 + 10;
        recent.extend((1..=5).map(entry));
        recent.mark_durable(5);
        // Queued, not written yet: a reader finds them only here.
        recent.extend((6..=count).map(entry));
        assert_eq!(recent.read(1, 2, usize::MAX), None, "durable ones go first");
        assert!(recent.read(6, count + 1, usize::MAX).is_some());
        // Once the file holds them, the window keeps to its bound again.
        recent.mark_durable(count);
        assert_eq!(recent.read(6, 7, usize::MAX), None);
        assert!(recent.read(11, count + 1, usize::MAX).is_some());
        // A truncation takes back what the file no longer holds.
        recent.remove_from(count - 1);
        recent.extend((count - 1..=count + 1).map(entry));
        assert!(recent.read(count - 1, count + 2, usize::MAX).is_some());
    }
}
