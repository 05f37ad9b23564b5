//! The client commands of `polis` (ls, get, set, create, rm, stat, watch, acl, multi).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {}

pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {}
}
