//! Hostile test guest: allocates (and touches) memory one MiB at a time until the host refuses
//! to grow its linear memory.

use polis_plugin_sdk::{Context, WatchEvent};

fn handle(_ctx: &mut Context<'_>, _events: &[WatchEvent]) -> Result<(), String> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[hoard.len() % (1 << 20)] = 1;
        hoard.push(std::hint::black_box(chunk));
    }
}

polis_plugin_sdk::export_plugin!(handle = handle);
