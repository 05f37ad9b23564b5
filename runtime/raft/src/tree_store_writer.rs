//! The thread that writes the tree store and the applied checkpoint, behind the apply path.
//!
//! Why: the state machine applies under the tree's write lock (local reads wait for it), and
//! committing a tree change set to redb or syncing the tree file took that lock with it. Measured
//! under 64 sessions' creates: 16–42 ms per commit of 64 entries' changes (one every ~180 ms),
//! and 110–175 ms for a checkpoint's sync, on all three nodes at once; that was the creates' p99
//! and p99.9. Neither needs the lock: the change set is taken from the tree under it (cheap), and
//! the tree store is not the point of durability (the Raft log is; a restart re-applies the log
//! after the tree's stored zxid). So a dedicated thread writes them, in order, while applies go
//! on, as ZooKeeper's `SyncRequestProcessor` takes the disk off its request pipeline.
//!
//! The invariants the files keep are unchanged, because the jobs run in the order they were
//! queued: a checkpoint ([`AppliedCheckpoint`]) is written only after the tree store was synced
//! with every change set queued before it, so it never claims more than the tree file holds.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use polis_store::{StoreView, TreeStore};
use polis_tree::ChangeSet;

use crate::RaftStoreError;
use crate::applied_checkpoint::{AppliedCheckpoint, AppliedCheckpointFile};

/// The most jobs waiting for the writer thread; an apply that would queue another waits (on its
/// blocking thread) until the writer has caught up. Each job is one change set of at most
/// [`crate::TREE_COMMIT_INTERVAL_ENTRIES`] entries, or a checkpoint: this bounds the memory held
/// for the writer to two change sets beside the one the tree is gathering.
pub const TREE_STORE_QUEUE_MAX: usize = 2;

/// One piece of work for the writer thread.
enum StoreJob {
    /// Commit a change set to the tree store (without fsync).
    Commit(ChangeSet),
    /// Sync the tree store, then write the checkpoint durably.
    Checkpoint(AppliedCheckpoint),
    /// Answer once every job before it is done.
    Barrier(SyncSender<()>),
    /// Answer with a view of the store as every job before it left it.
    View(SyncSender<Box<dyn StoreView>>),
}

/// What the state machine and the writer thread share.
struct WriterShared {
    store: Mutex<Box<dyn TreeStore + Send + Sync>>,
    checkpoints: AppliedCheckpointFile,
    /// The writer's first failure. It stops there: a change set skipped would leave the tree
    /// store holding a state no applied prefix had, so later jobs are not run.
    failure: Mutex<Option<String>>,
}

impl WriterShared {
    fn store(&self) -> MutexGuard<'_, Box<dyn TreeStore + Send + Sync>> {
        // Only the writer thread and a drained caller take it, one at a time; a panic in a store
        // call is a failure the writer has recorded, so a poisoned lock is taken over.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The error of a job that will not be done: the writer's failure, or its end.
    fn failed(&self) -> RaftStoreError {
        RaftStoreError::TreeWriterFailed(
            self.failure()
                .unwrap_or_else(|| "the writer thread ended".to_owned()),
        )
    }

    fn run(&self, job: StoreJob) -> Result<(), RaftStoreError> {
        match job {
            StoreJob::Commit(changes) => self.store().commit(&changes)?,
            StoreJob::Checkpoint(checkpoint) => {
                self.store().sync()?;
                self.checkpoints.write(&checkpoint)?;
            }
            StoreJob::Barrier(done) => {
                // The caller may have stopped waiting; nothing is lost either way.
                let _ = done.send(());
            }
            StoreJob::View(answer) => {
                // Taking the view is cheap (a read transaction); reading it is the caller's work,
                // done while this thread goes on committing.
                let view = self.store().view()?;
                let _ = answer.send(view);
            }
        }
        Ok(())
    }
}

/// The tree store and the checkpoint file, written by a thread of their own.
pub(crate) struct TreeStoreWriter {
    jobs: Option<SyncSender<StoreJob>>,
    shared: Arc<WriterShared>,
    thread: Option<JoinHandle<()>>,
}

impl TreeStoreWriter {
    /// Starts the writer thread over `store` and `checkpoints`.
    pub(crate) fn start(
        store: Box<dyn TreeStore + Send + Sync>,
        checkpoints: AppliedCheckpointFile,
    ) -> Result<TreeStoreWriter, RaftStoreError> {
        let shared = Arc::new(WriterShared {
            store: Mutex::new(store),
            checkpoints,
            failure: Mutex::new(None),
        });
        let (jobs, received) = mpsc::sync_channel(TREE_STORE_QUEUE_MAX);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("polis-tree-store".to_owned())
            .spawn(move || write_until_closed(&thread_shared, received))?;
        Ok(TreeStoreWriter {
            jobs: Some(jobs),
            shared,
            thread: Some(thread),
        })
    }

    /// Queues a change set. Blocks while [`TREE_STORE_QUEUE_MAX`] jobs wait.
    pub(crate) fn commit(&self, changes: ChangeSet) -> Result<(), RaftStoreError> {
        self.queue(StoreJob::Commit(changes))
    }

    /// Queues a checkpoint: the tree store synced with every change set queued before it, then
    /// `checkpoint` written durably.
    pub(crate) fn checkpoint(&self, checkpoint: AppliedCheckpoint) -> Result<(), RaftStoreError> {
        self.queue(StoreJob::Checkpoint(checkpoint))
    }

    /// Queues the taking of a view of the store as every job queued before leaves it, and returns
    /// where the view will arrive. Queue it under the state machine's lock, right after the
    /// change set that brings the store level with the tree, and wait for it outside the lock.
    pub(crate) fn view(&self) -> Result<PendingView, RaftStoreError> {
        let (answer, view) = mpsc::sync_channel(1);
        self.queue(StoreJob::View(answer))?;
        Ok(PendingView {
            view,
            shared: self.shared.clone(),
        })
    }

    /// Waits until every job queued so far is done, then gives the store to `work` (installing a
    /// snapshot replaces the whole store, which must come after every change set of the tree it
    /// replaces).
    pub(crate) fn with_store<T>(
        &self,
        work: impl FnOnce(&mut dyn TreeStore) -> Result<T, RaftStoreError>,
    ) -> Result<T, RaftStoreError> {
        let (done, finished) = mpsc::sync_channel(1);
        self.queue(StoreJob::Barrier(done))?;
        if finished.recv().is_err() {
            return Err(self.failed());
        }
        let mut store = self.shared.store();
        work(store.as_mut())
    }

    fn queue(&self, job: StoreJob) -> Result<(), RaftStoreError> {
        if let Some(failure) = self.shared.failure() {
            return Err(RaftStoreError::TreeWriterFailed(failure));
        }
        let Some(jobs) = &self.jobs else {
            return Err(RaftStoreError::TreeWriterFailed("closed".to_owned()));
        };
        jobs.send(job).map_err(|_| self.failed())
    }

    fn failed(&self) -> RaftStoreError {
        self.shared.failed()
    }
}

impl Drop for TreeStoreWriter {
    /// Lets the thread finish every queued job (a clean stop leaves the store as complete as the
    /// tree was), then joins it.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the tree store's writer thread panicked");
        }
    }
}

/// A view of the tree store the writer thread has been asked for: see [`TreeStoreWriter::view`].
pub(crate) struct PendingView {
    view: Receiver<Box<dyn StoreView>>,
    shared: Arc<WriterShared>,
}

impl PendingView {
    /// Blocks until the writer thread has reached the request and taken the view.
    pub(crate) fn wait(self) -> Result<Box<dyn StoreView>, RaftStoreError> {
        self.view.recv().map_err(|_| self.shared.failed())
    }
}

/// The writer thread: runs jobs in order until the state machine closes the queue or a job fails.
fn write_until_closed(shared: &WriterShared, jobs: Receiver<StoreJob>) {
    for job in jobs {
        if let Err(error) = shared.run(job) {
            tracing::error!(%error, "writing the tree store failed; the node stops applying");
            *shared
                .failure
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error.to_string());
            return;
        }
    }
}
