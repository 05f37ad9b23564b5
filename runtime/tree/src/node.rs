//! A znode's persisted record, its kind, and the create modes.

use serde::{Deserialize, Serialize};

use crate::{AclList, SessionId, Stat, TreeError, Zxid};

/// How a client asks for a node to be created, as ZooKeeper's `CreateMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    /// A node that the leader removes once it has had children and has none left (ZooKeeper 3.5).
    Container,
    /// A persistent node that the leader removes once it has no children and has not been
    /// modified for `ttl_ms` (ZooKeeper 3.5.3).
    PersistentWithTtl {
        ttl_ms: i64,
    },
    PersistentSequentialWithTtl {
        ttl_ms: i64,
    },
}

impl CreateMode {
    /// ZooKeeper's numeric flag for this mode.
    pub fn flag(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl { .. } => 5,
            CreateMode::PersistentSequentialWithTtl { .. } => 6,
        }
    }

    /// The mode for ZooKeeper's numeric flag and, for the TTL modes, the TTL in milliseconds.
    pub fn from_flag(flag: i32, ttl_ms: i64) -> Result<CreateMode, TreeError> {
        let mode = match flag {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl { ttl_ms },
            6 => CreateMode::PersistentSequentialWithTtl { ttl_ms },
            _ => {
                return Err(TreeError::BadArguments {
                    reason: format!("unknown create mode {flag}"),
                });
            }
        };
        Ok(mode)
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl { .. }
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// The TTL of a TTL mode.
    pub fn ttl_ms(self) -> Option<i64> {
        match self {
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => Some(ttl_ms),
            _ => None,
        }
    }
}

/// What kind of node a znode is, decided when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    Persistent,
    Ephemeral { owner: SessionId },
    Container,
    Ttl { ttl_ms: i64 },
}

impl NodeKind {
    /// ZooKeeper's container marker in `ephemeralOwner`.
    pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
    /// ZooKeeper's extended-type mask; a TTL node's `ephemeralOwner` is this mask or'ed with the TTL.
    pub const TTL_EPHEMERAL_OWNER_MASK: i64 = 0xFF00_0000_0000_0000_u64 as i64;

    /// The value ZooKeeper reports in `Stat.ephemeralOwner` for this kind.
    pub fn ephemeral_owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral { owner } => owner,
            NodeKind::Container => Self::CONTAINER_EPHEMERAL_OWNER,
            NodeKind::Ttl { ttl_ms } => Self::TTL_EPHEMERAL_OWNER_MASK | ttl_ms,
        }
    }
}

/// Everything stored about one znode except its children, which the tree indexes separately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `None` is ZooKeeper's null data, which reads back as null (length −1), apart from empty
    /// data; its `dataLength` is 0, as ZooKeeper's `DataTree.copyStat` reports it.
    pub data: Option<Box<[u8]>>,
    pub acl: AclList,
    pub kind: NodeKind,
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
}

impl NodeRecord {
    /// The length of the data, 0 for null data.
    pub fn data_len(&self) -> usize {
        self.data.as_deref().map_or(0, <[u8]>::len)
    }

    /// The data, empty for null data: for readers that keep no difference (JSON records of the
    /// system nodes, plugins).
    pub fn data_or_empty(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The client-visible stat of this node, given its number of children.
    pub fn stat(&self, num_children: usize) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.kind.ephemeral_owner(),
            data_length: i32::try_from(self.data_len()).unwrap_or(i32::MAX),
            num_children: i32::try_from(num_children).unwrap_or(i32::MAX),
            pzxid: self.pzxid,
        }
    }
}

/// A [`NodeRecord`] as stores and snapshots wrote it before null data was kept (tree store
/// format 1, snapshot formats 2 to 4): the same fields, data never null. It reads those formats,
/// and writes them for the tests that prove they are read.
#[derive(Debug, Deserialize, Serialize)]
pub struct NodeRecordWithoutNull {
    data: Vec<u8>,
    acl: AclList,
    kind: NodeKind,
    czxid: Zxid,
    mzxid: Zxid,
    pzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
}

impl From<&NodeRecord> for NodeRecordWithoutNull {
    /// The record in the old form; null data, which the old formats could not hold, as empty.
    fn from(record: &NodeRecord) -> NodeRecordWithoutNull {
        NodeRecordWithoutNull {
            data: record.data_or_empty().to_vec(),
            acl: record.acl.clone(),
            kind: record.kind,
            czxid: record.czxid,
            mzxid: record.mzxid,
            pzxid: record.pzxid,
            ctime: record.ctime,
            mtime: record.mtime,
            version: record.version,
            cversion: record.cversion,
            aversion: record.aversion,
        }
    }
}

impl From<NodeRecordWithoutNull> for NodeRecord {
    fn from(old: NodeRecordWithoutNull) -> NodeRecord {
        NodeRecord {
            data: Some(old.data.into()),
            acl: old.acl,
            kind: old.kind,
            czxid: old.czxid,
            mzxid: old.mzxid,
            pzxid: old.pzxid,
            ctime: old.ctime,
            mtime: old.mtime,
            version: old.version,
            cversion: old.cversion,
            aversion: old.aversion,
        }
    }
}
