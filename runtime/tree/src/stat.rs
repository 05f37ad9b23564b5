//! ZooKeeper's `Stat`: the metadata of a znode as clients see it.

use serde::{Deserialize, Serialize};

use crate::Zxid;

/// A znode's metadata, field for field as ZooKeeper's `org.apache.zookeeper.data.Stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    /// The zxid of the change that created this node.
    pub czxid: Zxid,
    /// The zxid of the change that last modified this node's data.
    pub mzxid: Zxid,
    /// The commit time, in milliseconds since the Unix epoch, when this node was created.
    pub ctime: i64,
    /// The commit time, in milliseconds since the Unix epoch, when the data was last modified.
    pub mtime: i64,
    /// The number of changes to the data.
    pub version: i32,
    /// The number of changes to the children (creates and deletes).
    pub cversion: i32,
    /// The number of changes to the ACL.
    pub aversion: i32,
    /// The owning session of an ephemeral node; 0 for persistent nodes; ZooKeeper's encodings for
    /// containers (`0x8000000000000000`) and TTL nodes (`0xFF00000000000000 | ttl`).
    pub ephemeral_owner: i64,
    /// The length of the data in bytes.
    pub data_length: i32,
    /// The number of children.
    pub num_children: i32,
    /// The zxid of the change that last added or removed a child.
    pub pzxid: Zxid,
}
