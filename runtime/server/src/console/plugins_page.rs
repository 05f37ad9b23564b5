//! The plugins view, read-only: each deployed plugin's state, revision, lag, failures, dead
//! letters and newest log lines, from its nodes under `/polis/plugins` (which only
//! administrators may read, so a viewer sees an empty list).

use polis_plugin_layout::{DEPLOYED_PATH, Deployment, PluginPaths, PluginStatus, StoredLogLine};
use polis_tree::{DataTree, Id, Zxid};
use serde_json::{Value, json};

use super::data_view::truncate_str;

/// The most plugins listed.
pub const PLUGINS_MAX: usize = 64;
/// The most bytes of one plugin record copied out from under the tree's lock; a record past it
/// is shown as unreadable rather than parsed.
pub const PLUGIN_RECORD_BYTES_MAX: usize = 256 * 1024;
/// The newest log lines shown per plugin, and the most bytes of each.
pub const LOG_LINES_MAX: usize = 20;
pub const LOG_LINE_BYTES_MAX: usize = 512;

/// One plugin's nodes as copied out of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginRecords {
    pub name: String,
    pub deployment: Option<Vec<u8>>,
    pub status: Option<Vec<u8>>,
    pub logs: Option<Vec<u8>>,
    pub dead_letter_entries: usize,
}

/// Copies the plugins' records (bounded in count and bytes) under the tree's read lock; the
/// parsing happens in [`plugins_page`], after the lock is released.
pub fn plugin_records(tree: &DataTree, identities: &[Id]) -> Vec<PluginRecords> {
    if tree.get_data(DEPLOYED_PATH, identities).is_err() {
        return Vec::new();
    }
    let Some((_, names)) = tree.node(DEPLOYED_PATH) else {
        return Vec::new();
    };
    let copy = |path: &str| {
        tree.get_data(path, identities)
            .ok()
            .and_then(|(data, _)| data)
            .filter(|data| data.len() <= PLUGIN_RECORD_BYTES_MAX)
            .map(<[u8]>::to_vec)
    };
    names
        .iter()
        .take(PLUGINS_MAX)
        .map(|name| {
            let paths = PluginPaths::new(name);
            PluginRecords {
                name: name.to_string(),
                deployment: copy(&paths.deployment),
                status: copy(&paths.status),
                logs: copy(&paths.logs),
                dead_letter_entries: tree
                    .node(&paths.dead_letter)
                    .map_or(0, |(_, entries)| entries.len()),
            }
        })
        .collect()
}

/// The plugins view from the copied records; `last_zxid` is this node's, from which a
/// plugin's lag (in zxids behind the tree) follows.
pub fn plugins_page(records: &[PluginRecords], last_zxid: Zxid) -> Value {
    let plugins: Vec<Value> = records
        .iter()
        .map(|record| {
            let deployment = record
                .deployment
                .as_deref()
                .and_then(|data| serde_json::from_slice::<Deployment>(data).ok());
            let status = record
                .status
                .as_deref()
                .and_then(|data| serde_json::from_slice::<PluginStatus>(data).ok());
            let logs = record
                .logs
                .as_deref()
                .and_then(|data| serde_json::from_slice::<Vec<StoredLogLine>>(data).ok())
                .unwrap_or_default();
            let newest: Vec<Value> = logs
                .iter()
                .rev()
                .take(LOG_LINES_MAX)
                .map(|line| {
                    let (message, cut) = truncate_str(&line.message, LOG_LINE_BYTES_MAX);
                    json!({
                        "zxid": format!("0x{:x}", line.zxid),
                        "level": line.level,
                        "message": if cut { format!("{message}…") } else { message.to_string() },
                    })
                })
                .collect();
            json!({
                "name": record.name,
                "revision": deployment.as_ref().map(|d| d.current.revision),
                "version": deployment.as_ref().map(|d| d.current.manifest.version.clone()),
                "history": deployment.as_ref().map_or(0, |d| d.history.len()),
                "state": status.as_ref().map(|s| format!("{:?}", s.state).to_lowercase()),
                "status_revision": status.as_ref().map(|s| s.revision),
                "cursor_zxid": status.as_ref().map(|s| format!("0x{:x}", s.cursor_zxid)),
                "lag_zxids": status.as_ref().map(|s| last_zxid.saturating_sub(s.cursor_zxid)),
                "processed_events": status.as_ref().map(|s| s.processed_events),
                "failures": status.as_ref().map(|s| s.failures),
                "dead_letters": status.as_ref().map(|s| s.dead_letters),
                "dead_letter_entries": record.dead_letter_entries,
                "last_error": status.as_ref().and_then(|s| s.last_error.as_deref().map(|e| truncate_str(e, LOG_LINE_BYTES_MAX).0.to_string())),
                "logs": newest,
            })
        })
        .collect();
    json!({ "plugins": plugins, "listed_max": PLUGINS_MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_logs_are_shaped_newest_first_and_cut() {
        let status = PluginStatus {
            revision: 3,
            cursor_zxid: 90,
            failures: 2,
            dead_letters: 1,
            last_error: Some("x".repeat(4000)),
            ..PluginStatus::default()
        };
        let logs = vec![
            StoredLogLine {
                zxid: 1,
                level: "info".into(),
                message: "old".into(),
            },
            StoredLogLine {
                zxid: 2,
                level: "warn".into(),
                message: "y".repeat(4000),
            },
        ];
        let records = PluginRecords {
            name: "alert-fanout".into(),
            deployment: Some(b"not a deployment".to_vec()),
            status: Some(serde_json::to_vec(&status).unwrap()),
            logs: Some(serde_json::to_vec(&logs).unwrap()),
            dead_letter_entries: 1,
        };
        let page = plugins_page(&[records], 100);
        let plugin = &page["plugins"][0];
        assert_eq!(plugin["state"], "deployed");
        assert_eq!(plugin["lag_zxids"], 10);
        assert_eq!(plugin["revision"], Value::Null);
        assert_eq!(plugin["logs"][0]["level"], "warn");
        assert!(plugin["logs"][0]["message"].as_str().unwrap().len() <= LOG_LINE_BYTES_MAX + 3);
        assert_eq!(plugin["logs"][1]["message"], "old");
        assert!(plugin["last_error"].as_str().unwrap().len() <= LOG_LINE_BYTES_MAX);
    }
}
