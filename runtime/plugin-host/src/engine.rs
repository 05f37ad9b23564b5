//! [`PluginEngine`]: one wasmtime engine for every plugin of a host, and its component cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::{Plugin, PluginPre};
use crate::cache::{DiskCache, hex, sha256};
use crate::host::HostState;
use crate::{PluginInstance, PluginManifest, metrics};

/// How a host's engine is set up. The defaults suit a server node; every field is documented
/// with its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Where compiled components are kept across restarts; `None` (the default) keeps them in
    /// memory only.
    pub cache_dir: Option<PathBuf>,
    /// Invocations that may run at once (the pooling allocator's instance slots). More fail with
    /// [`crate::PluginFailure::Unavailable`]. Default 16.
    pub max_concurrent_invocations: u32,
    /// The largest linear memory any plugin may have, in bytes: each slot reserves this much
    /// address space (not memory). A manifest may ask for at most this. Default 256 MiB.
    pub memory_bytes_max: u64,
    /// How often the epoch advances: deadlines are enforced to within one tick. Default 5 ms.
    pub epoch_tick: Duration,
    /// The WebAssembly stack of one invocation, in bytes. Default 512 KiB.
    pub wasm_stack_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            cache_dir: None,
            max_concurrent_invocations: 16,
            memory_bytes_max: 256 * 1024 * 1024,
            epoch_tick: Duration::from_millis(5),
            wasm_stack_bytes: 512 * 1024,
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid engine configuration: {0}")]
    Config(String),
    #[error("cannot use the compiled-component cache directory: {0}")]
    CacheDir(#[from] std::io::Error),
}

/// Why a plugin could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component or core module")]
    NotWasm,
    #[error("the core module cannot be made into a component: {0}")]
    Componentize(String),
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error("the component is not a polis:plugin/plugin@0.1.0 plugin: {0}")]
    Incompatible(String),
    #[error("invalid manifest: {0}")]
    Manifest(String),
    #[error("the plugin rejected its config: {0}")]
    Config(String),
}

/// Where [`PluginEngine::load`] found a compiled component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadSource {
    /// The engine had it in memory (compiled or loaded earlier by this engine).
    Memory,
    /// It was deserialized from the cache directory.
    Disk,
    /// It was compiled now.
    Compiled,
}

impl LoadSource {
    fn as_str(self) -> &'static str {
        match self {
            LoadSource::Memory => "memory",
            LoadSource::Disk => "disk",
            LoadSource::Compiled => "compiled",
        }
    }
}

/// Counters of the component cache, since the engine started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub compiled: u64,
}

/// A compiled plugin component, ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) compiled: Arc<Compiled>,
    /// Where it came from this time.
    pub source: LoadSource,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("sha256", &self.sha256())
            .field("source", &self.source)
            .field("from_core_module", &self.compiled.from_core_module)
            .finish()
    }
}

impl LoadedComponent {
    /// The SHA-256 of the bytes it was loaded from, in hex: the cache key.
    pub fn sha256(&self) -> String {
        hex(&self.compiled.digest)
    }

    /// True if the bytes were a core module that the engine made into a component.
    pub fn from_core_module(&self) -> bool {
        self.compiled.from_core_module
    }
}

pub(crate) struct Compiled {
    pub(crate) digest: [u8; 32],
    pub(crate) pre: PluginPre<HostState>,
    pub(crate) from_core_module: bool,
}

/// The preamble of a WebAssembly binary: the magic, then a version and layer.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC && bytes[4..8] == COMPONENT_VERSION
}

fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == WASM_MAGIC && bytes[4..8] == CORE_MODULE_VERSION
}

/// Turns a core module with an embedded component type (what wit-bindgen guests built for
/// wasm32-unknown-unknown are) into a component, with wit-component. A component is returned as
/// it is.
pub fn componentize(bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    if is_component(bytes) {
        return Ok(bytes.to_vec());
    }
    if !is_core_module(bytes) {
        return Err(LoadError::NotWasm);
    }
    wit_component::ComponentEncoder::default()
        .module(bytes)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|error| LoadError::Componentize(format!("{error:#}")))
}

/// The wasmtime engine of a host: compiles and caches plugin components and runs their
/// invocations. Cheap to clone (shared); safe to use from many threads at once.
///
/// It is set up for hostile guests: the pooling allocator (fixed instance slots, memories with
/// an explicit reservation), fuel metering, and epoch interruption driven by a ticker thread that
/// lives as long as the engine or any of its instances.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("config", &self.inner.config)
            .field("cache", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

pub(crate) struct EngineInner {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    pub(crate) config: EngineConfig,
    memory: Mutex<HashMap<[u8; 32], Arc<Compiled>>>,
    disk: Option<DiskCache>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    compiled: AtomicU64,
    _ticker: Ticker,
}

/// Advances the engine's epoch every tick until dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("polis-plugin-epoch".into())
            .spawn(move || {
                // A timer, not synchronisation: wake every tick until the sender is dropped.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl PluginEngine {
    pub fn new(config: EngineConfig) -> Result<PluginEngine, EngineError> {
        if config.max_concurrent_invocations == 0 {
            return Err(EngineError::Config(
                "max_concurrent_invocations must be positive".into(),
            ));
        }
        if config.epoch_tick.is_zero() {
            return Err(EngineError::Config("epoch_tick must be positive".into()));
        }
        let slots = config.max_concurrent_invocations;
        let memory_bytes_max = usize::try_from(config.memory_bytes_max)
            .map_err(|_| EngineError::Config("memory_bytes_max is too large".into()))?;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            // A wit-component plugin is its module plus a few adapter shims.
            .max_core_instances_per_component(8)
            .total_core_instances(slots * 8)
            .max_memories_per_component(2)
            .total_memories(slots * 2)
            .max_tables_per_component(4)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size(memory_bytes_max);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.wasm_stack_bytes)
            .async_stack_size(config.wasm_stack_bytes + 512 * 1024)
            // Set explicitly: the default reserves 4 GiB (plus guards) per memory slot, which
            // fails with ENOMEM where address space is limited. Bounds checks are explicit then.
            .memory_reservation(config.memory_bytes_max)
            .memory_reservation_for_growth(0)
            .memory_guard_size(64 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&wasm).map_err(|error| EngineError::Config(format!("{error:#}")))?;
        let mut linker = Linker::new(&engine);
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|error| EngineError::Config(format!("{error:#}")))?;
        let disk = match &config.cache_dir {
            Some(dir) => DiskCache::new(dir, &engine)?,
            None => None,
        };
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)?;
        metrics::describe();
        Ok(PluginEngine {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                config,
                memory: Mutex::new(HashMap::new()),
                disk,
                memory_hits: AtomicU64::new(0),
                disk_hits: AtomicU64::new(0),
                compiled: AtomicU64::new(0),
                _ticker: ticker,
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.inner.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.inner.disk_hits.load(Ordering::Relaxed),
            compiled: self.inner.compiled.load(Ordering::Relaxed),
        }
    }

    /// Compiles a plugin — a component, or a core module with an embedded component type — or
    /// finds it in the cache (keyed by the SHA-256 of `bytes`: in memory, then on disk), and checks
    /// that it is a `polis:plugin/plugin` component that imports nothing else.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        let digest = sha256(bytes);
        let inner = &self.inner;
        if let Some(compiled) = inner.memory.lock().expect("cache lock").get(&digest) {
            inner.memory_hits.fetch_add(1, Ordering::Relaxed);
            metrics::component_loaded(LoadSource::Memory.as_str());
            return Ok(LoadedComponent {
                compiled: compiled.clone(),
                source: LoadSource::Memory,
            });
        }
        let from_core_module = is_core_module(bytes);
        let cached = inner
            .disk
            .as_ref()
            .and_then(|disk| disk.load(&inner.engine, &digest));
        let (component, source) = match cached {
            Some(component) => (component, LoadSource::Disk),
            None => {
                let component_bytes = componentize(bytes)?;
                let component = Component::new(&inner.engine, &component_bytes)
                    .map_err(|error| LoadError::Compile(format!("{error:#}")))?;
                if let Some(disk) = &inner.disk {
                    disk.store(&digest, &component);
                }
                (component, LoadSource::Compiled)
            }
        };
        let instance_pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|error| LoadError::Incompatible(format!("{error:#}")))?;
        let pre = PluginPre::new(instance_pre)
            .map_err(|error| LoadError::Incompatible(format!("{error:#}")))?;
        let compiled = Arc::new(Compiled {
            digest,
            pre,
            from_core_module,
        });
        match source {
            LoadSource::Disk => inner.disk_hits.fetch_add(1, Ordering::Relaxed),
            _ => inner.compiled.fetch_add(1, Ordering::Relaxed),
        };
        metrics::component_loaded(source.as_str());
        // Another thread may have loaded the same bytes meanwhile; either copy will do.
        inner
            .memory
            .lock()
            .expect("cache lock")
            .insert(digest, compiled.clone());
        Ok(LoadedComponent { compiled, source })
    }

    /// Drops a component from the in-memory cache (after its last deployment is removed). Its
    /// instances keep working.
    pub fn evict(&self, sha256_hex: &str) {
        self.inner
            .memory
            .lock()
            .expect("cache lock")
            .retain(|digest, _| hex(digest) != sha256_hex);
    }

    /// Validates `manifest` against this engine, loads `bytes`, and binds them into an instance
    /// ready to invoke. It does not run the plugin; [`PluginInstance::check_config`] does.
    pub fn instantiate(
        &self,
        manifest: PluginManifest,
        bytes: &[u8],
    ) -> Result<PluginInstance, LoadError> {
        manifest
            .validate()
            .map_err(|error| LoadError::Manifest(error.to_string()))?;
        if manifest.limits.memory_bytes_max > self.inner.config.memory_bytes_max {
            return Err(LoadError::Manifest(format!(
                "limits.memory_bytes_max {} exceeds the host's {}",
                manifest.limits.memory_bytes_max, self.inner.config.memory_bytes_max
            )));
        }
        let component = self.load(bytes)?;
        Ok(PluginInstance::new(self.clone(), manifest, component))
    }
}
