//! The little HTTP/1.1 the console speaks: one request per connection, parsed from bytes into a
//! [`Request`] by pure functions, answered with a [`Response`].

use std::collections::BTreeMap;

/// The longest request (head and body) accepted, in bytes: a login form is the largest thing a
/// browser sends here.
pub const REQUEST_BYTES_MAX: usize = 16 * 1024;

/// The name of the login cookie.
pub const COOKIE_NAME: &str = "polis_console";

/// A parsed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub cookie: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the request has more than {REQUEST_BYTES_MAX} bytes")]
    TooLarge,
    #[error("the request is malformed")]
    Malformed,
}

/// The length of the head (up to and with the blank line), once `bytes` holds all of it.
pub fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The body length the head announces (`Content-Length`), 0 without one.
pub fn content_length(head: &[u8]) -> Result<usize, RequestError> {
    let text = std::str::from_utf8(head).map_err(|_| RequestError::Malformed)?;
    for line in text.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            let length: usize = value.trim().parse().map_err(|_| RequestError::Malformed)?;
            if length > REQUEST_BYTES_MAX {
                return Err(RequestError::TooLarge);
            }
            return Ok(length);
        }
    }
    Ok(0)
}

/// Parses a whole request: its head and `body`.
pub fn parse_request(head: &[u8], body: &[u8]) -> Result<Request, RequestError> {
    let text = std::str::from_utf8(head).map_err(|_| RequestError::Malformed)?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let (method, target) = match (request_line.next(), request_line.next()) {
        (Some(method), Some(target)) => (method, target),
        _ => return Err(RequestError::Malformed),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut cookie = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("cookie")
        {
            cookie = cookie_value(value, COOKIE_NAME).or(cookie);
        }
    }
    Ok(Request {
        method: method.to_string(),
        path: percent_decode(path),
        query: parse_form(query),
        cookie,
        body: body.to_vec(),
    })
}

/// The value of cookie `name` in a `Cookie` header's value.
fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}

/// `a=1&b=x%2Fy` as a map; a key given twice keeps its last value.
pub fn parse_form(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in forms); invalid escapes stay as they are, and
/// bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = bytes
                    .get(at + 1..at + 3)
                    .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        decoded.push(byte);
                        at += 3;
                    }
                    None => {
                        decoded.push(b'%');
                        at += 1;
                    }
                }
            }
            b'+' => {
                decoded.push(b' ');
                at += 1;
            }
            byte => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// An answer, written whole (server-sent events are written by their own loop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub set_cookie: Option<String>,
}

impl Response {
    pub fn new(status: &'static str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            set_cookie: None,
        }
    }

    pub fn json(value: &serde_json::Value) -> Response {
        Response::new("200 OK", "application/json", value.to_string())
    }

    pub fn error(status: &'static str, message: &str) -> Response {
        Response::new(
            status,
            "application/json",
            serde_json::json!({ "error": message }).to_string(),
        )
    }

    /// The head and body as sent. Every answer forbids caching (the data is live and may be
    /// private), framing (clickjacking) and content sniffing, and allows scripts and styles only
    /// from the console itself.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\nX-Frame-Options: DENY\r\n\
             X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
             Content-Security-Policy: default-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if let Some(cookie) = &self.set_cookie {
            head.push_str(&format!("Set-Cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The `Set-Cookie` value of a login: readable by no script, sent only to this console's own
/// pages (never with a request another site makes), ending with the login.
pub fn login_cookie(value: &str, max_age_s: u64) -> String {
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}")
}

/// The head of a server-sent events stream.
pub const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                            Cache-Control: no-store\r\nConnection: keep-alive\r\n\
                            X-Content-Type-Options: nosniff\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gives_its_path_query_cookie_and_body() {
        let head = b"GET /api/tree?path=%2Fcity%2Fa+b&after=x HTTP/1.1\r\nHost: h\r\n\
                     Cookie: other=1; polis_console=abc123\r\n\r\n";
        let request = parse_request(head, b"").unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/api/tree");
        assert_eq!(request.query["path"], "/city/a b");
        assert_eq!(request.query["after"], "x");
        assert_eq!(request.cookie.as_deref(), Some("abc123"));
    }

    #[test]
    fn lengths_are_read_and_bounded() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\ncontent-length: 12\r\n\r\n"),
            Ok(12)
        );
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(RequestError::TooLarge)
        );
        assert_eq!(
            parse_request(b"\r\n\r\n", b""),
            Err(RequestError::Malformed)
        );
    }

    #[test]
    fn bad_escapes_stay_as_they_are() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%e2%9c%93"), "✓");
    }

    #[test]
    fn answers_forbid_caching_framing_and_foreign_scripts() {
        let mut response = Response::json(&serde_json::json!({ "ok": true }));
        response.set_cookie = Some(login_cookie("abc", 60));
        let text = String::from_utf8(response.to_bytes()).unwrap();
        assert!(text.contains("Cache-Control: no-store"));
        assert!(text.contains("X-Frame-Options: DENY"));
        assert!(text.contains("default-src 'self'"));
        assert!(text.contains("HttpOnly; SameSite=Strict"));
        assert!(text.ends_with("{\"ok\":true}"));
    }
}
