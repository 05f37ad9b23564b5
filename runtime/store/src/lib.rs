//! Durable storage of the Polis znode tree.
//!
//! The tree itself ([`polis_tree::DataTree`]) lives in memory and is changed only by applying
//! committed transactions. After each applied batch, the caller hands the batch's
//! [`polis_tree::ChangeSet`] to a [`TreeStore`], which writes it in one atomic transaction; on
//! restart, [`TreeStore::load`] rebuilds the tree as of the last stored batch. The contract every
//! backend keeps is stated on the trait and checked by the shared suite in [`contract`].
//!
//! Backends: [`RedbStore`] (a redb file; the production store) and [`MemoryStore`] (for tests and
//! simulations that need no files).

pub mod contract;
mod error;
mod memory;
mod redb_store;
mod store;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use redb_store::{CommitDurability, RedbStore, TREE_STORE_CACHE_BYTES};
pub use store::{StoreView, TreeStore};
