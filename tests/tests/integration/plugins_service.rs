//! Plugins deployed over QUIC to a real node: real guests compiled from source, the runner on
//! the leader, effects committed with the cursor, and hostile guests contained.

use std::time::Duration;

use polis_cli::deploy::{self, DeployError, PluginReport};
use polis_client::{Acl, Client, CreateMode, Id, Op, Perms};
use polis_plugin_layout::PluginState;
use polis_tests::client::connect;
use polis_tests::eventually;
use polis_tests::guests::package;
use polis_tests::node::{ADMIN_NAME, TestNode};

/// Far above what any step needs: reaching it means the awaited thing never happens.
const DEADLINE: Duration = Duration::from_secs(60);

fn open() -> Vec<Acl> {
    vec![Acl::new(Perms::ALL, Id::anyone())]
}

fn echo_manifest(name: &str, version: &str, target: &str, trigger: &str) -> String {
    format!(
        r#"
name = "{name}"
version = "{version}"
config = "{target}"
[triggers]
prefixes = ["{trigger}"]
[capabilities]
read = ["{trigger}", "{target}"]
write = ["{target}"]
[retry]
attempts = 2
backoff_min_ms = 10
backoff_max_ms = 50
"#
    )
}

async fn data_of(client: &Client, path: &str) -> Vec<u8> {
    eventually(path, DEADLINE, async || {
        client.get_data(path).await.ok().map(|(data, _)| data)
    })
    .await
}

async fn status_when(
    client: &Client,
    name: &str,
    what: &str,
    condition: impl Fn(&PluginReport) -> bool,
) -> PluginReport {
    eventually(what, DEADLINE, async || {
        deploy::status(client, name)
            .await
            .ok()
            .filter(|report| condition(report))
    })
    .await
}

async fn create_all(client: &Client, paths: &[&str]) {
    for path in paths {
        client
            .create(path, b"", &open(), CreateMode::Persistent)
            .await
            .expect("create");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployed_plugin_reacts_to_writes_and_reports_its_progress() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out"]).await;
    deploy::deploy(
        &admin,
        &package(
            "polis-test-echo",
            &echo_manifest("echo", "1.0.0", "/out", "/in"),
        ),
    )
    .await
    .expect("deployed");
    status_when(&admin, "echo", "the plugin to run", |report| {
        report.status.state == PluginState::Running
    })
    .await;

    admin
        .create("/in/a", b"hello", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out/a").await, b"hello");
    admin.set_data("/in/a", b"again", -1).await.expect("set");
    eventually("the change to be copied", DEADLINE, async || {
        let (data, _) = admin.get_data("/out/a").await.ok()?;
        (data == b"again").then_some(())
    })
    .await;

    let report = status_when(&admin, "echo", "both events to be counted", |report| {
        report.status.processed_events >= 2
    })
    .await;
    assert_eq!(report.status.failures, 0, "{report:?}");
    assert_eq!(report.deployment.current.revision, 1);
    assert!(report.cursor.zxid > 0);
    let logs = deploy::logs(&admin, "echo").await.expect("logs");
    assert!(
        logs.iter()
            .any(|line| line.message.contains("/in/a -> /out/a")),
        "{logs:?}"
    );
    // The plugin's effects carry its identity: the copy is the plugin's, readable by all.
    let (acl, _) = admin.get_acl("/out/a").await.expect("acl");
    assert!(
        acl.iter().any(|entry| entry.id.id.contains("OU=plugin")),
        "{acl:?}"
    );

    // `/polis` is for administrators: a manifest's config, the logs and the dead letters were
    // once readable by anyone. A status is published to others only by setting its ACL.
    let stranger = connect(&node, "stranger").await;
    let status = "/polis/plugins/deployed/echo/status";
    for path in [
        "/polis",
        "/polis/plugins",
        "/polis/plugins/deployed/echo",
        status,
        "/polis/plugins/deployed/echo/logs",
    ] {
        let refused = stranger.get_data(path).await.expect_err(path);
        assert!(refused.is_no_auth(), "{path}: {refused:?}");
        admin.get_data(path).await.expect(path);
    }
    assert!(stranger.get_children("/polis").await.is_err());
    admin
        .set_acl(
            status,
            &[
                Acl::new(Perms::READ, Id::anyone()),
                Acl::new(Perms::ALL, Id::new("x509", "CN=echo,OU=plugin,O=Polis")),
            ],
            -1,
        )
        .await
        .expect("publish the status");
    stranger.get_data(status).await.expect("a published status");
    status_when(&admin, "echo", "the plugin to keep reporting", |report| {
        report.status.state == PluginState::Running
    })
    .await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_keeps_the_cursor_and_a_rollback_restores_the_previous_revision() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out", "/out2"]).await;
    let first = package(
        "polis-test-echo",
        &echo_manifest("echo", "1.0.0", "/out", "/in"),
    );
    deploy::deploy(&admin, &first).await.expect("deployed");
    admin
        .create("/in/a", b"one", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out/a").await, b"one");

    // The same component with another config: a new revision, content-addressed storage
    // already holds the bytes.
    let second = package(
        "polis-test-echo",
        &echo_manifest("echo", "2.0.0", "/out2", "/in"),
    );
    assert_eq!(first.sha256, second.sha256);
    let upgraded = deploy::upgrade(&admin, &second).await.expect("upgraded");
    assert_eq!(upgraded.current.revision, 2);
    status_when(&admin, "echo", "revision 2 to run", |report| {
        report.status.revision == 2 && report.status.state == PluginState::Running
    })
    .await;
    admin
        .create("/in/b", b"two", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out2/b").await, b"two");
    // The cursor stayed: the new revision did not handle /in/a again.
    assert!(admin.exists("/out2/a").await.expect("exists").is_none());

    let rolled_back = deploy::rollback(&admin, "echo").await.expect("rolled back");
    assert_eq!(rolled_back.current.revision, 3);
    assert_eq!(rolled_back.current.manifest.version, "1.0.0");
    // Events go to the revision live when the leader reaches them; wait for revision 3.
    status_when(&admin, "echo", "revision 3 to run", |report| {
        report.status.revision == 3 && report.status.state == PluginState::Running
    })
    .await;
    admin
        .create("/in/c", b"three", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out/c").await, b"three");
    assert!(admin.exists("/out2/c").await.expect("exists").is_none());
    assert!(matches!(
        deploy::rollback(&admin, "echo").await,
        Err(DeployError::NoEarlierRevision(_))
    ));

    deploy::remove(&admin, "echo").await.expect("removed");
    assert!(deploy::list(&admin).await.expect("list").is_empty());
    // Issue 16: no deployment uses the component any more, so it is not kept.
    let component = polis_plugin_layout::component_path(&first.sha256);
    assert!(admin.exists(&component).await.expect("exists").is_none());
    node.shutdown().await;
}

/// Issue 16: an upgrade takes effect at the zxid that committed it. Every event before it is
/// handled by the old revision, every event after it by the new one, however far behind the
/// plugin is when the upgrade lands, and the status shows the new revision only once it runs.
/// (Revision 1's code used to handle events committed after the upgrade until the runner
/// noticed, and revision 2 the ones revision 1 had not reached yet.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_takes_effect_exactly_at_its_zxid() {
    const EVENTS: usize = 30;
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out", "/out2"]).await;
    let first = package(
        "polis-test-echo",
        &echo_manifest("echo", "1.0.0", "/out", "/in"),
    );
    deploy::deploy(&admin, &first).await.expect("deployed");
    status_when(&admin, "echo", "revision 1 to run", |report| {
        report.status.revision == 1 && report.status.state == PluginState::Running
    })
    .await;
    let creates = |prefix: &'static str| -> Vec<Op> {
        (0..EVENTS)
            .map(|index| {
                Op::create(
                    format!("/in/{prefix}{index:02}"),
                    prefix.as_bytes(),
                    &open(),
                    CreateMode::Persistent,
                )
            })
            .collect()
    };
    // Events, then the upgrade, then more events, without waiting for the plugin in between.
    for op in creates("before") {
        admin.multi(vec![op]).await.expect("create before");
    }
    let second = package(
        "polis-test-echo",
        &echo_manifest("echo", "2.0.0", "/out2", "/in"),
    );
    let upgraded = deploy::upgrade(&admin, &second).await.expect("upgraded");
    assert_eq!(upgraded.current.revision, 2);
    for op in creates("after") {
        admin.multi(vec![op]).await.expect("create after");
    }
    let last = format!("after{:02}", EVENTS - 1);
    eventually("every event handled", DEADLINE, async || {
        let done = admin.exists(&format!("/out2/{last}")).await.ok()??;
        let before_done = admin
            .exists(&format!("/out/before{:02}", EVENTS - 1))
            .await
            .ok()?
            .or(admin
                .exists(&format!("/out2/before{:02}", EVENTS - 1))
                .await
                .ok()?);
        before_done.map(|_| done)
    })
    .await;
    let (out, _) = admin.get_children("/out").await.expect("children");
    let (out2, _) = admin.get_children("/out2").await.expect("children");
    assert!(
        out.iter().all(|name| name.starts_with("before")),
        "revision 1 handled events after the upgrade: {out:?}"
    );
    assert!(
        out2.iter().all(|name| name.starts_with("after")),
        "revision 2 handled events before the upgrade: {out2:?}"
    );
    assert_eq!((out.len(), out2.len()), (EVENTS, EVENTS));
    let report = deploy::status(&admin, "echo").await.expect("status");
    assert_eq!(report.status.revision, 2);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_plugins_fail_alone_with_the_reason_in_their_status() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out", "/secret", "/hostile"]).await;
    admin
        .create("/secret/key", b"s3cret", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    // (guest, extra manifest lines, what its status must say)
    let hostile = [
        (
            "infinite-loop",
            "[limits]\nfuel_per_invocation = 20000000\n",
            "out of fuel",
        ),
        (
            "memory-bomb",
            "[limits]\nmemory_bytes_max = 16777216\n",
            "more than 16777216 bytes of memory",
        ),
        ("panic", "", "deliberate panic after 1 events"),
        ("write-outside", "", "capability violation"),
        (
            "huge-output",
            "config = \"writes\"\n",
            "output is too large",
        ),
    ];
    for (guest, extra, _) in &hostile {
        let trigger = format!("/hostile/{guest}");
        admin
            .create(&trigger, b"", &open(), CreateMode::Persistent)
            .await
            .expect("create");
        let (config_line, limits) = match extra.strip_prefix("config = ") {
            Some(config) => (format!("config = {config}"), String::new()),
            None => (String::new(), extra.to_string()),
        };
        let manifest = format!(
            r#"
name = "{guest}"
version = "1.0.0"
{config_line}
[triggers]
prefixes = ["{trigger}"]
kinds = ["created"]
[capabilities]
read = ["{trigger}"]
write = ["/out"]
{limits}
[retry]
attempts = 2
backoff_min_ms = 10
backoff_max_ms = 20
"#
        );
        deploy::deploy(&admin, &package(&format!("polis-test-{guest}"), &manifest))
            .await
            .unwrap_or_else(|error| panic!("deploy {guest}: {error}"));
    }
    deploy::deploy(
        &admin,
        &package(
            "polis-test-echo",
            &echo_manifest("echo", "1.0.0", "/out", "/in"),
        ),
    )
    .await
    .expect("deployed");
    for (guest, _, _) in &hostile {
        status_when(&admin, guest, "the hostile plugin to start", |report| {
            report.status.state == PluginState::Running
        })
        .await;
        admin
            .create(
                &format!("/hostile/{guest}/trigger"),
                b"go",
                &open(),
                CreateMode::Persistent,
            )
            .await
            .expect("trigger");
    }
    // Meanwhile the well-behaved plugin and ordinary clients carry on.
    admin
        .create("/in/a", b"fine", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out/a").await, b"fine");

    for (guest, _, reason) in &hostile {
        let report = status_when(&admin, guest, "the event to be dead-lettered", |report| {
            report.status.dead_letters >= 1
        })
        .await;
        let error = report.status.last_error.clone().unwrap_or_default();
        assert!(error.contains(reason), "{guest}: {error}");
        assert_eq!(report.dead_letters.len(), 1, "{guest}: {report:?}");
        assert_eq!(report.dead_letters[0].1.attempts, 2, "{guest}");
        assert!(report.dead_letters[0].1.error.contains(reason), "{guest}");
    }
    // Nothing a failed invocation staged was committed.
    for discarded in ["/out/fine", "/out/before-panic", "/out/stolen"] {
        assert!(
            admin.exists(discarded).await.expect("exists").is_none(),
            "{discarded} was committed"
        );
    }
    let panic_logs = deploy::logs(&admin, "panic").await.expect("logs");
    assert!(
        panic_logs
            .iter()
            .any(|line| line.message.contains("deliberate panic")),
        "{panic_logs:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_event_in_a_batch_is_isolated_and_dead_lettered_while_the_others_commit() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out"]).await;
    deploy::deploy(
        &admin,
        &package(
            "polis-test-echo",
            &echo_manifest("echo", "1.0.0", "/out", "/in"),
        ),
    )
    .await
    .expect("deployed");
    status_when(&admin, "echo", "the plugin to run", |report| {
        report.status.state == PluginState::Running
    })
    .await;
    // One transaction, so one batch: the echo guest fails on data "fail".
    admin
        .multi(vec![
            Op::create("/in/a", b"one", &open(), CreateMode::Persistent),
            Op::create("/in/bad", b"fail", &open(), CreateMode::Persistent),
            Op::create("/in/c", b"three", &open(), CreateMode::Persistent),
        ])
        .await
        .expect("multi");
    assert_eq!(data_of(&admin, "/out/a").await, b"one");
    assert_eq!(data_of(&admin, "/out/c").await, b"three");
    let report = status_when(
        &admin,
        "echo",
        "the bad event to be dead-lettered",
        |report| report.status.dead_letters == 1,
    )
    .await;
    let letter = &report.dead_letters[0].1;
    assert_eq!(letter.events.len(), 1, "{letter:?}");
    assert_eq!(letter.events[0].path, "/in/bad");
    assert!(letter.error.contains("asked to fail"), "{letter:?}");
    assert!(admin.exists("/out/bad").await.expect("exists").is_none());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_that_keeps_failing_pauses_and_resumes_at_the_same_event() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out"]).await;
    let manifest = echo_manifest("echo", "1.0.0", "/out", "/in") + "on_exhaustion = \"pause\"\n";
    deploy::deploy(&admin, &package("polis-test-echo", &manifest))
        .await
        .expect("deployed");
    status_when(&admin, "echo", "the plugin to run", |report| {
        report.status.state == PluginState::Running
    })
    .await;
    // Issue 16: a running plugin has nothing to resume, and gets no new revision for it.
    let refused = deploy::resume(&admin, "echo")
        .await
        .expect_err("nothing to resume");
    assert!(
        matches!(refused, DeployError::NothingToResume { .. }),
        "{refused}"
    );
    assert_eq!(
        deploy::status(&admin, "echo")
            .await
            .expect("status")
            .deployment
            .current
            .revision,
        1
    );
    admin
        .create("/in/x", b"fail", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    let paused = status_when(&admin, "echo", "the plugin to pause", |report| {
        report.status.state == PluginState::Paused
    })
    .await;
    assert_eq!(paused.status.dead_letters, 0);
    assert_eq!(paused.status.consecutive_failures, 2);

    // Paused, it handles nothing.
    admin
        .create("/in/y", b"later", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    // Fix the data: the event that failed no longer carries "fail" (its node changed since), so
    // the resumed plugin gets past it, then handles /in/y.
    admin.set_data("/in/x", b"fixed", -1).await.expect("set");
    assert!(admin.exists("/out/y").await.expect("exists").is_none());
    deploy::resume(&admin, "echo").await.expect("resumed");
    assert_eq!(data_of(&admin, "/out/y").await, b"later");
    assert_eq!(data_of(&admin, "/out/x").await, b"fixed");
    node.shutdown().await;
}

/// Issue 16: an operator lists a plugin's dead letters, replays one after fixing the cause (its
/// writes then commit, once), or drops one. A replay that fails again is a dead letter again,
/// with the new error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_is_replayed_after_the_fix_or_dropped() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in"]).await;
    // The plugin copies into /missing, which does not exist yet: its writes are refused.
    let package = package(
        "polis-test-echo",
        &echo_manifest("echo", "1.0.0", "/missing", "/in"),
    );
    deploy::deploy(&admin, &package).await.expect("deployed");
    admin
        .create("/in/a", b"one", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    let report = status_when(&admin, "echo", "a dead letter", |report| {
        report.dead_letters.len() == 1
    })
    .await;
    let (first, letter) = report.dead_letters[0].clone();
    assert!(letter.error.contains("refused"), "{}", letter.error);
    assert_eq!(letter.events[0].path, "/in/a");

    // Replayed before the fix: a dead letter again, with one more attempt.
    deploy::replay_dead_letter(&admin, "echo", &first)
        .await
        .expect("replay");
    // The replay request itself is listed (`replay-<id>`) until the worker has run it: wait
    // for the dead letter it leaves behind.
    let report = status_when(&admin, "echo", "the failed replay", |report| {
        report.dead_letters.len() == 1
            && report.dead_letters[0].0 != first
            && !report.dead_letters[0].0.starts_with("replay-")
    })
    .await;
    let (second, again) = report.dead_letters[0].clone();
    assert_eq!(again.attempts, letter.attempts + 1);
    assert_eq!(again.events, letter.events);

    // Fixed, then replayed: the write commits and the dead letter is gone.
    create_all(&admin, &["/missing"]).await;
    deploy::replay_dead_letter(&admin, "echo", &second)
        .await
        .expect("replay");
    assert_eq!(data_of(&admin, "/missing/a").await, b"one");
    let report = status_when(&admin, "echo", "the replay to commit", |report| {
        report.dead_letters.is_empty()
    })
    .await;
    assert_eq!(report.status.dead_letters, 0);
    assert!(matches!(
        deploy::replay_dead_letter(&admin, "echo", &second).await,
        Err(DeployError::NoSuchDeadLetter { .. })
    ));

    // Dropped: given up for good.
    admin.delete("/missing/a", -1).await.expect("delete");
    admin.delete("/missing", -1).await.expect("delete");
    admin
        .create("/in/b", b"two", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    let report = status_when(&admin, "echo", "another dead letter", |report| {
        report.dead_letters.len() == 1
    })
    .await;
    deploy::drop_dead_letter(&admin, "echo", &report.dead_letters[0].0)
        .await
        .expect("drop");
    let report = deploy::status(&admin, "echo").await.expect("status");
    assert!(report.dead_letters.is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_administrators_deploy_plugins() {
    let node = TestNode::start().await;
    let agency = connect(&node, "agency").await;
    match deploy::deploy(
        &agency,
        &package(
            "polis-test-echo",
            &echo_manifest("echo", "1.0.0", "/out", "/in"),
        ),
    )
    .await
    {
        Err(DeployError::Client(error)) => assert!(error.is_no_auth(), "{error}"),
        other => panic!("expected NoAuth, got {other:?}"),
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_goes_on_from_its_cursor_after_a_restart() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/journal"]).await;
    let manifest = r#"
name = "journal"
version = "1.0.0"
[triggers]
prefixes = ["/in"]
kinds = ["created"]
[capabilities]
write = ["/journal"]
"#;
    deploy::deploy(&admin, &package("polis-test-journal", manifest))
        .await
        .expect("deployed");
    admin
        .create("/in/a", b"", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    eventually("the first entry", DEADLINE, async || {
        let (children, _) = admin.get_children("/journal").await.ok()?;
        (children.len() == 1).then_some(())
    })
    .await;
    admin.close().await.expect("close");

    let node = node.restart().await;
    let admin = connect(&node, ADMIN_NAME).await;
    admin
        .create("/in/b", b"", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    let entries = eventually("the second entry", DEADLINE, async || {
        let (children, _) = admin.get_children("/journal").await.ok()?;
        (children.len() >= 2).then_some(children)
    })
    .await;
    assert_eq!(entries.len(), 2, "an event was handled twice: {entries:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_clock_ticks_for_plugins_that_trigger_on_it() {
    let node = TestNode::start_with(|config| config.plugins.clock_interval_ms = 50).await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/journal"]).await;
    // No plugin listens yet: the leader does not tick.
    assert!(
        admin
            .exists("/polis/clock")
            .await
            .expect("exists")
            .is_none()
    );
    let manifest = r#"
name = "ticker"
version = "1.0.0"
[triggers]
prefixes = ["/polis/clock"]
[capabilities]
write = ["/journal"]
"#;
    deploy::deploy(&admin, &package("polis-test-journal", manifest))
        .await
        .expect("deployed");
    let entries = eventually("three ticks to reach the plugin", DEADLINE, async || {
        let (children, _) = admin.get_children("/journal").await.ok()?;
        (children.len() >= 3).then_some(children)
    })
    .await;
    let first = admin
        .get_data(&format!("/journal/{}", entries[0]))
        .await
        .expect("entry")
        .0;
    assert!(
        String::from_utf8_lossy(&first).ends_with(" /polis/clock"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    let (tick, _) = admin.get_data("/polis/clock").await.expect("clock");
    let tick_ms: i64 = String::from_utf8(tick).unwrap().parse().unwrap();
    assert!(tick_ms > 1_700_000_000_000, "{tick_ms}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_plugin_keeps_its_cursor_inside_the_history_window() {
    // A window of 40 events: a plugin whose cursor stayed put while unrelated writes went by
    // would find its events compacted away.
    let node = TestNode::start_with(|config| config.limits.history_events_max = 40).await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/in", "/out", "/elsewhere"]).await;
    deploy::deploy(
        &admin,
        &package(
            "polis-test-echo",
            &echo_manifest("echo", "1.0.0", "/out", "/in"),
        ),
    )
    .await
    .expect("deployed");
    let started = status_when(&admin, "echo", "the plugin to run", |report| {
        report.status.state == PluginState::Running
    })
    .await;
    for index in 0..60 {
        admin
            .create(
                &format!("/elsewhere/n{index}"),
                b"",
                &open(),
                CreateMode::Persistent,
            )
            .await
            .expect("create");
    }
    status_when(
        &admin,
        "echo",
        "the cursor to move past unrelated changes",
        |report| report.cursor.zxid > started.cursor.zxid + 20,
    )
    .await;
    admin
        .create("/in/late", b"still seen", &open(), CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/out/late").await, b"still seen");
    let report = deploy::status(&admin, "echo").await.expect("status");
    assert_eq!(report.status.dead_letters, 0, "{report:?}");
    assert_eq!(report.status.processed_events, 2, "{report:?}");
    node.shutdown().await;
}

/// The value of a plugin's gauge on the node's Prometheus endpoint, if it is there.
async fn plugin_gauge(node: &TestNode, gauge: &str, plugin: &str) -> Option<f64> {
    let metrics = node.admin_get("/metrics").await;
    let prefix = format!("{gauge}{{plugin=\"{plugin}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(|value| value.trim().parse().expect("a gauge's value"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_plugin_reports_no_lag_after_unrelated_writes_and_sessions() {
    let node = TestNode::start().await;
    let admin = connect(&node, ADMIN_NAME).await;
    create_all(&admin, &["/idle-in", "/idle-out", "/idle-elsewhere"]).await;
    deploy::deploy(
        &admin,
        &package(
            "polis-test-echo",
            &echo_manifest("idle-echo", "1.0.0", "/idle-out", "/idle-in"),
        ),
    )
    .await
    .expect("deployed");
    admin
        .create(
            "/idle-in/first",
            b"handled",
            &open(),
            CreateMode::Persistent,
        )
        .await
        .expect("create");
    assert_eq!(data_of(&admin, "/idle-out/first").await, b"handled");
    // Writes the plugin does not trigger on: its stored cursor stays, but it has looked at them.
    for index in 0..10 {
        admin
            .create(
                &format!("/idle-elsewhere/n{index}"),
                b"",
                &open(),
                CreateMode::Persistent,
            )
            .await
            .expect("create");
    }
    let applied = admin.last_zxid_seen();
    eventually(
        "the lag gauge to read 0 for an idle plugin",
        DEADLINE,
        async || {
            let lag = plugin_gauge(&node, "polis_plugin_lag_entries", "idle-echo").await?;
            (lag == 0.0).then_some(())
        },
    )
    .await;
    // Sessions opening and closing leave no history entry, and each client command opens one:
    // the stored cursor still follows them within a second, so the lag a client reads stays
    // small instead of growing with every command.
    for _ in 0..5 {
        let passer_by = connect(&node, ADMIN_NAME).await;
        passer_by.close().await.expect("close");
    }
    let report = status_when(
        &admin,
        "idle-echo",
        "the stored cursor to catch up",
        |report| report.cursor.zxid > applied && report.lag_entries <= 2,
    )
    .await;
    // The child's creation and its parent's children change.
    assert_eq!(report.status.processed_events, 2, "{report:?}");
    node.shutdown().await;
}
