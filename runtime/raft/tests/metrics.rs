//! The log store records its fsync time and append batch sizes.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{command_entry, create};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use openraft::storage::RaftLogStorageExt;
use polis_raft::{RAFT_LOG_FILE_NAME, RedbLogStore};

/// Every histogram value recorded, by metric name.
type Recorded = Arc<Mutex<BTreeMap<String, Vec<f64>>>>;

/// A recorder that keeps histogram values and ignores everything else.
struct HistogramCapture {
    recorded: Recorded,
}

struct CapturedHistogram {
    name: String,
    recorded: Recorded,
}

impl HistogramFn for CapturedHistogram {
    fn record(&self, value: f64) {
        self.recorded
            .lock()
            .expect("recorded values")
            .entry(self.name.clone())
            .or_default()
            .push(value);
    }
}

impl Recorder for HistogramCapture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(CapturedHistogram {
            name: key.name().to_string(),
            recorded: self.recorded.clone(),
        }))
    }
}

#[tokio::test]
async fn append_records_batch_size_and_fsync_time() {
    let recorded = Recorded::default();
    metrics::set_global_recorder(HistogramCapture {
        recorded: recorded.clone(),
    })
    .expect("the only recorder of this test binary");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut log = RedbLogStore::open(dir.path().join(RAFT_LOG_FILE_NAME)).expect("open");
    let batch: Vec<_> = (1..=5)
        .map(|index| command_entry(1, index, create(&format!("/m{index}"), b"x")))
        .collect();
    log.blocking_append(batch).await.expect("append");

    let recorded = recorded.lock().expect("recorded values");
    assert_eq!(recorded.get("polis_raft_append_entries"), Some(&vec![5.0]));
    let fsyncs = recorded
        .get("polis_raft_fsync_seconds")
        .expect("fsync times");
    assert!(!fsyncs.is_empty() && fsyncs.iter().all(|seconds| *seconds >= 0.0));
}
