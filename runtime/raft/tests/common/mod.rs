//! Helpers shared by the storage tests: log entries, commands and a reference tree.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use openraft::{CommittedLeaderId, EntryPayload, Membership};
use polis_raft::{Command, LogEntry, LogId, PeerNode, zxid_of};
use polis_store::{MemoryStore, StoreError, TreeStore};
use polis_tree::{
    Acl, Applied, Caller, ChangeSet, CreateMode, DataTree, Limits, TreeState, Txn, TxnKind,
    WriteOp, Zxid,
};

/// The leader id every test entry carries.
pub const LEADER_NODE_ID: u64 = 1;

/// A fixed proposal time, so that reference trees and state machines agree.
pub const PROPOSAL_TIME_BASE_MS: i64 = 1_700_000_000_000;

pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, LEADER_NODE_ID), index)
}

pub fn command_entry(term: u64, index: u64, kind: TxnKind) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::new(PROPOSAL_TIME_BASE_MS + index as i64, kind)),
    }
}

/// An entry packing several transactions, as a leader's proposer does (group commit).
pub fn batch_entry(term: u64, index: u64, kinds: Vec<TxnKind>) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::batch(PROPOSAL_TIME_BASE_MS + index as i64, kinds)),
    }
}

pub fn blank_entry(term: u64, index: u64) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

pub fn membership(voters: &[u64]) -> Membership<u64, PeerNode> {
    let nodes: BTreeMap<u64, PeerNode> = voters
        .iter()
        .map(|id| {
            (
                *id,
                PeerNode::new(
                    format!("127.0.0.1:{}", 7000 + id),
                    format!("127.0.0.1:{}", 8000 + id),
                ),
            )
        })
        .collect();
    let voter_set: BTreeSet<u64> = voters.iter().copied().collect();
    Membership::new(vec![voter_set], nodes)
}

pub fn membership_entry(term: u64, index: u64, voters: &[u64]) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(membership(voters)),
    }
}

pub fn create(path: &str, data: &[u8]) -> TxnKind {
    TxnKind::Write {
        caller: Caller::anonymous(0),
        op: WriteOp::Create {
            path: path.to_string(),
            data: Some(data.to_vec()),
            acl: Acl::open().to_vec(),
            mode: CreateMode::Persistent,
        },
    }
}

pub fn set_data(path: &str, data: &[u8]) -> TxnKind {
    TxnKind::Write {
        caller: Caller::anonymous(0),
        op: WriteOp::SetData {
            path: path.to_string(),
            data: Some(data.to_vec()),
            version: -1,
        },
    }
}

pub fn delete(path: &str) -> TxnKind {
    TxnKind::Write {
        caller: Caller::anonymous(0),
        op: WriteOp::Delete {
            path: path.to_string(),
            version: -1,
        },
    }
}

/// A log of `count` entries after the initial membership entry at index 0, in term 1: creates,
/// data changes, deletes, a session and a blank entry, so that snapshots and events have some
/// variety.
pub fn varied_log(count: u64) -> Vec<LogEntry> {
    let mut entries = vec![membership_entry(0, 0, &[1, 2, 3])];
    for index in 1..=count {
        let kind = match index % 7 {
            0 => TxnKind::OpenSession {
                timeout_ms: 10_000,
                password: [index as u8; 16],
            },
            1..=3 => create(
                &format!("/node-{index}"),
                format!("data {index}").as_bytes(),
            ),
            4 => set_data(&format!("/node-{}", index - 3), b"changed"),
            5 => delete(&format!("/node-{}", index - 3)),
            _ => {
                entries.push(blank_entry(1, index));
                continue;
            }
        };
        entries.push(command_entry(1, index, kind));
    }
    entries
}

/// What a tree that applied `entries` the way the state machine does looks like, with the
/// result of every entry past index 0.
pub fn reference_tree(entries: &[LogEntry]) -> (DataTree, Vec<Applied>) {
    let mut tree = DataTree::new(Limits::default());
    let mut applied = Vec::new();
    for entry in entries {
        let (time_ms, txns) = match &entry.payload {
            EntryPayload::Normal(command) => (command.time_ms, command.txns.clone()),
            _ => (0, vec![TxnKind::Noop]),
        };
        for (position, kind) in txns.into_iter().enumerate() {
            let zxid: Zxid = zxid_of(entry.log_id.index, position).expect("a zxid");
            if zxid <= tree.last_zxid() {
                continue;
            }
            applied.push(tree.apply(&Txn {
                zxid,
                time_ms,
                kind,
            }));
        }
    }
    (tree, applied)
}

pub fn snapshot_bytes(tree: &DataTree) -> Vec<u8> {
    tree.write_snapshot(Vec::new()).expect("write a snapshot")
}

/// A tree store that, like redb with deferred durability, loses every commit since its last sync
/// when it "crashes". Clones share the durable part.
#[derive(Clone, Debug, Default)]
pub struct CrashableStore {
    durable: Arc<Mutex<MemoryStore>>,
    volatile: MemoryStore,
}

impl CrashableStore {
    /// The store as a restart after a crash finds it: only what was synced.
    pub fn after_crash(&self) -> CrashableStore {
        let durable = self.durable.lock().expect("durable part").clone();
        CrashableStore {
            durable: Arc::new(Mutex::new(durable.clone())),
            volatile: durable,
        }
    }

    fn persist(&self) {
        *self.durable.lock().expect("durable part") = self.volatile.clone();
    }
}

impl TreeStore for CrashableStore {
    fn load_state(&self) -> Result<Option<TreeState>, StoreError> {
        self.volatile.load_state()
    }

    fn commit(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.volatile.commit(changes)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.persist();
        Ok(())
    }

    fn last_zxid(&self) -> Result<Zxid, StoreError> {
        self.volatile.last_zxid()
    }

    fn children(&self, path: &str) -> Result<Vec<String>, StoreError> {
        self.volatile.children(path)
    }

    fn view(&self) -> Result<Box<dyn polis_store::StoreView>, StoreError> {
        self.volatile.view()
    }

    fn replace(&mut self, tree: &DataTree) -> Result<(), StoreError> {
        self.volatile.replace(tree)?;
        // Replacing is durable by the store contract.
        self.persist();
        Ok(())
    }
}
