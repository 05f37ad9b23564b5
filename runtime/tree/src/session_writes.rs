//! The writes a session made most recently, so that a write proposed again is applied once.
//!
//! The Raft thesis (§6.3, "implementing linearizable semantics") gives every client session a
//! record of the requests it applied, so that a request retried after a lost answer is answered
//! from the record instead of being applied a second time. Polis needs it for its own retries: a
//! node that forwarded a write and lost the leader's answer (the leader failed over, or openraft
//! truncated the pending entry that a third node may still commit) proposes the same write again
//! under the same write id (see [`crate::TxnKind::Once`]). In the log, the original either comes
//! before the retry or never commits at all (Raft's Log Matching property: an entry of an older
//! term cannot commit after an entry of a newer term at a lower index), so the retry always finds
//! the original's record if there is one.
//!
//! A session has one write in flight per connection (a connection handles its requests in order),
//! so the record of its last few writes suffices: a retry is recognised unless the same session
//! made [`SESSION_WRITES_KEPT_MAX`] other writes, from other connections, while it was retried.
//! Results are kept up to [`WRITE_RESULT_KEPT_BYTES_MAX`] each, so that a session's record stays
//! small; a recognised retry of a write whose result was not kept answers that the write was
//! applied and its result is no longer known.

use serde::{Deserialize, Serialize};

use crate::{OpResult, Zxid};

/// How many of a session's last writes are recognised when proposed again.
pub const SESSION_WRITES_KEPT_MAX: usize = 4;

/// The largest result (encoded) kept with a write; larger ones (a multi of many creates) are
/// recorded without it.
pub const WRITE_RESULT_KEPT_BYTES_MAX: usize = 1024;

/// One write of a session that took effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedWrite {
    /// The id the proposer gave the write, the same for every proposal of it.
    pub write_id: u64,
    /// The zxid it took effect at.
    pub zxid: Zxid,
    /// What it answered, unless that was larger than [`WRITE_RESULT_KEPT_BYTES_MAX`].
    pub result: Option<OpResult>,
}

/// A session's last writes that took effect, oldest first (replicated state: every replica must
/// answer a retry alike). Decoding checks the bound and the order, as [`SessionWrites::from_writes`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<AppliedWrite>", into = "Vec<AppliedWrite>")]
pub struct SessionWrites {
    recent: Vec<AppliedWrite>,
}

impl SessionWrites {
    /// The record of `write_id`, if it is among the kept ones.
    pub fn find(&self, write_id: u64) -> Option<&AppliedWrite> {
        self.recent.iter().find(|write| write.write_id == write_id)
    }

    /// Records a write that took effect at `zxid`, forgetting the oldest beyond the bound.
    pub fn record(&mut self, write_id: u64, zxid: Zxid, result: &OpResult) {
        debug_assert!(self.find(write_id).is_none(), "a write is recorded once");
        debug_assert!(
            self.recent.last().is_none_or(|last| last.zxid < zxid),
            "writes are recorded in zxid order"
        );
        // Encoding into a buffer of the bound fails exactly when the result is larger.
        let kept = postcard::to_slice(result, &mut [0u8; WRITE_RESULT_KEPT_BYTES_MAX]).is_ok();
        if self.recent.len() == SESSION_WRITES_KEPT_MAX {
            self.recent.remove(0);
        }
        self.recent.push(AppliedWrite {
            write_id,
            zxid,
            result: kept.then(|| result.clone()),
        });
        assert!(self.recent.len() <= SESSION_WRITES_KEPT_MAX);
    }

    /// The kept writes, oldest first.
    pub fn writes(&self) -> &[AppliedWrite] {
        &self.recent
    }

    /// A record made of stored writes (a snapshot's or a store's); `None` if they break the
    /// bounds or the zxid order, which a record this module kept never does.
    pub fn from_writes(recent: Vec<AppliedWrite>) -> Option<SessionWrites> {
        let ordered = recent.windows(2).all(|pair| pair[0].zxid < pair[1].zxid);
        (recent.len() <= SESSION_WRITES_KEPT_MAX && ordered).then_some(SessionWrites { recent })
    }
}

impl TryFrom<Vec<AppliedWrite>> for SessionWrites {
    type Error = String;

    fn try_from(recent: Vec<AppliedWrite>) -> Result<SessionWrites, String> {
        SessionWrites::from_writes(recent).ok_or_else(|| {
            format!("more than {SESSION_WRITES_KEPT_MAX} recorded writes, or out of zxid order")
        })
    }
}

impl From<SessionWrites> for Vec<AppliedWrite> {
    fn from(writes: SessionWrites) -> Vec<AppliedWrite> {
        writes.recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_writes_are_kept_and_the_oldest_forgotten() {
        let mut writes = SessionWrites::default();
        for index in 0..=SESSION_WRITES_KEPT_MAX as u64 {
            writes.record(100 + index, index as Zxid + 1, &OpResult::Deleted);
        }
        assert!(writes.find(100).is_none(), "the oldest is forgotten");
        for index in 1..=SESSION_WRITES_KEPT_MAX as u64 {
            let write = writes.find(100 + index).expect("kept");
            assert_eq!(write.result, Some(OpResult::Deleted));
        }
        assert_eq!(writes.writes().len(), SESSION_WRITES_KEPT_MAX);
    }

    #[test]
    fn a_large_result_is_recorded_without_its_result() {
        let mut writes = SessionWrites::default();
        let large = OpResult::Multi(vec![
            OpResult::Created {
                path: "/x".repeat(64),
                stat: crate::Stat::default(),
            };
            64
        ]);
        writes.record(7, 1, &large);
        assert_eq!(writes.find(7).map(|write| write.result.clone()), Some(None));
    }

    #[test]
    fn stored_writes_out_of_order_or_too_many_are_refused() {
        let write = |zxid| AppliedWrite {
            write_id: zxid as u64,
            zxid,
            result: None,
        };
        assert!(SessionWrites::from_writes(vec![write(2), write(1)]).is_none());
        let too_many = (1..=SESSION_WRITES_KEPT_MAX as Zxid + 1)
            .map(write)
            .collect();
        assert!(SessionWrites::from_writes(too_many).is_none());
        assert!(SessionWrites::from_writes(vec![write(1), write(2)]).is_some());
    }
}
