//! The client's registry of watches: who gets which event.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use polis_tree::{EventKind, WatchEvent, WatchKind, Zxid};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::Error;
use crate::request::OneShotSender;
use crate::watch_stream::StreamEnding;

/// A persistent watch stream as the book knows it.
#[derive(Debug)]
pub(crate) struct PersistentWatch {
    pub(crate) path: String,
    /// `Persistent` or `PersistentRecursive`.
    pub(crate) kind: WatchKind,
    /// Events at or below this zxid are not delivered: the stream's resume point, or the last
    /// zxid seen when it was opened (anything older can only be another stream's replay).
    pub(crate) floor: Zxid,
    pub(crate) sender: mpsc::Sender<WatchEvent>,
    pub(crate) ending: Arc<StreamEnding>,
}

#[derive(Debug)]
struct PersistentEntry {
    watch: PersistentWatch,
    /// The zxid of the last event delivered (the floor before any).
    last_zxid: Zxid,
    /// The events of transaction `last_zxid` already delivered. One transaction can fire several
    /// events (a multi, a session close), and a replay can repeat them, so this tells a repeat
    /// from a new event of the same transaction.
    delivered_at_last: HashSet<(EventKind, String)>,
}

/// The paths to re-register after a reconnect, by kind (ZooKeeper's `setWatches2` lists).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WatchRegistrations {
    pub(crate) data: Vec<String>,
    pub(crate) children: Vec<String>,
    pub(crate) persistent: Vec<String>,
    pub(crate) persistent_recursive: Vec<String>,
}

impl WatchRegistrations {
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.children.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }
}

/// Every watch of the session on the client side.
///
/// The server keeps one watch per (path, kind) for the session, however many callers asked for
/// it; the book fans each event out to every caller, with ZooKeeper's client-side rules
/// (`ZKWatchManager.materialize`): a data or exists watch fires for created, deleted and
/// data-changed events of its path, a child watch for children-changed and deleted, and one-shot
/// watchers are removed as they fire.
#[derive(Debug, Default)]
pub(crate) struct WatchBook {
    data: BTreeMap<String, Vec<OneShotSender>>,
    children: BTreeMap<String, Vec<OneShotSender>>,
    persistent: BTreeMap<u64, PersistentEntry>,
    next_id: u64,
}

impl WatchBook {
    /// Registers a one-shot watcher of `kind` (`Data` or `Children`).
    pub(crate) fn add_one_shot(&mut self, kind: WatchKind, path: String, sender: OneShotSender) {
        let watchers = match kind {
            WatchKind::Children => &mut self.children,
            _ => &mut self.data,
        };
        watchers.entry(path).or_default().push(sender);
    }

    /// Registers a persistent stream and returns its id.
    pub(crate) fn add_persistent(&mut self, watch: PersistentWatch) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.persistent.insert(
            id,
            PersistentEntry {
                last_zxid: watch.floor,
                watch,
                delivered_at_last: HashSet::new(),
            },
        );
        id
    }

    /// Forgets a persistent stream whose registration failed; its caller never got the stream.
    pub(crate) fn remove_persistent(&mut self, id: u64) {
        self.persistent.remove(&id);
    }

    /// True if some stream that is still being read follows `path` in mode `kind`; streams
    /// whose consumer is gone are forgotten on the way.
    pub(crate) fn has_live_persistent(&mut self, path: &str, kind: WatchKind) -> bool {
        self.prune_closed();
        self.persistent
            .values()
            .any(|entry| entry.watch.kind == kind && entry.watch.path == path)
    }

    /// Hands `event` to every watcher it fires, in registration order.
    pub(crate) fn dispatch(&mut self, event: &WatchEvent) {
        for (kind, watchers) in [
            (WatchKind::Data, &mut self.data),
            (WatchKind::Children, &mut self.children),
        ] {
            if kind.fires_for(&event.path, event)
                && let Some(fired) = watchers.remove(&event.path)
            {
                for sender in fired {
                    // A dropped OneShotWatch simply does not hear it.
                    let _ = sender.send(Ok(event.clone()));
                }
            }
        }
        let mut ended = Vec::new();
        for (id, entry) in &mut self.persistent {
            if !entry.watch.kind.fires_for(&entry.watch.path, event) || !entry.is_new(event) {
                continue;
            }
            match entry.watch.sender.try_send(event.clone()) {
                Ok(()) => entry.delivered(event),
                Err(TrySendError::Full(_)) => {
                    entry.watch.ending.set(Error::WatchOverflow {
                        resume_after_zxid: entry.resume_point(event),
                    });
                    ended.push(*id);
                }
                Err(TrySendError::Closed(_)) => ended.push(*id),
            }
        }
        for id in ended {
            self.persistent.remove(&id);
        }
    }

    /// The watches to re-register on a new connection; watchers nobody waits for any more are
    /// forgotten first, so they are not registered again.
    pub(crate) fn registrations(&mut self) -> WatchRegistrations {
        self.prune_closed();
        let mut persistent = BTreeSet::new();
        let mut persistent_recursive = BTreeSet::new();
        for entry in self.persistent.values() {
            let paths = match entry.watch.kind {
                WatchKind::PersistentRecursive => &mut persistent_recursive,
                _ => &mut persistent,
            };
            paths.insert(entry.watch.path.clone());
        }
        WatchRegistrations {
            data: self.data.keys().cloned().collect(),
            children: self.children.keys().cloned().collect(),
            persistent: persistent.into_iter().collect(),
            persistent_recursive: persistent_recursive.into_iter().collect(),
        }
    }

    /// Ends every watch with `error` (session expired, client closed, watches not restorable).
    pub(crate) fn end_all(&mut self, error: &Error) {
        for sender in std::mem::take(&mut self.data)
            .into_values()
            .chain(std::mem::take(&mut self.children).into_values())
            .flatten()
        {
            let _ = sender.send(Err(error.clone()));
        }
        for entry in std::mem::take(&mut self.persistent).into_values() {
            entry.watch.ending.set(error.clone());
        }
    }

    /// Ends every persistent stream with `error`, keeping the one-shot watchers.
    pub(crate) fn end_persistent(&mut self, error: &Error) {
        for entry in std::mem::take(&mut self.persistent).into_values() {
            entry.watch.ending.set(error.clone());
        }
    }

    fn prune_closed(&mut self) {
        for watchers in [&mut self.data, &mut self.children] {
            watchers.retain(|_, senders| {
                senders.retain(|sender| !sender.is_closed());
                !senders.is_empty()
            });
        }
        self.persistent
            .retain(|_, entry| !entry.watch.sender.is_closed());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.data.values().map(Vec::len).sum::<usize>()
            + self.children.values().map(Vec::len).sum::<usize>()
            + self.persistent.len()
    }
}

impl PersistentEntry {
    /// False for an event this stream must not see: at or below its floor, from a transaction
    /// before the last one it saw, or a repeat of one it saw in the last transaction (replays
    /// after a reconnect or for another stream on the same path can repeat events).
    fn is_new(&self, event: &WatchEvent) -> bool {
        if event.zxid <= self.watch.floor || event.zxid < self.last_zxid {
            return false;
        }
        event.zxid > self.last_zxid
            || !self
                .delivered_at_last
                .contains(&(event.kind, event.path.clone()))
    }

    fn delivered(&mut self, event: &WatchEvent) {
        if event.zxid > self.last_zxid {
            self.last_zxid = event.zxid;
            self.delivered_at_last.clear();
        }
        self.delivered_at_last
            .insert((event.kind, event.path.clone()));
    }

    /// The zxid to resume after so that nothing undelivered is missed: the last transaction
    /// delivered in full.
    fn resume_point(&self, undelivered: &WatchEvent) -> Zxid {
        if undelivered.zxid > self.last_zxid {
            self.last_zxid
        } else {
            self.last_zxid - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    fn event(zxid: Zxid, kind: EventKind, path: &str) -> WatchEvent {
        WatchEvent {
            zxid,
            kind,
            path: path.to_string(),
        }
    }

    fn stream(
        book: &mut WatchBook,
        path: &str,
        kind: WatchKind,
        floor: Zxid,
        buffer: usize,
    ) -> (mpsc::Receiver<WatchEvent>, Arc<StreamEnding>) {
        let (sender, receiver) = mpsc::channel(buffer);
        let ending = Arc::new(StreamEnding::default());
        book.add_persistent(PersistentWatch {
            path: path.into(),
            kind,
            floor,
            sender,
            ending: ending.clone(),
        });
        (receiver, ending)
    }

    fn drain(receiver: &mut mpsc::Receiver<WatchEvent>) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
        events
    }

    #[test]
    fn one_shot_watchers_fire_once_by_zookeeper_rules() {
        let mut book = WatchBook::default();
        let (data_sender, mut data) = oneshot::channel();
        let (child_sender, mut child) = oneshot::channel();
        let (other_sender, mut other) = oneshot::channel();
        book.add_one_shot(WatchKind::Data, "/a".into(), data_sender);
        book.add_one_shot(WatchKind::Children, "/a".into(), child_sender);
        book.add_one_shot(WatchKind::Data, "/b".into(), other_sender);

        // A child change fires only the child watch.
        book.dispatch(&event(5, EventKind::NodeChildrenChanged, "/a"));
        assert!(data.try_recv().is_err());
        assert_eq!(
            child.try_recv().unwrap(),
            Ok(event(5, EventKind::NodeChildrenChanged, "/a"))
        );
        // A data change fires the data watch, once.
        book.dispatch(&event(6, EventKind::NodeDataChanged, "/a"));
        assert_eq!(
            data.try_recv().unwrap(),
            Ok(event(6, EventKind::NodeDataChanged, "/a"))
        );
        assert_eq!(book.len(), 1);
        // A delete fires data and child watches alike.
        let (child_sender, mut child) = oneshot::channel();
        book.add_one_shot(WatchKind::Children, "/b".into(), child_sender);
        book.dispatch(&event(7, EventKind::NodeDeleted, "/b"));
        assert!(other.try_recv().unwrap().is_ok());
        assert!(child.try_recv().unwrap().is_ok());
        assert_eq!(book.len(), 0);
    }

    #[test]
    fn persistent_streams_follow_their_mode() {
        let mut book = WatchBook::default();
        let (mut exact, _) = stream(&mut book, "/a", WatchKind::Persistent, 0, 16);
        let (mut recursive, _) = stream(&mut book, "/a", WatchKind::PersistentRecursive, 0, 16);
        book.dispatch(&event(1, EventKind::NodeCreated, "/a"));
        book.dispatch(&event(2, EventKind::NodeCreated, "/a/b"));
        book.dispatch(&event(2, EventKind::NodeChildrenChanged, "/a"));
        book.dispatch(&event(3, EventKind::NodeDataChanged, "/ab"));
        assert_eq!(
            drain(&mut exact),
            vec![
                event(1, EventKind::NodeCreated, "/a"),
                event(2, EventKind::NodeChildrenChanged, "/a"),
            ]
        );
        assert_eq!(
            drain(&mut recursive),
            vec![
                event(1, EventKind::NodeCreated, "/a"),
                event(2, EventKind::NodeCreated, "/a/b"),
            ]
        );
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn replays_are_filtered_but_events_of_one_transaction_all_arrive() {
        let mut book = WatchBook::default();
        let (mut old, _) = stream(&mut book, "/", WatchKind::PersistentRecursive, 0, 16);
        // A multi at zxid 4 creates two nodes, then zxid 5 changes one.
        book.dispatch(&event(4, EventKind::NodeCreated, "/x"));
        book.dispatch(&event(4, EventKind::NodeCreated, "/y"));
        book.dispatch(&event(5, EventKind::NodeDataChanged, "/x"));
        // A second stream resumes after zxid 3: the server replays 4 and 5 for it.
        let (mut new, _) = stream(&mut book, "/", WatchKind::PersistentRecursive, 3, 16);
        book.dispatch(&event(4, EventKind::NodeCreated, "/x"));
        book.dispatch(&event(4, EventKind::NodeCreated, "/y"));
        book.dispatch(&event(5, EventKind::NodeDataChanged, "/x"));
        // Then zxid 6 happens live.
        book.dispatch(&event(6, EventKind::NodeDeleted, "/y"));
        let expected = vec![
            event(4, EventKind::NodeCreated, "/x"),
            event(4, EventKind::NodeCreated, "/y"),
            event(5, EventKind::NodeDataChanged, "/x"),
            event(6, EventKind::NodeDeleted, "/y"),
        ];
        assert_eq!(drain(&mut old), expected);
        assert_eq!(drain(&mut new), expected);
        // Events at or below a floor never reach the stream.
        let (mut late, _) = stream(&mut book, "/", WatchKind::PersistentRecursive, 6, 16);
        book.dispatch(&event(6, EventKind::NodeDeleted, "/y"));
        assert!(drain(&mut late).is_empty());
    }

    #[test]
    fn a_full_buffer_ends_the_stream_with_a_resume_point() {
        let mut book = WatchBook::default();
        let (mut receiver, ending) = stream(&mut book, "/a", WatchKind::Persistent, 0, 2);
        book.dispatch(&event(1, EventKind::NodeDataChanged, "/a"));
        book.dispatch(&event(2, EventKind::NodeDataChanged, "/a"));
        book.dispatch(&event(3, EventKind::NodeDataChanged, "/a"));
        assert_eq!(book.len(), 0);
        assert_eq!(drain(&mut receiver).len(), 2);
        assert_eq!(
            ending.take(),
            Some(Error::WatchOverflow {
                resume_after_zxid: 2
            })
        );
        // Mid-transaction, the transaction is delivered again from its start.
        let (_receiver, ending) = stream(&mut book, "/", WatchKind::PersistentRecursive, 0, 1);
        book.dispatch(&event(7, EventKind::NodeCreated, "/p"));
        book.dispatch(&event(7, EventKind::NodeCreated, "/q"));
        assert_eq!(
            ending.take(),
            Some(Error::WatchOverflow {
                resume_after_zxid: 6
            })
        );
    }

    #[test]
    fn registrations_skip_abandoned_watchers_and_deduplicate_paths() {
        let mut book = WatchBook::default();
        let (kept, _kept_receiver) = oneshot::channel();
        let (abandoned, abandoned_receiver) = oneshot::channel();
        book.add_one_shot(WatchKind::Data, "/d".into(), kept);
        book.add_one_shot(WatchKind::Children, "/c".into(), abandoned);
        drop(abandoned_receiver);
        let (_first, _) = stream(&mut book, "/p", WatchKind::Persistent, 0, 4);
        let (_second, _) = stream(&mut book, "/p", WatchKind::Persistent, 0, 4);
        let (gone, _) = stream(&mut book, "/r", WatchKind::PersistentRecursive, 0, 4);
        drop(gone);
        assert_eq!(
            book.registrations(),
            WatchRegistrations {
                data: vec!["/d".into()],
                children: vec![],
                persistent: vec!["/p".into()],
                persistent_recursive: vec![],
            }
        );
        assert!(book.has_live_persistent("/p", WatchKind::Persistent));
        assert!(!book.has_live_persistent("/r", WatchKind::PersistentRecursive));
    }

    #[test]
    fn end_all_tells_every_watcher_why() {
        let mut book = WatchBook::default();
        let (sender, mut receiver) = oneshot::channel();
        book.add_one_shot(WatchKind::Data, "/a".into(), sender);
        let (_events, ending) = stream(&mut book, "/a", WatchKind::Persistent, 0, 4);
        book.end_all(&Error::SessionExpired);
        assert_eq!(receiver.try_recv().unwrap(), Err(Error::SessionExpired));
        assert_eq!(ending.take(), Some(Error::SessionExpired));
        assert_eq!(book.len(), 0);
    }
}
