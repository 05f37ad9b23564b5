//! Recognising a refused certificate in quinn's errors.
//!
//! When a TLS handshake fails inside QUIC, the side that failed closes the connection with the
//! CRYPTO_ERROR transport code `0x100 + alert`. The peer that refused sees its own alert as a
//! [`quinn::ConnectionError::TransportError`]; the peer that was refused receives it as a
//! [`quinn::ConnectionError::ConnectionClosed`]. Both carry the alert, so both are recognised.
//!
//! In TLS 1.3 the client finishes its handshake before the server has checked the client's
//! certificate, so a client whose certificate the server refuses sees a successful connect and
//! learns of the refusal only from its first stream operation, typically the first read. Callers
//! should therefore check stream errors too, and treat a rejection as an authentication failure
//! rather than something to retry.

use rustls::AlertDescription;

/// The first TLS alert code inside QUIC's CRYPTO_ERROR range (RFC 9001 §4.8).
const CRYPTO_ERROR_BASE: u64 = 0x100;

/// Whether a connection ended because one side refused the other's certificate.
pub fn is_certificate_rejection(error: &quinn::ConnectionError) -> bool {
    error.is_certificate_rejection()
}

/// An error that may report a refused certificate.
pub trait CertificateRejection {
    /// The TLS alert that refused a certificate, if that is why the connection ended.
    fn certificate_rejection_alert(&self) -> Option<AlertDescription>;

    /// Whether the connection ended because one side refused the other's certificate: the
    /// server refused the client's (for example `certificate_required` for none at all, or
    /// `unknown_ca` for one from another CA) or the client refused the server's.
    fn is_certificate_rejection(&self) -> bool {
        self.certificate_rejection_alert().is_some()
    }
}

impl CertificateRejection for quinn::ConnectionError {
    fn certificate_rejection_alert(&self) -> Option<AlertDescription> {
        let code = match self {
            quinn::ConnectionError::ConnectionClosed(close) => close.error_code,
            quinn::ConnectionError::TransportError(error) => error.code,
            _ => return None,
        };
        let alert = u64::from(code).checked_sub(CRYPTO_ERROR_BASE)?;
        let alert = AlertDescription::from(u8::try_from(alert).ok()?);
        is_certificate_alert(alert).then_some(alert)
    }
}

impl CertificateRejection for quinn::ReadError {
    fn certificate_rejection_alert(&self) -> Option<AlertDescription> {
        match self {
            quinn::ReadError::ConnectionLost(error) => error.certificate_rejection_alert(),
            _ => None,
        }
    }
}

impl CertificateRejection for quinn::ReadToEndError {
    fn certificate_rejection_alert(&self) -> Option<AlertDescription> {
        match self {
            quinn::ReadToEndError::Read(error) => error.certificate_rejection_alert(),
            quinn::ReadToEndError::TooLong => None,
        }
    }
}

impl CertificateRejection for quinn::ReadExactError {
    fn certificate_rejection_alert(&self) -> Option<AlertDescription> {
        match self {
            quinn::ReadExactError::ReadError(error) => error.certificate_rejection_alert(),
            quinn::ReadExactError::FinishedEarly(_) => None,
        }
    }
}

impl CertificateRejection for quinn::WriteError {
    fn certificate_rejection_alert(&self) -> Option<AlertDescription> {
        match self {
            quinn::WriteError::ConnectionLost(error) => error.certificate_rejection_alert(),
            _ => None,
        }
    }
}

/// Whether an alert means that a certificate was refused.
///
/// `decrypt_error` is included because rustls sends it when a certificate's signature does not
/// verify; `handshake_failure` is not, because it means the two sides share no parameters.
fn is_certificate_alert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
            | AlertDescription::BadCertificateStatusResponse
            | AlertDescription::CertificateRequired
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_with(code: quinn::TransportErrorCode) -> quinn::ConnectionError {
        quinn::ConnectionError::ConnectionClosed(quinn::ConnectionClose {
            error_code: code,
            frame_type: None,
            reason: Default::default(),
        })
    }

    #[test]
    fn certificate_alerts_from_the_peer_are_rejections() {
        for alert in [42u8, 43, 44, 45, 46, 48, 49, 51, 113, 116] {
            let error = closed_with(quinn::TransportErrorCode::crypto(alert));
            assert!(is_certificate_rejection(&error), "alert {alert}");
        }
    }

    #[test]
    fn other_closes_are_not_rejections() {
        // handshake_failure, no_application_protocol and a plain protocol violation.
        for alert in [40u8, 120] {
            let error = closed_with(quinn::TransportErrorCode::crypto(alert));
            assert!(!is_certificate_rejection(&error), "alert {alert}");
        }
        let error = closed_with(quinn::TransportErrorCode::PROTOCOL_VIOLATION);
        assert!(!is_certificate_rejection(&error));
        assert!(!is_certificate_rejection(&quinn::ConnectionError::TimedOut));
        assert!(!is_certificate_rejection(
            &quinn::ConnectionError::LocallyClosed
        ));
    }

    #[test]
    fn stream_errors_carry_the_connection_rejection() {
        let error = closed_with(quinn::TransportErrorCode::crypto(116));
        let read = quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(error.clone()));
        assert_eq!(
            read.certificate_rejection_alert(),
            Some(AlertDescription::CertificateRequired)
        );
        assert!(quinn::WriteError::ConnectionLost(error).is_certificate_rejection());
        assert!(!quinn::WriteError::ClosedStream.is_certificate_rejection());
    }
}
