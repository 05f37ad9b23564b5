//! The store's data of one invocation ([`HostState`]) and the host side of the WIT interfaces
//! (`wit/plugin.wit`): one module per interface, as Spin and wasmtime's WASI lay theirs out.

mod clock;
mod log;
mod tree;
mod types;
mod writes;

use std::sync::{Arc, Mutex};
use std::task::Poll;

use polis_tree::{WriteOp, path};
use wasmtime::ResourceLimiter;

use crate::bindings::tree as wit_tree;
use crate::exchange::{Exchange, ReadRequest, ReadResponse};
use crate::{Access, LogLine, PluginFailure, PluginManifest};

pub use self::log::LOG_LINE_BYTES_MAX;
pub(crate) use self::types::event_kind;

/// The most elements a plugin's tables may grow to.
const TABLE_ELEMENTS_MAX: usize = 20_000;

/// What one invocation's store holds: the plugin's manifest, the read exchange with the invoking
/// thread, the tree's bounds, and what the guest staged and logged so far.
pub(crate) struct HostState {
    pub(crate) manifest: Arc<PluginManifest>,
    pub(crate) exchange: Arc<Mutex<Exchange>>,
    pub(crate) commit_time_ms: i64,
    pub(crate) path_len_max: usize,
    pub(crate) data_len_max: usize,
    pub(crate) ttl_max_ms: i64,
    pub(crate) staged_writes_max: usize,
    pub(crate) staged: Vec<WriteOp>,
    pub(crate) staged_bytes: u64,
    pub(crate) logs: Vec<LogLine>,
    /// Why the host ended the invocation, when it did (the trap then only carries this).
    pub(crate) failure: Option<PluginFailure>,
}

impl HostState {
    /// Records why the invocation ends and returns the error that traps the guest.
    fn fail(&mut self, failure: PluginFailure) -> wasmtime::Error {
        let error = wasmtime::Error::msg(failure.to_string());
        self.failure.get_or_insert(failure);
        error
    }

    /// Validates a read's path (an error the guest may handle) and checks the capability (a
    /// violation that ends the invocation).
    fn check_read(&mut self, node_path: &str) -> wasmtime::Result<Result<(), wit_tree::ReadError>> {
        if let Err(error) = path::validate(node_path, self.path_len_max) {
            return Ok(Err(wit_tree::ReadError::InvalidPath(error.to_string())));
        }
        if !self.manifest.capabilities.can_read(node_path) {
            return Err(self.fail(PluginFailure::CapabilityViolation {
                access: Access::Read,
                path: node_path.to_string(),
            }));
        }
        Ok(Ok(()))
    }

    /// Hands a read to the invoking thread and waits (suspended) for the answer.
    async fn read(&mut self, request: ReadRequest) -> ReadResponse {
        self.exchange.lock().expect("exchange lock").request = Some(request);
        let exchange = self.exchange.clone();
        std::future::poll_fn(move |_| {
            match exchange.lock().expect("exchange lock").response.take() {
                Some(response) => Poll::Ready(response),
                None => Poll::Pending,
            }
        })
        .await
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes_max = self.manifest.limits.memory_bytes_max;
        if desired as u64 > bytes_max {
            return Err(self.fail(PluginFailure::MemoryLimit { bytes_max }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > TABLE_ELEMENTS_MAX {
            let bytes_max = self.manifest.limits.memory_bytes_max;
            return Err(self.fail(PluginFailure::MemoryLimit { bytes_max }));
        }
        Ok(true)
    }
}
