//! [`PluginInstance`]: a deployed plugin (manifest + compiled component), and its invocations.
//!
//! Every invocation gets a fresh `Store` — fresh linear memory, the manifest's fuel, an epoch
//! deadline, a resource limiter — so nothing leaks from one batch into the next and a failing
//! invocation fails alone. Its reads are served from a borrowed view through
//! [`crate::exchange`]; the host functions are in [`crate::host`], one module per WIT interface.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{PoolConcurrencyLimitError, Store, Trap};

use crate::bindings::types;
use crate::engine::LoadedComponent;
use crate::exchange::{Exchange, drive};
use crate::host::{HostState, event_kind};
use crate::view::EmptyView;
use crate::{
    EventBatch, InvocationOutcome, LogLevel, LogLine, PluginEngine, PluginFailure, PluginManifest,
    StagedWrites, TreeView, metrics,
};

/// Operations the commit adds to a plugin's staged writes (the cursor update, the status and the
/// log), so a plugin may stage at most the tree's `multi_ops_max` less this.
pub const RESERVED_MULTI_OPS: usize = 3;

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
