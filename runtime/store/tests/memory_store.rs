//! The in-memory store passes the shared storage contract.

use polis_store::{MemoryStore, store_contract_tests};

store_contract_tests!(MemoryStore::new);
