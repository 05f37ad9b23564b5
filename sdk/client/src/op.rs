//! The operations of a `multi`.

use polis_proto::convert::{acl_to_wire, create_mode_to_wire};
use polis_proto::wire;
use polis_tree::{Acl, CreateMode};

/// One operation of [`crate::Client::multi`], as ZooKeeper's `Op`.
///
/// A version of -1 matches any version, as in ZooKeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create {
        path: String,
        data: Vec<u8>,
        /// Empty means ZooKeeper's `OPEN_ACL_UNSAFE`.
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    /// Succeeds if the node exists with this version; fails the whole multi otherwise.
    Check {
        path: String,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
}

impl Op {
    pub fn create(path: impl Into<String>, data: &[u8], acl: &[Acl], mode: CreateMode) -> Op {
        Op::Create {
            path: path.into(),
            data: data.to_vec(),
            acl: acl.to_vec(),
            mode,
        }
    }

    pub fn delete(path: impl Into<String>, version: i32) -> Op {
        Op::Delete {
            path: path.into(),
            version,
        }
    }

    pub fn set_data(path: impl Into<String>, data: &[u8], version: i32) -> Op {
        Op::SetData {
            path: path.into(),
            data: data.to_vec(),
            version,
        }
    }

    pub fn check(path: impl Into<String>, version: i32) -> Op {
        Op::Check {
            path: path.into(),
            version,
        }
    }

    pub fn set_acl(path: impl Into<String>, acl: &[Acl], version: i32) -> Op {
        Op::SetAcl {
            path: path.into(),
            acl: acl.to_vec(),
            version,
        }
    }

    /// The path the operation acts on.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. }
            | Op::SetAcl { path, .. } => path,
        }
    }

    pub(crate) fn to_wire(&self) -> wire::MultiOp {
        use wire::multi_op::Op as WireOp;
        let op = match self {
            Op::Create {
                path,
                data,
                acl,
                mode,
            } => WireOp::Create(create_to_wire(path, Some(data), acl, *mode)),
            Op::Delete { path, version } => WireOp::Delete(wire::Delete {
                path: path.clone(),
                version: *version,
            }),
            Op::SetData {
                path,
                data,
                version,
            } => WireOp::SetData(wire::SetData {
                path: path.clone(),
                data: data.clone(),
                version: *version,
                null_data: false,
            }),
            Op::Check { path, version } => WireOp::Check(wire::Check {
                path: path.clone(),
                version: *version,
            }),
            Op::SetAcl { path, acl, version } => WireOp::SetAcl(wire::SetAcl {
                path: path.clone(),
                acl: acl.iter().map(acl_to_wire).collect(),
                version: *version,
            }),
        };
        wire::MultiOp { op: Some(op) }
    }
}

/// The wire form of a create, shared by [`crate::Client::create`] and [`Op::Create`]; data of
/// `None` is ZooKeeper's null data.
pub(crate) fn create_to_wire(
    path: &str,
    data: Option<&[u8]>,
    acl: &[Acl],
    mode: CreateMode,
) -> wire::Create {
    let (wire_mode, ttl_ms) = create_mode_to_wire(mode);
    wire::Create {
        path: path.to_string(),
        data: data.unwrap_or_default().to_vec(),
        acl: acl.iter().map(acl_to_wire).collect(),
        mode: wire_mode as i32,
        ttl_ms,
        null_data: data.is_none(),
    }
}
