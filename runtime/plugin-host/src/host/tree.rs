//! `polis:plugin/tree`: read-only access to the tree, through the invocation's exchange.

use polis_tree::{Stat, TreeError};

use crate::bindings::{tree, types};
use crate::exchange::{ReadRequest, ReadResponse};

use super::HostState;

impl tree::Host for HostState {
    async fn get_data(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<types::Node, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::GetData(node_path)).await {
            ReadResponse::Data(Ok((data, stat))) => Ok(Ok(types::Node {
                data,
                stat: node_stat(stat),
            })),
            ReadResponse::Data(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn exists(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<Option<types::NodeStat>, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::Exists(node_path)).await {
            ReadResponse::Exists(Ok(stat)) => Ok(Ok(stat.map(node_stat))),
            ReadResponse::Exists(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn get_children(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<Vec<String>, tree::ReadError>> {
        if let Err(error) = self.check_read(&node_path)? {
            return Ok(Err(error));
        }
        match self.read(ReadRequest::GetChildren(node_path)).await {
            ReadResponse::Children(Ok(children)) => Ok(Ok(children)),
            ReadResponse::Children(Err(error)) => Ok(Err(read_error(error))),
            other => Err(wasmtime::Error::msg(format!(
                "mismatched read response {other:?}"
            ))),
        }
    }

    async fn stat(
        &mut self,
        node_path: String,
    ) -> wasmtime::Result<Result<types::NodeStat, tree::ReadError>> {
        Ok(match self.exists(node_path).await? {
            Ok(Some(stat)) => Ok(stat),
            Ok(None) => Err(tree::ReadError::NoNode),
            Err(error) => Err(error),
        })
    }
}

fn read_error(error: TreeError) -> tree::ReadError {
    match error {
        TreeError::NoNode { .. } => tree::ReadError::NoNode,
        TreeError::NoAuth { .. } => tree::ReadError::NoAuth,
        other => tree::ReadError::InvalidPath(other.to_string()),
    }
}

fn node_stat(stat: Stat) -> types::NodeStat {
    types::NodeStat {
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
