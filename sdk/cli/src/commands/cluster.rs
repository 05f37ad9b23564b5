//! `polis cluster status|add-learner|promote|remove`: the cluster's membership, for
//! administrators (the profile's certificate must be one of the servers' `admins`).
//!
//! Growing the cluster takes two steps, as in Raft: start the new node with
//! `join_cluster = true` (it waits), `polis cluster add-learner` it (it receives the log and
//! serves reads, without voting), then, if it should vote, `polis cluster promote` it (a
//! joint-consensus change). `polis cluster remove` takes a voter or a learner out.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;
use polis_client::{ClusterStatus, MemberKind};
use serde_json::json;

use super::{CommonArguments, with_client};

/// How often `add-learner --wait` asks whether the learner has caught up.
const CATCH_UP_POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Print the leader, the term, and every member with its role and replication progress.
    Status {
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Add a running node (started with `join_cluster = true`) as a learner: it receives the
    /// log and serves reads but does not vote.
    AddLearner {
        /// The node's id (its `cluster.node_id`).
        id: u64,
        /// Where peers reach it (`host:port`, its `cluster.peer_listen`).
        #[arg(long = "peer", value_name = "HOST:PORT")]
        peer_address: String,
        /// Where clients reach it (`host:port`, its `listen`).
        #[arg(long = "client", value_name = "HOST:PORT")]
        client_address: String,
        /// Wait up to this many seconds for the learner to hold the whole log (0: do not wait
        /// beyond the server's own short wait).
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Make a learner a voter (joint consensus: the current voters plus this one).
    Promote {
        id: u64,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Take a voter (joint consensus) or a learner out of the cluster. Stop the node afterwards.
    Remove {
        id: u64,
        #[command(flatten)]
        common: CommonArguments,
    },
}

pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status { common } => {
            with_client(&common, async |client, _| {
                let status = client.cluster_status().await?;
                print_status(&status, common.json, None);
                Ok(())
            })
            .await
        }
        ClusterCommand::AddLearner {
            id,
            peer_address,
            client_address,
            wait,
            common,
        } => {
            with_client(&common, async |client, _| {
                let added = client
                    .add_learner(id, &peer_address, &client_address, None)
                    .await?;
                let mut caught_up = added.caught_up;
                let mut status = added.status;
                let deadline = Instant::now() + Duration::from_secs(wait);
                while !caught_up && Instant::now() < deadline {
                    tokio::time::sleep(CATCH_UP_POLL_INTERVAL).await;
                    status = client.cluster_status().await?;
                    caught_up = status
                        .member(id)
                        .and_then(|member| member.matched_index)
                        .is_some_and(|matched| matched >= added.membership_log_index);
                }
                if !common.json {
                    if caught_up {
                        println!("node {id} is a learner and has caught up");
                    } else {
                        println!(
                            "node {id} is a learner; it has not caught up yet (see `polis cluster \
                         status`)"
                        );
                    }
                }
                print_status(
                    &status,
                    common.json,
                    Some(json!({ "caught_up": caught_up })),
                );
                Ok(())
            })
            .await
        }
        ClusterCommand::Promote { id, common } => {
            with_client(&common, async |client, _| {
                let status = client
                    .promote(id)
                    .await
                    .with_context(|| format!("promoting node {id}"))?;
                if !common.json {
                    println!("node {id} is a voter");
                }
                print_status(&status, common.json, None);
                Ok(())
            })
            .await
        }
        ClusterCommand::Remove { id, common } => {
            with_client(&common, async |client, _| {
                let status = client
                    .remove_member(id)
                    .await
                    .with_context(|| format!("removing node {id}"))?;
                if !common.json {
                    println!("node {id} is no longer a member; it can be stopped");
                }
                print_status(&status, common.json, None);
                Ok(())
            })
            .await
        }
    }
}

/// The status as JSON (with `extra` fields merged in), or as a table.
fn print_status(status: &ClusterStatus, json: bool, extra: Option<serde_json::Value>) {
    if json {
        let mut value = status_json(status);
        if let (Some(serde_json::Value::Object(extra)), serde_json::Value::Object(object)) =
            (extra, &mut value)
        {
            object.extend(extra);
        }
        println!("{value}");
        return;
    }
    for line in status_lines(status) {
        println!("{line}");
    }
}

fn kind_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Voter => "voter",
        MemberKind::Learner => "learner",
    }
}

fn status_json(status: &ClusterStatus) -> serde_json::Value {
    let members: Vec<_> = status
        .members
        .iter()
        .map(|member| {
            json!({
                "id": member.id,
                "kind": kind_name(member.kind),
                "peer_address": member.peer_address,
                "client_address": member.client_address,
                "leader": status.leader_id == Some(member.id),
                "matched_index": member.matched_index,
                "lag": member.lag,
            })
        })
        .collect();
    json!({
        "node_id": status.node_id,
        "role": format!("{:?}", status.role).to_lowercase(),
        "leader_id": status.leader_id,
        "term": status.term,
        "last_log_index": status.last_log_index,
        "applied_index": status.applied_index,
        "membership_log_index": status.membership_log_index,
        "joint": status.joint,
        "from_leader": status.from_leader,
        "leader_last_log_index": status.leader_last_log_index,
        "members": members,
    })
}

/// The status for people: a header, then one line per member.
fn status_lines(status: &ClusterStatus) -> Vec<String> {
    let leader = status
        .leader_id
        .map_or_else(|| "none".to_string(), |id| id.to_string());
    let mut lines = vec![
        format!(
            "node {} ({}), leader {leader}, term {}, log {}, applied {}",
            status.node_id,
            format!("{:?}", status.role).to_lowercase(),
            status.term,
            status.last_log_index,
            status.applied_index
        ),
        format!(
            "membership at log index {}{}{}",
            status.membership_log_index,
            if status.joint {
                " (joint: a change of voters is under way)"
            } else {
                ""
            },
            if status.from_leader {
                ""
            } else {
                " (this node's view; the leader could not be asked)"
            }
        ),
        format!(
            "{:>6}  {:<8} {:<22} {:<22} {:>10} {:>8}",
            "id", "kind", "peer", "client", "matched", "lag"
        ),
    ];
    for member in &status.members {
        let marker = if status.leader_id == Some(member.id) {
            "*"
        } else {
            " "
        };
        let optional =
            |value: Option<u64>| value.map_or_else(|| "-".to_string(), |v| v.to_string());
        lines.push(format!(
            "{:>5}{marker}  {:<8} {:<22} {:<22} {:>10} {:>8}",
            member.id,
            kind_name(member.kind),
            member.peer_address,
            member.client_address,
            optional(member.matched_index),
            optional(member.lag)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use polis_client::{ClusterMember, NodeRole};

    use super::*;

    fn status() -> ClusterStatus {
        let member = |id: u64, kind, matched_index: Option<u64>| ClusterMember {
            id,
            peer_address: format!("127.0.0.1:{}", 7000 + id),
            client_address: format!("127.0.0.1:{}", 8000 + id),
            kind,
            matched_index,
            lag: matched_index.map(|matched| 20 - matched),
        };
        ClusterStatus {
            node_id: 4,
            role: NodeRole::Learner,
            last_log_index: 18,
            applied_index: 18,
            leader_id: Some(1),
            term: 3,
            members: vec![
                member(1, MemberKind::Voter, Some(20)),
                member(2, MemberKind::Voter, Some(20)),
                member(4, MemberKind::Learner, Some(18)),
            ],
            membership_log_index: 15,
            joint: false,
            from_leader: true,
            leader_last_log_index: 20,
        }
    }

    #[test]
    fn the_table_marks_the_leader_and_shows_progress() {
        let lines = status_lines(&status());
        assert_eq!(
            lines[0],
            "node 4 (learner), leader 1, term 3, log 18, applied 18"
        );
        assert_eq!(lines[1], "membership at log index 15");
        assert!(lines[3].starts_with("    1*  voter "), "{}", lines[3]);
        assert!(lines[5].starts_with("    4   learner "), "{}", lines[5]);
        assert!(lines[5].trim_end().ends_with("18        2"), "{}", lines[5]);
    }

    #[test]
    fn json_names_every_member() {
        let value = status_json(&status());
        assert_eq!(value["role"], "learner");
        assert_eq!(value["leader_id"], 1);
        assert_eq!(value["members"][0]["leader"], true);
        assert_eq!(value["members"][2]["kind"], "learner");
        assert_eq!(value["members"][2]["lag"], 2);
    }
}
