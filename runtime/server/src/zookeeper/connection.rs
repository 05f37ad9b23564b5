//! One ZooKeeper connection: the TCP shell between a ZooKeeper client and its Polis session.
//!
//! The reader decodes the client's frames, one at a time, and hands their Polis requests to the
//! session's [`SessionHandler`], which answers in order through the session's queue; watch events
//! enter the same queue the moment their change is applied, so they reach the client before any
//! reply that reflects the change (ZooKeeper's ordering guarantee). The writer turns what comes
//! out of the queue into jute frames. Anything wrong with the client's bytes closes this
//! connection only; its session survives and may resume on a new connection, as in ZooKeeper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use polis_proto::wire;
use polis_security::Identity;
use polis_tree::ErrorCode;
use polis_tree::Id;
use polis_zookeeper::{
    DecodeError, FRAME_PREFIX_LEN, FramePrefix, JuteLimits, Reply, ReplyBody, ReplyHeader,
    RequestBody, classify_prefix, decode_connect, decode_request, encode_reply,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::context::ConnectionRecord;
use super::sasl_digest::{DigestMd5Exchange, SaslStep, same_bytes};
use super::translator::{self, AfterReply, ConnectOutcome, Pending, ReplyAssembler};
use super::{ZooKeeperContext, four_letter_words};
use crate::node::{
    AfterRequest, OutboundQueue, OwnerKey, SessionHandler, SessionOwner, with_added_identity,
    with_identity,
};

/// How long a closing connection waits for its last replies (a close, an AuthFailed) to be
/// written before it lets go.
const WRITER_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one accepted connection until it ends.
pub async fn serve(stream: TcpStream, remote: SocketAddr, context: Arc<ZooKeeperContext>) {
    let (connection_id, record) = context.register(remote);
    metrics::gauge!("polis_zookeeper_connections").increment(1.0);
    // ZooKeeper clients expect small frames to go out at once (ZooKeeper sets TCP_NODELAY).
    let _ = stream.set_nodelay(true);
    let outcome = match &context.tls {
        // No certificate: the connection starts as world:anyone, and gains digest identities
        // with addAuth, as a ZooKeeper connection does.
        None => {
            serve_connection(
                stream,
                Arc::from(Vec::new()),
                connection_id,
                &record,
                &context,
            )
            .await
        }
        Some(tls) => match accept_tls(stream, tls, &context).await {
            Ok((stream, identities)) => {
                serve_connection(stream, identities, connection_id, &record, &context).await
            }
            Err(reason) => {
                metrics::counter!("polis_zookeeper_tls_failures_total").increment(1);
                Err(reason)
            }
        },
    };
    if let Err(reason) = outcome {
        tracing::debug!(%remote, %reason, "ZooKeeper connection ended");
    }
    context.unregister(connection_id);
    metrics::gauge!("polis_zookeeper_connections").decrement(1.0);
}

/// The TLS handshake, within the handshake timeout, and the identities the client certificate
/// proves: its subject under `x509`, and `super` if it is an administrator's.
async fn accept_tls(
    stream: TcpStream,
    tls: &super::ZooKeeperTls,
    context: &ZooKeeperContext,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, Arc<[Id]>), String> {
    let stream = tokio::time::timeout(context.handshake_timeout, tls.acceptor().accept(stream))
        .await
        .map_err(|_| "no TLS handshake in time".to_string())?
        .map_err(|error| format!("TLS handshake failed: {error}"))?;
    // The verifier already required a certificate chaining to the CA.
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .cloned()
        .ok_or_else(|| "no client certificate".to_string())?;
    let identity = Identity::from_certificate(certificate).map_err(|error| error.to_string())?;
    let mut identities = vec![Id::new(Id::SCHEME_X509, identity.subject())];
    if tls.admins.contains(identity.subject()) {
        identities.push(Id::new(Id::SCHEME_SUPER, identity.subject()));
    }
    Ok((stream, identities.into()))
}

/// Reads one frame prefix; `None` at a clean end of stream.
async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<[u8; FRAME_PREFIX_LEN]>> {
    let mut prefix = [0u8; FRAME_PREFIX_LEN];
    let mut filled = 0;
    while filled < FRAME_PREFIX_LEN {
        let read = reader.read(&mut prefix[filled..]).await?;
        if read == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
    }
    Ok(Some(prefix))
}

/// Why a connection is closed over the client's bytes.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// Counts a protocol error (not a mere disconnect) in the metrics.
    fn counted(self) -> String {
        if let ReadError::Decode(error) = &self {
            let reason = match error {
                DecodeError::FrameLength { .. } => "frame length",
                DecodeError::TooLong { .. } | DecodeError::TooMany { .. } => "over a limit",
                _ => "malformed frame",
            };
            metrics::counter!("polis_zookeeper_protocol_errors_total", "reason" => reason)
                .increment(1);
        }
        self.to_string()
    }
}

/// Whom a new session of this connection counts against: its certificate's subject on a TLS
/// listener, else its remote address (ZooKeeper's `maxClientCnxns` is per address too). A digest
/// added later does not count: it is the client's own claim and could be made up anew each time.
fn session_owner(
    identities: &[Id],
    record: &ConnectionRecord,
    context: &ZooKeeperContext,
) -> SessionOwner {
    let key = identities
        .iter()
        .find(|id| id.scheme == Id::SCHEME_X509)
        .map_or(OwnerKey::Address(record.remote.ip()), |id| {
            OwnerKey::Identity(id.id.clone())
        });
    SessionOwner::new(key, context.sessions_per_owner_max)
}

/// Reads the frame a prefix announced, of at most `frame_len_max` bytes (already checked).
async fn read_frame_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut frame = vec![0u8; len];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

/// The next request frame, or `None` when the client closed the stream.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: &JuteLimits,
) -> Result<Option<Vec<u8>>, ReadError> {
    let Some(prefix) = read_prefix(reader).await? else {
        return Ok(None);
    };
    match classify_prefix(prefix, false, limits)? {
        FramePrefix::Frame { len } => Ok(Some(read_frame_body(reader, len).await?)),
        // Not recognised after the handshake.
        FramePrefix::FourLetterWord(_) => Err(ReadError::Decode(DecodeError::FrameLength {
            len: i64::from(i32::from_be_bytes(prefix)),
            max: limits.frame_len_max,
        })),
    }
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Send + Unpin>(
    stream: S,
    identities: Arc<[Id]>,
    connection_id: u64,
    record: &ConnectionRecord,
    context: &ZooKeeperContext,
) -> Result<(), String> {
    let (read_half, mut write_half) = tokio::io::split(stream);
    let mut reader = BufReader::new(read_half);
    let limits = &context.limits;

    // The handshake: a four-letter word, or a connect request, within the handshake timeout.
    let first = tokio::time::timeout(context.handshake_timeout, async {
        let Some(prefix) = read_prefix(&mut reader).await? else {
            return Ok(None);
        };
        match classify_prefix(prefix, true, limits)? {
            FramePrefix::FourLetterWord(word) => Ok(Some(Err(word))),
            FramePrefix::Frame { len } => Ok(Some(Ok(read_frame_body(&mut reader, len).await?))),
        }
    })
    .await
    .map_err(|_| "no connect request in time".to_string())?
    .map_err(ReadError::counted)?;
    let frame = match first {
        None => return Ok(()),
        Some(Err(word)) => {
            metrics::counter!("polis_zookeeper_four_letter_words_total", "word" => word.name())
                .increment(1);
            let answer = four_letter_words::answer(word, context).await;
            let _ = write_half.write_all(answer.as_bytes()).await;
            let _ = write_half.shutdown().await;
            return Ok(());
        }
        Some(Ok(frame)) => frame,
    };
    let connect =
        decode_connect(&frame, limits).map_err(|error| ReadError::from(error).counted())?;
    context.packets_received.fetch_add(1, Ordering::Relaxed);

    let (outbound, outbound_queue) = context.outbound.channel();
    let connected = context
        .node
        .connect(
            connection_id,
            &translator::connect_to_wire(&connect),
            &identities,
            &session_owner(&identities, record, context),
            outbound.clone(),
        )
        .await;
    let response = match translator::connect_outcome(&connect, &connected) {
        ConnectOutcome::Accepted(response) => response,
        ConnectOutcome::Expired(response) => {
            metrics::counter!("polis_zookeeper_connects_total", "outcome" => "expired")
                .increment(1);
            let _ = write_half.write_all(&response.encode()).await;
            let _ = write_half.shutdown().await;
            return Ok(());
        }
        ConnectOutcome::Refused => {
            metrics::counter!("polis_zookeeper_connects_total", "outcome" => "refused")
                .increment(1);
            return Err(format!(
                "connect refused: {} ({})",
                connected.error_message, connected.error_code
            ));
        }
    };
    metrics::counter!("polis_zookeeper_connects_total", "outcome" => "accepted").increment(1);
    let session_id = connected.session_id;
    record
        .session_id
        .store(session_id as u64, Ordering::Relaxed);
    write_half
        .write_all(&response.encode())
        .await
        .map_err(|error| error.to_string())?;
    context.packets_sent.fetch_add(1, Ordering::Relaxed);

    // The reader hands the writer each request's Pending before the session answers it: the
    // queue is bounded like the session's own, which bounds the requests in flight. Reader and
    // writer run in this task, so that ending the task (the listener stopping) ends both.
    let (pending_sender, pending_receiver) = mpsc::channel(context.outbound.messages_max);
    let mut writer = std::pin::pin!(write_replies(
        write_half,
        outbound_queue,
        pending_receiver,
        record,
        context,
    ));
    let handler = SessionHandler::new(
        context.node.clone(),
        session_id,
        connection_id,
        identities.clone(),
        outbound.clone(),
        connected.session_timeout_ms,
    );
    let reader_session = ReaderSession {
        handler,
        outbound,
        pending: pending_sender,
        identities,
        sasl: DigestMd5Exchange::default(),
    };
    let outcome = tokio::select! {
        outcome = read_requests(&mut reader, reader_session, record, context) => Some(outcome),
        // The writer ended: the session closed or expired, or the hub cut the client off.
        () = &mut writer => None,
    };
    context.node.hub.detach(session_id, connection_id);
    match outcome {
        // The reader's senders are gone with it: the writer drains what is queued (a close
        // reply, say) and ends.
        Some(outcome) => {
            let _ = tokio::time::timeout(WRITER_DRAIN_TIMEOUT, writer).await;
            outcome
        }
        None => Ok(()),
    }
}

/// What the reader owns: the session's handler and the senders toward the writer.
struct ReaderSession {
    handler: SessionHandler,
    outbound: crate::node::Outbound,
    /// Each request's reply plan with the time it arrived.
    pending: mpsc::Sender<(Pending, Instant)>,
    identities: Arc<[Id]>,
    /// The connection's SASL exchange, if the client starts one.
    sasl: DigestMd5Exchange,
}

/// Decodes the client's requests and hands them to the session, one after the other, until the
/// stream ends, the session closes, or the client misbehaves.
async fn read_requests<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    mut session: ReaderSession,
    record: &ConnectionRecord,
    context: &ZooKeeperContext,
) -> Result<(), String> {
    let limits = &context.limits;
    loop {
        let frame = match read_frame(reader, limits).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(error) => return Err(error.counted()),
        };
        let arrived_at = Instant::now();
        let request =
            decode_request(&frame, limits).map_err(|error| ReadError::from(error).counted())?;
        record.received.fetch_add(1, Ordering::Relaxed);
        context.packets_received.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("polis_zookeeper_requests_total", "op" => request.body.name())
            .increment(1);
        let super_login = super_digest_login(&request.body, context.super_digest.as_deref());
        let plan = match request.body {
            RequestBody::Sasl { token } => {
                let reply = sasl_reply(&mut session, request.xid, &token, context, record);
                translator::local_plan(reply)
            }
            RequestBody::Reconfig { .. } if !context.reconfig_enabled => translator::local_plan(
                translator::error_reply(request.xid, ErrorCode::ReconfigDisabled),
            ),
            _ => translator::plan(request, &session.identities, context.reads),
        };
        let local = plan.requests.is_empty();
        if session
            .pending
            .send((plan.pending, arrived_at))
            .await
            .is_err()
        {
            return Ok(());
        }
        if local {
            // A placeholder response keeps the local reply's place behind earlier responses.
            let placeholder = wire::ServerMessage {
                body: Some(wire::server_message::Body::Response(wire::Response {
                    zxid: context.node.hub.applied_zxid(),
                    ..wire::Response::default()
                })),
            };
            if session.outbound.send(placeholder).await.is_err() {
                return Ok(());
            }
            continue;
        }
        for request in plan.requests {
            let closed = session.handler.handle(request, Instant::now()).await
                == AfterRequest::SessionClosed;
            // `addAuth` changes the session's identities in the session core, which bounds them.
            session.identities = session.handler.identities().clone();
            if closed {
                return Ok(());
            }
        }
        if let Some((name, digest)) = super_login {
            grant_super(&mut session, &name, &digest, record);
        }
    }
}

/// The name and digest id of an `addAuth digest NAME:password` whose digest is the configured
/// `super_digest` (ZooKeeper's `DigestAuthenticationProvider.superDigest`), if it is one.
fn super_digest_login(body: &RequestBody, super_digest: Option<&str>) -> Option<(String, String)> {
    let RequestBody::Auth { scheme, auth, .. } = body else {
        return None;
    };
    let super_digest = super_digest?;
    if scheme != Id::SCHEME_DIGEST {
        return None;
    }
    let credentials = std::str::from_utf8(auth).ok()?;
    let digest = polis_security::generate_digest(credentials);
    let same = same_bytes(digest.as_bytes(), super_digest.as_bytes());
    let (name, _) = digest.split_once(':')?;
    same.then(|| (name.to_string(), digest.clone()))
}

/// Makes the session the super user once its `addAuth` of the super digest took effect (the
/// session core added the digest identity; a refused `addAuth` added nothing and grants
/// nothing).
fn grant_super(session: &mut ReaderSession, name: &str, digest: &str, record: &ConnectionRecord) {
    let added = session
        .identities
        .iter()
        .any(|id| id.scheme == Id::SCHEME_DIGEST && id.id == digest);
    if !added {
        return;
    }
    match with_identity(&session.identities, Id::new(Id::SCHEME_SUPER, name)) {
        Ok(identities) => {
            session.handler.set_identities(identities.clone());
            session.identities = identities;
            tracing::info!(
                session_id = record.session_id.load(Ordering::Relaxed),
                %name,
                "super user by the super digest"
            );
        }
        Err(error) => tracing::warn!(%error, "cannot make the session super"),
    }
}

/// Answers one token of the client's SASL exchange: the next token, or AuthFailed (after which
/// the connection closes, as ZooKeeper closes it). Once the client has proved a user's password,
/// the session holds `sasl:USER` and the digest identity of `USER:password`, for this request's
/// successors.
fn sasl_reply(
    session: &mut ReaderSession,
    xid: i32,
    token: &[u8],
    context: &ZooKeeperContext,
    record: &ConnectionRecord,
) -> Reply {
    let session_id = record.session_id.load(Ordering::Relaxed);
    let answer = if context.sasl_users.is_empty() {
        Err("SASL is not configured on this node ([zookeeper] sasl_users)".to_string())
    } else {
        session
            .sasl
            .step(token, sasl_nonce, &context.sasl_users)
            .map_err(|error| error.to_string())
            .and_then(|step| match step {
                SaslStep::Challenge(challenge) => Ok(challenge),
                SaslStep::Authenticated {
                    user,
                    password,
                    token,
                } => {
                    let digest = wire::AddAuth {
                        scheme: Id::SCHEME_DIGEST.to_string(),
                        auth: format!("{user}:{password}").into_bytes(),
                    };
                    let identities = with_added_identity(&session.identities, &digest)
                        .and_then(|identities| {
                            with_identity(&identities, Id::new(Id::SCHEME_SASL, user.as_str()))
                        })
                        .map_err(|error| error.to_string())?;
                    session.handler.set_identities(identities.clone());
                    session.identities = identities;
                    tracing::info!(session_id, %user, "SASL authenticated");
                    Ok(token)
                }
            })
    };
    let header = |err: ErrorCode| ReplyHeader {
        xid,
        zxid: 0,
        err: err.as_i32(),
    };
    match answer {
        Ok(token) => Reply {
            header: header(ErrorCode::Ok),
            body: ReplyBody::Sasl(token),
        },
        Err(reason) => {
            metrics::counter!("polis_zookeeper_sasl_failures_total").increment(1);
            tracing::info!(session_id, %reason, "SASL authentication failed");
            Reply {
                header: header(ErrorCode::AuthFailed),
                body: ReplyBody::Empty,
            }
        }
    }
}

/// A fresh DIGEST-MD5 nonce: 16 random bytes in hex.
fn sasl_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Counts and logs a reply too large to send; the caller closes the connection.
fn refuse_too_large(record: &ConnectionRecord, reply_bytes_max: usize) {
    metrics::counter!("polis_zookeeper_replies_too_large_total").increment(1);
    tracing::warn!(
        session_id = record.session_id.load(Ordering::Relaxed),
        reply_bytes_max,
        "a reply is larger than the frame bound; closing the connection (the session survives)"
    );
}

/// Writes what the session's queue delivers, as jute frames, until the connection should close.
async fn write_replies<W: AsyncWrite + Unpin>(
    mut write_half: W,
    mut outbound_queue: OutboundQueue,
    mut pending: mpsc::Receiver<(Pending, Instant)>,
    record: &ConnectionRecord,
    context: &ZooKeeperContext,
) {
    // A reply may be as large as the largest frame a client may send: the largest node's data
    // and stat fit, as ZooKeeper's jute.maxbuffer bounds both directions alike.
    let reply_bytes_max = context.limits.frame_len_max;
    let mut assembler = ReplyAssembler::new(reply_bytes_max);
    // When the request being answered arrived.
    let mut replying_to: Option<Instant> = None;
    while let Some(queued) = outbound_queue.recv().await {
        let (frame, after) = match queued.message.body {
            Some(wire::server_message::Body::Event(event)) => {
                (translator::notification(&event), AfterReply::Continue)
            }
            Some(wire::server_message::Body::Response(response)) => {
                // The reader sent the Pending before the request that produced this response.
                let Some((reply, after)) = assembler.on_response(response, || {
                    pending.try_recv().ok().map(|(plan, arrived_at)| {
                        replying_to = Some(arrived_at);
                        plan
                    })
                }) else {
                    continue;
                };
                if let Some(arrived_at) = replying_to.take() {
                    context.latency.record(arrived_at.elapsed());
                }
                if after == AfterReply::TooLarge {
                    refuse_too_large(record, reply_bytes_max);
                    break;
                }
                let frame = encode_reply(&reply);
                if frame.len() > reply_bytes_max.saturating_add(FRAME_PREFIX_LEN) {
                    refuse_too_large(record, reply_bytes_max);
                    break;
                }
                (frame, after)
            }
            // ZooKeeper closes the connection of an expired session; the client reconnects and
            // learns of the expiry from the connect answer. A moved session is simply closed.
            Some(wire::server_message::Body::SessionEnded(_)) => break,
            Some(wire::server_message::Body::Connected(_)) | None => continue,
        };
        if write_half.write_all(&frame).await.is_err() {
            return;
        }
        record.sent.fetch_add(1, Ordering::Relaxed);
        context.packets_sent.fetch_add(1, Ordering::Relaxed);
        if after == AfterReply::Close {
            break;
        }
    }
    let _ = write_half.shutdown().await;
}
