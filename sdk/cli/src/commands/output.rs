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

    /// A node's data; `None` is ZooKeeper's null data, printed as an empty line (as empty data
    /// is) and told apart in JSON by `"null_data": true`.
    pub fn data(&self, path: &str, data: Option<&[u8]>, stat: &Stat) {
        let bytes = data.unwrap_or_default();
        if self.json {
            let text = std::str::from_utf8(bytes).ok().filter(|_| data.is_some());
            let hex = (data.is_some() && text.is_none()).then(|| hex(bytes));
            println!(
                "{}",
                json!({
                    "path": path,
                    "data": text,
                    "data_hex": hex,
                    "null_data": data.is_none(),
                    "stat": stat_json(stat),
                })
            );
            return;
        }
        println!("{}", String::from_utf8_lossy(bytes));
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
        println!("{:#x} {:?} {}", event.zxid, event.kind, event.path);
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

/// zkCli's stat: zxids in hex, as every text output of the CLI prints them (JSON carries
/// numbers), and times as UTC dates with their Unix milliseconds.
fn print_stat(stat: &Stat) {
    println!("czxid = {:#x}", stat.czxid);
    println!("ctime = {}", time_text(stat.ctime));
    println!("mzxid = {:#x}", stat.mzxid);
    println!("mtime = {}", time_text(stat.mtime));
    println!("pzxid = {:#x}", stat.pzxid);
    println!("cversion = {}", stat.cversion);
    println!("dataVersion = {}", stat.version);
    println!("aclVersion = {}", stat.aversion);
    println!("ephemeralOwner = {:#x}", stat.ephemeral_owner);
    println!("dataLength = {}", stat.data_length);
    println!("numChildren = {}", stat.num_children);
}

/// Unix milliseconds as `2026-12-07T14:00:00.123Z (1796652000123)`.
fn time_text(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z ({unix_ms})",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    )
}

const MS_PER_DAY: i64 = 86_400_000;

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day count that fits a year in `i64`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    debug_assert!((1..=12).contains(&month) && (1..=31).contains(&day));
    // Both are within the ranges just asserted.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (year, month as u32, day as u32)
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00.000Z (0)");
        assert_eq!(
            time_text(951_782_400_123),
            "2000-02-29T00:00:00.123Z (951782400123)"
        );
        assert_eq!(
            time_text(1_796_652_000_123),
            "2026-12-07T14:00:00.123Z (1796652000123)"
        );
        assert_eq!(time_text(-1), "1969-12-31T23:59:59.999Z (-1)");
    }
}
