//! Throughput of the tree and its redb store, each next to a baseline measured in the same run.
//!
//! - `create_256B/*`: creates of 256-byte znodes, applied to the tree and committed in batches of 1
//!   and of 100 transactions, through a redb file (immediate and deferred durability). Baseline:
//!   the same creates committed to a [`MemoryStore`] (no disk).
//! - `set_data_256B/*`: 256-byte `setData` on existing znodes, same batch sizes and stores.
//! - `point_read_100k/*`: `DataTree::get_data` on a tree of 100,000 znodes. Baseline: `get` on a
//!   plain `BTreeMap<String, Vec<u8>>` holding the same paths and data.
//!
//! Every measurement reports elements (transactions or reads) per second. The redb files live in
//! a fresh temporary directory on the real file system, so immediate commits pay a real fsync.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use polis_store::{CommitDurability, MemoryStore, RedbStore, TreeStore};
use polis_tree::{Acl, Caller, CreateMode, DataTree, Limits, Txn, TxnKind, WriteOp};
use tempfile::TempDir;

const DATA_LEN: usize = 256;
/// Nodes are spread over this many parents, as a real namespace spreads them.
const PARENTS: u64 = 100;
const BATCH_LENS: [usize; 2] = [1, 100];
/// The nodes that `set_data` cycles through.
const SET_TARGETS: u64 = 10_000;
/// The size of the tree for point reads.
const READ_TREE_NODES: u64 = 100_000;
/// Point reads per measured iteration.
const READS_PER_ITERATION: usize = 1_000;

/// A tree and the store its batches are committed to.
struct Writer<S> {
    tree: DataTree,
    store: S,
    /// The number of the next node to create.
    created: u64,
    /// The number of `set_data` operations so far.
    sets: u64,
    /// Keeps the redb file's directory alive.
    _directory: Option<TempDir>,
}

impl<S: TreeStore> Writer<S> {
    fn new(store: S, directory: Option<TempDir>) -> Writer<S> {
        let tree = store.load(Limits::default()).expect("load");
        let mut writer = Writer {
            tree,
            store,
            created: 0,
            sets: 0,
            _directory: directory,
        };
        for parent in 0..PARENTS {
            writer.apply(WriteOp::Create {
                path: format!("/p{parent}"),
                data: Some(Vec::new()),
                acl: Acl::open().to_vec(),
                mode: CreateMode::Persistent,
            });
        }
        writer.commit();
        writer
    }

    fn apply(&mut self, op: WriteOp) {
        let zxid = self.tree.last_zxid() + 1;
        let applied = self.tree.apply(&Txn {
            zxid,
            time_ms: 1_700_000_000_000 + zxid,
            kind: TxnKind::Write {
                caller: Caller::anonymous(polis_tree::SYSTEM_SESSION_ID),
                op,
            },
        });
        assert!(applied.result.is_ok(), "{:?}", applied.result);
    }

    fn commit(&mut self) {
        self.store
            .commit(&self.tree.take_changes())
            .expect("commit");
    }

    /// Creates `len` new 256-byte nodes and commits them as one batch.
    fn create_batch(&mut self, len: usize) {
        for _ in 0..len {
            let number = self.created;
            self.created += 1;
            self.apply(WriteOp::Create {
                path: node_path(number),
                data: Some(payload(number)),
                acl: Acl::open().to_vec(),
                mode: CreateMode::Persistent,
            });
        }
        self.commit();
    }

    /// Sets 256 bytes on `len` existing nodes and commits them as one batch.
    fn set_batch(&mut self, len: usize) {
        for _ in 0..len {
            let number = self.sets;
            self.sets += 1;
            self.apply(WriteOp::SetData {
                path: node_path(number % self.created),
                data: Some(payload(number + 1)),
                version: -1,
            });
        }
        self.commit();
    }
}

fn node_path(number: u64) -> String {
    format!("/p{}/n{number}", number % PARENTS)
}

fn payload(number: u64) -> Vec<u8> {
    let mut data = vec![number as u8; DATA_LEN];
    data[..8].copy_from_slice(&number.to_le_bytes());
    data
}

fn redb_writer(durability: CommitDurability) -> Writer<RedbStore> {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(directory.path().join("tree.redb"), durability).expect("open");
    Writer::new(store, Some(directory))
}

fn memory_writer() -> Writer<MemoryStore> {
    Writer::new(MemoryStore::new(), None)
}

/// Runs `run` for one batch length on each store: redb with immediate and with deferred
/// durability, and the in-memory baseline. Each store is fresh and first holds `populate` nodes.
fn compare_stores(
    group: &mut BenchmarkGroup<'_, WallTime>,
    batch_len: usize,
    populate: u64,
    run: fn(&mut dyn WriteBatch, usize),
) {
    group.throughput(Throughput::Elements(batch_len as u64));
    let mut measure = |name: &str, writer: &mut dyn WriteBatch| {
        writer.populate(populate);
        group.bench_function(BenchmarkId::new(name, batch_len), |bencher| {
            bencher.iter(|| run(writer, batch_len))
        });
    };
    measure(
        "redb_immediate",
        &mut redb_writer(CommitDurability::Immediate),
    );
    measure(
        "redb_deferred",
        &mut redb_writer(CommitDurability::Deferred),
    );
    measure("memory_store_baseline", &mut memory_writer());
}

/// The write batches the benchmarks run, whatever the store.
trait WriteBatch {
    fn create_batch(&mut self, len: usize);
    fn set_batch(&mut self, len: usize);
    fn populate(&mut self, nodes: u64);
}

impl<S: TreeStore> WriteBatch for Writer<S> {
    fn create_batch(&mut self, len: usize) {
        Writer::create_batch(self, len);
    }

    fn set_batch(&mut self, len: usize) {
        Writer::set_batch(self, len);
    }

    fn populate(&mut self, nodes: u64) {
        while self.created < nodes {
            Writer::create_batch(self, 1_000);
        }
        self.store.sync().expect("sync");
    }
}

fn write_group<'a>(criterion: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = criterion.benchmark_group(name);
    // A commit with immediate durability takes milliseconds: few, flat samples suffice.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn creates(criterion: &mut Criterion) {
    let mut group = write_group(criterion, "create_256B");
    for batch_len in BATCH_LENS {
        compare_stores(&mut group, batch_len, 0, |writer, len| {
            writer.create_batch(len)
        });
    }
    group.finish();
}

fn sets(criterion: &mut Criterion) {
    let mut group = write_group(criterion, "set_data_256B");
    for batch_len in BATCH_LENS {
        compare_stores(&mut group, batch_len, SET_TARGETS, |writer, len| {
            writer.set_batch(len)
        });
    }
    group.finish();
}

fn point_reads(criterion: &mut Criterion) {
    let mut tree = DataTree::new(Limits::default());
    let mut map: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut zxid = 0;
    let mut create = |tree: &mut DataTree, path: String, data: Vec<u8>| {
        zxid += 1;
        let applied = tree.apply(&Txn {
            zxid,
            time_ms: 1_700_000_000_000 + zxid,
            kind: TxnKind::Write {
                caller: Caller::anonymous(polis_tree::SYSTEM_SESSION_ID),
                op: WriteOp::Create {
                    path: path.clone(),
                    data: Some(data.clone()),
                    acl: Acl::open().to_vec(),
                    mode: CreateMode::Persistent,
                },
            },
        });
        assert!(applied.result.is_ok(), "{:?}", applied.result);
        map.insert(path, data);
    };
    for parent in 0..PARENTS {
        create(&mut tree, format!("/p{parent}"), Vec::new());
    }
    for number in 0..READ_TREE_NODES {
        create(&mut tree, node_path(number), payload(number));
        if number % 1_000 == 999 {
            // As the server does after each batch: the pending change set goes to storage.
            drop(tree.take_changes());
        }
    }
    drop(tree.take_changes());
    // Paths in a scattered order, so reads do not walk the maps in key order.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let paths: Vec<String> = (0..READS_PER_ITERATION)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            node_path(state % READ_TREE_NODES)
        })
        .collect();

    let mut group = criterion.benchmark_group("point_read_100k");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(READS_PER_ITERATION as u64));
    group.bench_function("data_tree_get_data", |bencher| {
        bencher.iter(|| {
            for path in &paths {
                let (data, stat) = tree.get_data(path, &[]).expect("get_data");
                black_box((data, stat));
            }
        })
    });
    group.bench_function("btreemap_get_baseline", |bencher| {
        bencher.iter(|| {
            for path in &paths {
                black_box(map.get(path.as_str()).expect("get"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, creates, sets, point_reads);
criterion_main!(benches);
