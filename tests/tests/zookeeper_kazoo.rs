//! The Python kazoo client (from PyPI, installed by `scripts/install-deps`) runs the seed's own
//! example and kazoo's Lock, Election, Counter and ChildrenWatch recipes against a node's
//! ZooKeeper face, unchanged: `tests/kazoo/recipes.py` must exit 0.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use polis_tests::node::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_runs_the_seed_example_and_its_recipes() {
    // No silent skip: without kazoo this test fails and says how to get it.
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

    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kazoo/recipes.py");
    // The script bounds its own run time (signal.alarm), so waiting for it is bounded too.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(address.to_string())
            .output()
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
    assert!(stdout.contains("kazoo: all passed"), "{stdout}");
    node.shutdown().await;
}
