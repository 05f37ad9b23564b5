//! `polis`: the Polis server, its dev mode, its certificate authority, and the client commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use polis_security::CertificateAuthority;
use polis_server::dev::{DEV_DIR_DEFAULT, DevLayout};
use polis_server::{RunningServer, ServerConfig};

mod cli;

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
    /// Manage the private certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
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
            layout.write_profile(&addresses)?;
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
        Command::Client(command) => cli::run(command).await,
    }
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
