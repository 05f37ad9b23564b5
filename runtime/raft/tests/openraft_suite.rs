//! Openraft's own storage test suite against the redb log store and the tree state machine.

use openraft::testing::{StoreBuilder, Suite};
use polis_raft::{RAFT_LOG_FILE_NAME, RedbLogStore, StorageError, TreeStateMachine, TypeConfig};
use polis_tree::Limits;
use tempfile::TempDir;

/// Builds a fresh log store and state machine in a new temporary directory, which the returned
/// guard keeps alive for the test.
struct RedbStoreBuilder;

impl StoreBuilder<TypeConfig, RedbLogStore, TreeStateMachine, TempDir> for RedbStoreBuilder {
    async fn build(&self) -> Result<(TempDir, RedbLogStore, TreeStateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open the log");
        let state_machine = TreeStateMachine::open_redb(dir.path(), Limits::default(), &log, None)
            .expect("open the state machine");
        Ok((dir, log, state_machine))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(RedbStoreBuilder).expect("openraft's storage suite");
}
