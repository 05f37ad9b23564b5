//! The README's run command, end to end: `polis dev` as a real process, and the client commands
//! run from the same folder, finding the node through the profile it wrote; also `polis ca` with
//! `polis server --config`, clients in other folders naming server and certificate with flags,
//! ACLs between client certificates, every create mode, `watch` processes, and `multi` files.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const POLIS: &str = env!("CARGO_BIN_EXE_polis");

/// How long anything a test waits for may take before the test fails (a loaded CI machine is
/// slow; a working one answers in milliseconds).
const PATIENCE: Duration = Duration::from_secs(30);

/// Forwards every line `reader` produces to the returned channel, from a thread of its own.
fn lines_of(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    received
}

/// The next line from `lines` that contains `needle`, failing the test after `PATIENCE`.
fn line_containing(lines: &mpsc::Receiver<String>, needle: &str, what: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(error) => panic!("{what}: no line containing {needle:?} in time ({error})"),
        }
    }
}

/// Sends SIGINT, as Ctrl-C would.
fn interrupt(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

/// A server process (`polis dev` or `polis server`), interrupted (as Ctrl-C would) when dropped.
struct ServerProcess {
    child: Child,
    /// The client (QUIC) address it printed.
    address: String,
}

impl ServerProcess {
    /// Starts `polis ARGUMENTS` in `folder` and waits for the line containing `ready`, whose
    /// last word is the client address.
    fn start(folder: &Path, arguments: &[&str], ready: &str) -> ServerProcess {
        let mut child = Command::new(POLIS)
            .args(arguments)
            .current_dir(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the polis server starts");
        let received = lines_of(child.stdout.take().expect("stdout"));
        let line = line_containing(&received, ready, "the server printing its address");
        let address = line
            .split_whitespace()
            .last()
            .expect("an address")
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in received {});
        ServerProcess { child, address }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        interrupt(&self.child);
        let _ = self.child.wait();
    }
}

/// A `polis dev` process, interrupted (as Ctrl-C would) when dropped.
struct DevNode {
    server: ServerProcess,
}

impl DevNode {
    fn start(folder: &Path) -> DevNode {
        // The node prints its addresses once it serves; the profile is written by then.
        let server = ServerProcess::start(
            folder,
            &[
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ],
            "client (QUIC)",
        );
        DevNode { server }
    }

    fn address(&self) -> &str {
        &self.server.address
    }
}

/// What one client command did.
struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
}

/// Runs a client command in `folder`, without any profile from the environment.
fn run(folder: &Path, arguments: &[&str]) -> Ran {
    let output = Command::new(POLIS)
        .args(arguments)
        .current_dir(folder)
        .env_remove("POLIS_PROFILE")
        .output()
        .expect("polis runs");
    Ran {
        code: output.status.code(),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a client command in `folder`; returns (success, stdout, stderr).
fn polis(folder: &Path, arguments: &[&str]) -> (bool, String, String) {
    let ran = run(folder, arguments);
    (ran.code == Some(0), ran.out, ran.err)
}

/// Runs a client command that must succeed and returns its stdout.
fn polis_ok(folder: &Path, arguments: &[&str]) -> String {
    let ran = run(folder, arguments);
    assert_eq!(
        ran.code,
        Some(0),
        "polis {arguments:?} failed: {}{}",
        ran.out,
        ran.err
    );
    ran.out
}

/// Runs a client command that must fail (exit status 1, a runtime error, not a usage error) and
/// returns its one-line error.
fn polis_fails(folder: &Path, arguments: &[&str]) -> String {
    let ran = run(folder, arguments);
    assert_eq!(
        ran.code,
        Some(1),
        "polis {arguments:?} should fail: {}{}",
        ran.out,
        ran.err
    );
    let error = ran.err.trim().to_string();
    assert!(error.starts_with("error: "), "{error}");
    assert_eq!(error.lines().count(), 1, "errors are one line: {error}");
    error
}

/// Runs a command, parsing its stdout as one JSON value.
fn polis_json(folder: &Path, arguments: &[&str]) -> serde_json::Value {
    let out = polis_ok(folder, arguments);
    serde_json::from_str(out.trim()).unwrap_or_else(|error| panic!("{error}: {out}"))
}

/// Polls `condition` until it holds, failing the test after `PATIENCE`.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `path` exists, asked with `stat` (which fails with "does not exist" otherwise).
fn exists(folder: &Path, path: &str) -> bool {
    let ran = run(folder, &["stat", path]);
    if ran.code == Some(0) {
        return true;
    }
    assert!(ran.err.contains("does not exist"), "{}", ran.err);
    false
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The explicit connection flags: the server, the CA the client trusts, and the client
/// certificate `client-NAME.pem` (with its key) that `polis ca issue --client NAME` wrote in
/// `certs`.
fn connection_flags(address: &str, ca: &Path, certs: &Path, name: &str) -> Vec<String> {
    vec![
        "--server".to_string(),
        address.to_string(),
        "--ca".to_string(),
        text(ca).to_string(),
        "--cert".to_string(),
        text(&certs.join(format!("client-{name}.pem"))).to_string(),
        "--key".to_string(),
        text(&certs.join(format!("client-{name}-key.pem"))).to_string(),
    ]
}

/// `arguments` followed by `flags`.
fn with<'a>(arguments: &[&'a str], flags: &'a [String]) -> Vec<&'a str> {
    let mut all = arguments.to_vec();
    all.extend(flags.iter().map(String::as_str));
    all
}

/// The stat fields `--json` prints, as the `Stat` struct names them.
const STAT_FIELDS: [&str; 11] = [
    "aversion",
    "ctime",
    "cversion",
    "czxid",
    "data_length",
    "ephemeral_owner",
    "mtime",
    "mzxid",
    "num_children",
    "pzxid",
    "version",
];

fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

#[test]
fn dev_node_serves_the_client_commands_run_from_its_folder() {
    let folder = tempfile::tempdir().unwrap();
    let node = DevNode::start(folder.path());
    let dir = folder.path();
    assert!(dir.join("polis-dev/profile.toml").exists());
    assert!(dir.join("polis-dev/certs/ca.pem").exists());
    // A server named by host, as operators name Kubernetes pods, is looked up.
    let port = node.address().rsplit_once(':').expect("HOST:PORT").1;
    let by_name = format!("localhost:{port}");
    let (ok, _, err) = polis(dir, &["ls", "/", "--server", &by_name]);
    assert!(ok, "{err}");

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

/// `polis ca init` and `polis ca issue` make a private CA that a production node (`polis server
/// --config`) and its clients use, with no dev profile: clients name the server and their
/// certificate with `--server`, `--ca`, `--cert` and `--key`.
#[test]
fn ca_commands_make_the_certificates_of_a_server_and_its_clients() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let out = polis_ok(dir, &["ca", "init", "--dir", "ca", "--name", "Harbor CA"]);
    assert_eq!(out.trim(), "created CA ca/ca.pem");
    assert!(dir.join("ca/ca.pem").exists() && dir.join("ca/ca-key.pem").exists());
    let error = polis_fails(dir, &["ca", "init", "--dir", "ca"]);
    assert!(error.contains("already exists"), "{error}");

    let out = polis_ok(
        dir,
        &[
            "ca",
            "issue",
            "--dir",
            "ca",
            "--node",
            "n1",
            "--host",
            "127.0.0.1",
        ],
    );
    assert_eq!(out.trim(), "issued ca/node-n1.pem and ca/node-n1-key.pem");
    for client in ["ops", "guest"] {
        let out = polis_ok(dir, &["ca", "issue", "--dir", "ca", "--client", client]);
        assert_eq!(
            out.trim(),
            format!("issued ca/client-{client}.pem and ca/client-{client}-key.pem")
        );
    }
    // Exactly one of --node and --client: anything else is a usage error (exit status 2).
    assert_eq!(run(dir, &["ca", "issue", "--dir", "ca"]).code, Some(2));
    let both = ["ca", "issue", "--dir", "ca", "--node", "a", "--client", "b"];
    assert_eq!(run(dir, &both).code, Some(2));
    let error = polis_fails(dir, &["ca", "issue", "--dir", "nowhere", "--client", "x"]);
    assert!(error.contains("nowhere/ca.pem"), "{error}");
    // A second, unrelated CA, whose certificates the node must refuse.
    polis_ok(dir, &["ca", "init", "--dir", "stranger-ca"]);
    polis_ok(
        dir,
        &["ca", "issue", "--dir", "stranger-ca", "--client", "ops"],
    );

    std::fs::write(
        dir.join("polis.toml"),
        "data_dir = \"data\"\nadmins = [\"CN=ops,O=Polis\"]\n\
         [tls]\nca = \"ca/ca.pem\"\ncertificate = \"ca/node-n1.pem\"\nkey = \"ca/node-n1-key.pem\"\n",
    )
    .unwrap();
    let server = ServerProcess::start(
        dir,
        &[
            "server",
            "--config",
            "polis.toml",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        "polis serving clients on",
    );
    assert!(
        dir.join("data").is_dir(),
        "data_dir is relative to polis.toml"
    );

    // Another folder, without any profile: everything comes from the flags.
    let elsewhere = tempfile::tempdir().unwrap();
    let client = elsewhere.path();
    let (ca, stranger_ca) = (dir.join("ca"), dir.join("stranger-ca"));
    let trusted = ca.join("ca.pem");
    let ops = connection_flags(&server.address, &trusted, &ca, "ops");
    let guest = connection_flags(&server.address, &trusted, &ca, "guest");
    let out = polis_ok(client, &with(&["create", "/harbor", "tide"], &ops));
    assert_eq!(out.trim(), "Created /harbor");
    let out = polis_ok(client, &with(&["get", "/harbor"], &guest));
    assert_eq!(out.trim(), "tide");
    let out = polis_ok(client, &with(&["ls", "/"], &guest));
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["harbor", "polis"]);
    // `admins` in polis.toml makes CN=ops,O=Polis an administrator, and nobody else.
    let out = polis_ok(client, &with(&["cluster", "status"], &ops));
    assert!(out.contains("(leader)"), "{out}");
    let error = polis_fails(client, &with(&["cluster", "status"], &guest));
    assert!(error.contains("NoAuth"), "{error}");

    // A certificate from another CA is refused by the node; a client trusting another CA
    // refuses the node.
    let stranger = connection_flags(&server.address, &trusted, &stranger_ca, "ops");
    let error = polis_fails(client, &with(&["ls", "/"], &stranger));
    assert!(error.contains("connecting to"), "{error}");
    let distrusting = connection_flags(&server.address, &stranger_ca.join("ca.pem"), &ca, "ops");
    let error = polis_fails(client, &with(&["ls", "/"], &distrusting));
    assert!(error.contains("connecting to"), "{error}");
    // Without a profile, --server alone is not enough: the command says what is missing.
    let error = polis_fails(
        client,
        &[
            "ls",
            "/",
            "--server",
            &server.address,
            "--ca",
            text(&trusted),
        ],
    );
    assert!(
        error.contains("--cert") && error.contains("--key"),
        "{error}"
    );
}

/// Client commands from a folder without a profile, naming the dev node and a certificate with
/// flags; a client certificate issued with `polis ca issue` against the dev CA is its own
/// identity (`x509:CN=other,O=Polis`) for ACLs.
#[test]
fn acls_set_from_the_cli_bind_other_client_certificates() {
    let folder = tempfile::tempdir().unwrap();
    let node = DevNode::start(folder.path());
    let dir = folder.path();
    let out = polis_ok(
        dir,
        &[
            "ca",
            "issue",
            "--dir",
            "polis-dev/certs",
            "--client",
            "other",
        ],
    );
    assert_eq!(
        out.trim(),
        "issued polis-dev/certs/client-other.pem and polis-dev/certs/client-other-key.pem"
    );
    let certs = dir.join("polis-dev/certs");
    let elsewhere = tempfile::tempdir().unwrap();
    let client = elsewhere.path();
    let dev_ca = certs.join("ca.pem");
    let admin = connection_flags(node.address(), &dev_ca, &certs, "admin");
    let other = connection_flags(node.address(), &dev_ca, &certs, "other");

    polis_ok(client, &with(&["create", "/locked", "v"], &admin));
    let out = polis_ok(
        client,
        &with(
            &[
                "acl",
                "set",
                "/locked",
                "world:anyone:r",
                "x509:CN=admin,O=Polis:cdrwa",
            ],
            &admin,
        ),
    );
    assert!(
        out.contains("aclVersion = 1"),
        "acl set prints the stat: {out}"
    );
    let out = polis_ok(client, &with(&["acl", "get", "/locked"], &other));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["world:anyone:r", "x509:CN=admin,O=Polis:cdrwa"]
    );
    let value = polis_json(client, &with(&["acl", "get", "/locked", "--json"], &admin));
    assert_eq!(
        value,
        serde_json::json!({
            "path": "/locked",
            "acl": [
                {"scheme": "world", "id": "anyone", "perms": "r"},
                {"scheme": "x509", "id": "CN=admin,O=Polis", "perms": "cdrwa"},
            ],
        })
    );

    // `other` may read, but neither write, create below, nor change the ACL.
    let out = polis_ok(client, &with(&["get", "/locked"], &other));
    assert_eq!(out.trim(), "v");
    let error = polis_fails(client, &with(&["set", "/locked", "nope"], &other));
    assert!(
        error.contains("NoAuth") && error.contains("WRITE"),
        "{error}"
    );
    let error = polis_fails(client, &with(&["create", "/locked/kid"], &other));
    assert!(
        error.contains("NoAuth") && error.contains("CREATE"),
        "{error}"
    );
    let error = polis_fails(
        client,
        &with(&["acl", "set", "/locked", "world:anyone:cdrwa"], &other),
    );
    assert!(
        error.contains("NoAuth") && error.contains("ADMIN"),
        "{error}"
    );
    // Only administrators write under /polis or see the cluster.
    let error = polis_fails(client, &with(&["create", "/polis/mine"], &other));
    assert!(error.contains("NoAuth"), "{error}");
    let error = polis_fails(client, &with(&["cluster", "status"], &other));
    assert!(error.contains("NoAuth"), "{error}");
    // The admin writes, as its entry allows.
    polis_ok(client, &with(&["set", "/locked", "yes"], &admin));
    let out = polis_ok(client, &with(&["get", "/locked"], &other));
    assert_eq!(out.trim(), "yes");

    // An entry naming `other` lets it write where the world may only read.
    polis_ok(client, &with(&["create", "/shared", "a"], &admin));
    polis_ok(
        client,
        &with(
            &[
                "acl",
                "set",
                "/shared",
                "world:anyone:r",
                "x509:CN=other,O=Polis:rw",
                "--version",
                "0",
            ],
            &admin,
        ),
    );
    polis_ok(client, &with(&["set", "/shared", "b"], &other));
    // acl set --version is compare-and-set on the ACL version.
    let error = polis_fails(
        client,
        &with(
            &[
                "acl",
                "set",
                "/shared",
                "world:anyone:cdrwa",
                "--version",
                "0",
            ],
            &admin,
        ),
    );
    assert!(error.contains("BadVersion"), "{error}");
    let error = polis_fails(
        client,
        &with(&["acl", "set", "/shared", "world:anyone:z"], &admin),
    );
    assert!(error.contains("unknown permission"), "{error}");
    let out = polis_ok(client, &with(&["acl", "get", "/shared"], &other));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["world:anyone:r", "x509:CN=other,O=Polis:rw"]
    );
}

/// `create -s`, `-e`, `-e -s`, `--container` and `--ttl`, and the shape of `stat --json`.
#[test]
fn create_modes_from_the_cli_and_the_stat_they_report() {
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();

    let before = now_ms();
    let created = polis_json(dir, &["create", "/plain", "p", "--json"]);
    assert_eq!(keys(&created), vec!["created", "stat"]);
    assert_eq!(created["created"], "/plain");
    let value = polis_json(dir, &["stat", "/plain", "--json"]);
    assert_eq!(keys(&value), vec!["path", "stat"]);
    assert_eq!(value["path"], "/plain");
    let stat = &value["stat"];
    assert_eq!(keys(stat), STAT_FIELDS.to_vec());
    assert_eq!(stat, &created["stat"]);
    assert_eq!(stat["version"], 0);
    assert_eq!(stat["data_length"], 1);
    assert_eq!(stat["ephemeral_owner"], 0);
    assert_eq!(stat["czxid"], stat["mzxid"]);
    assert_eq!(stat["czxid"], stat["pzxid"]);
    let ctime = stat["ctime"].as_i64().unwrap();
    assert!(
        (before - 60_000..now_ms() + 60_000).contains(&ctime),
        "ctime is the commit time in Unix milliseconds: {ctime}"
    );
    // The text form is zkCli's, with the times as UTC dates beside their milliseconds.
    let out = polis_ok(dir, &["stat", "/plain"]);
    for line in ["dataVersion = 0", "ephemeralOwner = 0x0", "numChildren = 0"] {
        assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
    }
    let ctime_ms = format!("Z ({ctime})");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ctime = 20") && l.ends_with(&ctime_ms)),
        "ctime as a date in {out}"
    );
    let set = polis_json(dir, &["set", "/plain", "q", "--json"]);
    assert_eq!(set["stat"]["version"], 1);
    assert!(set["stat"]["mzxid"].as_i64() > stat["mzxid"].as_i64());

    // Sequential: a 10-digit counter, increasing.
    let first = polis_ok(dir, &["create", "/job-", "a", "-s"]);
    let second = polis_ok(dir, &["create", "/job-", "b", "--sequential"]);
    let counter = |out: &str| -> u64 {
        let path = out.trim().strip_prefix("Created /job-").expect(out);
        assert_eq!(path.len(), 10, "{out}");
        path.parse().unwrap()
    };
    assert!(counter(&second) > counter(&first));

    // Ephemeral: owned by the command's session, so gone once the command has ended.
    let created = polis_json(dir, &["create", "/eph", "x", "-e", "--json"]);
    assert_eq!(created["created"], "/eph");
    assert_ne!(created["stat"]["ephemeral_owner"], 0, "{created}");
    assert!(!exists(dir, "/eph"));
    let created = polis_json(dir, &["create", "/eph-", "-e", "-s", "--json"]);
    let path = created["created"].as_str().unwrap();
    assert!(
        path.starts_with("/eph-") && path.len() == "/eph-".len() + 10,
        "{path}"
    );
    assert!(!exists(dir, path));
    let out = polis_ok(dir, &["ls", "/"]);
    assert!(!out.lines().any(|child| child.starts_with("eph")), "{out}");

    // Container: removed by the server once its last child is gone; never before it had one.
    polis_ok(dir, &["create", "/box", "--container"]);
    polis_ok(dir, &["create", "/empty-box", "--container"]);
    let value = polis_json(dir, &["stat", "/box", "--json"]);
    assert_eq!(value["stat"]["ephemeral_owner"], i64::MIN, "{value}");
    polis_ok(dir, &["create", "/box/item"]);
    polis_ok(dir, &["rm", "/box/item"]);
    // TTL: removed once childless and unmodified for the TTL; a child keeps it.
    polis_ok(dir, &["create", "/lease", "l", "--ttl", "200"]);
    polis_ok(dir, &["create", "/held", "h", "--ttl", "200"]);
    polis_ok(dir, &["create", "/held/child"]);
    let value = polis_json(dir, &["stat", "/lease", "--json"]);
    let ttl_tag = i64::from_be_bytes([0xFF, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(value["stat"]["ephemeral_owner"], ttl_tag | 200, "{value}");
    let created = polis_json(
        dir,
        &["create", "/lease-", "--ttl", "60000", "-s", "--json"],
    );
    assert!(
        created["created"].as_str().unwrap().len() == "/lease-".len() + 10,
        "{created}"
    );
    eventually("the emptied container is removed", || !exists(dir, "/box"));
    eventually("the expired TTL node is removed", || !exists(dir, "/lease"));
    // The sweeps that removed those also saw these, and kept them.
    assert!(exists(dir, "/empty-box"));
    assert!(exists(dir, "/held"));

    // Bad modes: the server refuses a TTL out of range; clap refuses contradictory flags.
    let error = polis_fails(dir, &["create", "/x", "--ttl", "0"]);
    assert!(error.contains("BadArguments"), "{error}");
    let contradictions: [&[&str]; 3] = [
        &["create", "/x", "-e", "--ttl", "5"],
        &["create", "/x", "--container", "-s"],
        &["create", "/x", "--container", "--ttl", "5"],
    ];
    for arguments in contradictions {
        assert_eq!(run(dir, arguments).code, Some(2), "{arguments:?}");
    }
    assert!(!exists(dir, "/x"));
}

/// A running `polis watch` process, killed when dropped; its output is read with deadlines.
struct Watcher {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Watcher {
    fn spawn(folder: &Path, arguments: &[&str]) -> Watcher {
        let mut child = Command::new(POLIS)
            .arg("watch")
            .args(arguments)
            .current_dir(folder)
            .env_remove("POLIS_PROFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("polis watch starts");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        Watcher {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits until the watch is registered: the command says so on stderr once the server has
    /// answered (text output only).
    fn registered(&self) {
        line_containing(&self.stderr, "watching", "polis watch registering");
    }

    /// The next `count` lines of stdout.
    fn events(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        (0..count)
            .map(|seen| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.stdout.recv_timeout(left).unwrap_or_else(|error| {
                    panic!("polis watch printed {seen} of {count} events in time ({error})")
                })
            })
            .collect()
    }

    /// Waits for the process to end by itself.
    fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "polis watch did not end in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Interrupts the process as Ctrl-C would and waits for it to end. SIGINT is repeated until
    /// then: one that lands between two polls of the command's Ctrl-C handler is not seen.
    fn interrupt(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            interrupt(&self.child);
            let resend = Instant::now() + Duration::from_millis(200);
            while Instant::now() < resend {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(Instant::now() < deadline, "polis watch ignored Ctrl-C");
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One text event line, `ZXID KIND PATH`, the zxid in hex as `stat` prints it.
fn event_fields(line: &str) -> (i64, String, String) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{line}");
    let zxid = fields[0].strip_prefix("0x").expect(line);
    (
        i64::from_str_radix(zxid, 16).expect(line),
        fields[1].to_string(),
        fields[2].to_string(),
    )
}

/// `polis watch` processes print the changes other `polis` processes make: a watch on one node
/// (with `--count`, ending by itself), and a recursive one in JSON that replays from a zxid and
/// runs until interrupted.
#[test]
fn watch_processes_print_what_other_commands_change() {
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();
    let created = polis_json(dir, &["create", "/city", "a", "--json"]);
    let since = created["stat"]["czxid"].as_i64().unwrap();

    let mut node_watch = Watcher::spawn(dir, &["/city", "--count", "3"]);
    node_watch.registered();
    // Resuming after the creation, this one sees every later change whenever it registers.
    let mut tree_watch = Watcher::spawn(
        dir,
        &["/city", "-r", "--json", "--from", &since.to_string()],
    );

    let set = polis_json(dir, &["set", "/city", "b", "--json"]);
    let set_zxid = set["stat"]["mzxid"].as_i64().unwrap();
    polis_ok(dir, &["create", "/city/harbor", "x"]);
    polis_ok(dir, &["set", "/city/harbor", "y"]);
    polis_ok(dir, &["rm", "/city/harbor"]);

    let events: Vec<_> = node_watch
        .events(3)
        .iter()
        .map(|l| event_fields(l))
        .collect();
    assert_eq!(
        events[0],
        (set_zxid, "NodeDataChanged".into(), "/city".into())
    );
    assert_eq!(
        events[1..]
            .iter()
            .map(|(_, kind, path)| (kind.as_str(), path.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("NodeChildrenChanged", "/city"),
            ("NodeChildrenChanged", "/city")
        ]
    );
    assert!(
        events.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{events:?}"
    );
    let status = node_watch.exit();
    assert!(
        status.success(),
        "--count 3 ends the watch after three events: {status}"
    );

    let events: Vec<serde_json::Value> = tree_watch
        .events(4)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for event in &events {
        assert_eq!(keys(event), vec!["path", "type", "zxid"]);
        assert!(event["zxid"].as_i64().unwrap() > since, "{event}");
    }
    assert_eq!(events[0]["zxid"], set_zxid);
    assert_eq!(
        events
            .iter()
            .map(|e| (e["type"].as_str().unwrap(), e["path"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![
            ("NodeDataChanged", "/city"),
            ("NodeCreated", "/city/harbor"),
            ("NodeDataChanged", "/city/harbor"),
            ("NodeDeleted", "/city/harbor"),
        ]
    );
    // A node outside the watched subtree changes: no event; then one inside does.
    polis_ok(dir, &["create", "/cityscape"]);
    polis_ok(dir, &["set", "/city", "c"]);
    let next: serde_json::Value = serde_json::from_str(&tree_watch.events(1)[0]).unwrap();
    assert_eq!(
        (next["type"].as_str(), next["path"].as_str()),
        (Some("NodeDataChanged"), Some("/city"))
    );
    // Ctrl-C ends a watch cleanly.
    let status = tree_watch.interrupt();
    assert!(status.success(), "an interrupted watch exits 0: {status}");
}

/// `polis multi FILE` applies create (with modes), set, check and delete atomically, reports the
/// failing operation when one fails and then changes nothing, and names the file it cannot read.
#[test]
fn multi_files_apply_all_or_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();
    polis_ok(dir, &["create", "/old"]);
    let write = |name: &str, body: &str| -> PathBuf {
        let file = dir.join(name);
        std::fs::write(&file, body).unwrap();
        file
    };

    let ops = write(
        "ops.json",
        r#"[{"op":"create","path":"/m","data":"x"},
            {"op":"create","path":"/m/q-","mode":"persistent_sequential"},
            {"op":"create","path":"/m/t","ttl_ms":60000},
            {"op":"create","path":"/m/e","mode":"ephemeral"},
            {"op":"set","path":"/m","data":"y","version":0},
            {"op":"check","path":"/m","version":1},
            {"op":"delete","path":"/old"}]"#,
    );
    let out = polis_ok(dir, &["multi", text(&ops)]);
    assert_eq!(out.lines().count(), 7, "one result per operation: {out}");
    let out = polis_ok(dir, &["ls", "/m"]);
    // The ephemeral went with the command's session.
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["q-0000000000", "t"]);
    let value = polis_json(dir, &["get", "/m", "--json"]);
    assert_eq!(value["data"], "y");
    assert_eq!(value["stat"]["version"], 1);
    let value = polis_json(dir, &["stat", "/m/t", "--json"]);
    let ttl_tag = i64::from_be_bytes([0xFF, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(value["stat"]["ephemeral_owner"], ttl_tag | 60_000);
    assert!(!exists(dir, "/old"));
    // All the operations committed as one transaction.
    let created = polis_json(dir, &["stat", "/m/q-0000000000", "--json"]);
    assert_eq!(created["stat"]["czxid"], value["stat"]["czxid"]);

    // A stale version in the second operation: the first is not applied either.
    let stale = write(
        "stale.json",
        r#"[{"op":"create","path":"/n","data":"x"},{"op":"set","path":"/m","data":"z","version":0}]"#,
    );
    let error = polis_fails(dir, &["multi", text(&stale)]);
    assert!(
        error.contains("operation 1") && error.contains("BadVersion"),
        "{error}"
    );
    assert!(!exists(dir, "/n"));
    assert_eq!(polis_ok(dir, &["get", "/m"]).trim(), "y");

    let json_ops = write(
        "more.json",
        r#"[{"op":"create","path":"/m/u"},{"op":"delete","path":"/m/u"}]"#,
    );
    let value = polis_json(dir, &["multi", text(&json_ops), "--json"]);
    assert_eq!(keys(&value), vec!["results"]);
    assert_eq!(
        value["results"].as_array().map(Vec::len),
        Some(2),
        "{value}"
    );
    assert_eq!(value["results"][0]["op"], "create", "{value}");
    assert_eq!(value["results"][0]["path"], "/m/u", "{value}");
    assert!(
        value["results"][0]["stat"]["czxid"].as_i64() > Some(0),
        "{value}"
    );
    assert_eq!(value["results"][1]["op"], "delete", "{value}");

    let unknown = write("unknown.json", r#"[{"op":"rename","path":"/m"}]"#);
    let error = polis_fails(dir, &["multi", text(&unknown)]);
    assert!(
        error.contains("unknown.json") && error.contains("rename"),
        "{error}"
    );
    let error = polis_fails(dir, &["multi", text(&dir.join("missing.json"))]);
    assert!(error.contains("missing.json"), "{error}");
    assert!(exists(dir, "/m"));
}

/// Runs a client command in `folder` with `input` on its standard input; returns its stdout.
fn polis_ok_with_input(folder: &Path, arguments: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(POLIS)
        .args(arguments)
        .current_dir(folder)
        .env_remove("POLIS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("polis runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    let output = child.wait_with_output().expect("polis ends");
    assert!(
        output.status.success(),
        "polis {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn data_from_files_and_stdin_acls_on_create_recursive_listing_and_removal() {
    let folder = tempfile::tempdir().unwrap();
    let _node = DevNode::start(folder.path());
    let dir = folder.path();

    // Binary data from a file, byte for byte.
    let bytes: Vec<u8> = (0..=255).collect();
    let file = dir.join("data.bin");
    std::fs::write(&file, &bytes).unwrap();
    polis_ok(dir, &["create", "/files", "--data-file", text(&file)]);
    let value = polis_json(dir, &["get", "/files", "--json"]);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(value["data_hex"], hex.as_str());
    // And from standard input.
    polis_ok_with_input(dir, &["set", "/files", "--data-file", "-"], b"from stdin");
    assert_eq!(polis_ok(dir, &["get", "/files"]).trim(), "from stdin");
    let (ok, _, err) = polis(dir, &["set", "/files", "x", "--data-file", text(&file)]);
    assert!(!ok, "data and --data-file are one or the other");
    assert!(err.contains("cannot be used with"), "{err}");

    // An ACL given at creation.
    polis_ok(dir, &["create", "/guarded", "g", "--acl", "world:anyone:r"]);
    assert_eq!(
        polis_ok(dir, &["acl", "get", "/guarded"]).trim(),
        "world:anyone:r"
    );

    // A failed multi says why, as a single operation's error does.
    let multi = dir.join("stale.json");
    std::fs::write(&multi, r#"[{"op":"check","path":"/files","version":7}]"#).unwrap();
    let refused = polis_fails(dir, &["multi", text(&multi)]);
    assert!(
        refused.contains("operation 0") && refused.contains("expected 7"),
        "{refused}"
    );

    // ls -R: the subtree as full paths, breadth first.
    for path in ["/city", "/city/b", "/city/a", "/city/a/x"] {
        polis_ok(dir, &["create", path]);
    }
    let listed = polis_ok(dir, &["ls", "-R", "/city"]);
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        vec!["/city", "/city/a", "/city/b", "/city/a/x"]
    );

    // The cluster's own node stays: rm -r / takes everything else, and /polis is refused.
    let refused = polis_fails(dir, &["rm", "-r", "/polis"]);
    assert!(refused.contains("polis plugin remove"), "{refused}");
    let refused = polis_fails(dir, &["rm", "/"]);
    assert!(refused.contains("root"), "{refused}");
    let deleted = polis_ok(dir, &["rm", "-r", "/"]);
    assert!(
        deleted.lines().any(|line| line == "Deleted /city/a/x"),
        "{deleted}"
    );
    assert!(!deleted.contains("/polis"), "{deleted}");
    assert_eq!(
        polis_ok(dir, &["ls", "/"]).lines().collect::<Vec<_>>(),
        vec!["polis"]
    );
}

#[test]
fn a_server_of_another_ca_is_named_as_such() {
    let folder = tempfile::tempdir().unwrap();
    let node = DevNode::start(folder.path());
    let dir = folder.path();
    // Another dev cluster's CA, as a leftover profile from another folder would name.
    polis_ok(
        dir,
        &["ca", "init", "--dir", "other", "--name", "Polis dev CA"],
    );
    polis_ok(dir, &["ca", "issue", "--dir", "other", "--client", "admin"]);
    let flags = connection_flags(
        node.address(),
        &dir.join("other/ca.pem"),
        &dir.join("other"),
        "admin",
    );
    let error = polis_fails(dir, &with(&["ls", "/"], &flags));
    assert!(
        error.contains("not signed by the CA") && error.contains("another `polis dev`"),
        "{error}"
    );
}

/// `polis dev` on free ports in `folder`, its stderr piped and its stdout as `stdout` says.
fn spawn_dev(folder: &Path, stdout: Stdio) -> Child {
    Command::new(POLIS)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .current_dir(folder)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("polis dev starts")
}

#[test]
fn logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let folder = tempfile::tempdir().unwrap();
    let mut child = spawn_dev(folder.path(), Stdio::null());
    let lines = lines_of(child.stderr.take().expect("stderr"));
    let line = line_containing(&lines, "INFO", "the node logging");
    interrupt(&child);
    let _ = child.wait();
    assert!(!line.contains('\u{1b}'), "{line:?}");
}

/// systemd, container runtimes and Kubernetes stop a service with SIGTERM: the node shuts down as
/// on Ctrl-C, and says so, rather than end at once as the signal's default action would.
#[test]
fn a_terminated_node_shuts_down_cleanly() {
    let folder = tempfile::tempdir().unwrap();
    let mut child = spawn_dev(folder.path(), Stdio::piped());
    let out = lines_of(child.stdout.take().expect("stdout"));
    let err = lines_of(child.stderr.take().expect("stderr"));
    line_containing(&out, "client (QUIC)", "the node serving");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    line_containing(&err, "terminated; shutting down", "the node noting SIGTERM");
    let status = child.wait().expect("the node ends");
    assert!(status.success(), "a clean shutdown exits 0, not {status}");
}

/// A city backs its coordination state up and can bring it back: a stopped node's tree goes to a
/// backup file, a new node's empty data directory is seeded from it, and the new node serves the
/// same tree and takes writes after it.
#[test]
fn a_backup_of_a_stopped_node_restores_into_a_new_node_with_the_same_tree() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let node = DevNode::start(dir);
    polis_ok(dir, &["create", "/city", "hello"]);
    polis_ok(dir, &["create", "/city/district-", "north", "-s"]);
    polis_ok(
        dir,
        &["create", "/city/ops", "-", "--acl", "world:anyone:r"],
    );
    let tree_before = polis_ok(dir, &["ls", "-R", "/"]);
    let config = "polis-dev/polis.toml";
    // A running node's files are locked: the backup says to stop it.
    let refused = polis_fails(dir, &["backup", "--config", config, "--to", "backup.bin"]);
    assert!(refused.contains("stopped"), "{refused}");
    drop(node);

    let out = polis_ok(dir, &["backup", "--config", config, "--to", "backup.bin"]);
    assert!(out.starts_with("backed up"), "{out}");
    let again = polis_fails(dir, &["backup", "--config", config, "--to", "backup.bin"]);
    assert!(again.contains("never overwrites"), "{again}");

    // The new node: the same configuration with an empty data directory.
    let text = std::fs::read_to_string(dir.join(config)).unwrap();
    assert!(text.contains("data_dir = \"data\""), "{text}");
    let restored_config = "polis-dev/restored.toml";
    // Every listener on a free port: the file's are the fixed defaults (7181, 7180, 2181).
    let restored_text: String = text
        .replace("data_dir = \"data\"", "data_dir = \"restored-data\"")
        .lines()
        .map(|line| match line.split_once("listen = \"127.0.0.1:") {
            Some((key, _)) => format!("{key}listen = \"127.0.0.1:0\"\n"),
            None => format!("{line}\n"),
        })
        .collect();
    std::fs::write(dir.join(restored_config), restored_text).unwrap();
    let out = polis_ok(
        dir,
        &[
            "restore",
            "--config",
            restored_config,
            "--from",
            "backup.bin",
        ],
    );
    assert!(out.starts_with("restored"), "{out}");
    let refused = polis_fails(
        dir,
        &[
            "restore",
            "--config",
            restored_config,
            "--from",
            "backup.bin",
        ],
    );
    assert!(refused.contains("already holds"), "{refused}");

    let restored = ServerProcess::start(
        dir,
        &["server", "--config", restored_config],
        "polis serving clients on",
    );
    // The profile names the dev node's port; the restored node listens where its file says.
    let at = |arguments: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = arguments.iter().map(|word| word.to_string()).collect();
        all.extend(["--server".to_string(), restored.address.clone()]);
        all
    };
    let run_at = |arguments: &[&str]| {
        let arguments = at(arguments);
        polis_ok(
            dir,
            &arguments.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    eventually("the restored node serves", || {
        let arguments = at(&["get", "/city"]);
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        polis(dir, &arguments).1.trim() == "hello"
    });
    assert_eq!(run_at(&["ls", "-R", "/"]), tree_before);
    let acl = run_at(&["acl", "get", "/city/ops"]);
    assert!(acl.contains("world:anyone"), "{acl}");
    run_at(&["create", "/city/after", "restore"]);
    assert_eq!(run_at(&["get", "/city/after"]).trim(), "restore");
}

/// Shell completions and man pages are generated from the commands themselves, so they never
/// drift from them; a completion script piped into a reader that stops early ends quietly.
#[test]
fn completions_and_man_pages_come_from_the_commands() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let bash = polis_ok(folder.path(), &["completions", "bash"]);
    assert!(bash.contains("_polis()"), "{bash}");
    assert!(
        bash.contains("add-learner"),
        "every subcommand is completed"
    );
    let script = folder.path().join("polis.bash");
    std::fs::write(&script, &bash).expect("write the script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash runs");
    assert!(syntax.success(), "bash accepts the completion script");
    let zsh = polis_ok(folder.path(), &["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef polis"), "{zsh}");
    let (succeeded, _, refused) = polis(folder.path(), &["completions", "cmd.exe"]);
    assert!(!succeeded, "an unknown shell is refused");
    assert!(
        refused.contains("bash"),
        "the error names the shells: {refused}"
    );

    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("{POLIS} completions bash | head -1"))
        .output()
        .expect("sh runs");
    assert!(piped.status.success());
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("panicked"),
        "a closed pipe is no panic: {}",
        String::from_utf8_lossy(&piped.stderr)
    );

    let man = folder.path().join("man");
    polis_ok(
        folder.path(),
        &["man", "--dir", man.to_str().expect("UTF-8")],
    );
    for page in [
        "polis.1",
        "polis-ls.1",
        "polis-cluster-add-learner.1",
        "polis-ca-issue.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).expect(page);
        assert!(text.contains(".TH"), "{page} is a man page");
    }
    let ls = std::fs::read_to_string(man.join("polis-ls.1")).expect("polis-ls.1");
    assert!(ls.contains("recursive"), "{ls}");
}
