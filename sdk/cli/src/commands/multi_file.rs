//! The JSON file format of `polis multi`.

use std::path::Path;

use anyhow::Context as _;
use polis_client::{Acl, CreateMode, Op};
use serde::Deserialize;

/// One operation of the file.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum FileOp {
    Create {
        path: String,
        #[serde(default)]
        data: String,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        ttl_ms: Option<i64>,
    },
    Set {
        path: String,
        data: String,
        #[serde(default = "any_version")]
        version: i32,
    },
    Delete {
        path: String,
        #[serde(default = "any_version")]
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
}

fn any_version() -> i32 {
    -1
}

/// Reads the operations of a multi file.
pub fn load(file: &Path) -> anyhow::Result<Vec<Op>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse(&text).with_context(|| format!("parsing {}", file.display()))
}

fn parse(text: &str) -> anyhow::Result<Vec<Op>> {
    let ops: Vec<FileOp> = serde_json::from_str(text)?;
    let open = Acl::open();
    Ok(ops
        .into_iter()
        .map(|op| match op {
            FileOp::Create {
                path,
                data,
                mode,
                ttl_ms,
            } => {
                let mode = match (mode, ttl_ms) {
                    (Mode::PersistentSequential, Some(ttl_ms)) => {
                        CreateMode::PersistentSequentialWithTtl { ttl_ms }
                    }
                    (_, Some(ttl_ms)) => CreateMode::PersistentWithTtl { ttl_ms },
                    (Mode::Persistent, None) => CreateMode::Persistent,
                    (Mode::Ephemeral, None) => CreateMode::Ephemeral,
                    (Mode::PersistentSequential, None) => CreateMode::PersistentSequential,
                    (Mode::EphemeralSequential, None) => CreateMode::EphemeralSequential,
                    (Mode::Container, None) => CreateMode::Container,
                };
                Op::create(path, data.as_bytes(), &open, mode)
            }
            FileOp::Set {
                path,
                data,
                version,
            } => Op::set_data(path, data.as_bytes(), version),
            FileOp::Delete { path, version } => Op::delete(path, version),
            FileOp::Check { path, version } => Op::check(path, version),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_operation_parses() {
        let ops = parse(
            r#"[{"op":"create","path":"/a","data":"x","mode":"ephemeral"},
                {"op":"create","path":"/t","ttl_ms":500},
                {"op":"set","path":"/b","data":"y","version":3},
                {"op":"check","path":"/c","version":1},
                {"op":"delete","path":"/d"}]"#,
        )
        .unwrap();
        assert_eq!(ops.len(), 5);
        assert_eq!(ops[0].path(), "/a");
        assert!(parse(r#"[{"op":"rename","path":"/a"}]"#).is_err());
        assert!(
            parse(r#"[{"op":"check","path":"/a"}]"#).is_err(),
            "check needs a version"
        );
    }
}
