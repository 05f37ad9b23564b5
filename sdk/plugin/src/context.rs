//! [`Context`]: what a plugin's function reads and stages through.

use std::fmt;

use crate::{AclPreset, CreateMode, Level, Node, ReadError, Stat, WriteError};

/// A write the plugin staged. The host turns each into the tree's write operation and commits
/// them all, in order, as one `multi` with the event cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StagedWrite {
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
        acl: AclPreset,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Delete {
        path: String,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl StagedWrite {
    /// The path the write names (for a sequential create, the prefix of the created path).
    pub fn path(&self) -> &str {
        match self {
            StagedWrite::Create { path, .. }
            | StagedWrite::SetData { path, .. }
            | StagedWrite::Delete { path, .. }
            | StagedWrite::Check { path, .. } => path,
        }
    }
}

/// Where a [`Context`] sends its calls: the host's imports in a wasm guest, the in-memory tree of
/// [`crate::testing`] natively.
pub(crate) trait Backend {
    fn get_data(&mut self, path: &str) -> Result<Node, ReadError>;
    fn exists(&mut self, path: &str) -> Result<Option<Stat>, ReadError>;
    fn get_children(&mut self, path: &str) -> Result<Vec<String>, ReadError>;
    fn stat(&mut self, path: &str) -> Result<Stat, ReadError>;
    fn stage(&mut self, write: StagedWrite) -> Result<(), WriteError>;
    fn log(&mut self, level: Level, message: &str);
    fn commit_time_ms(&mut self) -> i64;
}

/// A plugin's access to the tree during one invocation.
///
/// Reads go to the tree as committed (they do not see writes staged before them); writes are
/// staged and committed together after the plugin returns `Ok`. Reading or staging outside the
/// manifest's capabilities ends the invocation (the host reports a capability violation), so a
/// plugin should only touch the prefixes its manifest declares.
pub struct Context<'a> {
    backend: &'a mut dyn Backend,
    config: &'a [u8],
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("config_len", &self.config.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(backend: &'a mut dyn Backend, config: &'a [u8]) -> Context<'a> {
        Context { backend, config }
    }

    /// The manifest's config blob, as `init` accepted it.
    pub fn config(&self) -> &[u8] {
        self.config
    }

    /// The commit time of the batch's last transaction, in milliseconds since the Unix epoch: the
    /// only clock a plugin has, and the same whenever the batch is replayed.
    pub fn commit_time_ms(&mut self) -> i64 {
        self.backend.commit_time_ms()
    }

    // ----------------------------------------------------------------------------------------
    // Reads.

    /// A node's data and stat; needs READ on the node.
    pub fn get_data(&mut self, path: &str) -> Result<Node, ReadError> {
        self.backend.get_data(path)
    }

    /// A node's data and stat, or `None` if there is no node at `path`.
    pub fn get(&mut self, path: &str) -> Result<Option<Node>, ReadError> {
        match self.backend.get_data(path) {
            Ok(node) => Ok(Some(node)),
            Err(ReadError::NoNode) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A node's stat, or `None` if it does not exist. Checks no ACL, as ZooKeeper's `exists`.
    pub fn exists(&mut self, path: &str) -> Result<Option<Stat>, ReadError> {
        self.backend.exists(path)
    }

    /// A node's children names in ascending order; needs READ on the node.
    pub fn get_children(&mut self, path: &str) -> Result<Vec<String>, ReadError> {
        self.backend.get_children(path)
    }

    /// A node's stat; [`ReadError::NoNode`] if it does not exist.
    pub fn stat(&mut self, path: &str) -> Result<Stat, ReadError> {
        self.backend.stat(path)
    }

    // ----------------------------------------------------------------------------------------
    // Staged writes.

    /// Stages the creation of a persistent node that the plugin's identities may change and
    /// everyone may read.
    pub fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        self.create_with(
            path,
            data,
            CreateMode::Persistent,
            AclPreset::CreatorAllWorldRead,
        )
    }

    /// Stages the creation of a node with a mode and an ACL.
    pub fn create_with(
        &mut self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: AclPreset,
    ) -> Result<(), WriteError> {
        self.backend.stage(StagedWrite::Create {
            path: path.to_string(),
            data: data.to_vec(),
            mode,
            acl,
        })
    }

    /// Stages a data change; `version` -1 matches any version, another value makes it a
    /// compare-and-set that fails the whole commit on mismatch.
    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Result<(), WriteError> {
        self.backend.stage(StagedWrite::SetData {
            path: path.to_string(),
            data: data.to_vec(),
            version,
        })
    }

    /// Stages "set `path` to `data`": a compare-and-set on the version read now if the node
    /// exists, a create otherwise. Either way the commit fails if someone else changed the node
    /// in between, and the server retries the batch.
    pub fn upsert(&mut self, path: &str, data: &[u8]) -> Result<(), UpsertError> {
        match self.exists(path)? {
            Some(stat) => self.set_data(path, data, stat.version)?,
            None => self.create(path, data)?,
        }
        Ok(())
    }

    /// Stages a delete; `version` -1 matches any version.
    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), WriteError> {
        self.backend.stage(StagedWrite::Delete {
            path: path.to_string(),
            version,
        })
    }

    /// Stages a check that the node exists with `version` (any version with -1): the commit fails
    /// unless it still holds.
    pub fn check(&mut self, path: &str, version: i32) -> Result<(), WriteError> {
        self.backend.stage(StagedWrite::Check {
            path: path.to_string(),
            version,
        })
    }

    // ----------------------------------------------------------------------------------------
    // Logs.

    /// Writes a log line, kept with the invocation's outcome.
    pub fn log(&mut self, level: Level, message: impl AsRef<str>) {
        self.backend.log(level, message.as_ref());
    }

    pub fn debug(&mut self, message: impl AsRef<str>) {
        self.log(Level::Debug, message);
    }

    pub fn info(&mut self, message: impl AsRef<str>) {
        self.log(Level::Info, message);
    }

    pub fn warn(&mut self, message: impl AsRef<str>) {
        self.log(Level::Warn, message);
    }

    pub fn error(&mut self, message: impl AsRef<str>) {
        self.log(Level::Error, message);
    }
}

/// Why [`Context::upsert`] failed: reading the node or staging the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpsertError {
    Read(ReadError),
    Write(WriteError),
}

impl From<ReadError> for UpsertError {
    fn from(error: ReadError) -> UpsertError {
        UpsertError::Read(error)
    }
}

impl From<WriteError> for UpsertError {
    fn from(error: WriteError) -> UpsertError {
        UpsertError::Write(error)
    }
}

impl fmt::Display for UpsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpsertError::Read(error) => write!(f, "reading: {error}"),
            UpsertError::Write(error) => write!(f, "staging: {error}"),
        }
    }
}

impl std::error::Error for UpsertError {}
