//! The request latencies `srvr`, `stat` and `mntr` report, as ZooKeeper's `ServerStats` keeps
//! them: the smallest, the largest and the mean, in milliseconds, since the start or the last
//! `srst`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Request latencies on one node's ZooKeeper face, from a request's arrival to its reply's
/// write. Lock-free: every reply updates it.
#[derive(Debug)]
pub struct RequestLatency {
    count: AtomicU64,
    total_micros: AtomicU64,
    min_micros: AtomicU64,
    max_micros: AtomicU64,
}

/// The figures as the words print them, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyFigures {
    pub min_ms: u64,
    pub avg_ms: f64,
    pub max_ms: u64,
}

impl Default for RequestLatency {
    fn default() -> RequestLatency {
        RequestLatency {
            count: AtomicU64::new(0),
            total_micros: AtomicU64::new(0),
            min_micros: AtomicU64::new(u64::MAX),
            max_micros: AtomicU64::new(0),
        }
    }
}

impl RequestLatency {
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.min_micros.fetch_min(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Zero until a request was answered, as ZooKeeper prints them.
    pub fn figures(&self) -> LatencyFigures {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return LatencyFigures {
                min_ms: 0,
                avg_ms: 0.0,
                max_ms: 0,
            };
        }
        let total = self.total_micros.load(Ordering::Relaxed);
        LatencyFigures {
            min_ms: self.min_micros.load(Ordering::Relaxed) / 1_000,
            avg_ms: total as f64 / count as f64 / 1_000.0,
            max_ms: self.max_micros.load(Ordering::Relaxed) / 1_000,
        }
    }

    /// `srst`: starts counting again.
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total_micros.store(0, Ordering::Relaxed);
        self.min_micros.store(u64::MAX, Ordering::Relaxed);
        self.max_micros.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_reported_in_milliseconds_and_reset() {
        let latency = RequestLatency::default();
        assert_eq!(latency.figures().max_ms, 0);
        latency.record(Duration::from_micros(1_500));
        latency.record(Duration::from_micros(4_500));
        let figures = latency.figures();
        assert_eq!((figures.min_ms, figures.max_ms), (1, 4));
        assert!((figures.avg_ms - 3.0).abs() < 1e-9);
        latency.reset();
        assert_eq!(latency.figures().avg_ms, 0.0);
    }
}
