//! Who is logged in to the console: the login tokens, and the cookies handed out for them.
//!
//! Pure: the caller passes the time and the random cookie value, so that every decision here is
//! tested without a clock or a socket.

use std::collections::HashMap;

use polis_tree::Id;

use super::console_config::TOKEN_LEN_MIN;
use crate::node::constant_time_equal;

/// What a login may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads as an administrator: passes every ACL, sees sessions and plugins.
    Admin,
    /// Reads as `world:anyone` (and the configured viewer identity), through the ACLs.
    Viewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A refused login or request; the console answers each with 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    #[error("the token is not one of the console's tokens")]
    WrongToken,
    #[error("not logged in, or the login has expired")]
    NotLoggedIn,
}

/// A token file that cannot serve as one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("a console token must have at least {TOKEN_LEN_MIN} bytes, this one has {0}")]
    TooShort(usize),
}

/// Checks a token read from a file: whitespace around it is not part of it, and it must be long
/// enough not to be guessed.
pub fn parse_token(file_text: &str) -> Result<String, TokenError> {
    let token = file_text.trim();
    if token.len() < TOKEN_LEN_MIN {
        return Err(TokenError::TooShort(token.len()));
    }
    Ok(token.to_string())
}

#[derive(Clone, Debug)]
struct Login {
    role: Role,
    expires_s: u64,
    /// When it was made, so that the oldest goes first when the table is full.
    created_s: u64,
}

/// The console's tokens and live logins.
#[derive(Debug)]
pub struct Logins {
    admin_token: Option<String>,
    viewer_token: Option<String>,
    viewer_identity: Option<String>,
    logins: HashMap<String, Login>,
    logins_max: usize,
    ttl_s: u64,
}

impl Logins {
    pub fn new(
        admin_token: Option<String>,
        viewer_token: Option<String>,
        viewer_identity: Option<String>,
        logins_max: usize,
        ttl_s: u64,
    ) -> Logins {
        Logins {
            admin_token,
            viewer_token,
            viewer_identity,
            logins: HashMap::new(),
            logins_max: logins_max.max(1),
            ttl_s,
        }
    }

    /// The role a token gives, compared in constant time so that the answer's timing does not
    /// tell how many leading bytes were right.
    pub fn role_of_token(&self, token: &str) -> Result<Role, LoginError> {
        let matches = |expected: &Option<String>| {
            expected
                .as_deref()
                .is_some_and(|expected| constant_time_equal(expected.as_bytes(), token.as_bytes()))
        };
        // Both are compared whatever the first gives, for the same reason.
        let (admin, viewer) = (matches(&self.admin_token), matches(&self.viewer_token));
        match (admin, viewer) {
            (true, _) => Ok(Role::Admin),
            (false, true) => Ok(Role::Viewer),
            (false, false) => Err(LoginError::WrongToken),
        }
    }

    /// Logs in with `token`: on success `cookie` (random, from the caller) names the login from
    /// now on. A full table drops the oldest login first.
    pub fn log_in(&mut self, token: &str, cookie: String, now_s: u64) -> Result<Role, LoginError> {
        let role = self.role_of_token(token)?;
        self.logins.retain(|_, login| login.expires_s > now_s);
        while self.logins.len() >= self.logins_max {
            let Some(oldest) = self
                .logins
                .iter()
                .min_by_key(|(_, login)| login.created_s)
                .map(|(cookie, _)| cookie.clone())
            else {
                break;
            };
            self.logins.remove(&oldest);
        }
        self.logins.insert(
            cookie,
            Login {
                role,
                expires_s: now_s.saturating_add(self.ttl_s),
                created_s: now_s,
            },
        );
        Ok(role)
    }

    /// The role of a live login.
    pub fn role_of_cookie(&self, cookie: Option<&str>, now_s: u64) -> Result<Role, LoginError> {
        cookie
            .and_then(|cookie| self.logins.get(cookie))
            .filter(|login| login.expires_s > now_s)
            .map(|login| login.role)
            .ok_or(LoginError::NotLoggedIn)
    }

    pub fn log_out(&mut self, cookie: Option<&str>) {
        if let Some(cookie) = cookie {
            self.logins.remove(cookie);
        }
    }

    /// The identities a role reads the tree as: the same ACL checks as a client with those
    /// identities would meet.
    pub fn identities(&self, role: Role) -> Vec<Id> {
        match role {
            Role::Admin => vec![Id::new(Id::SCHEME_SUPER, "console")],
            Role::Viewer => {
                let mut identities = vec![Id::anyone()];
                if let Some(subject) = &self.viewer_identity {
                    identities.push(Id::new(Id::SCHEME_X509, subject.clone()));
                }
                identities
            }
        }
    }

    pub fn len(&self) -> usize {
        self.logins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "an-admin-token-of-at-least-thirty-two-bytes";
    const VIEWER: &str = "a-viewer-token-of-at-least-thirty-two-bytes";

    fn logins(max: usize) -> Logins {
        Logins::new(
            Some(ADMIN.to_string()),
            Some(VIEWER.to_string()),
            Some("CN=ops,O=Polis".to_string()),
            max,
            100,
        )
    }

    #[test]
    fn a_token_file_must_hold_a_long_token() {
        assert_eq!(parse_token(&format!("  {ADMIN}\n")), Ok(ADMIN.to_string()));
        assert_eq!(parse_token("short\n"), Err(TokenError::TooShort(5)));
    }

    #[test]
    fn each_token_gives_its_role_and_a_wrong_one_nothing() {
        let mut logins = logins(4);
        assert_eq!(logins.log_in(ADMIN, "a".into(), 0), Ok(Role::Admin));
        assert_eq!(logins.log_in(VIEWER, "v".into(), 0), Ok(Role::Viewer));
        assert_eq!(
            logins.log_in(&ADMIN[..ADMIN.len() - 1], "x".into(), 0),
            Err(LoginError::WrongToken)
        );
        assert_eq!(logins.role_of_cookie(Some("a"), 1), Ok(Role::Admin));
        assert_eq!(logins.role_of_cookie(Some("v"), 1), Ok(Role::Viewer));
        assert_eq!(
            logins.role_of_cookie(Some("x"), 1),
            Err(LoginError::NotLoggedIn)
        );
        assert_eq!(logins.role_of_cookie(None, 1), Err(LoginError::NotLoggedIn));
    }

    #[test]
    fn an_absent_token_matches_nothing_not_even_the_empty_one() {
        let logins = Logins::new(None, Some(VIEWER.to_string()), None, 4, 100);
        assert_eq!(logins.role_of_token(""), Err(LoginError::WrongToken));
        assert_eq!(logins.role_of_token(VIEWER), Ok(Role::Viewer));
    }

    #[test]
    fn logins_expire_end_on_logout_and_the_oldest_goes_when_full() {
        let mut logins = logins(2);
        logins.log_in(ADMIN, "first".into(), 0).unwrap();
        logins.log_in(ADMIN, "second".into(), 1).unwrap();
        logins.log_in(ADMIN, "third".into(), 2).unwrap();
        assert_eq!(logins.len(), 2);
        assert!(logins.role_of_cookie(Some("first"), 3).is_err());
        assert!(logins.role_of_cookie(Some("second"), 3).is_ok());
        assert!(logins.role_of_cookie(Some("second"), 101).is_err());
        logins.log_out(Some("third"));
        assert!(logins.role_of_cookie(Some("third"), 3).is_err());
    }

    #[test]
    fn viewers_read_as_anyone_and_their_identity_admins_as_super() {
        let logins = logins(2);
        assert!(logins.identities(Role::Admin).iter().all(Id::is_super));
        assert_eq!(
            logins.identities(Role::Viewer),
            vec![
                Id::anyone(),
                Id::new(Id::SCHEME_X509, "CN=ops,O=Polis".to_string())
            ]
        );
    }
}
