//! Starting the real `mignet serve` binary for end-to-end tests and talking to it over HTTPS.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{mignet, repo};

/// A running `mignet serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub logs: mpsc::Receiver<Value>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes dev certs with `mignet certs` into `dir` and returns (ca, cert, key) paths.
pub fn certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let status = mignet().args(["certs", "--out"]).arg(dir).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"))
}

/// The cluster state `make run` serves: the reference setup plus a sample cluster.
pub fn example_state() -> Vec<String> {
    ["examples/migration-nad.yaml", "examples/hyperconverged.yaml", "examples/cluster"]
        .iter()
        .flat_map(|p| ["--cluster-state".to_string(), repo(p)])
        .collect()
}

impl Server {
    /// Starts `mignet serve` with dev certs in a temp dir, `--cluster off` and extra arguments; waits
    /// until it logs the address it listens on.
    pub fn start(extra: &[String]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (_, cert, key) = certs(dir.path());
        Server::start_with(dir, &cert, &key, extra)
    }

    /// Like [`Server::start`] with given certificate files.
    pub fn start_with(dir: tempfile::TempDir, cert: &Path, key: &Path, extra: &[String]) -> Server {
        let mut child = mignet()
            .args(["serve", "--addr", "127.0.0.1:0", "--cluster", "off", "--log-format", "json"])
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = super::json_logs(child.stderr.take().unwrap());
        let mut addr = None;
        let mut metrics_addr = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("server did not start: {:?}", child.try_wait()));
            let msg = line["message"].as_str().unwrap_or_default();
            if msg.starts_with("serving /healthz") {
                metrics_addr = line["addr"].as_str().map(|a| a.parse().unwrap());
            }
            if msg.starts_with("listening on https://") {
                addr = line["addr"].as_str().map(|a| a.parse().unwrap());
            }
        }
        Server { child, addr: addr.unwrap(), metrics_addr, dir, logs: rx }
    }

    /// `https://localhost:PORT/path` (the certificate names localhost).
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Waits for a log line whose message starts with `prefix`.
    pub fn wait_log(&self, prefix: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .logs
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line starting with {prefix:?}"));
            if line["message"].as_str().unwrap_or_default().starts_with(prefix) {
                return line;
            }
        }
    }
}

/// An HTTPS client trusting `ca`, resolving localhost to 127.0.0.1.
pub fn client(ca: &Path, http1_only: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .timeout(Duration::from_secs(20));
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}

/// An AdmissionReview for `object` (or `old` on DELETE), in the shape kube-apiserver sends.
pub fn review(uid: &str, operation: &str, object: &Value, old: &Value, dry_run: bool) -> Value {
    let typed = if object.is_null() { old } else { object };
    let api = typed["apiVersion"].as_str().unwrap();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    let kind = typed["kind"].as_str().unwrap();
    let resource = match kind {
        "NetworkAttachmentDefinition" => "network-attachment-definitions",
        "HyperConverged" => "hyperconvergeds",
        "NodeNetworkConfigurationPolicy" => "nodenetworkconfigurationpolicies",
        "UserDefinedNetwork" => "userdefinednetworks",
        "ClusterUserDefinedNetwork" => "clusteruserdefinednetworks",
        other => other,
    };
    let gvk = serde_json::json!({"group": group, "version": version, "kind": kind});
    let gvr = serde_json::json!({"group": group, "version": version, "resource": resource});
    serde_json::json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": typed["metadata"]["name"], "namespace": typed["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "admin", "uid": "admin-uid", "groups": ["system:masters", "system:authenticated"]},
            "object": object, "oldObject": old, "dryRun": dry_run,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// POSTs a review and returns (HTTP status, body as JSON or string, HTTP version).
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value, reqwest::Version) {
    let resp = client.post(url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let version = resp.version();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), version)
}
