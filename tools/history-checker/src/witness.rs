//! The smallest failing prefix of a key's history that a bisection finds cheaply.
//!
//! The prefix cut at time T keeps the operations called by T; one still running at T keeps its
//! effect but not its result (a write, compare-and-set or create becomes indeterminate, a read or
//! a definite failure, which changed nothing, is dropped). Any linearization of the whole history,
//! restricted to the kept operations, linearizes such a prefix: every operation that completed by
//! T was linearized by T, and only operations called by T can come before it. So a prefix that
//! fails proves the whole history fails, and it is a smaller witness.

use crate::key_history::RegisterOp;
use crate::register::{RegisterInput, RegisterOutput, RegisterState};
use crate::search::{Stuck, Verdict, check};

/// A failing prefix of one key's history.
#[derive(Debug, Clone)]
pub struct Witness {
    /// The prefix's operations, translated as described above, sorted by call.
    pub ops: Vec<RegisterOp>,
    /// The time of the cut: the completion of the operation whose result makes the prefix fail.
    pub cut_ns: u64,
    /// Where the search of the prefix got furthest; its indices are into `ops`.
    pub stuck: Stuck,
}

impl Witness {
    /// Bisects over the completion times of `ops` (a failing history) for the earliest cut whose
    /// prefix still fails. Prefixes whose search hits `states_max` count as passing.
    pub fn find(ops: &[RegisterOp], init: RegisterState, states_max: usize) -> Option<Witness> {
        let mut cuts: Vec<u64> = ops.iter().filter_map(|op| op.ret).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let failing = |cut: u64| match check(&prefix(ops, cut), init, states_max) {
            Verdict::Violation(stuck) => Some(stuck),
            _ => None,
        };
        let (mut low, mut high) = (0, cuts.len().checked_sub(1)?);
        failing(cuts[high])?;
        while low < high {
            let middle = low + (high - low) / 2;
            if failing(cuts[middle]).is_some() {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        let cut_ns = cuts[high];
        Some(Witness {
            ops: prefix(ops, cut_ns),
            cut_ns,
            stuck: failing(cut_ns)?,
        })
    }

    /// The operations to show: those running at any time between the earliest call among the
    /// operations concurrent with the cut and the cut itself, at most `shown_max` of them (the
    /// latest). Indices are into `ops`.
    pub fn window(&self, shown_max: usize) -> Vec<usize> {
        let concurrent_with_cut = |op: &RegisterOp| op.call <= self.cut_ns;
        let start = self
            .ops
            .iter()
            .filter(|op| concurrent_with_cut(op) && op.ret.is_none_or(|ret| ret >= self.cut_ns))
            .map(|op| op.call)
            .chain(self.stuck.blocked.map(|b| self.ops[b].call))
            .min()
            .unwrap_or(self.cut_ns);
        let shown: Vec<usize> = (0..self.ops.len())
            .filter(|&i| self.ops[i].ret.is_none_or(|ret| ret >= start))
            .filter(|&i| self.ops[i].output != RegisterOutput::Unknown || self.ops[i].call >= start)
            .collect();
        shown[shown.len().saturating_sub(shown_max)..].to_vec()
    }
}

/// The prefix of `ops` cut at `cut` (see the module's comment).
fn prefix(ops: &[RegisterOp], cut: u64) -> Vec<RegisterOp> {
    ops.iter()
        .filter(|op| op.call <= cut)
        .filter_map(|op| match op.ret {
            Some(ret) if ret > cut => {
                let changes = matches!(
                    (op.input, op.output),
                    (
                        RegisterInput::Write { .. }
                            | RegisterInput::Cas { .. }
                            | RegisterInput::Create { .. },
                        RegisterOutput::Written { .. } | RegisterOutput::Created
                    )
                );
                changes.then_some(RegisterOp {
                    ret: None,
                    output: RegisterOutput::Unknown,
                    ..*op
                })
            }
            _ => Some(*op),
        })
        .collect()
}
