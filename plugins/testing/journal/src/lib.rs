//! The journal test guest: for every event, appends one persistent-sequential entry under the
//! target prefix (the config blob, `/journal` by default) whose data names the event
//! (`<zxid> <kind> <path>`). Appending is not idempotent: if the host ever committed a batch's
//! effects twice, the journal would hold two entries for one event, which is what the
//! exactly-once tests look for.

use polis_plugin_sdk::{AclPreset, Context, CreateMode, EventKind, Plugin, WatchEvent};

pub struct Journal;

fn target(config: &[u8]) -> Result<&str, String> {
    if config.is_empty() {
        return Ok("/journal");
    }
    let target = std::str::from_utf8(config).map_err(|_| "config is not UTF-8".to_string())?;
    if !target.starts_with('/') || target.ends_with('/') {
        return Err(format!("config {target:?} is not an absolute path"));
    }
    Ok(target)
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::NodeCreated => "created",
        EventKind::NodeDeleted => "deleted",
        EventKind::NodeDataChanged => "data-changed",
        EventKind::NodeChildrenChanged => "children-changed",
    }
}

impl Plugin for Journal {
    fn init(config: &[u8]) -> Result<(), String> {
        target(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let entry = format!("{}/entry-", target(ctx.config())?);
        for event in events {
            let line = format!("{} {} {}", event.zxid, kind_name(event.kind), event.path);
            ctx.create_with(
                &entry,
                line.as_bytes(),
                CreateMode::PersistentSequential,
                AclPreset::CreatorAllWorldRead,
            )
            .map_err(|error| error.to_string())?;
        }
        Ok(())
    }
}

polis_plugin_sdk::export_plugin!(Journal);

#[cfg(test)]
mod tests {
    use polis_plugin_sdk::testing::MemoryTree;

    use super::*;

    #[test]
    fn every_event_appends_one_entry() {
        let mut tree = MemoryTree::new();
        tree.create("/journal", b"");
        let mut events = tree.create("/in", b"");
        events.extend(tree.create("/in/a", b"x"));
        tree.run::<Journal>(b"", &events).expect("handled");
        let entries = tree.children("/journal");
        assert_eq!(entries.len(), events.len());
        let first = tree
            .get(&format!("/journal/{}", entries[0]))
            .expect("entry");
        assert!(String::from_utf8(first).unwrap().ends_with(" created /in"));
    }
}
