//! The Java `zkCli.sh` from Debian's `zookeeper` package (ZooKeeper 3.8's own client, installed
//! by `scripts/install-deps`) against a node's ZooKeeper face, unchanged: a scripted session of
//! create, get, set, stat, ls, setAcl, getAcl, addauth, addWatch and deleteall, read back from
//! its transcript.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use std::time::Duration;

use polis_tests::node::TestNode;

/// How long the node may take to show what it was told.
const WAIT: Duration = Duration::from_secs(10);

/// Where Debian's `zookeeper` package puts the command-line client.
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// What the session types, one command per line, as a person would at the `zkCli` prompt.
const SCRIPT: &str = "\
create /zkcli hello
get /zkcli
set /zkcli world
stat /zkcli
create /zkcli/no-data
get /zkcli/no-data
ls -R /zkcli
addWatch -m PERSISTENT_RECURSIVE /zkcli
set /zkcli/no-data now
addauth digest alice:secret
setAcl /zkcli auth:alice:cdrwa
getAcl /zkcli
deleteall /zkcli
ls /
quit
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_from_debians_zookeeper_package_works_unchanged() {
    let (node, address) = node_for_zkcli(None).await;
    let (stdout, success) = run_zkcli(address, SCRIPT).await;
    assert!(success, "zkCli.sh failed:\n{stdout}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let has = |line: &str| lines.contains(&line);
    for expected in [
        "Created /zkcli",
        "hello",
        "dataVersion = 1",
        "dataLength = 5",
        "numChildren = 0",
        "Created /zkcli/no-data",
        // ZooKeeper's null data: a create without data reads back as null, not as "".
        "null",
        "/zkcli/no-data",
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zkcli/no-data",
        "'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=",
        ": cdrwa",
        "[polis]",
    ] {
        assert!(
            has(expected),
            "no line {expected:?} in the transcript:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("Exception"),
        "zkCli.sh reported an exception:\n{stdout}"
    );
    node.shutdown().await;
}

/// A node with its ZooKeeper face on a free port (and `super_digest`, if given), and that
/// face's address; fails at once, naming the fix, if Debian's zkCli is not installed.
async fn node_for_zkcli(super_digest: Option<String>) -> (TestNode, String) {
    node_for_zkcli_with(super_digest, false).await
}

/// As [`node_for_zkcli`], with `[zookeeper] reconfig_enabled` as given.
async fn node_for_zkcli_with(
    super_digest: Option<String>,
    reconfig_enabled: bool,
) -> (TestNode, String) {
    assert!(
        Path::new(ZKCLI).exists(),
        "{ZKCLI} is missing; run scripts/install-deps (it installs Debian's zookeeper package)"
    );
    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.zookeeper.super_digest = super_digest;
        config.zookeeper.reconfig_enabled = reconfig_enabled;
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled")
        .to_string();
    (node, address)
}

/// Runs `zkCli.sh -server ADDRESS` with `script` typed at its prompt; returns what it printed on
/// both streams (it prints results on standard output and some, such as Created, on standard
/// error) and whether it ended well.
async fn run_zkcli(address: String, script: &'static str) -> (String, bool) {
    let transcript = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("timeout")
            .args(["120", ZKCLI, "-server", &address])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zkCli.sh starts");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("the script is written");
        child.wait_with_output().expect("zkCli.sh ends")
    })
    .await
    .expect("the waiting task");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&transcript.stdout),
        String::from_utf8_lossy(&transcript.stderr)
    );
    (printed, transcript.status.success())
}

/// ZooKeeper 3.7+'s quotas through zkCli: an anonymous `setquota` is refused (only
/// administrators write under `/zookeeper`), the super user's hard count limit is listed with
/// the subtree's usage and enforced with QuotaExceeded, the node exports the usage and the limit
/// as metrics, and `delquota` lifts it.
const QUOTA_SCRIPT: &str = "\
create /quota-city
create /quota-city/a
setquota -N 3 /quota-city
addauth digest admin:secret
setquota -N 3 /quota-city
listquota /quota-city
create /quota-city/b
create /quota-city/c
ls /quota-city
quit
";

/// The second session: the quota lifted, the refused create goes through. (zkCli ends with the
/// status of its last command, so each script ends with one that succeeds.)
const DELQUOTA_SCRIPT: &str = "\
addauth digest admin:secret
delquota /quota-city
create /quota-city/c
listquota /quota-city
quit
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_sets_lists_and_deletes_a_quota_the_node_enforces() {
    let (node, address) = node_for_zkcli(Some(polis_security::digest_id("admin", "secret"))).await;
    let (printed, success) = run_zkcli(address.clone(), QUOTA_SCRIPT).await;
    assert!(success, "zkCli.sh failed:\n{printed}");
    let has = |wanted: &str| printed.lines().any(|line| line.contains(wanted));
    for wanted in [
        "Insufficient permission : /zookeeper",
        "Output quota for /quota-city count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3",
        "Output stat for /quota-city count=2,bytes=0",
        "Created /quota-city/b",
        "Quota has exceeded : /quota-city/c",
        "[a, b]",
    ] {
        assert!(
            has(wanted),
            "no line with {wanted:?} in the transcript:\n{printed}"
        );
    }
    assert!(!has("Created /quota-city/c"), "{printed}");

    polis_tests::eventually(
        "the quota's usage and limit in /metrics",
        WAIT,
        async || {
            let metrics = node.admin_get("/metrics").await;
            (metrics.contains("polis_quota_znodes{path=\"/quota-city\"} 3")
                && metrics.contains("polis_quota_znodes_hard_limit{path=\"/quota-city\"} 3"))
            .then_some(())
        },
    )
    .await;

    let (printed, success) = run_zkcli(address, DELQUOTA_SCRIPT).await;
    assert!(success, "zkCli.sh failed:\n{printed}");
    let has = |wanted: &str| printed.lines().any(|line| line.contains(wanted));
    assert!(has("Created /quota-city/c"), "{printed}");
    assert!(has("quota for /quota-city does not exist."), "{printed}");
    node.shutdown().await;
}

/// ZooKeeper's dynamic reconfiguration through zkCli: refused to an anonymous session, then the
/// super user adds an observer (a Polis learner), reads the configuration back with `config`
/// and from `/zookeeper/config`, and removes it again.
const RECONFIG_SCRIPT: &str = "\
reconfig -add server.100=127.0.0.1:1234:2345:observer;127.0.0.1:3456
addauth digest admin:secret
reconfig -add server.100=127.0.0.1:1234:2345:observer;127.0.0.1:3456
config
get /zookeeper/config
reconfig -remove 100
config
quit
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_reconfig_adds_and_removes_an_observer_in_zookeeper_config() {
    let digest = polis_security::digest_id("admin", "secret");
    let (disabled, address) = node_for_zkcli_with(Some(digest.clone()), false).await;
    let (printed, _) = run_zkcli(
        address,
        "addauth digest admin:secret\nreconfig -remove 1\nquit\n",
    )
    .await;
    assert!(
        printed
            .lines()
            .any(|line| line.contains("Reconfig is disabled")),
        "reconfig answered with reconfig_enabled off:\n{printed}"
    );
    disabled.shutdown().await;

    let (node, address) = node_for_zkcli_with(Some(digest), true).await;
    let (printed, success) = run_zkcli(address, RECONFIG_SCRIPT).await;
    assert!(success, "zkCli.sh failed:\n{printed}");
    let observer = "server.100=127.0.0.1:1234:2345:observer;127.0.0.1:3456";
    let lines: Vec<&str> = printed.lines().collect();
    let count = |wanted: &str| lines.iter().filter(|line| line.contains(wanted)).count();
    assert!(
        count("NoAuth") + count("Insufficient permission") >= 1,
        "{printed}"
    );
    assert!(count("Committed new configuration") >= 2, "{printed}");
    // Shown by the add, by `config` and by `get`; not by the remove nor by the last `config`.
    assert_eq!(count(observer), 3, "{printed}");
    assert!(count("server.1=") >= 4, "{printed}");
    assert!(count("version=") >= 4, "{printed}");
    node.shutdown().await;
}
