//! Which revision of a deployed plugin handles its next events: the runner's rule over the
//! records in `polis_plugin_layout`, kept pure so that it is tested alone.

use polis_plugin_layout::{Cursor, Deployment, PluginState, Revision};
use polis_tree::Zxid;

/// Which revision handles a plugin's next events, and up to where.
///
/// An upgrade or rollback takes effect at the zxid that committed it (`changed_at`, the
/// deployment record's mzxid: only a revision change rewrites that record), and each retired
/// revision keeps the zxid it took effect at ([`Revision::started_at`]). Every event belongs to
/// the revision that was current when it was committed: the newest revision whose start the
/// cursor has passed runs, bounded to the events before the next revision's start
/// (`Some(start)`), and hands over once it has passed them. So however many upgrades landed
/// while a plugin was behind, and across a failover (the new leader's runner reads the same
/// record and cursor), each event runs under its own revision, as far back as the history keeps
/// revisions ([`polis_plugin_layout::HISTORY_REVISIONS_MAX`]; events older than the oldest kept
/// go to it). Only if the revision that would run cannot (it is paused or failed, which is why
/// it was replaced) do its pending events go to the current one. Pure, so that the rule is
/// tested alone.
pub fn revision_to_run(
    deployment: &Deployment,
    changed_at: Zxid,
    cursor: Cursor,
    state: PluginState,
) -> (Revision, Option<Zxid>) {
    // The cursor has passed `start` once every event before it is handled.
    let passed = |start: Zxid| {
        cursor.zxid >= start
            || (cursor.zxid == start.saturating_sub(1) && cursor.handled_in_zxid.is_none())
    };
    let current_start = deployment.current.started_at.unwrap_or(changed_at);
    if passed(current_start) || matches!(state, PluginState::Paused | PluginState::Failed) {
        return (deployment.current.clone(), None);
    }
    let mut newer_start = current_start;
    let mut oldest_kept = None;
    for revision in &deployment.history {
        match revision.started_at {
            Some(start) if !passed(start) => {
                oldest_kept = Some((revision.clone(), newer_start));
                newer_start = start;
            }
            // Its start passed, or is not recorded (an older record): it is the one.
            _ => return (revision.clone(), Some(newer_start)),
        }
    }
    match oldest_kept {
        Some((revision, before)) => (revision, Some(before)),
        None => (deployment.current.clone(), None),
    }
}

#[cfg(test)]
mod tests {
    use polis_plugin_host::PluginManifest;

    use super::*;

    fn deployment_upgraded_from_1_to_2() -> Deployment {
        let revision = |number: u64, version: &str| Revision {
            revision: number,
            manifest: PluginManifest::new("echo", version, &["/in"]),
            component: "00".repeat(32),
            started_at: None,
        };
        Deployment {
            current: revision(2, "2.0.0"),
            history: vec![revision(1, "1.0.0")],
        }
    }

    /// Issue 16: the events before an upgrade's zxid are the old revision's, the ones after it
    /// the new one's, whatever the cursor when the upgrade lands.
    #[test]
    fn the_revision_current_at_the_cursor_runs_until_the_upgrade_zxid() {
        let deployment = deployment_upgraded_from_1_to_2();
        let run = |cursor: Cursor, state: PluginState| {
            let (revision, before) = revision_to_run(&deployment, 100, cursor, state);
            (revision.revision, before)
        };
        // Behind the upgrade: revision 1, for the events before zxid 100.
        assert_eq!(run(Cursor::after(40), PluginState::Running), (1, Some(100)));
        let partly = Cursor {
            zxid: 99,
            handled_in_zxid: Some(3),
        };
        assert_eq!(run(partly, PluginState::Running), (1, Some(100)));
        // Everything before it handled: revision 2, unbounded.
        assert_eq!(run(Cursor::after(99), PluginState::Running), (2, None));
        assert_eq!(run(Cursor::after(150), PluginState::Retrying), (2, None));
        // A paused or failed revision is why it was replaced: the new one takes its events.
        assert_eq!(run(Cursor::after(40), PluginState::Paused), (2, None));
        assert_eq!(run(Cursor::after(40), PluginState::Failed), (2, None));
        // A first deployment has nothing before it.
        let fresh = Deployment {
            history: Vec::new(),
            ..deployment_upgraded_from_1_to_2()
        };
        assert_eq!(
            revision_to_run(&fresh, 100, Cursor::after(40), PluginState::Deployed)
                .0
                .revision,
            2
        );
    }

    /// Issue 16's corner: two upgrades in quick succession while the plugin is behind both (and
    /// a failover, after which a new leader decides from the same record and cursor). Revision
    /// 1 was current until zxid 100, revision 2 until 200, revision 3 since.
    #[test]
    fn each_event_runs_under_the_revision_current_when_it_committed_across_upgrades() {
        let revision = |number: u64, started_at: Option<Zxid>| Revision {
            revision: number,
            manifest: PluginManifest::new("echo", &format!("{number}.0.0"), &["/in"]),
            component: "00".repeat(32),
            started_at,
        };
        let deployment = Deployment {
            current: revision(3, None),
            history: vec![revision(2, Some(100)), revision(1, Some(10))],
        };
        let run = |cursor: Cursor, state: PluginState| {
            let (revision, before) = revision_to_run(&deployment, 200, cursor, state);
            (revision.revision, before)
        };
        assert_eq!(run(Cursor::after(40), PluginState::Running), (1, Some(100)));
        assert_eq!(run(Cursor::after(99), PluginState::Running), (2, Some(200)));
        assert_eq!(
            run(Cursor::after(150), PluginState::Running),
            (2, Some(200))
        );
        assert_eq!(run(Cursor::after(199), PluginState::Running), (3, None));
        // Behind every revision kept: the oldest kept stands in for the ones dropped.
        assert_eq!(run(Cursor::after(5), PluginState::Running), (1, Some(100)));
        // A paused revision is why the plugin was upgraded: the current one takes its events.
        assert_eq!(run(Cursor::after(40), PluginState::Paused), (3, None));

        // A resume is the same code going on: revision 4 starts where revision 3 did, so the
        // events between revision 3's start and the resume are not handed back to revision 2.
        let resumed = Deployment {
            current: revision(4, Some(200)),
            ..deployment.clone()
        };
        let (running, before) =
            revision_to_run(&resumed, 300, Cursor::after(250), PluginState::Running);
        assert_eq!((running.revision, before), (4, None));
        let (running, before) =
            revision_to_run(&resumed, 300, Cursor::after(150), PluginState::Running);
        assert_eq!((running.revision, before), (2, Some(200)));
    }
}
