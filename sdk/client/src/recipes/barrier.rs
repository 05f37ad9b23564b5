//! ZooKeeper's (double) barrier recipe, with a fencing token.

use polis_tree::{CreateMode, ErrorCode, Zxid, path};

use super::participant::{Participant, ranked, retrying};
use crate::{Acl, Client, Error};

/// The name prefix of participants' nodes.
const PARTICIPANT_PREFIX: &str = "p-";

/// The node that marks a complete barrier; its data is the fencing token.
const READY_NODE: &str = "ready";

/// ZooKeeper's double barrier: participants enter by creating an ephemeral-sequential child of
/// the barrier path, and pass once `participants` have entered; they leave by deleting it, and
/// [`BarrierPass::leave`] returns once all have left.
///
/// The participant that sees the barrier complete writes a `ready` node holding the token, so
/// every participant (and a late one) learns the same token, and waiters watch only `ready`
/// instead of the whole membership. A barrier path serves one round: use a fresh path for each
/// round (e.g. `/barriers/epoch-7`), since the `ready` node stays behind.
#[derive(Clone, Debug)]
pub struct Barrier {
    client: Client,
    barrier_path: String,
}

impl Barrier {
    pub fn new(client: &Client, barrier_path: &str) -> Barrier {
        Barrier {
            client: client.clone(),
            barrier_path: barrier_path.to_string(),
        }
    }

    /// Enters the barrier and waits until `participants` have entered.
    ///
    /// Cancelling the returned future withdraws from the barrier.
    pub async fn enter(&self, participants: usize) -> Result<BarrierPass, Error> {
        if participants == 0 {
            return Err(Error::api(
                ErrorCode::BadArguments,
                "a barrier needs at least one participant",
                Some(&self.barrier_path),
            ));
        }
        let client = &self.client;
        let me = Participant::join(client, &self.barrier_path, PARTICIPANT_PREFIX, &[]).await?;
        let ready = path::join(&self.barrier_path, READY_NODE);
        loop {
            // Watch `ready` first, so that its creation between the two reads is not missed.
            let (ready_stat, ready_watch) =
                retrying(client, || client.exists_watch(&ready)).await?;
            if ready_stat.is_some() {
                let fencing_token = self.read_token(&ready).await?;
                return Ok(BarrierPass {
                    participant: me,
                    fencing_token,
                });
            }
            let (children, _) =
                retrying(client, || client.get_children(&self.barrier_path)).await?;
            let entered = ranked(&children, PARTICIPANT_PREFIX);
            if let Some(completing) = entered.get(participants - 1) {
                // The barrier is complete: the token is the zxid that created the node that
                // completed it.
                let completing = path::join(&self.barrier_path, completing);
                let Some(stat) = retrying(client, || client.exists(&completing)).await? else {
                    // That participant left already (its session ended); count again.
                    continue;
                };
                let token = stat.czxid.to_string();
                let open = Acl::open();
                let created = retrying(client, || {
                    client.create(&ready, token.as_bytes(), &open, CreateMode::Persistent)
                })
                .await;
                match created {
                    Ok(_) => {}
                    // Another participant saw it first; its token is the one that counts.
                    Err(error) if error.is_node_exists() => {}
                    Err(error) => return Err(error),
                }
                let fencing_token = self.read_token(&ready).await?;
                return Ok(BarrierPass {
                    participant: me,
                    fencing_token,
                });
            }
            ready_watch.await?;
        }
    }

    async fn read_token(&self, ready: &str) -> Result<Zxid, Error> {
        let client = &self.client;
        let (data, _) = retrying(client, || client.get_data(ready)).await?;
        std::str::from_utf8(&data)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| {
                Error::Protocol(format!("{ready} does not hold a barrier token: {data:?}"))
            })
    }
}

/// Having passed a barrier.
#[derive(Debug)]
pub struct BarrierPass {
    participant: Participant,
    fencing_token: Zxid,
}

impl BarrierPass {
    /// The zxid of the node whose creation completed the barrier, the same for every
    /// participant of the round and larger than any earlier round's (on fresh paths).
    pub fn fencing_token(&self) -> Zxid {
        self.fencing_token
    }

    /// The path of this participant's node.
    pub fn node_path(&self) -> &str {
        self.participant.node_path()
    }

    /// Leaves the barrier and waits until every participant has left (the double barrier's exit).
    pub async fn leave(self) -> Result<(), Error> {
        let client = self.participant.client().clone();
        let barrier_path = path::parent(self.participant.node_path()).to_string();
        self.participant.leave().await?;
        loop {
            let ((children, _), watch) =
                retrying(&client, || client.get_children_watch(&barrier_path)).await?;
            if ranked(&children, PARTICIPANT_PREFIX).is_empty() {
                return Ok(());
            }
            watch.await?;
        }
    }
}
