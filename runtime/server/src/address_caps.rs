//! Caps on the client connections one remote address may hold, and the descriptor budget the
//! ZooKeeper face's connections live within.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// File descriptors kept back from client connections: the redb files, the listeners, the admin
/// HTTP server's connections, log files and whatever a plugin host opens.
pub const DESCRIPTORS_RESERVED: u64 = 256;

/// How many connections each remote address holds on one face, bounded by `per_address_max`
/// (ZooKeeper's `maxClientCnxns`, which is per client IP address).
///
/// Without it one host could take every connection a node allows (`connections_max`) and every
/// session those connections open, shutting out the rest of the city.
#[derive(Debug)]
pub struct AddressCaps {
    per_address_max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place; dropping it gives the place back.
#[derive(Debug)]
pub struct AddressSlot {
    caps: Arc<AddressCaps>,
    address: IpAddr,
}

impl AddressCaps {
    pub fn new(per_address_max: usize) -> Arc<AddressCaps> {
        assert!(per_address_max > 0, "an address may hold a connection");
        Arc::new(AddressCaps {
            per_address_max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counts are plain numbers, whole after every step: a poisoned lock is taken over.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for one more connection from `address`, or `None` if it holds its share already.
    pub fn admit(self: &Arc<AddressCaps>, address: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.counts();
        let count = counts.entry(address).or_insert(0);
        if *count >= self.per_address_max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            caps: self.clone(),
            address,
        })
    }

    /// The most connections one address may hold.
    pub fn per_address_max(&self) -> usize {
        self.per_address_max
    }

    /// The connections `address` holds now.
    pub fn held_by(&self, address: IpAddr) -> usize {
        self.counts().get(&address).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.caps.counts();
        let count = counts
            .get_mut(&self.address)
            .expect("an admitted address is counted");
        assert!(*count > 0, "a slot was given back twice");
        *count -= 1;
        if *count == 0 {
            // Addresses that hold nothing are forgotten, so the map stays as small as the
            // connections open.
            counts.remove(&self.address);
        }
    }
}

/// The most ZooKeeper connections the descriptor limit `descriptors_max` leaves room for: each
/// takes one descriptor, and [`DESCRIPTORS_RESERVED`] are kept for everything else. A node that
/// accepted past its descriptor limit would fail to open files and sockets of its own (its log,
/// its snapshots) at random, which is worse than refusing a client.
pub fn connections_within_descriptors(configured: usize, descriptors_max: u64) -> usize {
    let room = descriptors_max.saturating_sub(DESCRIPTORS_RESERVED);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Raises this process's soft limit on open files to its hard limit (the soft limit is often
/// 1,024, below the 10,000 ZooKeeper connections a node allows by default) and returns the soft
/// limit in force afterwards.
#[cfg(unix)]
pub fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), hard) = (limit.current, limit.maximum)
        && hard.is_none_or(|hard| hard > current)
    {
        let raised = Rlimit {
            current: hard.or(Some(current)),
            maximum: hard,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "could not raise the open-files limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[cfg(not(unix))]
pub fn raise_descriptor_limit() -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_places_back() {
        let caps = AddressCaps::new(2);
        let here: IpAddr = [10, 0, 0, 1].into();
        let there: IpAddr = [10, 0, 0, 2].into();
        let first = caps.admit(here).expect("first");
        let _second = caps.admit(here).expect("second");
        assert!(caps.admit(here).is_none(), "a third from the same address");
        assert!(
            caps.admit(there).is_some(),
            "another address is not affected"
        );
        drop(first);
        assert_eq!(caps.held_by(here), 1);
        assert!(caps.admit(here).is_some(), "a place was given back");
    }

    #[test]
    fn zookeeper_connections_fit_within_the_descriptor_limit() {
        assert_eq!(connections_within_descriptors(10_000, 1_024), 768);
        assert_eq!(connections_within_descriptors(10_000, 1_048_576), 10_000);
        assert_eq!(connections_within_descriptors(10_000, 100), 0);
    }
}
