//! Access control lists, ZooKeeper-style.
//!
//! Each znode carries an ACL: a list of (permissions, identity) entries. A caller presents the
//! identities it authenticated as (its client certificate's subject under the `x509` scheme, any
//! `digest` users it added); an operation is allowed if some entry grants the needed permission to
//! `world:anyone` or to one of the caller's identities. An identity of scheme `super` is an
//! administrator and passes every check, as ZooKeeper's superDigest user does.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Limits, TreeError};

/// A set of ZooKeeper permissions, with ZooKeeper's bit values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Perms(pub u32);

impl Perms {
    pub const READ: Perms = Perms(1);
    pub const WRITE: Perms = Perms(2);
    pub const CREATE: Perms = Perms(4);
    pub const DELETE: Perms = Perms(8);
    pub const ADMIN: Perms = Perms(16);
    pub const ALL: Perms = Perms(31);
    pub const NONE: Perms = Perms(0);

    /// True if every permission in `other` is in `self`.
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permission's name, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Perms::READ => "READ",
            Perms::WRITE => "WRITE",
            Perms::CREATE => "CREATE",
            Perms::DELETE => "DELETE",
            Perms::ADMIN => "ADMIN",
            Perms::ALL => "ALL",
            _ => "combined",
        }
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }
}

/// An identity: a scheme and an id within it (`world:anyone`, `x509:CN=traffic,O=City`,
/// `digest:alice:<base64 sha1>`, `super:admin`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub const SCHEME_WORLD: &'static str = "world";
    pub const SCHEME_AUTH: &'static str = "auth";
    pub const SCHEME_DIGEST: &'static str = "digest";
    pub const SCHEME_X509: &'static str = "x509";
    /// A user who authenticated with SASL on the ZooKeeper face (ZooKeeper's `sasl` scheme).
    pub const SCHEME_SASL: &'static str = "sasl";
    pub const SCHEME_SUPER: &'static str = "super";

    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`, which every caller is.
    pub fn anyone() -> Id {
        Id::new(Self::SCHEME_WORLD, "anyone")
    }

    /// True for an administrator identity.
    pub fn is_super(&self) -> bool {
        self.scheme == Self::SCHEME_SUPER
    }
}

/// One ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    pub perms: Perms,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: Perms, id: Id) -> Acl {
        Acl { perms, id }
    }

    /// ZooKeeper's `OPEN_ACL_UNSAFE`: everyone may do everything.
    pub fn open() -> AclList {
        Arc::from(vec![Acl::new(Perms::ALL, Id::anyone())])
    }

    /// ZooKeeper's `READ_ACL_UNSAFE`: everyone may read, nobody else may do anything.
    pub fn read_only() -> AclList {
        Arc::from(vec![Acl::new(Perms::READ, Id::anyone())])
    }

    /// The root's ACL: everyone may read, write, create and delete, as on ZooKeeper's root, but
    /// only administrators may change the ACL itself. With ZooKeeper's open root anyone could
    /// `setACL /` to a list naming only themselves and lock every other client out of the tree.
    pub fn root() -> AclList {
        Arc::from(vec![Acl::new(
            Perms(Perms::ALL.0 & !Perms::ADMIN.0),
            Id::anyone(),
        )])
    }

    /// Administrators only: they pass every ACL as `super` identities, and this one entry names
    /// them for whoever reads the ACL while granting nothing to anyone else.
    pub fn administrators_only() -> AclList {
        Arc::from(vec![Acl::new(
            Perms::ALL,
            Id::new(Id::SCHEME_SUPER, Acl::ADMINISTRATORS),
        )])
    }

    /// The id of [`Acl::administrators_only`]'s entry.
    pub const ADMINISTRATORS: &'static str = "administrators";
}

/// A znode's ACL. Shared, because most nodes of a tree carry one of a few lists (ZooKeeper
/// deduplicates them the same way in its `ReferenceCountedACLCache`).
pub type AclList = Arc<[Acl]>;

/// True if `acl` grants `perm` to a caller with `caller_ids`.
pub fn allows(acl: &[Acl], perm: Perms, caller_ids: &[Id]) -> bool {
    if caller_ids.iter().any(Id::is_super) {
        return true;
    }
    acl.iter().any(|entry| {
        entry.perms.contains(perm)
            && ((entry.id.scheme == Id::SCHEME_WORLD && entry.id.id == "anyone")
                || caller_ids.contains(&entry.id))
    })
}

/// Validates an ACL given by a client and expands the `auth` scheme into the caller's own
/// identities, as ZooKeeper's `fixupACL` does; the result has at most `limits.acl_entries_max`
/// entries of ids at most `limits.acl_id_len_max` bytes long.
pub fn fixup(acl: &[Acl], caller_ids: &[Id], limits: &Limits) -> Result<Vec<Acl>, TreeError> {
    let (acl_entries_max, acl_id_len_max) = (limits.acl_entries_max, limits.acl_id_len_max);
    let invalid = |reason: String| TreeError::InvalidAcl { reason };
    if acl.is_empty() {
        return Err(invalid("an ACL needs at least one entry".into()));
    }
    // Like ZooKeeper (ZOOKEEPER-1877), drop every repeated entry of the request, keeping the first.
    let mut seen = std::collections::BTreeSet::new();
    let unique = acl.iter().filter(|entry| seen.insert(*entry));
    let mut fixed: Vec<Acl> = Vec::with_capacity(acl.len());
    for entry in unique {
        if !Perms::ALL.contains(entry.perms) {
            return Err(invalid(format!(
                "unknown permission bits {:#x}",
                entry.perms.0
            )));
        }
        match entry.id.scheme.as_str() {
            Id::SCHEME_WORLD => {
                if entry.id.id != "anyone" {
                    return Err(invalid("the world scheme has only the id anyone".into()));
                }
                fixed.push(entry.clone());
            }
            Id::SCHEME_AUTH => {
                // "auth" means: every identity this caller has authenticated as.
                let authenticated: Vec<&Id> = caller_ids
                    .iter()
                    .filter(|id| id.scheme != Id::SCHEME_WORLD && !id.is_super())
                    .collect();
                if authenticated.is_empty() {
                    return Err(invalid(
                        "the auth scheme needs an authenticated caller".into(),
                    ));
                }
                for id in authenticated {
                    fixed.push(Acl::new(entry.perms, id.clone()));
                }
            }
            Id::SCHEME_DIGEST => {
                if !entry.id.id.contains(':') {
                    return Err(invalid("a digest id has the form user:hash".into()));
                }
                fixed.push(entry.clone());
            }
            Id::SCHEME_X509 | Id::SCHEME_SUPER | Id::SCHEME_SASL => {
                if entry.id.id.is_empty() {
                    return Err(invalid(format!("an empty {} id", entry.id.scheme)));
                }
                fixed.push(entry.clone());
            }
            other => return Err(invalid(format!("unknown scheme {other:?}"))),
        }
    }
    if fixed.len() > acl_entries_max {
        return Err(TreeError::LimitExceeded {
            limit: "acl_entries_max",
            max: acl_entries_max,
        });
    }
    if fixed.iter().any(|entry| entry.id.id.len() > acl_id_len_max) {
        return Err(TreeError::LimitExceeded {
            limit: "acl_id_len_max",
            max: acl_id_len_max,
        });
    }
    Ok(fixed)
}
