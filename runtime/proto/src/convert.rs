//! Conversions between wire types and the tree's types.

use polis_tree::{Acl, CreateMode, ErrorCode, EventKind, Id, Perms, Stat, TreeError, WatchKind};

use crate::wire;

pub fn stat_to_wire(stat: &Stat) -> wire::Stat {
    wire::Stat {
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        ctime: stat.ctime,
        mtime: stat.mtime,
        version: stat.version,
        cversion: stat.cversion,
        aversion: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
        pzxid: stat.pzxid,
    }
}

pub fn stat_from_wire(stat: &wire::Stat) -> Stat {
    Stat {
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        ctime: stat.ctime,
        mtime: stat.mtime,
        version: stat.version,
        cversion: stat.cversion,
        aversion: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
        pzxid: stat.pzxid,
    }
}

pub fn id_to_wire(id: &Id) -> wire::Id {
    wire::Id {
        scheme: id.scheme.clone(),
        id: id.id.clone(),
    }
}

pub fn id_from_wire(id: &wire::Id) -> Id {
    Id::new(id.scheme.clone(), id.id.clone())
}

pub fn acl_to_wire(acl: &Acl) -> wire::Acl {
    wire::Acl {
        perms: acl.perms.0,
        id: Some(id_to_wire(&acl.id)),
    }
}

/// An ACL from the wire, for a create or a `setACL`. An entry without an id is invalid, and so
/// is an empty list (ZooKeeper's InvalidACL, as on its own face): reading it as "open", as the
/// native protocol once did, let a mistaken empty list throw a node open to the world, its ACL
/// included. A client that means open says so (`world:anyone`, `Acl::open()` in the SDK).
pub fn acl_list_from_wire(acl: &[wire::Acl]) -> Result<Vec<Acl>, TreeError> {
    if acl.is_empty() {
        return Err(TreeError::InvalidAcl {
            reason: "an ACL needs at least one entry; an empty list opens nothing".to_string(),
        });
    }
    acl.iter()
        .map(|entry| {
            let id = entry.id.as_ref().ok_or_else(|| TreeError::InvalidAcl {
                reason: "an ACL entry without an id".to_string(),
            })?;
            Ok(Acl::new(Perms(entry.perms), id_from_wire(id)))
        })
        .collect()
}

pub fn create_mode_from_wire(mode: i32, ttl_ms: i64) -> Result<CreateMode, TreeError> {
    CreateMode::from_flag(mode, ttl_ms)
}

pub fn create_mode_to_wire(mode: CreateMode) -> (wire::CreateMode, i64) {
    let wire_mode = match mode {
        CreateMode::Persistent => wire::CreateMode::Persistent,
        CreateMode::Ephemeral => wire::CreateMode::Ephemeral,
        CreateMode::PersistentSequential => wire::CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential => wire::CreateMode::EphemeralSequential,
        CreateMode::Container => wire::CreateMode::Container,
        CreateMode::PersistentWithTtl { .. } => wire::CreateMode::PersistentWithTtl,
        CreateMode::PersistentSequentialWithTtl { .. } => {
            wire::CreateMode::PersistentSequentialWithTtl
        }
    };
    (wire_mode, mode.ttl_ms().unwrap_or(0))
}

pub fn event_kind_to_wire(kind: EventKind) -> wire::EventType {
    match kind {
        EventKind::NodeCreated => wire::EventType::NodeCreated,
        EventKind::NodeDeleted => wire::EventType::NodeDeleted,
        EventKind::NodeDataChanged => wire::EventType::NodeDataChanged,
        EventKind::NodeChildrenChanged => wire::EventType::NodeChildrenChanged,
    }
}

pub fn event_kind_from_wire(kind: i32) -> Option<EventKind> {
    match wire::EventType::try_from(kind).ok()? {
        wire::EventType::NodeCreated => Some(EventKind::NodeCreated),
        wire::EventType::NodeDeleted => Some(EventKind::NodeDeleted),
        wire::EventType::NodeDataChanged => Some(EventKind::NodeDataChanged),
        wire::EventType::NodeChildrenChanged => Some(EventKind::NodeChildrenChanged),
        wire::EventType::None => None,
    }
}

pub fn watch_kind_from_wire(mode: i32) -> Result<WatchKind, TreeError> {
    match wire::WatchMode::try_from(mode) {
        Ok(wire::WatchMode::Data) => Ok(WatchKind::Data),
        Ok(wire::WatchMode::Children) => Ok(WatchKind::Children),
        Ok(wire::WatchMode::Persistent) => Ok(WatchKind::Persistent),
        Ok(wire::WatchMode::PersistentRecursive) => Ok(WatchKind::PersistentRecursive),
        Err(_) => Err(TreeError::BadArguments {
            reason: format!("unknown watch mode {mode}"),
        }),
    }
}

pub fn watch_kind_to_wire(kind: WatchKind) -> wire::WatchMode {
    match kind {
        WatchKind::Data => wire::WatchMode::Data,
        WatchKind::Children => wire::WatchMode::Children,
        WatchKind::Persistent => wire::WatchMode::Persistent,
        WatchKind::PersistentRecursive => wire::WatchMode::PersistentRecursive,
    }
}

/// The code a wire error field carries for a tree error.
pub fn error_code(error: &TreeError) -> i32 {
    error.code().as_i32()
}

/// The code for a wire value, falling back to SystemError for a code this build does not know.
pub fn error_code_from_wire(code: i32) -> ErrorCode {
    ErrorCode::from_i32(code).unwrap_or(ErrorCode::SystemError)
}
