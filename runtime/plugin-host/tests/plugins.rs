//! The host running real guests compiled from plugins/testing/: the echo plugin stages the
//! expected writes, and each hostile guest fails only its own invocation, with the right kind,
//! while the engine keeps serving the others.

mod common;

use std::time::Duration;

use polis_plugin_host::{
    Access, DataTreeView, EngineConfig, EventBatch, FailureKind, InvocationOutcome, LoadError,
    LoadSource, LogLevel, PluginEngine, PluginEvent, PluginFailure, PluginInstance, PluginManifest,
};
use polis_tree::{
    Acl, Caller, CreateMode, DataTree, EventKind, Id, Limits, Perms, SYSTEM_SESSION_ID, Txn,
    TxnKind, WatchEvent, WriteOp,
};

const NOW_MS: i64 = 1_700_000_000_000;

fn plugin_ids() -> Vec<Id> {
    vec![Id::new("x509", "CN=echo,O=Polis")]
}

/// A tree with /in/a, /in/b, /in/c, /out, /out/b, /out/c and /secret/key.
fn tree() -> DataTree {
    let mut tree = DataTree::new(Limits::default());
    for (path, data) in [
        ("/in", &b""[..]),
        ("/in/a", b"hello"),
        ("/in/b", b"x"),
        ("/out", b""),
        ("/out/b", b"old"),
        ("/out/c", b"stale"),
        ("/secret", b""),
        ("/secret/key", b"hunter2"),
    ] {
        apply(
            &mut tree,
            TxnKind::Write {
                caller: Caller::system(),
                op: WriteOp::Create {
                    path: path.into(),
                    data: Some(data.to_vec()),
                    acl: Acl::open().to_vec(),
                    mode: CreateMode::Persistent,
                },
            },
        )
        .expect("setup");
    }
    tree
}

fn apply(tree: &mut DataTree, kind: TxnKind) -> Result<Vec<WatchEvent>, polis_tree::TreeError> {
    let txn = Txn {
        zxid: tree.last_zxid() + 1,
        time_ms: NOW_MS,
        kind,
    };
    let applied = tree.apply(&txn);
    applied.result.map(|_| applied.events)
}

fn event(path: &str, kind: EventKind, data: Option<&[u8]>) -> PluginEvent {
    PluginEvent {
        path: path.into(),
        kind,
        zxid: 10,
        data: data.map(<[u8]>::to_vec),
    }
}

fn manifest(name: &str) -> PluginManifest {
    let mut manifest = PluginManifest::new(name, "0.1.0", &["/in"]);
    manifest.capabilities.read = vec!["/in".into(), "/out".into()];
    manifest.capabilities.write = vec!["/out".into()];
    manifest
}

fn instance(guest: &str, manifest: PluginManifest) -> PluginInstance {
    common::shared_engine()
        .instantiate(manifest, &common::component(guest))
        .expect("instantiate")
}

fn invoke(plugin: &PluginInstance, events: Vec<PluginEvent>) -> InvocationOutcome {
    let tree = tree();
    let ids = plugin_ids();
    plugin.invoke(
        &EventBatch::new(NOW_MS, events),
        &DataTreeView::new(&tree, &ids),
    )
}

fn failure(outcome: &InvocationOutcome) -> &PluginFailure {
    outcome
        .result
        .as_ref()
        .expect_err("the invocation should fail")
}

#[test]
fn echo_stages_the_expected_writes_and_they_commit() {
    let echo = instance("polis-test-echo", manifest("echo"));
    echo.check_config().expect("the default config is fine");
    let events = vec![
        event("/in/a", EventKind::NodeCreated, Some(b"hello")),
        event("/in/b", EventKind::NodeDataChanged, Some(b"x")),
        event("/in/c", EventKind::NodeDeleted, None),
        event("/in", EventKind::NodeChildrenChanged, None),
    ];
    let outcome = invoke(&echo, events);
    let staged = outcome.result.clone().expect("echo succeeds");
    let creator_all_world_read = vec![
        Acl::new(Perms::ALL, Id::new("auth", "")),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    assert_eq!(
        staged.ops,
        vec![
            WriteOp::Create {
                path: "/out/a".into(),
                data: Some(b"hello".to_vec()),
                acl: creator_all_world_read,
                mode: CreateMode::Persistent,
            },
            WriteOp::SetData {
                path: "/out/b".into(),
                data: Some(b"x".to_vec()),
                version: 0,
            },
            WriteOp::Delete {
                path: "/out/c".into(),
                version: 0,
            },
        ]
    );
    assert_eq!(staged.bytes, (6 + 5) + (6 + 1) + 6);
    let messages: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            format!("/in/a -> /out/a at {NOW_MS}"),
            format!("/in/b -> /out/b at {NOW_MS}"),
            "/in/c deleted, deleting /out/c".to_string(),
        ]
    );
    assert!(outcome.logs.iter().all(|l| l.level == LogLevel::Info));
    assert!(outcome.fuel_used > 0);

    // The staged writes are a multi the server can commit as the plugin's identities.
    let mut tree = tree();
    let caller = Caller {
        session_id: SYSTEM_SESSION_ID,
        ids: plugin_ids(),
    };
    apply(
        &mut tree,
        TxnKind::Multi {
            caller,
            ops: staged.ops,
        },
    )
    .expect("the staged writes commit");
    let (data, _) = tree.get_data("/out/a", &[]).expect("created");
    assert_eq!(data, Some(b"hello".as_slice()));
    let (acl, _) = tree.get_acl("/out/a", &plugin_ids()).expect("acl");
    assert!(acl.contains(&Acl::new(Perms::ALL, plugin_ids()[0].clone())));
}

#[test]
fn echo_honours_its_config_and_reports_guest_errors() {
    let mut custom = manifest("echo-custom");
    custom.config = "/elsewhere".into();
    custom.capabilities.write = vec!["/elsewhere".into()];
    custom.capabilities.read.push("/elsewhere".into());
    let echo = instance("polis-test-echo", custom);
    let outcome = invoke(
        &echo,
        vec![event("/in/a", EventKind::NodeCreated, Some(b"hi"))],
    );
    let staged = outcome.result.expect("echo succeeds");
    assert_eq!(staged.ops[0].path(), "/elsewhere/a");

    let echo = instance("polis-test-echo", manifest("echo"));
    let outcome = invoke(
        &echo,
        vec![
            event("/in/a", EventKind::NodeCreated, Some(b"ok")),
            event("/in/b", EventKind::NodeDataChanged, Some(b"fail")),
        ],
    );
    assert_eq!(
        failure(&outcome),
        &PluginFailure::GuestError("/in/b asked to fail".into())
    );
    // The log line of the first event survives; its staged write does not.
    assert_eq!(outcome.logs.len(), 1);

    let mut bad = manifest("echo-bad-config");
    bad.config = "relative/path".into();
    let echo = instance("polis-test-echo", bad);
    match echo.check_config() {
        Err(PluginFailure::GuestError(message)) => {
            assert!(message.starts_with("init: "), "{message}");
            assert!(message.contains("not an absolute path"), "{message}");
        }
        other => panic!("expected the config to be rejected, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let mut limits = manifest("loop-fuel");
    limits.limits.fuel_per_invocation = 20_000_000;
    let spinner = instance("polis-test-infinite-loop", limits);
    let outcome = invoke(&spinner, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(
        failure(&outcome),
        &PluginFailure::FuelExhausted { fuel: 20_000_000 }
    );
    assert_eq!(outcome.fuel_used, 20_000_000);
}

#[test]
fn an_endless_loop_with_plenty_of_fuel_hits_its_deadline() {
    let mut limits = manifest("loop-deadline");
    limits.limits.fuel_per_invocation = u64::MAX / 2;
    limits.limits.deadline_ms = 50;
    let spinner = instance("polis-test-infinite-loop", limits);
    let outcome = invoke(&spinner, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(
        failure(&outcome),
        &PluginFailure::DeadlineExceeded { deadline_ms: 50 }
    );
    assert!(
        outcome.elapsed >= Duration::from_millis(50),
        "{:?}",
        outcome.elapsed
    );
}

#[test]
fn a_memory_bomb_hits_its_memory_limit() {
    let mut limits = manifest("bomb");
    limits.limits.memory_bytes_max = 16 * 1024 * 1024;
    let bomb = instance("polis-test-memory-bomb", limits);
    let outcome = invoke(&bomb, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(
        failure(&outcome),
        &PluginFailure::MemoryLimit {
            bytes_max: 16 * 1024 * 1024
        }
    );
}

#[test]
fn a_panic_is_a_trap_that_carries_its_message() {
    let panicky = instance("polis-test-panic", manifest("panicky"));
    let outcome = invoke(&panicky, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(failure(&outcome).kind(), FailureKind::Trap, "{outcome:?}");
    // Issue 16: the reason reads as the guest's panic, not as a bare `unreachable` trap.
    let reason = failure(&outcome).to_string();
    assert!(
        reason.contains("plugin panicked") && reason.contains("deliberate panic after 1 events"),
        "{reason}"
    );
    assert!(reason.contains("wasm"), "the trap itself stays: {reason}");
    let logged = &outcome.logs.last().expect("the panic is logged");
    assert_eq!(logged.level, LogLevel::Error);
    assert!(
        logged.message.contains("deliberate panic after 1 events"),
        "{}",
        logged.message
    );
}

#[test]
fn writing_or_reading_outside_the_grants_is_a_capability_violation() {
    let writer = instance("polis-test-write-outside", manifest("writer"));
    let outcome = invoke(&writer, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(
        failure(&outcome),
        &PluginFailure::CapabilityViolation {
            access: Access::Write,
            path: "/secret/key".into()
        }
    );

    let mut reading = manifest("reader");
    reading.config = "read".into();
    let reader = instance("polis-test-write-outside", reading);
    let outcome = invoke(&reader, vec![event("/in/a", EventKind::NodeCreated, None)]);
    assert_eq!(
        failure(&outcome),
        &PluginFailure::CapabilityViolation {
            access: Access::Read,
            path: "/secret/key".into()
        }
    );

    // Granted, the same guest reads the secret and stages its copy.
    let mut granted = manifest("reader-granted");
    granted.config = "read".into();
    granted.capabilities.read.push("/secret".into());
    let reader = instance("polis-test-write-outside", granted);
    let outcome = invoke(&reader, vec![event("/in/a", EventKind::NodeCreated, None)]);
    let staged = outcome.result.expect("granted");
    assert!(matches!(
        &staged.ops[0],
        WriteOp::Create { path, data, .. } if path == "/out/stolen" && data.as_deref() == Some(b"hunter2".as_slice())
    ));
}

#[test]
fn too_much_output_is_refused() {
    let cases = [
        ("", "staged_bytes_max", 1024 * 1024),
        ("writes", "staged_writes_max", 256),
        ("logs", "log_lines_max", 100),
    ];
    for (config, limit, max) in cases {
        let mut spec = manifest(&format!(
            "huge-{}",
            if config.is_empty() { "bytes" } else { config }
        ));
        spec.config = config.into();
        let huge = instance("polis-test-huge-output", spec);
        let outcome = invoke(&huge, vec![event("/in/a", EventKind::NodeCreated, None)]);
        assert_eq!(
            failure(&outcome),
            &PluginFailure::OutputTooLarge { limit, max },
            "config {config:?}"
        );
    }
}

#[test]
fn a_batch_over_the_limit_is_refused_before_the_plugin_runs() {
    let mut small = manifest("small-batches");
    small.limits.events_per_batch_max = 2;
    let echo = instance("polis-test-echo", small);
    let events = (0..3)
        .map(|i| event(&format!("/in/{i}"), EventKind::NodeCreated, Some(b"x")))
        .collect();
    let outcome = invoke(&echo, events);
    assert_eq!(failure(&outcome).kind(), FailureKind::InvalidBatch);
    assert_eq!(outcome.fuel_used, 0);
}

#[test]
fn hostile_guests_fail_alone_while_the_engine_keeps_serving() {
    let engine = PluginEngine::new(EngineConfig {
        max_concurrent_invocations: 8,
        ..EngineConfig::default()
    })
    .expect("engine");
    let load = |guest: &str, mut manifest: PluginManifest| {
        // Fuel, not the deadline, stops the loop, whatever the machine's load.
        manifest.limits.fuel_per_invocation = 20_000_000;
        manifest.limits.deadline_ms = 10_000;
        manifest.limits.memory_bytes_max = 16 * 1024 * 1024;
        engine
            .instantiate(manifest, &common::component(guest))
            .expect("instantiate")
    };
    let echo = load("polis-test-echo", manifest("echo"));
    let hostile = [
        (
            load("polis-test-infinite-loop", manifest("loop")),
            FailureKind::FuelExhausted,
        ),
        (
            load("polis-test-memory-bomb", manifest("bomb")),
            FailureKind::MemoryLimit,
        ),
        (
            load("polis-test-panic", manifest("panic")),
            FailureKind::Trap,
        ),
        (
            load("polis-test-write-outside", manifest("outside")),
            FailureKind::CapabilityViolation,
        ),
        (
            load("polis-test-huge-output", manifest("huge")),
            FailureKind::OutputTooLarge,
        ),
    ];
    let events = || vec![event("/in/a", EventKind::NodeCreated, Some(b"hello"))];
    std::thread::scope(|scope| {
        for (plugin, kind) in &hostile {
            scope.spawn(move || {
                for _ in 0..3 {
                    let outcome = invoke(plugin, events());
                    assert_eq!(outcome.failure_kind(), Some(*kind), "{outcome:?}");
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..20 {
                let outcome = invoke(&echo, events());
                assert!(outcome.is_ok(), "{outcome:?}");
            }
        });
    });
    // And afterwards, as before.
    assert!(invoke(&echo, events()).is_ok());
}

#[test]
fn the_template_plugin_counts_events() {
    let mut spec =
        PluginManifest::from_toml(include_str!("../../../sdk/plugin/template/manifest.toml"))
            .expect("the template's manifest is valid");
    spec.capabilities.read.push("/in".into());
    spec.triggers.prefixes = vec!["/in".into()];
    let counter = common::shared_engine()
        .instantiate(spec, &common::core_module("polis-plugin-template"))
        .expect("instantiate");
    counter.check_config().expect("config");
    let mut tree = tree();
    apply(
        &mut tree,
        TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::Create {
                path: "/stats".into(),
                data: Some(vec![]),
                acl: Acl::open().to_vec(),
                mode: CreateMode::Persistent,
            },
        },
    )
    .unwrap();
    apply(
        &mut tree,
        TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::Create {
                path: "/stats/events".into(),
                data: Some(b"5".to_vec()),
                acl: Acl::open().to_vec(),
                mode: CreateMode::Persistent,
            },
        },
    )
    .unwrap();
    let ids = plugin_ids();
    let outcome = counter.invoke(
        &EventBatch::new(
            NOW_MS,
            vec![
                event("/in/a", EventKind::NodeCreated, Some(b"1")),
                event("/in/b", EventKind::NodeCreated, Some(b"2")),
            ],
        ),
        &DataTreeView::new(&tree, &ids),
    );
    assert_eq!(
        outcome.result.expect("counts").ops,
        vec![WriteOp::SetData {
            path: "/stats/events".into(),
            data: Some(b"7".to_vec()),
            version: 0,
        }]
    );
}

#[test]
fn reads_go_through_the_acls_of_the_plugins_identities() {
    // /out/private may be read by nobody but an administrator: the plugin's exists() still sees
    // it (exists checks no ACL, as in ZooKeeper), and the template's get_data is refused.
    let mut spec = PluginManifest::new("counter-private", "1", &["/in"]);
    spec.capabilities.read.push("/out".into());
    spec.capabilities.write.push("/out".into());
    spec.config = "/out/private".into();
    let counter = common::shared_engine()
        .instantiate(spec, &common::core_module("polis-plugin-template"))
        .expect("instantiate");
    let mut tree = tree();
    apply(
        &mut tree,
        TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::Create {
                path: "/out/private".into(),
                data: Some(b"1".to_vec()),
                acl: vec![Acl::new(Perms::ALL, Id::new("x509", "CN=someone-else"))],
                mode: CreateMode::Persistent,
            },
        },
    )
    .unwrap();
    let ids = plugin_ids();
    let outcome = counter.invoke(
        &EventBatch::new(
            NOW_MS,
            vec![event("/in/a", EventKind::NodeCreated, Some(b"1"))],
        ),
        &DataTreeView::new(&tree, &ids),
    );
    match failure(&outcome) {
        PluginFailure::GuestError(message) => assert!(message.contains("NoAuth"), "{message}"),
        other => panic!("expected a guest error, got {other:?}"),
    }
}

#[test]
fn bytes_that_are_not_a_plugin_are_refused() {
    let engine = common::shared_engine();
    assert_eq!(
        engine.load(b"not wasm at all").unwrap_err(),
        LoadError::NotWasm
    );
    // A valid core module without a component type: it becomes a component exporting nothing.
    let bare = b"\0asm\x01\0\0\0";
    let error = engine.load(bare).unwrap_err();
    assert!(
        matches!(&error, LoadError::Incompatible(message) if message.contains("handle-events")),
        "{error:?}"
    );
    let mut spec = manifest("too-much-memory");
    spec.limits.memory_bytes_max = engine.config().memory_bytes_max + 1;
    assert!(matches!(
        engine.instantiate(spec, &common::component("polis-test-echo")),
        Err(LoadError::Manifest(_))
    ));
}

#[test]
fn a_core_module_is_accepted_and_converted() {
    let engine = PluginEngine::new(EngineConfig::default()).expect("engine");
    let core = common::core_module("polis-test-echo");
    assert_eq!(
        &core[4..8],
        &[1, 0, 0, 0],
        "the build output is a core module"
    );
    let loaded = engine.load(&core).expect("load a core module");
    assert!(loaded.from_core_module());
    assert_eq!(loaded.source, LoadSource::Compiled);
    let component = engine
        .load(&common::component("polis-test-echo"))
        .expect("load a component");
    assert!(!component.from_core_module());
    let echo = engine
        .instantiate(manifest("echo-core"), &core)
        .expect("instantiate");
    assert_eq!(echo.component().source, LoadSource::Memory);
    let outcome = invoke(
        &echo,
        vec![event("/in/a", EventKind::NodeCreated, Some(b"hello"))],
    );
    assert_eq!(outcome.result.expect("runs").ops.len(), 1);
}

#[test]
fn compiled_components_are_cached_in_memory_and_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..EngineConfig::default()
    };
    let bytes = common::component("polis-test-echo");

    let first = PluginEngine::new(config.clone()).expect("engine");
    assert_eq!(
        first.load(&bytes).expect("load").source,
        LoadSource::Compiled
    );
    let again = first.load(&bytes).expect("load again");
    assert_eq!(again.source, LoadSource::Memory);
    assert_eq!(
        first.cache_stats(),
        polis_plugin_host::CacheStats {
            memory_hits: 1,
            disk_hits: 0,
            compiled: 1
        }
    );
    // The compiled component, beside the cache's MAC key.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "cache.key")
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with(&again.sha256()), "{files:?}");
    drop(first);

    // A new engine (a restarted host) finds it on disk, and it runs.
    let second = PluginEngine::new(config.clone()).expect("engine");
    let loaded = second.load(&bytes).expect("load from disk");
    assert_eq!(loaded.source, LoadSource::Disk);
    let echo = second
        .instantiate(manifest("echo-cached"), &bytes)
        .expect("instantiate");
    let outcome = invoke(
        &echo,
        vec![event("/in/a", EventKind::NodeCreated, Some(b"hi"))],
    );
    assert!(outcome.is_ok(), "{outcome:?}");

    // A corrupted file is discarded and the component compiled again.
    let file = dir.path().join(&files[0]);
    let mut corrupt = std::fs::read(&file).unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(&file, corrupt).unwrap();
    let third = PluginEngine::new(config).expect("engine");
    assert_eq!(
        third.load(&bytes).expect("recompile").source,
        LoadSource::Compiled
    );
}

#[test]
fn invocations_are_counted_in_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let panicky = instance("polis-test-panic", manifest("metrics-panic"));
    let echo = instance("polis-test-echo", manifest("metrics-echo"));
    metrics::with_local_recorder(&recorder, || {
        invoke(&panicky, vec![event("/in/a", EventKind::NodeCreated, None)]);
        invoke(
            &echo,
            vec![event("/in/a", EventKind::NodeCreated, Some(b"x"))],
        );
        invoke(
            &echo,
            vec![event("/in/a", EventKind::NodeCreated, Some(b"x"))],
        );
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, labels: &[(&str, &str)]| -> u64 {
        snapshot
            .iter()
            .find_map(|(key, _, _, value)| {
                let key = key.key();
                let matches = key.name() == name
                    && labels.iter().all(|(k, v)| {
                        key.labels()
                            .any(|label| label.key() == *k && label.value() == *v)
                    });
                match (matches, value) {
                    (true, DebugValue::Counter(count)) => Some(*count),
                    _ => None,
                }
            })
            .unwrap_or(0)
    };
    assert_eq!(
        counter(
            polis_plugin_host::metrics::FAILURES,
            &[("plugin", "metrics-panic"), ("kind", "trap")]
        ),
        1
    );
    assert_eq!(
        counter(
            polis_plugin_host::metrics::INVOCATIONS,
            &[("plugin", "metrics-echo"), ("result", "ok")]
        ),
        2
    );
    assert_eq!(
        counter(
            polis_plugin_host::metrics::STAGED_WRITES,
            &[("plugin", "metrics-echo")]
        ),
        2
    );
}

#[test]
fn watch_events_become_plugin_events() {
    let mut tree = tree();
    let events = apply(
        &mut tree,
        TxnKind::Write {
            caller: Caller::system(),
            op: WriteOp::SetData {
                path: "/in/a".into(),
                data: Some(b"new".to_vec()),
                version: -1,
            },
        },
    )
    .unwrap();
    let spec = manifest("echo-live");
    let matching: Vec<PluginEvent> = events
        .iter()
        .filter(|event| spec.triggers.matches(event))
        .map(|event| {
            let data = tree
                .get_data(&event.path, &plugin_ids())
                .ok()
                .map(|(d, _)| d.unwrap_or_default().to_vec());
            PluginEvent::new(event, data)
        })
        .collect();
    assert_eq!(matching.len(), 1);
    let echo = instance("polis-test-echo", spec);
    let ids = plugin_ids();
    let outcome = echo.invoke(
        &EventBatch::new(NOW_MS, matching),
        &DataTreeView::new(&tree, &ids),
    );
    assert_eq!(
        outcome.result.expect("runs").ops,
        vec![WriteOp::Create {
            path: "/out/a".into(),
            data: Some(b"new".to_vec()),
            acl: vec![
                Acl::new(Perms::ALL, Id::new("auth", "")),
                Acl::new(Perms::READ, Id::anyone())
            ],
            mode: CreateMode::Persistent,
        }]
    );
}

/// A view that reports its first `get_data` and then holds the guest (suspended, its instance slot
/// taken) until released.
struct GatedView<'a> {
    inner: DataTreeView<'a>,
    started: std::sync::mpsc::Sender<()>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl polis_plugin_host::TreeView for GatedView<'_> {
    fn get_data(&self, path: &str) -> Result<(Vec<u8>, polis_tree::Stat), polis_tree::TreeError> {
        self.started.send(()).expect("report");
        self.release.lock().unwrap().recv().expect("release");
        self.inner.get_data(path)
    }

    fn exists(&self, path: &str) -> Result<Option<polis_tree::Stat>, polis_tree::TreeError> {
        self.inner.exists(path)
    }

    fn get_children(&self, path: &str) -> Result<Vec<String>, polis_tree::TreeError> {
        self.inner.get_children(path)
    }

    fn limits(&self) -> &Limits {
        self.inner.limits()
    }
}

#[test]
fn a_full_engine_answers_unavailable_and_recovers() {
    let engine = PluginEngine::new(EngineConfig {
        max_concurrent_invocations: 1,
        ..EngineConfig::default()
    })
    .expect("engine");
    let mut reading = manifest("gated-reader");
    reading.config = "read".into();
    reading.capabilities.read.push("/secret".into());
    let reader = engine
        .instantiate(reading, &common::component("polis-test-write-outside"))
        .expect("instantiate");
    let echo = engine
        .instantiate(
            manifest("echo-waiting"),
            &common::component("polis-test-echo"),
        )
        .expect("instantiate");
    let tree = tree();
    let ids = plugin_ids();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let gated = GatedView {
        inner: DataTreeView::new(&tree, &ids),
        started: started_tx,
        release: std::sync::Mutex::new(release_rx),
    };
    let events = || vec![event("/in/a", EventKind::NodeCreated, Some(b"x"))];
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| reader.invoke(&EventBatch::new(NOW_MS, events()), &gated));
        // The reader is inside its invocation, holding the only slot.
        started.recv().expect("the reader started");
        let busy = invoke(&echo, events());
        assert_eq!(
            busy.failure_kind(),
            Some(FailureKind::Unavailable),
            "{busy:?}"
        );
        release.send(()).expect("release");
        let held = holder.join().expect("reader thread");
        assert!(held.is_ok(), "{held:?}");
    });
    assert!(invoke(&echo, events()).is_ok());
}
