//! Hostile test guest: produces more output than its limits allow. The config picks what:
//! `writes` (many small staged writes), `logs` (many log lines), anything else (64 KiB writes
//! until the staged bytes run out). It returns `Ok` only if the host let everything through.

use polis_plugin_sdk::{Context, WatchEvent};

fn handle(ctx: &mut Context<'_>, _events: &[WatchEvent]) -> Result<(), String> {
    match ctx.config() {
        b"writes" => {
            for i in 0..100_000 {
                ctx.create(&format!("/out/n-{i}"), b"")
                    .map_err(|e| e.to_string())?;
            }
        }
        b"logs" => {
            for i in 0..100_000 {
                ctx.info(format!("log line {i}"));
            }
        }
        _ => {
            let blob = vec![7u8; 64 * 1024];
            for i in 0..1_000 {
                ctx.create(&format!("/out/blob-{i}"), &blob)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

polis_plugin_sdk::export_plugin!(handle = handle);
