//! The Raft log's journal: an append-only file that makes each append durable with one
//! sequential write and one `fdatasync`, in front of the redb log.
//!
//! Why: a durable redb commit rewrites every page its copy-on-write B-trees touched, seven to
//! nine 4 KiB pages scattered over the file for a single appended entry, and its `fdatasync`
//! waits for all of them (measured here: 175–340 µs per commit against about 145 µs for one
//! sequential record). So an append writes its entries once to this journal (durable) and once
//! to redb *without* fsync (redb's `Durability::None`: visible to readers, lost in a crash), and
//! every megabyte or so a durable redb commit, a *checkpoint*, makes redb hold all of it
//! again. This is how ZooKeeper (`FileTxnLog` beside its snapshots) and etcd (its WAL in front of
//! the bbolt backend, committed in batches) keep one sequential fsync per batch of writes.
//!
//! The file is reused: a checkpoint rewinds it, and the next records overwrite it from the
//! start. Each record carries the *generation* it was written in, and redb stores the current
//! generation in the same durable commit that makes the journal's records redundant, so a
//! restart replays exactly the records written since redb's last durable commit:
//! - records of another generation (left over from before a rewind) are not replayed;
//! - a record torn by a crash fails its checksum, and it and everything after it are ignored
//!   (it was never reported durable: its `fdatasync` had not returned);
//! - the file only ever grows by bytes written as zeros (never by `set_len`, which leaves holes),
//!   so that a record's `fdatasync` has no block allocation, hence no file system metadata, to
//!   write: on ext4 that metadata cost two further synchronous writes per fsync here.
//!
//! Record layout (little-endian): magic `u32`, payload length `u32`, generation `u64`, index of
//! the first entry `u64`, entry count `u32`, CRC-32 `u32` of the 28 bytes before it and the
//! payload; then the payload: per entry its encoded length `u32` and its postcard bytes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::RaftStoreError;

/// Marks the start of a record ("PLJ1"); zeros and other files' bytes never match it.
const RECORD_MAGIC: u32 = 0x314A_4C50;

/// The bytes of a record's header.
const RECORD_HEADER_BYTES: usize = 32;

/// The bytes of zeros the journal grows by when a record does not fit: growth is rare (the file
/// is rewound at every checkpoint) and costs one metadata write in the record's `fdatasync`.
pub const LOG_JOURNAL_GROWTH_BYTES: u64 = 1024 * 1024;

/// The journal is checkpointed (redb made durable, the journal rewound) once it holds this many
/// bytes. Bounds the redb work that is not yet durable, the time a checkpoint takes (it writes
/// every page the appends since the last one touched, and appends wait for it: 11–15 ms at 4 MiB
/// under 64 sessions' writes, so 1 MiB keeps that wait short) and the time a restart replays.
pub const LOG_JOURNAL_BYTES_MAX: u64 = 1024 * 1024;

/// The journal is checkpointed once it holds this many records, whatever their size: small
/// appends (one client's writes) then pay one redb fsync per this many appends.
pub const LOG_JOURNAL_RECORDS_MAX: u64 = 1024;

/// The label value of the journal's fsync measurements (`polis_raft_fsync_seconds`).
const FSYNC_FILE_LABEL: &str = "raft-log-journal";

/// One record read back: the entries of one append, encoded as the log stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JournalRecord {
    pub(crate) first_index: u64,
    pub(crate) entries: Vec<Vec<u8>>,
}

/// The journal file and where the next record goes.
#[derive(Debug)]
pub(crate) struct LogJournal {
    file: File,
    path: PathBuf,
    generation: u64,
    /// Where the next record starts: the end of the current generation's records.
    write_at: u64,
    /// The file's length, every byte of it written (zeros or records).
    written_len: u64,
    records: u64,
}

impl LogJournal {
    /// The journal belonging to the redb log file `log_file` (`raft-log.redb` →
    /// `raft-log.journal`), created empty if absent. Nothing is read yet: the caller names the
    /// generation to read ([`LogJournal::read_generation`]) once it has read redb.
    pub(crate) fn open(log_file: &Path) -> Result<LogJournal, RaftStoreError> {
        let path = log_file.with_extension("journal");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let written_len = file.metadata()?.len();
        Ok(LogJournal {
            file,
            path,
            generation: 0,
            write_at: 0,
            written_len,
            records: 0,
        })
    }

    /// The records of `generation` from the start of the file, up to the first record that is
    /// not one (another generation's, torn, or zeros).
    pub(crate) fn read_generation(
        &self,
        generation: u64,
    ) -> Result<Vec<JournalRecord>, RaftStoreError> {
        let mut records = Vec::new();
        let mut at = 0u64;
        while let Some((record, record_len)) = self.read_record(at, generation)? {
            records.push(record);
            at += record_len;
        }
        Ok(records)
    }

    /// The record at `at` and its length in the file, if a whole record of `generation` is there.
    fn read_record(
        &self,
        at: u64,
        generation: u64,
    ) -> Result<Option<(JournalRecord, u64)>, RaftStoreError> {
        let header_end = at + RECORD_HEADER_BYTES as u64;
        if header_end > self.written_len {
            return Ok(None);
        }
        let mut header = [0u8; RECORD_HEADER_BYTES];
        self.file.read_exact_at(&mut header, at)?;
        let fields = RecordHeader::decode(&header);
        // The payload length is checked against the file before anything is allocated for it:
        // a damaged header must not make a restart allocate gigabytes.
        if fields.magic != RECORD_MAGIC
            || fields.generation != generation
            || header_end + u64::from(fields.payload_len) > self.written_len
        {
            return Ok(None);
        }
        let mut payload = vec![0u8; fields.payload_len as usize];
        self.file.read_exact_at(&mut payload, header_end)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header[..28]);
        crc.update(&payload);
        if crc.finalize() != fields.crc {
            return Ok(None);
        }
        let entries = decode_payload(&payload, fields.count).ok_or_else(|| {
            RaftStoreError::Corrupt(format!(
                "{}: the record at byte {at} passes its checksum but its entries do not parse",
                self.path.display()
            ))
        })?;
        let record = JournalRecord {
            first_index: fields.first_index,
            entries,
        };
        Ok(Some((
            record,
            RECORD_HEADER_BYTES as u64 + payload.len() as u64,
        )))
    }

    /// Starts `generation` at the start of the file. Called once redb holds, durably, every
    /// record written so far and names `generation` as current.
    pub(crate) fn rewind(&mut self, generation: u64) {
        assert!(
            generation > self.generation || self.records == 0,
            "a rewind moves to a newer generation"
        );
        self.generation = generation;
        self.write_at = 0;
        self.records = 0;
    }

    /// Writes one record holding `entries` (consecutive, from `first_index`) and waits until it
    /// is on disk.
    pub(crate) fn append(
        &mut self,
        first_index: u64,
        entries: &[(u64, Vec<u8>)],
    ) -> Result<(), RaftStoreError> {
        assert!(!entries.is_empty(), "a record holds at least one entry");
        assert_eq!(
            entries[0].0, first_index,
            "a record starts at its first index"
        );
        let record = encode_record(self.generation, first_index, entries)?;
        let end = self.write_at + record.len() as u64;
        if end > self.written_len {
            self.grow_to(end)?;
        }
        self.file.write_all_at(&record, self.write_at)?;
        let started = Instant::now();
        self.file.sync_data()?;
        metrics::histogram!("polis_raft_fsync_seconds", "file" => FSYNC_FILE_LABEL)
            .record(started.elapsed().as_secs_f64());
        self.write_at = end;
        self.records += 1;
        debug_assert!(self.write_at <= self.written_len);
        Ok(())
    }

    /// Extends the file with zeros to at least `end`, by whole [`LOG_JOURNAL_GROWTH_BYTES`].
    /// Not synced here: the record written next is, and its `fdatasync` carries these blocks.
    fn grow_to(&mut self, end: u64) -> Result<(), RaftStoreError> {
        let target = end.div_ceil(LOG_JOURNAL_GROWTH_BYTES) * LOG_JOURNAL_GROWTH_BYTES;
        let zeros = vec![0u8; LOG_JOURNAL_GROWTH_BYTES as usize];
        while self.written_len < target {
            let chunk = (target - self.written_len).min(LOG_JOURNAL_GROWTH_BYTES) as usize;
            self.file.write_all_at(&zeros[..chunk], self.written_len)?;
            self.written_len += chunk as u64;
        }
        Ok(())
    }

    /// Whether the journal holds enough that a checkpoint is due.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.write_at >= LOG_JOURNAL_BYTES_MAX || self.records >= LOG_JOURNAL_RECORDS_MAX
    }

    /// Whether records were written since the last rewind.
    pub(crate) fn holds_records(&self) -> bool {
        self.records > 0
    }

    /// The generation records are written in now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// A record header's fields.
struct RecordHeader {
    magic: u32,
    payload_len: u32,
    generation: u64,
    first_index: u64,
    count: u32,
    crc: u32,
}

impl RecordHeader {
    fn decode(bytes: &[u8; RECORD_HEADER_BYTES]) -> RecordHeader {
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        RecordHeader {
            magic: u32_at(0),
            payload_len: u32_at(4),
            generation: u64_at(8),
            first_index: u64_at(16),
            count: u32_at(24),
            crc: u32_at(28),
        }
    }
}

/// One record's bytes: header, then each entry's length and bytes.
pub(crate) fn encode_record(
    generation: u64,
    first_index: u64,
    entries: &[(u64, Vec<u8>)],
) -> Result<Vec<u8>, RaftStoreError> {
    let too_large = || RaftStoreError::Corrupt("an append batch exceeds 4 GiB".to_owned());
    let payload_len: usize = entries.iter().map(|(_, bytes)| 4 + bytes.len()).sum();
    let payload_len = u32::try_from(payload_len).map_err(|_| too_large())?;
    let count = u32::try_from(entries.len()).map_err(|_| too_large())?;
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + payload_len as usize);
    record.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    record.extend_from_slice(&payload_len.to_le_bytes());
    record.extend_from_slice(&generation.to_le_bytes());
    record.extend_from_slice(&first_index.to_le_bytes());
    record.extend_from_slice(&count.to_le_bytes());
    record.extend_from_slice(&[0u8; 4]);
    for (_, bytes) in entries {
        let len = u32::try_from(bytes.len()).map_err(|_| too_large())?;
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(bytes);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&record[..28]);
    crc.update(&record[RECORD_HEADER_BYTES..]);
    record[28..32].copy_from_slice(&crc.finalize().to_le_bytes());
    debug_assert_eq!(record.len(), RECORD_HEADER_BYTES + payload_len as usize);
    Ok(record)
}

/// The `count` entries of a payload, or `None` unless they fill it exactly.
fn decode_payload(payload: &[u8], count: u32) -> Option<Vec<Vec<u8>>> {
    let mut entries = Vec::with_capacity((count as usize).min(payload.len() / 4));
    let mut rest = payload;
    for _ in 0..count {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        entries.push(rest.get(4..4 + len)?.to_vec());
        rest = &rest[4 + len..];
    }
    rest.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: u64, count: u64, fill: u8) -> Vec<(u64, Vec<u8>)> {
        (first..first + count)
            .map(|index| (index, vec![fill; 10 + index as usize]))
            .collect()
    }

    fn record(first: u64, count: u64, fill: u8) -> JournalRecord {
        JournalRecord {
            first_index: first,
            entries: batch(first, count, fill)
                .into_iter()
                .map(|(_, b)| b)
                .collect(),
        }
    }

    fn journal() -> (tempfile::TempDir, LogJournal) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let journal = LogJournal::open(&dir.path().join("raft-log.redb")).expect("open");
        (dir, journal)
    }

    #[test]
    fn records_of_the_generation_read_back_in_order() {
        let (dir, mut journal) = journal();
        journal.rewind(3);
        journal.append(1, &batch(1, 2, 1)).expect("append");
        journal.append(3, &batch(3, 1, 2)).expect("append");
        let reopened = LogJournal::open(&dir.path().join("raft-log.redb")).expect("reopen");
        assert_eq!(
            reopened.read_generation(3).expect("read"),
            vec![record(1, 2, 1), record(3, 1, 2)]
        );
        assert!(reopened.read_generation(2).expect("read").is_empty());
    }

    #[test]
    fn a_rewound_journal_does_not_replay_the_older_generation_behind_its_records() {
        let (dir, mut journal) = journal();
        journal.rewind(1);
        for first in [1, 3, 5] {
            journal.append(first, &batch(first, 2, 1)).expect("append");
        }
        journal.rewind(2);
        journal.append(7, &batch(7, 1, 2)).expect("append");
        let reopened = LogJournal::open(&dir.path().join("raft-log.redb")).expect("reopen");
        assert_eq!(
            reopened.read_generation(2).expect("read"),
            vec![record(7, 1, 2)]
        );
    }

    #[test]
    fn a_torn_record_and_everything_after_it_are_ignored() {
        let (dir, mut journal) = journal();
        journal.rewind(1);
        journal.append(1, &batch(1, 1, 1)).expect("append");
        let first_len = journal.write_at;
        journal.append(2, &batch(2, 3, 2)).expect("append");
        journal.append(5, &batch(5, 1, 3)).expect("append");
        // A crash tore the second record: one byte of its payload never reached the disk.
        journal
            .file
            .write_all_at(&[0xFF], first_len + RECORD_HEADER_BYTES as u64 + 6)
            .expect("damage");
        let reopened = LogJournal::open(&dir.path().join("raft-log.redb")).expect("reopen");
        assert_eq!(
            reopened.read_generation(1).expect("read"),
            vec![record(1, 1, 1)]
        );
    }

    #[test]
    fn the_file_grows_by_written_zeros_and_a_header_cannot_claim_more_than_the_file() {
        let (dir, mut journal) = journal();
        journal.rewind(1);
        journal.append(1, &batch(1, 1, 1)).expect("append");
        assert_eq!(journal.written_len, LOG_JOURNAL_GROWTH_BYTES);
        let on_disk = std::fs::metadata(&journal.path).expect("metadata");
        assert_eq!(on_disk.len(), LOG_JOURNAL_GROWTH_BYTES);
        // A header whose payload length runs past the end of the file is no record.
        let mut header = encode_record(1, 9, &batch(9, 1, 9)).expect("encode");
        header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        journal
            .file
            .write_all_at(&header[..RECORD_HEADER_BYTES], journal.write_at)
            .expect("write");
        let reopened = LogJournal::open(&dir.path().join("raft-log.redb")).expect("reopen");
        assert_eq!(reopened.read_generation(1).expect("read").len(), 1);
    }

    #[test]
    fn the_checkpoint_is_due_after_the_record_or_byte_bound() {
        let (_dir, mut journal) = journal();
        journal.rewind(1);
        for index in 1..LOG_JOURNAL_RECORDS_MAX {
            journal
                .append(index, &[(index, vec![0; 8])])
                .expect("append");
            assert!(!journal.wants_checkpoint());
        }
        journal
            .append(
                LOG_JOURNAL_RECORDS_MAX,
                &[(LOG_JOURNAL_RECORDS_MAX, vec![0; 8])],
            )
            .expect("append");
        assert!(journal.wants_checkpoint());
        journal.rewind(2);
        assert!(!journal.wants_checkpoint());
        let big = vec![(1, vec![0; LOG_JOURNAL_BYTES_MAX as usize])];
        journal.append(1, &big).expect("append");
        assert!(journal.wants_checkpoint());
    }
}
