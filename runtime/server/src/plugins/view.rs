//! [`LockedTreeView`]: a plugin's reads of the node's live tree.

use polis_plugin_host::TreeView;
use polis_raft::TreeReader;
use polis_tree::{Id, Limits, Stat, TreeError};

/// Reads the node's tree as a plugin's identities, taking the tree's read lock for each read
/// only. An invocation may run for up to its deadline; holding the lock that long would stall
/// every commit on the node, so each read sees the latest applied state instead of one frozen
/// state. That is what a ZooKeeper client reading during its own work sees too, and it is safe
/// for exactly-once effects: the commit is conditioned on the plugin's cursor, not on what was
/// read. Use it on a blocking thread only (see [`TreeReader::blocking_read`]).
#[derive(Debug)]
pub struct LockedTreeView<'a> {
    reader: &'a TreeReader,
    identities: &'a [Id],
    limits: &'a Limits,
}

impl<'a> LockedTreeView<'a> {
    pub fn new(reader: &'a TreeReader, identities: &'a [Id], limits: &'a Limits) -> Self {
        LockedTreeView {
            reader,
            identities,
            limits,
        }
    }
}

impl TreeView for LockedTreeView<'_> {
    fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat), TreeError> {
        let tree = self.reader.blocking_read();
        let (data, stat) = tree.get_data(path, self.identities)?;
        // The WIT interface has no null data; a plugin reads ZooKeeper's null data as empty.
        Ok((data.unwrap_or_default().to_vec(), stat))
    }

    fn exists(&self, path: &str) -> Result<Option<Stat>, TreeError> {
        self.reader.blocking_read().exists(path)
    }

    fn get_children(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let tree = self.reader.blocking_read();
        let (children, _) = tree.get_children(path, self.identities)?;
        Ok(children)
    }

    fn limits(&self) -> &Limits {
        self.limits
    }
}
