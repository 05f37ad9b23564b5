//! The console's API against a real node, without a browser: off unless enabled, nothing
//! without a login, a viewer held to the ACLs, pages of children, and the bound on live streams.

use std::net::SocketAddr;
use std::time::Duration;

use polis_client::{Acl, CreateMode, Id, Perms};
use polis_tests::client::connect;
use polis_tests::node::{ADMIN_NAME, TestNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef0123456789abcdef";
const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef0123456789abcdef";

/// Sends one request and returns the status line, the head and the body.
async fn call(
    address: SocketAddr,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    body: &str,
) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let cookie = cookie.map_or(String::new(), |cookie| {
        format!("Cookie: polis_console={cookie}\r\n")
    });
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: console\r\n{cookie}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("answered in time")
    .expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

async fn log_in(address: SocketAddr, token: &str) -> String {
    let (head, _) = call(
        address,
        "POST",
        "/api/login",
        None,
        &format!("token={token}"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("Set-Cookie: polis_console="))
        .expect("a login cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_console_is_off_by_default() {
    let node = TestNode::start().await;
    assert_eq!(node.server.console_address, None);
    node.shutdown().await;
}

#[tokio::test]
async fn the_console_answers_only_logins_and_holds_viewers_to_the_acls() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let (admin_file, viewer_file) = (secrets.path().join("admin"), secrets.path().join("viewer"));
    std::fs::write(&admin_file, ADMIN_TOKEN).unwrap();
    std::fs::write(&viewer_file, VIEWER_TOKEN).unwrap();
    let node = TestNode::start_with(|config| {
        config.console.enabled = true;
        config.console.listen = ([127, 0, 0, 1], 0).into();
        config.console.admin_token_file = Some(admin_file.clone());
        config.console.viewer_token_file = Some(viewer_file.clone());
        config.console.sse_clients_max = 1;
    })
    .await;
    let address = node.server.console_address.expect("console");
    let admin = connect(&node, ADMIN_NAME).await;
    let admins_only = [Acl::new(
        Perms::ALL,
        Id::new(Id::SCHEME_X509, format!("CN={ADMIN_NAME},O=Polis")),
    )];
    admin
        .create(
            "/secret",
            b"s3cret-value",
            &admins_only,
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    let open = [Acl::new(Perms::ALL, Id::anyone())];
    admin
        .create("/many", b"", &open, CreateMode::Persistent)
        .await
        .unwrap();
    for index in 0..250 {
        admin
            .create(
                &format!("/many/c{index:04}"),
                b"",
                &open,
                CreateMode::Persistent,
            )
            .await
            .unwrap();
    }

    // The page is public (it holds no data); the API is not.
    let (head, body) = call(address, "GET", "/", None, "").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && body.contains("Polis console"),
        "{head}"
    );
    let (head, _) = call(address, "GET", "/api/tree?path=/secret", None, "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, _) = call(
        address,
        "POST",
        "/api/login",
        None,
        "token=wrong-but-long-0123456789abcdef0123",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let viewer = log_in(address, VIEWER_TOKEN).await;
    let (_, body) = call(
        address,
        "GET",
        "/api/tree?path=%2Fsecret",
        Some(&viewer),
        "",
    )
    .await;
    assert!(
        body.contains("\"error\"") && !body.contains("s3cret-value"),
        "{body}"
    );
    let (_, body) = call(address, "GET", "/api/sessions", Some(&viewer), "").await;
    assert!(body.contains("\"listed\":false"), "{body}");

    let admin_cookie = log_in(address, ADMIN_TOKEN).await;
    let (_, body) = call(
        address,
        "GET",
        "/api/tree?path=%2Fsecret",
        Some(&admin_cookie),
        "",
    )
    .await;
    assert!(body.contains("s3cret-value"), "{body}");
    let (_, body) = call(
        address,
        "GET",
        "/api/tree?path=%2Fmany",
        Some(&admin_cookie),
        "",
    )
    .await;
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["children"].as_array().unwrap().len(), 200);
    assert_eq!(page["children_total"], 250);
    let (_, body) = call(
        address,
        "GET",
        "/api/tree?path=%2Fmany&after=c0199",
        Some(&admin_cookie),
        "",
    )
    .await;
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["children"].as_array().unwrap().len(), 50);

    // One live stream is allowed; the second is refused while the first is open.
    let mut first = tokio::net::TcpStream::connect(address).await.unwrap();
    first
        .write_all(
            format!("GET /api/events HTTP/1.1\r\nCookie: polis_console={admin_cookie}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut start = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(10), first.read(&mut start))
        .await
        .unwrap()
        .unwrap();
    let opened = String::from_utf8_lossy(&start[..read]).to_string();
    assert!(opened.contains("text/event-stream"), "{opened}");
    let (head, _) = call(address, "GET", "/api/events", Some(&admin_cookie), "").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    drop(first);

    admin.close().await.ok();
    node.shutdown().await;
}
