//! The parts of `multi` (writes, all or nothing) and `multiRead` (reads, each on its own).

use crate::request::{CreateKind, CreateRequest};
use crate::{DecodeError, JuteLimits, JuteReader, JuteWriter, Stat, opcode};

/// One operation inside a `multi` or `multiRead` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create(CreateKind, CreateRequest),
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        /// `None` is null data.
        data: Option<Vec<u8>>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// `multiRead` only.
    GetChildren {
        path: String,
        watch: bool,
    },
    /// `multiRead` only.
    GetData {
        path: String,
        watch: bool,
    },
}

impl MultiOp {
    /// The operation code its `MultiHeader` carries.
    pub fn op_code(&self) -> i32 {
        match self {
            MultiOp::Create(kind, _) => kind.op_code(),
            MultiOp::Delete { .. } => opcode::DELETE,
            MultiOp::SetData { .. } => opcode::SET_DATA,
            MultiOp::Check { .. } => opcode::CHECK,
            MultiOp::GetChildren { .. } => opcode::GET_CHILDREN,
            MultiOp::GetData { .. } => opcode::GET_DATA,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren { .. } | MultiOp::GetData { .. })
    }

    pub fn encode(&self, writer: &mut JuteWriter) {
        match self {
            MultiOp::Create(kind, create) => create.encode(*kind, writer),
            MultiOp::Delete { path, version } | MultiOp::Check { path, version } => {
                writer.write_string(path);
                writer.write_int(*version);
            }
            MultiOp::SetData {
                path,
                data,
                version,
            } => {
                writer.write_string(path);
                writer.write_nullable_buffer(data.as_deref());
                writer.write_int(*version);
            }
            MultiOp::GetChildren { path, watch } | MultiOp::GetData { path, watch } => {
                writer.write_string(path);
                writer.write_bool(*watch);
            }
        }
    }

    /// The operation of a part whose header said `op_code`.
    pub fn decode(
        op_code: i32,
        reader: &mut JuteReader<'_>,
        limits: &JuteLimits,
    ) -> Result<MultiOp, DecodeError> {
        let path_max = limits.path_len_max;
        if let Some(kind) = CreateKind::of_op_code(op_code) {
            return Ok(MultiOp::Create(
                kind,
                CreateRequest::decode(kind, reader, limits)?,
            ));
        }
        let op = match op_code {
            opcode::DELETE | opcode::CHECK => {
                let path = reader.read_string("multi.path", "path_len_max", path_max)?;
                let version = reader.read_int("multi.version")?;
                if op_code == opcode::DELETE {
                    MultiOp::Delete { path, version }
                } else {
                    MultiOp::Check { path, version }
                }
            }
            opcode::SET_DATA => MultiOp::SetData {
                path: reader.read_string("multi.path", "path_len_max", path_max)?,
                data: reader.read_nullable_buffer(
                    "multi.data",
                    "data_len_max",
                    limits.data_len_max,
                )?,
                version: reader.read_int("multi.version")?,
            },
            opcode::GET_CHILDREN | opcode::GET_DATA => {
                let path = reader.read_string("multi.path", "path_len_max", path_max)?;
                let watch = reader.read_bool("multi.watch")?;
                if op_code == opcode::GET_DATA {
                    MultiOp::GetData { path, watch }
                } else {
                    MultiOp::GetChildren { path, watch }
                }
            }
            other => {
                return Err(DecodeError::UnexpectedMultiOp {
                    op_code: other,
                    inside: "a multi",
                });
            }
        };
        Ok(op)
    }
}

/// The result of one part of a `multi` or `multiRead`, as ZooKeeper's `MultiResponse` encodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    /// A `create` part: the created path.
    Create {
        path: String,
    },
    /// A `create2`, `createContainer` or `createTTL` part: the path and the stat.
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetChildren {
        children: Vec<String>,
    },
    GetData {
        /// `None` is null data.
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    /// A failed part (or, in a failed `multi`, every part: 0 for those before the failure,
    /// RuntimeInconsistency after it).
    Error {
        code: i32,
    },
}

impl MultiResult {
    /// The type in the part's `MultiHeader`.
    pub fn op_code(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => opcode::CREATE,
            MultiResult::Create2 { .. } => opcode::CREATE2,
            MultiResult::Delete => opcode::DELETE,
            MultiResult::SetData { .. } => opcode::SET_DATA,
            MultiResult::Check => opcode::CHECK,
            MultiResult::GetChildren { .. } => opcode::GET_CHILDREN,
            MultiResult::GetData { .. } => opcode::GET_DATA,
            MultiResult::Error { .. } => opcode::ERROR,
        }
    }

    /// `MultiHeader(type, done = false, err)` and the part's record, as `MultiResponse.serialize`.
    pub fn encode(&self, writer: &mut JuteWriter) {
        writer.write_int(self.op_code());
        writer.write_bool(false);
        writer.write_int(match self {
            MultiResult::Error { code } => *code,
            _ => 0,
        });
        match self {
            MultiResult::Create { path } => writer.write_string(path),
            MultiResult::Create2 { path, stat } => {
                writer.write_string(path);
                stat.encode(writer);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => stat.encode(writer),
            MultiResult::GetChildren { children } => writer.write_strings(children),
            MultiResult::GetData { data, stat } => {
                writer.write_nullable_buffer(data.as_deref());
                stat.encode(writer);
            }
            MultiResult::Error { code } => writer.write_int(*code),
        }
    }
}

/// The header that ends a multi's parts: `MultiHeader(-1, done = true, -1)`.
pub(crate) fn encode_end(writer: &mut JuteWriter) {
    writer.write_int(opcode::ERROR);
    writer.write_bool(true);
    writer.write_int(-1);
}
