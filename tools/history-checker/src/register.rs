//! The model every key is checked against: a ZooKeeper node seen as a versioned register.
//!
//! A node is absent or holds a value with a version. A create makes it present at version 0, a
//! write sets the value and bumps the version, a compare-and-set does so only when the version is
//! the expected one. A `fail` outcome is an observation too: a BadVersion saw a version other than
//! the expected one at its linearization point, a NoNode saw the node absent, a NodeExists saw it
//! present.

/// A value, numbered per key. Values no read ever returned share `VALUE_UNOBSERVED`: which of them
/// the register holds cannot change any check, and sharing one number lets equal states meet in
/// the search's memo.
pub type ValueId = u32;

/// The number of every value that no successful read returned.
pub const VALUE_UNOBSERVED: ValueId = 0;

/// The register's state at one point of a linearization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterState {
    Absent,
    Present { value: ValueId, version: i64 },
}

/// What an operation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    Read,
    Write { value: ValueId },
    Cas { expected: i64, value: ValueId },
    Create { value: ValueId },
}

/// What an operation returned; `Unknown` for an indeterminate one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    Read { value: ValueId, version: i64 },
    Written { version: i64 },
    Created,
    NoNode,
    NodeExists,
    BadVersion,
    Unknown,
}

impl RegisterState {
    /// The state after `input` took effect here, if it could have returned `output` here. An
    /// `Unknown` output accepts whatever the operation would have done.
    pub fn step(self, input: RegisterInput, output: RegisterOutput) -> Option<RegisterState> {
        use RegisterInput as I;
        use RegisterOutput as O;
        use RegisterState::{Absent, Present};
        match (self, input, output) {
            (
                Present { value, version },
                I::Read,
                O::Read {
                    value: v,
                    version: n,
                },
            ) => (value == v && version == n).then_some(self),
            (Present { version, .. }, I::Write { value }, O::Written { version: n })
            | (Present { version, .. }, I::Cas { value, .. }, O::Written { version: n }) => {
                let expected_ok = match input {
                    I::Cas { expected, .. } => expected == version,
                    _ => true,
                };
                (expected_ok && n == version + 1).then_some(Present { value, version: n })
            }
            (Present { version, .. }, I::Cas { expected, .. }, O::BadVersion) => {
                (expected != version).then_some(self)
            }
            (Absent, I::Create { value }, O::Created) => Some(Present { value, version: 0 }),
            (Present { .. }, I::Create { .. }, O::NodeExists) => Some(self),
            (Absent, I::Read | I::Write { .. } | I::Cas { .. }, O::NoNode) => Some(self),
            // A create's NoNode is about its parent, which this model of the node does not hold.
            (_, I::Create { .. }, O::NoNode) => Some(self),
            (_, _, O::Unknown) => Some(self.apply(input)),
            _ => None,
        }
    }

    /// What `input` does here when nobody looks at its result.
    pub fn apply(self, input: RegisterInput) -> RegisterState {
        use RegisterState::{Absent, Present};
        match (self, input) {
            (Present { version, .. }, RegisterInput::Write { value }) => Present {
                value,
                version: version + 1,
            },
            (Present { version, .. }, RegisterInput::Cas { expected, value })
                if expected == version =>
            {
                Present {
                    value,
                    version: version + 1,
                }
            }
            (Absent, RegisterInput::Create { value }) => Present { value, version: 0 },
            _ => self,
        }
    }
}
