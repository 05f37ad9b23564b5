//! The bounded, jittered pause between rounds of reconnection attempts.

use std::time::Duration;

/// Exponential backoff with "equal jitter": round `n` pauses between half and all of
/// `min(max, min * 2^n)`.
///
/// ZooKeeper's client sleeps a random time of up to a second before each reconnect so that a
/// server restart does not bring back every client in the same instant; the jitter here serves
/// the same purpose, and the cap keeps a client that was cut off for long from waiting long once
/// the ensemble is back. The lower half of the cap is never jittered away, so a round never
/// starts immediately after the previous one failed.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min_ms: u64,
    max_ms: u64,
    round: u32,
}

impl Backoff {
    pub(crate) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            min_ms: min_ms.max(1),
            max_ms: max_ms.max(min_ms.max(1)),
            round: 0,
        }
    }

    /// The pause after the current round, which is then counted.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.delay_for(self.round, random_u64());
        self.round = self.round.saturating_add(1);
        delay
    }

    /// Starts again from the shortest pause, after a successful connection.
    pub(crate) fn reset(&mut self) {
        self.round = 0;
    }

    /// The pause of round `round` given a random value; separated out so tests can check bounds.
    fn delay_for(&self, round: u32, random: u64) -> Duration {
        let cap_ms = 1u64
            .checked_shl(round)
            .and_then(|factor| self.min_ms.checked_mul(factor))
            .map_or(self.max_ms, |cap| cap.min(self.max_ms));
        let half_ms = cap_ms / 2;
        let jitter_ms = random % (cap_ms - half_ms + 1);
        Duration::from_millis(half_ms + jitter_ms)
    }
}

/// A random value for jitter. A failing system generator only costs the jitter, so it falls back
/// to the clock's nanoseconds rather than failing a reconnect.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| u64::from(elapsed.subsec_nanos()))
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_bounds_and_grow_to_the_cap() {
        let backoff = Backoff::new(50, 2_000);
        for round in 0..100 {
            for random in [0, 1, 7, 12_345, u64::MAX / 3, u64::MAX] {
                let delay = backoff.delay_for(round, random).as_millis() as u64;
                assert!(delay <= 2_000, "round {round}: {delay} ms");
                assert!(delay >= 25, "round {round}: {delay} ms");
            }
        }
        assert!(backoff.delay_for(0, u64::MAX).as_millis() <= 50);
        assert!(backoff.delay_for(40, 0).as_millis() >= 1_000);
        assert!(backoff.delay_for(u32::MAX, 0).as_millis() >= 1_000);
    }

    #[test]
    fn next_delay_advances_and_reset_restarts() {
        let mut backoff = Backoff::new(100, 100_000);
        let first = backoff.next_delay();
        assert!(first <= Duration::from_millis(100));
        for _ in 0..20 {
            backoff.next_delay();
        }
        assert!(backoff.next_delay() >= Duration::from_millis(50_000));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn degenerate_bounds_are_repaired() {
        let backoff = Backoff::new(0, 0);
        assert!(backoff.delay_for(5, 3) <= Duration::from_millis(1));
        let backoff = Backoff::new(500, 10);
        assert_eq!(backoff.delay_for(0, 0), Duration::from_millis(250));
    }
}
