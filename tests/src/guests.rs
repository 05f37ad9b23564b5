//! Plugin guests compiled from source, for tests that deploy plugins to real nodes.
//!
//! The first call in a process runs `scripts/build-guests` (incremental: about a second when
//! nothing changed), which builds the guest workspace `plugins/` for wasm32 into target/guests/
//! with its own cargo and target directory — never this workspace's, whose lock `cargo test`
//! holds. Set `POLIS_GUESTS_DIR` to a folder of prebuilt `<crate>.wasm` files to skip the build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use polis_cli::deploy::PluginPackage;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn guests_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("POLIS_GUESTS_DIR") {
            return PathBuf::from(dir);
        }
        let root = repository();
        let output = Command::new(root.join("scripts/build-guests"))
            .current_dir(&root)
            .output()
            .expect("run scripts/build-guests");
        assert!(
            output.status.success(),
            "scripts/build-guests failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        root.join("target/guests/wasm32-unknown-unknown/release")
    })
}

/// The core module of the guest crate `crate_name`, as built (a core module with the component
/// type embedded; deployment makes it a component).
pub fn core_module(crate_name: &str) -> Vec<u8> {
    let file = guests_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&file).unwrap_or_else(|error| panic!("read {}: {error}", file.display()))
}

/// A deployable package of the guest `crate_name` with a manifest given as TOML.
pub fn package(crate_name: &str, manifest_toml: &str) -> PluginPackage {
    let manifest = polis_cli::deploy::parse_manifest(manifest_toml).expect("valid manifest");
    PluginPackage::new(manifest, &core_module(crate_name)).expect("a valid component")
}
