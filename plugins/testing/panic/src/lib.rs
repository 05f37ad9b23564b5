//! Hostile test guest: panics in `handle-events` (after staging a write, which must be
//! discarded). The SDK logs the panic message before the instance aborts.

use polis_plugin_sdk::{Context, WatchEvent};

fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
    ctx.create("/out/before-panic", b"x")
        .map_err(|e| e.to_string())?;
    panic!("deliberate panic after {} events", events.len());
}

polis_plugin_sdk::export_plugin!(handle = handle);
