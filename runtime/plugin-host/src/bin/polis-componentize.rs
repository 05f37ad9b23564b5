//! Turns a plugin's core module (wasm32-unknown-unknown, with the component type wit-bindgen
//! embeds) into a WebAssembly component, as the host does when it loads one:
//!
//! ```sh
//! cargo run -p polis-plugin-host --bin polis-componentize -- plugin.wasm plugin.component.wasm
//! ```
//!
//! A component is copied unchanged.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: polis-componentize CORE_MODULE.wasm OUTPUT_COMPONENT.wasm");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(input) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("polis-componentize: cannot read {input}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let component = match polis_plugin_host::componentize(&bytes) {
        Ok(component) => component,
        Err(error) => {
            eprintln!("polis-componentize: {input}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::write(output, &component) {
        eprintln!("polis-componentize: cannot write {output}: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
