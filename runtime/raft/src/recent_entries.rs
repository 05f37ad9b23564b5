//! The newest log entries, kept decoded in memory so that replication does not read back and
//! decode from redb what was written a moment ago.

use std::collections::VecDeque;

use openraft::RaftLogId;

use crate::LogEntry;

/// The most entries [`RecentEntries`] keeps. A leader replicates what it has just appended, and
/// a follower that lags further behind than this reads from the file as before.
pub const RECENT_ENTRIES_MAX: usize = 1024;

/// The most encoded bytes of entries [`RecentEntries`] keeps (entries carry up to 1 MiB of znode
/// data each, so the count alone would let the cache grow to a gigabyte).
pub const RECENT_ENTRIES_BYTES_MAX: usize = 32 * 1024 * 1024;

/// A window of consecutive log entries ending at the last one appended, each with its encoded
/// size, bounded by [`RECENT_ENTRIES_MAX`] and [`RECENT_ENTRIES_BYTES_MAX`].
///
/// The window only ever holds entries that are also in the file: it is extended after a durable
/// append, cut before a truncation or purge is written, so that serving a read from it gives the
/// same answer as the file would (openraft's `RaftLogReader` contract).
#[derive(Debug, Default)]
pub(crate) struct RecentEntries {
    entries: VecDeque<(LogEntry, usize)>,
    bytes: usize,
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

    /// Adds entries just made durable. Entries that do not continue the window (the file was
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
            while self.entries.len() > RECENT_ENTRIES_MAX
                || (self.bytes > RECENT_ENTRIES_BYTES_MAX && self.entries.len() > 1)
            {
                self.pop_front();
            }
        }
        self.assert_consecutive();
    }

    /// Forgets the entries from `index` on (a truncation).
    pub(crate) fn remove_from(&mut self, index: u64) {
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
        debug_assert!(self.entries.len() <= RECENT_ENTRIES_MAX);
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
        assert_eq!(recent.read(1, 2, usize::MAX), None);
        assert!(recent.read(11, count + 1, usize::MAX).is_some());
    }
}
