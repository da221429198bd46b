//! Headless Chromium for the HTML page tests: load a file, read the DOM after load, catch console
//! messages, take a screenshot.
//!
//! Each run is one `chromium --headless` process with a fresh profile and every background service
//! off, so nothing but the page is loaded. `--dump-dom` prints the DOM as the browser built it (after
//! parsing, so markup that slipped through escaping would show up as elements, not text), and
//! `--enable-logging=stderr --v=0` prints every console message as an `INFO:CONSOLE` line. The pages
//! carry no script, so any console message at all (a CSP violation, a blocked load, an error) is a
//! failure; [`console_detection_works`] proves on a deliberately broken page that such messages are
//! seen, so a Chromium that logged differently would fail loudly rather than pass quietly.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The Chromium binary: `MIGNET_CHROMIUM`, else `chromium` or `chromium-browser` on PATH. `None`
/// means skip, which is refused under `CI=true`: there the browser tests must run.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("MIGNET_CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no Chromium found: install Debian's chromium (.ci/run does) or set MIGNET_CHROMIUM"
        );
        eprintln!("skipping: no chromium on PATH (apt-get install chromium, or set MIGNET_CHROMIUM)");
    }
    found
}

/// What the browser made of a page.
pub struct Loaded {
    /// The DOM serialised after load.
    pub dom: String,
    /// Console messages the page caused.
    pub console: Vec<String>,
}

fn base(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn url(page: &Path) -> String {
    format!("file://{}", page.canonicalize().expect("page exists").display())
}

/// Loads `page` and returns its DOM and console messages.
pub fn load(chromium: &Path, page: &Path) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let out = base(chromium, profile.path())
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(url(page))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed on {}: {stderr}", page.display());
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect();
    Loaded { dom: String::from_utf8(out.stdout).unwrap(), console }
}

/// Screenshots `page` at `width`×`height` into `png`; returns the PNG's dimensions as read back.
pub fn screenshot(chromium: &Path, page: &Path, png: &Path, width: u32, height: u32) -> (u32, u32) {
    let profile = tempfile::tempdir().unwrap();
    let out = base(chromium, profile.path())
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url(page))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // IHDR: width and height, big-endian, right after the chunk header
    let dim = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (dim(16), dim(20))
}

/// Whether the console check sees a message Chromium logs for a page breaking its CSP.
pub fn console_detection_works(chromium: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
         </head><body><img src=\"http://192.0.2.1/x.png\"></body></html>",
    )
    .unwrap();
    let loaded = load(chromium, &page);
    assert!(
        loaded.console.iter().any(|l| l.contains("Content Security Policy")),
        "a blocked load must show as a console message: {:?}",
        loaded.console
    );
}

/// How many times `needle` occurs in `hay`.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}
