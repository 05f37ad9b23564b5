//! ACL entries as text, in zkCli's `scheme:id:perms` form.

use polis_client::{Acl, Id, Perms};

/// Parses `scheme:id:perms`. The id may itself contain `:` (digest ids do), so the scheme is
/// everything before the first `:` and the permissions everything after the last.
pub fn parse(text: &str) -> anyhow::Result<Acl> {
    let (scheme, rest) = text
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("{text:?}: expected scheme:id:perms"))?;
    let (id, perms) = rest
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("{text:?}: expected scheme:id:perms"))?;
    let mut bits = Perms::NONE;
    for letter in perms.chars() {
        bits = bits
            | match letter {
                'c' => Perms::CREATE,
                'd' => Perms::DELETE,
                'r' => Perms::READ,
                'w' => Perms::WRITE,
                'a' => Perms::ADMIN,
                other => anyhow::bail!("{text:?}: unknown permission {other:?} (use cdrwa)"),
            };
    }
    Ok(Acl::new(bits, Id::new(scheme, id)))
}

/// Parses every entry, failing on the first that does not parse.
pub fn parse_all(entries: &[String]) -> anyhow::Result<Vec<Acl>> {
    entries.iter().map(|entry| parse(entry)).collect()
}

/// The zkCli form of a permission set, `cdrwa` order.
pub fn perms_text(perms: Perms) -> String {
    [
        (Perms::CREATE, 'c'),
        (Perms::DELETE, 'd'),
        (Perms::READ, 'r'),
        (Perms::WRITE, 'w'),
        (Perms::ADMIN, 'a'),
    ]
    .into_iter()
    .filter(|(bit, _)| perms.contains(*bit))
    .map(|(_, letter)| letter)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_like_zkcli() {
        let acl = parse("world:anyone:cdrwa").unwrap();
        assert_eq!(acl, Acl::new(Perms::ALL, Id::anyone()));
        let acl = parse("digest:bob:abc/def=:r").unwrap();
        assert_eq!(acl.id, Id::new("digest", "bob:abc/def="));
        assert_eq!(acl.perms, Perms::READ);
        let acl = parse("x509:CN=alice,O=Polis:rw").unwrap();
        assert_eq!(acl.id.id, "CN=alice,O=Polis");
        assert_eq!(perms_text(acl.perms), "rw");
        assert!(parse("world:anyone:z").is_err());
        assert!(parse("nonsense").is_err());
    }
}
