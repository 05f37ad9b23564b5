//! Shared harness for the QUIC tests: a server that reports each peer's identity and answers every
//! stream with that identity's subject, and a client that makes one such round trip.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use polis_security::{CertificateRejection, Identity};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The ALPN protocol the tests speak.
pub const ALPN: &[u8] = b"polis-test/1";

/// The bound on every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The server name clients dial, which every node certificate carries.
pub const SERVER_NAME: &str = "localhost";

pub fn alpn() -> Vec<Vec<u8>> {
    vec![ALPN.to_vec()]
}

/// What the server saw of one incoming connection.
pub type HandshakeOutcome = Result<Identity, quinn::ConnectionError>;

/// A QUIC server on 127.0.0.1 that accepts connections until dropped.
pub struct TestServer {
    pub endpoint: quinn::Endpoint,
    pub address: SocketAddr,
    pub outcomes: mpsc::UnboundedReceiver<HandshakeOutcome>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.endpoint.close(0u32.into(), b"test over");
    }
}

impl TestServer {
    pub fn start(config: quinn::ServerConfig) -> TestServer {
        let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().expect("address"))
            .expect("bind the server endpoint");
        let address = endpoint.local_addr().expect("server address");
        let (reports, outcomes) = mpsc::unbounded_channel();
        let accepting = endpoint.clone();
        let acceptor = tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let reports = reports.clone();
                tokio::spawn(async move {
                    let connection = match incoming.await {
                        Ok(connection) => connection,
                        Err(error) => {
                            let _ = reports.send(Err(error));
                            return;
                        }
                    };
                    let identity = Identity::from_connection(&connection)
                        .expect("the server config verified a client certificate");
                    let _ = reports.send(Ok(identity.clone()));
                    serve(connection, identity).await;
                });
            }
        });
        TestServer {
            endpoint,
            address,
            outcomes,
            acceptor,
        }
    }

    /// The next connection's handshake outcome as the server saw it.
    pub async fn next_outcome(&mut self) -> HandshakeOutcome {
        timeout(DEADLINE, self.outcomes.recv())
            .await
            .expect("the server saw a connection in time")
            .expect("the acceptor is running")
    }
}

/// Answers each stream with the peer's subject until the connection ends.
async fn serve(connection: quinn::Connection, identity: Identity) {
    while let Ok((mut send, mut receive)) = connection.accept_bi().await {
        if receive.read_to_end(1024).await.is_err() {
            return;
        }
        if send.write_all(identity.subject().as_bytes()).await.is_err() {
            return;
        }
        let _ = send.finish();
    }
}

/// A client endpoint on 127.0.0.1.
pub fn client_endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("bind a client")
}

/// The step of a round trip that failed, with its error.
#[derive(Debug)]
pub enum ClientFailure {
    Handshake(quinn::ConnectionError),
    OpenStream(quinn::ConnectionError),
    Write(quinn::WriteError),
    Finish(quinn::ClosedStream),
    Read(quinn::ReadToEndError),
}

impl ClientFailure {
    pub fn is_certificate_rejection(&self) -> bool {
        match self {
            ClientFailure::Handshake(error) | ClientFailure::OpenStream(error) => {
                error.is_certificate_rejection()
            }
            ClientFailure::Write(error) => error.is_certificate_rejection(),
            ClientFailure::Finish(_) => false,
            ClientFailure::Read(error) => error.is_certificate_rejection(),
        }
    }
}

/// Connects to `address` and returns the connection once the handshake finishes.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    address: SocketAddr,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let connecting = endpoint
        .connect_with(config, address, SERVER_NAME)
        .expect("start connecting");
    timeout(DEADLINE, connecting)
        .await
        .expect("the handshake ended in time")
}

/// Sends a request on a new stream and returns the server's answer: the subject it saw.
pub async fn ask_subject(connection: &quinn::Connection) -> Result<String, ClientFailure> {
    let exchange = async {
        let (mut send, mut receive) = connection
            .open_bi()
            .await
            .map_err(ClientFailure::OpenStream)?;
        send.write_all(b"who am i")
            .await
            .map_err(ClientFailure::Write)?;
        send.finish().map_err(ClientFailure::Finish)?;
        let answer = receive
            .read_to_end(1024)
            .await
            .map_err(ClientFailure::Read)?;
        Ok(String::from_utf8(answer).expect("the subject is UTF-8"))
    };
    timeout(DEADLINE, exchange)
        .await
        .expect("the exchange ended in time")
}

/// Connects and makes one round trip, returning the connection and the subject the server saw.
pub async fn round_trip(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    address: SocketAddr,
) -> Result<(quinn::Connection, String), ClientFailure> {
    let connection = connect(endpoint, config, address)
        .await
        .map_err(ClientFailure::Handshake)?;
    let subject = ask_subject(&connection).await?;
    Ok((connection, subject))
}
