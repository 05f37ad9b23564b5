//! `polis plugin new|build|test`: writing a plugin, as `spin new` / `spin build` do it.
//!
//! `new` writes the SDK's template (compiled into this binary, so it works from any folder) under
//! a new name; `build` compiles it for `wasm32-unknown-unknown`, choosing the toolchain as
//! `scripts/build-guests` does (rustup's target if installed, otherwise Debian's `rustc-web` with
//! `-Zbuild-std`), with cargo's progress shown; `test` runs its native tests, which drive it
//! through the SDK's in-memory tree (`polis_plugin_sdk::testing::MemoryTree`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

const TEMPLATE_CARGO_TOML: &str = include_str!("../../../../sdk/plugin/template/Cargo.toml");
const TEMPLATE_LIB_RS: &str = include_str!("../../../../sdk/plugin/template/src/lib.rs");
const TEMPLATE_MANIFEST: &str = include_str!("../../../../sdk/plugin/template/manifest.toml");
const TEMPLATE_README: &str = include_str!("../../../../sdk/plugin/template/README.md");
/// The SDK of the source tree this binary was built from: where a new plugin's dependency
/// points unless `--sdk` says otherwise.
const BUILT_SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/plugin");
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The files of a new plugin named `name`, with its SDK dependency at `sdk`, as (relative path,
/// contents). Pure, so that what `new` writes is tested without a file system.
pub fn new_plugin_files(name: &str, sdk: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "{name:?} is not a plugin name: lower-case letters, digits and '-', starting with a letter, at most 64"
        );
    }
    let cargo_toml = TEMPLATE_CARGO_TOML
        .replace(
            "name = \"polis-plugin-template\"",
            &format!("name = \"{name}\""),
        )
        .replace(
            "polis-plugin-sdk = { path = \"..\" }",
            &format!("polis-plugin-sdk = {{ path = {sdk:?} }}"),
        );
    let manifest =
        TEMPLATE_MANIFEST.replace("name = \"event-counter\"", &format!("name = \"{name}\""));
    for (what, replaced, template) in [
        ("Cargo.toml", &cargo_toml, TEMPLATE_CARGO_TOML),
        ("manifest.toml", &manifest, TEMPLATE_MANIFEST),
    ] {
        // The template changed under this code: better a clear error than a half-renamed plugin.
        assert!(
            replaced != template,
            "the template's {what} no longer has the fields `polis plugin new` replaces"
        );
    }
    Ok(vec![
        ("Cargo.toml", cargo_toml),
        ("manifest.toml", manifest),
        ("src/lib.rs", TEMPLATE_LIB_RS.to_string()),
        ("README.md", TEMPLATE_README.to_string()),
    ])
}

/// `polis plugin new NAME`: writes the template into `dir` (default `./NAME`), which must not
/// exist yet.
pub fn new_plugin(name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let sdk = match sdk {
        Some(sdk) => sdk,
        None => PathBuf::from(BUILT_SDK_DIR),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the plugin SDK is not at {} (pass --sdk PATH to polis-plugin-sdk)",
            sdk.display()
        )
    })?;
    let files = new_plugin_files(name, &sdk.to_string_lossy())?;
    for (relative, contents) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("created plugin {name} in {}", dir.display());
    println!(
        "next: cd {} && polis plugin test && polis plugin build",
        dir.display()
    );
    Ok(())
}

/// How `build` compiles for wasm on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// rustup's toolchain, which has the wasm32 target installed.
    Rustup,
    /// Debian's `rustc-web` with the standard library built from `rust-web-src`.
    Debian,
}

fn toolchain() -> anyhow::Result<Toolchain> {
    let rustup_has_target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .any(|line| line.trim() == WASM_TARGET)
        });
    if rustup_has_target {
        return Ok(Toolchain::Rustup);
    }
    if Path::new("/usr/bin/rustc").exists() && which("wasm-ld") {
        return Ok(Toolchain::Debian);
    }
    bail!(
        "no toolchain for {WASM_TARGET}: run `rustup target add {WASM_TARGET}`, or install \
         Debian's rustc-web, cargo-web, rust-web-src and lld"
    )
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// `polis plugin build [DIR]`: compiles the plugin in `dir` for wasm and prints the module's
/// path, which `polis plugin deploy manifest.toml <path>` takes.
pub fn build_plugin(dir: &Path) -> anyhow::Result<()> {
    let name = package_name(dir)?;
    let toolchain = toolchain()?;
    println!("building {name} for {WASM_TARGET} with the {toolchain:?} toolchain ...");
    let mut cargo = match toolchain {
        Toolchain::Rustup => Command::new("cargo"),
        Toolchain::Debian => {
            let mut cargo = Command::new("/usr/bin/cargo");
            cargo
                .env("RUSTC", "/usr/bin/rustc")
                .env("RUSTDOC", "/usr/bin/rustdoc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld");
            cargo
        }
    };
    cargo
        .current_dir(dir)
        .args(["build", "--release", "--target", WASM_TARGET]);
    if toolchain == Toolchain::Debian {
        cargo.arg("-Zbuild-std=std,panic_abort");
    }
    // Host settings of an enclosing build do not apply to the guest.
    for variable in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS"] {
        cargo.env_remove(variable);
    }
    let status = cargo.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let wasm = dir
        .join("target")
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !wasm.exists() {
        bail!("cargo succeeded but {} is missing", wasm.display());
    }
    println!("built {}", wasm.display());
    Ok(())
}

/// `polis plugin test [DIR]`: the plugin's native tests, against the SDK's in-memory tree.
pub fn test_plugin(dir: &Path) -> anyhow::Result<()> {
    let name = package_name(dir)?;
    println!("testing {name} natively (the SDK's in-memory tree) ...");
    let status = Command::new("cargo")
        .current_dir(dir)
        .arg("test")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("the plugin's tests failed ({status})");
    }
    Ok(())
}

/// The package name in `dir/Cargo.toml`.
fn package_name(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    value
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{} names no package", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plugin_is_the_template_under_its_own_name() {
        let files = new_plugin_files("road-closure", "/opt/polis/sdk/plugin").unwrap();
        let file = |name: &str| {
            files
                .iter()
                .find(|(path, _)| *path == name)
                .map(|(_, contents)| contents.as_str())
                .unwrap()
        };
        assert!(file("Cargo.toml").contains("name = \"road-closure\""));
        assert!(file("Cargo.toml").contains("path = \"/opt/polis/sdk/plugin\""));
        assert!(file("manifest.toml").contains("name = \"road-closure\""));
        assert!(file("src/lib.rs").contains("impl Plugin for"));
        let parsed: toml::Value = toml::from_str(file("Cargo.toml")).unwrap();
        assert_eq!(parsed["package"]["name"].as_str(), Some("road-closure"));
    }

    #[test]
    fn a_plugin_name_is_a_crate_name() {
        for bad in [
            "",
            "Road",
            "road closure",
            "../x",
            "9lives",
            &"a".repeat(65),
        ] {
            assert!(new_plugin_files(bad, "/sdk").is_err(), "{bad:?}");
        }
    }
}
