//! Reassembling a plugin's component from the tree.

use polis_plugin_layout::{
    COMPONENT_LEN_MAX, ComponentRecord, component_chunk_path, component_path,
};
use polis_tree::DataTree;

/// Why a worker cannot go on with the current revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum LoadFailure {
    #[error("the component {sha256} is not stored")]
    ComponentMissing { sha256: String },
    #[error("the component {sha256} is incomplete or corrupt: {reason}")]
    ComponentCorrupt { sha256: String, reason: String },
    #[error("{0}")]
    Plugin(String),
}

/// Reassembles a stored component and checks its length against its record.
pub(super) fn read_component(tree: &DataTree, sha256: &str) -> Result<Vec<u8>, LoadFailure> {
    let corrupt = |reason: String| LoadFailure::ComponentCorrupt {
        sha256: sha256.to_string(),
        reason,
    };
    let (record, _) =
        tree.node(&component_path(sha256))
            .ok_or_else(|| LoadFailure::ComponentMissing {
                sha256: sha256.to_string(),
            })?;
    let meta: ComponentRecord = serde_json::from_slice(record.data_or_empty())
        .map_err(|error| corrupt(format!("its record does not parse: {error}")))?;
    if meta.len > COMPONENT_LEN_MAX {
        return Err(corrupt(format!("{} bytes is over the limit", meta.len)));
    }
    let mut bytes = Vec::with_capacity(meta.len);
    for index in 0..meta.chunks {
        let (chunk, _) = tree
            .node(&component_chunk_path(sha256, index))
            .ok_or_else(|| corrupt(format!("chunk {index} of {} is missing", meta.chunks)))?;
        bytes.extend_from_slice(chunk.data_or_empty());
    }
    if bytes.len() != meta.len {
        return Err(corrupt(format!(
            "{} bytes stored, {} expected",
            bytes.len(),
            meta.len
        )));
    }
    Ok(bytes)
}
