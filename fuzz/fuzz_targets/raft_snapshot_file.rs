//! Fuzz target `raft_snapshot_file`: the check `polis_fuzz_checks::raft_snapshot_file` (its documentation says which decoder
//! and what contract) on libFuzzer's inputs, with allocations counted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use polis_fuzz_checks::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fuzz_target!(|bytes: &[u8]| polis_fuzz_checks::raft_snapshot_file(bytes));
