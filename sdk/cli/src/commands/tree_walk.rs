//! Commands that walk a subtree: `ls -R` and `rm -r`.

use std::collections::VecDeque;

use polis_client::Client;

/// The most nodes `ls -R` lists: a listing of the whole tree of a city (millions of nodes) would
/// take the CLI's memory and the server's time for output nobody reads; past it the command
/// fails and says to list a smaller subtree.
pub const LIST_RECURSIVE_NODES_MAX: usize = 100_000;

/// `path` and every node below it as full paths, breadth first with each node's children in
/// name order, as zkCli's `ls -R` prints them; an error past `nodes_max` nodes.
pub async fn descendants(
    client: &Client,
    path: &str,
    nodes_max: usize,
) -> anyhow::Result<Vec<String>> {
    let mut listed = Vec::new();
    let mut pending = VecDeque::from([path.to_string()]);
    while let Some(current) = pending.pop_front() {
        anyhow::ensure!(
            listed.len() < nodes_max,
            "{path} has more than {nodes_max} nodes below it; list a smaller subtree"
        );
        let (mut children, _) = match client.get_children(&current).await {
            Ok(found) => found,
            // Deleted since its parent was listed: it is simply not there any more.
            Err(error) if error.is_no_node() && current != path => continue,
            Err(error) => return Err(error.into()),
        };
        children.sort();
        pending.extend(
            children
                .iter()
                .map(|child| polis_tree::path::join(&current, child)),
        );
        listed.push(current);
    }
    debug_assert!(listed.len() <= nodes_max);
    Ok(listed)
}

/// Refuses the deletions that would take the cluster's own nodes: `/polis` holds the deployed
/// plugins and their state (removed with `polis plugin remove`), and the tree's root cannot be
/// deleted. `rm -r /` deletes everything else, as zkCli's `deleteall /` leaves `/zookeeper`.
pub fn check_removable(path: &str, recursive: bool) -> anyhow::Result<()> {
    if polis_tree::path::is_self_or_descendant(path, polis_tree::SYSTEM_PATH) {
        anyhow::bail!(
            "{path} holds the cluster's plugins and their state; remove plugins with `polis \
             plugin remove`"
        );
    }
    anyhow::ensure!(
        path != "/" || recursive,
        "the root cannot be deleted; `polis rm -r /` deletes everything below it but {}",
        polis_tree::SYSTEM_PATH
    );
    Ok(())
}

/// ZooKeeper's `deleteall`: every node below `path`, deepest first, then `path` itself (but the
/// root, and never [`polis_tree::SYSTEM_PATH`] below it). Returns the deleted paths in deletion
/// order.
pub async fn delete_recursively(client: &Client, path: &str) -> anyhow::Result<Vec<String>> {
    let mut order = Vec::new();
    let mut pending = vec![path.to_string()];
    while let Some(current) = pending.pop() {
        let (children, _) = client.get_children(&current).await?;
        for child in children {
            let child = polis_tree::path::join(&current, &child);
            if child != polis_tree::SYSTEM_PATH {
                pending.push(child);
            }
        }
        if current != "/" {
            order.push(current);
        }
    }
    // Children were discovered after their parents, so the reverse order deletes leaves first.
    let mut deleted = Vec::with_capacity(order.len());
    for node in order.into_iter().rev() {
        match client.delete(&node, -1).await {
            Ok(()) => deleted.push(node),
            // Someone else removed it meanwhile (an ephemeral that expired): that is fine.
            Err(error) if error.is_no_node() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_node_and_the_bare_root_are_not_removable() {
        assert!(check_removable("/polis", true).is_err());
        assert!(check_removable("/polis", false).is_err());
        assert!(check_removable("/polis/plugins/echo", true).is_err());
        assert!(check_removable("/", false).is_err());
        check_removable("/", true).unwrap();
        check_removable("/city", true).unwrap();
        check_removable("/polish", false).unwrap();
    }
}
