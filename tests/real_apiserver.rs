//! End to end against a real kube-apiserver and etcd (see `support::envtest`): what mignet ships,
//! installed as a user installs it, and driven with kubectl as a user drives it.
//!
//! One API server for the whole binary: the first test starts it with etcd, installs the project's
//! CRDs (`support::crds`), `manifests/rbac`, Nodes and NodeNetworkStates (status written through the
//! status subresource, as kubelet and nmstate's handler write it), starts `mignet serve --cluster
//! auto` with a token of its own ServiceAccount, applies the webhook registrations exactly as
//! `make dev-manifests` renders them, and admits the seed NAD and HyperConverged of `examples/`. The
//! cases then share it; the API server restart takes it alone.
//!
//! Without `KUBEBUILDER_ASSETS` every case is skipped with one line saying so (a failure under
//! `CI=true`).

mod support;

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use serde_json::{Value, json};
use support::{
    PATIENCE,
    common::repo,
    crds,
    envtest::{Assets, Envtest, Guarded, Out, free_port},
    fake_apiserver::{self, FakeApiServer},
    schemas::HcoRelease,
};
use tokio::sync::{OnceCell, RwLock};

static SUITE: OnceCell<Option<Suite>> = OnceCell::const_new();
/// Cases hold it shared; the API server restart holds it alone.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

const NS: &str = "openshift-cnv";
const HC: &str = "kubevirt-hyperconverged";

struct Suite {
    env: Envtest,
    /// mignet serve, running with its ServiceAccount's token.
    mignet: Mutex<Guarded>,
    mignet_url: String,
    mignet_ca: PathBuf,
    mignet_log: PathBuf,
}

/// The shared suite, started by the first case that asks; `None` when the binaries are missing.
async fn suite() -> Option<&'static Suite> {
    SUITE
        .get_or_init(|| async {
            match Assets::find() {
                Assets::Found { apiserver, etcd } => Some(Suite::start(&apiserver, &etcd).await),
                Assets::Missing(why) => {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but the real-API-server tests cannot run: {why}"
                    );
                    // past the test harness's capture: one line in every `cargo test` output
                    let _ = writeln!(std::io::stderr(), "real_apiserver: all cases skipped: {why}");
                    None
                }
            }
        })
        .await
        .as_ref()
}

impl Suite {
    async fn start(apiserver: &Path, etcd: &Path) -> Suite {
        let env = Envtest::start(apiserver, etcd).await;
        let crds = json!({"apiVersion": "v1", "kind": "List", "items": crds::all(HcoRelease::V1_18)});
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

        for file in ["examples/migration-nad.yaml", "examples/hyperconverged.yaml"] {
            let out = suite.apply_file(file, &[]).await;
            assert!(out.ok && out.stdout.contains("created") && out.stderr.is_empty(), "{file}: {out:?}");
        }
        suite
    }

    /// Polls `check` until it yields a value; panics naming `what` (with mignet's log) after [`PATIENCE`].
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
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

    fn mignet_log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.mignet_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.mignet_ca).unwrap()).unwrap();
        reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(10)).build().unwrap()
    }

    /// GET a path of mignet's: (status, body), or None while it does not answer.
    async fn mignet_get(&self, path: &str) -> Option<(u16, String)> {
        let resp = self.client().get(format!("{}{path}", self.mignet_url)).send().await.ok()?;
        Some((resp.status().as_u16(), resp.text().await.ok()?))
    }

    async fn wait_mignet_ready(&self) {
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
    async fn admissions(&self, labels: &[(&str, &str)]) -> f64 {
        let (_, text) = self.mignet_get("/metrics").await.expect("mignet answers /metrics");
        text.lines()
            .filter(|l| l.starts_with("mignet_admission_requests_total{"))
            .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn kubectl(&self, args: &[&str]) -> Out {
        self.env.kubectl(args, None).await
    }

    async fn apply(&self, yaml: &str, extra: &[&str]) -> Out {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.env.kubectl(&args, Some(yaml)).await
    }

    async fn apply_file(&self, file: &str, extra: &[&str]) -> Out {
        let path = repo(file);
        let mut args = vec!["apply", "-f", &path];
        args.extend_from_slice(extra);
        self.env.kubectl(&args, None).await
    }

    /// The stored object as JSON, read through `resource` (e.g. `hyperconvergeds.v1beta1.hco.kubevirt.io`).
    async fn get(&self, resource: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let mut args = vec!["get", resource, name, "-o", "json"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl(&args).await;
        out.ok.then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    async fn hc_v1beta1(&self) -> Value {
        self.get("hyperconvergeds.v1beta1.hco.kubevirt.io", Some(NS), HC).await.expect("the HyperConverged")
    }
}

/// Asserts a kubectl command succeeded.
fn must(out: Out, what: &str) -> Out {
    assert!(out.ok, "{what}: kubectl failed:\n{}\n{}", out.stdout, out.stderr);
    out
}

/// Asserts kubectl was refused by `webhook` and returns the message.
fn denied_by(out: &Out, webhook: &str) -> String {
    assert!(!out.ok, "expected a denial by {webhook}, got: {out:?}");
    let marker = format!("admission webhook \"{webhook}\" denied the request");
    assert!(out.stderr.contains(&marker), "expected {marker:?} in: {}", out.stderr);
    out.stderr.clone()
}

const IN_NS: &str = "migration-namespace.validate.mignet.io";
const ELSEWHERE: &str = "other-namespaces.validate.mignet.io";
const NNCP: &str = "node-network-policies.validate.mignet.io";

/// Objects of a `kind: List` fixture in `tests/`.
fn items(file: &str) -> Vec<Value> {
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
fn nad(ns: &str, name: &str, plugin: &str, ipam: Value) -> String {
    let config = json!({"cniVersion": "0.3.1", "name": name, "type": plugin, "master": "bond2", "mode": "bridge",
                        "ipam": ipam});
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns}, "spec": {"config": config.to_string()}})
    .to_string()
}

fn whereabouts(range: &str) -> Value {
    json!({"type": "whereabouts", "range": range})
}

#[tokio::test]
async fn the_seed_nad_and_hyperconverged_are_admitted_unchanged() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    // created through the webhooks when the suite started; applied again, nothing is sent
    for (file, extra) in [
        ("examples/migration-nad.yaml", &[][..]),
        ("examples/hyperconverged.yaml", &[][..]),
        // the docs' spelling: no namespace in the file
        ("examples/hyperconverged-no-namespace.yaml", &["-n", NS][..]),
    ] {
        let out = s.apply_file(file, extra).await;
        assert!(out.ok && out.stderr.is_empty() && out.stdout.contains("unchanged"), "{file}: {out:?}");
    }
    // a replace always reaches both webhooks (an UPDATE): allowed, no warning, no patch
    let counted = |webhook, verdict| [("kind", "HyperConverged"), ("webhook", webhook), ("verdict", verdict)];
    let before = (
        s.admissions(&counted("validate", "allowed")).await,
        s.admissions(&counted("mutate", "allowed")).await,
    );
    for (file, extra) in [
        ("examples/hyperconverged-no-namespace.yaml", &["-n", NS][..]),
        ("examples/hyperconverged.yaml", &[][..]),
    ] {
        let path = repo(file);
        let mut args = vec!["replace", "-f", &path];
        args.extend_from_slice(extra);
        let out = s.kubectl(&args).await;
        assert!(out.ok && out.stderr.is_empty() && out.stdout.contains("replaced"), "{file}: {out:?}");
    }
    let after = (
        s.admissions(&counted("validate", "allowed")).await,
        s.admissions(&counted("mutate", "allowed")).await,
    );
    assert_eq!((after.0 - before.0, after.1 - before.1), (2.0, 2.0), "mignet judged both replaces");
    let hc = s.hc_v1beta1().await;
    let lm = &hc["spec"]["liveMigrationConfig"];
    assert_eq!(lm["network"], "migration-bridge");
    let numbers = [
        "completionTimeoutPerGiB",
        "progressTimeout",
        "parallelMigrationsPerCluster",
        "parallelOutboundMigrationsPerNode",
    ]
    .map(|k| lm[k].as_i64());
    assert_eq!(numbers, [Some(800), Some(150), Some(5), Some(2)], "{hc}");
    let stored = s.get("network-attachment-definitions", Some(NS), "migration-bridge").await.unwrap();
    let config: Value = serde_json::from_str(stored["spec"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(
        (config["master"].as_str(), config["ipam"]["range"].as_str()),
        (Some("bond2"), Some("192.168.99.0/24"))
    );
}

#[tokio::test]
async fn a_migration_nad_outside_the_migration_namespace_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let out = s.apply_file("examples/broken/nad-in-wrong-namespace.yaml", &[]).await;
    let m = denied_by(&out, ELSEWHERE);
    assert!(m.contains("metadata.namespace") && m.contains("openshift-cnv"), "{m}");
    assert!(s.get("network-attachment-definitions", Some("default"), "migration-net").await.is_none());
}

#[tokio::test]
async fn overlapping_ranges_are_denied_whichever_nad_comes_second() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    must(s.kubectl(&["create", "namespace", "tenant-overlap"]).await, "namespace");
    // a tenant network on half of the migration subnet
    let out = s.apply(&nad("tenant-overlap", "blue", "macvlan", whereabouts("192.168.99.128/25")), &[]).await;
    let m = denied_by(&out, ELSEWHERE);
    assert!(m.contains("192.168.99.0/24") && m.contains("openshift-cnv/migration-bridge"), "{m}");
    assert!(s.get("network-attachment-definitions", Some("tenant-overlap"), "blue").await.is_none());
    // the other way round: a tenant network first, then a migration NAD over it
    let out = s.apply(&nad("tenant-overlap", "green", "macvlan", whereabouts("10.77.0.0/24")), &[]).await;
    assert!(out.ok && out.stdout.contains("created"), "{out:?}");
    let wide = nad(NS, "migration-wide", "macvlan", whereabouts("10.77.0.0/16"));
    // the view learns of green from its watch a moment later
    s.until("the view to see tenant-overlap/green", || async {
        s.apply(&wide, &["--dry-run=server"]).await.stderr.contains("denied the request").then_some(())
    })
    .await;
    let m = denied_by(&s.apply(&wide, &[]).await, IN_NS);
    assert!(m.contains("10.77.0.0/24") && m.contains("tenant-overlap/green"), "{m}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-wide").await.is_none());
}

#[tokio::test]
async fn a_migration_nad_with_another_plugin_or_ipam_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    for (file, name, expect) in [
        ("examples/broken/nad-bridge-plugin.yaml", "migration-linux-bridge", "macvlan"),
        ("examples/broken/nad-host-local-ipam.yaml", "migration-host-local", "whereabouts"),
    ] {
        let m = denied_by(&s.apply_file(file, &[]).await, IN_NS);
        assert!(m.contains(expect), "{file}: {m}");
        assert!(s.get("network-attachment-definitions", Some(NS), name).await.is_none(), "{file}");
    }
}

#[tokio::test]
async fn deleting_the_nad_the_hyperconverged_uses_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let delete = ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge"];
    let m = denied_by(&s.kubectl(&delete).await, IN_NS);
    assert!(m.contains(HC), "{m}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-bridge").await.is_some());
}

#[tokio::test]
async fn hyperconverged_numbers_are_judged_and_defaults_kept() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let m = denied_by(&s.apply_file("examples/broken/hco-negative-timeout.yaml", &[]).await, IN_NS);
    assert!(m.contains("spec.liveMigrationConfig.completionTimeoutPerGiB"), "{m}");
    let patch = r#"{"spec":{"liveMigrationConfig":{"parallelMigrationsPerCluster":0}}}"#;
    let args =
        ["patch", "hyperconvergeds.v1beta1.hco.kubevirt.io", "-n", NS, HC, "--type=merge", "-p", patch];
    let m = denied_by(&s.kubectl(&args).await, IN_NS);
    assert!(m.contains("spec.liveMigrationConfig.parallelMigrationsPerCluster"), "{m}");
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"], 800);

    // the defaults: a HyperConverged naming only what it wants elsewhere than the migration namespace
    must(s.kubectl(&["create", "namespace", "hc-defaults"]).await, "namespace");
    let patched = [("kind", "HyperConverged"), ("webhook", "mutate"), ("verdict", "patched")];
    let before = s.admissions(&patched).await;
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
                    "metadata": {"name": HC, "namespace": "hc-defaults"},
                    "spec": {"liveMigrationConfig": {"progressTimeout": 300}}});
    let out = s.apply(&hc.to_string(), &[]).await;
    assert!(out.ok, "{out:?}");
    let stored = s.get("hyperconvergeds.v1beta1.hco.kubevirt.io", Some("hc-defaults"), HC).await.unwrap();
    let lm = &stored["spec"]["liveMigrationConfig"];
    // what the user wrote is kept; the CRD's schema defaults fill the rest before mutating admission
    // runs, so mignet's defaults patch has nothing left to add
    assert_eq!(lm["progressTimeout"], 300, "{stored}");
    let numbers =
        ["completionTimeoutPerGiB", "parallelMigrationsPerCluster", "parallelOutboundMigrationsPerNode"]
            .map(|k| lm[k].as_i64());
    assert_eq!(numbers, [Some(150), Some(5), Some(2)], "{stored}");
    assert_eq!(s.admissions(&patched).await, before, "no patch on top of the CRD defaults");
}

#[tokio::test]
async fn a_v1_layout_write_over_the_v1beta1_hyperconverged_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    // the reads through both versions reach the view
    s.until("the view to read the HyperConverged", || async {
        let (_, body) = s.mignet_get("/readyz?verbose").await?;
        body.contains("hyperconvergeds").then_some(())
    })
    .await;
    let patch = r#"{"spec":{"virtualization":{"liveMigrationConfig":{"progressTimeout":200}}}}"#;
    for resource in ["hyperconvergeds.v1.hco.kubevirt.io", "hco"] {
        let args = ["patch", resource, "-n", NS, HC, "--type=merge", "-p", patch];
        let m = denied_by(&s.kubectl(&args).await, IN_NS);
        assert!(
            m.contains("spec.virtualization")
                && m.contains("network \"migration-bridge\"")
                && m.contains("hyperconvergeds.v1beta1.hco.kubevirt.io"),
            "{resource}: {m}"
        );
    }
    // the v1 layout labelled v1beta1: kubectl asks for strict field validation, and the API server
    // itself refuses the fields v1beta1 does not know before any webhook sees them
    let out = s.apply_file("examples/broken/hco-v1-layout-sent-as-v1beta1.yaml", &[]).await;
    assert!(!out.ok && out.stderr.contains("unknown field \"spec.virtualization\""), "{out:?}");
    let lm = &s.hc_v1beta1().await["spec"]["liveMigrationConfig"];
    assert_eq!(
        (lm["network"].as_str(), lm["progressTimeout"].as_i64()),
        (Some("migration-bridge"), Some(150))
    );
    // the same change through v1beta1 is an ordinary update
    let patch = r#"{"spec":{"liveMigrationConfig":{"progressTimeout":200}}}"#;
    let args = [
        "patch",
        "hyperconvergeds.v1beta1.hco.kubevirt.io",
        "-n",
        NS,
        HC,
        "--type=merge",
        "-p",
        patch,
        "--dry-run=server",
    ];
    let out = s.kubectl(&args).await;
    assert!(out.ok && out.stdout.contains("patched"), "{out:?}");
}

#[tokio::test]
async fn an_nncp_removing_the_migration_bond_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let m = denied_by(&s.apply_file("tests/host/nncp-remove-bond2.yaml", &[]).await, NNCP);
    assert!(
        m.contains("\"bond2\" is the live-migration master") && m.contains("node-a, node-b, node-c"),
        "{m}"
    );
    assert!(s.get("nodenetworkconfigurationpolicies", None, "bond2-absent").await.is_none());
    // the same change written through v1, the stored version
    let v1 = std::fs::read_to_string(repo("tests/host/nncp-remove-bond2.yaml"))
        .unwrap()
        .replace("nmstate.io/v1beta1", "nmstate.io/v1");
    denied_by(&s.apply(&v1, &[]).await, NNCP);
    // a policy that keeps bond2 is admitted
    let out = s.apply_file("tests/host/nncp-bond2.yaml", &["--dry-run=server"]).await;
    assert!(out.ok, "{out:?}");
}

#[tokio::test]
async fn server_side_dry_runs_get_the_same_verdicts_and_store_nothing() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let out = s.apply_file("examples/broken/nad-host-local-ipam.yaml", &["--dry-run=server"]).await;
    assert!(denied_by(&out, IN_NS).contains("whereabouts"));
    let out = s
        .kubectl(&[
            "delete",
            "network-attachment-definitions",
            "-n",
            NS,
            "migration-bridge",
            "--dry-run=server",
        ])
        .await;
    denied_by(&out, IN_NS);
    let fine = nad(NS, "migration-spare", "macvlan", whereabouts("192.168.120.0/24"));
    let out = s.apply(&fine, &["--dry-run=server"]).await;
    assert!(out.ok && out.stdout.contains("(server dry run)"), "{out:?}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-spare").await.is_none());
}

#[tokio::test]
async fn the_guard_holds_across_an_api_server_restart() {
    let Some(s) = suite().await else { return };
    let _alone = EXCLUSIVE.write().await;
    s.env.restart_apiserver(Duration::from_secs(2)).await;
    s.wait_mignet_ready().await;
    // mignet's watches resumed: a write after the restart reaches the view
    must(s.kubectl(&["create", "namespace", "tenant-restart"]).await, "namespace");
    let out = s.apply(&nad("tenant-restart", "red", "macvlan", whereabouts("10.66.0.0/24")), &[]).await;
    assert!(out.ok, "{out:?}");
    let wide = nad(NS, "migration-after-restart", "macvlan", whereabouts("10.66.0.0/16"));
    s.until("the view to see tenant-restart/red", || async {
        s.apply(&wide, &["--dry-run=server"]).await.stderr.contains("tenant-restart/red").then_some(())
    })
    .await;
    // and what it knew before still guards
    let delete = ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge"];
    denied_by(&s.kubectl(&delete).await, IN_NS);
    let patch = r#"{"spec":{"virtualization":{"liveMigrationConfig":{"progressTimeout":200}}}}"#;
    let args = ["patch", "hco", "-n", NS, HC, "--type=merge", "-p", patch];
    denied_by(&s.kubectl(&args).await, IN_NS);
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["network"], "migration-bridge");
}

/// The fake API server's model of how a HyperConverged is stored and read, checked against the real
/// one: a write through v1beta1, reads through both versions, a merge patch through v1, reads again.
#[tokio::test]
async fn the_fake_api_server_stores_and_reads_hyperconvergeds_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift_with(HcoRelease::V1_18)).await;
    must(s.kubectl(&["create", "namespace", "fidelity"]).await, "namespace");
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
                    "metadata": {"name": HC, "namespace": "fidelity"},
                    "spec": {"liveMigrationConfig": {"progressTimeout": 300}, "featureGates": {"downwardMetrics": true}}});
    must(s.apply(&hc.to_string(), &[]).await, "HyperConverged");
    fake.apply(hc);
    let fake = &fake;
    let compare = |when: &'static str| async move {
        for version in ["v1beta1", "v1"] {
            let real = s
                .get(&format!("hyperconvergeds.{version}.hco.kubevirt.io"), Some("fidelity"), HC)
                .await
                .unwrap();
            let imitated = fake.get(&format!("hco.kubevirt.io/{version}"), "fidelity", HC).unwrap();
            assert_eq!(imitated["spec"], real["spec"], "{when}, read through {version}");
            assert_eq!(imitated["apiVersion"], real["apiVersion"], "{when}, read through {version}");
        }
    };
    compare("written through v1beta1").await;

    let patch = json!({"spec": {"virtualization": {"liveMigrationConfig": {"progressTimeout": 200}}}});
    let args = ["patch", "hyperconvergeds.v1.hco.kubevirt.io", "-n", "fidelity", HC, "--type=merge", "-p"];
    must(s.kubectl(&[&args[..], &[patch.to_string().as_str()]].concat()).await, "v1 patch");
    let mut through_v1 = fake.get("hco.kubevirt.io/v1", "fidelity", HC).unwrap();
    json_patch::merge(&mut through_v1, &patch);
    fake.apply(through_v1);
    compare("patched through v1").await;
}

/// The fake API server's 422 for a NAD whose `spec.config` is not a string, checked against the real one.
#[tokio::test]
async fn the_fake_api_server_refuses_a_nad_config_of_the_wrong_type_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift()).await;
    let bad = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                     "metadata": {"name": "config-object", "namespace": "default"},
                     "spec": {"config": {"type": "macvlan"}}});
    // the Status message as the server words it, without strict field validation (kubectl's default
    // asks for it; kube-rs clients do not)
    let uri = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions";
    let out = s.env.kubectl(&["create", "--raw", uri, "-f", "-"], Some(&bad.to_string())).await;
    let imitated = fake.try_apply(bad).unwrap_err();
    let imitated =
        imitated.strip_prefix("NetworkAttachmentDefinition.k8s.cni.cncf.io \"config-object\" is invalid: ");
    let real = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("The NetworkAttachmentDefinition \"config-object\" is invalid: "));
    assert!(!out.ok && real.is_some(), "{out:?}");
    assert_eq!(imitated, real);
}
