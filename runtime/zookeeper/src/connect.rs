//! The session handshake: `ConnectRequest` from the client, `ConnectResponse` from the server.

use crate::{DecodeError, JuteLimits, JuteReader, JuteWriter};

/// A client's first frame: open a new session (`session_id` 0) or resume one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    /// 0 for every client ZooKeeper has shipped.
    pub protocol_version: i32,
    /// The highest zxid the client has seen; a server behind it must refuse the client.
    pub last_zxid_seen: i64,
    /// The session timeout the client asks for.
    pub timeout_ms: i32,
    pub session_id: i64,
    /// The session's password when resuming (16 bytes; zeros for a new session).
    pub password: Vec<u8>,
    /// Whether the client accepts a read-only server. Clients since 3.4 send it after the record;
    /// older ones end the frame before it, and are then answered without it.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = JuteWriter::new();
        writer.write_int(self.protocol_version);
        writer.write_long(self.last_zxid_seen);
        writer.write_int(self.timeout_ms);
        writer.write_long(self.session_id);
        writer.write_buffer(&self.password);
        if let Some(read_only) = self.read_only {
            writer.write_bool(read_only);
        }
        writer.finish()
    }
}

/// Decodes a connect request from one frame (without its length prefix).
pub fn decode_connect(frame: &[u8], limits: &JuteLimits) -> Result<ConnectRequest, DecodeError> {
    let mut reader = JuteReader::new(frame);
    let protocol_version = reader.read_int("connect.protocolVersion")?;
    let last_zxid_seen = reader.read_long("connect.lastZxidSeen")?;
    let timeout_ms = reader.read_int("connect.timeOut")?;
    let session_id = reader.read_long("connect.sessionId")?;
    let password = reader.read_buffer(
        "connect.passwd",
        "password_len_max",
        limits.password_len_max,
    )?;
    // As ZooKeeper's `ZooKeeperServer.processConnectRequest`: the flag is read if present.
    let read_only = if reader.is_empty() {
        None
    } else {
        Some(reader.read_bool("connect.readOnly")?)
    };
    Ok(ConnectRequest {
        protocol_version,
        last_zxid_seen,
        timeout_ms,
        session_id,
        password,
        read_only,
    })
}

/// The server's answer to a connect request. A `timeout_ms` of 0 tells the client its session
/// expired (ZooKeeper then closes the connection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    /// Sent back only to a client that sent the flag, as ZooKeeper does (`isOldClient`).
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The length of the password ZooKeeper clients keep (`byte[16]`).
    pub const PASSWORD_LEN: usize = 16;

    /// The answer for a session that cannot be resumed: ZooKeeper's `finishSessionInit` with
    /// `valid = false` sends timeout 0, session 0 and a zero password.
    pub fn expired(read_only: Option<bool>) -> ConnectResponse {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: 0,
            password: vec![0; Self::PASSWORD_LEN],
            read_only: read_only.map(|_| false),
        }
    }

    /// The whole frame, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = JuteWriter::new();
        writer.write_int(self.protocol_version);
        writer.write_int(self.timeout_ms);
        writer.write_long(self.session_id);
        writer.write_buffer(&self.password);
        if let Some(read_only) = self.read_only {
            writer.write_bool(read_only);
        }
        writer.finish()
    }

    /// Decodes a response frame (without its prefix), as a client would.
    pub fn decode(frame: &[u8], limits: &JuteLimits) -> Result<ConnectResponse, DecodeError> {
        let mut reader = JuteReader::new(frame);
        let protocol_version = reader.read_int("connect.protocolVersion")?;
        let timeout_ms = reader.read_int("connect.timeOut")?;
        let session_id = reader.read_long("connect.sessionId")?;
        let password = reader.read_buffer(
            "connect.passwd",
            "password_len_max",
            limits.password_len_max,
        )?;
        let read_only = if reader.is_empty() {
            None
        } else {
            Some(reader.read_bool("connect.readOnly")?)
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_request_without_the_read_only_flag_decodes() {
        let request = ConnectRequest {
            timeout_ms: 30_000,
            password: vec![0; 16],
            read_only: None,
            ..ConnectRequest::default()
        };
        let frame = request.encode();
        let decoded = decode_connect(&frame[4..], &JuteLimits::default()).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn a_connect_request_with_the_read_only_flag_decodes() {
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 77,
            timeout_ms: 10_000,
            session_id: 0x1234,
            password: vec![7; 16],
            read_only: Some(true),
        };
        let frame = request.encode();
        assert_eq!(
            decode_connect(&frame[4..], &JuteLimits::default()),
            Ok(request)
        );
    }

    #[test]
    fn an_oversize_password_is_refused() {
        let request = ConnectRequest {
            password: vec![1; 65],
            ..ConnectRequest::default()
        };
        let frame = request.encode();
        assert!(matches!(
            decode_connect(&frame[4..], &JuteLimits::default()),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn an_expired_answer_has_timeout_zero_and_a_zero_password() {
        let frame = ConnectResponse::expired(Some(false)).encode();
        let decoded = ConnectResponse::decode(&frame[4..], &JuteLimits::default()).unwrap();
        assert_eq!(decoded.timeout_ms, 0);
        assert_eq!(decoded.password, vec![0; 16]);
        assert_eq!(decoded.read_only, Some(false));
    }
}
