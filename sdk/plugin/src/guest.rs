//! The wasm32 side: the exports `export_plugin!` wires up, and the backend over the host's
//! imports.

use std::cell::RefCell;

use crate::bindings::polis::plugin::{clock, log, tree, writes};
use crate::context::{Backend, StagedWrite};
use crate::{Context, Level, Node, Plugin, ReadError, Stat, WatchEvent, WriteError};

thread_local! {
    /// The config `init` accepted, for the `handle-events` call on the same instance.
    static CONFIG: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The `init` export: installs the panic hook and checks the config.
pub fn init<P: Plugin>(config: Vec<u8>) -> Result<(), String> {
    // A panic aborts the instance (panic = "abort"), which the host sees as a bare trap; log the
    // message first so the invocation's outcome says what went wrong.
    std::panic::set_hook(Box::new(|info| {
        log::log(log::Level::Error, &format!("plugin panicked: {info}"));
    }));
    P::init(&config)?;
    CONFIG.with(|slot| *slot.borrow_mut() = config);
    Ok(())
}

/// The `handle-events` export.
pub fn handle_events<P: Plugin>(events: Vec<WatchEvent>) -> Result<(), String> {
    let config = CONFIG.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
    let mut backend = HostBackend;
    let mut ctx = Context::new(&mut backend, &config);
    P::handle(&mut ctx, &events)
}

/// The host's imports.
struct HostBackend;

impl Backend for HostBackend {
    fn get_data(&mut self, path: &str) -> Result<Node, ReadError> {
        tree::get_data(path)
    }

    fn exists(&mut self, path: &str) -> Result<Option<Stat>, ReadError> {
        tree::exists(path)
    }

    fn get_children(&mut self, path: &str) -> Result<Vec<String>, ReadError> {
        tree::get_children(path)
    }

    fn stat(&mut self, path: &str) -> Result<Stat, ReadError> {
        tree::stat(path)
    }

    fn stage(&mut self, write: StagedWrite) -> Result<(), WriteError> {
        match write {
            StagedWrite::Create {
                path,
                data,
                mode,
                acl,
            } => writes::stage_create(&path, &data, mode, &acl),
            StagedWrite::SetData {
                path,
                data,
                version,
            } => writes::stage_set_data(&path, &data, version),
            StagedWrite::Delete { path, version } => writes::stage_delete(&path, version),
            StagedWrite::Check { path, version } => writes::stage_check(&path, version),
        }
    }

    fn log(&mut self, level: Level, message: &str) {
        log::log(level, message);
    }

    fn commit_time_ms(&mut self) -> i64 {
        clock::commit_time()
    }
}
