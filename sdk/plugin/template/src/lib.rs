//! A Polis plugin, from the SDK's template: it counts the events below its trigger prefix in the
//! node named by its config blob (`/stats/events` by default).
//!
//! Its manifest (see `manifest.toml`) subscribes it to a prefix and grants it what it touches.

use polis_plugin_sdk::{Context, Plugin, WatchEvent};

pub struct Counter;

/// Where the count lives: the config blob, or `/stats/events`.
fn counter_path(config: &[u8]) -> Result<&str, String> {
    match config {
        [] => Ok("/stats/events"),
        path => std::str::from_utf8(path)
            .ok()
            .filter(|path| path.starts_with('/'))
            .ok_or_else(|| "the config must be an absolute path".to_string()),
    }
}

impl Plugin for Counter {
    fn init(config: &[u8]) -> Result<(), String> {
        counter_path(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let path = counter_path(ctx.config())?.to_string();
        let count = match ctx.get(&path).map_err(|e| e.to_string())? {
            Some(node) => String::from_utf8_lossy(&node.data)
                .parse::<u64>()
                .unwrap_or(0),
            None => 0,
        };
        let count = count + events.len() as u64;
        ctx.upsert(&path, count.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        ctx.debug(format!("{path} = {count}"));
        Ok(())
    }
}

polis_plugin_sdk::export_plugin!(Counter);

#[cfg(test)]
mod tests {
    use super::*;
    use polis_plugin_sdk::testing::MemoryTree;

    #[test]
    fn counts_events() {
        let mut tree = MemoryTree::new();
        tree.create("/stats", b"");
        tree.grant_read("/stats").grant_write("/stats");
        let events = tree.create("/sensors/a", b"21.5");
        tree.run::<Counter>(b"", &events).unwrap();
        tree.run::<Counter>(b"", &events).unwrap();
        let expected = (2 * events.len()).to_string();
        assert_eq!(tree.get("/stats/events"), Some(expected.into_bytes()));
    }

    #[test]
    fn rejects_a_relative_config() {
        assert!(Counter::init(b"stats").is_err());
    }
}
