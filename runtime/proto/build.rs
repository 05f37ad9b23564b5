//! Generates the Rust types of the wire schema from `proto/polis.proto`.
//!
//! protox compiles the schema in pure Rust, so building Polis needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/polis.proto");
    let descriptors = protox::compile(["proto/polis.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
