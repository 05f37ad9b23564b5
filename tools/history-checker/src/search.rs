//! The linearizability search for one key: Wing and Gong's algorithm with Lowe's memoisation, as
//! Porcupine implements it.
//!
//! The calls and returns sit in one list ordered by time. Scanning from its head, a call may be
//! linearized next (its effect applied to the model) as long as no return has been passed; a
//! return reached means its operation should already have been linearized, so the search undoes
//! the last choice and tries the next one. A (linearized set, state) pair met before is not
//! explored again. An indeterminate operation returns "never": the search may place it anywhere
//! after its call, or leave it out.

use std::collections::{HashMap, HashSet};

use crate::key_history::RegisterOp;
use crate::register::{RegisterInput, RegisterOutput, RegisterState, VALUE_UNOBSERVED};
use crate::rng::SplitMix64;

/// The most (linearized set, state) pairs one key's search may remember before it gives up with
/// `Verdict::Unknown`. Each takes about 48 bytes, so the default bounds the memo near 200 MiB.
pub const SEARCH_STATES_MAX: usize = 4_000_000;

/// How many of the last linearized operations a violation reports.
const ORDER_TAIL_MAX: usize = 8;

/// What the search concluded about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable {
        states: usize,
    },
    Violation(Stuck),
    /// The search met `states_max` pairs without an answer.
    Unknown {
        states: usize,
    },
}

/// Where a failed search got furthest: the most required operations it could linearize, the last
/// few of them in order, the state there, and the operation it could then not place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub linearized_max: usize,
    /// Indices into the key's operations, oldest first.
    pub order_tail: Vec<usize>,
    pub state: RegisterState,
    /// The operation whose return the search reached without having linearized it.
    pub blocked: Option<usize>,
}

/// Checks `ops` (sorted by call) from `init`, remembering at most `states_max` pairs.
pub fn check(ops: &[RegisterOp], init: RegisterState, states_max: usize) -> Verdict {
    Search::new(ops, init).run(states_max)
}

/// One choice on the search's stack: the call entry lifted and the state before it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    entry: usize,
    state: RegisterState,
}

#[derive(Debug)]
struct Search<'a> {
    ops: &'a [RegisterOp],
    /// Per list entry (0 is the head, the last the tail): its operation and whether it is the call.
    entry_op: Vec<usize>,
    entry_is_call: Vec<bool>,
    /// A call's return entry and a return's call entry.
    partner: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// A random 128-bit word per operation; a linearized set hashes to the XOR of its members'.
    zobrist: Vec<u128>,
    symmetry: Vec<Option<(usize, usize)>>,
    /// Per symmetry class, how many of its members (a prefix, in call order) are linearized.
    class_linearized: Vec<usize>,
    state: RegisterState,
    set_hash: u128,
    required_total: usize,
    required_left: usize,
    stack: Vec<Frame>,
    memo: HashSet<(u128, RegisterState)>,
    stuck: Stuck,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [RegisterOp], init: RegisterState) -> Search<'a> {
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            // At equal times a call sorts before a return, so touching operations count as
            // concurrent: the checker never claims an order the clock cannot show.
            events.push((op.call, 0, i));
            events.push((op.ret.unwrap_or(u64::MAX), 1, i));
        }
        events.sort_unstable();
        let entries = events.len() + 2;
        let mut entry_op = vec![usize::MAX; entries];
        let mut entry_is_call = vec![false; entries];
        let mut call_entry = vec![0; ops.len()];
        let mut ret_entry = vec![0; ops.len()];
        for (position, &(_, kind, op)) in events.iter().enumerate() {
            let entry = position + 1;
            entry_op[entry] = op;
            entry_is_call[entry] = kind == 0;
            if kind == 0 {
                call_entry[op] = entry;
            } else {
                ret_entry[op] = entry;
            }
        }
        let mut partner = vec![0; entries];
        for op in 0..ops.len() {
            partner[call_entry[op]] = ret_entry[op];
            partner[ret_entry[op]] = call_entry[op];
        }
        let mut rng = SplitMix64::new(0x5eed_0f11_ea71_ab00);
        let zobrist = (0..ops.len())
            .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
            .collect();
        let (symmetry, classes) = symmetry_classes(ops);
        let required_total = ops.iter().filter(|op| op.is_required()).count();
        Search {
            ops,
            entry_op,
            entry_is_call,
            partner,
            next: (1..=entries).collect(),
            prev: (0..entries).map(|e| e.saturating_sub(1)).collect(),
            zobrist,
            symmetry,
            class_linearized: vec![0; classes],
            state: init,
            set_hash: 0,
            required_total,
            required_left: required_total,
            stack: Vec::new(),
            memo: HashSet::new(),
            stuck: Stuck {
                linearized_max: 0,
                order_tail: Vec::new(),
                state: init,
                blocked: None,
            },
        }
    }

    fn run(mut self, states_max: usize) -> Verdict {
        let tail = self.next.len() - 1;
        let mut entry = self.next[0];
        loop {
            if self.required_left == 0 {
                return Verdict::Linearizable {
                    states: self.memo.len(),
                };
            }
            if entry != tail && self.entry_is_call[entry] {
                if self.try_linearize(entry) {
                    if self.memo.len() > states_max {
                        return Verdict::Unknown {
                            states: self.memo.len(),
                        };
                    }
                    entry = self.next[0];
                } else {
                    entry = self.next[entry];
                }
                continue;
            }
            // A return (or the tail): its operation should have been linearized before it.
            if self.stuck.blocked.is_none()
                && self.linearized_required() == self.stuck.linearized_max
            {
                self.stuck.blocked = Some(self.entry_op[entry]).filter(|_| entry != tail);
            }
            match self.stack.pop() {
                Some(frame) => entry = self.undo(frame),
                None => return Verdict::Violation(self.stuck),
            }
        }
    }

    /// Linearizes the call at `entry` next if the model allows it and the resulting pair is new.
    fn try_linearize(&mut self, entry: usize) -> bool {
        let index = self.entry_op[entry];
        let op = self.ops[index];
        if let Some((class, position)) = self.symmetry[index]
            && self.class_linearized[class] != position
        {
            // An earlier interchangeable operation is still unplaced: placing this one instead
            // would only repeat that branch under another name.
            return false;
        }
        let Some(state) = self.state.step(op.input, op.output) else {
            return false;
        };
        if !op.is_required() && state == self.state {
            // An indeterminate operation without effect here is the same as one never applied.
            return false;
        }
        let set_hash = self.set_hash ^ self.zobrist[index];
        if !self.memo.insert((set_hash, state)) {
            return false;
        }
        self.stack.push(Frame {
            entry,
            state: self.state,
        });
        self.state = state;
        self.set_hash = set_hash;
        self.lift(entry);
        if let Some((class, _)) = self.symmetry[index] {
            self.class_linearized[class] += 1;
        }
        if op.is_required() {
            self.required_left -= 1;
            self.note_progress();
        }
        true
    }

    /// Takes back the choice in `frame`; returns the entry to try after it.
    fn undo(&mut self, frame: Frame) -> usize {
        let index = self.entry_op[frame.entry];
        self.unlift(frame.entry);
        self.state = frame.state;
        self.set_hash ^= self.zobrist[index];
        if let Some((class, _)) = self.symmetry[index] {
            self.class_linearized[class] -= 1;
        }
        if self.ops[index].is_required() {
            self.required_left += 1;
        }
        self.next[frame.entry]
    }

    fn linearized_required(&self) -> usize {
        self.required_total - self.required_left
    }

    /// Remembers the deepest point reached, for the report of a violation.
    fn note_progress(&mut self) {
        let depth = self.linearized_required();
        if depth > self.stuck.linearized_max {
            let from = self.stack.len().saturating_sub(ORDER_TAIL_MAX);
            self.stuck = Stuck {
                linearized_max: depth,
                order_tail: self.stack[from..]
                    .iter()
                    .map(|frame| self.entry_op[frame.entry])
                    .collect(),
                state: self.state,
                blocked: None,
            };
        }
    }

    /// Unlinks a call entry and its return (dancing links: `unlift` relinks them in reverse).
    fn lift(&mut self, call: usize) {
        let ret = self.partner[call];
        for entry in [call, ret] {
            let (p, n) = (self.prev[entry], self.next[entry]);
            self.next[p] = n;
            self.prev[n] = p;
        }
    }

    fn unlift(&mut self, call: usize) {
        let ret = self.partner[call];
        for entry in [ret, call] {
            let (p, n) = (self.prev[entry], self.next[entry]);
            self.next[p] = entry;
            self.prev[n] = entry;
        }
    }
}

/// Groups indeterminate operations that are interchangeable: same kind, same expected version,
/// and a value nobody read. Once two of them have both been called, which one takes effect first
/// cannot matter, so the search places a class's members only in call order. Returns each
/// operation's (class, position in class) and the number of classes.
fn symmetry_classes(ops: &[RegisterOp]) -> (Vec<Option<(usize, usize)>>, usize) {
    let mut classes: HashMap<RegisterInput, (usize, usize)> = HashMap::new();
    let mut symmetry = vec![None; ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let interchangeable = op.output == RegisterOutput::Unknown
            && match op.input {
                RegisterInput::Read => false,
                RegisterInput::Write { value }
                | RegisterInput::Cas { value, .. }
                | RegisterInput::Create { value } => value == VALUE_UNOBSERVED,
            };
        if !interchangeable {
            continue;
        }
        let count = classes.len();
        let (class, members) = classes.entry(op.input).or_insert((count, 0));
        symmetry[i] = Some((*class, *members));
        *members += 1;
    }
    (symmetry, classes.len())
}
