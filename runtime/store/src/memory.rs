//! An in-memory store: the same contract as the redb store, with nothing on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use polis_tree::{
    ChangeSet, DataTree, HistoryEntry, NodeRecord, Session, SessionId, SessionWrites,
    SnapshotWriter, TreeState, Zxid, path,
};

use crate::{StoreError, StoreView, TreeStore};

/// Stores the tree state in ordered maps. Nothing survives the process; `sync` does nothing.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    written: bool,
    last_zxid: Zxid,
    last_time_ms: i64,
    limits: Option<polis_tree::Limits>,
    nodes: BTreeMap<String, NodeRecord>,
    children: BTreeSet<(String, String)>,
    sessions: BTreeMap<SessionId, Session>,
    session_writes: BTreeMap<SessionId, SessionWrites>,
    history: BTreeMap<u64, HistoryEntry>,
    history_compacted_through: Zxid,
    history_next_seq: u64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl TreeStore for MemoryStore {
    fn load_state(&self) -> Result<Option<TreeState>, StoreError> {
        if !self.written {
            return Ok(None);
        }
        Ok(Some(TreeState {
            last_zxid: self.last_zxid,
            last_time_ms: self.last_time_ms,
            limits: self.limits.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|(node_path, record)| (node_path.clone(), record.clone()))
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(session_id, session)| (*session_id, session.clone()))
                .collect(),
            session_writes: self
                .session_writes
                .iter()
                .map(|(session_id, writes)| (*session_id, writes.clone()))
                .collect(),
            history: self.history.values().cloned().collect(),
            history_compacted_through: self.history_compacted_through,
            history_next_seq: self.history_next_seq,
        }))
    }

    fn commit(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        if changes.last_zxid < self.last_zxid {
            return Err(StoreError::Corrupt(format!(
                "change set for zxid {} after stored zxid {}",
                changes.last_zxid, self.last_zxid
            )));
        }
        for (node_path, record) in &changes.nodes {
            let link = (
                path::parent(node_path).to_string(),
                path::name(node_path).to_string(),
            );
            match record {
                Some(record) => {
                    self.nodes.insert(node_path.clone(), record.clone());
                    if node_path != "/" {
                        self.children.insert(link);
                    }
                }
                None => {
                    self.nodes.remove(node_path);
                    self.children.remove(&link);
                }
            }
        }
        for (session_id, session) in &changes.sessions {
            match session {
                Some(session) => self.sessions.insert(*session_id, session.clone()),
                None => self.sessions.remove(session_id),
            };
        }
        for (session_id, writes) in &changes.session_writes {
            match writes {
                Some(writes) => self.session_writes.insert(*session_id, writes.clone()),
                None => self.session_writes.remove(session_id),
            };
        }
        for entry in &changes.history_appended {
            self.history.insert(entry.seq, entry.clone());
        }
        self.history = self.history.split_off(&changes.history_first_retained_seq);
        self.history_compacted_through = changes.history_compacted_through;
        self.history_next_seq = changes.history_next_seq;
        self.last_zxid = changes.last_zxid;
        self.last_time_ms = changes.last_time_ms;
        if let Some(limits) = &changes.limits {
            self.limits = Some(limits.clone());
        }
        self.written = true;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn last_zxid(&self) -> Result<Zxid, StoreError> {
        Ok(self.last_zxid)
    }

    fn children(&self, node_path: &str) -> Result<Vec<String>, StoreError> {
        let start = (node_path.to_string(), String::new());
        Ok(self
            .children
            .range(start..)
            .take_while(|(parent, _)| parent == node_path)
            .map(|(_, name)| name.clone())
            .collect())
    }

    fn view(&self) -> Result<Box<dyn StoreView>, StoreError> {
        // A copy: the memory store serves tests and simulations, where trees are small.
        Ok(Box::new(self.clone()))
    }

    fn replace(&mut self, tree: &DataTree) -> Result<(), StoreError> {
        let state = tree.to_state();
        let mut replacement = MemoryStore {
            written: true,
            last_zxid: state.last_zxid,
            last_time_ms: state.last_time_ms,
            limits: state.limits.clone(),
            history_compacted_through: state.history_compacted_through,
            history_next_seq: state.history_next_seq,
            ..MemoryStore::default()
        };
        for (node_path, record) in state.nodes {
            if node_path != "/" {
                replacement.children.insert((
                    path::parent(&node_path).to_string(),
                    path::name(&node_path).to_string(),
                ));
            }
            replacement.nodes.insert(node_path, record);
        }
        replacement.sessions = state.sessions.into_iter().collect();
        replacement.session_writes = state.session_writes.into_iter().collect();
        replacement.history = state
            .history
            .into_iter()
            .map(|entry| (entry.seq, entry))
            .collect();
        *self = replacement;
        Ok(())
    }
}

impl StoreView for MemoryStore {
    fn last_zxid(&self) -> Result<Zxid, StoreError> {
        Ok(self.last_zxid)
    }

    fn export_snapshot(&self, out: &mut dyn Write) -> Result<(), StoreError> {
        match self.load_state()? {
            None => {
                let genesis = DataTree::new(polis_tree::Limits::default());
                genesis.write_snapshot(out).map_err(snapshot_io)?;
            }
            Some(state) => {
                let mut writer = SnapshotWriter::new(
                    out,
                    state.last_zxid,
                    state.last_time_ms,
                    &state.limits.clone().unwrap_or_default(),
                    state.history_compacted_through,
                    state.history_next_seq,
                )
                .map_err(snapshot_io)?;
                for (node_path, record) in &state.nodes {
                    writer.node(node_path, record).map_err(snapshot_io)?;
                }
                for (session_id, session) in &state.sessions {
                    writer.session(*session_id, session).map_err(snapshot_io)?;
                }
                for (session_id, writes) in &state.session_writes {
                    writer
                        .session_writes(*session_id, writes)
                        .map_err(snapshot_io)?;
                }
                for entry in &state.history {
                    writer.history(entry).map_err(snapshot_io)?;
                }
                writer.finish().map_err(snapshot_io)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn snapshot_io(error: std::io::Error) -> StoreError {
    StoreError::Snapshot(polis_tree::SnapshotError::Io(error))
}
