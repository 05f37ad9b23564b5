//! Which events a plugin handles next: a pure function of the change history, the plugin's
//! cursor and its triggers, so that every leader computes the same batches.

use polis_plugin_host::Triggers;
use polis_plugin_layout::{Cursor, PLUGINS_PATH};
use polis_tree::{HistoryEntry, WatchEvent, Zxid, path};

/// The next events to hand a plugin, and where its cursor moves once they are handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingBatch {
    /// In zxid order; at most `events_max`.
    pub events: Vec<WatchEvent>,
    pub cursor_after: Cursor,
    /// The commit time of the batch's last transaction: the plugin's clock.
    pub commit_time_ms: i64,
}

/// What one look at the history found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub batch: Option<PendingBatch>,
    /// With no batch: every history entry up to here was looked at and none matched, so the
    /// cursor may move here without running the plugin.
    pub scanned_through: Cursor,
    /// How many history entries were looked at.
    pub examined: usize,
}

/// True if `event` may run a plugin with these triggers. Changes under [`PLUGINS_PATH`] never do:
/// every commit of a plugin writes its own cursor and status there, and a plugin triggered by
/// them would run forever.
pub fn triggers_on(triggers: &Triggers, event: &WatchEvent) -> bool {
    !path::is_self_or_descendant(&event.path, PLUGINS_PATH) && triggers.matches(event)
}

/// Looks at `entries` (the history from the cursor's zxid on, oldest first) and returns the
/// first `events_max` events after `cursor` that match `triggers`. A batch ends at a transaction
/// boundary unless one transaction alone has more than `events_max` matching events; then the
/// cursor records how many of that transaction's events are handled.
pub fn next_batch<'a>(
    entries: impl IntoIterator<Item = &'a HistoryEntry>,
    cursor: Cursor,
    triggers: &Triggers,
    events_max: usize,
) -> Scan {
    let events_max = events_max.max(1);
    let mut events: Vec<WatchEvent> = Vec::new();
    let mut commit_time_ms: i64 = 0;
    let mut examined = 0;
    let mut last_zxid: Zxid = cursor.zxid;
    // Matching events of `current_zxid` seen so far (handled earlier or collected now).
    let mut current_zxid: Zxid = cursor.zxid;
    let mut matched_in_current: u32 = 0;
    for entry in entries {
        let event = &entry.event;
        if event.zxid < cursor.zxid
            || (event.zxid == cursor.zxid && cursor.handled_in_zxid.is_none())
        {
            continue;
        }
        if event.zxid != current_zxid {
            if events.len() >= events_max {
                // The batch is full and ends with a whole transaction.
                let cursor_after = Cursor::after(last_zxid_of(&events));
                return Scan {
                    batch: Some(PendingBatch {
                        events,
                        cursor_after,
                        commit_time_ms,
                    }),
                    scanned_through: cursor_after,
                    examined,
                };
            }
            current_zxid = event.zxid;
            matched_in_current = 0;
        }
        examined += 1;
        last_zxid = event.zxid;
        if !triggers_on(triggers, event) {
            continue;
        }
        matched_in_current += 1;
        if event.zxid == cursor.zxid
            && matched_in_current <= cursor.handled_in_zxid.unwrap_or(u32::MAX)
        {
            continue;
        }
        if events.len() >= events_max {
            // The batch is full in the middle of a transaction with more matching events.
            let cursor_after = Cursor {
                zxid: event.zxid,
                handled_in_zxid: Some(matched_in_current - 1),
            };
            return Scan {
                batch: Some(PendingBatch {
                    events,
                    cursor_after,
                    commit_time_ms,
                }),
                scanned_through: cursor_after,
                examined,
            };
        }
        events.push(event.clone());
        commit_time_ms = entry.time_ms;
    }
    if events.is_empty() {
        let scanned_through = if last_zxid > cursor.zxid {
            Cursor::after(last_zxid)
        } else {
            cursor
        };
        return Scan {
            batch: None,
            scanned_through,
            examined,
        };
    }
    let cursor_after = Cursor::after(last_zxid_of(&events));
    Scan {
        batch: Some(PendingBatch {
            events,
            cursor_after,
            commit_time_ms,
        }),
        scanned_through: cursor_after,
        examined,
    }
}

fn last_zxid_of(events: &[WatchEvent]) -> Zxid {
    events.last().map_or(0, |event| event.zxid)
}

#[cfg(test)]
mod tests {
    use polis_plugin_host::TriggerKind;
    use polis_tree::EventKind;

    use super::*;

    fn triggers(prefix: &str) -> Triggers {
        Triggers {
            prefixes: vec![prefix.to_string()],
            kinds: TriggerKind::all(),
            recursive: true,
        }
    }

    fn history(events: &[(Zxid, &str)]) -> Vec<HistoryEntry> {
        events
            .iter()
            .enumerate()
            .map(|(seq, (zxid, path))| HistoryEntry {
                seq: seq as u64,
                event: WatchEvent {
                    zxid: *zxid,
                    kind: EventKind::NodeCreated,
                    path: path.to_string(),
                },
                time_ms: 1_000 * zxid,
            })
            .collect()
    }

    fn zxids(scan: &Scan) -> Vec<Zxid> {
        scan.batch
            .as_ref()
            .map(|batch| batch.events.iter().map(|event| event.zxid).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_batch_holds_the_matching_events_after_the_cursor() {
        let entries = history(&[(1, "/a/1"), (2, "/b/1"), (3, "/a/2"), (4, "/a")]);
        let scan = next_batch(&entries, Cursor::after(1), &triggers("/a"), 10);
        assert_eq!(zxids(&scan), vec![3, 4]);
        let batch = scan.batch.unwrap();
        assert_eq!(batch.cursor_after, Cursor::after(4));
        assert_eq!(batch.commit_time_ms, 4_000);
    }

    #[test]
    fn a_full_batch_ends_at_a_transaction_boundary() {
        let entries = history(&[(1, "/a/1"), (2, "/a/2"), (2, "/a/3"), (3, "/a/4")]);
        let scan = next_batch(&entries, Cursor::after(0), &triggers("/a"), 3);
        assert_eq!(zxids(&scan), vec![1, 2, 2]);
        assert_eq!(scan.batch.unwrap().cursor_after, Cursor::after(2));
    }

    #[test]
    fn a_transaction_larger_than_a_batch_is_split_and_resumed_where_it_stopped() {
        let entries = history(&[
            (5, "/a/1"),
            (5, "/b"),
            (5, "/a/2"),
            (5, "/a/3"),
            (6, "/a/4"),
        ]);
        let first = next_batch(&entries, Cursor::after(4), &triggers("/a"), 2);
        assert_eq!(zxids(&first), vec![5, 5]);
        let cursor = first.batch.unwrap().cursor_after;
        assert_eq!(
            cursor,
            Cursor {
                zxid: 5,
                handled_in_zxid: Some(2)
            }
        );
        let second = next_batch(&entries, cursor, &triggers("/a"), 2);
        let batch = second.batch.unwrap();
        assert_eq!(
            batch
                .events
                .iter()
                .map(|e| e.path.as_str())
                .collect::<Vec<_>>(),
            vec!["/a/3", "/a/4"]
        );
        assert_eq!(batch.cursor_after, Cursor::after(6));
    }

    #[test]
    fn no_match_moves_the_scanned_position_to_the_end() {
        let entries = history(&[(1, "/b/1"), (2, "/c")]);
        let scan = next_batch(&entries, Cursor::after(0), &triggers("/a"), 10);
        assert_eq!(scan.batch, None);
        assert_eq!(scan.scanned_through, Cursor::after(2));
        assert_eq!(scan.examined, 2);
    }

    #[test]
    fn the_plugins_own_state_never_triggers_a_plugin() {
        let entries = history(&[(1, "/polis/plugins/deployed/p/cursor"), (2, "/x")]);
        let scan = next_batch(&entries, Cursor::after(0), &triggers("/"), 10);
        assert_eq!(zxids(&scan), vec![2]);
    }
}
