//! `polis:plugin/types`: the types the interfaces share.

use crate::bindings::types;

use super::HostState;

impl types::Host for HostState {}

/// A tree event's kind as the WIT interface names it.
pub(crate) fn event_kind(kind: polis_tree::EventKind) -> types::EventKind {
    match kind {
        polis_tree::EventKind::NodeCreated => types::EventKind::NodeCreated,
        polis_tree::EventKind::NodeDeleted => types::EventKind::NodeDeleted,
        polis_tree::EventKind::NodeDataChanged => types::EventKind::NodeDataChanged,
        polis_tree::EventKind::NodeChildrenChanged => types::EventKind::NodeChildrenChanged,
    }
}
