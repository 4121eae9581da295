//! A minimal W3C WebDriver client over blocking HTTP, driving chromedriver + headless Chromium
//! (no WebDriver crate needed: a handful of JSON commands).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TempDir, free_port, http_request};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `wait_for` polls before failing (a liveness bound, not a speed requirement).
const WAIT: Duration = Duration::from_secs(15);

/// chromedriver (in its own process group, with the Chromium it starts) and one session.
pub(super) struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: TempDir,
}

impl Browser {
    pub(super) fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("run chromedriver (apt-get install chromium chromium-driver)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: TempDir::new("sb-chromium"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = std::net::TcpStream::connect(addr).is_ok()
                && b.raw("GET", "/status", None).1["value"]["ready"] == true;
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = b._profile.path().display().to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900", format!("--user-data-dir={profile}")]
            }
        }}});
        let (status, v) = b.raw("POST", "/session", Some(caps));
        assert_eq!(status, 200, "new session: {v}");
        b.session = v["value"]["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        b
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http_request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A session command; panics on a WebDriver error.
    pub(super) fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.raw(method, &format!("/session/{}{path}", self.session), body);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    pub(super) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    pub(super) fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Polls `script` until it returns something truthy, for up to `limit`.
    pub(super) fn poll_until(&self, limit: Duration, script: &str, args: Value) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.js(script, args.clone());
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until `script` holds, or fails naming `what` with the page's text.
    pub(super) fn wait_for(&self, what: &str, script: &str, args: Value) {
        if !self.poll_until(WAIT, script, args) {
            let page = self.js("return document.body.innerText", json!([]));
            panic!(
                "waited for {what}; page:\n{}",
                page.as_str().unwrap_or_default()
            );
        }
    }

    /// The element for a CSS selector, waiting for it to exist.
    pub(super) fn find(&self, css: &str) -> String {
        self.wait_for(
            &format!("element {css}"),
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        );
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("element {css}: {v}"))
            .to_owned()
    }

    /// Clicks like a user (the element must be visible and not covered). A polled table may
    /// replace its rows between finding a button and clicking it; the user would then click the
    /// new button in the same place, so a stale element is looked up again (a few times at most).
    pub(super) fn click(&self, css: &str) {
        for _ in 0..5 {
            let id = self.find(css);
            self.wait_for(
                &format!("{css} enabled and shown"),
                "const e = document.querySelector(arguments[0]); return e && !e.disabled && e.getClientRects().length > 0",
                json!([css]),
            );
            // As a user scrolls a control to the middle of the screen, clear of the sticky header.
            self.js(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
                json!([css]),
            );
            let path = format!("/session/{}/element/{id}/click", self.session);
            let (status, v) = self.raw("POST", &path, Some(json!({})));
            if status == 200 {
                return;
            }
            assert_eq!(
                v["value"]["error"], "stale element reference",
                "click {css}: {v}"
            );
        }
        panic!("{css} was replaced before every click");
    }

    /// Picks `value` in a `<select>` (WebDriver clicks the option, as a user picks it).
    pub(super) fn select(&self, css: &str, value: &str) {
        let id = self.find(&format!("{css} option[value='{value}']"));
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
        let chosen = self.js(
            "return document.querySelector(arguments[0]).value",
            json!([css]),
        );
        assert_eq!(chosen, json!(value), "{css}");
    }

    pub(super) fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    pub(super) fn clear(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
    }

    pub(super) fn text(&self, css: &str) -> String {
        let v = self.js(
            "return document.querySelector(arguments[0])?.textContent ?? null",
            json!([css]),
        );
        v.as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    pub(super) fn visible(&self, css: &str) -> bool {
        self.js(
            "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0",
            json!([css]),
        ) == true
    }

    /// Cuts (or restores) the page's network, as a dropped Wi-Fi would.
    pub(super) fn network_offline(&self, offline: bool) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Network.emulateNetworkConditions", "params": {
                "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}})),
        );
    }

    /// Emulates a phone screen (headless Chromium will not size a window under 500 px).
    pub(super) fn emulate_phone(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true}}),
            ),
        );
    }

    /// Saves a PNG of the whole page (Chromium's DevTools capture beyond the viewport).
    pub(super) fn screenshot(&self, path: &Path) {
        // From the top, so that the sticky header is drawn where it belongs.
        self.js("window.scrollTo(0, 0)", json!([]));
        let v = self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Page.captureScreenshot",
                "params": {"format": "png", "captureBeyondViewport": true}})),
        );
        let png = base64_decode(v["data"].as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// Standard base64 (the screenshot encoding) without a dependency.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
        // chromedriver leads its own process group; Chromium's processes are in it too.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
