//! Plugins in the server: deployment records in the tree, and the runner that executes them on
//! the leader with exactly-once effects.
//!
//! - Where plugins live under `/polis/plugins` and what is stored there is
//!   [`polis_plugin_layout`], shared with the client side; `revisions.rs` decides which stored
//!   revision runs, `log_lines.rs` how much of a plugin's log is kept.
//! - [`deploy`]: deploy, upgrade, roll back, resume and remove plugins through a client (what
//!   `polis plugin …` does).
//! - [`PluginRunner`]: on the leader, one worker per deployed plugin (`worker.rs`) takes batches
//!   of events from the change history (`batch.rs`), runs the plugin in the wasmtime host
//!   (`polis_plugin_host`) and commits its writes with its cursor as one conditioned multi;
//!   `clock.rs` ticks `/polis/clock` for plugins that need time to pass.

mod batch;
mod clock;
pub mod deploy;
mod log_lines;
mod revisions;
mod runner;
mod view;
mod worker;

pub use self::runner::{DEPLOYED_PLUGINS_MAX, PluginRunner};
