//! Sessions and watches: the cluster's sessions (every node's tree holds them all), a page at a
//! time, with what this node knows beyond that (which are attached here, and their watches).

use polis_tree::{DataTree, SessionId};
use serde_json::{Value, json};

use crate::node::HubState;

/// The most sessions on one page.
pub const SESSIONS_PAGE_MAX: usize = 100;
/// The most watch paths listed per session.
pub const WATCHES_LISTED_MAX: usize = 20;

/// One session as the tree knows it (every node knows every session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub timeout_ms: i32,
    pub ephemerals: usize,
}

/// The page of sessions after `after`, from the tree: bounded work under its read lock.
pub fn session_rows(tree: &DataTree, after: Option<SessionId>) -> Vec<SessionRow> {
    tree.sessions()
        .iter_after(after)
        .take(SESSIONS_PAGE_MAX + 1)
        .map(|(id, session)| SessionRow {
            id,
            timeout_ms: session.timeout_ms,
            ephemerals: session.ephemerals.len(),
        })
        .collect()
}

/// The page, with what this node's hub knows of each session on it (bounded work under the
/// hub's lock: a page of sessions, a few watches each).
pub fn sessions_page(
    mut rows: Vec<SessionRow>,
    total: usize,
    hub: &HubState,
    watches_total: usize,
) -> Value {
    let more = rows.len() > SESSIONS_PAGE_MAX;
    rows.truncate(SESSIONS_PAGE_MAX);
    let next_after = more.then(|| rows.last().map(|row| row.id)).flatten();
    let sessions: Vec<Value> = rows
        .iter()
        .map(|row| {
            let attachment = hub.attachments.get(&row.id);
            let watches: Vec<Value> = hub
                .watches
                .session_watches(row.id)
                .take(WATCHES_LISTED_MAX)
                .map(|(kind, path)| json!({ "kind": format!("{kind:?}"), "path": path }))
                .collect();
            json!({
                "id": format!("0x{:x}", row.id),
                "timeout_ms": row.timeout_ms,
                "ephemerals": row.ephemerals,
                "attached_here": attachment.is_some(),
                "identities": attachment
                    .map(|attached| attached.identities.iter().map(|id| format!("{}:{}", id.scheme, id.id)).collect::<Vec<_>>())
                    .unwrap_or_default(),
                "watch_count": hub.watches.session_watch_count(row.id),
                "watches": watches,
            })
        })
        .collect();
    json!({
        "sessions_total": total,
        "attached_here": hub.attachments.len(),
        "watches_here": watches_total,
        "sessions": sessions,
        "next_after": next_after,
    })
}
