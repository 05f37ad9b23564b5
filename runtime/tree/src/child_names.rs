//! The names of one znode's children, stored only for nodes that have any.

use crate::Children;

/// The names of a node's children. Most znodes are leaves, and a leaf keeps one pointer-sized
/// `None` here instead of an empty set (24 bytes); that brings a node to 112 bytes, an allocator
/// size class below 128, about 16 bytes per znode at 1 M znodes (`bench/memory`).
///
/// Invariant: `Some` holds a non-empty set, so that two nodes with the same children compare
/// equal however they got them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChildNames(Option<Box<Children>>);

/// What a leaf lends out as its children.
static NO_CHILDREN: Children = Children::new();

impl ChildNames {
    pub(crate) const fn new() -> ChildNames {
        ChildNames(None)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |names| names.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        debug_assert!(self.0.as_ref().is_none_or(|names| !names.is_empty()));
        self.0.is_none()
    }

    /// Adds a name; returns whether it was new.
    pub(crate) fn insert(&mut self, name: Box<str>) -> bool {
        self.0.get_or_insert_with(Box::default).insert(name)
    }

    /// Removes a name; returns whether it was there. The last name removed frees the set.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let Some(names) = self.0.as_mut() else {
            return false;
        };
        let removed = names.remove(name);
        if names.is_empty() {
            self.0 = None;
        }
        removed
    }

    /// The names in ascending order.
    pub(crate) fn names(&self) -> &Children {
        self.0.as_deref().unwrap_or(&NO_CHILDREN)
    }
}
