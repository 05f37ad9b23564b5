//! The operator console in a real browser: Debian's `chromium`, driven through `chromedriver`
//! (WebDriver), against a real node. It logs in with the token, browses the tree, sees a write
//! appear without a reload (server-sent events), and sees an alert on the city map. Screenshots
//! go to `target/console-screenshots/`. Skips, saying so, where chromium is not installed
//! (`scripts/install-deps` installs it, so CI runs it).

use std::path::PathBuf;
use std::time::Duration;

use polis_city::{sample_city, set_up_city};
use polis_client::{Acl, Client, CreateMode, Id, Perms};
use polis_tests::client::connect;
use polis_tests::node::{ADMIN_NAME, TestNode};
use polis_tests::webdriver::{Browser, browser_installed};
use serde_json::{Value, json};

/// Far above what any step takes; reaching it means the page never showed the thing.
const PAGE_DEADLINE: Duration = Duration::from_secs(30);

const TOKEN: &str = "console-test-token-0123456789abcdef0123456789";

fn screenshots() -> PathBuf {
    // The test runs in tests/; the workspace's target folder is one up (or CARGO_TARGET_DIR).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

async fn create(admin: &Client, path: &str, data: &[u8]) {
    let open = [Acl::new(Perms::ALL, Id::anyone())];
    match admin
        .create(path, data, &open, CreateMode::Persistent)
        .await
    {
        Ok(_) => {}
        Err(error) if error.is_node_exists() => {}
        Err(error) => panic!("create {path}: {error}"),
    }
}

/// Polls `script` in the page until it returns something truthy.
async fn until_page(browser: &Browser, what: &str, script: &str) -> Value {
    polis_tests::eventually(what, PAGE_DEADLINE, async || {
        let value = browser.script(script).await.ok()?;
        let truthy = !(value.is_null() || value == false || value == "" || value == 0);
        truthy.then_some(value)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_logs_in_browses_the_tree_and_shows_writes_and_alerts_live() {
    let Some((chromium, driver)) = browser_installed() else {
        // scripts/test (and so CI) installs the browser and asks for it: there a missing one is
        // a failure, not a skip.
        assert!(
            std::env::var_os("POLIS_REQUIRE_BROWSER").is_none(),
            "POLIS_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!(
            "SKIPPED the_console_…: chromium and chromium-driver are not installed \
             (/usr/bin/chromium, /usr/bin/chromedriver; `apt-get install chromium \
             chromium-driver`, which scripts/install-deps does)"
        );
        return;
    };
    let secrets = tempfile::tempdir().expect("tempdir");
    let token_file = secrets.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let node = TestNode::start_with(|config| {
        config.console.enabled = true;
        config.console.listen = ([127, 0, 0, 1], 0).into();
        config.console.admin_token_file = Some(token_file.clone());
    })
    .await;
    let console = format!("http://{}/", node.server.console_address.expect("console"));
    let admin = connect(&node, ADMIN_NAME).await;
    create(&admin, "/console-test", br#"{"hello": "world", "n": 1}"#).await;
    create(&admin, "/console-test/first", b"one").await;
    let districts = sample_city::districts().expect("the sample city");
    set_up_city(&admin, &districts, &sample_city::access())
        .await
        .expect("city set up");

    let browser = Browser::start(&chromium, &driver).await.expect("browser");
    let shots = screenshots();
    browser.goto(&console).await.expect("open the console");
    until_page(
        &browser,
        "the login form",
        "return !document.getElementById('login-view').hidden",
    )
    .await;
    browser
        .type_into("#token", "not-the-token-but-long-enough-0123456789")
        .await
        .unwrap();
    browser.click("#login-button").await.unwrap();
    until_page(
        &browser,
        "a refused login",
        "return document.getElementById('login-error').textContent",
    )
    .await;
    browser
        .screenshot(&shots.join("01-login-refused.png"))
        .await
        .unwrap();

    browser.type_into("#token", TOKEN).await.unwrap();
    browser.click("#login-button").await.unwrap();
    until_page(
        &browser,
        "the cluster view with this node as leader",
        "const v = document.getElementById('view-cluster'); return !v.hidden && v.textContent.includes('leader');",
    )
    .await;
    until_page(
        &browser,
        "the live stream",
        "return document.getElementById('live').textContent === 'live'",
    )
    .await;
    browser
        .screenshot(&shots.join("02-cluster.png"))
        .await
        .unwrap();

    // The tree: open the node, see its JSON data and its child.
    browser.click("#tab-tree").await.unwrap();
    browser
        .script("document.getElementById('tree-path').value = '';")
        .await
        .unwrap();
    browser
        .type_into("#tree-path", "/console-test")
        .await
        .unwrap();
    browser.click("#tree-open").await.unwrap();
    until_page(
        &browser,
        "the node's JSON data and its child",
        "return document.getElementById('tree-data').textContent.includes('\"hello\": \"world\"') \
         && document.querySelector('#tree-children a[data-name=\"first\"]') !== null;",
    )
    .await;
    // A write made now appears without a reload: the page's marker survives.
    browser
        .script("window.polisNoReload = true;")
        .await
        .unwrap();
    create(&admin, "/console-test/written-live", b"live").await;
    until_page(
        &browser,
        "the new child, live",
        "return window.polisNoReload === true \
         && document.querySelector('#tree-children a[data-name=\"written-live\"]') !== null;",
    )
    .await;
    browser
        .screenshot(&shots.join("03-tree-live-write.png"))
        .await
        .unwrap();
    browser
        .click("#tree-children a[data-name=\"first\"]")
        .await
        .unwrap();
    until_page(
        &browser,
        "the child's data",
        "return document.getElementById('tree-data').textContent === 'one';",
    )
    .await;

    // The city: an alert for the harbor, not acknowledged yet, as the fan-out and escalation
    // plugins would write it (the plugins themselves are tested in city_*).
    browser.click("#tab-city").await.unwrap();
    until_page(
        &browser,
        "the district map",
        "return document.querySelectorAll('#map polygon').length === 12;",
    )
    .await;
    let notification = json!({
        "key": "k1", "thread": "flood-1", "msg_type": "Alert", "status": "Actual", "scope": "Public",
        "sender": "w-nws.webmaster@noaa.gov", "identifier": "flood-1", "sent": "2026-12-08T01:00:00-08:00",
        "expires": null, "alert": "/city/alerts/inbox/nws-portland/flood-1", "supersedes": [], "agencies": [],
        "event": "Flood Warning", "headline": "Flood warning for the harbor", "severity": "Severe",
        "urgency": "Immediate", "certainty": "Observed", "categories": ["Met"],
    });
    create(&admin, "/city/notifications/harbor", b"").await;
    create(
        &admin,
        "/city/notifications/harbor/flood-1",
        notification.to_string().as_bytes(),
    )
    .await;
    let acks = json!({ "thread": "flood-1", "key": "k1", "districts": { "harbor": "pending" },
                       "acked": [], "pending": ["harbor"], "escalated": [] });
    create(
        &admin,
        "/city/alerts/acks/flood-1",
        acks.to_string().as_bytes(),
    )
    .await;
    let capacity =
        json!({ "occupancy": 120, "capacity": 400, "free": 280, "shelters": 3, "full": false });
    create(
        &admin,
        "/city/capacity/city",
        capacity.to_string().as_bytes(),
    )
    .await;
    until_page(
        &browser,
        "the harbor notified on the map",
        "const p = document.querySelector('#map polygon[data-district=\"harbor\"]'); \
         return p !== null && p.getAttribute('class') === 'state-notified' \
         && document.getElementById('city-side').textContent.includes('Flood warning for the harbor') \
         && document.getElementById('city-side').textContent.includes('280 free');",
    )
    .await;
    browser
        .screenshot(&shots.join("04-city-alert.png"))
        .await
        .unwrap();

    browser.click("#tab-sessions").await.unwrap();
    until_page(&browser, "the sessions", "return document.getElementById('view-sessions').textContent.includes('sessions in the cluster');").await;
    browser
        .screenshot(&shots.join("05-sessions.png"))
        .await
        .unwrap();
    browser.click("#tab-plugins").await.unwrap();
    until_page(
        &browser,
        "the plugins view",
        "return document.getElementById('view-plugins').textContent.includes('Read-only');",
    )
    .await;
    browser
        .screenshot(&shots.join("06-plugins.png"))
        .await
        .unwrap();
    eprintln!("console screenshots in {}", shots.display());

    drop(browser);
    admin.close().await.ok();
    node.shutdown().await;
}
