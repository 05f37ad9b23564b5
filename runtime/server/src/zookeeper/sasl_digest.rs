//! SASL DIGEST-MD5 (RFC 2831) as ZooKeeper's server speaks it on its client port: a pure state
//! machine, one per connection, with the nonce passed in.
//!
//! ZooKeeper's clients (the Java client's `ZooKeeperSaslClient`, kazoo with `sasl_options`)
//! authenticate right after the connect handshake with `sasl` requests (opcode 102), each
//! carrying a token: an empty first token (DIGEST-MD5 has no initial response), answered with
//! the server's challenge; the client's digest response, answered with `rspauth` once it proves
//! the password. ZooKeeper fixes the realm to `zk-sasl-md5` and the service to `zookeeper`
//! (`SecurityUtils`), so the digest URI is `zookeeper/zk-sasl-md5`. A failed exchange is
//! answered with AuthFailed and the connection closed, as ZooKeeper does.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

/// The realm ZooKeeper's DIGEST-MD5 server names in its challenge.
pub const SASL_REALM: &str = "zk-sasl-md5";

/// The digest URI a client names: ZooKeeper's service name and its fixed server name.
pub const SASL_DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// The most directives one response may carry; RFC 2831 defines 13.
const DIRECTIVES_MAX: usize = 32;

/// The users a DIGEST-MD5 exchange may authenticate, by name, with their passwords
/// (`[zookeeper] sasl_users` in `polis.toml`, as ZooKeeper's JAAS `user_NAME="password"`
/// entries). DIGEST-MD5 needs each password itself, so the file holding them must be readable
/// by the node alone. `Debug` shows the names, never the passwords.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SaslUsers(BTreeMap<String, String>);

impl SaslUsers {
    pub fn get(&self, user: &str) -> Option<&String> {
        self.0.get(user)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Why the configured users cannot be used, if they cannot: a name must be non-empty, hold
    /// no colon (a digest identity is `name:hash`) and be at most `name_len_max` bytes.
    pub fn validate(&self, name_len_max: usize) -> Result<(), String> {
        for name in self.0.keys() {
            if name.is_empty() || name.contains(':') || name.len() > name_len_max {
                return Err(format!(
                    "SASL user name {name:?} must be 1 to {name_len_max} bytes without a colon"
                ));
            }
        }
        Ok(())
    }
}

impl<const N: usize> From<[(&str, &str); N]> for SaslUsers {
    fn from(users: [(&str, &str); N]) -> SaslUsers {
        SaslUsers(
            users
                .into_iter()
                .map(|(name, password)| (name.to_string(), password.to_string()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for SaslUsers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why an exchange failed. Each is answered with AuthFailed and a closed connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error("a SASL token after the exchange ended")]
    AfterEnd,
    #[error("the first SASL token must be empty (DIGEST-MD5 has no initial response)")]
    InitialResponse,
    #[error("malformed DIGEST-MD5 response: {0}")]
    Malformed(&'static str),
    #[error("DIGEST-MD5 response names {0} {1:?}, not this server's")]
    Mismatch(&'static str, String),
    #[error("unknown SASL user {0:?}")]
    UnknownUser(String),
    #[error("wrong DIGEST-MD5 response for user {0:?}")]
    WrongResponse(String),
    #[error("SASL user {user:?} may not act as {authzid:?}")]
    Authorization { user: String, authzid: String },
}

/// What the server answers a token with.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// The challenge, to send back; the exchange continues.
    Challenge(Vec<u8>),
    /// The client proved `user`'s password; `token` (`rspauth`) proves the server's in turn.
    Authenticated {
        user: String,
        password: String,
        token: Vec<u8>,
    },
}

/// Where one connection's exchange stands.
#[derive(Debug, Default)]
pub enum DigestMd5Exchange {
    #[default]
    Start,
    Challenged {
        nonce: String,
    },
    Ended,
}

impl DigestMd5Exchange {
    /// Answers the client's next `token`. `nonce` is asked for only when a challenge is made
    /// (random, base64, from the caller); `users` are the configured ones. Any failure ends the
    /// exchange.
    pub fn step(
        &mut self,
        token: &[u8],
        nonce: impl FnOnce() -> String,
        users: &SaslUsers,
    ) -> Result<SaslStep, SaslError> {
        match std::mem::replace(self, DigestMd5Exchange::Ended) {
            DigestMd5Exchange::Start if token.is_empty() => {
                let nonce = nonce();
                debug_assert!(!nonce.contains('"'), "a nonce is quoted as it is");
                let challenge = format!(
                    "realm=\"{SASL_REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,\
                     algorithm=md5-sess"
                );
                *self = DigestMd5Exchange::Challenged { nonce };
                Ok(SaslStep::Challenge(challenge.into_bytes()))
            }
            DigestMd5Exchange::Start => Err(SaslError::InitialResponse),
            DigestMd5Exchange::Challenged { nonce } => verify(token, &nonce, users),
            DigestMd5Exchange::Ended => Err(SaslError::AfterEnd),
        }
    }
}

/// Checks the client's digest response against the challenge's `nonce` and the user's password.
fn verify(token: &[u8], nonce: &str, users: &SaslUsers) -> Result<SaslStep, SaslError> {
    let text = std::str::from_utf8(token).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    let directives = parse_directives(text)?;
    let get = |name: &'static str| {
        directives
            .get(name)
            .map(String::as_str)
            .ok_or(SaslError::Malformed(name))
    };
    let expect = |name: &'static str, wanted: &str| match get(name)? {
        found if found == wanted => Ok(()),
        found => Err(SaslError::Mismatch(name, found.to_string())),
    };
    expect("nonce", nonce)?;
    expect("qop", "auth").or_else(|error| match directives.get("qop") {
        // The quality of protection defaults to auth (RFC 2831 2.1.2).
        None => Ok(()),
        Some(_) => Err(error),
    })?;
    expect("nc", "00000001")?;
    expect("digest-uri", SASL_DIGEST_URI)?;
    if let Some(realm) = directives.get("realm")
        && realm != SASL_REALM
    {
        return Err(SaslError::Mismatch("realm", realm.clone()));
    }
    let user = get("username")?;
    let cnonce = get("cnonce")?;
    let authzid = directives.get("authzid").map(String::as_str);
    if let Some(authzid) = authzid
        && authzid != user
    {
        return Err(SaslError::Authorization {
            user: user.to_string(),
            authzid: authzid.to_string(),
        });
    }
    let password = users
        .get(user)
        .ok_or_else(|| SaslError::UnknownUser(user.to_string()))?;
    let credentials = Credentials {
        user,
        realm: SASL_REALM,
        password,
        nonce,
        cnonce,
        authzid,
        digest_uri: SASL_DIGEST_URI,
    };
    if !same_bytes(
        credentials.response("AUTHENTICATE").as_bytes(),
        get("response")?.as_bytes(),
    ) {
        return Err(SaslError::WrongResponse(user.to_string()));
    }
    Ok(SaslStep::Authenticated {
        user: user.to_string(),
        password: password.clone(),
        token: format!("rspauth={}", credentials.response("")).into_bytes(),
    })
}

/// What both sides hash (RFC 2831 2.1.2.1), with the nonce count 1 and the quality of
/// protection `auth`.
struct Credentials<'a> {
    user: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    authzid: Option<&'a str>,
    digest_uri: &'a str,
}

impl Credentials<'_> {
    /// The response value: with the method `AUTHENTICATE`, the client's proof; with none, the
    /// server's `rspauth`.
    fn response(&self, method: &str) -> String {
        let secret = Md5::digest(format!("{}:{}:{}", self.user, self.realm, self.password));
        let mut a1 = secret.to_vec();
        a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
        if let Some(authzid) = self.authzid {
            a1.extend_from_slice(format!(":{authzid}").as_bytes());
        }
        let a2 = format!("{method}:{}", self.digest_uri);
        let kd = format!(
            "{}:{}:00000001:{}:auth:{}",
            hex(&Md5::digest(&a1)),
            self.nonce,
            self.cnonce,
            hex(&Md5::digest(a2))
        );
        hex(&Md5::digest(kd))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares without stopping at the first difference, so that the time taken does not tell how
/// much of a guessed response was right.
pub(crate) fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The directives of a response: `name=value` or `name="quoted value"` (with `\` escaping the
/// next character), separated by commas, names lower-cased. A repeated directive is refused, as
/// RFC 2831 requires for every directive a response may carry.
fn parse_directives(text: &str) -> Result<BTreeMap<String, String>, SaslError> {
    let mut directives = BTreeMap::new();
    let mut rest = text.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        if directives.len() >= DIRECTIVES_MAX {
            return Err(SaslError::Malformed("too many directives"));
        }
        let (name, after_name) = rest
            .split_once('=')
            .ok_or(SaslError::Malformed("a directive without a value"))?;
        let name = name.trim().to_ascii_lowercase();
        let after_name = after_name.trim_start();
        let (value, after_value) = if let Some(quoted) = after_name.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = after_name.find(',').unwrap_or(after_name.len());
            (after_name[..end].trim_end().to_string(), &after_name[end..])
        };
        if directives.insert(name, value).is_some() {
            return Err(SaslError::Malformed("a repeated directive"));
        }
        rest = after_value.trim_start_matches([' ', '\t', ',']);
    }
    Ok(directives)
}

/// A quoted string's value (after its opening quote) and what follows its closing quote.
fn unquote(quoted: &str) -> Result<(String, &str), SaslError> {
    let mut value = String::new();
    let mut characters = quoted.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '"' => return Ok((value, &quoted[index + 1..])),
            '\\' => {
                let (_, escaped) = characters
                    .next()
                    .ok_or(SaslError::Malformed("an unfinished escape"))?;
                value.push(escaped);
            }
            other => value.push(other),
        }
    }
    Err(SaslError::Malformed("an unclosed quote"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> SaslUsers {
        SaslUsers::from([("alice", "secret")])
    }

    /// The client's response to a challenge with `nonce`, as a DIGEST-MD5 client computes it.
    fn client_response(user: &str, password: &str, nonce: &str, cnonce: &str) -> Vec<u8> {
        let credentials = Credentials {
            user,
            realm: SASL_REALM,
            password,
            nonce,
            cnonce,
            authzid: None,
            digest_uri: SASL_DIGEST_URI,
        };
        format!(
            "charset=utf-8,username=\"{user}\",realm=\"{SASL_REALM}\",nonce=\"{nonce}\",\
             nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{SASL_DIGEST_URI}\",maxbuf=65536,\
             response={},qop=auth",
            credentials.response("AUTHENTICATE")
        )
        .into_bytes()
    }

    /// RFC 2831's own example (section 4): its response and rspauth values.
    #[test]
    fn the_digest_matches_rfc_2831s_example() {
        let credentials = Credentials {
            user: "chris",
            realm: "elwood.innosoft.com",
            password: "secret",
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            authzid: None,
            digest_uri: "imap/elwood.innosoft.com",
        };
        assert_eq!(
            credentials.response("AUTHENTICATE"),
            "d388dad90d4bbd760a152321f2143af7"
        );
        assert_eq!(credentials.response(""), "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn an_empty_token_gets_a_challenge_and_the_right_response_authenticates() {
        let mut exchange = DigestMd5Exchange::default();
        let challenge = exchange
            .step(b"", || "n0nce".to_string(), &users())
            .unwrap();
        let SaslStep::Challenge(challenge) = challenge else {
            panic!("a challenge first");
        };
        let challenge = String::from_utf8(challenge).unwrap();
        assert!(challenge.contains("realm=\"zk-sasl-md5\""), "{challenge}");
        assert!(challenge.contains("nonce=\"n0nce\""), "{challenge}");
        let response = client_response("alice", "secret", "n0nce", "c");
        let step = exchange
            .step(&response, || unreachable!(), &users())
            .unwrap();
        let SaslStep::Authenticated {
            user,
            password,
            token,
        } = step
        else {
            panic!("authenticated");
        };
        assert_eq!((user.as_str(), password.as_str()), ("alice", "secret"));
        assert!(token.starts_with(b"rspauth="));
        // Nothing more is taken once the exchange ended.
        assert_eq!(
            exchange.step(b"", || unreachable!(), &users()),
            Err(SaslError::AfterEnd)
        );
    }

    #[test]
    fn a_wrong_password_an_unknown_user_or_a_replayed_nonce_fail() {
        let cases = [
            (
                client_response("alice", "guess", "n0nce", "c"),
                SaslError::WrongResponse("alice".to_string()),
            ),
            (
                client_response("mallory", "secret", "n0nce", "c"),
                SaslError::UnknownUser("mallory".to_string()),
            ),
            (
                client_response("alice", "secret", "old-nonce", "c"),
                SaslError::Mismatch("nonce", "old-nonce".to_string()),
            ),
        ];
        for (response, expected) in cases {
            let mut exchange = DigestMd5Exchange::default();
            exchange
                .step(b"", || "n0nce".to_string(), &users())
                .unwrap();
            assert_eq!(
                exchange.step(&response, || unreachable!(), &users()),
                Err(expected)
            );
            assert!(matches!(exchange, DigestMd5Exchange::Ended));
        }
        let mut exchange = DigestMd5Exchange::default();
        assert_eq!(
            exchange.step(b"x", || unreachable!(), &users()),
            Err(SaslError::InitialResponse)
        );
    }

    /// Whatever bytes a client sends, the parser answers without panicking, and never accepts.
    #[test]
    fn hostile_responses_are_refused_without_panicking() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"abcdn=\",\\ rspqoe0123456789-";
        for round in 0..5_000 {
            let mut exchange = DigestMd5Exchange::default();
            exchange
                .step(b"", || "n0nce".to_string(), &users())
                .unwrap();
            let len = round % 200;
            let token: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            assert!(
                exchange.step(&token, || unreachable!(), &users()).is_err(),
                "round {round}: {:?}",
                String::from_utf8_lossy(&token)
            );
        }
        let repeated = b"username=\"alice\",username=\"bob\"";
        assert_eq!(
            parse_directives(std::str::from_utf8(repeated).unwrap()),
            Err(SaslError::Malformed("a repeated directive"))
        );
        let many: Vec<String> = (0..=DIRECTIVES_MAX).map(|i| format!("d{i}=1")).collect();
        assert_eq!(
            parse_directives(&many.join(",")),
            Err(SaslError::Malformed("too many directives"))
        );
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let shown = format!("{:?}", users());
        assert!(
            shown.contains("alice") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
