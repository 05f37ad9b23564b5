//! The fan-out's key of an alert, computed on the host side too, so a client can find an
//! alert's notifications (`/city/notifications/<district>/<key>`) without listing. It must stay
//! the same function as `plugins/alert-fanout/src/alert_key.rs`; the integration tests compare
//! the two on real alerts.

/// The longest readable prefix of a key, in characters.
const READABLE_LEN_MAX: usize = 40;

fn fnv1a_64(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
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

/// `<identifier, made node-safe, cut to 40>-<16 hex digits of FNV-1a of sender, identifier, sent>`.
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
