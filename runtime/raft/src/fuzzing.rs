//! Entry points for the fuzz targets (`tools/fuzz-checks`, `fuzz/`), behind the `fuzzing`
//! feature: the decoders of the files a node reads when it starts are private to this crate, and
//! a fuzzer must reach exactly them, not a copy.

use std::path::Path;

use crate::RaftStoreError;
use crate::log_journal::{LogJournal, encode_record};
use crate::snapshot_file::SnapshotFile;

/// One journal record read back: the index of its first entry and each entry's bytes.
pub type JournalRecordParts = (u64, Vec<Vec<u8>>);

/// The records of `generation` in the journal beside `log_file` (`raft-log.redb` →
/// `raft-log.journal`), as a restart reads them: each as its first index and its entries' bytes.
pub fn read_journal(
    log_file: &Path,
    generation: u64,
) -> Result<Vec<JournalRecordParts>, RaftStoreError> {
    let journal = LogJournal::open(log_file)?;
    Ok(journal
        .read_generation(generation)?
        .into_iter()
        .map(|record| (record.first_index, record.entries))
        .collect())
}

/// One journal record's bytes, as an append writes them.
pub fn encode_journal_record(
    generation: u64,
    first_index: u64,
    entries: &[Vec<u8>],
) -> Result<Vec<u8>, RaftStoreError> {
    let indexed: Vec<(u64, Vec<u8>)> = entries
        .iter()
        .enumerate()
        .map(|(offset, bytes)| (first_index + offset as u64, bytes.clone()))
        .collect();
    encode_record(generation, first_index, &indexed)
}

/// The snapshot file of `dir`, as a restart reads it.
pub fn read_snapshot_file(dir: &Path) -> Result<Option<SnapshotFile>, RaftStoreError> {
    SnapshotFile::read(dir)
}

/// Writes `snapshot` as the current snapshot file of `dir`.
pub fn write_snapshot_file(snapshot: &SnapshotFile, dir: &Path) -> Result<(), RaftStoreError> {
    snapshot.write(dir)
}
