//! A real browser for tests of our pages: Debian's headless Chromium driven through ChromeDriver
//! (W3C WebDriver: JSON over HTTP), with the few commands our tests need — open a page, fill a
//! field, tick a box, click, read the page. ChromeDriver starts on a free port (`--port=0`, the port
//! read from what it prints), Chromium with an empty profile in a temporary folder and without
//! background networking (this machine's network is closed).
//!
//! Install: `apt-get install -y chromium chromium-driver`. A test that uses a browser declares
//! the [`Browser`](crate::harness::Need::Browser) need: without them the harness lists it as
//! ignored with the reason, unless `MIMAMORI_TEST_REQUIRE_BROWSER=1` (CI) makes it fail.
//!
//! [`Element::click_to_load`] returns once the page a click leads to has loaded, so a test reads
//! the next page right after it; no test sleeps.

use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Set to `1` to fail, instead of ignore, the browser tests when Chromium or ChromeDriver is
/// missing.
pub const REQUIRE_ENV: &str = "MIMAMORI_TEST_REQUIRE_BROWSER";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether Chromium and ChromeDriver are installed where [`Browser::start`] looks for them.
pub fn installed() -> bool {
    std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()
}

/// A headless Chromium session. Call [`Browser::quit`] at the end; dropping it ends the session too.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts ChromeDriver and a session. Panics when they are not installed: a test that
    /// starts a browser declares the [`Browser`](crate::harness::Need::Browser) need, so that the
    /// harness runs it only where they are.
    pub async fn start() -> Browser {
        assert!(
            installed(),
            "{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install -y chromium chromium-driver): \
             declare the Browser need of this test"
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver says its port");
        // Keep reading what it prints, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            }}}))
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        if let Some(error) = value.get("error") {
            panic!("WebDriver {path}: {error} {}", value["message"]);
        }
        value
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The address of the current page.
    pub async fn url(&self) -> String {
        let v = self.command(reqwest::Method::GET, "/url", None).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching a CSS selector; panics when there is none.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Element {
            browser: self,
            id: v[ELEMENT].as_str().unwrap().to_string(),
        }
    }

    /// The visible text of the page's body.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await
    }

    /// The page's language, as its `<html lang>` says.
    pub async fn lang(&self) -> String {
        self.execute("return document.documentElement.lang;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector, if there is one now.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let answer: Value = self
            .http
            .post(format!("{}/element", self.session))
            .json(&json!({ "using": "css selector", "value": css }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"][ELEMENT].as_str().map(|id| Element {
            browser: self,
            id: id.to_string(),
        })
    }

    /// Waits up to `timeout` until an element matches a CSS selector (polling the page, which
    /// changes by itself, e.g. through a live update): how long it took, or `None`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        tokio::time::timeout(timeout, async {
            loop {
                if self.try_find(css).await.is_some() {
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await
        .ok()
    }

    /// Sets the window's outer size in CSS pixels (390 wide: a phone).
    pub async fn set_size(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page: what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Runs `script` in the page and waits until it calls its last argument (the callback):
    /// what it passed.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// A PNG of the whole page (not only the window), at the window's width.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        // Chromium's full-page capture goes through the DevTools protocol; through WebDriver,
        // make the window as tall as the page first.
        let height = self
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight)",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(800)
            .clamp(400, 8000);
        let rect = self
            .command(reqwest::Method::GET, "/window/rect", None)
            .await;
        let width = rect["width"].as_u64().unwrap_or(1280) as u32;
        let inner = self
            .execute("return window.outerHeight - window.innerHeight", vec![])
            .await
            .as_u64()
            .unwrap_or(0);
        self.set_size(width, height as u32 + inner as u32).await;
        let v = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// Ends the session (and Chromium) and stops the driver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        self.session.clear();
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that failed midway: end the session anyway (a short blocking request), so that no
    /// Chromium outlives its driver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let Some(rest) = self.session.strip_prefix("http://") else {
            return;
        };
        let Some((host, path)) = rest.split_once('/') else {
            return;
        };
        if let Ok(mut s) = std::net::TcpStream::connect(host) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read(&mut [0; 512]);
        }
    }
}

impl Element<'_> {
    fn path(&self, leaf: &str) -> String {
        format!("/element/{}/{leaf}", self.id)
    }

    /// Types `text` into the element (after what it holds).
    pub async fn type_text(&self, text: &str) {
        self.browser
            .command(
                reqwest::Method::POST,
                &self.path("value"),
                Some(json!({ "text": text })),
            )
            .await;
    }

    /// Clicks it (a checkbox, or anything that does not leave the page).
    pub async fn click(&self) {
        self.browser
            .command(reqwest::Method::POST, &self.path("click"), Some(json!({})))
            .await;
    }

    /// Clicks something that leads to another page (a submit button, a link) and returns once
    /// that page has loaded: the old page's root element has gone stale and the new document is
    /// complete. (ChromeDriver's click does not always wait for a form's navigation.)
    pub async fn click_to_load(&self) {
        let old = self.browser.find("html").await.id;
        self.click().await;
        let b = self.browser;
        let loaded = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let probe: Value = b
                    .http
                    .get(format!("{}/element/{old}/name", b.session))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let gone = probe["value"]["error"] == "stale element reference";
                if gone {
                    let state = b
                        .command(
                            reqwest::Method::POST,
                            "/execute/sync",
                            Some(json!({ "script": "return document.readyState", "args": [] })),
                        )
                        .await;
                    if state == "complete" {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(loaded.is_ok(), "the click did not load another page");
    }

    /// Its visible text.
    pub async fn text(&self) -> String {
        let v = self
            .browser
            .command(reqwest::Method::GET, &self.path("text"), None)
            .await;
        v.as_str().unwrap_or_default().to_string()
    }
}
