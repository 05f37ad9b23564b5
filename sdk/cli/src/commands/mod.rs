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
mod data_file;
mod multi_file;
mod output;
mod plugin;
mod plugin_authoring;
mod tree_walk;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use futures::StreamExt;
use polis_client::{Client, CreateMode, ReadConsistency, WatchMode, Zxid};

use self::connect::ConnectionArguments;
use self::output::Output;
use self::tree_walk::LIST_RECURSIVE_NODES_MAX;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List a node's children.
    Ls {
        path: String,
        /// Also print the node's stat.
        #[arg(long, conflicts_with = "recursive")]
        stat: bool,
        /// Every node below, as full paths, breadth first (zkCli's `ls -R`); at most
        /// `LIST_RECURSIVE_NODES_MAX` nodes.
        #[arg(short = 'R', long)]
        recursive: bool,
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
        #[command(flatten)]
        data: DataArguments,
        /// The expected version; -1 matches any.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        version: i32,
        #[command(flatten)]
        common: CommonArguments,
    },
    /// Create a node.
    Create {
        path: String,
        #[command(flatten)]
        data: DataArguments,
        /// An ACL entry such as `x509:CN=alice,O=Polis:cdrwa` (repeatable; as `polis acl set`).
        /// Without one the node is open to everybody (`world:anyone:cdrwa`).
        #[arg(long = "acl", value_name = "ENTRY")]
        acl: Vec<String>,
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

/// A node's data: given on the command line, or read from a file or standard input.
#[derive(Debug, Args)]
pub struct DataArguments {
    /// The data, as text (empty if neither this nor --data-file is given).
    #[arg(conflicts_with = "data_file")]
    data: Option<String>,
    /// Read the data from this file instead, byte for byte (`-` for standard input): for binary
    /// data, or more than the shell's argument limit takes. At most `DATA_FILE_BYTES_MAX`.
    #[arg(long, value_name = "PATH")]
    data_file: Option<PathBuf>,
}

impl DataArguments {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        match (&self.data, &self.data_file) {
            (_, Some(file)) => data_file::read(file),
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, None) => Ok(Vec::new()),
        }
    }
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
            recursive,
            read,
            common,
        } => {
            with_client(&common, async |client, output| {
                let reader = client.with_read_consistency(read.consistency());
                if recursive {
                    let paths =
                        tree_walk::descendants(&reader, &path, LIST_RECURSIVE_NODES_MAX).await?;
                    output.paths(&paths);
                    return Ok(());
                }
                let (children, node_stat) = reader.get_children(&path).await?;
                output.children(&path, &children, stat.then_some(&node_stat));
                Ok(())
            })
            .await
        }
        ClientCommand::Get { path, read, common } => {
            with_client(&common, async |client, output| {
                let reader = client.with_read_consistency(read.consistency());
                let (data, stat) = reader.get_data_or_null(&path).await?;
                output.data(&path, data.as_deref(), &stat);
                Ok(())
            })
            .await
        }
        ClientCommand::Set {
            path,
            data,
            version,
            common,
        } => {
            let data = data.bytes()?;
            with_client(&common, async |client, output| {
                let stat = client.set_data(&path, &data, version).await?;
                output.stat(&path, &stat);
                Ok(())
            })
            .await
        }
        ClientCommand::Create {
            path,
            data,
            acl,
            ephemeral,
            sequential,
            container,
            ttl,
            common,
        } => {
            let mode = create_mode(ephemeral, sequential, container, ttl);
            let data = data.bytes()?;
            let acl = if acl.is_empty() {
                polis_client::Acl::open().to_vec()
            } else {
                acl_text::parse_all(&acl)?
            };
            with_client(&common, async |client, output| {
                let (created, stat) = client.create(&path, &data, &acl, mode).await?;
                output.created(&created, &stat);
                Ok(())
            })
            .await
        }
        ClientCommand::Rm {
            path,
            recursive,
            version,
            common,
        } => {
            tree_walk::check_removable(&path, recursive)?;
            with_client(&common, async |client, output| {
                let deleted = if recursive {
                    tree_walk::delete_recursively(client, &path).await?
                } else {
                    client.delete(&path, version).await?;
                    vec![path.clone()]
                };
                output.deleted(&deleted);
                Ok(())
            })
            .await
        }
        ClientCommand::Stat { path, read, common } => {
            with_client(&common, async |client, output| {
                let reader = client.with_read_consistency(read.consistency());
                match reader.exists(&path).await? {
                    Some(stat) => output.stat(&path, &stat),
                    None => anyhow::bail!("{path} does not exist"),
                }
                Ok(())
            })
            .await
        }
        ClientCommand::Watch {
            path,
            recursive,
            from,
            count,
            common,
        } => {
            with_client(&common, async |client, output| {
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
                Ok(())
            })
            .await
        }
        ClientCommand::Acl { command } => match command {
            AclCommand::Get { path, common } => {
                with_client(&common, async |client, output| {
                    let (acl, _) = client.get_acl(&path).await?;
                    output.acl(&path, &acl);
                    Ok(())
                })
                .await
            }
            AclCommand::Set {
                path,
                entries,
                version,
                common,
            } => {
                let acl = acl_text::parse_all(&entries)?;
                with_client(&common, async |client, output| {
                    let stat = client.set_acl(&path, &acl, version).await?;
                    output.stat(&path, &stat);
                    Ok(())
                })
                .await
            }
        },
        ClientCommand::Multi { file, common } => {
            let ops = multi_file::load(&file)?;
            with_client(&common, async |client, output| {
                let results = client.multi(ops).await?;
                output.multi(&results);
                Ok(())
            })
            .await
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

/// Connects as `common` says, runs `body`, and closes the session whether `body` succeeded or
/// not: a failed command's session would otherwise keep its ephemerals, its watches and a place
/// under its owner's session cap until it expired.
async fn with_client(
    common: &CommonArguments,
    body: impl AsyncFnOnce(&Client, &Output) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let client = common.connection.connect().await?;
    let output = Output::new(common.json);
    let outcome = body(&client, &output).await;
    let closed = client.close().await;
    outcome?;
    closed?;
    Ok(())
}
