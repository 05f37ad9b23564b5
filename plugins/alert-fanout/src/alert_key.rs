//! The key of an alert: a node name unique to (sender, identifier, sent), CAP's own identity of
//! a message, so a message published twice maps to one key.

/// The longest readable prefix of a key, in characters.
const READABLE_LEN_MAX: usize = 40;

/// FNV-1a, 64 bits: enough to tell apart the alerts one city sees, and no dependency.
fn fnv1a_64(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            // A separator that cannot occur in sender or identifier keeps ("a,b", "c") apart from
            // ("a", "b,c").
            hash ^= 0x1f;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// `<identifier, made node-safe, cut to 40>-<16 hex digits of the hash>`.
pub fn alert_key(sender: &str, identifier: &str, sent: &str) -> String {
    let readable: String = identifier
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(READABLE_LEN_MAX)
        .collect();
    format!("{readable}-{:016x}", fnv1a_64(&[sender, identifier, sent]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_message_gets_the_same_key_and_any_difference_another() {
        let key = alert_key("w-nws@noaa.gov", "NWS-1", "2026-11-30T14:05:00-05:00");
        assert_eq!(
            key,
            alert_key("w-nws@noaa.gov", "NWS-1", "2026-11-30T14:05:00-05:00")
        );
        assert!(key.starts_with("NWS-1-"));
        assert_ne!(
            key,
            alert_key("w-nws@noaa.gov", "NWS-1", "2026-11-30T14:06:00-05:00")
        );
        assert_ne!(
            key,
            alert_key("other@city.gov", "NWS-1", "2026-11-30T14:05:00-05:00")
        );
    }

    #[test]
    fn keys_are_node_names() {
        let key = alert_key("a", "urn:oid:2.49.0.1/alert 7", "t");
        assert!(!key.contains('/') && !key.contains(':') && !key.contains(' '));
    }
}
