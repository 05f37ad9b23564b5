//! Resident memory per znode of a [`DataTree`], next to a plain `BTreeMap<String, Vec<u8>>` that
//! holds the same paths and data (the baseline).
//!
//! Each structure is built in a child process of its own (this binary, re-executed), so that
//! neither inherits the other's freed heap: the figure is the growth of the resident set
//! (`/proc/self/statm`) while building 1,000,000 znodes with 32 to 64 bytes of data under 1,000
//! parents, divided by the number of znodes. The tree is built with the default limits, so its
//! figure includes the default change-history window of 100,000 events, and is drained of pending
//! change sets every 1,000 creates, as the server does after each committed batch.
//!
//! Runs under `cargo bench -p polis-store` (Linux only: it reads `/proc`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use polis_tree::{Acl, Caller, CreateMode, DataTree, Limits, Txn, TxnKind, WriteOp};

const ZNODES: u64 = 1_000_000;
const PARENTS: u64 = 1_000;
/// Set in the child processes: which structure to build and measure.
const ENV_MEASURE: &str = "POLIS_MEMORY_MEASURE";
const DATA_TREE: &str = "data_tree";
const BTREEMAP: &str = "btreemap";

fn main() {
    if let Ok(structure) = std::env::var(ENV_MEASURE) {
        measure(&structure);
        return;
    }
    // `cargo bench -- <filter>`: run only if the filter names this benchmark.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|filter| "memory_per_znode".contains(filter))
    {
        return;
    }
    let tree = run_child(DATA_TREE);
    let map = run_child(BTREEMAP);
    println!("memory_per_znode ({ZNODES} znodes under {PARENTS} parents, 32..64-byte data)");
    println!(
        "  data_tree:          {:>7.1} bytes/znode resident ({:.1} MiB)",
        tree.bytes_per_znode,
        tree.bytes as f64 / (1 << 20) as f64
    );
    println!(
        "  btreemap_baseline:  {:>7.1} bytes/znode resident ({:.1} MiB)",
        map.bytes_per_znode,
        map.bytes as f64 / (1 << 20) as f64
    );
    println!(
        "  ratio data_tree / btreemap_baseline: {:.2}",
        tree.bytes_per_znode / map.bytes_per_znode
    );
}

struct Measured {
    bytes: u64,
    bytes_per_znode: f64,
}

/// Runs this binary to build and measure one structure; parses its `resident_bytes` line.
fn run_child(structure: &str) -> Measured {
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .env(ENV_MEASURE, structure)
        .output()
        .expect("run the measuring child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "measuring {structure} failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes: u64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("resident_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no resident_bytes line from {structure}: {stdout}"));
    Measured {
        bytes,
        bytes_per_znode: bytes as f64 / (ZNODES + PARENTS) as f64,
    }
}

/// Builds one structure and prints `resident_bytes <growth>`.
fn measure(structure: &str) {
    let started = Instant::now();
    let before = resident_bytes();
    let growth = match structure {
        DATA_TREE => {
            let tree = build_tree();
            let growth = resident_bytes().saturating_sub(before);
            assert_eq!(tree.node_count() as u64, ZNODES + PARENTS + 2);
            black_box(&tree);
            growth
        }
        BTREEMAP => {
            let map = build_map();
            let growth = resident_bytes().saturating_sub(before);
            assert_eq!(map.len() as u64, ZNODES + PARENTS);
            black_box(&map);
            growth
        }
        other => panic!("unknown structure {other}"),
    };
    println!("resident_bytes {growth}");
    eprintln!("built {structure} in {:.1?}", started.elapsed());
}

/// The znodes, parents first: path and data.
fn znodes() -> impl Iterator<Item = (String, Vec<u8>)> {
    let parents = (0..PARENTS).map(|parent| (format!("/p{parent}"), Vec::new()));
    let children = (0..ZNODES).map(|number| {
        let len = 32 + (number * 7 % 33) as usize;
        let path = format!("/p{}/n{number}", number % PARENTS);
        (path, vec![number as u8; len])
    });
    parents.chain(children)
}

fn build_tree() -> DataTree {
    let mut tree = DataTree::new(Limits::default());
    for (index, (path, data)) in znodes().enumerate() {
        let zxid = index as i64 + 1;
        let applied = tree.apply(&Txn {
            zxid,
            time_ms: 1_700_000_000_000 + zxid,
            kind: TxnKind::Write {
                caller: Caller::anonymous(polis_tree::SYSTEM_SESSION_ID),
                op: WriteOp::Create {
                    path,
                    data: Some(data),
                    acl: Acl::open().to_vec(),
                    mode: CreateMode::Persistent,
                },
            },
        });
        assert!(applied.result.is_ok(), "{:?}", applied.result);
        if zxid % 1_000 == 0 {
            drop(tree.take_changes());
        }
    }
    drop(tree.take_changes());
    tree
}

fn build_map() -> BTreeMap<String, Vec<u8>> {
    znodes().collect()
}

/// The resident set size: `/proc/self/statm`'s second field, in pages.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's resident field");
    pages * page_size()
}

/// The page size from the auxiliary vector (`AT_PAGESZ`), without unsafe code.
fn page_size() -> u64 {
    const AT_PAGESZ: usize = 6;
    const WORD: usize = size_of::<usize>();
    let auxv = std::fs::read("/proc/self/auxv").expect("read /proc/self/auxv");
    let word = |bytes: &[u8]| usize::from_ne_bytes(bytes.try_into().expect("one word"));
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .find(|(key, _)| *key == AT_PAGESZ)
        .map_or(4096, |(_, value)| value as u64)
}
