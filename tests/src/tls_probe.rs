//! Probes that ask one thing of a node's TLS face: does it let this certificate in?
//!
//! In TLS 1.3 the client finishes its handshake before the server has checked the client's
//! certificate, so a refusal shows only when the client next reads. Each probe therefore
//! completes the handshake, sends a few bytes and reads: an answer of any kind (even a refusal of
//! the bytes) means the certificate was let in; a TLS alert means it was not. A probe whose own
//! side refuses the node's certificate reports that as an error, since it says nothing about the
//! node.

use std::net::SocketAddr;
use std::sync::Arc;

use polis_security::{CertificateRejection, TlsFiles, TransportTimeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::DEADLINE;

/// The name the test nodes' certificates are issued for.
const NODE_SERVER_NAME: &str = "localhost";

/// Whether the Raft peer endpoint at `address` lets in a peer presenting `files`' certificate.
pub async fn peer_endpoint_admits(address: SocketAddr, files: &TlsFiles) -> Result<bool, String> {
    let config = polis_security::quinn_client_config(
        files,
        &[polis_raft::network::PEER_ALPN.to_vec()],
        &TransportTimeouts::default(),
    )
    .map_err(|error| error.to_string())?;
    let endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|error| error.to_string())?;
    let exchange = async {
        let connection = endpoint
            .connect_with(config, address, NODE_SERVER_NAME)
            .map_err(|error| error.to_string())?
            .await
            .map_err(|error| format!("the probe's handshake failed: {error}"))?;
        // Bytes that are no peer RPC: a node that let the certificate in answers them with an
        // error of its own, never with a TLS alert.
        let read = async {
            let (mut send, mut recv) = connection.open_bi().await?;
            send.write_all(b"probe").await?;
            send.finish()?;
            recv.read_to_end(64 * 1024).await?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        let refused = read.is_err()
            && connection
                .close_reason()
                .is_some_and(|reason| reason.is_certificate_rejection());
        connection.close(0u32.into(), b"probe done");
        Ok(!refused)
    };
    let admitted = tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| "the peer endpoint did not answer in time".to_string())?;
    endpoint.close(0u32.into(), b"probe done");
    admitted
}

/// Whether the ZooKeeper TLS face at `address` lets in a client presenting `files`' certificate.
/// It asks `ruok`, which the node must answer (see its `four_letter_words`).
pub async fn zookeeper_tls_admits(address: SocketAddr, files: &TlsFiles) -> Result<bool, String> {
    let crypto = polis_security::client_crypto(files, &[]).map_err(|error| error.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(crypto));
    let server_name = rustls::pki_types::ServerName::try_from(NODE_SERVER_NAME)
        .map_err(|error| error.to_string())?;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|error| error.to_string())?;
        let mut stream = connector
            .connect(server_name, stream)
            .await
            .map_err(|error| format!("the probe's handshake failed: {error}"))?;
        let answer = async {
            stream.write_all(b"ruok").await?;
            stream.flush().await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        }
        .await;
        match answer {
            Ok(answer) if answer == b"imok" => Ok(true),
            Ok(answer) => Err(format!(
                "unexpected answer to ruok: {:?}",
                String::from_utf8_lossy(&answer)
            )),
            Err(error) if is_tls_alert(&error) => Ok(false),
            Err(error) => Err(format!("reading the answer: {error}")),
        }
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| "the ZooKeeper face did not answer in time".to_string())?
}

/// Whether an I/O error is the peer's TLS alert (a refused certificate, here).
fn is_tls_alert(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|error| matches!(error, rustls::Error::AlertReceived(_)))
}
