//! What client commands print: text for people, JSON with `--json`.

use polis_client::{Acl, OpResult, Stat, WatchEvent};
use serde_json::json;

use super::acl_text::perms_text;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    pub fn children(&self, path: &str, children: &[String], stat: Option<&Stat>) {
        if self.json {
            let mut value = json!({ "path": path, "children": children });
            if let Some(stat) = stat {
                value["stat"] = stat_json(stat);
            }
            println!("{value}");
            return;
        }
        for child in children {
            println!("{child}");
        }
        if let Some(stat) = stat {
            print_stat(stat);
        }
    }

    pub fn data(&self, path: &str, data: &[u8], stat: &Stat) {
        if self.json {
            let text = std::str::from_utf8(data).ok();
            println!(
                "{}",
                json!({
                    "path": path,
                    "data": text,
                    "data_hex": if text.is_none() { Some(hex(data)) } else { None },
                    "stat": stat_json(stat),
                })
            );
            return;
        }
        println!("{}", String::from_utf8_lossy(data));
    }

    pub fn stat(&self, path: &str, stat: &Stat) {
        if self.json {
            println!("{}", json!({ "path": path, "stat": stat_json(stat) }));
            return;
        }
        print_stat(stat);
    }

    pub fn created(&self, path: &str, stat: &Stat) {
        if self.json {
            println!("{}", json!({ "created": path, "stat": stat_json(stat) }));
            return;
        }
        println!("Created {path}");
    }

    /// Full paths, one per line (`ls -R`).
    pub fn paths(&self, paths: &[String]) {
        if self.json {
            println!("{}", json!({ "paths": paths }));
            return;
        }
        for path in paths {
            println!("{path}");
        }
    }

    pub fn deleted(&self, paths: &[String]) {
        if self.json {
            println!("{}", json!({ "deleted": paths }));
            return;
        }
        for path in paths {
            println!("Deleted {path}");
        }
    }

    /// Says on stderr that the watch is registered, in both modes, so that a script knows when
    /// changes start to count.
    pub fn watching(&self, path: &str, recursive: bool) {
        let scope = if recursive { " and below" } else { "" };
        eprintln!("watching {path}{scope}; Ctrl-C to stop");
    }

    pub fn event(&self, event: &WatchEvent) {
        if self.json {
            println!(
                "{}",
                json!({ "zxid": event.zxid, "type": format!("{:?}", event.kind), "path": event.path })
            );
            return;
        }
        println!("{:>10} {:?} {}", event.zxid, event.kind, event.path);
    }

    pub fn acl(&self, path: &str, acl: &[Acl]) {
        if self.json {
            let entries: Vec<_> = acl
                .iter()
                .map(|entry| {
                    json!({ "scheme": entry.id.scheme, "id": entry.id.id, "perms": perms_text(entry.perms) })
                })
                .collect();
            println!("{}", json!({ "path": path, "acl": entries }));
            return;
        }
        for entry in acl {
            println!(
                "{}:{}:{}",
                entry.id.scheme,
                entry.id.id,
                perms_text(entry.perms)
            );
        }
    }

    /// One result per operation, in order: text lines as the single commands print them, or
    /// `{"results": [{"op": "create", "path": …, "stat": …}, …]}`.
    pub fn multi(&self, results: &[OpResult]) {
        if self.json {
            let entries: Vec<_> = results
                .iter()
                .map(|result| match result {
                    OpResult::Create { path, stat } => {
                        json!({ "op": "create", "path": path, "stat": stat_json(stat) })
                    }
                    OpResult::Delete => json!({ "op": "delete" }),
                    OpResult::SetData { stat } => json!({ "op": "set", "stat": stat_json(stat) }),
                    OpResult::Check => json!({ "op": "check" }),
                    OpResult::SetAcl { stat } => {
                        json!({ "op": "set_acl", "stat": stat_json(stat) })
                    }
                })
                .collect();
            println!("{}", json!({ "results": entries }));
            return;
        }
        for result in results {
            match result {
                OpResult::Create { path, stat } => {
                    println!("Created {path} (czxid {})", stat.czxid)
                }
                OpResult::Delete => println!("Deleted"),
                OpResult::SetData { stat } => {
                    println!("Set (version {}, mzxid {})", stat.version, stat.mzxid)
                }
                OpResult::Check => println!("Checked"),
                OpResult::SetAcl { stat } => println!("ACL set (aversion {})", stat.aversion),
            }
        }
    }
}

fn stat_json(stat: &Stat) -> serde_json::Value {
    serde_json::to_value(stat).unwrap_or_default()
}

fn print_stat(stat: &Stat) {
    println!("czxid = {:#x}", stat.czxid);
    println!("ctime = {}", stat.ctime);
    println!("mzxid = {:#x}", stat.mzxid);
    println!("mtime = {}", stat.mtime);
    println!("pzxid = {:#x}", stat.pzxid);
    println!("cversion = {}", stat.cversion);
    println!("dataVersion = {}", stat.version);
    println!("aclVersion = {}", stat.aversion);
    println!("ephemeralOwner = {:#x}", stat.ephemeral_owner);
    println!("dataLength = {}", stat.data_length);
    println!("numChildren = {}", stat.num_children);
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|byte| format!("{byte:02x}")).collect()
}
