//! Just enough of the W3C WebDriver protocol to drive Debian's `chromium` through
//! `chromedriver` in the console's browser test: a session, navigation, elements, scripts and
//! screenshots, over plain HTTP/1.1 with JSON bodies (no client crate: WebDriver is a small
//! JSON protocol, and this keeps the test's dependencies to what the workspace has).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where Debian's packages put the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long chromedriver may take to start listening.
const DRIVER_START_DEADLINE: Duration = Duration::from_secs(20);

/// Whether the browser and its driver are installed (the test skips where they are not).
pub fn browser_installed() -> Option<(PathBuf, PathBuf)> {
    let chromium =
        std::env::var_os("POLIS_CHROMIUM").map_or(PathBuf::from(CHROMIUM), PathBuf::from);
    let driver =
        std::env::var_os("POLIS_CHROMEDRIVER").map_or(PathBuf::from(CHROMEDRIVER), PathBuf::from);
    (chromium.exists() && driver.exists()).then_some((chromium, driver))
}

/// A running chromedriver with one headless browser session; both end when it is dropped.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    address: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts `driver` on a free port and opens a headless `chromium` session.
    pub async fn start(chromium: &Path, driver: &Path) -> anyhow::Result<Browser> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let mut browser = Browser {
            driver: child,
            address,
            session: String::new(),
        };
        let started = std::time::Instant::now();
        while request(address, "GET", "/status", None).await.is_err() {
            anyhow::ensure!(
                started.elapsed() < DRIVER_START_DEADLINE,
                "chromedriver did not listen within {DRIVER_START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            },
        }}});
        let created = request(address, "POST", "/session", Some(&capabilities)).await?;
        browser.session = created["sessionId"]
            .as_str()
            .context("no session id in chromedriver's answer")?
            .to_string();
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let path = format!("/session/{}{path}", self.session);
        request(self.address, method, &path, body).await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .await?;
        Ok(())
    }

    /// The element `css` selects (the first one).
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .call(
                "POST",
                "/element",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(found[ELEMENT_KEY]
            .as_str()
            .context("no element reference")?
            .to_string())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        )
        .await?;
        Ok(())
    }

    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub async fn script(&self, script: &str) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Writes a PNG of the window to `file`.
    pub async fn screenshot(&self, file: &Path) -> anyhow::Result<()> {
        let encoded = self.call("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().context("no screenshot")?)
            .context("decoding the screenshot")?;
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(file, png).with_context(|| format!("writing {}", file.display()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver closes its browser when it is killed; the process is ours alone.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver call: the `value` of its JSON answer, or its error.
async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    // chromedriver says `Connection: close` but keeps the connection open, so the answer ends
    // where its length (or its last chunk) says, not at the end of the stream.
    let payload = tokio::time::timeout(Duration::from_secs(60), read_answer(&mut stream))
        .await
        .context("chromedriver did not answer within a minute")??;
    let answer: Value = serde_json::from_slice(&payload).context("chromedriver's JSON")?;
    let value = answer["value"].clone();
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        anyhow::bail!(
            "{method} {path}: {error}: {}",
            value["message"].as_str().unwrap_or_default()
        );
    }
    Ok(value)
}

/// Reads one HTTP answer's body: `Content-Length` bytes, or chunks up to the last one.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let split = loop {
        if let Some(split) = response.windows(4).position(|window| window == b"\r\n\r\n") {
            break split;
        }
        let read = stream.read(&mut chunk).await?;
        anyhow::ensure!(
            read > 0,
            "chromedriver closed the connection before its answer"
        );
        response.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    let chunked = head.contains("transfer-encoding:") && head.contains("chunked");
    loop {
        let body = &response[split + 4..];
        match length {
            Some(length) if body.len() >= length => return Ok(body[..length].to_vec()),
            None if chunked && body.ends_with(b"0\r\n\r\n") => return dechunk(body),
            None if !chunked => anyhow::bail!("an answer without a length"),
            _ => {}
        }
        let read = stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "chromedriver closed the connection in its answer");
        response.extend_from_slice(&chunk[..read]);
    }
}

fn dechunk(mut bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes
            .windows(2)
            .position(|window| window == b"\r\n")
            .context("a chunk without its size line")?;
        let size_text = std::str::from_utf8(&bytes[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let start = line_end + 2;
        out.extend_from_slice(bytes.get(start..start + size).context("a short chunk")?);
        bytes = bytes.get(start + size + 2..).unwrap_or_default();
    }
}
