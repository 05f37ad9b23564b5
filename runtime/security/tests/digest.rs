//! The digest scheme matches ZooKeeper's.

use polis_security::{digest_id, generate_digest};

#[test]
fn digest_id_matches_the_zookeeper_documentation_vector() {
    assert_eq!(
        digest_id("super", "test"),
        "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    );
    assert_eq!(
        generate_digest("super:test"),
        "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    );
}
