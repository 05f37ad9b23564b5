//! `polis`: the Polis server, its dev mode, its certificate authority, and the client commands.
//!
//! This crate is the binary alone, and the one crate that imports both sides: the node and its
//! commands (`server`, `dev`, `backup`, `restore`) are `polis_server`'s, the client commands
//! `polis_cli`'s. Keeping them apart here lets everything built on the client side (the city's
//! SDK, other tools) depend on `polis-cli` without pulling in the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use polis_cli::commands::ClientCommand;
use polis_cli::profile::DEV_DIR_DEFAULT;
use polis_security::CertificateAuthority;
use polis_server::dev::DevLayout;
use polis_server::{RunningServer, ServerConfig};

use crate::dev_profile::write_dev_profile;

mod dev_profile;

/// The server allocates and frees a message, an entry or a reply buffer for every request, from
/// many threads at once. With glibc's allocator that took about a fifth of the server's CPU under
/// a write load (`malloc`, `free`, `malloc_consolidate` in `perf`); mimalloc's thread-local free
/// lists take much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "polis",
    version,
    about = "Polis: coordination for city systems"
)]
struct Arguments {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node from a configuration file.
    Server {
        /// The configuration file (TOML); every field has a default.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides `listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Overrides `admin_listen`.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Overrides `data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run a single dev node with generated certificates and data under one folder.
    Dev {
        /// The folder for certificates, data, configuration and the client profile.
        #[arg(long, default_value = DEV_DIR_DEFAULT)]
        dir: PathBuf,
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Run a local cluster of this many nodes (three processes' worth of nodes in this one,
        /// over real QUIC and redb) instead of a single node.
        #[arg(long, default_value_t = 1)]
        nodes: u64,
        /// With --nodes: node i uses ports base + 100·(i−1) (clients), + 1 (peers), + 2 (admin).
        #[arg(long, default_value_t = 7181)]
        base_port: u16,
    },
    /// Write a stopped node's tree to a backup file: run it where the node's data directory is.
    /// A running node's files are locked, so stop a follower (or a learner), back it up and start
    /// it again; the cluster serves meanwhile.
    Backup {
        /// The node's configuration file (for its data_dir).
        #[arg(long, short)]
        config: PathBuf,
        /// The backup file to write (it must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Seed a new node's empty data directory from a backup, as a voter of a new cluster: run it
    /// for every voter of the new cluster (same backup, each with its own configuration), then
    /// start them.
    Restore {
        /// The new node's configuration file (its data_dir and the cluster's members).
        #[arg(long, short)]
        config: PathBuf,
        /// The backup file `polis backup` wrote.
        #[arg(long)]
        from: PathBuf,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `polis completions bash > /etc/bash_completion.d/polis`.
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (polis.1 and one per command, polis-ls.1, …) into a folder, e.g.
    /// `polis man --dir /usr/local/share/man/man1`.
    Man {
        #[arg(long, default_value = "man")]
        dir: PathBuf,
    },
    /// Manage the private certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create a CA (ca.pem, ca-key.pem) in a folder.
    Init {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        #[arg(long, default_value = "Polis CA")]
        name: String,
    },
    /// Issue a node certificate (server and peer) or a client certificate.
    Issue {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Issue a node certificate with this name.
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        node: Option<String>,
        /// Issue a client certificate with this name (its subject becomes `CN=<name>,O=Polis`).
        #[arg(long)]
        client: Option<String>,
        /// Host names or IP addresses the node certificate is valid for (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let arguments = Arguments::parse();
    init_logging(arguments.log_json);
    let outcome = prepare(arguments.command).and_then(|prepared| {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        if let Prepared::Server(config) = &prepared
            && let Some(threads) = config.runtime_threads
        {
            runtime.worker_threads(threads);
        }
        runtime
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(run(prepared))
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_report(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The whole chain of causes on one line, as a person reads it, each said once: many errors
/// already name their cause in their own message (thiserror's `"…: {0}"` with `#[from]`), and
/// anyhow's `{:#}` would repeat it.
fn error_report(error: &anyhow::Error) -> String {
    let mut report = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !report.contains(&cause) {
            report.push_str(": ");
            report.push_str(&cause);
        }
    }
    report
}

/// A command ready to run: a server's configuration is read before the runtime starts, since it
/// sizes the runtime.
enum Prepared {
    Server(Box<ServerConfig>),
    Other(Box<Command>),
}

fn prepare(command: Command) -> anyhow::Result<Prepared> {
    let Command::Server {
        config,
        listen,
        admin_listen,
        data_dir,
    } = command
    else {
        return Ok(Prepared::Other(Box::new(command)));
    };
    let mut config = match config {
        Some(file) => ServerConfig::load(&file)?,
        None => ServerConfig::default(),
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if admin_listen.is_some() {
        config.admin_listen = admin_listen;
    }
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    Ok(Prepared::Server(Box::new(config)))
}

async fn run(prepared: Prepared) -> anyhow::Result<()> {
    let command = match prepared {
        Prepared::Server(config) => return serve_until_interrupted(*config).await,
        Prepared::Other(command) => *command,
    };
    match command {
        Command::Server { .. } => unreachable!("prepare() took the server command"),
        Command::Dev {
            dir,
            listen,
            admin_listen,
            nodes,
            base_port,
        } => {
            let shutdown = shutdown_signal();
            let layout = DevLayout::new(&dir);
            let configs = if nodes > 1 {
                layout.prepare_cluster(nodes, base_port)?
            } else {
                vec![layout.prepare(listen, admin_listen)?]
            };
            // The nodes start together: the founder's first election needs the others up.
            let started =
                futures::future::join_all(configs.into_iter().map(RunningServer::start)).await;
            let servers = started.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
            let addresses: Vec<SocketAddr> =
                servers.iter().map(|server| server.client_address).collect();
            write_dev_profile(&layout, &addresses)?;
            println!(
                "Polis dev {}",
                if servers.len() > 1 { "cluster" } else { "node" }
            );
            for (index, server) in servers.iter().enumerate() {
                println!("  node {}", index + 1);
                println!("    client (QUIC):   {}", server.client_address);
                println!("    peers (QUIC):    {}", server.peer_address);
                if let Some(admin) = server.admin_address {
                    println!(
                        "    metrics, health: http://{admin}/metrics  http://{admin}/health  \
                         http://{admin}/ready"
                    );
                }
                if let Some(zookeeper) = server.zookeeper_address {
                    println!("    ZooKeeper (TCP): {zookeeper}");
                }
            }
            println!("  folder:            {}", dir.display());
            println!("  try:               polis ls /     (from this folder)");
            shutdown.await;
            for server in servers {
                server.shutdown().await?;
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut command = <Arguments as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "polis", &mut script);
            print_bytes(&script)
        }
        Command::Man { dir } => write_man_pages(&dir),
        Command::Backup { config, to } => backup(&config, &to).await,
        Command::Restore { config, from } => restore(&config, &from).await,
        Command::Ca { command } => match command {
            CaCommand::Init { dir, name } => {
                let authority = CertificateAuthority::init(&dir, &name)?;
                println!("created CA {}", authority.certificate_path().display());
                Ok(())
            }
            CaCommand::Issue {
                dir,
                node,
                client,
                hosts,
            } => {
                let authority = CertificateAuthority::load(&dir)?;
                let files = match (node, client) {
                    (Some(node), _) => authority.issue_node(&node, &hosts)?,
                    (None, Some(client)) => authority.issue_client(&client)?,
                    (None, None) => anyhow::bail!("name --node or --client"),
                };
                println!(
                    "issued {} and {}",
                    files.certificate_path.display(),
                    files.key_path.display()
                );
                Ok(())
            }
        },
        Command::Client(command) => polis_cli::commands::run(command).await,
    }
}

/// Writes `bytes` to standard output; a reader that went away (`polis completions bash | head`)
/// ends the command quietly, as it ends `cat`.
fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

/// `polis man`: the man pages clap describes, one per command, so that they never drift from
/// the commands themselves.
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let command = <Arguments as clap::CommandFactory>::command();
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    println!("wrote the man pages into {}", dir.display());
    Ok(())
}

/// `polis backup`: the node's applied tree, written to a new file by a rename, so that a file at
/// `to` is always a whole backup.
async fn backup(config: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let config = ServerConfig::load(config)?;
    anyhow::ensure!(
        !to.exists(),
        "{} exists; a backup never overwrites",
        to.display()
    );
    let taken = polis_raft::backup(&config.data_dir)
        .await
        .with_context(|| {
            format!(
                "backing up {} (is the node stopped?)",
                config.data_dir.display()
            )
        })?;
    let partial = to.with_extension("partial");
    std::fs::write(&partial, &taken.data)
        .and_then(|()| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, to))
        .with_context(|| format!("writing {}", to.display()))?;
    println!(
        "backed up {} at zxid {:#x} to {} ({} bytes)",
        config.data_dir.display(),
        taken.zxid,
        to.display(),
        taken.data.len()
    );
    Ok(())
}

/// `polis restore`: seeds the node's empty data directory from a backup, as a voter of the
/// cluster its configuration names.
async fn restore(config: &std::path::Path, from: &std::path::Path) -> anyhow::Result<()> {
    let config = ServerConfig::load(config)?;
    anyhow::ensure!(
        !config.join_cluster,
        "this node joins as a learner and takes its state from the leader; restore the voters"
    );
    let mut members = config.member_nodes();
    if members.is_empty() {
        let peer = config
            .cluster
            .peer_listen
            .map_or_else(|| "127.0.0.1:0".to_string(), |address| address.to_string());
        members.insert(
            config.cluster.node_id,
            polis_raft::PeerNode::new(peer, config.listen.to_string()),
        );
    }
    anyhow::ensure!(
        members.contains_key(&config.cluster.node_id),
        "node {} is not among the configured members",
        config.cluster.node_id
    );
    let backup = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let started = polis_raft::restore(&config.data_dir, &backup, members)
        .await
        .with_context(|| format!("restoring into {}", config.data_dir.display()))?;
    println!(
        "restored {} into {}: the cluster goes on from log index {}; start every voter",
        from.display(),
        config.data_dir.display(),
        started.index
    );
    Ok(())
}

async fn serve_until_interrupted(config: ServerConfig) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let server = RunningServer::start(config).await?;
    println!("polis serving clients on {}", server.client_address);
    shutdown.await;
    server.shutdown().await
}

/// SIGINT (Ctrl-C) or SIGTERM, which systemd, container runtimes and Kubernetes send to stop a
/// service: either shuts the node down cleanly (clients' connections closed, plugins stopped,
/// storage checkpointed and closed). The handlers are installed when this is called, before the
/// node starts, so that a signal arriving while it starts is not the default action (an abrupt
/// end) but a shutdown once it has started.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                    _ = interrupt.recv() => tracing::info!("interrupted; shutting down"),
                    _ = terminate.recv() => tracing::info!("terminated; shutting down"),
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(%error, "signal handlers cannot be installed; waiting for Ctrl-C");
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("interrupted; shutting down");
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("interrupted; shutting down");
    }
}

fn init_logging(json: bool) {
    // openraft's core warns of every stale message it ignores (a vote response that arrives
    // after the election is decided, a reply from a replication session a new term replaced):
    // each normal election logs some, which an operator reads as trouble. Its replication
    // streams and its replication handler log every failed call to a peer that is down or
    // paused, every heartbeat, at error and warn level; the peer link logs the outage once instead (`PeerLink::record_answer`). Its other
    // modules keep their warnings; RUST_LOG overrides all of it.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,openraft=warn,openraft::core::raft_core=error,openraft::replication=off,\
             openraft::engine::handler::replication_handler=error",
        )
    });
    // Colours only for a person at a terminal: escape codes in a log file or a journal are noise
    // to every tool that reads it.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::error_report;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid manifest: {0}")]
    struct Wrapping(#[from] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let named_in_the_message = anyhow::Error::from(Wrapping(std::io::Error::other("bad")));
        assert_eq!(error_report(&named_in_the_message), "invalid manifest: bad");
        let layered = anyhow::Error::from(std::io::Error::other("disk full")).context("saving");
        assert_eq!(error_report(&layered), "saving: disk full");
    }
}
