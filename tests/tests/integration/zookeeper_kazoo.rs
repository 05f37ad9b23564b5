//! The Python kazoo client (from PyPI, installed by `scripts/install-deps`) runs the seed's own
//! example and kazoo's Lock, Election, Counter and ChildrenWatch recipes against a node's
//! ZooKeeper face, unchanged: `tests/kazoo/recipes.py` must exit 0; `tests/kazoo/tls.py` does the
//! same over TLS with client certificates.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use polis_tests::node::TestNode;

/// Fails, saying how to get it, unless python3 can import kazoo: no silent skip.
fn require_kazoo() {
    let import = Command::new("python3")
        .args(["-c", "import kazoo"])
        .output();
    match import {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "python3 cannot import kazoo; run scripts/install-deps (it runs `python3 -m pip \
             install kazoo`): {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("python3 is needed to run the kazoo test: {error}"),
    }
}

/// Runs a kazoo script (which bounds its own run time with signal.alarm) and checks that it
/// passed.
async fn run_script(script: &str, arguments: Vec<String>, passed: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("kazoo")
        .join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).args(arguments).output()
    })
    .await
    .expect("the waiting task")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kazoo failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(stdout.contains(passed), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_runs_the_seed_example_and_its_recipes() {
    require_kazoo();

    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled");
    run_script("recipes.py", vec![address.to_string()], "kazoo: all passed").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_over_tls_is_known_by_its_client_certificate() {
    require_kazoo();
    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.tls = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled");
    let agency = node.client_files("agency");
    let other = node.client_files("other");
    let path = |file: &Path| file.display().to_string();
    run_script(
        "tls.py",
        vec![
            address.to_string(),
            path(&agency.ca_path),
            path(&agency.certificate_path),
            path(&agency.key_path),
            path(&other.certificate_path),
            path(&other.key_path),
        ],
        "kazoo tls: all passed",
    )
    .await;
    node.shutdown().await;
}

/// kazoo's SASL DIGEST-MD5 login with users from `[zookeeper] sasl_users`: the session holds
/// `sasl:alice` and alice's digest identity; a wrong password or an unknown user is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_logs_in_with_sasl_digest_md5() {
    require_kazoo();

    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.zookeeper.sasl_users = [("alice", "secret")].into();
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled");
    run_script(
        "sasl.py",
        vec![address.to_string()],
        "kazoo sasl: all passed",
    )
    .await;
    node.shutdown().await;
}
