//! mignet installed on a real kube-apiserver as a user installs it, shared by the cases of one test
//! binary: the API server and etcd ([`envtest`](super::envtest)), the project's CRDs for an HCO
//! release ([`crds`](super::crds)), `manifests/rbac`, Nodes and NodeNetworkStates (status written
//! through the status subresource, as kubelet and nmstate's handler write it), `mignet serve
//! --cluster auto` with a token of its own ServiceAccount, the webhook registrations exactly as
//! `make dev-manifests` renders them, and the seed objects admitted through them.
//!
//! Without `KUBEBUILDER_ASSETS` every case is skipped with one line saying so (a failure under
//! `CI=true`).
#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::{
    PATIENCE,
    common::repo,
    crds,
    envtest::{Assets, Envtest, Guarded, Out, free_port},
    schemas::HcoRelease,
};

/// An object admitted when the suite starts: a file of the repository, or one built by the test.
#[derive(Debug)]
pub enum Seed {
    File(&'static str),
    Object(Value),
}

pub const NS: &str = "openshift-cnv";
pub const HC: &str = "kubevirt-hyperconverged";

pub struct Suite {
    pub env: Envtest,
    /// mignet serve, running with its ServiceAccount's token.
    mignet: Mutex<Guarded>,
    mignet_url: String,
    mignet_ca: PathBuf,
    mignet_log: PathBuf,
}

/// The shared suite, started by the first case that asks; `None` when the binaries are missing.
pub async fn suite(
    cell: &'static OnceCell<Option<Suite>>,
    release: HcoRelease,
    seed: &[Seed],
) -> Option<&'static Suite> {
    cell.get_or_init(|| async {
        match Assets::find() {
            Assets::Found { apiserver, etcd } => Some(Suite::start(&apiserver, &etcd, release, seed).await),
            Assets::Missing(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but the real-API-server tests cannot run: {why}"
                );
                // past the test harness's capture: one line in every `cargo test` output
                let _ = writeln!(std::io::stderr(), "real-API-server tests skipped: {why}");
                None
            }
        }
    })
    .await
    .as_ref()
}

impl Suite {
    async fn start(apiserver: &Path, etcd: &Path, release: HcoRelease, seed: &[Seed]) -> Suite {
        let env = Envtest::start(apiserver, etcd).await;
        let crds = json!({"apiVersion": "v1", "kind": "List", "items": crds::all(release)});
        must(env.kubectl(&["apply", "-f", "-"], Some(&crds.to_string())).await, "CRDs");
        must(
            env.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"], None)
                .await,
            "CRDs established",
        );
        must(env.kubectl(&["apply", "-f", &repo("manifests/base/namespace.yaml")], None).await, "namespace");
        must(env.kubectl(&["create", "namespace", NS], None).await, "namespace openshift-cnv");
        must(env.kubectl(&["apply", "-k", &repo("manifests/rbac")], None).await, "manifests/rbac");
        seed_hosts(&env).await;
        // the API server's authorizer learns of the new binding from its own watch, a moment later
        let sa = "--as=system:serviceaccount:mignet-system:mignet";
        for resource in [
            "nodes",
            "network-attachment-definitions.k8s.cni.cncf.io",
            "hyperconvergeds.hco.kubevirt.io",
            "kubevirts.kubevirt.io",
            "virtualmachineinstancemigrations.kubevirt.io",
            "userdefinednetworks.k8s.ovn.org",
            "clusteruserdefinednetworks.k8s.ovn.org",
        ] {
            let can = ["auth", "can-i", "watch", resource, "--all-namespaces", sa];
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while env.kubectl(&can, None).await.stdout.trim() != "yes" {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "manifests/rbac never lets mignet watch {resource}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }

        // mignet as deployed: its own ServiceAccount, nothing more
        let token = must(
            env.kubectl(&["create", "token", "mignet", "-n", "mignet-system", "--duration=2h"], None).await,
            "token",
        );
        let kubeconfig = env.kubeconfig_for("mignet", token.stdout.trim());
        let certs = mignet::certs::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let tls = env.dir.join("mignet");
        mignet::certs::write(&tls, &certs, false).unwrap();
        let port = free_port();
        let mignet_log = env.dir.join("mignet.log");
        let args: Vec<std::ffi::OsString> = [
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--cluster",
            "auto",
            "--log-format",
            "json",
            "--discovery-interval-seconds",
            "1",
        ]
        .iter()
        .map(Into::into)
        .chain(["--kubeconfig".into(), kubeconfig.into_os_string()])
        .chain(["--cert".into(), tls.join("tls.crt").into_os_string()])
        .chain(["--key".into(), tls.join("tls.key").into_os_string()])
        .collect();
        let mignet = Guarded::spawn(Path::new(env!("CARGO_BIN_EXE_mignet")), &args, &mignet_log);
        let suite = Suite {
            env,
            mignet: Mutex::new(mignet),
            mignet_url: format!("https://127.0.0.1:{port}"),
            mignet_ca: tls.join("ca.crt"),
            mignet_log,
        };
        suite.wait_mignet_ready().await;
        // ready means every watch listed: with its own ServiceAccount's token, not one was refused
        let log = suite.mignet_log();
        // (by the API server's words: a bare "403" also turns up in timestamps and ports)
        assert!(!log.contains("code: 403") && !log.to_lowercase().contains("forbidden"), "{log}");

        // the webhook registrations as `make dev-manifests` renders them, pointed at this mignet
        let rendered = suite.env.dir.join("dev-manifests.yaml");
        let out = std::process::Command::new("sh")
            .arg(repo("hack/dev-manifests.sh"))
            .arg(&rendered)
            .env("DEV_URL", &suite.mignet_url)
            .env("CA", &suite.mignet_ca)
            .output()
            .unwrap();
        assert!(out.status.success(), "hack/dev-manifests.sh: {}", String::from_utf8_lossy(&out.stderr));
        must(suite.env.kubectl(&["apply", "-f", rendered.to_str().unwrap()], None).await, "webhooks");
        // registrations take effect within a moment: until a known-bad NAD is denied
        suite
            .until("the webhooks to answer", || async {
                let out =
                    suite.apply_file("examples/broken/nad-bridge-plugin.yaml", &["--dry-run=server"]).await;
                out.stderr.contains("denied the request").then_some(())
            })
            .await;

        for object in seed {
            // the view learns of the seed written just before from its watch, a moment later: until
            // then a HyperConverged naming that NAD is denied as naming a missing one
            suite
                .until("the view to see the seed written before", || async {
                    let out = suite.apply_seed(object, &["--dry-run=server"]).await;
                    (!out.stderr.contains("Not found")).then_some(())
                })
                .await;
            let out = suite.apply_seed(object, &[]).await;
            assert!(out.ok && out.stdout.contains("created") && out.stderr.is_empty(), "{object:?}: {out:?}");
        }
        suite
    }

    async fn apply_seed(&self, seed: &Seed, extra: &[&str]) -> Out {
        match seed {
            Seed::File(file) => self.apply_file(file, extra).await,
            Seed::Object(object) => self.apply(&object.to_string(), extra).await,
        }
    }

    /// Polls `check` until it yields a value; panics naming `what` (with mignet's log) after [`PATIENCE`].
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; mignet's log ends:\n{}",
                self.mignet_log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn mignet_log_tail(&self) -> String {
        let text = self.mignet_log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Everything mignet serve logged so far (JSON lines).
    pub fn mignet_log(&self) -> String {
        std::fs::read_to_string(&self.mignet_log).unwrap_or_default()
    }

    /// The rule ids of each denial mignet logged for `kind` `name`, oldest first (one comma-separated
    /// entry per denied admission).
    pub fn denied_rules(&self, kind: &str, name: &str) -> Vec<String> {
        self.mignet_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["verdict"] == "denied" && l["kind"] == kind && l["name"] == name)
            .filter_map(|l| l["rules"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.mignet_ca).unwrap()).unwrap();
        reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(10)).build().unwrap()
    }

    /// GET a path of mignet's: (status, body), or None while it does not answer.
    pub async fn mignet_get(&self, path: &str) -> Option<(u16, String)> {
        let resp = self.client().get(format!("{}{path}", self.mignet_url)).send().await.ok()?;
        Some((resp.status().as_u16(), resp.text().await.ok()?))
    }

    pub async fn wait_mignet_ready(&self) {
        self.until("mignet's /readyz to answer 200", || async {
            assert!(
                !self.mignet.lock().unwrap().exited(),
                "mignet serve exited:\n{}",
                self.mignet_log_tail()
            );
            (self.mignet_get("/readyz").await?.0 == 200).then_some(())
        })
        .await;
    }

    /// mignet's `mignet_admission_requests_total` for these labels, summed over the others.
    pub async fn admissions(&self, labels: &[(&str, &str)]) -> f64 {
        let (_, text) = self.mignet_get("/metrics").await.expect("mignet answers /metrics");
        text.lines()
            .filter(|l| l.starts_with("mignet_admission_requests_total{"))
            .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn kubectl(&self, args: &[&str]) -> Out {
        self.env.kubectl(args, None).await
    }

    pub async fn apply(&self, yaml: &str, extra: &[&str]) -> Out {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.env.kubectl(&args, Some(yaml)).await
    }

    pub async fn apply_file(&self, file: &str, extra: &[&str]) -> Out {
        let path = repo(file);
        let mut args = vec!["apply", "-f", &path];
        args.extend_from_slice(extra);
        self.env.kubectl(&args, None).await
    }

    /// The stored object as JSON, read through `resource` (e.g. `hyperconvergeds.v1beta1.hco.kubevirt.io`).
    pub async fn get(&self, resource: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let mut args = vec!["get", resource, name, "-o", "json"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl(&args).await;
        out.ok.then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    pub async fn hc_v1beta1(&self) -> Value {
        self.get("hyperconvergeds.v1beta1.hco.kubevirt.io", Some(NS), HC).await.expect("the HyperConverged")
    }
}

/// Asserts a kubectl command succeeded.
pub fn must(out: Out, what: &str) -> Out {
    assert!(out.ok, "{what}: kubectl failed:\n{}\n{}", out.stdout, out.stderr);
    out
}

/// Asserts kubectl was refused by `webhook` and returns the message.
pub fn denied_by(out: &Out, webhook: &str) -> String {
    assert!(!out.ok, "expected a denial by {webhook}, got: {out:?}");
    let marker = format!("admission webhook \"{webhook}\" denied the request");
    assert!(out.stderr.contains(&marker), "expected {marker:?} in: {}", out.stderr);
    out.stderr.clone()
}

pub const IN_NS: &str = "migration-namespace.validate.mignet.io";
pub const ELSEWHERE: &str = "other-namespaces.validate.mignet.io";
pub const NNCP: &str = "node-network-policies.validate.mignet.io";

/// Objects of a `kind: List` fixture in `tests/`.
pub fn items(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo(file)).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    match doc["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![doc],
    }
}

/// Creates Nodes and NodeNetworkStates from the host fixtures, each written as its producer writes
/// it: the object, then its status through the status subresource.
async fn seed_hosts(env: &Envtest) {
    let mut objects = items("tests/host/nodes.yaml");
    objects.extend(items("tests/host/nns.yaml"));
    objects.extend(items("tests/host/node-c.yaml"));
    for object in objects {
        let kind = object["kind"].as_str().unwrap().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let mut fresh = json!({"apiVersion": object["apiVersion"], "kind": kind,
                               "metadata": {"name": name, "labels": object["metadata"]["labels"]}});
        if let Some(spec) = object.get("spec") {
            fresh["spec"] = spec.clone();
        }
        must(env.kubectl(&["create", "-f", "-"], Some(&fresh.to_string())).await, &name);
        let status = json!({"status": object["status"]}).to_string();
        let resource = if kind == "Node" { "node" } else { "nodenetworkstate" };
        let patch = ["patch", resource, &name, "--subresource=status", "--type=merge", "-p", &status];
        must(env.kubectl(&patch, None).await, &format!("{kind} {name} status"));
    }
}

/// A migration-style NAD on `range`.
pub fn nad(ns: &str, name: &str, plugin: &str, ipam: Value) -> String {
    let config = json!({"cniVersion": "0.3.1", "name": name, "type": plugin, "master": "bond2", "mode": "bridge",
                        "ipam": ipam});
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns}, "spec": {"config": config.to_string()}})
    .to_string()
}

pub fn whereabouts(range: &str) -> Value {
    json!({"type": "whereabouts", "range": range})
}
