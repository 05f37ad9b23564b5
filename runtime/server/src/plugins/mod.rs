//! Plugins in the server: the runner that executes the deployed plugins on the leader with
//! exactly-once effects. Deploying them is the client's (`polis_cli::deploy`).
//!
//! - Where plugins live under `/polis/plugins` and what is stored there is
//!   [`polis_plugin_layout`], shared with the client side; `revisions.rs` decides which stored
//!   revision runs, `log_lines.rs` how much of a plugin's log is kept.
//! - [`PluginRunner`]: on the leader, one worker per deployed plugin (`worker.rs`) takes batches
//!   of events from the change history (`batch.rs`), runs the plugin in the wasmtime host
//!   (`polis_plugin_host`) and commits its writes with its cursor as one conditioned multi;
//!   `clock.rs` ticks `/polis/clock` for plugins that need time to pass.

mod batch;
mod clock;
mod log_lines;
mod revisions;
mod runner;
mod view;
mod worker;

pub use self::runner::{DEPLOYED_PLUGINS_MAX, PluginRunner};
