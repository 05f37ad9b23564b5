//! How a worker commits: the batch's writes with the cursor, the status alone, or a dead letter,
//! each one multi as the plugin's identity, conditioned on the cursor's version.

use polis_plugin_layout::{
    Cursor, DEAD_LETTER_PREFIX, DeadLetter, DeadLetterEvent, PluginState, plugin_state_acl,
};
use polis_tree::{Caller, CreateMode, OpResult, SYSTEM_SESSION_ID, TxnKind, WriteOp};

use super::{LEADER_RETRY_WAIT, Progress, Worker};

/// What committing a batch's effects came to.
pub(super) enum CommitOutcome {
    Committed,
    /// Another commit moved the cursor first: re-read it.
    CursorMoved,
    /// The tree refused the plugin's writes (why, in words).
    Refused(String),
    /// No leader, or this node stopped leading.
    NoLeader,
}

impl Worker {
    /// Commits the staged writes, the cursor's advance (conditioned on its version), the status
    /// and (if it changed) the log, as one multi.
    pub(super) async fn commit_with_cursor(
        &self,
        progress: &mut Progress,
        mut ops: Vec<WriteOp>,
        cursor_after: Cursor,
    ) -> CommitOutcome {
        let cursor_index = ops.len();
        progress.status.cursor_zxid = cursor_after.zxid;
        ops.push(WriteOp::SetData {
            path: self.paths.cursor.clone(),
            data: Some(to_json(&cursor_after)),
            version: progress.cursor_version,
        });
        self.push_status_ops(progress, &mut ops);
        match self.propose(ops).await {
            Ok(results) => {
                if let Some(OpResult::DataSet { stat }) = results.get(cursor_index) {
                    progress.cursor_version = stat.version;
                    progress.last_commit = Some((stat.mzxid, std::time::Instant::now()));
                }
                progress.cursor = cursor_after;
                progress.skipped_entries = 0;
                progress.logs_changed = false;
                CommitOutcome::Committed
            }
            Err(Proposal::NoLeader) => CommitOutcome::NoLeader,
            Err(Proposal::Failed { index, message, .. }) => match index {
                Some(index) if index < cursor_index => {
                    CommitOutcome::Refused(format!("operation {index}: {message}"))
                }
                // The cursor's version moved (another leader committed), or the plugin's nodes
                // were removed with the deployment.
                _ => CommitOutcome::CursorMoved,
            },
        }
    }

    /// Writes the status (and log) alone, conditioned on the cursor being where this worker
    /// thinks it is, so that a worker that lost the race never overwrites a newer status.
    pub(super) async fn commit_status(&self, progress: &mut Progress) {
        let mut ops = vec![WriteOp::Check {
            path: self.paths.cursor.clone(),
            version: progress.cursor_version,
        }];
        self.push_status_ops(progress, &mut ops);
        match self.propose(ops).await {
            Ok(_) => progress.logs_changed = false,
            Err(Proposal::NoLeader) => {}
            Err(Proposal::Failed { .. }) => self.reload(progress).await,
        }
    }

    /// Records events given up on (or a gap in the history) and moves past them, in one multi.
    pub(super) async fn commit_dead_letter(
        &self,
        progress: &mut Progress,
        events: Vec<DeadLetterEvent>,
        error: String,
        attempts: u32,
        cursor_after: Cursor,
    ) {
        let handled = events.len() as u64;
        let entry = DeadLetter {
            revision: self.revision.revision,
            events,
            error,
            attempts,
        };
        let ops = vec![WriteOp::Create {
            path: format!("{}/{DEAD_LETTER_PREFIX}", self.paths.dead_letter),
            data: Some(to_json(&entry)),
            acl: plugin_state_acl(self.name()),
            mode: CreateMode::PersistentSequential,
        }];
        progress.status.dead_letters += handled;
        progress.status.processed_events += handled;
        progress.status.consecutive_failures = 0;
        progress.status.state = PluginState::Running;
        match self.commit_with_cursor(progress, ops, cursor_after).await {
            CommitOutcome::Committed => {
                progress.attempts = 0;
                metrics::counter!("polis_plugin_dead_letters_total", "plugin" => self.name().to_string())
                    .increment(handled.max(1));
                self.publish_position(progress, progress.cursor.zxid);
            }
            _ => self.reload(progress).await,
        }
    }

    /// Commits a replayed dead letter's writes and consumes the replay request, in one multi.
    /// Answers whether the events succeeded; a refused commit makes it a dead letter again.
    pub(super) async fn commit_replay(
        &self,
        progress: &mut Progress,
        mut ops: Vec<WriteOp>,
        replay_path: &str,
        letter: &DeadLetter,
    ) -> bool {
        ops.push(WriteOp::Delete {
            path: replay_path.to_string(),
            version: -1,
        });
        progress.status.dead_letters = progress.status.dead_letters.saturating_sub(1);
        progress.status.processed_events += letter.events.len() as u64;
        self.push_status_ops(progress, &mut ops);
        match self.propose(ops).await {
            Ok(_) => {
                progress.logs_changed = false;
                true
            }
            Err(Proposal::NoLeader) => {
                self.reload(progress).await;
                false
            }
            Err(Proposal::Failed { message, .. }) => {
                self.reload(progress).await;
                let error = format!("the replay's writes were refused: {message}");
                self.commit_replay_failed(progress, replay_path, letter, error)
                    .await
            }
        }
    }

    /// Replaces the replay request at `replay_path` by a dead letter again: the same events, the
    /// new error, one more attempt, in one multi.
    pub(super) async fn commit_replay_failed(
        &self,
        progress: &mut Progress,
        replay_path: &str,
        letter: &DeadLetter,
        error: String,
    ) -> bool {
        let letter = DeadLetter {
            revision: self.revision.revision,
            events: letter.events.clone(),
            error,
            attempts: letter.attempts.saturating_add(1),
        };
        let mut ops = vec![
            WriteOp::Delete {
                path: replay_path.to_string(),
                version: -1,
            },
            WriteOp::Create {
                path: format!("{}/{DEAD_LETTER_PREFIX}", self.paths.dead_letter),
                data: Some(to_json(&letter)),
                acl: plugin_state_acl(self.name()),
                mode: CreateMode::PersistentSequential,
            },
        ];
        self.push_status_ops(progress, &mut ops);
        if self.propose(ops).await.is_err() {
            self.reload(progress).await;
        }
        false
    }

    fn push_status_ops(&self, progress: &Progress, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::SetData {
            path: self.paths.status.clone(),
            data: Some(to_json(&progress.status)),
            version: -1,
        });
        if progress.logs_changed {
            ops.push(WriteOp::SetData {
                path: self.paths.logs.clone(),
                data: Some(to_json(&progress.logs)),
                version: -1,
            });
        }
    }

    async fn propose(&self, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, Proposal> {
        let kind = TxnKind::Multi {
            caller: Caller {
                session_id: SYSTEM_SESSION_ID,
                ids: self.identities.to_vec(),
            },
            ops,
        };
        match self.node.leader.propose(kind).await {
            Ok(response) => match response.result {
                Ok(OpResult::Multi(results)) => Ok(results),
                Ok(other) => Ok(vec![other]),
                Err(error) => Err(Proposal::Failed {
                    index: error.multi_index,
                    message: error.message,
                }),
            },
            Err(error) => {
                tracing::debug!(plugin = self.name(), %error, "no leader to commit to");
                tokio::time::sleep(LEADER_RETRY_WAIT).await;
                Err(Proposal::NoLeader)
            }
        }
    }
}

/// Why a proposal did not commit.
enum Proposal {
    NoLeader,
    Failed {
        index: Option<usize>,
        message: String,
    },
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // These records hold strings and numbers only, which always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}
