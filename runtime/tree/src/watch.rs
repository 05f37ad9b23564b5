//! Watches and ZooKeeper's trigger rules.
//!
//! Watches are not replicated state: each server keeps the watches of the sessions connected to
//! it, and feeds every applied [`WatchEvent`] through [`WatchRegistry::trigger`] to learn which
//! sessions to notify. The rules are ZooKeeper's (`DataTree` and `WatchManager`, 3.6+):
//!
//! | event               | one-shot data/exists | one-shot child | persistent | persistent recursive |
//! |---------------------|----------------------|----------------|------------|----------------------|
//! | NodeCreated         | the path             | –              | the path   | the path or an ancestor |
//! | NodeDeleted         | the path             | the path       | the path   | the path or an ancestor |
//! | NodeDataChanged     | the path             | –              | the path   | the path or an ancestor |
//! | NodeChildrenChanged | –                    | the path       | the path   | never                |
//!
//! One-shot watches are removed when they fire; persistent ones stay until removed or until the
//! session ends. A session is notified at most once per event, however many of its watches match
//! (ZooKeeper's `WatcherOrBitSet` de-duplication).

use std::collections::{BTreeMap, BTreeSet};

use crate::{EventKind, SessionId, TreeError, WatchEvent, path};

/// The kinds of watch a session can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// One-shot, set by `getData` or `exists` (also on a missing node, to see its creation).
    Data,
    /// One-shot, set by `getChildren`.
    Children,
    /// Stays after firing; sees every event of its own path.
    Persistent,
    /// Stays after firing; sees created, deleted and data-changed events of its path and every
    /// descendant, but not children-changed events (ZooKeeper's `PERSISTENT_RECURSIVE`).
    PersistentRecursive,
}

impl WatchKind {
    const ALL: [WatchKind; 4] = [
        WatchKind::Data,
        WatchKind::Children,
        WatchKind::Persistent,
        WatchKind::PersistentRecursive,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// True if a watch of this kind set on `watch_path` fires for `event`. This is the rule the
    /// table above states; resuming a watch from the history filters events with it.
    pub fn fires_for(self, watch_path: &str, event: &WatchEvent) -> bool {
        let on_path = event.path == watch_path;
        match (self, event.kind) {
            (WatchKind::Data, EventKind::NodeChildrenChanged) => false,
            (WatchKind::Data, _) => on_path,
            (WatchKind::Children, EventKind::NodeChildrenChanged | EventKind::NodeDeleted) => {
                on_path
            }
            (WatchKind::Children, _) => false,
            (WatchKind::Persistent, _) => on_path,
            (WatchKind::PersistentRecursive, EventKind::NodeChildrenChanged) => false,
            (WatchKind::PersistentRecursive, _) => {
                path::is_self_or_descendant(&event.path, watch_path)
            }
        }
    }

    fn is_one_shot(self) -> bool {
        matches!(self, WatchKind::Data | WatchKind::Children)
    }
}

/// The watches registered on one server.
#[derive(Clone, Debug)]
pub struct WatchRegistry {
    /// For each kind (indexed by [`WatchKind::index`]): path → sessions watching it.
    by_path: [BTreeMap<String, BTreeSet<SessionId>>; 4],
    /// Session → its watches, to enforce the per-session bound and to drop them on close.
    by_session: BTreeMap<SessionId, BTreeSet<(WatchKind, String)>>,
    /// The number of watches of all sessions, kept so that metrics need not count.
    watch_count: usize,
    watches_per_session_max: usize,
}

impl WatchRegistry {
    pub fn new(watches_per_session_max: usize) -> WatchRegistry {
        WatchRegistry {
            by_path: Default::default(),
            by_session: BTreeMap::new(),
            watch_count: 0,
            watches_per_session_max,
        }
    }

    /// Registers a watch. Setting the same watch twice is one watch, as in ZooKeeper.
    pub fn add(
        &mut self,
        session_id: SessionId,
        watch_path: &str,
        kind: WatchKind,
    ) -> Result<(), TreeError> {
        let watches = self.by_session.entry(session_id).or_default();
        let key = (kind, watch_path.to_string());
        if watches.contains(&key) {
            return Ok(());
        }
        if watches.len() >= self.watches_per_session_max {
            return Err(TreeError::LimitExceeded {
                limit: "watches_per_session_max",
                max: self.watches_per_session_max,
            });
        }
        watches.insert(key);
        self.watch_count += 1;
        self.by_path[kind.index()]
            .entry(watch_path.to_string())
            .or_default()
            .insert(session_id);
        Ok(())
    }

    /// Removes one watch (ZooKeeper's `removeWatches`), or [`TreeError::NoWatcher`] if the session
    /// has no such watch.
    pub fn remove(
        &mut self,
        session_id: SessionId,
        watch_path: &str,
        kind: WatchKind,
    ) -> Result<(), TreeError> {
        let removed = self
            .by_session
            .get_mut(&session_id)
            .is_some_and(|watches| watches.remove(&(kind, watch_path.to_string())));
        if !removed {
            return Err(TreeError::NoWatcher {
                path: watch_path.to_string(),
            });
        }
        self.watch_count -= 1;
        if self
            .by_session
            .get(&session_id)
            .is_some_and(BTreeSet::is_empty)
        {
            self.by_session.remove(&session_id);
        }
        self.unlink(session_id, watch_path, kind);
        Ok(())
    }

    /// True if the session has a watch of this kind on the path.
    pub fn contains(&self, session_id: SessionId, watch_path: &str, kind: WatchKind) -> bool {
        self.by_session
            .get(&session_id)
            .is_some_and(|watches| watches.contains(&(kind, watch_path.to_string())))
    }

    /// Drops every watch of a session (it closed, expired, or moved to another server).
    pub fn remove_session(&mut self, session_id: SessionId) {
        let Some(watches) = self.by_session.remove(&session_id) else {
            return;
        };
        self.watch_count -= watches.len();
        for (kind, watch_path) in watches {
            self.unlink(session_id, &watch_path, kind);
        }
    }

    /// The watches a session holds, for re-registration after a reconnect (`setWatches`).
    pub fn session_watches(
        &self,
        session_id: SessionId,
    ) -> impl Iterator<Item = (WatchKind, &str)> {
        self.by_session
            .get(&session_id)
            .into_iter()
            .flatten()
            .map(|(kind, watch_path)| (*kind, watch_path.as_str()))
    }

    /// The number of watches a session holds.
    pub fn session_watch_count(&self, session_id: SessionId) -> usize {
        self.by_session.get(&session_id).map_or(0, BTreeSet::len)
    }

    /// The number of watches of all sessions.
    pub fn len(&self) -> usize {
        self.watch_count
    }

    pub fn is_empty(&self) -> bool {
        self.by_session.is_empty()
    }

    /// The sessions to notify of `event`, in session id order, each once. One-shot watches that
    /// fire are removed.
    pub fn trigger(&mut self, event: &WatchEvent) -> Vec<SessionId> {
        let mut notified: BTreeSet<SessionId> = BTreeSet::new();
        for kind in WatchKind::ALL {
            if kind == WatchKind::PersistentRecursive {
                if event.kind == EventKind::NodeChildrenChanged {
                    continue;
                }
                for ancestor in path::self_and_ancestors(&event.path) {
                    if let Some(sessions) = self.by_path[kind.index()].get(ancestor) {
                        notified.extend(sessions.iter().copied());
                    }
                }
                continue;
            }
            if !kind.fires_for(&event.path, event) {
                continue;
            }
            let sessions = if kind.is_one_shot() {
                self.by_path[kind.index()].remove(&event.path)
            } else {
                self.by_path[kind.index()].get(&event.path).cloned()
            };
            let Some(sessions) = sessions else { continue };
            if kind.is_one_shot() {
                for session_id in &sessions {
                    self.forget(*session_id, &event.path, kind);
                }
            }
            notified.extend(sessions);
        }
        notified.into_iter().collect()
    }

    /// Removes the session from the path index of one kind.
    fn unlink(&mut self, session_id: SessionId, watch_path: &str, kind: WatchKind) {
        let index = &mut self.by_path[kind.index()];
        if let Some(sessions) = index.get_mut(watch_path) {
            sessions.remove(&session_id);
            if sessions.is_empty() {
                index.remove(watch_path);
            }
        }
    }

    /// Removes a fired one-shot watch from the session index.
    fn forget(&mut self, session_id: SessionId, watch_path: &str, kind: WatchKind) {
        if let Some(watches) = self.by_session.get_mut(&session_id) {
            if watches.remove(&(kind, watch_path.to_string())) {
                self.watch_count -= 1;
            }
            if watches.is_empty() {
                self.by_session.remove(&session_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, path: &str) -> WatchEvent {
        WatchEvent {
            zxid: 1,
            kind,
            path: path.to_string(),
        }
    }

    #[test]
    fn one_shot_data_watch_fires_once() {
        let mut registry = WatchRegistry::new(10);
        registry.add(1, "/a", WatchKind::Data).unwrap();
        assert_eq!(
            registry.trigger(&event(EventKind::NodeDataChanged, "/a")),
            vec![1]
        );
        assert!(
            registry
                .trigger(&event(EventKind::NodeDataChanged, "/a"))
                .is_empty()
        );
        assert!(registry.is_empty());
    }

    #[test]
    fn child_watch_fires_on_children_changed_and_on_delete_but_not_on_data() {
        let mut registry = WatchRegistry::new(10);
        registry.add(1, "/a", WatchKind::Children).unwrap();
        assert!(
            registry
                .trigger(&event(EventKind::NodeDataChanged, "/a"))
                .is_empty()
        );
        assert_eq!(
            registry.trigger(&event(EventKind::NodeChildrenChanged, "/a")),
            vec![1]
        );
        registry.add(1, "/a", WatchKind::Children).unwrap();
        assert_eq!(
            registry.trigger(&event(EventKind::NodeDeleted, "/a")),
            vec![1]
        );
    }

    #[test]
    fn persistent_watch_stays_after_firing() {
        let mut registry = WatchRegistry::new(10);
        registry.add(1, "/a", WatchKind::Persistent).unwrap();
        for _ in 0..3 {
            assert_eq!(
                registry.trigger(&event(EventKind::NodeDataChanged, "/a")),
                vec![1]
            );
        }
        assert_eq!(
            registry.trigger(&event(EventKind::NodeChildrenChanged, "/a")),
            vec![1]
        );
        assert!(
            registry
                .trigger(&event(EventKind::NodeDataChanged, "/a/b"))
                .is_empty()
        );
    }

    #[test]
    fn recursive_watch_sees_descendants_but_not_children_changed() {
        let mut registry = WatchRegistry::new(10);
        registry
            .add(1, "/a", WatchKind::PersistentRecursive)
            .unwrap();
        assert_eq!(
            registry.trigger(&event(EventKind::NodeCreated, "/a/b/c")),
            vec![1]
        );
        assert_eq!(
            registry.trigger(&event(EventKind::NodeDeleted, "/a")),
            vec![1]
        );
        assert!(
            registry
                .trigger(&event(EventKind::NodeChildrenChanged, "/a"))
                .is_empty()
        );
        assert!(
            registry
                .trigger(&event(EventKind::NodeCreated, "/ab"))
                .is_empty()
        );
    }

    #[test]
    fn a_session_is_notified_once_per_event() {
        let mut registry = WatchRegistry::new(10);
        for kind in WatchKind::ALL {
            registry.add(1, "/a", kind).unwrap();
        }
        registry
            .add(2, "/", WatchKind::PersistentRecursive)
            .unwrap();
        assert_eq!(
            registry.trigger(&event(EventKind::NodeDeleted, "/a")),
            vec![1, 2]
        );
    }

    #[test]
    fn watches_per_session_are_bounded() {
        let mut registry = WatchRegistry::new(2);
        registry.add(1, "/a", WatchKind::Data).unwrap();
        registry.add(1, "/a", WatchKind::Data).unwrap();
        registry.add(1, "/b", WatchKind::Data).unwrap();
        assert!(matches!(
            registry.add(1, "/c", WatchKind::Data),
            Err(TreeError::LimitExceeded { .. })
        ));
        registry.add(2, "/c", WatchKind::Data).unwrap();
    }

    #[test]
    fn removing_watches_and_sessions() {
        let mut registry = WatchRegistry::new(10);
        registry.add(1, "/a", WatchKind::Persistent).unwrap();
        registry.add(1, "/b", WatchKind::Data).unwrap();
        assert!(matches!(
            registry.remove(1, "/a", WatchKind::Data),
            Err(TreeError::NoWatcher { .. })
        ));
        registry.add(2, "/b", WatchKind::Data).unwrap();
        assert_eq!(registry.len(), 3);
        registry.remove(1, "/a", WatchKind::Persistent).unwrap();
        assert_eq!(registry.session_watch_count(1), 1);
        assert_eq!(registry.len(), 2);
        assert_eq!(
            registry.trigger(&event(EventKind::NodeDataChanged, "/b")),
            vec![1, 2]
        );
        assert_eq!(
            registry.len(),
            0,
            "fired one-shot watches are no longer counted"
        );
        registry.add(1, "/b", WatchKind::Data).unwrap();
        registry.remove_session(1);
        assert!(
            registry
                .trigger(&event(EventKind::NodeDataChanged, "/b"))
                .is_empty()
        );
        assert!(registry.is_empty());
    }
}
