//! The ids that make a session's retried writes apply at most once.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (an odd constant, so that `start + n × STEP` never repeats within 2^64
/// steps).
const STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// A node's source of write ids (see `polis_tree::TxnKind::Once`): distinct for every write this
/// node makes, and unlikely to meet another node's, each node starting from its own random seed.
///
/// A write id only has to differ from the ids of the same session's other writes still in its
/// record (`polis_tree::SessionWrites`); it is no secret, since a client never chooses one. So
/// one system random number per node, stepped and mixed per write as SplitMix64 does, serves
/// instead of a system call per write (the request path made one per write before, about 1 % of
/// the server's CPU time under load). Mixing is a bijection of the stepped state, so ids repeat
/// only after 2^64 writes; two nodes' sequences overlap only if their random starts fall within
/// as many steps of each other as they make, a chance of about writes ÷ 2^64.
#[derive(Debug)]
pub struct WriteIds {
    state: AtomicU64,
}

impl WriteIds {
    /// A source starting from `seed` (drawn from the system's random source by the node).
    pub fn new(seed: u64) -> WriteIds {
        WriteIds {
            state: AtomicU64::new(seed),
        }
    }

    /// The next write id.
    pub fn next_id(&self) -> u64 {
        let state = self
            .state
            .fetch_add(STEP, Ordering::Relaxed)
            .wrapping_add(STEP);
        mix(state)
    }
}

/// SplitMix64's output function: a bijection on 64-bit values.
fn mix(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ids_do_not_repeat_and_differ_between_seeds() {
        let first = WriteIds::new(7);
        let second = WriteIds::new(8);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            assert!(seen.insert(first.next_id()), "an id repeated");
            assert!(seen.insert(second.next_id()), "two seeds met");
        }
    }
}
