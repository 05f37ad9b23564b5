//! ZooKeeper's `digest` authentication scheme.
//!
//! A digest id is `user:` followed by the base64 of the SHA-1 of `user:password`, exactly as
//! ZooKeeper's `DigestAuthenticationProvider.generateDigest` computes it, so that ACLs written
//! for ZooKeeper carry over unchanged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The ACL scheme under which digest identities are checked.
pub const ACL_SCHEME: &str = "digest";

/// The digest id of `user` with `password`: `user:base64(sha1("user:password"))`.
///
/// `digest_id("super", "test")` is `super:D/InIHSb7yEEbrWz8b9l71RjZJU=`. A user containing `:`
/// gives a different id than ZooKeeper would for the joined string, since ZooKeeper takes the
/// user to end at the first colon; use [`generate_digest`] to mirror ZooKeeper byte for byte.
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!("{user}:{}", STANDARD.encode(hash))
}

/// ZooKeeper's `generateDigest(idPassword)`: the part before the first `:` (all of it if there is
/// none), a `:`, and the base64 SHA-1 of the whole of `id_password`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password
        .split_once(':')
        .map_or(id_password, |(user, _)| user);
    let hash = Sha1::digest(id_password.as_bytes());
    format!("{user}:{}", STANDARD.encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_digest_matches_digest_id_for_plain_users() {
        assert_eq!(
            generate_digest("alice:secret"),
            digest_id("alice", "secret")
        );
    }

    #[test]
    fn generate_digest_takes_the_user_up_to_the_first_colon() {
        let id = generate_digest("a:b:c");
        assert!(id.starts_with("a:"), "{id}");
        assert_ne!(id, digest_id("a:b", "c"));
    }
}
