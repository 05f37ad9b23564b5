//! [`PluginInstance`]: a deployed plugin (manifest + compiled component), and its invocations.
//!
//! Every invocation gets a fresh `Store` — fresh linear memory, the manifest's fuel, an epoch
//! deadline, a resource limiter — so nothing leaks from one batch into the next and a failing
//! invocation fails alone.
//!
//! # Serving reads from a borrowed view
//!
//! Wasmtime requires a store's data to be `'static`, but [`TreeView`] is borrowed for the
//! invocation (typically a `&DataTree`). The host functions are therefore `async`: a read puts its
//! request in a small exchange slot and returns `Pending`, which suspends the guest's fiber and
//! hands control back to [`drive`], the loop polling the call on the invoking thread. That loop
//! holds the view, answers the request, and polls again; the guest resumes with the answer. All
//! of it happens on the calling thread with no executor and no `unsafe`, and costs one fiber
//! switch per read.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use polis_tree::{Acl, CreateMode as TreeCreateMode, Id, Perms, Stat, TreeError, WriteOp, path};
use wasmtime::{PoolConcurrencyLimitError, ResourceLimiter, Store, Trap};

use crate::bindings::{clock, log, tree, types, writes};
use crate::engine::LoadedComponent;
use crate::view::EmptyView;
use crate::{
    Access, EventBatch, InvocationOutcome, LogLevel, LogLine, PluginEngine, PluginFailure,
    PluginManifest, StagedWrites, TreeView, metrics,
};

/// Operations the commit adds to a plugin's staged writes (the cursor update, the status and the
/// log), so a plugin may stage at most the tree's `multi_ops_max` less this.
pub const RESERVED_MULTI_OPS: usize = 3;
/// Log lines longer than this many bytes are cut.
pub const LOG_LINE_BYTES_MAX: usize = 4096;
/// The most elements a plugin's tables may grow to.
const TABLE_ELEMENTS_MAX: usize = 20_000;

/// A plugin ready to run: its manifest and compiled component, bound to an engine. Cheap to
/// clone; [`PluginInstance::invoke`] may run on many threads at once (up to the engine's
/// `max_concurrent_invocations`).
#[derive(Clone, Debug)]
pub struct PluginInstance {
    engine: PluginEngine,
    manifest: Arc<PluginManifest>,
    component: LoadedComponent,
}

impl PluginInstance {
    pub(crate) fn new(
        engine: PluginEngine,
        manifest: PluginManifest,
        component: LoadedComponent,
    ) -> PluginInstance {
        PluginInstance {
            engine,
            manifest: Arc::new(manifest),
            component,
        }
    }

    pub fn manifest(&self) -> &PluginManifest {
        &self.manifest
    }

    pub fn component(&self) -> &LoadedComponent {
        &self.component
    }

    /// Runs `init` alone with the manifest's config, against an empty tree: the deployment-time
    /// check that the plugin accepts its config.
    pub fn check_config(&self) -> Result<(), PluginFailure> {
        self.run(&EmptyView::default(), 0, None).result.map(|_| ())
    }

    /// Runs the plugin on one batch: a fresh instance, `init(config)`, then
    /// `handle-events(events)`, reading through `view`. Returns the staged writes (for the caller
    /// to commit as one `multi` with the plugin's cursor) or why it failed, with the logs and the
    /// fuel used either way. It never panics because of the guest.
    pub fn invoke(&self, batch: &EventBatch, view: &dyn TreeView) -> InvocationOutcome {
        let max = self.manifest.limits.events_per_batch_max as usize;
        if batch.events.len() > max {
            let outcome = InvocationOutcome {
                plugin: self.manifest.name.clone(),
                result: Err(PluginFailure::InvalidBatch(format!(
                    "{} events, more than events_per_batch_max = {max}",
                    batch.events.len()
                ))),
                logs: Vec::new(),
                fuel_used: 0,
                elapsed: Duration::ZERO,
            };
            metrics::invocation(&outcome, 0);
            return outcome;
        }
        let events: Vec<types::WatchEvent> = batch
            .events
            .iter()
            .map(|event| types::WatchEvent {
                path: event.path.clone(),
                kind: event_kind(event.kind),
                zxid: event.zxid,
                data: event.data.clone(),
            })
            .collect();
        self.run(view, batch.commit_time_ms, Some(&events))
    }

    fn run(
        &self,
        view: &dyn TreeView,
        commit_time_ms: i64,
        events: Option<&[types::WatchEvent]>,
    ) -> InvocationOutcome {
        let started = Instant::now();
        let inner = &self.engine.inner;
        let limits = &self.manifest.limits;
        let tree_limits = view.limits();
        let exchange = Arc::new(Mutex::new(Exchange::default()));
        let state = HostState {
            manifest: self.manifest.clone(),
            exchange: exchange.clone(),
            commit_time_ms,
            path_len_max: tree_limits.path_len_max,
            data_len_max: tree_limits.data_len_max,
            ttl_max_ms: tree_limits.ttl_max_ms,
            staged_writes_max: (limits.staged_writes_max as usize)
                .min(tree_limits.multi_ops_max.saturating_sub(RESERVED_MULTI_OPS)),
            staged: Vec::new(),
            staged_bytes: 0,
            logs: Vec::new(),
            failure: None,
        };
        let mut store = Store::new(&inner.engine, state);
        store.limiter(|state| state);
        let fuel = limits.fuel_per_invocation;
        store
            .set_fuel(fuel)
            .expect("the engine is configured with fuel");
        let tick_ms = inner.config.epoch_tick.as_millis().max(1) as u64;
        // One more tick than the deadline needs, since the current tick may be nearly over.
        store.set_epoch_deadline(limits.deadline_ms.div_ceil(tick_ms) + 1);
        store.epoch_deadline_trap();

        let config = self.manifest.config.as_bytes();
        let pre = &self.component.compiled.pre;
        let result = {
            let store = &mut store;
            let call = async move {
                let plugin = pre.instantiate_async(&mut *store).await?;
                if let Err(message) = plugin.call_init(&mut *store, config).await? {
                    return Ok(Err(format!("init: {message}")));
                }
                match events {
                    Some(events) => plugin.call_handle_events(&mut *store, events).await,
                    None => Ok(Ok(())),
                }
            };
            drive(
                call,
                &exchange,
                view,
                Duration::from_millis(limits.deadline_ms),
            )
        };
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let state = store.into_data();
        let result = match (result, state.failure) {
            // A failure the host recorded (capability, output, memory) explains any trap.
            (_, Some(failure)) => Err(failure),
            (Ok(Ok(())), None) => Ok(StagedWrites {
                ops: state.staged,
                bytes: state.staged_bytes,
            }),
            (Ok(Err(message)), None) => Err(PluginFailure::GuestError(message)),
            (Err(error), None) => Err(explained(classify(&error, &self.manifest), &state.logs)),
        };
        let outcome = InvocationOutcome {
            plugin: self.manifest.name.clone(),
            result,
            logs: state.logs,
            fuel_used,
            elapsed: started.elapsed(),
        };
        metrics::invocation(&outcome, events.map_or(0, <[_]>::len));
        outcome
    }
}

/// What the SDK's panic hook logs before the instance aborts (`sdk/plugin/src/guest.rs`).
const PANIC_LOG_PREFIX: &str = "plugin panicked: ";

/// A trap as the guest explained it: a panic aborts the instance, which the host sees only as
/// `unreachable` executed, so the panic message the SDK logged just before is the reason an
/// operator needs, in the status and the dead letter, not only in the logs.
fn explained(failure: PluginFailure, logs: &[LogLine]) -> PluginFailure {
    let PluginFailure::Trap { message } = failure else {
        return failure;
    };
    let panic = logs
        .iter()
        .rev()
        .find(|line| line.level == LogLevel::Error && line.message.starts_with(PANIC_LOG_PREFIX));
    match panic {
        Some(line) => PluginFailure::Trap {
            message: format!("{} ({message})", line.message),
        },
        None => PluginFailure::Trap { message },
    }
}

/// The failure a wasmtime error means, when the host recorded none.
fn classify(error: &wasmtime::Error, manifest: &PluginManifest) -> PluginFailure {
    if error.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        return PluginFailure::Unavailable(error.to_string());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PluginFailure::FuelExhausted {
            fuel: manifest.limits.fuel_per_invocation,
        },
        Some(Trap::Interrupt) => PluginFailure::DeadlineExceeded {
            deadline_ms: manifest.limits.deadline_ms,
        },
        Some(trap) => PluginFailure::Trap {
            message: trap.to_string(),
        },
        None => PluginFailure::Trap {
            message: format!("{error:#}"),
        },
    }
}

// --------------------------------------------------------------------------------------------
// The exchange between the guest's fiber and the invoking thread.

#[derive(Debug)]
enum ReadRequest {
    GetData(String),
    Exists(String),
    GetChildren(String),
}

#[derive(Debug)]
enum ReadResponse {
    Data(Result<(Vec<u8>, Stat), TreeError>),
    Exists(Result<Option<Stat>, TreeError>),
    Children(Result<Vec<String>, TreeError>),
}

#[derive(Debug, Default)]
struct Exchange {
    request: Option<ReadRequest>,
    response: Option<ReadResponse>,
}

/// Polls `call` to completion on this thread, answering the guest's reads from `view` whenever
/// it suspends. The guest only suspends to read, so a suspension without a request means
/// something else went wrong; after `patience` of those the call is abandoned (dropping it
/// unwinds the guest).
fn drive<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    exchange: &Mutex<Exchange>,
    view: &dyn TreeView,
    patience: Duration,
) -> wasmtime::Result<T> {
    let mut call = std::pin::pin!(call);
    let mut cx = Context::from_waker(Waker::noop());
    let mut idle_since: Option<Instant> = None;
    loop {
        if let Poll::Ready(output) = call.as_mut().poll(&mut cx) {
            return output;
        }
        let request = exchange.lock().expect("exchange lock").request.take();
        match request {
            Some(request) => {
                idle_since = None;
                let response = match request {
                    ReadRequest::GetData(node_path) => {
                        ReadResponse::Data(view.get_data(&node_path))
                    }
                    ReadRequest::Exists(node_path) => ReadResponse::Exists(view.exists(&node_path)),
                    ReadRequest::GetChildren(node_path) => {
                        ReadResponse::Children(view.get_children(&node_path))
                    }
                };
                exchange.lock().expect("exchange lock").response = Some(response);
            }
            None => {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > patience {
                    return Err(wasmtime::Error::msg(
                        "the plugin suspended without a request to serve",
                    ));
                }
                std::thread::yield_now();
            }
        }
    }
}

// --------------------------------------------------------------------------------------------
// The store's data and the host functions.

pub(crate) struct HostState {
    manifest: Arc<PluginManifest>,
    exchange: Arc<Mutex<Exchange>>,
    commit_time_ms: i64,
    path_len_max: usize,
    data_len_max: usize,
    ttl_max_ms: i64,
    staged_writes_max: usize,
    staged: Vec<WriteOp>,
    staged_bytes: u64,
    logs: Vec<LogLine>,
    /// Why the host ended the invocation, when it did (the trap then only carries this).
    failure: Option<PluginFailure>,
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
    fn check_read(&mut self, node_path: &str) -> wasmtime::Result<Result<(), tree::ReadError>> {
        if let Err(error) = path::validate(node_path, self.path_len_max) {
            return Ok(Err(tree::ReadError::InvalidPath(error.to_string())));
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

    /// Stages one write after checking its path, capability, arguments and the output limits.
    fn stage(
        &mut self,
        op: WriteOp,
        sequential: bool,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let node_path = op.path();
        if let Err(error) = path::validate(node_path, self.path_len_max) {
            return Ok(Err(writes::WriteError::InvalidPath(error.to_string())));
        }
        // A sequential create makes a sibling of the path it names: its parent must be writable.
        let checked = if sequential {
            path::parent(node_path)
        } else {
            node_path
        };
        if !self.manifest.capabilities.can_write(checked) {
            let node_path = node_path.to_string();
            return Err(self.fail(PluginFailure::CapabilityViolation {
                access: Access::Write,
                path: node_path,
            }));
        }
        let invalid = |reason: String| Ok(Err(writes::WriteError::InvalidArgument(reason)));
        let (data_len, version) = match &op {
            WriteOp::Create { data, mode, .. } => {
                if let Some(ttl_ms) = mode.ttl_ms()
                    && (ttl_ms <= 0 || ttl_ms > self.ttl_max_ms)
                {
                    return invalid(format!(
                        "TTL {ttl_ms} ms is outside 1..={}",
                        self.ttl_max_ms
                    ));
                }
                (data.as_ref().map_or(0, Vec::len), -1)
            }
            WriteOp::SetData { data, version, .. } => (data.as_ref().map_or(0, Vec::len), *version),
            WriteOp::Delete { version, .. } | WriteOp::Check { version, .. } => (0, *version),
            WriteOp::SetAcl { version, .. } => (0, *version),
        };
        if data_len > self.data_len_max {
            return invalid(format!(
                "data of {data_len} bytes is longer than data_len_max ({})",
                self.data_len_max
            ));
        }
        if version < -1 {
            return invalid(format!("version {version} is below -1"));
        }
        if self.staged.len() >= self.staged_writes_max {
            let max = self.staged_writes_max as u64;
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "staged_writes_max",
                max,
            }));
        }
        let bytes = (node_path.len() + data_len) as u64;
        let bytes_max = self.manifest.limits.staged_bytes_max;
        if self.staged_bytes + bytes > bytes_max {
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "staged_bytes_max",
                max: bytes_max,
            }));
        }
        self.staged_bytes += bytes;
        self.staged.push(op);
        Ok(Ok(()))
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

impl types::Host for HostState {}

impl tree::Host for HostState {
    async fn get_data(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<types::Node, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::GetData(node_path)).await {
            ReadResponse::Data(Ok((data, stat))) => Ok(Ok(types::Node {
                data,
                stat: node_stat(stat),
            })),
            ReadResponse::Data(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn exists(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<Option<types::NodeStat>, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::Exists(node_path)).await {
            ReadResponse::Exists(Ok(stat)) => Ok(Ok(stat.map(node_stat))),
            ReadResponse::Exists(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn get_children(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<Vec<String>, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::GetChildren(node_path)).await {
            ReadResponse::Children(Ok(children)) => Ok(Ok(children)),
            ReadResponse::Children(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn stat(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<types::NodeStat, tree::ReadError>> {
        Ok(match self.exists(node_path).await? {
            Ok(Some(stat)) => Ok(stat),
            Ok(None) => Err(tree::ReadError::NoNode),
            Err(error) => Err(error),
        })
    }
}

impl writes::Host for HostState {
    async fn stage_create(
        &mut self,
        node_path: String,
        data: Vec<u8>,
        mode: writes::CreateMode,
        acl: writes::AclPreset,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let (mode, sequential) = match mode {
            writes::CreateMode::Persistent => (TreeCreateMode::Persistent, false),
            writes::CreateMode::PersistentSequential => {
                (TreeCreateMode::PersistentSequential, true)
            }
            writes::CreateMode::Container => (TreeCreateMode::Container, false),
            writes::CreateMode::PersistentWithTtl(ttl_ms) => {
                (TreeCreateMode::PersistentWithTtl { ttl_ms }, false)
            }
            writes::CreateMode::PersistentSequentialWithTtl(ttl_ms) => {
                (TreeCreateMode::PersistentSequentialWithTtl { ttl_ms }, true)
            }
        };
        let acl = match acl_of(acl) {
            Ok(acl) => acl,
            Err(reason) => return Ok(Err(writes::WriteError::InvalidArgument(reason))),
        };
        // The WIT interface has no null data: a plugin's node always has data, perhaps empty.
        let op = WriteOp::Create {
            path: node_path,
            data: Some(data),
            acl,
            mode,
        };
        self.stage(op, sequential)
    }

    async fn stage_set_data(
        &mut self,
        node_path: String,
        data: Vec<u8>,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::SetData {
            path: node_path,
            data: Some(data),
            version,
        };
        self.stage(op, false)
    }

    async fn stage_delete(
        &mut self,
        node_path: String,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::Delete {
            path: node_path,
            version,
        };
        self.stage(op, false)
    }

    async fn stage_check(
        &mut self,
        node_path: String,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::Check {
            path: node_path,
            version,
        };
        self.stage(op, false)
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, mut message: String) -> wasmtime::Result<()> {
        let max = self.manifest.limits.log_lines_max;
        if self.logs.len() >= max as usize {
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "log_lines_max",
                max: u64::from(max),
            }));
        }
        if message.len() > LOG_LINE_BYTES_MAX {
            let mut cut = LOG_LINE_BYTES_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(LogLine { level, message });
        Ok(())
    }
}

impl clock::Host for HostState {
    async fn commit_time(&mut self) -> wasmtime::Result<i64> {
        Ok(self.commit_time_ms)
    }
}

// --------------------------------------------------------------------------------------------
// Conversions.

/// The ACL a preset stands for, or why the preset is refused. `auth` entries are ZooKeeper's
/// "the caller's identities": the tree expands them to the identities the commit runs as.
pub fn acl_of(preset: writes::AclPreset) -> Result<Vec<Acl>, String> {
    let creator = Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""));
    let world_read = Acl::new(Perms::READ, Id::anyone());
    Ok(match preset {
        writes::AclPreset::CreatorAll => vec![creator],
        writes::AclPreset::CreatorAllWorldRead => vec![creator, world_read],
        writes::AclPreset::CreatorAllWorldReadAndWriter(subject) => {
            check_granted_subject(&subject)?;
            let writer = Perms(Perms::READ.0 | Perms::WRITE.0);
            vec![
                creator,
                world_read,
                Acl::new(writer, Id::new(Id::SCHEME_X509, subject)),
            ]
        }
        writes::AclPreset::Open => Acl::open().to_vec(),
    })
}

/// A plugin may grant write access to a client's certificate subject, never to a node's or
/// another plugin's (`OU=node`, `OU=plugin`): those identities carry the cluster's and the
/// plugins' own powers, and a plugin must not extend them. Checked on the subject as text, which
/// refuses more than the parsed subject would (an `OU=node` inside another value included).
fn check_granted_subject(subject: &str) -> Result<(), String> {
    if subject.trim().is_empty() {
        return Err("an ACL grant needs a certificate subject".to_string());
    }
    let lower = subject.to_ascii_lowercase();
    if lower.contains("ou=node") || lower.contains("ou=plugin") {
        return Err(format!(
            "a plugin may not grant access to a node or plugin identity ({subject})"
        ));
    }
    Ok(())
}

fn read_error(error: TreeError) -> tree::ReadError {
    match error {
        TreeError::NoNode { .. } => tree::ReadError::NoNode,
        TreeError::NoAuth { .. } => tree::ReadError::NoAuth,
        other => tree::ReadError::InvalidPath(other.to_string()),
    }
}

fn event_kind(kind: polis_tree::EventKind) -> types::EventKind {
    match kind {
        polis_tree::EventKind::NodeCreated => types::EventKind::NodeCreated,
        polis_tree::EventKind::NodeDeleted => types::EventKind::NodeDeleted,
        polis_tree::EventKind::NodeDataChanged => types::EventKind::NodeDataChanged,
        polis_tree::EventKind::NodeChildrenChanged => types::EventKind::NodeChildrenChanged,
    }
}

fn node_stat(stat: Stat) -> types::NodeStat {
    types::NodeStat {
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        ctime: stat.ctime,
        mtime: stat.mtime,
        version: stat.version,
        cversion: stat.cversion,
        aversion: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
        pzxid: stat.pzxid,
    }
}

#[cfg(test)]
mod acl_grant_tests {
    use super::*;

    #[test]
    fn a_plugin_grants_write_to_a_client_subject_but_never_to_a_node_or_plugin() {
        let granted = acl_of(writes::AclPreset::CreatorAllWorldReadAndWriter(
            "CN=harbor,O=Polis".to_string(),
        ))
        .expect("a client subject");
        assert!(granted.iter().any(|entry| entry.id
            == Id::new(Id::SCHEME_X509, "CN=harbor,O=Polis")
            && entry.perms.contains(Perms::WRITE)
            && !entry.perms.contains(Perms::DELETE)));
        for refused in ["", "CN=n1,OU=node,O=Polis", "CN=fanout,ou=Plugin,O=Polis"] {
            assert!(
                acl_of(writes::AclPreset::CreatorAllWorldReadAndWriter(
                    refused.to_string()
                ))
                .is_err(),
                "{refused:?}"
            );
        }
    }
}
