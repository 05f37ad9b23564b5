//! The guest SDK of Polis plugins.
//!
//! A Polis plugin is a WebAssembly component that the server runs whenever watch events arrive
//! under the path prefixes it subscribed to. With this crate a plugin is a plain Rust function:
//!
//! ```
//! use polis_plugin_sdk::{Context, EventKind, WatchEvent};
//!
//! /// Copies every created or changed node under /in to the same name under /out.
//! fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
//!     for event in events {
//!         let (EventKind::NodeCreated | EventKind::NodeDataChanged) = event.kind else { continue };
//!         let Some(data) = &event.data else { continue };
//!         let name = event.path.rsplit('/').next().unwrap_or_default();
//!         ctx.info(format!("copying {}", event.path));
//!         ctx.upsert(&format!("/out/{name}"), data).map_err(|e| e.to_string())?;
//!     }
//!     Ok(())
//! }
//!
//! // In the plugin's crate (a `cdylib` built for wasm32-unknown-unknown):
//! // polis_plugin_sdk::export_plugin!(handle = handle);
//!
//! // And natively, in its tests:
//! let mut tree = polis_plugin_sdk::testing::MemoryTree::new();
//! tree.create("/out", b"");
//! tree.create("/in", b"");
//! let events = tree.create("/in/a", b"hello"); // /in/a created, /in's children changed
//! let run = tree.run_fn(handle, b"", &events).unwrap();
//! assert_eq!(run.staged.len(), 1);
//! assert_eq!(tree.get("/out/a").as_deref(), Some(&b"hello"[..]));
//! ```
//!
//! # What a plugin can do
//!
//! Through its [`Context`] a plugin reads the tree (as the identities it runs as, within the
//! manifest's readable prefixes), stages writes (within its writable prefixes), logs, and reads the
//! batch's commit time. Staged writes are not applied at once: after `handle` returns `Ok`, the
//! server commits all of them in one `multi`, together with the plugin's event cursor, so a batch's
//! effects happen exactly once or not at all. Reads therefore do not see the writes staged before
//! them. `handle` returning `Err` (or panicking) discards the staged writes, and the server retries
//! the batch as the manifest's retry policy says.
//!
//! Every invocation runs in a fresh instance: `init` (the config check) runs, then `handle`, and
//! nothing in memory survives to the next batch. Durable state belongs in the tree. There is no
//! WASI: no files, no network, no wall clock, no randomness — a plugin is a deterministic function
//! of its events, the tree it reads and its config.
//!
//! # Registering the plugin
//!
//! [`export_plugin!`] exports the functions the host calls, either from a type implementing
//! [`Plugin`] or from plain functions:
//!
//! ```ignore
//! polis_plugin_sdk::export_plugin!(MyPlugin);                     // MyPlugin: Plugin
//! polis_plugin_sdk::export_plugin!(handle = handle);              // fn handle(&mut Context, &[WatchEvent])
//! polis_plugin_sdk::export_plugin!(handle = handle, init = init); // fn init(&[u8]) -> Result<(), String>
//! ```
//!
//! # Building
//!
//! A plugin crate is a `cdylib` built for `wasm32-unknown-unknown` with `panic = "abort"`; the
//! result is a core module with the component type embedded, which the Polis host accepts as it is
//! and turns into a component (or turn it into one yourself with the host's `polis-componentize`
//! tool). `sdk/plugin/template/` is a crate to start from; `scripts/build-guests` builds this
//! repository's plugins.
//!
//! # Testing
//!
//! Off wasm32 (a plugin's own `cargo test`), [`testing::MemoryTree`] runs the same function
//! against an in-memory tree with the server's semantics, then commits the staged writes as the
//! server would.

// The generated bindings refer to this crate by name, also from inside it.
extern crate self as polis_plugin_sdk;

#[allow(unsafe_code, missing_docs, missing_debug_implementations, clippy::all)]
pub mod bindings;
mod context;
#[cfg(target_arch = "wasm32")]
mod guest;
pub mod staging;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use bindings::polis::plugin::log::Level;
pub use bindings::polis::plugin::tree::ReadError;
pub use bindings::polis::plugin::types::{EventKind, Node, NodeStat as Stat, WatchEvent};
pub use bindings::polis::plugin::writes::{AclPreset, CreateMode, WriteError};
pub use context::{Context, StagedWrite, UpsertError};
pub use staging::Staging;

/// A plugin: what runs when a batch of watch events arrives.
///
/// Both functions are associated functions rather than methods, because every invocation runs in a
/// fresh instance and no state lives between batches; the config blob is at [`Context::config`].
pub trait Plugin {
    /// Checks the manifest's config blob. It runs on every fresh instance before
    /// [`Plugin::handle`], and once when the plugin is deployed: an error rejects the deployment.
    /// The default accepts any config.
    fn init(config: &[u8]) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Reacts to one batch of events (in zxid order) by reading the tree and staging writes.
    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String>;
}

/// Exports a plugin from this crate: the functions the Polis host calls.
///
/// ```ignore
/// polis_plugin_sdk::export_plugin!(MyPlugin);                     // MyPlugin: polis_plugin_sdk::Plugin
/// polis_plugin_sdk::export_plugin!(handle = handle);              // plain function
/// polis_plugin_sdk::export_plugin!(handle = handle, init = init); // with a config check
/// ```
///
/// Use it once, in a `cdylib` crate built for wasm32. On other targets it expands to nothing, so
/// the same crate also compiles (and unit-tests) natively.
#[macro_export]
macro_rules! export_plugin {
    (handle = $handle:path $(, init = $init:path)? $(,)?) => {
        // Also a use of the functions off wasm32, where nothing else calls them.
        const _: fn(
            &mut $crate::Context<'_>,
            &[$crate::WatchEvent],
        ) -> ::core::result::Result<(), ::std::string::String> = $handle;
        $(
            const _: fn(&[u8]) -> ::core::result::Result<(), ::std::string::String> = $init;
        )?
        const _: () = {
            #[allow(dead_code)]
            struct __PolisPluginFunctions;
            impl $crate::Plugin for __PolisPluginFunctions {
                $(
                    fn init(config: &[u8]) -> ::core::result::Result<(), ::std::string::String> {
                        $init(config)
                    }
                )?
                fn handle(
                    ctx: &mut $crate::Context<'_>,
                    events: &[$crate::WatchEvent],
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $handle(ctx, events)
                }
            }
            $crate::export_plugin!(__PolisPluginFunctions);
        };
    };
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PolisPluginExport;
            impl $crate::bindings::Guest for __PolisPluginExport {
                fn init(
                    config: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$plugin>(config)
                }
                fn handle_events(
                    events: ::std::vec::Vec<$crate::WatchEvent>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::handle_events::<$plugin>(events)
                }
            }
            $crate::bindings::__export_polis_plugin_world!(
                __PolisPluginExport with_types_in $crate::bindings
            );
        };
    };
}

/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    #[cfg(target_arch = "wasm32")]
    pub use crate::guest::{handle_events, init};
}
