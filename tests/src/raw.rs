//! A frame-level client, for testing the wire protocol itself.

use std::net::SocketAddr;
use std::time::Duration;

use polis_proto::{FRAME_LEN_MAX_DEFAULT, read_frame, wire, write_frame};
use polis_security::{TlsFiles, TransportTimeouts, quinn_client_config};
use tokio::io::BufReader;

/// How long a test waits for any one message before it fails.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection with its session stream.
#[derive(Debug)]
pub struct RawSession {
    pub endpoint: quinn::Endpoint,
    pub connection: quinn::Connection,
    pub send: quinn::SendStream,
    pub receive: BufReader<quinn::RecvStream>,
    pub connected: wire::Connected,
    next_xid: u64,
}

/// A client endpoint on 127.0.0.1 that presents `files`.
pub fn client_endpoint(files: &TlsFiles) -> quinn::Endpoint {
    let config = quinn_client_config(
        files,
        &[polis_proto::ALPN_CLIENT.to_vec()],
        &TransportTimeouts::default(),
    )
    .expect("client TLS config");
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client endpoint");
    endpoint.set_default_client_config(config);
    endpoint
}

impl RawSession {
    /// Connects and opens a new session (or resumes one, if `connect` names it).
    pub async fn connect(
        server: SocketAddr,
        files: &TlsFiles,
        connect: wire::Connect,
    ) -> anyhow::Result<RawSession> {
        let endpoint = client_endpoint(files);
        RawSession::connect_with(endpoint, server, connect).await
    }

    pub async fn connect_with(
        endpoint: quinn::Endpoint,
        server: SocketAddr,
        connect: wire::Connect,
    ) -> anyhow::Result<RawSession> {
        let connection = endpoint.connect(server, "localhost")?.await?;
        let (mut send, receive) = connection.open_bi().await?;
        let mut receive = BufReader::new(receive);
        let hello = wire::ClientMessage {
            body: Some(wire::client_message::Body::Connect(connect)),
        };
        write_frame(&mut send, &hello, FRAME_LEN_MAX_DEFAULT).await?;
        let reply: wire::ServerMessage = tokio::time::timeout(
            MESSAGE_TIMEOUT,
            read_frame(&mut receive, FRAME_LEN_MAX_DEFAULT),
        )
        .await??
        .ok_or_else(|| anyhow::anyhow!("the server closed the stream"))?;
        let Some(wire::server_message::Body::Connected(connected)) = reply.body else {
            anyhow::bail!("expected Connected, got {reply:?}");
        };
        Ok(RawSession {
            endpoint,
            connection,
            send,
            receive,
            connected,
            next_xid: 1,
        })
    }

    /// A new session with the given timeout.
    pub fn new_session(session_timeout_ms: i32) -> wire::Connect {
        wire::Connect {
            protocol_version: polis_proto::PROTOCOL_VERSION,
            session_timeout_ms,
            ..wire::Connect::default()
        }
    }

    /// Sends one request; returns its xid.
    pub async fn send(&mut self, op: wire::request::Op) -> anyhow::Result<u64> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let message = wire::ClientMessage {
            body: Some(wire::client_message::Body::Request(wire::Request {
                xid,
                op: Some(op),
                allow_stale: false,
            })),
        };
        write_frame(&mut self.send, &message, FRAME_LEN_MAX_DEFAULT).await?;
        Ok(xid)
    }

    /// Writes raw bytes on the session stream, for malformed-input tests.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.send.write_all(bytes).await?;
        Ok(())
    }

    /// The next message from the server, or an error if none comes in time.
    pub async fn next(&mut self) -> anyhow::Result<wire::ServerMessage> {
        let message = tokio::time::timeout(
            MESSAGE_TIMEOUT,
            read_frame(&mut self.receive, FRAME_LEN_MAX_DEFAULT),
        )
        .await??;
        message.ok_or_else(|| anyhow::anyhow!("the server closed the stream"))
    }

    /// Sends a request and returns its response, collecting the watch events that arrived first.
    pub async fn call(
        &mut self,
        op: wire::request::Op,
    ) -> anyhow::Result<(wire::Response, Vec<wire::WatchEvent>)> {
        let xid = self.send(op).await?;
        let mut events = Vec::new();
        loop {
            match self.next().await?.body {
                Some(wire::server_message::Body::Response(response)) => {
                    anyhow::ensure!(
                        response.xid == xid,
                        "response {} for request {xid}",
                        response.xid
                    );
                    return Ok((response, events));
                }
                Some(wire::server_message::Body::Event(event)) => events.push(event),
                other => anyhow::bail!("unexpected message {other:?}"),
            }
        }
    }

    pub fn session_id(&self) -> i64 {
        self.connected.session_id
    }
}

/// Shorthands for requests.
pub mod op {
    use polis_proto::wire::{self, request::Op};

    pub fn create(path: &str, data: &[u8], mode: wire::CreateMode) -> Op {
        Op::Create(wire::Create {
            path: path.to_string(),
            data: data.to_vec(),
            // Open to everyone: the native protocol refuses an empty ACL.
            acl: polis_tree::Acl::open()
                .iter()
                .map(polis_proto::convert::acl_to_wire)
                .collect(),
            mode: mode as i32,
            ttl_ms: 0,
            null_data: false,
        })
    }

    pub fn get_data(path: &str, watch: bool) -> Op {
        Op::GetData(wire::GetData {
            path: path.to_string(),
            watch,
        })
    }

    pub fn set_data(path: &str, data: &[u8]) -> Op {
        Op::SetData(wire::SetData {
            path: path.to_string(),
            data: data.to_vec(),
            version: -1,
            null_data: false,
        })
    }

    pub fn exists(path: &str, watch: bool) -> Op {
        Op::Exists(wire::Exists {
            path: path.to_string(),
            watch,
        })
    }

    pub fn delete(path: &str) -> Op {
        Op::Delete(wire::Delete {
            path: path.to_string(),
            version: -1,
        })
    }

    pub fn ping() -> Op {
        Op::Ping(wire::Ping {})
    }
}
