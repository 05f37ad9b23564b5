//! The client commands of `polis`: `ls`, `get`, `set`, `create`, `rm`, `stat`, `watch`,
//! `acl get|set`, `multi`, `plugin …`, and for administrators
//! `cluster status|add-learner|promote|remove`.
//!
//! Run from the folder where `polis dev` runs, they find the dev node and its admin certificate
//! through `polis-dev/profile.toml` with no flags; elsewhere `--profile`, `POLIS_PROFILE`, or
//! `--server` with `--ca`/`--cert`/`--key` say where and as whom to connect. Output is for people
//! by default and JSON with `--json`. Reads are linearizable; `ls`, `get` and `stat` take
//! `--stale` for the connected server's local copy.

mod acl_text;
mod cluster;
mod connect;
mod multi_file;
mod output;
mod plugin;
mod plugin_authoring;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use futures::StreamExt;
use polis_client::{Client, CreateMode, ReadConsistency, WatchMode, Zxid};

use self::connect::ConnectionArguments;
use self::output::Output;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List a node's children.
    Ls {
        path: String,
        /// Also print the node's stat.
        #[arg(long)]
        stat: bool,
        #[command(flatten)]
        read: ReadArguments,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Print a node's data.
    Get {
        path: String,
        #[command(flatten)]
        read: ReadArguments,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Set a node's data (compare-and-set with --version).
    Set {
        path: String,
        data: String,
        /// The expected version; -1 matches any.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        version: i32,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Create a node.
    Create {
        path: String,
        #[arg(default_value = "")]
        data: String,
        /// Ephemeral: removed when this command's session ends (so right away, for the CLI).
        #[arg(short = 'e', long)]
        ephemeral: bool,
        /// Sequential: a 10-digit counter is appended to the name.
        #[arg(short = 's', long)]
        sequential: bool,
        /// A container, removed by the server once its last child is gone.
        #[arg(long, conflicts_with_all = ["ephemeral", "sequential", "ttl"])]
        container: bool,
        /// A TTL node, removed once childless and unmodified for this many milliseconds.
        #[arg(long, conflicts_with = "ephemeral")]
        ttl: Option<i64>,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Delete a node (and, with -r, everything below it).
    Rm {
        path: String,
        #[arg(short = 'r', long)]
        recursive: bool,
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        version: i32,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Print a node's stat.
    Stat {
        path: String,
        #[command(flatten)]
        read: ReadArguments,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Print changes to a node (with -r, to everything below it) until interrupted.
    Watch {
        path: String,
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Replay every change after this zxid first.
        #[arg(long)]
        from: Option<Zxid>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Read or replace a node's ACL.
    Acl {
        #[command(subcommand)]
        command: AclCommand,
    },
    /// Apply several operations atomically, from a JSON file (see `polis multi --help`).
    ///
    /// The file holds a list such as
    /// `[{"op":"create","path":"/a","data":"x"}, {"op":"set","path":"/b","data":"y","version":3},
    ///  {"op":"check","path":"/c","version":1}, {"op":"delete","path":"/d"}]`.
    /// Create also takes "mode": persistent | ephemeral | persistent_sequential |
    /// ephemeral_sequential | container, or "ttl_ms".
    Multi {
        file: PathBuf,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// The cluster's membership: status, and (for administrators) adding learners, promoting
    /// them to voters, removing members.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Wasm plugins: deploy, upgrade, roll back, resume and remove them (administrators), list
    /// them, and read their status and logs.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Print a node's ACL, one `scheme:id:perms` entry per line.
    Get {
        path: String,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Replace a node's ACL with entries like `world:anyone:r`, `x509:CN=alice,O=Polis:cdrwa`,
    /// `digest:user:hash:rw` (perms: c create, d delete, r read, w write, a admin).
    Set {
        path: String,
        #[arg(required = true)]
        entries: Vec<String>,
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        version: i32,
        #[command(flatten)]
        common: CommonArguments,
    },
}

/// Flags every client command takes.
#[derive(Debug, Args)]
pub struct CommonArguments {
    #[command(flatten)]
    connection: ConnectionArguments,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Flags of the commands that only read.
#[derive(Debug, Args)]
pub struct ReadArguments {
    /// Answer from the connected server's own copy without asking the leader: works on a node
    /// cut off from the leader or the quorum, but may miss the latest writes.
    #[arg(long)]
    stale: bool,
}

impl ReadArguments {
    fn consistency(&self) -> ReadConsistency {
        if self.stale {
            ReadConsistency::Local
        } else {
            ReadConsistency::Linearizable
        }
    }
}

pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Ls {
            path,
            stat,
            read,
            common,
        } => {
            let (client, output) = open(&common).await?;
            let reader = client.with_read_consistency(read.consistency());
            let (children, node_stat) = reader.get_children(&path).await?;
            output.children(&path, &children, stat.then_some(&node_stat));
            finish(client).await
        }
        ClientCommand::Get { path, read, common } => {
            let (client, output) = open(&common).await?;
            let reader = client.with_read_consistency(read.consistency());
            let (data, stat) = reader.get_data(&path).await?;
            output.data(&path, &data, &stat);
            finish(client).await
        }
        ClientCommand::Set {
            path,
            data,
            version,
            common,
        } => {
            let (client, output) = open(&common).await?;
            let stat = client.set_data(&path, data.as_bytes(), version).await?;
            output.stat(&path, &stat);
            finish(client).await
        }
        ClientCommand::Create {
            path,
            data,
            ephemeral,
            sequential,
            container,
            ttl,
            common,
        } => {
            let mode = create_mode(ephemeral, sequential, container, ttl);
            let (client, output) = open(&common).await?;
            let (created, stat) = client
                .create(&path, data.as_bytes(), &polis_client::Acl::open(), mode)
                .await?;
            output.created(&created, &stat);
            finish(client).await
        }
        ClientCommand::Rm {
            path,
            recursive,
            version,
            common,
        } => {
            let (client, output) = open(&common).await?;
            let deleted = if recursive {
                delete_recursively(&client, &path).await?
            } else {
                client.delete(&path, version).await?;
                vec![path]
            };
            output.deleted(&deleted);
            finish(client).await
        }
        ClientCommand::Stat { path, read, common } => {
            let (client, output) = open(&common).await?;
            let reader = client.with_read_consistency(read.consistency());
            match reader.exists(&path).await? {
                Some(stat) => output.stat(&path, &stat),
                None => anyhow::bail!("{path} does not exist"),
            }
            finish(client).await
        }
        ClientCommand::Watch {
            path,
            recursive,
            from,
            count,
            common,
        } => {
            let (client, output) = open(&common).await?;
            let mode = if recursive {
                WatchMode::PersistentRecursive
            } else {
                WatchMode::Persistent
            };
            let mut stream = client.watch(&path, mode, from).await?;
            output.watching(&path, recursive);
            let mut seen = 0;
            while count.is_none_or(|count| seen < count) {
                tokio::select! {
                    event = stream.next() => match event {
                        Some(event) => output.event(&event?),
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
                seen += 1;
            }
            drop(stream);
            finish(client).await
        }
        ClientCommand::Acl { command } => match command {
            AclCommand::Get { path, common } => {
                let (client, output) = open(&common).await?;
                let (acl, _) = client.get_acl(&path).await?;
                output.acl(&path, &acl);
                finish(client).await
            }
            AclCommand::Set {
                path,
                entries,
                version,
                common,
            } => {
                let acl = entries
                    .iter()
                    .map(|entry| acl_text::parse(entry))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let (client, output) = open(&common).await?;
                let stat = client.set_acl(&path, &acl, version).await?;
                output.stat(&path, &stat);
                finish(client).await
            }
        },
        ClientCommand::Multi { file, common } => {
            let ops = multi_file::load(&file)?;
            let (client, output) = open(&common).await?;
            let results = client.multi(ops).await?;
            output.multi(&results);
            finish(client).await
        }
        ClientCommand::Cluster { command } => cluster::run(command).await,
        ClientCommand::Plugin { command } => plugin::run(command).await,
    }
}

fn create_mode(ephemeral: bool, sequential: bool, container: bool, ttl: Option<i64>) -> CreateMode {
    match (ephemeral, sequential, container, ttl) {
        (_, _, true, _) => CreateMode::Container,
        (_, false, _, Some(ttl_ms)) => CreateMode::PersistentWithTtl { ttl_ms },
        (_, true, _, Some(ttl_ms)) => CreateMode::PersistentSequentialWithTtl { ttl_ms },
        (true, true, _, None) => CreateMode::EphemeralSequential,
        (true, false, _, None) => CreateMode::Ephemeral,
        (false, true, _, None) => CreateMode::PersistentSequential,
        (false, false, _, None) => CreateMode::Persistent,
    }
}

async fn open(common: &CommonArguments) -> anyhow::Result<(Client, Output)> {
    let client = common.connection.connect().await?;
    Ok((client, Output::new(common.json)))
}

async fn finish(client: Client) -> anyhow::Result<()> {
    client.close().await?;
    Ok(())
}

/// ZooKeeper's `deleteall`: every node below `path`, deepest first, then `path` itself. Returns
/// the deleted paths in deletion order.
async fn delete_recursively(client: &Client, path: &str) -> anyhow::Result<Vec<String>> {
    let mut order = Vec::new();
    let mut pending = vec![path.to_string()];
    while let Some(current) = pending.pop() {
        let (children, _) = client.get_children(&current).await?;
        for child in children {
            pending.push(polis_tree::path::join(&current, &child));
        }
        order.push(current);
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
