//! The two clocks of the shell around the pure tree.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time for commit timestamps (`ctime`, `mtime`, TTL expiry), and monotonic time for
/// session deadlines, which must not jump when an operator or NTP sets the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    started: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            started: Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn wall_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            })
    }

    /// Milliseconds since this clock was made; never goes backwards.
    pub fn monotonic_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
