//! Replays every seed and every input a fuzzer ever failed through its target's check, so that
//! `cargo test` (and so CI) holds the decoders to their contracts without a fuzzer.
//!
//! The inputs live beside the fuzz targets: `fuzz/seeds/TARGET/` (a small corpus to start a
//! fuzzer from) and `fuzz/regressions/TARGET/` (each input that once failed, kept forever).

use std::path::{Path, PathBuf};

use polis_fuzz_checks::{CountingAllocator, TARGETS};

// The checks' allocation bounds hold only where allocations are counted.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/KIND/TARGET/`, sorted; none if the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    for target in TARGETS {
        for file in inputs(kind, target.name) {
            let bytes = std::fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| (target.check)(&bytes));
            assert!(
                outcome.is_ok(),
                "{} failed on {}",
                target.name,
                file.display()
            );
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_seed_passes_its_targets_check() {
    assert!(replay("seeds") > 0, "the seed corpus is missing");
}

#[test]
fn every_regression_input_passes_its_targets_check() {
    replay("regressions");
}

#[test]
fn every_target_has_seeds_and_a_fuzz_target() {
    for target in TARGETS {
        assert!(
            !inputs("seeds", target.name).is_empty(),
            "fuzz/seeds/{} is empty",
            target.name
        );
        let source = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        assert!(source.is_file(), "{} has no fuzz target", source.display());
    }
}
