//! Freeing a closed QUIC endpoint's UDP port at once, so that a restarted node can bind it again.

use std::time::Duration;

/// After `Endpoint::close`: waits, at most `drain_timeout`, for the closed connections to drain,
/// then frees the endpoint's port at once.
///
/// Quinn 0.11 keeps the UDP socket while any connection is still draining or any handle of the
/// endpoint is alive (a task finishing its backoff, say), which has kept a stopped node's port
/// bound for up to its idle timeout (30 s). So the endpoint moves to a throwaway socket on the
/// same interface: twice, because `Endpoint::rebind` keeps the previous socket until traffic
/// arrives on the new one, and only the second move drops the original.
pub async fn release_endpoint_port(endpoint: &quinn::Endpoint, drain_timeout: Duration) {
    let _ = tokio::time::timeout(drain_timeout, endpoint.wait_idle()).await;
    let Ok(address) = endpoint.local_addr() else {
        return;
    };
    let throwaway = std::net::SocketAddr::new(address.ip(), 0);
    for _ in 0..2 {
        let rebound =
            std::net::UdpSocket::bind(throwaway).and_then(|socket| endpoint.rebind(socket));
        if let Err(error) = rebound {
            tracing::debug!(%error, "the endpoint keeps its port until it drains");
            return;
        }
    }
}
