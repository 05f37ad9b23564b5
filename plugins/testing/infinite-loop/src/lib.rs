//! Hostile test guest: `handle-events` never returns. The host must stop it (out of fuel, or
//! past its epoch deadline when fuel is plentiful) and keep serving other plugins.

use polis_plugin_sdk::{Context, WatchEvent};

fn handle(_ctx: &mut Context<'_>, _events: &[WatchEvent]) -> Result<(), String> {
    let mut spins: u64 = 0;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

polis_plugin_sdk::export_plugin!(handle = handle);
