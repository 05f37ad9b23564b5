//! The authenticated identity of a peer: the subject of its verified client certificate.

use std::any::Any;
use std::fmt::{self, Write};

use rustls::pki_types::CertificateDer;
use x509_parser::asn1_rs::ToDer;
use x509_parser::oid_registry::{
    OID_DOMAIN_COMPONENT, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME,
    OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_STATE_OR_PROVINCE_NAME,
    OID_X509_STREET_ADDRESS, Oid,
};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The ACL scheme under which certificate identities are checked.
pub const ACL_SCHEME: &str = "x509";

/// Why a peer's identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The peer presented no certificate (or the handshake has not finished).
    #[error("the peer presented no certificate")]
    NoPeerCertificate,
    /// The connection's peer identity is not a rustls certificate chain, which means the
    /// connection was not made with this crate's TLS configuration.
    #[error("the peer identity is not a certificate chain")]
    UnexpectedPeerIdentity,
    /// The end-entity certificate could not be parsed.
    #[error("cannot parse the peer certificate: {0}")]
    InvalidCertificate(String),
}

/// An authenticated peer, named by the subject of its end-entity certificate.
///
/// The subject is rendered canonically as an RFC 4514 string without optional spaces: relative
/// distinguished names in reverse certificate order (most specific first) joined by `,`,
/// multi-valued ones joined by `+`, attribute types as `CN`, `L`, `ST`, `O`, `OU`, `C`,
/// `STREET`, `DC` or `UID` and otherwise as a dotted OID. String values are escaped as RFC 4514
/// §2.4 requires (plus `\XX` for control characters); values that are not strings are written as
/// `#` and the hex of their DER encoding. A Polis client certificate thus reads `CN=alice,O=Polis`
/// and a node certificate `CN=n1,OU=node,O=Polis`.
///
/// Only a connection whose TLS configuration verified the certificate against the CA may be
/// turned into an identity; the server configuration of this crate always does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    subject: String,
    common_name: Option<String>,
    /// The organizational units of the subject, each as parsed from the certificate (not split
    /// out of the rendered subject, where an escaped comma inside another value could fake one).
    organizational_units: Vec<String>,
    /// The hosts the certificate's subject alternative names cover: DNS names in lower case and
    /// IP addresses, as a TLS client checks them against the host it dialled.
    hosts: Vec<Host>,
    certificate_der: CertificateDer<'static>,
}

/// A host a certificate names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Host {
    Dns(String),
    Ip(std::net::IpAddr),
}

impl fmt::Debug for Identity {
    // The certificate bytes are left out: the subject says who this is, and the DER would drown it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ACL_SCHEME}:{}", self.subject)
    }
}

impl Identity {
    /// The identity of the peer of an established QUIC connection.
    pub fn from_connection(connection: &quinn::Connection) -> Result<Identity, IdentityError> {
        Identity::from_peer_identity(connection.peer_identity())
    }

    /// The identity in quinn's type-erased peer identity, which for rustls is the peer's
    /// certificate chain.
    pub fn from_peer_identity(
        peer_identity: Option<Box<dyn Any>>,
    ) -> Result<Identity, IdentityError> {
        let chain = peer_identity
            .ok_or(IdentityError::NoPeerCertificate)?
            .downcast::<Vec<CertificateDer<'static>>>()
            .map_err(|_| IdentityError::UnexpectedPeerIdentity)?;
        let end_entity = chain
            .into_iter()
            .next()
            .ok_or(IdentityError::NoPeerCertificate)?;
        Identity::from_certificate(end_entity)
    }

    /// The identity named by a certificate, which the caller must already have verified.
    pub fn from_certificate(
        certificate_der: CertificateDer<'static>,
    ) -> Result<Identity, IdentityError> {
        let (_, certificate) = x509_parser::parse_x509_certificate(&certificate_der)
            .map_err(|error| IdentityError::InvalidCertificate(error.to_string()))?;
        let subject = canonical_subject(certificate.subject())?;
        let common_name = certificate
            .subject()
            .iter_common_name()
            .last()
            .and_then(|attribute| attribute.as_str().ok())
            .map(str::to_string);
        let organizational_units = certificate
            .subject()
            .iter_organizational_unit()
            .filter_map(|attribute| attribute.as_str().ok())
            .map(str::to_string)
            .collect();
        let hosts = certificate
            .subject_alternative_name()
            .map_err(|error| IdentityError::InvalidCertificate(error.to_string()))?
            .map(|extension| {
                extension
                    .value
                    .general_names
                    .iter()
                    .filter_map(host_of)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Identity {
            subject,
            common_name,
            organizational_units,
            hosts,
            certificate_der,
        })
    }

    /// The canonical subject, for example `CN=alice,O=Polis`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The most specific common name in the subject, for example `alice`, if it is a string.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// Whether this is a node certificate: its subject has the organizational unit
    /// [`crate::NODE_ORGANIZATIONAL_UNIT`] as an attribute of its own. A client whose common name
    /// reads `x,OU=node` renders as `CN=x\,OU=node,…` and is not one.
    pub fn is_node(&self) -> bool {
        self.organizational_units
            .iter()
            .any(|unit| unit == crate::ca::NODE_ORGANIZATIONAL_UNIT)
    }

    /// Whether the certificate names `host` (a DNS name or an IP address, as in a `host:port`
    /// address, brackets allowed around an IPv6 address) among its subject alternative names:
    /// the check a TLS client makes of the server it dialled. DNS names compare without regard
    /// to case; wildcard names match nothing here.
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = host.parse::<std::net::IpAddr>().ok();
        self.hosts.iter().any(|named| match (named, address) {
            (Host::Ip(named), Some(address)) => *named == address,
            (Host::Dns(named), None) => named.eq_ignore_ascii_case(host),
            _ => false,
        })
    }

    /// The identity as an ACL id: scheme `x509` and the canonical subject.
    pub fn acl_id(&self) -> (&'static str, &str) {
        (ACL_SCHEME, &self.subject)
    }

    /// The end-entity certificate the identity was read from.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate_der
    }
}

/// The host a subject alternative name gives, if it is a DNS name or an IP address.
fn host_of(name: &x509_parser::extensions::GeneralName<'_>) -> Option<Host> {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(dns) => Some(Host::Dns(dns.to_ascii_lowercase())),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes)
                .ok()
                .map(|octets| Host::Ip(std::net::IpAddr::from(octets))),
            16 => <[u8; 16]>::try_from(*bytes)
                .ok()
                .map(|octets| Host::Ip(std::net::IpAddr::from(octets))),
            _ => None,
        },
        _ => None,
    }
}

/// Renders a name as described on [`Identity`].
fn canonical_subject(name: &X509Name<'_>) -> Result<String, IdentityError> {
    let relative_names: Vec<_> = name.iter().collect();
    let mut rendered = String::new();
    for (index, relative_name) in relative_names.iter().rev().enumerate() {
        if index > 0 {
            rendered.push(',');
        }
        for (position, attribute) in relative_name.iter().enumerate() {
            if position > 0 {
                rendered.push('+');
            }
            render_attribute(attribute, &mut rendered)?;
        }
    }
    Ok(rendered)
}

/// Appends `type=value` for one attribute.
fn render_attribute(
    attribute: &AttributeTypeAndValue<'_>,
    out: &mut String,
) -> Result<(), IdentityError> {
    out.push_str(&attribute_type_name(attribute.attr_type()));
    out.push('=');
    match attribute.as_str() {
        Ok(value) => escape_value(value, out),
        Err(_) => {
            let der = attribute
                .attr_value()
                .to_der_vec()
                .map_err(|error| IdentityError::InvalidCertificate(error.to_string()))?;
            out.push('#');
            for byte in der {
                // Writing to a String cannot fail.
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
    Ok(())
}

/// The RFC 4514 short name of an attribute type, or its dotted OID.
fn attribute_type_name(oid: &Oid<'_>) -> String {
    let known = [
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_STREET_ADDRESS, "STREET"),
        (&OID_DOMAIN_COMPONENT, "DC"),
    ];
    if let Some((_, short)) = known.iter().find(|(known_oid, _)| *known_oid == oid) {
        return (*short).to_string();
    }
    // The userId attribute (0.9.2342.19200300.100.1.1) has no constant in the registry.
    let dotted = oid.to_id_string();
    if dotted == "0.9.2342.19200300.100.1.1" {
        return "UID".to_string();
    }
    dotted
}

/// Appends a string value escaped as RFC 4514 §2.4 requires.
fn escape_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (index, character) in value.chars().enumerate() {
        match character {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(character);
            }
            '#' if index == 0 => out.push_str("\\#"),
            ' ' if index == 0 || index == last => out.push_str("\\ "),
            character if character.is_control() => {
                let mut buffer = [0u8; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\{byte:02x}");
                }
            }
            character => out.push(character),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape_value(value, &mut out);
        out
    }

    #[test]
    fn special_characters_are_escaped_as_rfc_4514_requires() {
        assert_eq!(escaped("alice"), "alice");
        assert_eq!(escaped("a,b+c"), "a\\,b\\+c");
        assert_eq!(escaped("#x"), "\\#x");
        assert_eq!(escaped("x#"), "x#");
        assert_eq!(escaped(" x "), "\\ x\\ ");
        assert_eq!(escaped("a\"b\\c<d>e;f"), "a\\\"b\\\\c\\<d\\>e\\;f");
        assert_eq!(escaped("a\0b"), "a\\00b");
    }
}
