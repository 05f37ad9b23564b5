//! The SDK's native harness: plugin functions run against `testing::MemoryTree` as the host
//! would run them.

use polis_plugin_sdk::testing::{MemoryTree, RunError};
use polis_plugin_sdk::{
    AclPreset, Context, CreateMode, EventKind, Level, Plugin, ReadError, StagedWrite, WatchEvent,
    WriteError,
};

/// Copies created and changed nodes to /out, like plugins/testing/echo.
fn copy(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
    for event in events {
        if let (EventKind::NodeCreated | EventKind::NodeDataChanged, Some(data)) =
            (event.kind, &event.data)
        {
            let name = event.path.rsplit('/').next().unwrap_or_default();
            ctx.upsert(&format!("/out/{name}"), data)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

// The function form of the macro also compiles (and expands to nothing but a `Plugin` impl) off
// wasm32.
polis_plugin_sdk::export_plugin!(handle = copy);

#[test]
fn a_run_stages_and_commits_writes_and_returns_the_commits_events() {
    let mut tree = MemoryTree::new();
    tree.create("/out", b"");
    let events = tree.create("/in/a", b"one");
    assert_eq!(
        events
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect::<Vec<_>>(),
        [
            ("/in", EventKind::NodeCreated),
            ("/", EventKind::NodeChildrenChanged),
            ("/in/a", EventKind::NodeCreated),
            ("/in", EventKind::NodeChildrenChanged),
        ]
    );
    assert_eq!(events[2].data.as_deref(), Some(&b"one"[..]));
    assert_eq!(events[1].data, None);

    let run = tree.run_fn(copy, b"", &events).unwrap();
    assert_eq!(
        run.staged,
        [
            StagedWrite::Create {
                path: "/out/in".into(),
                data: vec![],
                mode: CreateMode::Persistent,
                acl: AclPreset::CreatorAllWorldRead,
            },
            StagedWrite::Create {
                path: "/out/a".into(),
                data: b"one".to_vec(),
                mode: CreateMode::Persistent,
                acl: AclPreset::CreatorAllWorldRead,
            },
        ]
    );
    assert_eq!(tree.get("/out/a").as_deref(), Some(&b"one"[..]));
    assert!(
        run.events
            .iter()
            .any(|e| e.path == "/out/a" && e.kind == EventKind::NodeCreated)
    );

    // A change becomes a compare-and-set on the version read.
    let events = tree.set("/in/a", b"two");
    let run = tree.run_fn(copy, b"", &events).unwrap();
    assert_eq!(
        run.staged,
        [StagedWrite::SetData {
            path: "/out/a".into(),
            data: b"two".to_vec(),
            version: 0
        }]
    );
    assert_eq!(tree.stat("/out/a").unwrap().version, 1);
    assert_eq!(tree.children("/out"), ["a", "in"]);
}

#[test]
fn staged_writes_commit_all_or_nothing() {
    let mut tree = MemoryTree::new();
    tree.create("/out/x", b"0");
    fn conflicting(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        ctx.create("/out/new", b"n").map_err(|e| e.to_string())?;
        ctx.set_data("/out/x", b"1", 7).map_err(|e| e.to_string())
    }
    match tree.run_fn(conflicting, b"", &[]) {
        Err(RunError::Commit(error)) => {
            assert!(error.to_string().contains("version"), "{error}")
        }
        other => panic!("expected a failed commit, got {other:?}"),
    }
    assert_eq!(tree.get("/out/new"), None);
}

#[test]
fn reads_and_writes_outside_the_grants_are_violations() {
    let mut tree = MemoryTree::new();
    tree.create("/secret", b"s");
    tree.grant_read("/in").grant_write("/out");
    fn snoop(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        let _ = ctx.get_data("/secret");
        Ok(())
    }
    assert_eq!(
        tree.run_fn(snoop, b"", &[]).unwrap_err(),
        RunError::CapabilityViolation {
            path: "/secret".into(),
            write: false
        }
    );
    fn scribble(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        let _ = ctx.delete("/in/a", -1);
        Ok(())
    }
    assert_eq!(
        tree.run_fn(scribble, b"", &[]).unwrap_err(),
        RunError::CapabilityViolation {
            path: "/in/a".into(),
            write: true
        }
    );
    // A sequential create of /out makes a sibling of /out, outside the grant; below it is fine.
    fn sequence(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        let path = std::str::from_utf8(ctx.config()).unwrap().to_string();
        let _ = ctx.create_with(
            &path,
            b"",
            CreateMode::PersistentSequential,
            AclPreset::Open,
        );
        Ok(())
    }
    assert!(matches!(
        tree.run_fn(sequence, b"/out", &[]),
        Err(RunError::CapabilityViolation { write: true, .. })
    ));
    tree.create("/out", b"");
    tree.run_fn(sequence, b"/out/item-", &[]).unwrap();
    assert_eq!(tree.children("/out"), ["item-0000000000"]);
}

#[test]
fn argument_errors_come_back_to_the_plugin() {
    let mut tree = MemoryTree::new();
    fn bad_arguments(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        assert!(matches!(
            ctx.create("relative", b""),
            Err(WriteError::InvalidPath(_))
        ));
        assert!(matches!(
            ctx.get_data("/a//b"),
            Err(ReadError::InvalidPath(_))
        ));
        assert!(matches!(
            ctx.create("/big", &vec![0; 1 << 20]),
            Err(WriteError::InvalidArgument(_))
        ));
        assert!(matches!(
            ctx.create_with(
                "/ttl",
                b"",
                CreateMode::PersistentWithTtl(0),
                AclPreset::Open
            ),
            Err(WriteError::InvalidArgument(_))
        ));
        assert!(matches!(
            ctx.set_data("/x", b"", -2),
            Err(WriteError::InvalidArgument(_))
        ));
        assert_eq!(ctx.get_data("/missing"), Err(ReadError::NoNode));
        assert_eq!(ctx.get("/missing"), Ok(None));
        assert_eq!(ctx.exists("/missing"), Ok(None));
        assert_eq!(ctx.stat("/missing"), Err(ReadError::NoNode));
        Ok(())
    }
    let run = tree.run_fn(bad_arguments, b"", &[]).unwrap();
    assert!(run.staged.is_empty());
}

#[test]
fn acls_apply_to_the_plugins_identities() {
    let mut tree = MemoryTree::new();
    tree.run_as(&[("x509", "CN=fanout")]);
    fn private(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        ctx.create_with(
            "/private",
            b"p",
            CreateMode::Persistent,
            AclPreset::CreatorAll,
        )
        .map_err(|e| e.to_string())
    }
    tree.run_fn(private, b"", &[]).unwrap();
    fn read_private(ctx: &mut Context<'_>, _: &[WatchEvent]) -> Result<(), String> {
        let node = ctx.get_data("/private").map_err(|e| e.to_string())?;
        ctx.info(String::from_utf8_lossy(&node.data));
        Ok(())
    }
    let run = tree.run_fn(read_private, b"", &[]).unwrap();
    assert_eq!(run.logs, [(Level::Info, "p".to_string())]);
    tree.run_as(&[("x509", "CN=someone-else")]);
    match tree.run_fn(read_private, b"", &[]) {
        Err(RunError::Guest(message)) => assert!(message.contains("NoAuth"), "{message}"),
        other => panic!("expected NoAuth, got {other:?}"),
    }
    // Event data is withheld where the plugin may not read.
    let events = tree.set("/private", b"q");
    assert_eq!(events[0].data, None);
}

struct Stamp;

impl Plugin for Stamp {
    fn init(config: &[u8]) -> Result<(), String> {
        if config.is_empty() {
            return Err("config: the path to stamp".into());
        }
        Ok(())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let path = String::from_utf8_lossy(ctx.config()).to_string();
        let at = ctx.commit_time_ms();
        ctx.warn(format!("{} events", events.len()));
        if events.iter().any(|e| e.data.as_deref() == Some(b"fail")) {
            return Err("asked to fail".into());
        }
        ctx.upsert(&path, at.to_string().as_bytes())
            .map_err(|e| e.to_string())
    }
}

#[test]
fn a_plugin_type_runs_init_then_handle_with_the_commit_time() {
    let mut tree = MemoryTree::new();
    assert_eq!(
        tree.run::<Stamp>(b"", &[]).unwrap_err(),
        RunError::Init("config: the path to stamp".into())
    );
    tree.advance_time(5);
    tree.run::<Stamp>(b"/stamp", &[]).unwrap();
    assert_eq!(
        tree.get("/stamp"),
        Some((MemoryTree::START_TIME_MS + 5).to_string().into_bytes())
    );
    let events = tree.create("/in", b"fail");
    assert_eq!(
        tree.run::<Stamp>(b"/stamp", &events).unwrap_err(),
        RunError::Guest("asked to fail".into())
    );
    assert_eq!(tree.logs(), [(Level::Warn, "2 events".to_string())]);
}
