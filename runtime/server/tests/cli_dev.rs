//! The README's run command, end to end: `polis dev` as a real process, and the client commands
//! run from the same folder, finding the node through the profile it wrote.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const POLIS: &str = env!("CARGO_BIN_EXE_polis");

/// A `polis dev` process, interrupted (as Ctrl-C would) when dropped.
struct DevNode {
    child: Child,
}

impl DevNode {
    fn start(folder: &Path) -> DevNode {
        let mut child = Command::new(POLIS)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .current_dir(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("polis dev starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        // The node prints its addresses once it serves; the profile is written by then.
        loop {
            let line = received
                .recv_timeout(Duration::from_secs(60))
                .expect("polis dev printed its addresses in time");
            if line.contains("client (QUIC)") {
                break;
            }
        }
        DevNode { child }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs a client command in `folder`; returns (success, stdout, stderr).
fn polis(folder: &Path, arguments: &[&str]) -> (bool, String, String) {
    let output = Command::new(POLIS)
        .args(arguments)
        .current_dir(folder)
        .env_remove("POLIS_PROFILE")
        .output()
        .expect("polis runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn dev_node_serves_the_client_commands_run_from_its_folder() {
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();
    assert!(dir.join("polis-dev/profile.toml").exists());
    assert!(dir.join("polis-dev/certs/ca.pem").exists());

    let (ok, out, err) = polis(dir, &["create", "/city", "hello"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Created /city");
    let (ok, out, _) = polis(dir, &["create", "/city/district-", "a", "-s"]);
    assert!(ok);
    assert_eq!(out.trim(), "Created /city/district-0000000000");
    let (ok, out, _) = polis(dir, &["ls", "/"]);
    assert!(ok);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["city", "polis"]);
    let (ok, out, _) = polis(dir, &["get", "/city"]);
    assert!(ok);
    assert_eq!(out.trim(), "hello");
    // Reads from the server's local copy, without asking the leader.
    let (ok, out, err) = polis(dir, &["get", "/city", "--stale"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "hello");
    let (ok, out, err) = polis(dir, &["ls", "/", "--stale"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["city", "polis"]);
    let (ok, _, err) = polis(dir, &["stat", "/city", "--stale"]);
    assert!(ok, "{err}");

    // Compare-and-set: the right version succeeds, a stale one fails with BadVersion.
    let (ok, _, err) = polis(dir, &["set", "/city", "bye", "--version", "0"]);
    assert!(ok, "{err}");
    let (ok, _, err) = polis(dir, &["set", "/city", "again", "--version", "0"]);
    assert!(!ok);
    assert!(
        err.contains("BadVersion") || err.contains("version"),
        "{err}"
    );

    let (ok, out, _) = polis(dir, &["get", "/city", "--json"]);
    assert!(ok);
    let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(value["data"], "bye");
    assert_eq!(value["stat"]["version"], 1);
    assert_eq!(value["stat"]["num_children"], 1);

    let (ok, out, _) = polis(dir, &["acl", "get", "/city"]);
    assert!(ok);
    assert_eq!(out.trim(), "world:anyone:cdrwa");

    let multi = dir.join("ops.json");
    std::fs::write(
        &multi,
        r#"[{"op":"create","path":"/m","data":"x"},{"op":"check","path":"/city","version":1}]"#,
    )
    .unwrap();
    let (ok, _, err) = polis(dir, &["multi", multi.to_str().unwrap()]);
    assert!(ok, "{err}");

    let (ok, out, _) = polis(dir, &["rm", "-r", "/city"]);
    assert!(ok);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["Deleted /city/district-0000000000", "Deleted /city"]
    );
    let (ok, _, err) = polis(dir, &["stat", "/city"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        !err.contains("backtrace"),
        "errors are one line for people: {err}"
    );
}

#[test]
fn client_commands_without_a_profile_say_what_to_do() {
    let folder = tempfile::tempdir().unwrap();
    let (ok, _, err) = polis(folder.path(), &["ls", "/"]);
    assert!(!ok);
    assert!(err.contains("polis dev"), "{err}");
}

/// Builds the guest workspace (incremental) and returns the echo test guest's core module path.
fn echo_guest() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(root.join("scripts/build-guests"))
        .current_dir(&root)
        .output()
        .expect("run scripts/build-guests");
    assert!(
        output.status.success(),
        "scripts/build-guests failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    root.join("target/guests/wasm32-unknown-unknown/release/polis_test_echo.wasm")
}

#[test]
fn plugin_commands_deploy_a_plugin_and_report_on_it() {
    let wasm = echo_guest();
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();
    for path in ["/in", "/out"] {
        let (ok, _, err) = polis(dir, &["create", path]);
        assert!(ok, "{err}");
    }
    let manifest = dir.join("echo.toml");
    std::fs::write(
        &manifest,
        "name = \"echo\"\nversion = \"1.0.0\"\nconfig = \"/out\"\n\
         [triggers]\nprefixes = [\"/in\"]\n\
         [capabilities]\nread = [\"/in\", \"/out\"]\nwrite = [\"/out\"]\n",
    )
    .unwrap();
    let (ok, out, err) = polis(
        dir,
        &[
            "plugin",
            "deploy",
            manifest.to_str().unwrap(),
            wasm.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("deployed echo 1.0.0 (revision 1"), "{out}");
    let (ok, _, err) = polis(dir, &["create", "/in/a", "hello"]);
    assert!(ok, "{err}");

    let started = std::time::Instant::now();
    loop {
        let (ok, out, _) = polis(dir, &["get", "/out/a"]);
        if ok && out.trim() == "hello" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the plugin never copied /in/a"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, out, err) = polis(dir, &["plugin", "status", "echo", "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["status"]["state"], "running", "{report}");
    assert!(report["status"]["processed_events"].as_u64().unwrap() >= 1);
    let (ok, out, _) = polis(dir, &["plugin", "ls"]);
    assert!(ok);
    assert!(out.starts_with("echo\t1.0.0\trevision 1"), "{out}");
    let (ok, out, _) = polis(dir, &["plugin", "logs", "echo"]);
    assert!(ok);
    assert!(out.contains("/in/a -> /out/a"), "{out}");
    // A second deploy of the same name is refused with a hint.
    let (ok, _, err) = polis(
        dir,
        &[
            "plugin",
            "deploy",
            manifest.to_str().unwrap(),
            wasm.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("already deployed; use upgrade"), "{err}");
    let (ok, _, err) = polis(dir, &["plugin", "rm", "echo"]);
    assert!(ok, "{err}");
    let (ok, out, _) = polis(dir, &["plugin", "ls"]);
    assert!(ok);
    assert!(out.trim().is_empty(), "{out}");
}
