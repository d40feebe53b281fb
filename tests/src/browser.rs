//! Headless Chromium (Debian's `chromium`) driven over its DevTools protocol: a page is
//! opened, sized like a desktop or a phone, screenshotted, read and clicked as a person would.
//!
//! A small client of our own rather than a browser-automation crate: it needs a handful of
//! commands (`Emulation.setDeviceMetricsOverride`, `Page.navigate`, `Page.captureScreenshot`,
//! `Runtime.evaluate`, `Input.dispatchMouseEvent`), JSON over one WebSocket.
//!
//! Chromium runs in a process group of its own with a fresh profile directory; dropping the
//! [`Browser`] (a finished test, or one that panicked) kills the group and removes the profile.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one DevTools command may take, a navigation's load included.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to start listening.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A viewport: CSS pixels, device pixel ratio, and whether it is a phone's (which makes
/// Chromium honour `<meta name="viewport">` and emulate touch-sized layout).
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub scale: f64,
    pub mobile: bool,
}

impl Viewport {
    pub const DESKTOP: Viewport = Viewport {
        width: 1280,
        height: 900,
        scale: 1.0,
        mobile: false,
    };
    /// An iPhone-sized phone.
    pub const PHONE: Viewport = Viewport {
        width: 390,
        height: 844,
        scale: 2.0,
        mobile: true,
    };
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One headless Chromium and one page in it.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: Socket,
    /// The page's flattened session on the browser's socket.
    session: String,
    next_id: u64,
    /// Events read while waiting for a command's answer, for [`Browser::wait_event`].
    events: Vec<Value>,
    /// Chromium's last stderr lines, for an error that needs them.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Browser {
    /// Starts `chromium` headless on `about:blank` and attaches to its page.
    pub async fn launch() -> Result<Browser> {
        let profile = std::env::temp_dir().join(format!("zs-cdp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).with_context(|| format!("creating {}", profile.display()))?;
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--hide-scrollbars",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so that dropping the browser ends its renderers too.
            .process_group(0)
            .spawn()
            .context("running chromium (installed by scripts/tools.sh)")?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stderr.take() {
            let lines = Arc::clone(&stderr);
            // Reads the DevTools URL, then keeps draining so that Chromium never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(std::result::Result::ok) {
                    if let Some(url) = line.split("DevTools listening on ").nth(1) {
                        let _ = tx.send(url.trim().to_owned());
                    }
                    if let Ok(mut kept) = lines.lock() {
                        if kept.len() >= 40 {
                            kept.remove(0);
                        }
                        kept.push(line);
                    }
                }
            });
        }
        // From here on, a failure drops a half-made browser through this guard.
        let mut guard = Launching {
            child: Some(child),
            profile: profile.clone(),
        };
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(LAUNCH_TIMEOUT))
            .await?
            .map_err(|_| {
                anyhow!(
                    "chromium did not print its DevTools URL within {LAUNCH_TIMEOUT:?}:\n{}",
                    tail(&stderr)
                )
            })?;
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let child = guard.child.take().context("the launch guard lost chromium")?;
        let mut browser = Browser {
            child,
            profile,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            stderr,
        };
        let targets = browser.call_browser("Target.getTargets", json!({})).await?;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .with_context(|| format!("no page among chromium's targets: {targets}"))?
            .to_owned();
        let attached = browser
            .call_browser("Target.attachToTarget", json!({ "targetId": page, "flatten": true }))
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {attached}"))?
            .to_owned();
        browser.call("Page.enable", json!({})).await?;
        browser.call("Runtime.enable", json!({})).await?;
        Ok(browser)
    }

    /// A command to the page; its `result`.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let session = self.session.clone();
        self.send(method, params, Some(&session)).await
    }

    /// A command to the browser itself.
    async fn call_browser(&mut self, method: &str, params: Value) -> Result<Value> {
        self.send(method, params, None).await
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .with_context(|| format!("sending {method}"))?;
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, async {
            loop {
                let m = self.next_message().await?;
                if m["id"] == id {
                    return Ok::<Value, anyhow::Error>(m);
                }
                if m.get("method").is_some() {
                    self.events.push(m);
                }
            }
        })
        .await
        .map_err(|_| anyhow!("{method}: no answer within {COMMAND_TIMEOUT:?}"))??;
        if let Some(error) = answer.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(answer["result"].clone())
    }

    async fn next_message(&mut self) -> Result<Value> {
        loop {
            let frame = self
                .socket
                .next()
                .await
                .ok_or_else(|| anyhow!("chromium closed the DevTools socket:\n{}", tail(&self.stderr)))??;
            match frame {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Binary(bytes) => return Ok(serde_json::from_slice(&bytes)?),
                Message::Close(_) => bail!("chromium closed the DevTools socket:\n{}", tail(&self.stderr)),
                _ => {}
            }
        }
    }

    /// Waits for the page's next event named `method` (one already read counts).
    pub async fn wait_event(&mut self, method: &str, deadline: Duration) -> Result<Value> {
        let session = self.session.clone();
        let ours = |e: &Value| e["method"] == method && e["sessionId"] == session.as_str();
        if let Some(at) = self.events.iter().position(ours) {
            return Ok(self.events.remove(at));
        }
        tokio::time::timeout(deadline, async {
            loop {
                let m = self.next_message().await?;
                if ours(&m) {
                    return Ok::<Value, anyhow::Error>(m);
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no {method} within {deadline:?}"))?
    }

    /// Sizes the page like `viewport`'s screen.
    pub async fn viewport(&mut self, v: Viewport) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": v.width,
                "height": v.height,
                "deviceScaleFactor": v.scale,
                "mobile": v.mobile,
            }),
        )
        .await?;
        self.call("Emulation.setTouchEmulationEnabled", json!({ "enabled": v.mobile }))
            .await?;
        Ok(())
    }

    /// Opens `url` and waits for its load event; an HTTP error status is not an error here
    /// (the page shows it), a failed navigation is.
    pub async fn navigate(&mut self, url: &str) -> Result<()> {
        self.events.clear();
        let nav = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = nav.get("errorText").and_then(Value::as_str) {
            bail!("navigating to {url}: {error}");
        }
        self.wait_event("Page.loadEventFired", COMMAND_TIMEOUT).await?;
        Ok(())
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value as JSON;
    /// a thrown exception is an error.
    pub async fn eval(&mut self, expression: &str) -> Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!(
                "{expression}: {}",
                e["exception"]["description"].as_str().unwrap_or(&e.to_string())
            );
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls `expression` every 100 ms until it is `true`, for at most `deadline`.
    pub async fn wait_for(&mut self, expression: &str, deadline: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let v = self.eval(expression).await?;
            if v == Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                bail!("{expression} still {v} after {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls the element `selector` matches into view and clicks its middle with the mouse,
    /// as a person would (a real press and release, not a script's `click()`).
    pub async fn click(&mut self, selector: &str) -> Result<()> {
        let selector_js = serde_json::to_string(selector)?;
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
            ))
            .await?;
        let (x, y) = match (at[0].as_f64(), at[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => bail!("nothing matches {selector}"),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1 }),
            )
            .await?;
        }
        Ok(())
    }

    /// A PNG of the whole page (at most `max_height` CSS pixels of it), written to `path`.
    pub async fn screenshot(&mut self, path: &Path, max_height: f64) -> Result<usize> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().context("the page's width")?;
        let height = size["height"].as_f64().context("the page's height")?.min(max_height);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().context("no screenshot data")?)
            .context("the screenshot's base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png).with_context(|| format!("writing {}", path.display()))?;
        Ok(png.len())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        end(&mut self.child, &self.profile);
    }
}

/// Holds Chromium between its start and the socket's: a launch that fails still ends it.
struct Launching {
    child: Option<Child>,
    profile: PathBuf,
}

impl Drop for Launching {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            end(child, &self.profile);
        }
    }
}

/// Kills Chromium's process group (the browser and its renderers) and removes its profile.
fn end(child: &mut Child, profile: &Path) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(profile);
}

fn tail(lines: &Arc<Mutex<Vec<String>>>) -> String {
    lines.lock().map(|l| l.join("\n")).unwrap_or_default()
}

/// `<workspace>/target/test-artifacts/`, where screenshots are kept for a person to look at.
pub fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16 kHz mono WAV of `secs` seconds of a quiet tone.
    fn wav(secs: u32) -> Vec<u8> {
        let rate = 16_000u32;
        let samples: Vec<i16> = (0..rate * secs)
            .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin() * 3000.0) as i16)
            .collect();
        let data = (samples.len() * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// The client itself, on a local page shaped like the meeting page's player and links.
    #[tokio::test]
    async fn opens_sizes_reads_clicks_and_screenshots_a_page() {
        let dir = std::env::temp_dir().join(format!("zs-cdp-page-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.wav"), wav(20)).unwrap();
        std::fs::write(
            dir.join("page.html"),
            r#"<!DOCTYPE html><meta name="viewport" content="width=device-width, initial-scale=1">
<audio id="audio" controls preload="metadata" src="a.wav"></audio>
<p><a href="" data-t="3">0:03</a> <a href="" id="late" data-t="12">0:12</a> Speaker</p>
<script>
document.addEventListener("click", function (e) {
  var link = e.target.closest("a[data-t]");
  if (!link) { return; }
  e.preventDefault();
  document.getElementById("audio").currentTime = Number(link.getAttribute("data-t"));
});
</script>"#,
        )
        .unwrap();
        let mut b = Browser::launch().await.unwrap();
        let profile = b.profile.clone();
        b.viewport(Viewport::PHONE).await.unwrap();
        b.navigate(&format!("file://{}", dir.join("page.html").display()))
            .await
            .unwrap();
        assert_eq!(b.eval("window.innerWidth").await.unwrap(), json!(390));
        assert_eq!(
            b.eval("document.body.innerText.includes('Speaker')").await.unwrap(),
            json!(true)
        );
        b.wait_for(
            "document.querySelector('audio').readyState >= 1",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        b.click("#late").await.unwrap();
        b.wait_for(
            "Math.abs(document.querySelector('audio').currentTime - 12) < 1",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert!(b.click("#nothing-here").await.is_err());
        assert!(b.eval("(() => { throw new Error('boom') })()").await.is_err());
        let png = dir.join("shot.png");
        let bytes = b.screenshot(&png, 2000.0).await.unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG") && bytes > 1000);
        b.viewport(Viewport::DESKTOP).await.unwrap();
        assert_eq!(b.eval("window.innerWidth").await.unwrap(), json!(1280));
        let pid = b.child.id();
        drop(b);
        assert!(!profile.exists(), "the profile is removed");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "chromium has ended");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
