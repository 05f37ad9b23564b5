//! [`TreeView`]: how an invocation reads the tree.

use polis_tree::{DataTree, Id, Limits, Stat, TreeError};

/// Read-only access to the tree, as the identities a plugin runs as. The host checks the
/// manifest's readable prefixes before it asks; the view applies the tree's ACLs.
///
/// [`crate::PluginInstance::invoke`] takes it by reference for the invocation's duration, so an
/// implementation may borrow a tree (as [`DataTreeView`] does), lock one per read, or serve a
/// snapshot.
pub trait TreeView {
    /// A node's data and stat (`getData`); needs READ.
    fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat), TreeError>;
    /// A node's stat, or `None` if it does not exist (`exists`, which checks no ACL).
    fn exists(&self, path: &str) -> Result<Option<Stat>, TreeError>;
    /// A node's children names in ascending order (`getChildren`); needs READ.
    fn get_children(&self, path: &str) -> Result<Vec<String>, TreeError>;
    /// The tree's limits, which staged writes are checked against (path and data length, TTL).
    fn limits(&self) -> &Limits;
}

/// A [`TreeView`] of a [`DataTree`], as the given identities.
#[derive(Debug, Clone, Copy)]
pub struct DataTreeView<'a> {
    tree: &'a DataTree,
    ids: &'a [Id],
}

impl<'a> DataTreeView<'a> {
    /// Reads `tree` as a caller authenticated as `ids` (for ACL checks).
    pub fn new(tree: &'a DataTree, ids: &'a [Id]) -> DataTreeView<'a> {
        DataTreeView { tree, ids }
    }
}

impl TreeView for DataTreeView<'_> {
    fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat), TreeError> {
        // The WIT interface has no null data; a plugin reads ZooKeeper's null data as empty.
        let (data, stat) = self.tree.get_data(path, self.ids)?;
        Ok((data.unwrap_or_default().to_vec(), stat))
    }

    fn exists(&self, path: &str) -> Result<Option<Stat>, TreeError> {
        self.tree.exists(path)
    }

    fn get_children(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let (children, _) = self.tree.get_children(path, self.ids)?;
        Ok(children)
    }

    fn limits(&self) -> &Limits {
        self.tree.limits()
    }
}

/// A view of an empty tree, for running `init` alone (deployment-time config checks).
#[derive(Debug, Default)]
pub(crate) struct EmptyView {
    limits: Limits,
}

impl TreeView for EmptyView {
    fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat), TreeError> {
        Err(TreeError::NoNode {
            path: path.to_string(),
        })
    }

    fn exists(&self, _path: &str) -> Result<Option<Stat>, TreeError> {
        Ok(None)
    }

    fn get_children(&self, path: &str) -> Result<Vec<String>, TreeError> {
        Err(TreeError::NoNode {
            path: path.to_string(),
        })
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}
