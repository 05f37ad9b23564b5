//! The wasmtime host of Polis plugins.
//!
//! A plugin is a WebAssembly component of the world `polis:plugin/plugin` (`wit/` at the
//! repository root) with a [`PluginManifest`]: the path prefixes and event kinds that trigger it,
//! the prefixes it may read and write, its resource limits, its retry policy and a config blob.
//! This crate turns (manifest, component bytes, event batch, tree view) into an
//! [`InvocationOutcome`] — the writes the plugin staged, or a typed [`PluginFailure`] — and nothing
//! else: no networking, no storage of its own, no commits. The server feeds it batches, commits
//! the staged writes as one `multi` with the plugin's cursor, and applies the retry policy.
//!
//! ```no_run
//! use polis_plugin_host::{DataTreeView, EngineConfig, EventBatch, PluginEngine, PluginEvent, PluginManifest};
//! use polis_tree::{DataTree, Id, Limits};
//!
//! let engine = PluginEngine::new(EngineConfig::default())?;
//! let manifest = PluginManifest::from_toml(&std::fs::read_to_string("manifest.toml")?)?;
//! let plugin = engine.instantiate(manifest, &std::fs::read("plugin.wasm")?)?;
//! plugin.check_config()?;
//!
//! let tree = DataTree::new(Limits::default());
//! let identities = [Id::new("x509", "CN=district-fanout,O=City")];
//! # let events = vec![];
//! let batch = EventBatch::new(1_700_000_000_000, events);
//! let outcome = plugin.invoke(&batch, &DataTreeView::new(&tree, &identities));
//! match outcome.result {
//!     Ok(staged) => { /* commit staged.ops + the cursor as one multi, as `identities` */ }
//!     Err(failure) => { /* retry as plugin.manifest().retry says */ }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Main types:
//! - [`PluginManifest`]: parsed from TOML or JSON, validated, with defaults.
//! - [`PluginEngine`]: the one wasmtime engine (pooling allocator, fuel, epoch deadlines) and its
//!   compiled-component cache (by SHA-256 of the bytes, in memory and optionally on disk).
//! - [`PluginInstance`]: a plugin ready to run; [`PluginInstance::invoke`] runs one batch in a
//!   fresh store.
//! - [`TreeView`]: how the plugin reads the tree; [`DataTreeView`] over a `&DataTree`.

mod bindings;
mod cache;
mod engine;
mod exchange;
mod host;
mod instance;
mod manifest;
pub mod metrics;
mod outcome;
mod view;

pub use engine::{
    CacheStats, EngineConfig, EngineError, LoadError, LoadSource, LoadedComponent, PluginEngine,
    componentize,
};
pub use host::LOG_LINE_BYTES_MAX;
pub use instance::{PluginInstance, RESERVED_MULTI_OPS};
pub use manifest::{
    CONFIG_LEN_MAX, Capabilities, ConfigBlob, DEADLINE_MS_MAX, ManifestError, OnExhaustion,
    PluginLimits, PluginManifest, RetryDecision, RetryPolicy, STAGED_BYTES_MAX_CEILING,
    TriggerKind, Triggers,
};
pub use outcome::{
    Access, EventBatch, FailureKind, InvocationOutcome, LogLevel, LogLine, PluginEvent,
    PluginFailure, StagedWrites,
};
pub use view::{DataTreeView, TreeView};
