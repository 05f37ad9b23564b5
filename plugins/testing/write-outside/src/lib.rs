//! Hostile test guest: touches a path outside its manifest's grants. With config `read` it reads
//! `/secret/key`; otherwise it stages a write to `/secret/key` (after a legitimate one, which must
//! be discarded with the rest).

use polis_plugin_sdk::{Context, WatchEvent};

fn handle(ctx: &mut Context<'_>, _events: &[WatchEvent]) -> Result<(), String> {
    if ctx.config() == b"read" {
        let stolen = ctx.get_data("/secret/key").map_err(|e| e.to_string())?;
        ctx.create("/out/stolen", &stolen.data)
            .map_err(|e| e.to_string())?;
    } else {
        ctx.create("/out/fine", b"ok").map_err(|e| e.to_string())?;
        ctx.set_data("/secret/key", b"overwritten", -1)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

polis_plugin_sdk::export_plugin!(handle = handle);
