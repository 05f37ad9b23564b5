//! The operator console: a web page, served on its own loopback listener when `[console]` is
//! enabled, that shows the cluster, the tree, sessions and watches, plugins and the city's
//! alerts, updated live with server-sent events.
//!
//! The page itself (`assets/`) is plain HTML, JavaScript and CSS compiled into the binary; it
//! fetches JSON from `/api/*`. Every API answer needs a login (a token from a file, exchanged
//! for an HttpOnly cookie, see [`logins`]); a viewer reads the tree as `world:anyone` through
//! the same ACL checks as a client, an administrator as the super user. Reads are local reads of
//! this node's tree, as `/health` reads it: they may lag the leader by what this node has not
//! applied yet. Every answer is bounded in bytes (pages of children and sessions, data cut with
//! a marker), and the work under the tree's and the hub's locks is a page's worth.

pub mod city_page;
pub mod cluster_page;
pub mod console_config;
pub mod data_view;
pub mod http;
pub mod logins;
pub mod plugins_page;
pub mod sessions_page;
pub mod sse_slots;
pub mod tree_page;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use self::console_config::ConsoleConfig;
use self::http::{Request, Response};
use self::logins::{Logins, Role};
use self::sse_slots::SseSlots;
use crate::node::Node;

/// How long a client may take to send its request and read the answer (live streams excepted).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest JSON answer; a view that would be larger answers an error asking for a narrower
/// one instead (the per-view bounds keep ordinary views far below it).
pub const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// A live stream sends at most one change event per this interval, however fast the tree
/// changes: the page re-reads its view on each.
const SSE_INTERVAL_MIN: Duration = Duration::from_millis(250);
/// A live stream sends a comment this often when nothing changes, so that proxies and the
/// browser keep it open and a closed one is noticed.
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// The console's state: the node it shows, the logins, the open live streams.
#[derive(Debug)]
pub struct Console {
    node: Weak<Node>,
    logins: Mutex<Logins>,
    sse: SseSlots,
    login_ttl_s: u64,
}

impl Console {
    /// The console of `node`, with the logins [`read_logins`] made from the same `config`.
    pub fn new(config: &ConsoleConfig, logins: Logins, node: Weak<Node>) -> Console {
        Console {
            node,
            logins: Mutex::new(logins),
            sse: SseSlots::new(config.sse_clients_max),
            login_ttl_s: config.login_ttl_s,
        }
    }

    fn logins(&self) -> std::sync::MutexGuard<'_, Logins> {
        // A panic while holding the lock leaves the table as consistent as before it.
        self.logins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The console's logins from `config`, reading its token files: done before the node opens its
/// storage, so that a missing or short token fails the start with nothing left open.
pub fn read_logins(config: &ConsoleConfig) -> anyhow::Result<Logins> {
    let read = |path: &Option<std::path::PathBuf>| -> anyhow::Result<Option<String>> {
        let Some(path) = path else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the console token {}", path.display()))?;
        let token = logins::parse_token(&text)
            .with_context(|| format!("the console token in {}", path.display()))?;
        Ok(Some(token))
    };
    Ok(Logins::new(
        read(&config.admin_token_file)?,
        read(&config.viewer_token_file)?,
        config.viewer_identity.clone(),
        config.logins_max,
        config.login_ttl_s,
    ))
}

/// Binds the console's listener.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the console on {address}"))
}

/// Serves the console until the task is aborted.
pub async fn serve(listener: TcpListener, console: Arc<Console>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let console = console.clone();
        tokio::spawn(async move {
            let _ = answer(stream, &console).await;
        });
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Reads one request (bounded in bytes and time) and answers it.
async fn answer(mut stream: TcpStream, console: &Console) -> std::io::Result<()> {
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Some(Ok(request)))) => request,
        Ok(Ok(Some(Err(error)))) => {
            let response = Response::error("400 Bad Request", &error.to_string());
            return stream.write_all(&response.to_bytes()).await;
        }
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Ok(()),
    };
    if request.method == "GET" && request.path == "/api/events" {
        return events(stream, console, &request).await;
    }
    let response = route(console, &request).await;
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        stream.write_all(&response.to_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .unwrap_or(Ok(()))
}

async fn read_request(
    stream: &mut TcpStream,
) -> std::io::Result<Option<Result<Request, http::RequestError>>> {
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_len = loop {
        if let Some(head_len) = http::head_len(&bytes) {
            break head_len;
        }
        if bytes.len() > http::REQUEST_BYTES_MAX {
            return Ok(Some(Err(http::RequestError::TooLarge)));
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk[..read]);
    };
    let body_len = match http::content_length(&bytes[..head_len]) {
        Ok(length) => length,
        Err(error) => return Ok(Some(Err(error))),
    };
    while bytes.len() < head_len + body_len {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
    let body_end = head_len + body_len;
    Ok(Some(http::parse_request(
        &bytes[..head_len],
        &bytes[head_len..body_end],
    )))
}

/// Answers every request but the live stream.
async fn route(console: &Console, request: &Request) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => Response::new("200 OK", "text/html; charset=utf-8", INDEX_HTML),
        ("GET", "/console.js") => {
            Response::new("200 OK", "text/javascript; charset=utf-8", CONSOLE_JS)
        }
        ("GET", "/console.css") => Response::new("200 OK", "text/css; charset=utf-8", CONSOLE_CSS),
        ("POST", "/api/login") => log_in(console, request),
        ("POST", "/api/logout") => {
            console.logins().log_out(request.cookie.as_deref());
            let mut response = Response::json(&json!({ "logged_out": true }));
            response.set_cookie = Some(http::login_cookie("", 0));
            response
        }
        ("GET", path) if path.starts_with("/api/") => {
            let logged_in = console
                .logins()
                .role_of_cookie(request.cookie.as_deref(), now_s());
            let role = match logged_in {
                Ok(role) => role,
                Err(error) => return Response::error("401 Unauthorized", &error.to_string()),
            };
            let Some(node) = console.node.upgrade() else {
                return Response::error("503 Service Unavailable", "the node has stopped");
            };
            let identities = console.logins().identities(role);
            match view(&node, path, request, role, &identities).await {
                Some(value) => bounded_json(&value),
                None => Response::error("404 Not Found", "no such view"),
            }
        }
        (_, path) if path.starts_with("/api/") => {
            Response::error("405 Method Not Allowed", "the console's API reads only")
        }
        _ => Response::error("404 Not Found", "not found"),
    }
}

/// A JSON answer, or an error if it would pass [`RESPONSE_BYTES_MAX`].
pub fn bounded_json(value: &Value) -> Response {
    let body = value.to_string();
    if body.len() > RESPONSE_BYTES_MAX {
        return Response::error(
            "507 Insufficient Storage",
            &format!(
                "this view has {} bytes, more than the console's {RESPONSE_BYTES_MAX}; open a narrower one",
                body.len()
            ),
        );
    }
    Response::new("200 OK", "application/json", body)
}

fn log_in(console: &Console, request: &Request) -> Response {
    let form = http::parse_form(&String::from_utf8_lossy(&request.body));
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let mut cookie_bytes = [0u8; 32];
    if getrandom::fill(&mut cookie_bytes).is_err() {
        return Response::error("500 Internal Server Error", "no randomness for a login");
    }
    let cookie: String = cookie_bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let logged_in = console.logins().log_in(token, cookie.clone(), now_s());
    match logged_in {
        Ok(role) => {
            tracing::info!(role = role.name(), "console login");
            let mut response = Response::json(&json!({ "role": role.name() }));
            response.set_cookie = Some(http::login_cookie(&cookie, console.login_ttl_s));
            response
        }
        Err(error) => {
            tracing::warn!("console login refused: {error}");
            Response::error("401 Unauthorized", &error.to_string())
        }
    }
}

/// The JSON of one view, read as `identities`; `None` for an unknown view.
async fn view(
    node: &Node,
    path: &str,
    request: &Request,
    role: Role,
    identities: &[polis_tree::Id],
) -> Option<Value> {
    let query = |key: &str| request.query.get(key).map(String::as_str);
    Some(match path {
        "/api/me" => json!({ "role": role.name(), "node_id": node.id }),
        "/api/cluster" => {
            let status = node.status().await;
            let raft = node.raft.metrics().borrow().clone();
            let view = polis_raft::ClusterView::from_metrics(&raft);
            cluster_page::cluster_page(&view, &status)
        }
        "/api/tree" => {
            let node_path = query("path").filter(|path| !path.is_empty()).unwrap_or("/");
            let format = data_view::DataFormat::parse(query("format"));
            let tree = node.reader.read().await;
            tree_page::tree_page(&tree, node_path, query("after"), format, identities)
        }
        "/api/sessions" => {
            let after = query("after").and_then(|after| {
                i64::from_str_radix(after.trim_start_matches("0x"), 16)
                    .ok()
                    .or_else(|| after.parse().ok())
            });
            let tree = node.reader.read().await;
            let total = tree.sessions().len();
            // Which sessions exist is the administrators' business: a viewer gets the counts.
            let rows = if role == Role::Admin {
                sessions_page::session_rows(&tree, after)
            } else {
                Vec::new()
            };
            drop(tree);
            let hub = node.hub.lock();
            let watches = hub.watches.len();
            let mut page = sessions_page::sessions_page(rows, total, &hub, watches);
            drop(hub);
            page["listed"] = json!(role == Role::Admin);
            page
        }
        "/api/plugins" => {
            let tree = node.reader.read().await;
            let last_zxid = tree.last_zxid();
            let records = plugins_page::plugin_records(&tree, identities);
            drop(tree);
            let mut page = plugins_page::plugins_page(&records, last_zxid);
            page["read_only"] = json!(true);
            page
        }
        "/api/city" => {
            let tree = node.reader.read().await;
            let records = city_page::city_records(&tree, identities);
            drop(tree);
            city_page::city_page(&records)
        }
        _ => return None,
    })
}

/// A live stream of change events: one whenever this node's applied zxid, term or leader moved
/// (at most one per [`SSE_INTERVAL_MIN`]), until the login expires, the node stops or the
/// client goes away. Bounded by `sse_clients_max`.
async fn events(
    mut stream: TcpStream,
    console: &Console,
    request: &Request,
) -> std::io::Result<()> {
    let cookie = request.cookie.clone();
    let logged_in = console.logins().role_of_cookie(cookie.as_deref(), now_s());
    if let Err(error) = logged_in {
        let response = Response::error("401 Unauthorized", &error.to_string());
        return stream.write_all(&response.to_bytes()).await;
    }
    let Some(_slot) = console.sse.take() else {
        let response = Response::error(
            "503 Service Unavailable",
            "too many live streams are open (console.sse_clients_max)",
        );
        return stream.write_all(&response.to_bytes()).await;
    };
    let Some(mut metrics) = console.node.upgrade().map(|node| node.raft.metrics()) else {
        return Ok(());
    };
    stream.write_all(http::SSE_HEAD.as_bytes()).await?;
    let mut last_sent: Option<(polis_tree::Zxid, u64, Option<u64>)> = None;
    loop {
        let logged_in = console.logins().role_of_cookie(cookie.as_deref(), now_s());
        if logged_in.is_err() {
            stream.write_all(b"event: logout\ndata: {}\n\n").await?;
            return Ok(());
        }
        let Some(node) = console.node.upgrade() else {
            return Ok(());
        };
        let (term, leader) = {
            let raft = metrics.borrow_and_update();
            (raft.current_term, raft.current_leader)
        };
        let zxid = node.reader.read().await.last_zxid();
        drop(node);
        let now = (zxid, term, leader);
        if last_sent != Some(now) {
            let data = json!({ "zxid": zxid, "term": term, "leader": leader });
            stream
                .write_all(format!("event: change\ndata: {data}\n\n").as_bytes())
                .await?;
            last_sent = Some(now);
            tokio::time::sleep(SSE_INTERVAL_MIN).await;
            continue;
        }
        match tokio::time::timeout(SSE_KEEPALIVE, metrics.changed()).await {
            Ok(Ok(())) => {}
            // The node's Raft core is gone: the stream ends with it.
            Ok(Err(_)) => return Ok(()),
            Err(_) => stream.write_all(b": keepalive\n\n").await?,
        }
    }
}
