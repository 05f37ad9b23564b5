//! The admin HTTP endpoint: Prometheus `/metrics`, `/health` and `/ready`.
//!
//! It serves three read-only GET resources to monitoring systems and orchestrators on a separate TCP port. Requests
//! are bounded (size and time) so that a misbehaving scraper cannot hold the server's memory.

use std::net::SocketAddr;
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::node::Node;

/// The longest request head accepted, in bytes.
const REQUEST_LEN_MAX: usize = 8 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Installs the process-wide Prometheus recorder once and returns its handle. Servers started
/// in one process (tests) share it, as they share the process's `metrics` macros.
pub fn prometheus_handle() -> anyhow::Result<PrometheusHandle> {
    // `get_or_init` makes servers starting at the same time wait for the one installing the
    // recorder, instead of finding it installed but its handle not stored yet.
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(install_prometheus)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install_prometheus() -> Result<PrometheusHandle, String> {
    let seconds_buckets = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0,
    ];
    let recorder = PrometheusBuilder::new()
        .set_buckets(&seconds_buckets)
        .map_err(|error| format!("histogram buckets: {error}"))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| "another metrics recorder is installed in this process".to_string())?;
    let upkeep = handle.clone();
    let started = std::thread::Builder::new()
        .name("polis-metrics-upkeep".to_string())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = started {
        // The recorder is installed and serves; only its histograms are not trimmed.
        tracing::warn!(%error, "could not start the metrics upkeep thread");
    }
    Ok(handle)
}

/// Serves `/metrics` and `/health` on `address` until the task is aborted.
pub async fn serve(listener: TcpListener, prometheus: PrometheusHandle, node: Weak<Node>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let prometheus = prometheus.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &prometheus, &node)).await;
        });
    }
}

/// Binds the admin listener.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the admin endpoint on {address}"))
}

async fn answer(
    mut stream: TcpStream,
    prometheus: &PrometheusHandle,
    node: &Weak<Node>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head_is_complete(&head) {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
        if head.len() > REQUEST_LEN_MAX {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "too large\n",
            )
            .await;
        }
    }
    match parse_request_head(&head) {
        AdminRequest::MethodNotAllowed => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n",
            )
            .await
        }
        AdminRequest::Metrics => {
            let body = prometheus.render();
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await
        }
        request @ (AdminRequest::Health | AdminRequest::Ready) => {
            let status = match node.upgrade() {
                Some(node) => node.status().await,
                None => serde_json::json!({ "status": "stopped" }),
            };
            let answered = if request == AdminRequest::Health {
                is_running(&status)
            } else {
                is_ready(&status)
            };
            let body = status.to_string() + "\n";
            let code = if answered {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            respond(&mut stream, code, "application/json", &body).await
        }
        AdminRequest::NotFound => {
            respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await
        }
    }
}

/// What an admin request asks for, read from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    Metrics,
    Health,
    Ready,
    NotFound,
    MethodNotAllowed,
}

/// Whether `head` holds a whole request head (it ends at the first blank line).
pub fn head_is_complete(head: &[u8]) -> bool {
    head.windows(4).any(|window| window == b"\r\n\r\n")
}

/// Reads the request line of a request head: a GET of `/metrics`, `/health` or `/ready` (any
/// query ignored), or something this endpoint does not serve. It is a pure function of bytes
/// from anyone who can reach the admin port, so it is fuzzed (`fuzz/`, target `admin_http_head`).
pub fn parse_request_head(head: &[u8]) -> AdminRequest {
    let request_line = head.split(|byte| *byte == b'\n').next().unwrap_or_default();
    let request_line = String::from_utf8_lossy(request_line);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return AdminRequest::MethodNotAllowed;
    }
    match target.split('?').next().unwrap_or("") {
        "/metrics" => AdminRequest::Metrics,
        "/health" => AdminRequest::Health,
        "/ready" => AdminRequest::Ready,
        _ => AdminRequest::NotFound,
    }
}

/// `/health`: the node's Raft core runs (a liveness probe: restarting a node that answers 503
/// here is the remedy).
fn is_running(status: &serde_json::Value) -> bool {
    status["status"] == "ok"
}

/// `/ready`: the node runs and knows its cluster's leader, so it can serve clients' requests now
/// (a readiness probe: a node that is electing, cut off, or a learner not yet added, is running
/// but should not get clients).
fn is_ready(status: &serde_json::Value) -> bool {
    is_running(status) && status["leader"].is_u64()
}

async fn respond(
    stream: &mut TcpStream,
    status_line: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_means_running_with_a_known_leader() {
        let following = serde_json::json!({ "status": "ok", "leader": 2, "role": "follower" });
        let electing = serde_json::json!({ "status": "ok", "leader": null, "role": "follower" });
        let stopped = serde_json::json!({ "status": "stopped" });
        assert!(is_running(&following) && is_ready(&following));
        assert!(is_running(&electing) && !is_ready(&electing));
        assert!(!is_running(&stopped) && !is_ready(&stopped));
    }
}
