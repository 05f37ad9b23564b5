//! Set checks for creates: no acknowledged create lost, none applied twice, and sequence numbers
//! unique and increasing per parent in real-time order.
//!
//! Unique creates are also registers (a create, then the final read of the path), so the search
//! catches a lost one as a violation; this report names them as lost creates as well. Sequential
//! creates are checked here only: the server picks their paths, so they have no register.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::history::History;
use crate::operation::{FailReason, OpKind, Operation, Outcome};

/// What the set checks found; every list but the counts should be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetReport {
    /// Acknowledged creates of a chosen path, and those a final read found missing.
    pub unique_acked: usize,
    pub unique_lost: Vec<String>,
    /// Indeterminate creates of a chosen path that a final read found present / absent.
    pub unique_indeterminate_present: usize,
    pub unique_indeterminate_absent: usize,
    /// Acknowledged sequential creates, and those missing from their parent's final listing.
    pub seq_acked: usize,
    pub seq_lost: Vec<String>,
    /// Acknowledged sequential creates present in the final listing with other data.
    pub seq_bad_data: Vec<String>,
    /// Paths returned to two acknowledged creates.
    pub seq_duplicate_paths: Vec<String>,
    /// Values found in two children of one parent: one create applied twice.
    pub seq_duplicate_values: Vec<String>,
    /// Children whose data no create below that parent wrote.
    pub seq_unexpected: Vec<String>,
    /// (earlier, later): the later create was called after the earlier one returned, yet got a
    /// sequence number no greater.
    pub seq_order_violations: Vec<(String, String)>,
    pub seq_indeterminate_present: usize,
    pub seq_indeterminate_absent: usize,
    /// Parents with sequential creates but no final listing: their losses were not checked.
    pub parents_unlisted: Vec<String>,
}

impl SetReport {
    pub fn check(history: &History) -> SetReport {
        let mut report = SetReport::default();
        report.check_unique(&history.ops);
        let mut parents: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
        for op in &history.ops {
            if matches!(op.kind, OpKind::CreateSeq | OpKind::List) {
                parents.entry(op.key.as_str()).or_default().push(op);
            }
        }
        for (parent, ops) in parents {
            report.check_parent(parent, &ops);
        }
        report
    }

    /// Anomalies found: every loss, duplicate, unexpected child and order violation.
    pub fn anomalies(&self) -> usize {
        self.unique_lost.len()
            + self.seq_lost.len()
            + self.seq_bad_data.len()
            + self.seq_duplicate_paths.len()
            + self.seq_duplicate_values.len()
            + self.seq_unexpected.len()
            + self.seq_order_violations.len()
    }

    /// Acknowledged creates that the final state does not hold.
    pub fn lost_creates(&self) -> usize {
        self.unique_lost.len() + self.seq_lost.len()
    }

    fn check_unique(&mut self, ops: &[Operation]) {
        // Whether each path was present at the end, by the last final read of it.
        let mut present_at_end: HashMap<&str, bool> = HashMap::new();
        for op in ops
            .iter()
            .filter(|op| op.is_final && op.kind == OpKind::Read)
        {
            let absent =
                op.error.as_deref().and_then(FailReason::parse) == Some(FailReason::NoNode);
            match op.outcome {
                Outcome::Ok => present_at_end.insert(op.key.as_str(), true),
                Outcome::Fail if absent => present_at_end.insert(op.key.as_str(), false),
                _ => None,
            };
        }
        for op in ops.iter().filter(|op| op.kind == OpKind::Create) {
            let present = present_at_end.get(op.key.as_str()).copied();
            match (op.outcome, present) {
                (Outcome::Ok, Some(false)) => self.unique_lost.push(op.key.clone()),
                (Outcome::Info, Some(true)) => self.unique_indeterminate_present += 1,
                (Outcome::Info, Some(false)) => self.unique_indeterminate_absent += 1,
                _ => {}
            }
            self.unique_acked += usize::from(op.outcome == Outcome::Ok);
        }
    }

    fn check_parent(&mut self, parent: &str, ops: &[&Operation]) {
        let creates: Vec<&Operation> = ops
            .iter()
            .copied()
            .filter(|op| op.kind == OpKind::CreateSeq)
            .collect();
        let acked: Vec<&Operation> = creates
            .iter()
            .copied()
            .filter(|op| op.outcome == Outcome::Ok)
            .collect();
        self.seq_acked += acked.len();
        self.check_order(&acked);
        let listing = ops
            .iter()
            .rev()
            .find(|op| op.kind == OpKind::List && op.is_final && op.outcome == Outcome::Ok)
            .and_then(|op| op.result.as_ref()?.children.as_ref());
        match listing {
            Some(children) => self.check_listing(parent, &creates, children),
            None if !creates.is_empty() => self.parents_unlisted.push(parent.to_string()),
            None => {}
        }
    }

    /// Paths are unique, and a create called after another returned gets a greater number.
    fn check_order(&mut self, acked: &[&Operation]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for op in acked {
            let path = created_path(op);
            *seen.entry(path).or_insert(0) += 1;
            if seen[path] == 2 {
                self.seq_duplicate_paths.push(path.to_string());
            }
        }
        let mut by_call: Vec<&Operation> = acked.to_vec();
        by_call.sort_by_key(|op| op.invoke_ns);
        let mut by_return: Vec<&Operation> = acked.to_vec();
        by_return.sort_by_key(|op| op.complete_ns);
        // The acknowledged create with the greatest number among those returned so far.
        let mut greatest: Option<(u64, &Operation)> = None;
        let mut returned = 0;
        for op in by_call {
            while returned < by_return.len() && by_return[returned].complete_ns < Some(op.invoke_ns)
            {
                let earlier = by_return[returned];
                let number = sequence_number(created_path(earlier));
                if greatest.is_none_or(|(max, _)| number > max) {
                    greatest = Some((number, earlier));
                }
                returned += 1;
            }
            if let Some((max, earlier)) = greatest
                && sequence_number(created_path(op)) <= max
            {
                let pair = (
                    created_path(earlier).to_string(),
                    created_path(op).to_string(),
                );
                self.seq_order_violations.push(pair);
            }
        }
    }

    fn check_listing(
        &mut self,
        parent: &str,
        creates: &[&Operation],
        children: &BTreeMap<String, String>,
    ) {
        let written: HashSet<&str> = creates
            .iter()
            .filter_map(|op| op.value.as_deref())
            .collect();
        let mut children_by_value: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, value) in children {
            children_by_value
                .entry(value.as_str())
                .or_default()
                .push(name.as_str());
        }
        for (value, names) in &children_by_value {
            if names.len() > 1 {
                self.seq_duplicate_values
                    .push(format!("{parent}: {value} in {names:?}"));
            }
            if !written.contains(value) {
                self.seq_unexpected.push(format!("{parent}/{}", names[0]));
            }
        }
        for op in creates {
            let value = op.value.as_deref().unwrap_or_default();
            let found = children_by_value.contains_key(value);
            match op.outcome {
                Outcome::Ok => {
                    let path = created_path(op);
                    let name = path.rsplit('/').next().unwrap_or(path);
                    match children.get(name) {
                        None => self.seq_lost.push(path.to_string()),
                        Some(data) if data != value => self.seq_bad_data.push(path.to_string()),
                        Some(_) => {}
                    }
                }
                Outcome::Info if found => self.seq_indeterminate_present += 1,
                Outcome::Info => self.seq_indeterminate_absent += 1,
                Outcome::Fail => {}
            }
        }
    }
}

fn created_path(op: &Operation) -> &str {
    op.result
        .as_ref()
        .and_then(|result| result.path.as_deref())
        .unwrap_or_default()
}

/// The number ZooKeeper appends to a sequential node's name (its trailing digits).
fn sequence_number(path: &str) -> u64 {
    let digits = path.len() - path.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    path[path.len() - digits..].parse().unwrap_or(0)
}

impl std::fmt::Display for SetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// The most paths printed per list.
        const LISTED_MAX: usize = 10;
        writeln!(
            f,
            "unique creates: {} acknowledged, {} lost; indeterminate: {} present, {} absent",
            self.unique_acked,
            self.unique_lost.len(),
            self.unique_indeterminate_present,
            self.unique_indeterminate_absent
        )?;
        writeln!(
            f,
            "sequential creates: {} acknowledged, {} lost, {} with other data, {} duplicate paths, \
             {} applied twice, {} unexpected, {} out of order; indeterminate: {} present, {} absent",
            self.seq_acked,
            self.seq_lost.len(),
            self.seq_bad_data.len(),
            self.seq_duplicate_paths.len(),
            self.seq_duplicate_values.len(),
            self.seq_unexpected.len(),
            self.seq_order_violations.len(),
            self.seq_indeterminate_present,
            self.seq_indeterminate_absent
        )?;
        let lists: [(&str, Vec<String>); 7] = [
            (
                "lost",
                self.unique_lost
                    .iter()
                    .chain(&self.seq_lost)
                    .cloned()
                    .collect(),
            ),
            ("other data", self.seq_bad_data.clone()),
            ("duplicate path", self.seq_duplicate_paths.clone()),
            ("applied twice", self.seq_duplicate_values.clone()),
            ("unexpected", self.seq_unexpected.clone()),
            (
                "out of order (earlier, later)",
                self.seq_order_violations
                    .iter()
                    .map(|pair| format!("{pair:?}"))
                    .collect(),
            ),
            (
                "not listed at the end, losses unchecked",
                self.parents_unlisted.clone(),
            ),
        ];
        for (name, items) in lists {
            for item in items.iter().take(LISTED_MAX) {
                writeln!(f, "  {name}: {item}")?;
            }
            if items.len() > LISTED_MAX {
                writeln!(f, "  {name}: … {} more", items.len() - LISTED_MAX)?;
            }
        }
        Ok(())
    }
}
