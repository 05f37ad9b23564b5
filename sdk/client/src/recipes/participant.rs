//! One participant of a recipe: an ephemeral-sequential node, created with protection against
//! connection loss, and deleted when the participant is done with it.

use std::future::Future;

use polis_tree::path;
use polis_tree::{CreateMode, ErrorCode, Stat, Zxid};

use crate::backoff::random_u64;
use crate::{Acl, Client, Error};

/// How often a recipe step is retried after a connection loss before the loss is reported.
const RETRIES_MAX: u32 = 16;

/// The marker prefix of protected node names, as Curator's `_c_`.
const PROTECTED_MARKER: &str = "_c_";

/// The number of digits of a sequence suffix (ZooKeeper's `%010d`).
const SEQUENCE_LEN: usize = 10;

/// Runs an idempotent step, retrying it once the client is connected again after a connection
/// loss or timeout, a bounded number of times.
pub(crate) async fn retrying<T, F, Fut>(client: &Client, mut step: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut retries = 0;
    loop {
        match step().await {
            Err(error) if error.is_retryable() && retries < RETRIES_MAX => {
                retries += 1;
                client.wait_connected().await?;
            }
            outcome => return outcome,
        }
    }
}

/// Creates every missing node of `node_path` as an empty persistent node.
pub(crate) async fn ensure_path(client: &Client, node_path: &str) -> Result<(), Error> {
    if retrying(client, || client.exists(node_path))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let mut prefix = String::new();
    let open = Acl::open();
    for component in node_path.split('/').filter(|part| !part.is_empty()) {
        prefix.push('/');
        prefix.push_str(component);
        let created = retrying(client, || {
            client.create(&prefix, &[], &open, CreateMode::Persistent)
        })
        .await;
        match created {
            Ok(_) => {}
            Err(error) if error.is_node_exists() => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The sequence number at the end of a sequential node's name.
pub(crate) fn sequence_of(name: &str) -> Option<i64> {
    let start = name.len().checked_sub(SEQUENCE_LEN)?;
    name.get(start..)?.parse().ok()
}

/// The participants among `children` (names containing `prefix` and ending in a sequence
/// number), in sequence order, which is creation order.
pub(crate) fn ranked(children: &[String], prefix: &str) -> Vec<String> {
    let mut ranked: Vec<(i64, &String)> = children
        .iter()
        .filter(|name| name.contains(prefix))
        .filter_map(|name| sequence_of(name).map(|sequence| (sequence, name)))
        .collect();
    ranked.sort();
    ranked.into_iter().map(|(_, name)| name.clone()).collect()
}

/// The error for a participant whose own node disappeared while it waited: only a session end or
/// someone else's delete can do that, and either way it no longer takes part.
pub(crate) fn vanished(node_path: &str) -> Error {
    Error::api(
        ErrorCode::NoNode,
        "this participant's node was deleted while it waited",
        Some(node_path),
    )
}

#[derive(Debug)]
pub(crate) struct Participant {
    client: Client,
    node_path: String,
    czxid: Zxid,
    /// While true, dropping the participant deletes its node.
    armed: bool,
}

impl Participant {
    /// Creates this participant's node `<dir>/_c_<marker>-<prefix><sequence>`.
    pub(crate) async fn join(
        client: &Client,
        dir: &str,
        prefix: &str,
        data: &[u8],
    ) -> Result<Participant, Error> {
        ensure_path(client, dir).await?;
        let marker = format!(
            "{PROTECTED_MARKER}{:016x}{:016x}-",
            random_u64(),
            random_u64()
        );
        let requested = path::join(dir, &format!("{marker}{prefix}"));
        let mut retries = 0;
        let (node_path, stat) = loop {
            match client
                .create(
                    &requested,
                    data,
                    &Acl::open(),
                    CreateMode::EphemeralSequential,
                )
                .await
            {
                Ok(created) => break created,
                Err(error) if error.is_retryable() && retries < RETRIES_MAX => {
                    retries += 1;
                    client.wait_connected().await?;
                    // The create may have been applied before the connection broke: look for
                    // the marker before creating a second node.
                    if let Some(found) = find_marked(client, dir, &marker).await? {
                        break found;
                    }
                }
                // Someone removed the directory meanwhile (or it is a container that emptied).
                Err(error) if error.is_no_node() && retries < RETRIES_MAX => {
                    retries += 1;
                    ensure_path(client, dir).await?;
                }
                Err(error) => return Err(error),
            }
        };
        Ok(Participant {
            client: client.clone(),
            node_path,
            czxid: stat.czxid,
            armed: true,
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn node_path(&self) -> &str {
        &self.node_path
    }

    /// The node's name within its directory.
    pub(crate) fn name(&self) -> &str {
        path::name(&self.node_path)
    }

    /// The zxid that created the node.
    pub(crate) fn czxid(&self) -> Zxid {
        self.czxid
    }

    /// Deletes the node and waits for the server to confirm.
    pub(crate) async fn leave(mut self) -> Result<(), Error> {
        self.armed = false;
        let client = self.client.clone();
        let node_path = self.node_path.clone();
        match retrying(&client, || client.delete(&node_path, -1)).await {
            Ok(()) => Ok(()),
            // Already gone (deleted by a retried attempt, or with the session): left all the same.
            Err(error) if error.is_no_node() => Ok(()),
            Err(error) => Err(error),
        }
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Without a runtime nothing can be sent; the session's end deletes the node then.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let node_path = std::mem::take(&mut self.node_path);
            runtime.spawn(async move {
                if let Err(error) = client.delete(&node_path, -1).await
                    && !error.is_no_node()
                {
                    tracing::debug!(%node_path, %error, "could not delete an abandoned recipe node");
                }
            });
        }
    }
}

/// The node whose name carries `marker`, if the create that lost its answer made one.
async fn find_marked(
    client: &Client,
    dir: &str,
    marker: &str,
) -> Result<Option<(String, Stat)>, Error> {
    let (children, _) = retrying(client, || client.get_children(dir)).await?;
    let Some(name) = children.iter().find(|name| name.starts_with(marker)) else {
        return Ok(None);
    };
    let node_path = path::join(dir, name);
    match retrying(client, || client.exists(&node_path)).await? {
        Some(stat) => Ok(Some((node_path, stat))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_parsed_from_the_suffix() {
        assert_eq!(sequence_of("lock-0000000042"), Some(42));
        assert_eq!(sequence_of("_c_ab-lock-0000000000"), Some(0));
        assert_eq!(sequence_of("lock-"), None);
        assert_eq!(sequence_of("ready"), None);
        assert_eq!(sequence_of("x-00000000zz"), None);
        // ZooKeeper's %010d of a wrapped (negative) counter still parses and sorts first.
        assert_eq!(sequence_of("lock--000000001"), Some(-1));
    }

    #[test]
    fn participants_are_ranked_by_sequence_not_by_marker() {
        let children = vec![
            "_c_ff-lock-0000000007".to_string(),
            "ready".to_string(),
            "_c_00-lock-0000000009".to_string(),
            "_c_aa-lock-0000000003".to_string(),
            "_c_bb-other-0000000001".to_string(),
        ];
        assert_eq!(
            ranked(&children, "lock-"),
            vec![
                "_c_aa-lock-0000000003".to_string(),
                "_c_ff-lock-0000000007".to_string(),
                "_c_00-lock-0000000009".to_string(),
            ]
        );
    }
}
