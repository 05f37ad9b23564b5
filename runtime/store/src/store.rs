//! The storage contract.

use std::io::{Read, Write};

use polis_tree::{ChangeSet, DataTree, Limits, TreeState, Zxid};

use crate::StoreError;

/// The stored state at one moment, read without the store: see [`TreeStore::view`].
pub trait StoreView: Send {
    /// The zxid of the last batch the view holds, 0 if none.
    fn last_zxid(&self) -> Result<Zxid, StoreError>;

    /// Writes the view's state in the snapshot format: exactly the bytes
    /// `DataTree::write_snapshot` writes for the tree the view holds.
    fn export_snapshot(&self, out: &mut dyn Write) -> Result<(), StoreError>;
}

/// Durable storage of the replicated tree state.
///
/// # Contract
///
/// Every backend keeps these promises; [`crate::contract`] checks each of them, and every backend
/// runs that suite.
///
/// 1. **Genesis.** A store that was never written loads as `None` from [`TreeStore::load_state`],
///    so [`TreeStore::load`] returns `DataTree::new(limits)`, and reports zxid 0.
/// 2. **Atomic batches.** [`TreeStore::commit`] stores the whole change set or, if it returns an
///    error, none of it. Afterwards [`TreeStore::load`] returns a tree equal to the tree that
///    produced the change sets, and [`TreeStore::last_zxid`] returns its last applied zxid.
/// 3. **Order.** Change sets are committed in the order the tree produced them; a change set whose
///    `last_zxid` is lower than the stored one is refused with [`StoreError::Corrupt`].
/// 4. **Children index.** [`TreeStore::children`] lists a stored node's children in ascending
///    order without loading the tree, equal to the tree's own children list.
/// 5. **Snapshots.** [`TreeStore::export_snapshot`] writes exactly the bytes that
///    `DataTree::write_snapshot` writes for the stored state. A [`StoreView`] taken with
///    [`TreeStore::view`] exports the state as it was when the view was taken, byte for byte, however
///    many batches are committed after it. [`TreeStore::replace`] swaps the
///    whole stored state for a tree's, atomically: a later load returns that tree and nothing of
///    the previous state.
/// 6. **Durability.** A backend documents when a committed batch survives a crash. A redb store
///    with [`crate::CommitDurability::Immediate`] makes every batch durable before `commit`
///    returns; with [`crate::CommitDurability::Deferred`] a crash loses at most the batches since
///    the last [`TreeStore::sync`], and never leaves a torn batch.
pub trait TreeStore {
    /// The stored state, or `None` if nothing was ever committed.
    fn load_state(&self) -> Result<Option<TreeState>, StoreError>;

    /// Stores one change set atomically.
    fn commit(&mut self, changes: &ChangeSet) -> Result<(), StoreError>;

    /// Makes every committed batch durable.
    fn sync(&mut self) -> Result<(), StoreError>;

    /// The zxid of the last stored batch, 0 if none.
    fn last_zxid(&self) -> Result<Zxid, StoreError>;

    /// The names of a stored node's children, in ascending order (empty if it has none or does
    /// not exist).
    fn children(&self, path: &str) -> Result<Vec<String>, StoreError>;

    /// Writes the stored state in the snapshot format, from one consistent view.
    fn export_snapshot(&self, out: &mut dyn Write) -> Result<(), StoreError> {
        self.view()?.export_snapshot(out)
    }

    /// A read-only view of the state stored now, which later commits do not change. Taking it
    /// is cheap (redb: one read transaction); reading from it may be slow and needs no access
    /// to the store, so a snapshot of a large tree can be written while batches go on being
    /// committed.
    fn view(&self) -> Result<Box<dyn StoreView>, StoreError>;

    /// Replaces the whole stored state with `tree`'s, atomically.
    fn replace(&mut self, tree: &DataTree) -> Result<(), StoreError>;

    /// The stored tree, or a new one if nothing was stored.
    fn load(&self, limits: Limits) -> Result<DataTree, StoreError> {
        match self.load_state()? {
            None => Ok(DataTree::new(limits)),
            Some(state) => Ok(DataTree::from_state(limits, state)?),
        }
    }

    /// Reads a snapshot (as Raft ships it to a lagging replica), checks it, and replaces the
    /// stored state with it. Returns the installed tree. A snapshot that does not verify changes
    /// nothing.
    fn import_snapshot(
        &mut self,
        input: &mut dyn Read,
        limits: Limits,
    ) -> Result<DataTree, StoreError> {
        let tree = DataTree::read_snapshot(limits, input)?;
        self.replace(&tree)?;
        Ok(tree)
    }
}
