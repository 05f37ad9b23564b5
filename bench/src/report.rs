//! Figures per case and system over all repeats, the markdown table, and the JSON of everything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::load::{Measurement, Workload};
use crate::session::SystemKind;

/// The figures of one case and system, over one repeat or all of them.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    pub operations: u64,
    pub seconds: f64,
    pub operations_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// The slowest operation: a stall (a snapshot, a pause) shows here before it reaches p99.9.
    pub max_ms: f64,
    pub errors: u64,
    /// Server CPU (user + system, all server processes) per 1,000 successful operations.
    pub server_cpu_seconds_per_1000_operations: Option<f64>,
    /// Polis: transactions per durable append (fsync) of the leader's log during the window:
    /// group commit packs many into one entry.
    pub transactions_per_fsync_leader: Option<f64>,
    /// Polis: Raft log entries per durable append (fsync) on the leader during the window.
    pub raft_entries_per_fsync_leader: Option<f64>,
    /// The same over all three nodes.
    pub raft_entries_per_fsync_all_nodes: Option<f64>,
    /// Polis: peer handshakes during the window, when the server exports the counter.
    pub peer_handshakes: Option<f64>,
}

impl Figures {
    fn of(measurements: &[&Measurement]) -> Option<Figures> {
        let first = measurements.first()?;
        let mut latencies = first.latencies.clone();
        for measurement in &measurements[1..] {
            latencies
                .add(&measurement.latencies)
                .expect("histograms of equal bounds add");
        }
        let seconds: f64 = measurements.iter().map(|m| m.seconds).sum();
        let errors = measurements.iter().map(|m| m.errors).sum();
        let cpu: f64 = measurements.iter().map(|m| m.server_cpu_seconds).sum();
        let operations = latencies.len();
        let polis: Vec<_> = measurements.iter().filter_map(|m| m.polis).collect();
        let per_fsync = |appends: &mut dyn Iterator<Item = (f64, f64)>| {
            let (entries, fsyncs) = appends.fold((0.0, 0.0), |sum, (entries, fsyncs)| {
                (sum.0 + entries, sum.1 + fsyncs)
            });
            (fsyncs > 0.0).then(|| entries / fsyncs)
        };
        let handshakes: Vec<f64> = polis.iter().filter_map(|p| p.peer_handshakes).collect();
        let leader_txns_and_fsyncs = polis.iter().filter_map(|p| {
            let txns = p.leader_txns?;
            let (_, fsyncs) = p.leader_appends?;
            Some((txns, fsyncs))
        });
        let millis = |quantile: f64| latencies.value_at_quantile(quantile) as f64 / 1000.0;
        Some(Figures {
            operations,
            seconds,
            operations_per_second: operations as f64 / seconds,
            p50_ms: millis(0.50),
            p99_ms: millis(0.99),
            p999_ms: millis(0.999),
            max_ms: latencies.max() as f64 / 1000.0,
            errors,
            server_cpu_seconds_per_1000_operations: (operations > 0)
                .then(|| cpu * 1000.0 / operations as f64),
            transactions_per_fsync_leader: per_fsync(&mut leader_txns_and_fsyncs.into_iter()),
            raft_entries_per_fsync_leader: per_fsync(
                &mut polis.iter().filter_map(|p| p.leader_appends),
            ),
            raft_entries_per_fsync_all_nodes: per_fsync(&mut polis.iter().map(|p| p.all_appends)),
            peer_handshakes: (!handshakes.is_empty()).then(|| handshakes.iter().sum()),
        })
    }
}

/// What one repeat of one case gave: figures, or why the case could not run.
#[derive(Debug)]
pub enum Outcome {
    Measured(Measurement),
    Failed(String),
}

#[derive(Debug, Serialize)]
struct RepeatJson {
    repeat: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    figures: Option<Figures>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    error_samples: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
}

#[derive(Debug, Serialize)]
struct CaseJson {
    workload: &'static str,
    sessions: usize,
    system: &'static str,
    /// Over all repeats: operations and seconds added up, latency histograms merged.
    summary: Option<Figures>,
    /// Polis's ops/s and p99 over ZooKeeper's and etcd's in the same case.
    ratios: BTreeMap<String, f64>,
    repeats: Vec<RepeatJson>,
}

/// Every outcome of a run, by case and system.
#[derive(Debug, Default)]
pub struct Results {
    outcomes: BTreeMap<(Workload, usize, SystemKind), Vec<(usize, Outcome)>>,
}

impl Results {
    pub fn add(
        &mut self,
        workload: Workload,
        sessions: usize,
        system: SystemKind,
        repeat: usize,
        outcome: Outcome,
    ) {
        self.outcomes
            .entry((workload, sessions, system))
            .or_default()
            .push((repeat, outcome));
    }

    fn summary(&self, key: &(Workload, usize, SystemKind)) -> Option<Figures> {
        let measurements: Vec<&Measurement> = self
            .outcomes
            .get(key)?
            .iter()
            .filter_map(|(_, outcome)| match outcome {
                Outcome::Measured(measurement) => Some(measurement),
                Outcome::Failed(_) => None,
            })
            .collect();
        Figures::of(&measurements)
    }

    /// Polis's figures over a baseline's in the same case: ops/s and p99.
    fn ratios(&self, key: &(Workload, usize, SystemKind)) -> BTreeMap<String, f64> {
        let mut ratios = BTreeMap::new();
        let (workload, sessions, system) = *key;
        if !system.is_polis() {
            return ratios;
        }
        let Some(polis) = self.summary(key) else {
            return ratios;
        };
        for baseline in [SystemKind::ZooKeeper, SystemKind::Etcd] {
            let Some(other) = self.summary(&(workload, sessions, baseline)) else {
                continue;
            };
            if other.operations_per_second > 0.0 {
                ratios.insert(
                    format!("ops_per_second_vs_{}", baseline.name()),
                    polis.operations_per_second / other.operations_per_second,
                );
            }
            if other.p99_ms > 0.0 && polis.operations > 0 {
                ratios.insert(
                    format!("p99_vs_{}", baseline.name()),
                    polis.p99_ms / other.p99_ms,
                );
            }
        }
        ratios
    }

    /// The markdown table: one row per case and system, Polis's rows with its ratios to
    /// ZooKeeper and etcd.
    pub fn markdown(&self) -> String {
        let mut table = String::new();
        table.push_str(
            "| workload | sessions | system | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors \
             | server CPU s/1k ops | txns/fsync leader | Raft entries/fsync leader, all \
             | peer handshakes \
             | ops/s ÷ ZK | p99 ÷ ZK | ops/s ÷ etcd | p99 ÷ etcd |\n",
        );
        table.push_str(
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: \
             | ---: | ---: | ---: | ---: | ---: |\n",
        );
        let dash = || "-".to_string();
        let number = |value: Option<f64>, decimals: usize| {
            value.map_or_else(dash, |value| format!("{value:.decimals$}"))
        };
        for key in self.outcomes.keys() {
            let (workload, sessions, system) = *key;
            let Some(figures) = self.summary(key) else {
                let reason = self.outcomes[key]
                    .iter()
                    .find_map(|(_, outcome)| match outcome {
                        Outcome::Failed(reason) => Some(reason.as_str()),
                        Outcome::Measured(_) => None,
                    })
                    .unwrap_or("no measurement");
                let _ = writeln!(
                    table,
                    "| {} | {sessions} | {} | failed: {} | | | | | | | | | | | | | |",
                    workload.name(),
                    system.name(),
                    reason.replace('|', "/").replace('\n', " ")
                );
                continue;
            };
            let ratios = self.ratios(key);
            let ratio = |name: &str| number(ratios.get(name).copied(), 2);
            let _ = writeln!(
                table,
                "| {} | {sessions} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} \
                 | {} \
                 | {} | {} | {} | {} |",
                workload.name(),
                system.name(),
                figures.operations_per_second,
                figures.p50_ms,
                figures.p99_ms,
                figures.p999_ms,
                figures.max_ms,
                figures.errors,
                number(figures.server_cpu_seconds_per_1000_operations, 3),
                number(figures.transactions_per_fsync_leader, 1),
                match (
                    figures.raft_entries_per_fsync_leader,
                    figures.raft_entries_per_fsync_all_nodes
                ) {
                    (None, None) => dash(),
                    (leader, all) => format!("{}, {}", number(leader, 2), number(all, 2)),
                },
                number(figures.peer_handshakes, 0),
                ratio("ops_per_second_vs_zookeeper"),
                ratio("p99_vs_zookeeper"),
                ratio("ops_per_second_vs_etcd"),
                ratio("p99_vs_etcd"),
            );
        }
        table
    }

    /// Every figure, per repeat and summed, as JSON.
    pub fn json(&self, settings: serde_json::Value) -> serde_json::Value {
        let cases: Vec<CaseJson> = self
            .outcomes
            .iter()
            .map(|(key, outcomes)| {
                let (workload, sessions, system) = *key;
                CaseJson {
                    workload: workload.name(),
                    sessions,
                    system: system.name(),
                    summary: self.summary(key),
                    ratios: self.ratios(key),
                    repeats: outcomes
                        .iter()
                        .map(|(repeat, outcome)| match outcome {
                            Outcome::Measured(measurement) => RepeatJson {
                                repeat: *repeat,
                                figures: Figures::of(&[measurement]),
                                error_samples: measurement.error_samples.clone(),
                                failure: None,
                            },
                            Outcome::Failed(reason) => RepeatJson {
                                repeat: *repeat,
                                figures: None,
                                error_samples: Vec::new(),
                                failure: Some(reason.clone()),
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        serde_json::json!({ "settings": settings, "cases": cases })
    }
}
