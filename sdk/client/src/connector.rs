//! Opening one connection to one server: QUIC with mutual TLS, the session stream, and the
//! `Connect` / `Connected` handshake.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use polis_proto::wire;
use polis_proto::wire::client_message::Body as ClientBody;
use polis_proto::wire::server_message::Body as ServerBody;
use polis_proto::{FrameError, PROTOCOL_VERSION, read_frame, write_frame};
use polis_security::{CertificateRejection, TransportTimeouts, is_certificate_rejection};
use polis_tree::ErrorCode;
use quinn::{Connection, Endpoint, RecvStream, SendStream};

use crate::{ClientConfig, Error};

/// How long a stopping client waits for its connections' closes to be sent.
const ENDPOINT_DRAIN_MAX: Duration = Duration::from_secs(1);

/// A connection whose session handshake succeeded.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) connection: Connection,
    pub(crate) send: SendStream,
    pub(crate) recv: RecvStream,
    pub(crate) connected: wire::Connected,
    pub(crate) server: SocketAddr,
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandshakeError {
    /// This server could not be used now; another server (or this one later) may work.
    Unreachable(String),
    /// The server says the session to resume no longer exists.
    Expired,
    /// The server refused this client's certificate or session password. Every server of the
    /// ensemble trusts the same CA and shares the session table, so trying another is pointless.
    Auth(String),
    /// The server was reached but could not settle the session now: the leadership changed
    /// while the session was being opened (ZooKeeper's ConnectionLoss), or no leader answered in
    /// time. The same servers are worth another round shortly; a new session that was committed
    /// after all is never used and expires on its own.
    Unsettled(String),
}

/// Opens connections to the servers of one ensemble with one TLS identity.
#[derive(Debug)]
pub(crate) struct Connector {
    quic: quinn::ClientConfig,
    server_name: String,
    frame_len_max: usize,
    connect_timeout: Duration,
    endpoint_v4: Option<Endpoint>,
    endpoint_v6: Option<Endpoint>,
}

impl Connector {
    /// Reads the TLS files and builds the QUIC configuration; nothing is sent yet.
    pub(crate) fn new(config: &ClientConfig) -> Result<Connector, Error> {
        let alpn = [polis_proto::ALPN_CLIENT.to_vec()];
        let quic =
            polis_security::quinn_client_config(&config.tls, &alpn, &TransportTimeouts::default())
                .map_err(|error| Error::InvalidConfig(format!("TLS: {error}")))?;
        Ok(Connector {
            quic,
            server_name: config.server_name.clone(),
            frame_len_max: config.frame_len_max,
            connect_timeout: config.connect_timeout(),
            endpoint_v4: None,
            endpoint_v6: None,
        })
    }

    /// Connects to `server` and opens or resumes the session `connect` describes, within the
    /// connect timeout.
    pub(crate) async fn establish(
        &mut self,
        server: SocketAddr,
        connect: wire::Connect,
    ) -> Result<Established, HandshakeError> {
        self.establish_within(server, connect, self.connect_timeout)
            .await
    }

    /// [`Connector::establish`], within `within` if that is shorter than the connect timeout.
    pub(crate) async fn establish_within(
        &mut self,
        server: SocketAddr,
        connect: wire::Connect,
        within: Duration,
    ) -> Result<Established, HandshakeError> {
        let connect_timeout = self.connect_timeout.min(within);
        let endpoint = self.endpoint_for(server)?;
        let handshake = handshake(
            endpoint,
            self.quic.clone(),
            server,
            &self.server_name,
            connect,
            self.frame_len_max,
        );
        match tokio::time::timeout(connect_timeout, handshake).await {
            Ok(outcome) => outcome,
            Err(_) => Err(HandshakeError::Unreachable(format!(
                "{server}: no session within {} ms",
                connect_timeout.as_millis()
            ))),
        }
    }

    /// Lets the endpoints send the close of every connection before their sockets go away.
    ///
    /// A closed QUIC connection lingers in a draining state; dropping the endpoint at once would
    /// drop the `CONNECTION_CLOSE` with it, and the server would hold the connection until its idle
    /// timeout. The wait is bounded, since a server that does not answer has nothing to wait for.
    pub(crate) async fn shutdown(&mut self) {
        for endpoint in [self.endpoint_v4.take(), self.endpoint_v6.take()]
            .into_iter()
            .flatten()
        {
            endpoint.close(0u32.into(), b"client closed");
            if tokio::time::timeout(ENDPOINT_DRAIN_MAX, endpoint.wait_idle())
                .await
                .is_err()
            {
                tracing::debug!("connections still draining when the client stopped");
            }
        }
    }

    /// The local endpoint for the server's address family, bound on first use. One endpoint
    /// (one UDP socket) serves every connection of the family, as quinn intends.
    fn endpoint_for(&mut self, server: SocketAddr) -> Result<Endpoint, HandshakeError> {
        let (slot, bind) = if server.is_ipv4() {
            (
                &mut self.endpoint_v4,
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            )
        } else {
            (
                &mut self.endpoint_v6,
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            )
        };
        if let Some(endpoint) = slot {
            return Ok(endpoint.clone());
        }
        let endpoint = Endpoint::client(bind).map_err(|error| {
            HandshakeError::Unreachable(format!("cannot bind a UDP socket on {bind}: {error}"))
        })?;
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }
}

async fn handshake(
    endpoint: Endpoint,
    quic: quinn::ClientConfig,
    server: SocketAddr,
    server_name: &str,
    connect: wire::Connect,
    frame_len_max: usize,
) -> Result<Established, HandshakeError> {
    let unreachable = |what: String| HandshakeError::Unreachable(format!("{server}: {what}"));
    let connecting = endpoint
        .connect_with(quic, server, server_name)
        .map_err(|error| unreachable(format!("cannot start QUIC: {error}")))?;
    let connection = connecting.await.map_err(|error| {
        if is_certificate_rejection(&error) {
            HandshakeError::Auth(format!("{server}: TLS handshake refused: {error}"))
        } else {
            unreachable(format!("QUIC handshake failed: {error}"))
        }
    })?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|error| rejection_or(&connection, unreachable(format!("no stream: {error}"))))?;
    let message = wire::ClientMessage {
        body: Some(ClientBody::Connect(connect)),
    };
    if let Err(error) = write_frame(&mut send, &message, frame_len_max).await {
        return Err(frame_failure(&connection, &error, server));
    }
    // In TLS 1.3 the server checks the client's certificate after the client considers the
    // handshake done, so a refused certificate shows up here, on the first read.
    let answer: Option<wire::ServerMessage> = read_frame(&mut recv, frame_len_max)
        .await
        .map_err(|error| frame_failure(&connection, &error, server))?;
    let Some(answer) = answer else {
        return Err(rejection_or(
            &connection,
            unreachable("the server closed the stream without answering".into()),
        ));
    };
    match answer.body {
        Some(ServerBody::Connected(connected)) => {
            check_connected(&connected, server)?;
            Ok(Established {
                connection,
                send,
                recv,
                connected,
                server,
            })
        }
        Some(ServerBody::SessionEnded(ended)) => Err(session_ended(&ended, server)),
        Some(ServerBody::Response(_) | ServerBody::Event(_)) | None => {
            Err(unreachable("the first message was not Connected".into()))
        }
    }
}

/// Sorts the server's answer to `Connect` into success, expiry, refusal and "try elsewhere".
fn check_connected(connected: &wire::Connected, server: SocketAddr) -> Result<(), HandshakeError> {
    let code = polis_proto::convert::error_code_from_wire(connected.error_code);
    match code {
        ErrorCode::Ok if connected.protocol_version == PROTOCOL_VERSION => Ok(()),
        ErrorCode::Ok => Err(HandshakeError::Unreachable(format!(
            "{server}: speaks protocol version {}, this client {PROTOCOL_VERSION}",
            connected.protocol_version
        ))),
        ErrorCode::SessionExpired => Err(HandshakeError::Expired),
        ErrorCode::AuthFailed => Err(HandshakeError::Auth(format!(
            "{server}: session refused: {}",
            connected.error_message
        ))),
        ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout => Err(HandshakeError::Unsettled(
            format!("{server}: {code:?}: {}", connected.error_message),
        )),
        // Anything else (a server behind the client's last zxid, one not serving yet, a version
        // it does not speak) is particular to this server; another may accept the session.
        _ => Err(HandshakeError::Unreachable(format!(
            "{server}: {code:?}: {}",
            connected.error_message
        ))),
    }
}

pub(crate) fn session_ended(ended: &wire::SessionEnded, server: SocketAddr) -> HandshakeError {
    match polis_proto::convert::error_code_from_wire(ended.error_code) {
        ErrorCode::SessionExpired => HandshakeError::Expired,
        code => HandshakeError::Unreachable(format!(
            "{server}: session ended: {code:?}: {}",
            ended.reason
        )),
    }
}

/// A read or write failure during the handshake: a refused certificate if the connection says
/// so, otherwise a server to skip.
fn frame_failure(
    connection: &Connection,
    error: &FrameError,
    server: SocketAddr,
) -> HandshakeError {
    if let FrameError::Io(io) = error {
        let inner = io.get_ref();
        let rejected = inner
            .and_then(|inner| inner.downcast_ref::<quinn::ReadError>())
            .is_some_and(CertificateRejection::is_certificate_rejection)
            || inner
                .and_then(|inner| inner.downcast_ref::<quinn::WriteError>())
                .is_some_and(CertificateRejection::is_certificate_rejection);
        if rejected {
            return HandshakeError::Auth(format!("{server}: certificate refused: {error}"));
        }
    }
    rejection_or(
        connection,
        HandshakeError::Unreachable(format!("{server}: {error}")),
    )
}

/// `otherwise`, unless the connection was closed because a certificate was refused.
fn rejection_or(connection: &Connection, otherwise: HandshakeError) -> HandshakeError {
    match connection.close_reason() {
        Some(reason) if is_certificate_rejection(&reason) => {
            HandshakeError::Auth(format!("certificate refused: {reason}"))
        }
        // The handshake passed but the server found no usable identity in the certificate.
        Some(quinn::ConnectionError::ApplicationClosed(close))
            if close.error_code
                == quinn::VarInt::from_u32(polis_proto::close_code::NOT_AUTHENTICATED) =>
        {
            HandshakeError::Auth(format!(
                "certificate refused: {}",
                String::from_utf8_lossy(&close.reason)
            ))
        }
        _ => otherwise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(error_code: ErrorCode, protocol_version: u32) -> wire::Connected {
        wire::Connected {
            protocol_version,
            error_code: error_code.as_i32(),
            error_message: "why".into(),
            ..Default::default()
        }
    }

    #[test]
    fn connected_answers_are_sorted() {
        let server: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            check_connected(&connected(ErrorCode::Ok, PROTOCOL_VERSION), server),
            Ok(())
        );
        assert!(matches!(
            check_connected(&connected(ErrorCode::Ok, PROTOCOL_VERSION + 1), server),
            Err(HandshakeError::Unreachable(_))
        ));
        assert_eq!(
            check_connected(
                &connected(ErrorCode::SessionExpired, PROTOCOL_VERSION),
                server
            ),
            Err(HandshakeError::Expired)
        );
        assert!(matches!(
            check_connected(&connected(ErrorCode::AuthFailed, PROTOCOL_VERSION), server),
            Err(HandshakeError::Auth(_))
        ));
        assert!(matches!(
            check_connected(
                &connected(ErrorCode::BadArguments, PROTOCOL_VERSION),
                server
            ),
            Err(HandshakeError::Unreachable(_))
        ));
    }

    #[test]
    fn a_session_caught_in_a_leader_change_is_worth_another_round() {
        let server: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for code in [ErrorCode::ConnectionLoss, ErrorCode::OperationTimeout] {
            assert!(matches!(
                check_connected(&connected(code, PROTOCOL_VERSION), server),
                Err(HandshakeError::Unsettled(_))
            ));
        }
    }
}
