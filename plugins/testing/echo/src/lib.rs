//! The echo test guest: for each created or changed node under its trigger prefix, writes the
//! node's data to the same name under the target prefix (the config blob, `/out` by default), and
//! deletes the copy when the node is deleted. It also shows the SDK's reads, writes and logs.
//!
//! An event whose data is `fail` makes `handle` return an error (to test guest errors); a config
//! that is not an absolute path is rejected by `init`.

use polis_plugin_sdk::{Context, EventKind, Plugin, WatchEvent};

pub struct Echo;

/// The target prefix: the config blob, or `/out`.
fn target(config: &[u8]) -> Result<&str, String> {
    if config.is_empty() {
        return Ok("/out");
    }
    let target = std::str::from_utf8(config).map_err(|_| "config is not UTF-8".to_string())?;
    if !target.starts_with('/') || target.ends_with('/') {
        return Err(format!("config {target:?} is not an absolute path"));
    }
    Ok(target)
}

impl Plugin for Echo {
    fn init(config: &[u8]) -> Result<(), String> {
        target(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let target = target(ctx.config())?.to_string();
        let at = ctx.commit_time_ms();
        for event in events {
            let name = event.path.rsplit('/').next().unwrap_or_default();
            let copy = format!("{target}/{name}");
            match (event.kind, &event.data) {
                (EventKind::NodeCreated | EventKind::NodeDataChanged, Some(data)) => {
                    if data.as_slice() == b"fail" {
                        return Err(format!("{} asked to fail", event.path));
                    }
                    ctx.upsert(&copy, data).map_err(|e| e.to_string())?;
                    ctx.info(format!("{} -> {copy} at {at}", event.path));
                }
                (EventKind::NodeDeleted, _) => {
                    if let Some(stat) = ctx.exists(&copy).map_err(|e| e.to_string())? {
                        ctx.delete(&copy, stat.version).map_err(|e| e.to_string())?;
                        ctx.info(format!("{} deleted, deleting {copy}", event.path));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

polis_plugin_sdk::export_plugin!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use polis_plugin_sdk::testing::MemoryTree;

    #[test]
    fn copies_creates_and_changes_and_deletes() {
        let mut tree = MemoryTree::new();
        tree.create("/out", b"");
        let events = tree.create("/in/a", b"one");
        tree.run::<Echo>(b"", &events).unwrap();
        assert_eq!(tree.get("/out/a").as_deref(), Some(&b"one"[..]));
        let events = tree.set("/in/a", b"two");
        tree.run::<Echo>(b"", &events).unwrap();
        assert_eq!(tree.get("/out/a").as_deref(), Some(&b"two"[..]));
        let events = tree.delete("/in/a");
        tree.run::<Echo>(b"", &events).unwrap();
        assert_eq!(tree.get("/out/a"), None);
    }
}
