//! Where an idle plugin's cursor goes after a look that found nothing for it: a pure decision,
//! so that the worker's loop only waits and commits.

use std::time::Duration;

use polis_plugin_layout::Cursor;
use polis_tree::Zxid;

/// An idle plugin's cursor is also committed forward once this long has passed since its last
/// commit, when other transactions went by meanwhile: so that the position a client reads
/// (`polis plugin status`) trails the cluster by a second at most, at the price of one write a
/// second at most while unrelated writes go on.
const IDLE_CURSOR_ADVANCE_INTERVAL: Duration = Duration::from_secs(1);

/// What an idle worker does after a look that found nothing for the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdleStep {
    /// Commit the cursor forward to this position now.
    Advance(Cursor),
    /// Look again after the next applied change, or after this long at most.
    WaitAtMost(Duration),
    /// Look again after the next applied change.
    Wait,
}

/// Where an idle plugin's cursor goes: `looked_through` is how far the look reached (nothing up
/// to it concerns the plugin), `skipped_entries` how many history entries it has passed over
/// since the cursor last moved, `applied` the newest applied zxid when the look began, and
/// `last_commit` this worker's last commit of the cursor (its zxid, and how long ago).
pub(super) fn idle_step(
    cursor: Cursor,
    looked_through: Cursor,
    skipped_entries: usize,
    skipped_entries_max: usize,
    applied: Zxid,
    last_commit: Option<(Zxid, Duration)>,
) -> IdleStep {
    if looked_through.zxid <= cursor.zxid {
        return IdleStep::Wait;
    }
    if skipped_entries >= skipped_entries_max {
        return IdleStep::Advance(looked_through);
    }
    match last_commit {
        // Nothing but this worker's own commit came after the cursor: committing the cursor
        // again would be a write for that write's sake, and the next look would find it, for
        // ever.
        Some((zxid, _)) if zxid >= applied => IdleStep::Wait,
        Some((_, since)) if since < IDLE_CURSOR_ADVANCE_INTERVAL => {
            IdleStep::WaitAtMost(IDLE_CURSOR_ADVANCE_INTERVAL - since)
        }
        _ => IdleStep::Advance(looked_through),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRIES_MAX: usize = 100;

    fn step(
        cursor: Zxid,
        looked_through: Zxid,
        skipped: usize,
        applied: Zxid,
        last_commit: Option<(Zxid, Duration)>,
    ) -> IdleStep {
        idle_step(
            Cursor::after(cursor),
            Cursor::after(looked_through),
            skipped,
            ENTRIES_MAX,
            applied,
            last_commit,
        )
    }

    #[test]
    fn an_idle_cursor_moves_once_a_second_while_others_write() {
        let recent = Some((10, Duration::from_millis(300)));
        assert_eq!(
            step(9, 20, 3, 20, recent),
            IdleStep::WaitAtMost(Duration::from_millis(700))
        );
        let due = Some((10, IDLE_CURSOR_ADVANCE_INTERVAL));
        assert_eq!(
            step(9, 20, 3, 20, due),
            IdleStep::Advance(Cursor::after(20))
        );
        // A worker that has not committed yet (a new leader's) moves it at once.
        assert_eq!(
            step(9, 20, 3, 20, None),
            IdleStep::Advance(Cursor::after(20))
        );
    }

    #[test]
    fn an_idle_cursor_does_not_chase_its_own_commit() {
        // The only transaction after the cursor is the commit that moved it.
        let own = Some((21, Duration::from_secs(5)));
        assert_eq!(step(20, 21, 1, 21, own), IdleStep::Wait);
        // Nothing new at all.
        assert_eq!(step(20, 20, 0, 20, own), IdleStep::Wait);
    }

    #[test]
    fn many_skipped_entries_move_the_cursor_at_once() {
        let recent = Some((10, Duration::ZERO));
        assert_eq!(
            step(9, 500, ENTRIES_MAX, 500, recent),
            IdleStep::Advance(Cursor::after(500))
        );
    }
}
