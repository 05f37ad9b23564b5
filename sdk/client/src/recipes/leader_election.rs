//! ZooKeeper's leader election recipe, with a fencing token.

use polis_tree::{Zxid, path};

use super::participant::{Participant, ranked, retrying, vanished};
use crate::{Client, Error};

/// The name prefix of candidates' nodes (ZooKeeper's recipe calls them `n_`).
const CANDIDATE_PREFIX: &str = "n_";

/// How often [`LeaderElection::leader`] looks again when the leader it found left meanwhile.
const LOOKUPS_MAX: u32 = 16;

/// ZooKeeper's leader election: each candidate creates an ephemeral-sequential child of the
/// election path holding its identity; the lowest is the leader; the others watch only their
/// predecessor, so a leader's departure wakes exactly its successor.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    client: Client,
    election_path: String,
}

/// The current leader, as any client can see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    pub node_path: String,
    /// What the leader put in its node when it campaigned.
    pub data: Vec<u8>,
    /// The leader's fencing token (its node's `czxid`).
    pub fencing_token: Zxid,
}

impl LeaderElection {
    pub fn new(client: &Client, election_path: &str) -> LeaderElection {
        LeaderElection {
            client: client.clone(),
            election_path: election_path.to_string(),
        }
    }

    /// Stands as a candidate with `candidate` (an address, a name) as its node's data, and
    /// waits until elected.
    ///
    /// Cancelling the returned future withdraws the candidacy.
    pub async fn campaign(&self, candidate: &[u8]) -> Result<Leadership, Error> {
        let client = &self.client;
        let me =
            Participant::join(client, &self.election_path, CANDIDATE_PREFIX, candidate).await?;
        loop {
            let (children, _) =
                retrying(client, || client.get_children(&self.election_path)).await?;
            let candidates = ranked(&children, CANDIDATE_PREFIX);
            let position = candidates
                .iter()
                .position(|name| name == me.name())
                .ok_or_else(|| vanished(me.node_path()))?;
            let Some(predecessor) = position.checked_sub(1).map(|index| &candidates[index]) else {
                return Ok(Leadership { participant: me });
            };
            let predecessor = path::join(&self.election_path, predecessor);
            let (stat, watch) = retrying(client, || client.exists_watch(&predecessor)).await?;
            if stat.is_some() {
                watch.await?;
            }
        }
    }

    /// The current leader, or `None` if nobody campaigns.
    pub async fn leader(&self) -> Result<Option<LeaderInfo>, Error> {
        let client = &self.client;
        for _ in 0..LOOKUPS_MAX {
            let children = match retrying(client, || client.get_children(&self.election_path)).await
            {
                Ok((children, _)) => children,
                // No candidate ever created the election's folder: nobody campaigns.
                Err(error) if error.is_no_node() => return Ok(None),
                Err(error) => return Err(error),
            };
            let Some(first) = ranked(&children, CANDIDATE_PREFIX).into_iter().next() else {
                return Ok(None);
            };
            let node_path = path::join(&self.election_path, &first);
            match retrying(client, || client.get_data(&node_path)).await {
                Ok((data, stat)) => {
                    return Ok(Some(LeaderInfo {
                        node_path,
                        data,
                        fencing_token: stat.czxid,
                    }));
                }
                // It left between the two reads; its successor is the leader now.
                Err(error) if error.is_no_node() => {}
                Err(error) => return Err(error),
            }
        }
        Err(Error::Timeout)
    }
}

/// Being the leader. Resign with [`Leadership::resign`]; dropping it resigns in the background.
#[derive(Debug)]
pub struct Leadership {
    participant: Participant,
}

impl Leadership {
    /// The fencing token of this term: the zxid that created this leader's node, larger than
    /// every earlier leader's.
    pub fn fencing_token(&self) -> Zxid {
        self.participant.czxid()
    }

    /// The path of this leader's node.
    pub fn node_path(&self) -> &str {
        self.participant.node_path()
    }

    /// Resolves when this leadership is over: the node was deleted or the session expired.
    /// Other errors (the client was closed) are returned as such.
    pub async fn lost(&self) -> Result<(), Error> {
        let client = self.participant.client();
        let node_path = self.participant.node_path();
        loop {
            let (stat, watch) = match retrying(client, || client.exists_watch(node_path)).await {
                Ok(found) => found,
                Err(Error::SessionExpired) => return Ok(()),
                Err(error) => return Err(error),
            };
            if stat.is_none() {
                return Ok(());
            }
            match watch.await {
                Ok(event) if event.kind == polis_tree::EventKind::NodeDeleted => return Ok(()),
                Ok(_) => {}
                Err(Error::SessionExpired) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    /// Steps down and waits for the server to confirm; the next candidate is elected.
    pub async fn resign(self) -> Result<(), Error> {
        self.participant.leave().await
    }
}
