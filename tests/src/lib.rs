//! Shared helpers of the integration tests.
//!
//! - [`SplitMix64`]: a tiny deterministic random number generator, so that every randomized test
//!   replays from the seed it prints.
//! - [`BatchWorkload`]: an endless, deterministic sequence of transaction batches, the same in a
//!   writer process and in the test that checks what the writer left on disk.
//! - [`node::TestNode`]: a real Polis node on 127.0.0.1 with a private CA in a temporary folder.
//! - [`raw::RawSession`]: a client that speaks the wire protocol frame by frame, for tests of
//!   the protocol itself (ordering, malformed frames) below the client library.
//! - [`client`]: configurations and small waits for tests that use the Rust client.
//! - [`guests`]: plugin guests built from source, packaged for deployment.
//! - [`city`]: the city workflows (sample city, plugins, alerts) on test nodes.
//! - [`webdriver`]: a minimal WebDriver client for the console's browser test.
//! - [`tls_probe`]: does a node's peer endpoint or ZooKeeper TLS face let a certificate in?
//! - [`wait_until`]: polls a condition with a bounded deadline instead of sleeping.

pub mod city;
pub mod client;
pub mod cluster;
pub mod guests;
pub mod node;
pub mod raw;
pub mod tls_probe;
pub mod webdriver;

use std::collections::VecDeque;

use std::time::{Duration, Instant};

use polis_tree::{Acl, Caller, CloseReason, CreateMode, SessionId, Txn, TxnKind, WriteOp, Zxid};

/// Sebastiano Vigna's SplitMix64: small, fast, and good enough to pick test inputs.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0). The modulo bias is irrelevant for test inputs.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0)");
        self.next_u64() % bound
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "between({low}, {high})");
        low + self.below(high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The parents under which [`BatchWorkload`] creates its nodes.
const PARENTS: u64 = 12;
/// The node names per parent that creates, sets and deletes pick from, so they often collide.
const NAMES: u64 = 48;
/// The payload of the workload's creates and sets.
pub const DATA_LEN: usize = 256;

/// An endless sequence of transaction batches, derived from a seed and the batch number only.
///
/// Batch `k` (numbered from 1) starts at the zxid after batch `k - 1` and holds 1 to 120
/// transactions: creates of 256-byte nodes (persistent, sequential, ephemeral, container, TTL),
/// 256-byte sets, deletes, session opens and closes, multis (some of which fail and roll back),
/// expired-node removals, no-ops, and now and then a slice of the store contract's
/// [`polis_store::contract::workload`]. Many transactions fail (a delete of a missing node, a set
/// with a stale version): failures are deterministic too and exercise the error path.
///
/// Two instances with the same seed produce the same batches, so a test can replay in memory what
/// a writer process committed.
#[derive(Clone, Debug)]
pub struct BatchWorkload {
    seed: u64,
    next_batch: u64,
    next_zxid: Zxid,
    /// Sessions this workload opened and has not closed yet, oldest first.
    sessions: VecDeque<SessionId>,
}

impl BatchWorkload {
    pub fn new(seed: u64) -> BatchWorkload {
        BatchWorkload {
            seed,
            next_batch: 1,
            next_zxid: 1,
            sessions: VecDeque::new(),
        }
    }

    /// The number the next batch will have.
    pub fn next_batch_number(&self) -> u64 {
        self.next_batch
    }

    /// The next batch and its number.
    pub fn next_batch(&mut self) -> (u64, Vec<Txn>) {
        let batch = self.next_batch;
        self.next_batch += 1;
        let mut rng = SplitMix64::new(self.seed ^ batch.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let len = match rng.below(10) {
            0..=2 => 1,
            3..=6 => rng.between(2, 16),
            _ => rng.between(17, 120),
        } as usize;
        if rng.percent(8) {
            // A slice of the contract workload: its own session, nodes /n0../n6 and their kids.
            let txns = polis_store::contract::workload(self.next_zxid, len);
            self.next_zxid += len as Zxid;
            return (batch, txns);
        }
        let txns = (0..len).map(|_| self.next_txn(&mut rng)).collect();
        (batch, txns)
    }

    fn next_txn(&mut self, rng: &mut SplitMix64) -> Txn {
        let zxid = self.next_zxid;
        self.next_zxid += 1;
        let parent = format!("/d{}", rng.below(PARENTS));
        let child = format!("{parent}/n{}", rng.below(NAMES));
        let session = self.some_session(rng);
        let caller = Caller::anonymous(session);
        let kind = match rng.below(100) {
            0..=4 => create(
                Caller::system(),
                &parent,
                data(zxid),
                CreateMode::Persistent,
            ),
            5..=34 => create(caller, &child, data(zxid), CreateMode::Persistent),
            35..=54 => TxnKind::Write {
                caller,
                op: WriteOp::SetData {
                    path: child,
                    data: Some(data(zxid)),
                    version: if rng.percent(80) { -1 } else { 1 },
                },
            },
            55..=66 => TxnKind::Write {
                caller,
                op: WriteOp::Delete {
                    path: child,
                    version: -1,
                },
            },
            67..=72 => {
                self.sessions.push_back(zxid);
                TxnKind::OpenSession {
                    timeout_ms: 10_000,
                    password: [zxid as u8; 16],
                }
            }
            73..=75 => match self.sessions.pop_front() {
                Some(session_id) => TxnKind::CloseSession {
                    session_id,
                    reason: if rng.percent(50) {
                        CloseReason::Closed
                    } else {
                        CloseReason::Expired
                    },
                },
                None => TxnKind::Noop,
            },
            76..=81 => {
                let mode = if rng.percent(50) {
                    CreateMode::Ephemeral
                } else {
                    CreateMode::EphemeralSequential
                };
                let name = format!("{parent}/e{}", rng.below(NAMES));
                create(caller, &name, data(zxid), mode)
            }
            82..=91 => {
                let name = format!("{parent}/m{}", rng.below(NAMES));
                let mut ops = vec![
                    WriteOp::Create {
                        path: name.clone(),
                        data: Some(data(zxid)),
                        acl: Acl::open().to_vec(),
                        mode: CreateMode::Persistent,
                    },
                    WriteOp::SetData {
                        path: name.clone(),
                        data: Some(data(zxid + 1)),
                        version: 0,
                    },
                    WriteOp::Check {
                        path: parent.clone(),
                        version: -1,
                    },
                ];
                if rng.percent(30) {
                    // Deleting the node just created: the multi succeeds and leaves no node.
                    ops.push(WriteOp::Delete {
                        path: name,
                        version: 1,
                    });
                }
                if rng.percent(20) {
                    // A set on a node that may not exist: then the whole multi rolls back.
                    ops.push(WriteOp::SetData {
                        path: child,
                        data: Some(data(zxid + 2)),
                        version: -1,
                    });
                }
                TxnKind::Multi { caller, ops }
            }
            92..=93 => create(
                caller,
                &format!("{parent}/s-"),
                data(zxid),
                CreateMode::PersistentSequential,
            ),
            94..=95 => {
                let mode = if rng.percent(50) {
                    CreateMode::Container
                } else {
                    CreateMode::PersistentWithTtl { ttl_ms: 20 }
                };
                create(caller, &format!("{parent}/x"), data(zxid), mode)
            }
            96..=97 => TxnKind::RemoveExpiredNode {
                path: format!("{parent}/x"),
            },
            _ => TxnKind::Noop,
        };
        Txn {
            zxid,
            time_ms: 1_000_000 + zxid * 10,
            kind,
        }
    }

    /// One of the open sessions, or now and then the system session (which owns no ephemerals, so
    /// an ephemeral create on it fails).
    fn some_session(&self, rng: &mut SplitMix64) -> SessionId {
        if self.sessions.is_empty() || rng.percent(10) {
            return polis_tree::SYSTEM_SESSION_ID;
        }
        let index = rng.below(self.sessions.len() as u64) as usize;
        self.sessions[index]
    }
}

/// A 256-byte payload that differs from one zxid to the next.
pub fn data(zxid: Zxid) -> Vec<u8> {
    (0..DATA_LEN)
        .map(|index| (zxid as u8).wrapping_mul(31).wrapping_add(index as u8))
        .collect()
}

fn create(caller: Caller, path: &str, data: Vec<u8>, mode: CreateMode) -> TxnKind {
    TxnKind::Write {
        caller,
        op: WriteOp::Create {
            path: path.to_string(),
            data: Some(data),
            acl: Acl::open().to_vec(),
            mode,
        },
    }
}

/// How often [`eventually`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Asks `probe` until it answers a value, and returns it; fails the test, naming `what`, if it
/// has not answered within `deadline`. The one polling helper of the integration tests: they
/// wait for a condition this way instead of sleeping a guessed amount.
pub async fn eventually<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until `condition` holds, checking every few milliseconds, for at most `deadline`.
/// Returns whether it held. Tests use this instead of sleeping a guessed amount.
pub async fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polis_tree::DataTree;

    #[test]
    fn same_seed_gives_the_same_batches() {
        let mut first = BatchWorkload::new(7);
        let mut second = BatchWorkload::new(7);
        for _ in 0..50 {
            assert_eq!(first.next_batch(), second.next_batch());
        }
    }

    #[test]
    fn batches_have_consecutive_zxids() {
        let mut workload = BatchWorkload::new(3);
        let mut next = 1;
        for expected_batch in 1..=100 {
            let (batch, txns) = workload.next_batch();
            assert_eq!(batch, expected_batch);
            assert!(!txns.is_empty());
            for txn in txns {
                assert_eq!(txn.zxid, next);
                next += 1;
            }
        }
    }

    #[test]
    fn workload_builds_a_varied_tree() {
        let mut workload = BatchWorkload::new(11);
        let mut tree = DataTree::new(polis_store::contract::test_limits());
        let (mut succeeded, mut failed) = (0, 0);
        for _ in 0..200 {
            for txn in workload.next_batch().1 {
                match tree.apply(&txn).result {
                    Ok(_) => succeeded += 1,
                    Err(_) => failed += 1,
                }
            }
        }
        assert!(
            succeeded > failed,
            "most transactions succeed: {succeeded} ok, {failed} failed"
        );
        assert!(tree.node_count() > 200, "{} nodes", tree.node_count());
        assert!(!tree.sessions().is_empty(), "some sessions stay open");
    }
}
