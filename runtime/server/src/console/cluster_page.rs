//! The cluster view: members, roles, term, each member's lag and health as this node knows them.

use polis_raft::ClusterView;
use serde_json::{Value, json};

/// A member more entries behind the leader than this is shown as lagging.
pub const LAG_HEALTHY_ENTRIES_MAX: u64 = 1_000;

/// The cluster as this node sees it. Lag is known only on the leader (its replication state);
/// elsewhere members' health is "unknown" except this node's own, which `status` gives.
pub fn cluster_page(view: &ClusterView, status: &Value) -> Value {
    let members: Vec<Value> = view
        .members
        .iter()
        .map(|member| {
            let lag = member
                .matched_index
                .map(|matched| view.last_log_index.saturating_sub(matched));
            let role = if Some(member.id) == view.leader {
                "leader"
            } else if member.voter {
                "follower"
            } else {
                "learner"
            };
            json!({
                "id": member.id,
                "peer_address": member.node.peer_address,
                "client_address": member.node.client_address,
                "voter": member.voter,
                "role": role,
                "matched_index": member.matched_index,
                "lag_entries": lag,
                "health": member_health(member.id == view.node_id, status, view.has_replication, lag),
            })
        })
        .collect();
    json!({
        "node_id": view.node_id,
        "role": format!("{:?}", view.role).to_lowercase(),
        "leader": view.leader,
        "term": view.term,
        "last_log_index": view.last_log_index,
        "applied_index": view.applied_index,
        "joint": view.joint,
        "leaders_view": view.has_replication,
        "members": members,
        "status": status,
    })
}

/// One member's health: this node's from its own status; another's from the leader's
/// replication state (reached and near the log's end, or lagging); unknown elsewhere.
pub fn member_health(
    is_self: bool,
    status: &Value,
    leaders_view: bool,
    lag: Option<u64>,
) -> &'static str {
    if is_self {
        return if status["status"] == "ok" {
            "ok"
        } else {
            "stopped"
        };
    }
    match (leaders_view, lag) {
        (false, _) => "unknown",
        (true, None) => "unreachable",
        (true, Some(lag)) if lag > LAG_HEALTHY_ENTRIES_MAX => "lagging",
        (true, Some(_)) => "ok",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_comes_from_the_node_itself_or_the_leaders_replication() {
        let ok = json!({ "status": "ok" });
        assert_eq!(member_health(true, &ok, false, None), "ok");
        assert_eq!(
            member_health(true, &json!({ "status": "stopped" }), true, None),
            "stopped"
        );
        assert_eq!(member_health(false, &ok, false, Some(0)), "unknown");
        assert_eq!(member_health(false, &ok, true, None), "unreachable");
        assert_eq!(member_health(false, &ok, true, Some(5)), "ok");
        assert_eq!(
            member_health(false, &ok, true, Some(LAG_HEALTHY_ENTRIES_MAX + 1)),
            "lagging"
        );
    }
}
