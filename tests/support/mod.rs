//! Helpers for the live-cluster tests: a fake API server, the real `mignet` binary pointed at it, and
//! builders for the objects and AdmissionReviews the tests exchange.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub mod crds;
pub mod envtest;
pub mod fake_apiserver;
pub mod installed;
pub mod schemas;

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::{Value, json};

/// How long any awaited condition may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub use self::common::mignet;

/// Runs `mignet` to completion off the async runtime; returns (exit code, stdout, stderr).
pub async fn run(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = mignet().args(&args).env("RUST_LOG", "warn").stdin(Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

/// Whether an AdmissionReview response allows the request.
pub fn allowed(response: &Value) -> bool {
    response["allowed"].as_bool().expect("allowed is a bool")
}

/// The status message of an AdmissionReview response ("" when there is none).
pub fn message(response: &Value) -> String {
    response["status"]["message"].as_str().unwrap_or_default().to_owned()
}

/// Polls /validate with `review` until the verdict is `want` (the live view converging); returns
/// that response.
pub async fn verdict(server: &Serve, review: &Value, want: bool, what: &str) -> Value {
    eventually(what, || async {
        let r = server.validate(review).await;
        (allowed(&r) == want).then_some(r)
    })
    .await
}

/// Polls `check` until it yields a value; panics naming `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `mignet serve --cluster auto`, killed when dropped.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    logs: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // a failing test shows what the server said
            self.seen.extend(self.logs.try_iter());
            for line in &self.seen {
                eprintln!("mignet serve: {line}");
            }
        }
    }
}

impl Serve {
    /// Starts the server with dev certificates, JSON logs, the kubeconfig and extra arguments, and waits
    /// for its "listening on https://ADDR" line.
    pub async fn start(kubeconfig: &Path, extra: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let certs = mignet::certs::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        mignet::certs::write(dir.path(), &certs, false).unwrap();
        let mut child = mignet()
            .args(["serve", "--addr", "127.0.0.1:0", "--cluster", "auto", "--log-format", "json"])
            .args(["--discovery-interval-seconds", "1", "--reload-interval-ms", "100"])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--key")
            .arg(dir.path().join("tls.key"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = common::json_logs(child.stderr.take().unwrap());
        let mut serve = Serve { child, addr: "0.0.0.0:0".parse().unwrap(), dir, logs, seen: Vec::new() };
        let line = serve.wait_log("listening on https://").await;
        serve.addr = line["addr"].as_str().and_then(|a| a.parse().ok()).expect("listening line has addr");
        serve
    }

    /// Waits for a log line whose message starts with `prefix`.
    pub async fn wait_log(&mut self, prefix: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            while let Ok(line) = self.logs.try_recv() {
                self.seen.push(line.clone());
                if line["message"].as_str().unwrap_or_default().starts_with(prefix) {
                    return line;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mignet serve exited with {status}; logs: {:?}", self.seen);
            }
            assert!(tokio::time::Instant::now() < deadline, "no log line {prefix:?}; logs: {:?}", self.seen);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `https://localhost:PORT/path` (the certificate names localhost).
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// The CA of the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// An HTTPS client trusting the server's CA.
    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(self.ca()).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// The server's process id, for reading its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET `path`: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.client().get(self.url(path)).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        eventually("/readyz to answer 200", || async { (self.get("/readyz").await.0 == 200).then_some(()) })
            .await;
    }

    /// POSTs a review to /validate; returns `response` of the AdmissionReview.
    pub async fn validate(&self, review: &Value) -> Value {
        let resp = self.client().post(self.url("/validate")).json(review).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        body["response"].clone()
    }

    /// The `/readyz?verbose` line of one resource.
    pub async fn readyz_line(&self, resource: &str) -> String {
        let (_, body) = self.get("/readyz?verbose").await;
        body.lines()
            .find(|l| l[3..].starts_with(&format!("{resource} ")))
            .unwrap_or_else(|| panic!("no {resource} in {body}"))
            .to_owned()
    }
}

/// Reads `key=value` from a `/readyz?verbose` line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// What `mignet view` is shown in its tests: two virt-handler nodes of three, the migration NAD, a
/// tenant NAD on half of it and one elsewhere, the HyperConverged, the cluster networks.
pub fn view_sample(fake: &fake_apiserver::FakeApiServer) {
    for i in 0..3 {
        fake.apply(node(&format!("worker-{i}"), i < 2));
    }
    fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    fake.apply(nad("tenant", "blue", "192.168.99.128/25"));
    fake.apply(nad("tenant", "green", "10.50.0.0/24"));
    fake.apply(hyperconverged("openshift-cnv", Some("migration-bridge")));
    fake.apply_with_status(cluster_network("10.132.0.0/14"));
    fake.apply(install_config("10.0.0.0/16"));
}

/// A NAD using whereabouts on `range`.
pub fn nad(ns: &str, name: &str, range: &str) -> Value {
    let config = json!({"cniVersion": "0.3.1", "name": name, "type": "macvlan", "master": "bond2", "mode": "bridge",
                        "ipam": {"type": "whereabouts", "range": range}});
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns}, "spec": {"config": config.to_string()}})
}

/// A v1beta1 HyperConverged naming `network` as its live-migration network.
pub fn hyperconverged(ns: &str, network: Option<&str>) -> Value {
    let mut lm = json!({"completionTimeoutPerGiB": 150, "parallelMigrationsPerCluster": 5,
                        "parallelOutboundMigrationsPerNode": 2, "progressTimeout": 150});
    if let Some(n) = network {
        lm["network"] = json!(n);
    }
    json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
           "metadata": {"name": "kubevirt-hyperconverged", "namespace": ns}, "spec": {"liveMigrationConfig": lm}})
}

/// A node, labelled schedulable for virt-handler or not.
pub fn node(name: &str, schedulable: bool) -> Value {
    let labels = if schedulable { json!({"kubevirt.io/schedulable": "true"}) } else { json!({}) };
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
           "spec": {}, "status": {"capacity": {"cpu": "8"}}})
}

/// OpenShift's `networks.config.openshift.io/cluster` with the given pod network in status.
pub fn cluster_network(pod: &str) -> Value {
    json!({"apiVersion": "config.openshift.io/v1", "kind": "Network", "metadata": {"name": "cluster"},
           "spec": {"clusterNetwork": [{"cidr": "10.128.0.0/14", "hostPrefix": 23}], "serviceNetwork": ["172.30.0.0/16"]},
           "status": {"clusterNetwork": [{"cidr": pod, "hostPrefix": 23}], "serviceNetwork": ["172.30.0.0/16"]}})
}

/// The installer's ConfigMap, with a secret that must never surface anywhere.
pub fn install_config(machine: &str) -> Value {
    let text = format!(
        "apiVersion: v1\nbaseDomain: example.com\npullSecret: '{{\"auths\":{{\"SECRET-PULL\":{{}}}}}}'\n\
         sshKey: ssh-ed25519 SECRET-SSH\nnetworking:\n  machineNetwork:\n  - cidr: {machine}\n"
    );
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cluster-config-v1", "namespace": "kube-system"},
           "data": {"install-config": text, "other-key": "SECRET-OTHER"}})
}

/// An AdmissionReview in the shape kube-apiserver sends (`object` null on DELETE, `old` null on CREATE).
pub fn review(uid: &str, operation: &str, object: &Value, old: &Value) -> Value {
    common::server::review(uid, operation, object, old, false)
}
