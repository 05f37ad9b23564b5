//! Who opened the sessions this node opened, so that no one owner can take every session.
//!
//! A session outlives its connection by up to its timeout (ZooKeeper's semantics: a client that
//! lost its connection may resume the session elsewhere). Capping connections alone therefore
//! does not bound sessions: a client that connects and drops, over and over, leaves a session
//! behind each time, each costing a replicated OpenSession, memory on every replica and a place
//! under the cluster-wide `sessions_max`, until the tree refuses every other client's session.
//! Each node therefore counts the live sessions it opened per owner — the certificate's subject
//! on a face with client certificates, otherwise the remote IP address (as ZooKeeper's
//! `maxClientCnxns` counts per address) — and refuses a new one past the owner's cap.
//!
//! The count is this node's own and is not replicated: it bounds what one node lets an owner
//! open, as ZooKeeper's per-server `maxClientCnxns` does. A session opened here and closed
//! anywhere in the cluster leaves the count when its close is applied here. After a restart
//! the sessions opened before it are no longer counted; they expire or close as before.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use polis_tree::{DataTree, SessionId};

/// Whom a session is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OwnerKey {
    /// The canonical subject of a verified client certificate.
    Identity(String),
    /// The remote address of a connection without a certificate.
    Address(IpAddr),
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerKey::Identity(subject) => write!(formatter, "identity {subject}"),
            OwnerKey::Address(address) => write!(formatter, "address {address}"),
        }
    }
}

/// The owner of a session about to be opened, with the cap its face sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOwner {
    pub key: OwnerKey,
    /// The most live sessions this owner may hold through this node (`sessions_per_identity_max`
    /// on the QUIC face, `zookeeper.sessions_per_owner_max` on the ZooKeeper face).
    pub sessions_max: usize,
}

impl SessionOwner {
    pub fn new(key: OwnerKey, sessions_max: usize) -> SessionOwner {
        assert!(sessions_max > 0, "an owner may hold a session");
        SessionOwner { key, sessions_max }
    }
}

/// Why a session was not opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} holds {held} sessions on this node, its most; close some or wait for them to expire"
)]
pub struct OwnerCapReached {
    pub key: OwnerKey,
    pub held: usize,
}

/// The live sessions this node opened, by owner. Pure bookkeeping: the caller holds the lock.
#[derive(Debug, Default)]
pub struct SessionOwners {
    /// Sessions held per owner, the ones being opened included.
    held: HashMap<OwnerKey, usize>,
    /// The owner of each opened session that is still open.
    owners: BTreeMap<SessionId, OwnerKey>,
}

impl SessionOwners {
    /// Takes a place for one more session of `owner`, before its OpenSession is proposed, so that
    /// many connects at once cannot all pass the check. The place must then be given to
    /// [`SessionOwners::opened`] or back with [`SessionOwners::abandon`].
    pub fn reserve(&mut self, owner: &SessionOwner) -> Result<(), OwnerCapReached> {
        let held = self.held.entry(owner.key.clone()).or_insert(0);
        if *held >= owner.sessions_max {
            return Err(OwnerCapReached {
                key: owner.key.clone(),
                held: *held,
            });
        }
        *held += 1;
        Ok(())
    }

    /// The reserved session was opened as `session_id`.
    pub fn opened(&mut self, key: &OwnerKey, session_id: SessionId) {
        assert!(
            self.held.get(key).is_some_and(|held| *held > 0),
            "a session is opened on a reserved place"
        );
        let previous = self.owners.insert(session_id, key.clone());
        assert!(previous.is_none(), "session {session_id:#x} opened twice");
    }

    /// The reserved session was not opened.
    pub fn abandon(&mut self, key: &OwnerKey) {
        self.release(key);
    }

    /// Forgets the sessions that `tree` no longer has (closed or expired anywhere in the cluster).
    /// Called after an applied close and after a snapshot replaced the tree; linear in the
    /// sessions this node opened, which its owners' caps bound.
    pub fn retain_open(&mut self, tree: &DataTree) {
        let closed: Vec<(SessionId, OwnerKey)> = self
            .owners
            .iter()
            .filter(|(session_id, _)| !tree.sessions().contains(**session_id))
            .map(|(session_id, key)| (*session_id, key.clone()))
            .collect();
        for (session_id, key) in closed {
            self.owners.remove(&session_id);
            self.release(&key);
        }
    }

    /// The live sessions `key` holds through this node, the ones being opened included.
    pub fn held_by(&self, key: &OwnerKey) -> usize {
        self.held.get(key).copied().unwrap_or(0)
    }

    fn release(&mut self, key: &OwnerKey) {
        let held = self
            .held
            .get_mut(key)
            .expect("a released place was reserved");
        assert!(*held > 0, "a place was given back twice");
        *held -= 1;
        if *held == 0 {
            // Owners that hold nothing are forgotten, so the map stays as small as the sessions.
            self.held.remove(key);
        }
        debug_assert!(self.owners.len() <= self.held.values().sum::<usize>());
    }
}

#[cfg(test)]
mod tests {
    use polis_tree::{Limits, Txn, TxnKind};

    use super::*;

    fn owner(name: &str, sessions_max: usize) -> SessionOwner {
        SessionOwner::new(
            OwnerKey::Identity(format!("CN={name},O=Polis")),
            sessions_max,
        )
    }

    fn open_session(tree: &mut DataTree, zxid: i64) -> SessionId {
        let applied = tree.apply(&Txn {
            zxid,
            time_ms: 0,
            kind: TxnKind::OpenSession {
                timeout_ms: 10_000,
                password: [0; 16],
            },
        });
        match applied.result {
            Ok(polis_tree::OpResult::SessionOpened { session_id, .. }) => session_id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_owner_past_its_cap_is_refused_and_others_are_not() {
        let mut owners = SessionOwners::default();
        let alice = owner("alice", 2);
        let bob = owner("bob", 2);
        owners.reserve(&alice).unwrap();
        owners.reserve(&alice).unwrap();
        let refused = owners.reserve(&alice).unwrap_err();
        assert_eq!(refused.held, 2);
        assert!(refused.to_string().contains("CN=alice"), "{refused}");
        owners.reserve(&bob).unwrap();
        owners.abandon(&alice.key);
        owners.reserve(&alice).unwrap();
        assert_eq!(owners.held_by(&alice.key), 2);
    }

    #[test]
    fn a_closed_session_gives_its_place_back() {
        let mut tree = DataTree::new(Limits::default());
        let mut owners = SessionOwners::default();
        let alice = owner("alice", 1);
        owners.reserve(&alice).unwrap();
        let session_id = open_session(&mut tree, 1);
        owners.opened(&alice.key, session_id);
        assert!(owners.reserve(&alice).is_err());
        owners.retain_open(&tree);
        assert_eq!(owners.held_by(&alice.key), 1, "still open");
        tree.apply(&Txn {
            zxid: 2,
            time_ms: 0,
            kind: TxnKind::CloseSession {
                session_id,
                reason: polis_tree::CloseReason::Closed,
            },
        });
        owners.retain_open(&tree);
        assert_eq!(owners.held_by(&alice.key), 0);
        owners.reserve(&alice).unwrap();
    }
}
