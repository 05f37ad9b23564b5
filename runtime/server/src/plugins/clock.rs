//! [`Clock`]: the leader's ticks of `/polis/clock`, the only time plugins see pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use polis_plugin_layout::{CLOCK_PATH, Revision};
use polis_tree::{Acl, Caller, CreateMode, EventKind, Id, Perms, TxnKind, WriteOp};

use crate::node::Node;

/// The platform's clock for plugins: time as committed events. Plugins have no wall clock (they
/// must be deterministic), so a plugin that needs time to pass without other events — say, to
/// escalate an alert nobody acknowledged — triggers on [`CLOCK_PATH`]. While some deployed
/// plugin does, the leader sets that node to its wall-clock milliseconds every interval; each tick
/// is an ordinary committed change, so its commit time is the plugin's `commit-time`, the same on
/// every replica and in every replay.
pub(super) struct Clock {
    interval: Duration,
    last_tick: Option<std::time::Instant>,
    in_flight: Arc<std::sync::atomic::AtomicBool>,
}

impl Clock {
    pub(super) fn new(interval: Duration) -> Clock {
        Clock {
            interval,
            last_tick: None,
            in_flight: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    pub(super) fn tick_if_due(
        &mut self,
        node: &Arc<Node>,
        wanted: &BTreeMap<String, (Revision, Option<polis_tree::Zxid>)>,
    ) {
        use std::sync::atomic::Ordering;
        if self.interval.is_zero()
            || self
                .last_tick
                .is_some_and(|last| last.elapsed() < self.interval)
            || !wanted.values().any(|(revision, _)| {
                revision
                    .manifest
                    .triggers
                    .matches_path(CLOCK_PATH, EventKind::NodeDataChanged)
            })
            || self.in_flight.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.last_tick = Some(std::time::Instant::now());
        let node = node.clone();
        let in_flight = self.in_flight.clone();
        tokio::spawn(async move {
            // A new leader whose wall clock runs behind the old one's does not tick backwards:
            // the committed time is the floor, as it is for the tick's commit time.
            let committed_ms = node.reader.read().await.last_time_ms();
            let now_ms = node
                .clock
                .wall_ms()
                .max(committed_ms)
                .to_string()
                .into_bytes();
            let set = TxnKind::Write {
                caller: Caller::system(),
                op: WriteOp::SetData {
                    path: CLOCK_PATH.to_string(),
                    data: Some(now_ms.clone()),
                    version: -1,
                },
            };
            let result = match node.leader.propose(set).await {
                Ok(response) if response.result.is_err() => {
                    // The first tick creates the node.
                    let create = TxnKind::Write {
                        caller: Caller::system(),
                        op: WriteOp::Create {
                            path: CLOCK_PATH.to_string(),
                            data: Some(now_ms),
                            acl: vec![Acl::new(Perms::READ, Id::anyone())],
                            mode: CreateMode::Persistent,
                        },
                    };
                    node.leader.propose(create).await.map(|_| ())
                }
                other => other.map(|_| ()),
            };
            if let Err(error) = result {
                tracing::debug!(%error, "the plugin clock did not tick");
            }
            in_flight.store(false, Ordering::Release);
        });
    }
}
