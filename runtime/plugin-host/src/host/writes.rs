//! `polis:plugin/writes`: writes a plugin stages, committed by the host as one multi with its
//! cursor.

use polis_tree::{Acl, CreateMode as TreeCreateMode, Id, Perms, WriteOp, path};

use crate::bindings::writes;
use crate::{Access, PluginFailure};

use super::HostState;

impl HostState {
    /// Stages one write after checking its path, capability, arguments and the output limits.
    fn stage(
        &mut self,
        op: WriteOp,
        sequential: bool,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let node_path = op.path();
        if let Err(error) = path::validate(node_path, self.path_len_max) {
            return Ok(Err(writes::WriteError::InvalidPath(error.to_string())));
        }
        // A sequential create makes a sibling of the path it names: its parent must be writable.
        let checked = if sequential {
            path::parent(node_path)
        } else {
            node_path
        };
        if !self.manifest.capabilities.can_write(checked) {
            let node_path = node_path.to_string();
            return Err(self.fail(PluginFailure::CapabilityViolation {
                access: Access::Write,
                path: node_path,
            }));
        }
        let invalid = |reason: String| Ok(Err(writes::WriteError::InvalidArgument(reason)));
        let (data_len, version) = match &op {
            WriteOp::Create { data, mode, .. } => {
                if let Some(ttl_ms) = mode.ttl_ms()
                    && (ttl_ms <= 0 || ttl_ms > self.ttl_max_ms)
                {
                    return invalid(format!(
                        "TTL {ttl_ms} ms is outside 1..={}",
                        self.ttl_max_ms
                    ));
                }
                (data.as_ref().map_or(0, Vec::len), -1)
            }
            WriteOp::SetData { data, version, .. } => (data.as_ref().map_or(0, Vec::len), *version),
            WriteOp::Delete { version, .. } | WriteOp::Check { version, .. } => (0, *version),
            WriteOp::SetAcl { version, .. } => (0, *version),
        };
        if data_len > self.data_len_max {
            return invalid(format!(
                "data of {data_len} bytes is longer than data_len_max ({})",
                self.data_len_max
            ));
        }
        if version < -1 {
            return invalid(format!("version {version} is below -1"));
        }
        if self.staged.len() >= self.staged_writes_max {
            let max = self.staged_writes_max as u64;
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "staged_writes_max",
                max,
            }));
        }
        let bytes = (node_path.len() + data_len) as u64;
        let bytes_max = self.manifest.limits.staged_bytes_max;
        if self.staged_bytes + bytes > bytes_max {
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "staged_bytes_max",
                max: bytes_max,
            }));
        }
        self.staged_bytes += bytes;
        self.staged.push(op);
        Ok(Ok(()))
    }
}

impl writes::Host for HostState {
    async fn stage_create(
        &mut self,
        node_path: String,
        data: Vec<u8>,
        mode: writes::CreateMode,
        acl: writes::AclPreset,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let (mode, sequential) = match mode {
            writes::CreateMode::Persistent => (TreeCreateMode::Persistent, false),
            writes::CreateMode::PersistentSequential => {
                (TreeCreateMode::PersistentSequential, true)
            }
            writes::CreateMode::Container => (TreeCreateMode::Container, false),
            writes::CreateMode::PersistentWithTtl(ttl_ms) => {
                (TreeCreateMode::PersistentWithTtl { ttl_ms }, false)
            }
            writes::CreateMode::PersistentSequentialWithTtl(ttl_ms) => {
                (TreeCreateMode::PersistentSequentialWithTtl { ttl_ms }, true)
            }
        };
        let acl = match acl_of(acl) {
            Ok(acl) => acl,
            Err(reason) => return Ok(Err(writes::WriteError::InvalidArgument(reason))),
        };
        // The WIT interface has no null data: a plugin's node always has data, perhaps empty.
        let op = WriteOp::Create {
            path: node_path,
            data: Some(data),
            acl,
            mode,
        };
        self.stage(op, sequential)
    }

    async fn stage_set_data(
        &mut self,
        node_path: String,
        data: Vec<u8>,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::SetData {
            path: node_path,
            data: Some(data),
            version,
        };
        self.stage(op, false)
    }

    async fn stage_delete(
        &mut self,
        node_path: String,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::Delete {
            path: node_path,
            version,
        };
        self.stage(op, false)
    }

    async fn stage_check(
        &mut self,
        node_path: String,
        version: i32,
    ) -> wasmtime::Result<Result<(), writes::WriteError>> {
        let op = WriteOp::Check {
            path: node_path,
            version,
        };
        self.stage(op, false)
    }
}

/// The ACL a preset stands for, or why the preset is refused. `auth` entries are ZooKeeper's
/// "the caller's identities": the tree expands them to the identities the commit runs as.
pub(crate) fn acl_of(preset: writes::AclPreset) -> Result<Vec<Acl>, String> {
    let creator = Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, ""));
    let world_read = Acl::new(Perms::READ, Id::anyone());
    Ok(match preset {
        writes::AclPreset::CreatorAll => vec![creator],
        writes::AclPreset::CreatorAllWorldRead => vec![creator, world_read],
        writes::AclPreset::CreatorAllWorldReadAndWriter(subject) => {
            check_granted_subject(&subject)?;
            let writer = Perms(Perms::READ.0 | Perms::WRITE.0);
            vec![
                creator,
                world_read,
                Acl::new(writer, Id::new(Id::SCHEME_X509, subject)),
            ]
        }
        writes::AclPreset::Open => Acl::open().to_vec(),
    })
}

/// A plugin may grant write access to a client's certificate subject, never to a node's or
/// another plugin's (`OU=node`, `OU=plugin`): those identities carry the cluster's and the
/// plugins' own powers, and a plugin must not extend them. Checked on the subject as text, which
/// refuses more than the parsed subject would (an `OU=node` inside another value included).
fn check_granted_subject(subject: &str) -> Result<(), String> {
    if subject.trim().is_empty() {
        return Err("an ACL grant needs a certificate subject".to_string());
    }
    let lower = subject.to_ascii_lowercase();
    if lower.contains("ou=node") || lower.contains("ou=plugin") {
        return Err(format!(
            "a plugin may not grant access to a node or plugin identity ({subject})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod acl_grant_tests {
    use super::*;

    #[test]
    fn a_plugin_grants_write_to_a_client_subject_but_never_to_a_node_or_plugin() {
        let granted = acl_of(writes::AclPreset::CreatorAllWorldReadAndWriter(
            "CN=harbor,O=Polis".to_string(),
        ))
        .expect("a client subject");
        assert!(granted.iter().any(|entry| entry.id
            == Id::new(Id::SCHEME_X509, "CN=harbor,O=Polis")
            && entry.perms.contains(Perms::WRITE)
            && !entry.perms.contains(Perms::DELETE)));
        for refused in ["", "CN=n1,OU=node,O=Polis", "CN=fanout,ou=Plugin,O=Polis"] {
            assert!(
                acl_of(writes::AclPreset::CreatorAllWorldReadAndWriter(
                    refused.to_string()
                ))
                .is_err(),
                "{refused:?}"
            );
        }
    }
}
