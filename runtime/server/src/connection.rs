//! One client connection: the QUIC shell between a client and its session on this node.
//!
//! A client opens one bidirectional stream. The reader half hands its requests, in order, to the
//! session's [`SessionHandler`]; the writer half writes what is queued for the session (watch
//! events, queued the moment their change is applied, and responses), in queue order. Anything
//! wrong with the client's bytes — a malformed or oversize frame, a missing handshake — closes
//! this connection only; the session survives and may resume on a new connection.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polis_proto::{FrameError, read_frame, wire, write_frame};
use polis_security::Identity;
use polis_tree::{Id, TreeError};
use tokio::io::BufReader;

use crate::node::{
    AfterRequest, ConnectionId, Node, OutboundBounds, OwnerKey, SessionHandler, SessionOwner,
};

/// QUIC application close codes, so a client can tell why its connection ended.
pub use polis_proto::close_code;

/// What every connection shares.
#[derive(Debug)]
pub struct ConnectionContext {
    pub node: Arc<Node>,
    /// Certificate subjects with administrator rights.
    pub admins: HashSet<String>,
    pub frame_len_max: usize,
    pub outbound: OutboundBounds,
    pub handshake_timeout: Duration,
    /// The most live sessions one certificate may hold through this node.
    pub sessions_per_identity_max: usize,
    pub next_connection_id: AtomicU64,
    pub active_connections: AtomicU64,
    /// The server is shutting down: a connection that finishes its handshake now is closed.
    pub closing: AtomicBool,
}

/// The identity a digest `addAuth` adds, or why it is refused.
pub fn digest_identity(add_auth: &wire::AddAuth) -> Result<Id, TreeError> {
    if add_auth.scheme != Id::SCHEME_DIGEST {
        return Err(TreeError::BadArguments {
            reason: format!("unsupported auth scheme {:?}; use digest", add_auth.scheme),
        });
    }
    let credentials = std::str::from_utf8(&add_auth.auth).map_err(|_| TreeError::BadArguments {
        reason: "digest credentials must be UTF-8 user:password".to_string(),
    })?;
    if !credentials.contains(':') {
        return Err(TreeError::BadArguments {
            reason: "digest credentials have the form user:password".to_string(),
        });
    }
    Ok(Id::new(
        Id::SCHEME_DIGEST,
        polis_security::generate_digest(credentials),
    ))
}

/// Serves one incoming connection until it ends.
pub async fn serve(incoming: quinn::Incoming, context: Arc<ConnectionContext>) {
    context.active_connections.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("polis_connections").increment(1.0);
    let remote = incoming.remote_address();
    match incoming.await {
        Ok(connection) if context.closing.load(Ordering::Acquire) => {
            connection.close(close_code::SERVER_SHUTDOWN.into(), b"server shutting down");
        }
        Ok(connection) => {
            if let Err(reason) = serve_connection(&connection, &context).await {
                tracing::debug!(%remote, %reason, "connection ended");
            }
        }
        Err(error) => {
            // A refused certificate ends here, in the handshake, on the server side.
            tracing::info!(%remote, %error, "handshake failed");
            metrics::counter!("polis_handshake_failures_total").increment(1);
        }
    }
    context.active_connections.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("polis_connections").decrement(1.0);
}

async fn serve_connection(
    connection: &quinn::Connection,
    context: &ConnectionContext,
) -> Result<(), String> {
    let identity = match Identity::from_connection(connection) {
        Ok(identity) => identity,
        Err(error) => {
            connection.close(
                close_code::NOT_AUTHENTICATED.into(),
                b"no usable client certificate",
            );
            return Err(error.to_string());
        }
    };
    let mut identities = vec![Id::new(Id::SCHEME_X509, identity.subject())];
    if context.admins.contains(identity.subject()) {
        identities.push(Id::new(Id::SCHEME_SUPER, identity.subject()));
    }
    let (mut send, receive) =
        tokio::time::timeout(context.handshake_timeout, connection.accept_bi())
            .await
            .map_err(|_| "no stream opened in time".to_string())?
            .map_err(|error| error.to_string())?;
    let mut receive = BufReader::new(receive);
    let first: Option<wire::ClientMessage> = tokio::time::timeout(
        context.handshake_timeout,
        read_frame(&mut receive, context.frame_len_max),
    )
    .await
    .map_err(|_| "no Connect in time".to_string())?
    .map_err(|error| protocol_error(connection, &error))?;
    let Some(wire::ClientMessage {
        body: Some(wire::client_message::Body::Connect(connect)),
    }) = first
    else {
        connection.close(
            close_code::PROTOCOL_ERROR.into(),
            b"the first message must be Connect",
        );
        return Err("the first message was not Connect".to_string());
    };

    let connection_id: ConnectionId = context.next_connection_id.fetch_add(1, Ordering::Relaxed);
    let (outbound, mut outbound_queue) = context.outbound.channel();
    let identities: Arc<[Id]> = identities.into();
    let connected = context
        .node
        .connect(
            connection_id,
            &connect,
            &identities,
            &SessionOwner::new(
                OwnerKey::Identity(identity.subject().to_string()),
                context.sessions_per_identity_max,
            ),
            outbound.clone(),
        )
        .await;
    let session_id = connected.session_id;
    let session_timeout_ms = connected.session_timeout_ms;
    let refused = connected.error_code != 0;
    let frame = wire::ServerMessage {
        body: Some(wire::server_message::Body::Connected(connected)),
    };
    write_frame(&mut send, &frame, context.frame_len_max)
        .await
        .map_err(|error| error.to_string())?;
    if refused {
        let _ = send.finish();
        let _ = send.stopped().await;
        connection.close(close_code::SESSION_ENDED.into(), b"connect refused");
        return Ok(());
    }

    // The writer: everything queued for this session, in order.
    let writer_connection = connection.clone();
    let frame_len_max = context.frame_len_max;
    // Set when the client ended its stream, so that the writer closes the connection as normal
    // rather than as a client cut off for not reading.
    let client_finished = Arc::new(AtomicBool::new(false));
    let finished = client_finished.clone();
    let writer = tokio::spawn(async move {
        while let Some(queued) = outbound_queue.recv().await {
            let message = &queued.message;
            let ends_session = ends_session(message);
            if write_frame(&mut send, message, frame_len_max)
                .await
                .is_err()
            {
                return;
            }
            // The message's share of the byte budget is given back once it is written.
            drop(queued);
            if ends_session {
                let _ = send.finish();
                let _ = send.stopped().await;
                writer_connection.close(close_code::SESSION_ENDED.into(), b"session ended");
                return;
            }
        }
        if finished.load(Ordering::Acquire) {
            writer_connection.close(close_code::NORMAL.into(), b"the client ended its stream");
            return;
        }
        // Every sender is gone: the hub cut this connection off (it could not keep up, or the
        // session moved) and the reader has stopped.
        writer_connection.close(close_code::OVERLOADED.into(), b"disconnected by the server");
    });

    let handler = SessionHandler::new(
        context.node.clone(),
        session_id,
        connection_id,
        identities.clone(),
        outbound,
        session_timeout_ms,
    );
    let outcome = read_requests(connection, context, &mut receive, handler, &client_finished).await;
    context.node.hub.detach(session_id, connection_id);
    if outcome.is_err() {
        writer.abort();
    }
    outcome
}

/// Hands the client's requests to its session handler, one after the other, until the stream
/// ends, the session closes, or the client misbehaves.
async fn read_requests(
    connection: &quinn::Connection,
    context: &ConnectionContext,
    receive: &mut BufReader<quinn::RecvStream>,
    mut handler: SessionHandler,
    client_finished: &AtomicBool,
) -> Result<(), String> {
    loop {
        let message: Option<wire::ClientMessage> = read_frame(receive, context.frame_len_max)
            .await
            .map_err(|error| protocol_error(connection, &error))?;
        let Some(message) = message else {
            client_finished.store(true, Ordering::Release);
            return Ok(());
        };
        let Some(wire::client_message::Body::Request(request)) = message.body else {
            connection.close(close_code::PROTOCOL_ERROR.into(), b"expected a Request");
            return Err("a second Connect or an empty message".to_string());
        };
        // `addAuth` changes the session's identities in the session core, which bounds them.
        if handler.handle(request, Instant::now()).await == AfterRequest::SessionClosed {
            return Ok(());
        }
    }
}

fn ends_session(message: &wire::ServerMessage) -> bool {
    match &message.body {
        Some(wire::server_message::Body::SessionEnded(_)) => true,
        Some(wire::server_message::Body::Response(response)) => {
            matches!(response.result, Some(wire::response::Result::Close(_)))
        }
        _ => false,
    }
}

/// Closes the connection over bad bytes and says why, to the client and in the log.
fn protocol_error(connection: &quinn::Connection, error: &FrameError) -> String {
    let reason = match error {
        FrameError::TooLarge { .. } => "frame too large",
        FrameError::Malformed(_) | FrameError::BadLength => "malformed frame",
        FrameError::Truncated => "truncated frame",
        FrameError::Io(_) => "stream error",
    };
    if !matches!(error, FrameError::Io(_)) {
        metrics::counter!("polis_protocol_errors_total", "reason" => reason).increment(1);
    }
    connection.close(close_code::PROTOCOL_ERROR.into(), reason.as_bytes());
    error.to_string()
}
