//! Helpers for tests that drive a [`TestNode`] through the Rust client, `polis-client`.

use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use polis_client::{Client, ClientConfig, Error, SessionEvent, WatchEvent};
use tokio::sync::broadcast;

use crate::node::TestNode;

/// The bound on every wait of a client test: far above what any step needs, so that reaching it
/// means the awaited thing never happens.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A client configuration for `node`, with the certificate of `name` (issued on first use),
/// quick reconnects and a session timeout of 10 s.
pub fn client_config(node: &TestNode, name: &str) -> ClientConfig {
    let mut config = ClientConfig::new(vec![node.address()], "localhost", node.client_files(name));
    config.session_timeout_ms = 10_000;
    config.request_timeout_ms = 10_000;
    config.connect_timeout_ms = 2_000;
    config.reconnect_backoff_min_ms = 10;
    config.reconnect_backoff_max_ms = 100;
    config
}

/// A connected client for `node` with the certificate of `name`.
pub async fn connect(node: &TestNode, name: &str) -> Client {
    connect_with(client_config(node, name)).await
}

/// A connected client with `config`.
pub async fn connect_with(config: ClientConfig) -> Client {
    tokio::time::timeout(DEADLINE, Client::connect(config))
        .await
        .expect("connected in time")
        .expect("connected")
}

/// The next item of a watch stream, which must come within [`DEADLINE`].
pub async fn next_item<S>(stream: &mut S) -> Option<Result<WatchEvent, Error>>
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a stream item in time")
}

/// The next event of a watch stream, which must come within [`DEADLINE`].
pub async fn next_event<S>(stream: &mut S) -> WatchEvent
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    next_item(stream)
        .await
        .expect("the stream goes on")
        .expect("an event, not an error")
}

/// The events a stream holds right now, without waiting. After a call's answer has been awaited,
/// these are all the events that call's result reflects (the client's ordering guarantee).
pub fn ready_events<S>(stream: &mut S) -> Vec<WatchEvent>
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    let mut events = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        events.push(item.expect("an event, not an error"));
    }
    events
}

/// The next session event, which must come within [`DEADLINE`].
pub async fn next_session_event(events: &mut broadcast::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("a session event in time")
        .expect("a session event")
}
