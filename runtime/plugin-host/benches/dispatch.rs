//! Dispatch overhead per event: the echo guest (host → guest → staged writes, in a fresh store
//! per batch) against the same logic as native Rust reading the same tree, in the same run.
//!
//! `cargo bench -p polis-plugin-host --bench dispatch` (or `scripts/bench plugins`). Each batch
//! holds N created events with 64-byte data; for each, the plugin checks whether `/out/<name>`
//! exists, stages its creation and writes a log line — three host calls per event.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use polis_plugin_host::{
    DataTreeView, EngineConfig, EventBatch, LogLevel, LogLine, PluginEngine, PluginEvent,
    PluginManifest, TreeView,
};
use polis_tree::{
    Acl, Caller, CreateMode, DataTree, EventKind, Id, Limits, Perms, Txn, TxnKind, WriteOp,
};

const NOW_MS: i64 = 1_700_000_000_000;

fn tree() -> DataTree {
    let mut tree = DataTree::new(Limits::default());
    for (zxid, path) in [(1, "/in"), (2, "/out")] {
        let applied = tree.apply(&Txn {
            zxid,
            time_ms: NOW_MS,
            kind: TxnKind::Write {
                caller: Caller::system(),
                op: WriteOp::Create {
                    path: path.into(),
                    data: Some(vec![]),
                    acl: Acl::open().to_vec(),
                    mode: CreateMode::Persistent,
                },
            },
        });
        applied.result.expect("setup");
    }
    tree
}

fn batch(events: usize) -> EventBatch {
    EventBatch::new(
        NOW_MS,
        (0..events)
            .map(|i| PluginEvent {
                path: format!("/in/e{i}"),
                kind: EventKind::NodeCreated,
                zxid: 10 + i as i64,
                data: Some(vec![b'x'; 64]),
            })
            .collect(),
    )
}

/// The echo guest's logic as a native function over the same view: the baseline.
fn native_echo(batch: &EventBatch, view: &dyn TreeView) -> (Vec<WriteOp>, Vec<LogLine>) {
    let mut ops = Vec::new();
    let mut logs = Vec::new();
    for event in &batch.events {
        let (EventKind::NodeCreated | EventKind::NodeDataChanged, Some(data)) =
            (event.kind, &event.data)
        else {
            continue;
        };
        let name = event.path.rsplit('/').next().unwrap_or_default();
        let copy = format!("/out/{name}");
        match view.exists(&copy).expect("exists") {
            Some(stat) => ops.push(WriteOp::SetData {
                path: copy.clone(),
                data: Some(data.clone()),
                version: stat.version,
            }),
            None => ops.push(WriteOp::Create {
                path: copy.clone(),
                data: Some(data.clone()),
                acl: vec![
                    Acl::new(Perms::ALL, Id::new("auth", "")),
                    Acl::new(Perms::READ, Id::anyone()),
                ],
                mode: CreateMode::Persistent,
            }),
        }
        logs.push(LogLine {
            level: LogLevel::Info,
            message: format!("{} -> {copy} at {}", event.path, batch.commit_time_ms),
        });
    }
    (ops, logs)
}

fn dispatch(c: &mut Criterion) {
    let engine = PluginEngine::new(EngineConfig::default()).expect("engine");
    let mut manifest = PluginManifest::new("echo", "0.1.0", &["/in"]);
    manifest.capabilities.read = vec!["/in".into(), "/out".into()];
    manifest.capabilities.write = vec!["/out".into()];
    manifest.limits.log_lines_max = 1_000;
    manifest.limits.staged_writes_max = 1_000;
    let echo = engine
        .instantiate(manifest, &common::component("polis-test-echo"))
        .expect("instantiate");
    let tree = tree();
    let ids = [Id::new("x509", "CN=echo")];
    let view = DataTreeView::new(&tree, &ids);

    let mut group = c.benchmark_group("dispatch");
    for events in [0usize, 1, 16, 256] {
        let batch = batch(events);
        // The guest and the baseline must agree before their speed is compared.
        let outcome = echo.invoke(&batch, &view);
        let staged = outcome.result.as_ref().expect("echo succeeds");
        let (native_ops, native_logs) = native_echo(&batch, &view);
        assert_eq!(staged.ops, native_ops);
        assert_eq!(outcome.logs, native_logs);

        group.throughput(Throughput::Elements(events.max(1) as u64));
        group.bench_with_input(BenchmarkId::new("wasm", events), &batch, |b, batch| {
            b.iter(|| {
                let outcome = echo.invoke(black_box(batch), &view);
                black_box(outcome.result.expect("ok").ops.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("native", events), &batch, |b, batch| {
            b.iter(|| black_box(native_echo(black_box(batch), &view)).0.len())
        });
    }
    group.finish();

    // Where the per-event time goes: events the guest skips (no host call), and deletes of
    // copies that do not exist (one read each, which suspends the guest's fiber).
    let mut group = c.benchmark_group("breakdown");
    let events = 256;
    for (label, kind) in [
        ("skipped", EventKind::NodeChildrenChanged),
        ("one-read", EventKind::NodeDeleted),
    ] {
        let mut batch = batch(events);
        for event in &mut batch.events {
            event.kind = kind;
            event.data = None;
        }
        let outcome = echo.invoke(&batch, &view);
        assert!(outcome.result.expect("ok").ops.is_empty());
        group.throughput(Throughput::Elements(events as u64));
        group.bench_with_input(BenchmarkId::new(label, events), &batch, |b, batch| {
            b.iter(|| black_box(echo.invoke(black_box(batch), &view).fuel_used))
        });
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
