//! [`Staging`]: reads that see the writes staged before them in the same batch.
//!
//! The host's reads see the tree as committed, so a batch that handles an alert and then its
//! update, or two acks of one alert, would otherwise read stale state and stage conflicting
//! writes (two creates of one node fail the whole commit, forever). [`Staging`] remembers what
//! this invocation staged and answers from that first.

use std::collections::BTreeMap;

use crate::{AclPreset, Context, CreateMode, ReadError};

/// What the batch knows of one node.
#[derive(Clone, Debug)]
enum Known {
    /// The node exists with this data; `version` is what a compare-and-set must name next.
    Present {
        data: Vec<u8>,
        version: i32,
    },
    Absent,
}

/// A [`Context`] with a memory of the batch's own writes.
#[derive(Debug)]
pub struct Staging<'c, 'a> {
    ctx: &'c mut Context<'a>,
    known: BTreeMap<String, Known>,
}

fn describe(error: impl std::fmt::Display, path: &str) -> String {
    format!("{path}: {error}")
}

impl<'c, 'a> Staging<'c, 'a> {
    pub fn new(ctx: &'c mut Context<'a>) -> Staging<'c, 'a> {
        Staging {
            ctx,
            known: BTreeMap::new(),
        }
    }

    pub fn context(&mut self) -> &mut Context<'a> {
        self.ctx
    }

    fn load(&mut self, path: &str) -> Result<&Known, ReadError> {
        if !self.known.contains_key(path) {
            let known = match self.ctx.get(path)? {
                Some(node) => Known::Present {
                    data: node.data,
                    version: node.stat.version,
                },
                None => Known::Absent,
            };
            self.known.insert(path.to_string(), known);
        }
        Ok(&self.known[path])
    }

    /// The node's data as it will be after the writes staged so far.
    pub fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self.load(path).map_err(|error| describe(error, path))? {
            Known::Present { data, .. } => Ok(Some(data.clone())),
            Known::Absent => Ok(None),
        }
    }

    pub fn exists(&mut self, path: &str) -> Result<bool, String> {
        Ok(self.get(path)?.is_some())
    }

    /// Sets the node's data, creating it (with `mode`, readable by all) if it does not exist.
    /// The write is a compare-and-set on the version read, so a concurrent writer makes the
    /// commit fail and the batch run again.
    pub fn put(&mut self, path: &str, data: &[u8], mode: CreateMode) -> Result<(), String> {
        self.put_with(path, data, mode, AclPreset::CreatorAllWorldRead)
    }

    pub fn put_with(
        &mut self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: AclPreset,
    ) -> Result<(), String> {
        let known = self.load(path).map_err(|error| describe(error, path))?;
        let next = match known {
            Known::Present { version, .. } => {
                let version = *version;
                self.ctx
                    .set_data(path, data, version)
                    .map_err(|error| describe(error, path))?;
                version.wrapping_add(1)
            }
            Known::Absent => {
                self.ctx
                    .create_with(path, data, mode, acl)
                    .map_err(|error| describe(error, path))?;
                0
            }
        };
        self.known.insert(
            path.to_string(),
            Known::Present {
                data: data.to_vec(),
                version: next,
            },
        );
        Ok(())
    }

    /// Creates the node (empty, persistent) unless it exists.
    pub fn ensure(&mut self, path: &str) -> Result<(), String> {
        if !self.exists(path)? {
            self.put(path, b"", CreateMode::Persistent)?;
        }
        Ok(())
    }

    /// Deletes the node if it exists.
    pub fn remove(&mut self, path: &str) -> Result<(), String> {
        if let Known::Present { version, .. } =
            self.load(path).map_err(|error| describe(error, path))?
        {
            let version = *version;
            self.ctx
                .delete(path, version)
                .map_err(|error| describe(error, path))?;
            self.known.insert(path.to_string(), Known::Absent);
        }
        Ok(())
    }

    /// The committed children of a node (empty if it does not exist).
    pub fn committed_children(&mut self, path: &str) -> Result<Vec<String>, String> {
        match self.ctx.get_children(path) {
            Ok(children) => Ok(children),
            Err(ReadError::NoNode) => Ok(Vec::new()),
            Err(error) => Err(describe(error, path)),
        }
    }
}
