//! The contracts that Polis's decoders of outside bytes are fuzzed against, one function per
//! fuzz target, shared by the libFuzzer targets in `fuzz/` and by this crate's tests, which
//! replay every seed and every input a fuzzer ever failed (`fuzz/seeds/TARGET/`,
//! `fuzz/regressions/TARGET/`) in the normal `cargo test`, without a fuzzer.
//!
//! Every check asserts, for arbitrary bytes:
//! - the decoder returns (an error is fine) and never panics;
//! - it allocates at most its [`AllocationBound`] for the input's size, measured by
//!   [`CountingAllocator`] where a binary installs it;
//! - where an encoder exists, whatever decodes encodes to bytes that decode to the same value,
//!   and encoding is stable (`encode(decode(encode(x))) == encode(x)`).
//!
//! A failed assertion panics with the target's name: libFuzzer saves the input, and the input
//! goes into `fuzz/regressions/TARGET/`.

mod alloc;
mod targets;

pub use alloc::{CountingAllocator, peak_during};
pub use targets::*;

/// The most a decoder may allocate for an input: `fixed_bytes` whatever the input, plus
/// `per_input_byte` for each byte of it. The fixed part covers what a decoder sets aside before
/// it knows the input's size (a length-prefixed frame buffer bounded by its limit, serde's
/// cautious preallocation of at most 1 MiB per sequence); the per-byte part covers the decoded
/// value's own overhead (a 4-byte empty string on the wire is a 24-byte `String`).
#[derive(Clone, Copy, Debug)]
pub struct AllocationBound {
    pub fixed_bytes: usize,
    pub per_input_byte: usize,
}

impl AllocationBound {
    /// The bound for an input of `input_len` bytes.
    pub fn for_input(self, input_len: usize) -> usize {
        self.fixed_bytes
            .saturating_add(self.per_input_byte.saturating_mul(input_len))
    }
}

/// Runs `decode` on `input` under `bound`, panicking if it allocated more.
pub fn bounded<T>(
    target: &str,
    input: &[u8],
    bound: AllocationBound,
    decode: impl FnOnce() -> T,
) -> T {
    let (result, peak_bytes) = peak_during(decode);
    let bytes_max = bound.for_input(input.len());
    assert!(
        peak_bytes <= bytes_max,
        "{target}: decoding {} input bytes allocated {peak_bytes} bytes, over its bound of \
         {bytes_max} ({bound:?})",
        input.len()
    );
    result
}

/// One fuzz target: its name (the file `fuzz/fuzz_targets/NAME.rs`, the folders under
/// `fuzz/seeds/` and `fuzz/regressions/`) and its check.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
}

/// Every target, the most exposed first: what anyone reaching a client port sends, then what a
/// peer sends, then what a node reads from its own disk, then the rest.
pub const TARGETS: &[Target] = &[
    Target {
        name: "zk_frames",
        check: zk_frames,
    },
    Target {
        name: "zk_auth",
        check: zk_auth,
    },
    Target {
        name: "native_frames",
        check: native_frames,
    },
    Target {
        name: "admin_http_head",
        check: admin_http_head,
    },
    Target {
        name: "peer_messages",
        check: peer_messages,
    },
    Target {
        name: "raft_journal",
        check: raft_journal,
    },
    Target {
        name: "raft_snapshot_file",
        check: raft_snapshot_file,
    },
    Target {
        name: "tree_snapshot",
        check: tree_snapshot,
    },
    Target {
        name: "store_records",
        check: store_records,
    },
    Target {
        name: "quota_text",
        check: quota_text,
    },
    Target {
        name: "plugin_manifest",
        check: plugin_manifest,
    },
    Target {
        name: "cap_xml",
        check: cap_xml,
    },
];
