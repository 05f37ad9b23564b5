//! The Java `zkCli.sh` from Debian's `zookeeper` package (ZooKeeper 3.8's own client, installed
//! by `scripts/install-deps`) against a node's ZooKeeper face, unchanged: a scripted session of
//! create, get, set, stat, ls, setAcl, getAcl, addauth, addWatch and deleteall, read back from
//! its transcript.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use polis_tests::node::TestNode;

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
    assert!(
        Path::new(ZKCLI).exists(),
        "{ZKCLI} is missing; run scripts/install-deps (it installs Debian's zookeeper package)"
    );
    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled")
        .to_string();
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
/// the subtree's usage and enforced with QuotaExceeded, and `delquota` lifts it.
const QUOTA_SCRIPT: &str = "\
create /city
create /city/a
setquota -N 3 /city
addauth digest admin:secret
setquota -N 3 /city
listquota /city
create /city/b
create /city/c
delquota /city
create /city/c
listquota /city
quit
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_sets_lists_and_deletes_a_quota_the_node_enforces() {
    assert!(
        Path::new(ZKCLI).exists(),
        "{ZKCLI} is missing; run scripts/install-deps (it installs Debian's zookeeper package)"
    );
    let node = TestNode::start_with(|config| {
        config.zookeeper.enabled = true;
        config.zookeeper.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.zookeeper.super_digest = Some(polis_security::digest::digest_id("admin", "secret"));
    })
    .await;
    let address = node
        .server
        .zookeeper_address
        .expect("the ZooKeeper face is enabled")
        .to_string();
    let (printed, success) = run_zkcli(address, QUOTA_SCRIPT).await;
    assert!(success, "zkCli.sh failed:\n{printed}");
    println!("{printed}");
    let lines: Vec<&str> = printed.lines().map(str::trim).collect();
    let position = |wanted: &str| {
        lines
            .iter()
            .position(|line| line.contains(wanted))
            .unwrap_or_else(|| panic!("no line with {wanted:?} in the transcript:\n{printed}"))
    };
    position("Insufficient permission : /zookeeper");
    position("countHardLimit=3");
    position("Output stat for /city count=2,bytes=0");
    position("Created /city/b");
    let exceeded = position("Quota has exceeded : /city");
    let created_c: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("Created /city/c"))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(
        created_c.len(),
        1,
        "/city/c is created once, after delquota:\n{printed}"
    );
    assert!(created_c[0] > exceeded, "{printed}");
    node.shutdown().await;
}
