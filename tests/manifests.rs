//! The deployment: manifests/ (kustomize base and overlays), the dev-manifests script and the
//! container image recipe, checked against the server they deploy.
//!
//! Sources are parsed directly; every overlay is also rendered with `kubectl kustomize` (set
//! `KUBECTL` to use another binary) and the rendered objects are held to the same invariants.
//! kubectl is required: CI installs it, so a missing kubectl fails these tests rather than
//! skipping them. Finally the real binary is started with the Deployment's own arguments.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use mignet::{
    input::{self, Format},
    policy::{Policy, file::DEFAULT_POLICY_YAML},
};
use serde_json::{Value, json};
use support::common::{mignet, repo, server::client};

const NAMESPACE: &str = "mignet-system";
const DEV_URL: &str = "https://host.crc.testing:8443";

// ---------------------------------------------------------------------------------------------
// Reading manifests

/// A set of Kubernetes objects, as parsed from files or rendered by kustomize.
struct Bundle {
    what: String,
    objects: Vec<Value>,
}

impl Bundle {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        match self.of_kind(kind).as_slice() {
            [one] => one,
            all => panic!("{}: expected exactly one {kind}, found {}", self.what, all.len()),
        }
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} named {name:?}", self.what))
    }
}

fn manifests() -> PathBuf {
    PathBuf::from(repo("manifests"))
}

fn read_objects(path: &Path) -> Vec<Value> {
    input::read_path(path).unwrap_or_else(|e| panic!("{e}")).into_iter().map(|d| d.value).collect()
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter().map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")).to_owned()).collect()
        })
        .unwrap_or_default()
}

/// The kustomization of `dir`, and the directories and files it names.
struct Kustomization {
    dir: PathBuf,
    doc: Value,
}

impl Kustomization {
    fn read(dir: &Path) -> Kustomization {
        Kustomization { dir: dir.to_owned(), doc: read_yaml(&dir.join("kustomization.yaml")) }
    }

    fn paths(&self, key: &str) -> Vec<PathBuf> {
        strings(&self.doc[key]).iter().map(|p| self.dir.join(p)).collect()
    }

    fn json_patches(&self) -> Vec<PathBuf> {
        let entries = self.doc["patchesJson6902"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|e| {
                let path = e["path"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: patch without path", self.dir.display()));
                self.dir.join(path)
            })
            .collect()
    }

    /// Every file this kustomization reads itself (not through a base).
    fn files(&self) -> Vec<PathBuf> {
        let mut files = self.paths("resources");
        files.extend(self.paths("patchesStrategicMerge"));
        files.extend(self.json_patches());
        files
    }
}

/// The objects a kustomization emits before any patch, read from the sources: its resources and,
/// recursively, its bases.
fn source_objects(dir: &Path) -> Vec<Value> {
    let k = Kustomization::read(dir);
    let mut objects = Vec::new();
    for base in k.paths("bases") {
        objects.extend(source_objects(&base));
    }
    for file in k.paths("resources") {
        objects.extend(read_objects(&file));
    }
    objects
}

fn base_sources() -> Bundle {
    Bundle { what: "manifests/base (sources)".into(), objects: source_objects(&manifests().join("base")) }
}

fn kubectl() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// `kubectl kustomize manifests/<dir>`, parsed.
fn render(dir: &str) -> Bundle {
    let path = manifests().join(dir);
    let out = Command::new(kubectl()).arg("kustomize").arg(&path).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{} kustomize` ({e}): kubectl is needed to render the manifests; install it \
             (Debian: apt-get install kubernetes-client; .ci/run does) or set KUBECTL",
            kubectl()
        )
    });
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let what = format!("manifests/{dir} (rendered)");
    let docs = input::read_bytes(&what, &out.stdout, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    Bundle { what, objects: docs.into_iter().map(|d| d.value).collect() }
}

// ---------------------------------------------------------------------------------------------
// The Deployment and what it runs

/// The mignet container of the Deployment, with its `serve` flags.
struct Container<'a> {
    deployment: &'a Value,
    container: &'a Value,
    /// `(name, value)` of each flag, in order.
    flags: Vec<(String, String)>,
}

impl<'a> Container<'a> {
    fn of(bundle: &'a Bundle) -> Container<'a> {
        let deployment = bundle.named("Deployment", "mignet");
        let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{}: one container, mignet", bundle.what);
        let container = &containers[0];
        let args = strings(&container["args"]);
        assert_eq!(args.first().map(String::as_str), Some("serve"), "the container runs `mignet serve`");
        Container { deployment, container, flags: flags(&args[1..]) }
    }

    fn pod(&self) -> &'a Value {
        &self.deployment["spec"]["template"]["spec"]
    }

    fn pod_labels(&self) -> &'a Value {
        &self.deployment["spec"]["template"]["metadata"]["labels"]
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn addr_port(&self) -> u16 {
        port_of(self.flag("addr").unwrap_or("0.0.0.0:8443"))
    }

    fn metrics_port(&self) -> Option<u16> {
        self.flag("metrics-addr").map(port_of)
    }

    /// A container port given by number or name.
    fn resolve_port(&self, port: &Value) -> u16 {
        let ports = self.container["ports"].as_array().cloned().unwrap_or_default();
        let found = match port {
            Value::Number(n) => ports.iter().find(|p| p["containerPort"].as_u64() == n.as_u64()),
            Value::String(name) => ports.iter().find(|p| p["name"] == name.as_str()),
            other => panic!("a port is a number or a name, not {other}"),
        };
        let found = found.unwrap_or_else(|| panic!("port {port} is not a port of the mignet container"));
        found["containerPort"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("containerPort")
    }

    fn drain_seconds(&self) -> u64 {
        self.flag("drain-seconds").map_or(20, |s| s.parse().expect("--drain-seconds is a number"))
    }

    /// The volume mounted as the directory holding `path`, which must be a whole-volume mount.
    fn volume_holding(&self, path: &str) -> &'a Value {
        let dir = Path::new(path).parent().expect("a file path");
        let mounts = self.container["volumeMounts"].as_array().expect("volumeMounts");
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"].as_str().map(Path::new) == Some(dir))
            .unwrap_or_else(|| {
                panic!(
                    "{path}: its directory is no volume mount (the root filesystem is empty and read-only)"
                )
            });
        assert!(
            mount.get("subPath").is_none() && mount.get("subPathExpr").is_none(),
            "{path}: a subPath mount never sees Secret or ConfigMap updates; mount the whole volume"
        );
        assert_eq!(mount["readOnly"], true, "{path}: mounted read-only");
        let name = &mount["name"];
        let volumes = self.pod()["volumes"].as_array().expect("volumes");
        volumes.iter().find(|v| &v["name"] == name).unwrap_or_else(|| panic!("no volume {name}"))
    }
}

fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{addr:?} is not an address: {e}")).port()
}

/// `--name=value` and `--name value` arguments, in order (mignet serve has no bare switches).
fn flags(args: &[String]) -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let name = arg.strip_prefix("--").unwrap_or_else(|| panic!("unexpected argument {arg:?}"));
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (name.to_owned(), it.next().unwrap_or_else(|| panic!("--{name} needs a value")).clone()),
        };
        let repeatable = name == "cluster-state";
        assert!(repeatable || flags.iter().all(|(n, _)| *n != name), "--{name} given twice");
        flags.push((name, value));
    }
    flags
}

fn selects(selector: &Value, labels: &Value) -> bool {
    let match_labels = selector["matchLabels"].as_object().cloned().unwrap_or_default();
    let exprs = selector["matchExpressions"].as_array().cloned().unwrap_or_default();
    match_labels.iter().all(|(k, v)| &labels[k] == v)
        && exprs.iter().all(|e| {
            let value = labels[e["key"].as_str().expect("key")].as_str();
            let values = strings(&e["values"]);
            let listed = value.is_some_and(|v| values.iter().any(|x| x == v));
            match e["operator"].as_str().expect("operator") {
                "In" => listed,
                "NotIn" => !listed,
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                op => panic!("unknown selector operator {op}"),
            }
        })
}

fn namespace_selects(webhook: &Value, namespace: &str) -> bool {
    selects(&webhook["namespaceSelector"], &json!({ "kubernetes.io/metadata.name": namespace }))
}

// ---------------------------------------------------------------------------------------------
// Invariants

/// One (group, version, resource, operation, scope) a webhook is called for.
type Rule = (String, String, String, String, String);

fn rules_of(webhook: &Value) -> BTreeSet<Rule> {
    let mut set = BTreeSet::new();
    for rule in webhook["rules"].as_array().expect("rules") {
        let scope = rule["scope"].as_str().unwrap_or("*").to_owned();
        for g in strings(&rule["apiGroups"]) {
            for v in strings(&rule["apiVersions"]) {
                for r in strings(&rule["resources"]) {
                    for o in strings(&rule["operations"]) {
                        set.insert((g.clone(), v.clone(), r.clone(), o, scope.clone()));
                    }
                }
            }
        }
    }
    set
}

/// Whether a webhook judges cluster-scoped objects only (no namespaceSelector applies to them).
fn cluster_scoped(webhook: &Value) -> bool {
    webhook["rules"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["scope"] == "Cluster"))
}

/// KubeVirt's MigrationPolicies: cluster scoped, writes only.
fn expected_migration_policy_rules() -> BTreeSet<Rule> {
    ["CREATE", "UPDATE"]
        .iter()
        .map(|op| {
            let r = ("migrations.kubevirt.io", "v1alpha1", "migrationpolicies", *op, "Cluster");
            (r.0.into(), r.1.into(), r.2.into(), r.3.into(), r.4.into())
        })
        .collect()
}

/// NodeNetworkConfigurationPolicies (both served versions) and ClusterUserDefinedNetworks: cluster
/// scoped, writes only.
fn expected_cluster_rules() -> BTreeSet<Rule> {
    let mut set = BTreeSet::new();
    for op in ["CREATE", "UPDATE"] {
        set.insert((
            "k8s.ovn.org".into(),
            "v1".into(),
            "clusteruserdefinednetworks".into(),
            op.into(),
            "Cluster".into(),
        ));
    }
    for version in ["v1", "v1beta1"] {
        for op in ["CREATE", "UPDATE"] {
            set.insert((
                "nmstate.io".into(),
                version.into(),
                "nodenetworkconfigurationpolicies".into(),
                op.into(),
                "Cluster".into(),
            ));
        }
    }
    set
}

fn expected_rules(mutating: bool) -> BTreeSet<Rule> {
    let mut set = BTreeSet::new();
    let mut add = |g: &str, v: &str, r: &str, ops: &[&str]| {
        for o in ops {
            set.insert((g.into(), v.into(), r.into(), (*o).into(), "Namespaced".into()));
        }
    };
    if !mutating {
        add("k8s.cni.cncf.io", "v1", "network-attachment-definitions", &["CREATE", "UPDATE", "DELETE"]);
    }
    for version in ["v1beta1", "v1"] {
        add("hco.kubevirt.io", version, "hyperconvergeds", &["CREATE", "UPDATE"]);
    }
    if !mutating {
        add("kubevirt.io", "v1", "kubevirts", &["CREATE", "UPDATE"]);
        add("k8s.ovn.org", "v1", "userdefinednetworks", &["CREATE", "UPDATE"]);
    }
    set
}

/// Where the webhooks send their calls.
enum Target<'a> {
    /// The in-cluster Service of the bundle.
    Service(&'a Bundle),
    /// A URL (overlays/dev), `https://host:port` without the path.
    Url(&'a str),
}

/// The webhook configurations: rules, endpoints, timeouts, failure policies and namespace scope.
fn check_webhooks(bundle: &Bundle, target: Target<'_>) {
    // the deployed policy when the bundle carries one, else the default
    let policy_text = bundle
        .of_kind("ConfigMap")
        .iter()
        .find_map(|cm| cm["data"]["policy.yaml"].as_str())
        .unwrap_or(DEFAULT_POLICY_YAML);
    let policy = Policy::from_yaml(policy_text).unwrap_or_else(|e| panic!("{}: policy: {e}", bundle.what));
    let migration_ns = policy.migration_namespace();
    let mut names = BTreeSet::new();
    for (kind, mutating, path) in [
        ("ValidatingWebhookConfiguration", false, "/validate"),
        ("MutatingWebhookConfiguration", true, "/mutate"),
    ] {
        let config = bundle.named(kind, "mignet");
        let webhooks = config["webhooks"].as_array().expect("webhooks");
        let mut cluster_hooks = 0;
        let mut cluster_rules = BTreeSet::new();
        assert!(!webhooks.is_empty(), "{}: {kind} has no webhook", bundle.what);
        for w in webhooks {
            let name = w["name"].as_str().expect("webhook name");
            let at = format!("{}: {kind} webhook {name}", bundle.what);
            assert!(names.insert(name.to_owned()), "{at}: name used twice");
            assert!(name.split('.').count() >= 3, "{at}: webhook names must be fully qualified");
            if cluster_scoped(w) && rules_of(w) == expected_migration_policy_rules() {
                assert!(!mutating, "{at}: MigrationPolicies are judged, never mutated");
                assert!(w["namespaceSelector"].is_null(), "{at}: a namespaceSelector means nothing here");
                assert_eq!(w["failurePolicy"], "Ignore", "{at}: a per-VM tuning knob never waits for mignet");
                check_client_config(&at, &w["clientConfig"], path, &target);
                continue;
            }
            if cluster_scoped(w) {
                assert!(!mutating, "{at}: host network policies are judged, never mutated");
                let rules = rules_of(w);
                assert!(rules.is_disjoint(&cluster_rules), "{at}: rules registered twice");
                cluster_rules.extend(rules);
                assert!(w["namespaceSelector"].is_null(), "{at}: a namespaceSelector means nothing here");
                assert_eq!(
                    w["failurePolicy"], "Ignore",
                    "{at}: an outage must never block the policy that repairs a node's network"
                );
                cluster_hooks += 1;
                check_client_config(&at, &w["clientConfig"], path, &target);
                continue;
            }
            assert_eq!(rules_of(w), expected_rules(mutating), "{at}: rules");
            assert_eq!(w["sideEffects"], "None", "{at}: sideEffects (dry-run requests must reach it)");
            assert_eq!(w["admissionReviewVersions"], json!(["v1"]), "{at}: admissionReviewVersions");
            assert_eq!(w["matchPolicy"], "Equivalent", "{at}: matchPolicy");
            let timeout =
                w["timeoutSeconds"].as_u64().unwrap_or_else(|| panic!("{at}: timeoutSeconds unset"));
            assert!((1..=10).contains(&timeout), "{at}: timeoutSeconds {timeout} is not short");
            let failure = w["failurePolicy"].as_str().unwrap_or_else(|| panic!("{at}: failurePolicy unset"));
            assert!(["Fail", "Ignore"].contains(&failure), "{at}: failurePolicy {failure}");
            assert!(!namespace_selects(w, NAMESPACE), "{at}: must never intercept {NAMESPACE}");
            let excludes_own = w["namespaceSelector"]["matchExpressions"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["key"] == "kubernetes.io/metadata.name"
                        && e["operator"] == "NotIn"
                        && strings(&e["values"]).iter().any(|v| v == NAMESPACE)
                })
            });
            assert!(excludes_own, "{at}: names {NAMESPACE} in a NotIn expression, whatever else it selects");
            if failure == "Fail" {
                assert!(
                    namespace_selects(w, migration_ns) && !namespace_selects(w, "default"),
                    "{at}: failing closed is for the migration namespace {migration_ns} only"
                );
            }
            if mutating {
                assert_eq!(
                    failure, "Ignore",
                    "{at}: defaults are a convenience; never block a write for them"
                );
            }
            check_client_config(&at, &w["clientConfig"], path, &target);
        }
        if !mutating {
            assert_eq!(
                cluster_hooks, 2,
                "{}: one webhook judges NodeNetworkConfigurationPolicies, one ClusterUserDefinedNetworks",
                bundle.what
            );
            assert_eq!(cluster_rules, expected_cluster_rules(), "{}: cluster-scoped rules", bundle.what);
            for ns in [migration_ns, "default", "vms", "kube-system", "openshift-sriov-network-operator"] {
                let n = webhooks.iter().filter(|w| !cluster_scoped(w) && namespace_selects(w, ns)).count();
                assert_eq!(
                    n, 1,
                    "{}: {n} validating webhooks judge namespace {ns}, expected exactly 1",
                    bundle.what
                );
            }
        }
    }
}

fn check_client_config(at: &str, client: &Value, path: &str, target: &Target<'_>) {
    match target {
        Target::Service(bundle) => {
            assert!(client.get("url").is_none(), "{at}: calls the Service, not a URL");
            let service = &client["service"];
            assert_eq!(service["path"], path, "{at}: path (the server's endpoint)");
            let svc = bundle.named("Service", service["name"].as_str().expect("service name"));
            assert_eq!(service["namespace"], svc["metadata"]["namespace"], "{at}: Service namespace");
            let port = service["port"].as_u64().unwrap_or(443);
            let ports = svc["spec"]["ports"].as_array().expect("Service ports");
            assert!(
                ports.iter().any(|p| p["port"].as_u64() == Some(port)),
                "{at}: port {port} is no Service port"
            );
        }
        Target::Url(base) => {
            assert!(client.get("service").is_none(), "{at}: calls a URL, not a Service");
            assert_eq!(client["url"], format!("{base}{path}"), "{at}: url");
        }
    }
}

/// The Service reaches the container's `--addr` port through the pod's labels.
fn check_service(bundle: &Bundle) {
    let c = Container::of(bundle);
    let svc = bundle.named("Service", "mignet");
    assert_eq!(svc["metadata"]["namespace"], NAMESPACE);
    assert!(
        selects(&json!({"matchLabels": svc["spec"]["selector"]}), c.pod_labels()),
        "Service selects the pods"
    );
    let ports = svc["spec"]["ports"].as_array().expect("ports");
    let https = ports.iter().find(|p| p["port"] == 443).expect("the Service listens on 443");
    assert_eq!(
        c.resolve_port(&https["targetPort"]),
        c.addr_port(),
        "Service 443 -> container port -> --addr"
    );
}

/// Replicas, spreading, probes, shutdown, security and mounts of the Deployment.
fn check_deployment(bundle: &Bundle) -> String {
    let c = Container::of(bundle);
    let at = &bundle.what;
    let spec = &c.deployment["spec"];
    assert_eq!(c.deployment["metadata"]["namespace"], NAMESPACE);
    assert_eq!(spec["replicas"], 2, "{at}: two replicas");
    assert!(selects(&spec["selector"], c.pod_labels()), "{at}: selector matches the pod labels");
    check_spreading(at, c.pod(), c.pod_labels());
    check_probes(at, &c);
    let grace = c.pod()["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(
        grace >= c.drain_seconds() + 5,
        "{at}: SIGKILL after {grace} s leaves no room after the {} s drain",
        c.drain_seconds()
    );
    check_security(at, c.pod(), c.container);
    check_resources(at, &c.container["resources"]);

    let cert = c.flag("cert").expect("--cert");
    let key = c.flag("key").expect("--key");
    let tls = c.volume_holding(cert);
    assert_eq!(tls, c.volume_holding(key), "{at}: certificate and key come from one Secret");
    assert!(tls["secret"]["items"].is_null(), "{at}: the whole Secret is mounted");
    let secret = tls["secret"]["secretName"].as_str().expect("--cert comes from a Secret").to_owned();
    let policy_path = c.flag("policy").expect("--policy: the policy ConfigMap is used");
    let cm_volume = c.volume_holding(policy_path);
    let cm = bundle
        .named("ConfigMap", cm_volume["configMap"]["name"].as_str().expect("--policy from a ConfigMap"));
    let key = Path::new(policy_path).file_name().and_then(|f| f.to_str()).expect("file name");
    let text = cm["data"][key].as_str().unwrap_or_else(|| panic!("{at}: ConfigMap has no key {key}"));
    Policy::from_yaml(text).unwrap_or_else(|e| panic!("{at}: the policy ConfigMap does not load: {e}"));

    let sa = c.pod()["serviceAccountName"].as_str().expect("serviceAccountName");
    bundle.named("ServiceAccount", sa);
    secret
}

fn check_spreading(at: &str, pod: &Value, labels: &Value) {
    let spread = pod["topologySpreadConstraints"].as_array().cloned().unwrap_or_default();
    let by_node = spread
        .iter()
        .any(|t| t["topologyKey"] == "kubernetes.io/hostname" && selects(&t["labelSelector"], labels));
    let anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let anti_by_node = anti.iter().any(|t| {
        t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            && selects(&t["podAffinityTerm"]["labelSelector"], labels)
    });
    assert!(by_node || anti_by_node, "{at}: replicas spread across nodes");
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].is_null(),
        "{at}: hard anti-affinity would leave a replica pending on single-node clusters"
    );
}

fn check_probes(at: &str, c: &Container<'_>) {
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c.container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{at}: {probe} path");
        let port = c.resolve_port(&get["port"]);
        let scheme = get["scheme"].as_str().unwrap_or("HTTP");
        if port == c.addr_port() {
            assert_eq!(scheme, "HTTPS", "{at}: {probe} on the TLS port (--addr)");
        } else {
            assert_eq!(
                Some(port),
                c.metrics_port(),
                "{at}: {probe} port is neither --addr nor --metrics-addr"
            );
            assert_eq!(scheme, "HTTP", "{at}: {probe} on the plain --metrics-addr port");
        }
    }
}

fn check_security(at: &str, pod: &Value, container: &Value) {
    let sc = &container["securityContext"];
    let pod_sc = &pod["securityContext"];
    assert!(sc["runAsNonRoot"] == true || pod_sc["runAsNonRoot"] == true, "{at}: runAsNonRoot");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}: allowPrivilegeEscalation");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{at}: readOnlyRootFilesystem");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{at}: every capability dropped");
    assert!(sc["capabilities"]["add"].is_null() && sc["privileged"] != true, "{at}: nothing added back");
    let seccomp = sc["seccompProfile"]["type"].as_str().or(pod_sc["seccompProfile"]["type"].as_str());
    assert_eq!(seccomp, Some("RuntimeDefault"), "{at}: seccomp profile");
    assert!(pod["hostNetwork"] != true && pod["hostPID"] != true, "{at}: no host namespaces");
}

fn quantity(v: &Value) -> f64 {
    let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    kube_quantity::ParsedQuantity::try_from(text.as_str())
        .ok()
        .and_then(|q| q.to_bytes_f64())
        .unwrap_or_else(|| panic!("{v} is not a quantity"))
}

fn check_resources(at: &str, resources: &Value) {
    for (what, small) in [("cpu", 1.0), ("memory", 512.0 * 1024.0 * 1024.0)] {
        let request = quantity(&resources["requests"][what]);
        let limit = quantity(&resources["limits"][what]);
        assert!(
            request > 0.0 && request <= limit && limit <= small,
            "{at}: {what} request {request}, limit {limit}"
        );
    }
}

fn check_pdb(bundle: &Bundle) {
    let c = Container::of(bundle);
    let pdb = bundle.one("PodDisruptionBudget");
    assert_eq!(pdb["metadata"]["namespace"], NAMESPACE);
    assert!(selects(&pdb["spec"]["selector"], c.pod_labels()), "{}: the PDB covers the pods", bundle.what);
    let replicas = c.deployment["spec"]["replicas"].as_u64().expect("replicas");
    let allowed = match (pdb["spec"]["maxUnavailable"].as_u64(), pdb["spec"]["minAvailable"].as_u64()) {
        (Some(max), None) => max,
        (None, Some(min)) => replicas.saturating_sub(min),
        _ => panic!("{}: the PDB sets maxUnavailable or minAvailable as a number", bundle.what),
    };
    assert_eq!(allowed, 1, "{}: drains evict one replica at a time, never none", bundle.what);
    assert_eq!(
        pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow",
        "{}: a pod that is not ready never blocks a drain",
        bundle.what
    );
}

const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// Read-only RBAC, bound to the Deployment's ServiceAccount, covering what the live view watches.
fn check_rbac(bundle: &Bundle) {
    let mut readable = BTreeSet::new();
    for role in bundle.of_kind("ClusterRole").into_iter().chain(bundle.of_kind("Role")) {
        let at = format!("{}: {} {}", bundle.what, role["kind"], role["metadata"]["name"]);
        assert!(role["aggregationRule"].is_null(), "{at}: no aggregation");
        for rule in role["rules"].as_array().expect("rules") {
            for verb in strings(&rule["verbs"]) {
                assert!(READ_VERBS.contains(&verb.as_str()), "{at}: verb {verb:?} is not read-only");
            }
            let resources = strings(&rule["resources"]);
            for field in ["apiGroups", "resources", "resourceNames", "nonResourceURLs"] {
                assert!(!strings(&rule[field]).iter().any(|s| s.contains('*')), "{at}: wildcard in {field}");
            }
            assert!(!resources.iter().any(|r| r.starts_with("secrets")), "{at}: no access to Secrets");
            if role["kind"] == "ClusterRole" && rule["resourceNames"].is_null() {
                for group in strings(&rule["apiGroups"]) {
                    for resource in &resources {
                        for verb in strings(&rule["verbs"]) {
                            readable.insert((group.clone(), resource.clone(), verb));
                        }
                    }
                }
            }
        }
    }
    for (group, resource) in [
        ("k8s.cni.cncf.io", "network-attachment-definitions"),
        ("hco.kubevirt.io", "hyperconvergeds"),
        ("", "nodes"),
        ("nmstate.io", "nodenetworkstates"),
        ("k8s.ovn.org", "userdefinednetworks"),
        ("k8s.ovn.org", "clusteruserdefinednetworks"),
    ] {
        for verb in ["list", "watch"] {
            let key = (group.to_owned(), resource.to_owned(), verb.to_owned());
            assert!(readable.contains(&key), "{}: the live view needs {verb} on {resource}", bundle.what);
        }
    }
    let sa = Container::of(bundle).pod()["serviceAccountName"].clone();
    let bound = bundle.of_kind("ClusterRoleBinding").into_iter().any(|b| {
        b["roleRef"]["kind"] == "ClusterRole"
            && bundle.of_kind("ClusterRole").iter().any(|r| r["metadata"]["name"] == b["roleRef"]["name"])
            && b["subjects"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == NAMESPACE)
            })
    });
    assert!(bound, "{}: a ClusterRoleBinding grants the ClusterRole to {sa}", bundle.what);
}

const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Everything a cluster install needs, each namespaced object with its namespace spelled out (no
/// namespace transformer: `kubectl apply -k` must never fall back to the current namespace).
fn check_installable(bundle: &Bundle) -> String {
    let ns = bundle.named("Namespace", NAMESPACE);
    assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    for o in &bundle.objects {
        let kind = o["kind"].as_str().expect("kind");
        let namespace = &o["metadata"]["namespace"];
        if CLUSTER_SCOPED.contains(&kind) {
            assert!(namespace.is_null(), "{}: {kind} is cluster-scoped but has a namespace", bundle.what);
        } else {
            assert!(
                namespace.is_string(),
                "{}: {kind} {} has no namespace",
                bundle.what,
                o["metadata"]["name"]
            );
        }
    }
    check_webhooks(bundle, Target::Service(bundle));
    check_service(bundle);
    check_pdb(bundle);
    check_rbac(bundle);
    let cm = bundle.named("ConfigMap", "mignet-policy");
    assert_eq!(cm["data"]["policy.yaml"], DEFAULT_POLICY_YAML, "{}: policy ConfigMap", bundle.what);
    check_deployment(bundle)
}

/// The security context fields OpenShift's restricted-v2 SCC assigns itself (and rejects when set
/// outside the namespace's range).
fn assert_no_fixed_ids(at: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let fixed =
                    ["runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"].contains(&k.as_str());
                assert!(!fixed, "{at}: {k} is set; restricted-v2 assigns it from the namespace's range");
                assert_no_fixed_ids(at, v);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| assert_no_fixed_ids(at, v)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Sources

#[test]
fn every_manifest_parses_and_every_file_is_listed_by_its_kustomization() {
    let mut dirs = vec![manifests()];
    let mut kustomizations = 0;
    while let Some(dir) = dirs.pop() {
        let mut yaml_files = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("read manifests/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                yaml_files.insert(path);
            }
        }
        let kustomization = dir.join("kustomization.yaml");
        if !yaml_files.remove(&kustomization) {
            assert!(yaml_files.is_empty(), "{}: YAML files without a kustomization.yaml", dir.display());
            continue;
        }
        kustomizations += 1;
        let k = Kustomization::read(&dir);
        for base in k.paths("bases") {
            assert!(
                base.join("kustomization.yaml").is_file(),
                "{}: base {} is no kustomization",
                dir.display(),
                base.display()
            );
        }
        let listed: BTreeSet<PathBuf> = k.files().into_iter().collect();
        for file in &listed {
            assert!(file.is_file(), "{}: lists {}, which does not exist", dir.display(), file.display());
        }
        for file in k.paths("resources").iter().chain(&k.paths("patchesStrategicMerge")) {
            for o in read_objects(file) {
                assert!(
                    o["apiVersion"].is_string() && o["metadata"]["name"].is_string(),
                    "{}: {o}",
                    file.display()
                );
            }
        }
        for file in k.json_patches() {
            for op in read_yaml(&file).as_array().unwrap_or_else(|| panic!("{}: not a list", file.display()))
            {
                let name = op["op"].as_str().unwrap_or_default();
                assert!(
                    ["add", "remove", "replace", "copy", "move", "test"].contains(&name),
                    "{}: op {op}",
                    file.display()
                );
                assert!(
                    op["path"].as_str().is_some_and(|p| p.starts_with('/')),
                    "{}: path {op}",
                    file.display()
                );
            }
        }
        let unlisted: Vec<_> = yaml_files.difference(&listed).collect();
        assert!(unlisted.is_empty(), "{}: not listed in kustomization.yaml: {unlisted:?}", dir.display());
    }
    assert!(kustomizations >= 6, "base, base/webhooks, rbac and three overlays");
}

/// kubectl up to 1.20 (Debian's kubernetes-client) embeds kustomize v2: directories only under
/// `bases`, patches only as `patchesStrategicMerge` / `patchesJson6902` files.
#[test]
fn kustomizations_stay_readable_by_kustomize_v2() {
    let known =
        ["apiVersion", "kind", "bases", "resources", "patchesStrategicMerge", "patchesJson6902", "images"];
    for dir in
        ["base", "base/webhooks", "rbac", "overlays/openshift", "overlays/cert-manager", "overlays/dev"]
    {
        let k = Kustomization::read(&manifests().join(dir));
        for key in k.doc.as_object().expect("a mapping").keys() {
            assert!(known.contains(&key.as_str()), "manifests/{dir}: {key:?} is unknown to kustomize v2");
        }
        for file in k.paths("resources") {
            assert!(
                file.is_file(),
                "manifests/{dir}: resources lists {} (kustomize v2 reads files only)",
                file.display()
            );
        }
    }
}

#[test]
fn base_sources_hold_every_invariant() {
    let base = base_sources();
    check_installable(&base);
    for w in base
        .of_kind("ValidatingWebhookConfiguration")
        .iter()
        .chain(&base.of_kind("MutatingWebhookConfiguration"))
    {
        for hook in w["webhooks"].as_array().expect("webhooks") {
            assert!(hook["clientConfig"]["caBundle"].is_null(), "the base trusts no CA: overlays inject it");
        }
    }
}

/// Each object survives a round trip through the Kubernetes API types: a misspelt or misplaced
/// field (which the API server would reject or drop) does not.
#[test]
fn manifests_match_the_kubernetes_api_schema() {
    use k8s_openapi::api::{
        admissionregistration::v1 as adm, apps::v1 as apps, core::v1 as core, policy::v1 as policy,
        rbac::v1 as rbac,
    };
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(o: &Value) -> Value {
        let typed: T = serde_json::from_value(o.clone()).unwrap_or_else(|e| panic!("{}: {e}", o["kind"]));
        serde_json::to_value(typed).expect("serialize")
    }
    let base = base_sources();
    let mut checked = 0;
    for o in &base.objects {
        let back = match o["kind"].as_str().expect("kind") {
            "Namespace" => round_trip::<core::Namespace>(o),
            "ServiceAccount" => round_trip::<core::ServiceAccount>(o),
            "ConfigMap" => round_trip::<core::ConfigMap>(o),
            "Service" => round_trip::<core::Service>(o),
            "Deployment" => round_trip::<apps::Deployment>(o),
            "PodDisruptionBudget" => round_trip::<policy::PodDisruptionBudget>(o),
            "ClusterRole" => round_trip::<rbac::ClusterRole>(o),
            "ClusterRoleBinding" => round_trip::<rbac::ClusterRoleBinding>(o),
            "Role" => round_trip::<rbac::Role>(o),
            "RoleBinding" => round_trip::<rbac::RoleBinding>(o),
            "ValidatingWebhookConfiguration" => round_trip::<adm::ValidatingWebhookConfiguration>(o),
            "MutatingWebhookConfiguration" => round_trip::<adm::MutatingWebhookConfiguration>(o),
            other => panic!("no schema check for kind {other}: add it here"),
        };
        assert_eq!(&back, o, "{} {}: a field the API does not know", o["kind"], o["metadata"]["name"]);
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn policy_configmap_is_the_default_policy_and_loads() {
    let base = base_sources();
    let text = base.named("ConfigMap", "mignet-policy")["data"]["policy.yaml"].as_str().expect("policy.yaml");
    assert!(
        text == DEFAULT_POLICY_YAML,
        "manifests/base/policy-configmap.yaml differs from src/policy/default-policy.yaml: run hack/policy-configmap.sh"
    );
    let policy = Policy::from_yaml(text).expect("loads");
    assert_eq!(policy.file(), Policy::default().file());

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, text).expect("write");
    let out = mignet()
        .arg("check")
        .arg("--policy")
        .arg(&file)
        .arg(repo("examples/migration-nad.yaml"))
        .output()
        .expect("run mignet check");
    assert!(out.status.success(), "mignet check --policy: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn image_recipe_builds_a_static_non_root_binary() {
    let lock = std::fs::read_to_string(repo("Cargo.lock")).expect("Cargo.lock");
    for crate_name in ["openssl", "openssl-sys", "native-tls", "aws-lc-rs", "aws-lc-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{crate_name}\"\n")),
            "{crate_name} in Cargo.lock: the image has no OpenSSL"
        );
    }
    let recipe = std::fs::read_to_string(repo("Containerfile")).expect("Containerfile");
    let instructions: Vec<(String, String)> = recipe
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty() && !l.starts_with(' '))
        .filter_map(|l| l.split_once(' ').map(|(i, rest)| (i.to_uppercase(), rest.trim().to_owned())))
        .collect();
    let stages: Vec<usize> = (0..instructions.len()).filter(|&i| instructions[i].0 == "FROM").collect();
    assert!(stages.len() >= 2, "multi-stage build");
    let builder = &instructions[stages[0]].1;
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).expect("Cargo.toml");
    let rust_version = manifest_value(&manifest, "rust-version");
    let tag = builder.split(':').nth(1).and_then(|t| t.split('-').next()).expect("a tagged Rust image");
    assert!(builder.contains("/rust:"), "Rust builder image: {builder}");
    assert!(
        version_at_least(tag, &rust_version),
        "builder Rust {tag} is older than rust-version {rust_version}"
    );
    assert!(recipe.contains("cargo build --release --locked"), "builds from Cargo.lock");
    let last = &instructions[*stages.last().expect("a stage")..];
    let runtime = &last[0].1;
    assert!(
        runtime.starts_with("gcr.io/distroless/static") || runtime == "scratch",
        "minimal runtime without libc or shell: {runtime}"
    );
    let get = |i: &str| last.iter().filter(|(n, _)| n == i).map(|(_, r)| r.as_str()).next_back();
    assert_eq!(get("USER"), Some("65532:65532"), "numeric non-root user (runAsNonRoot can verify it)");
    let entrypoint: Vec<String> =
        serde_json::from_str(get("ENTRYPOINT").expect("ENTRYPOINT")).expect("exec form");
    let copy = get("COPY").expect("COPY of the binary");
    assert!(copy.ends_with(&format!(" {}", entrypoint[0])), "ENTRYPOINT runs the copied binary: {copy}");
    let base = base_sources();
    let c = Container::of(&base);
    assert_eq!(get("EXPOSE"), Some(c.addr_port().to_string().as_str()));
    let image = c.container["image"].as_str().expect("image");
    let version = manifest_value(&manifest, "version");
    assert!(image.ends_with(&format!(":{version}")), "the Deployment's image {image} is version {version}");
    assert!(c.container["command"].is_null(), "the image's ENTRYPOINT runs, the Deployment gives only args");

    let ignore = std::fs::read_to_string(repo(".dockerignore")).expect(".dockerignore");
    for excluded in ["certs", "target", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            ".dockerignore keeps {excluded} out of the image context"
        );
    }
}

fn manifest_value(manifest: &str, key: &str) -> String {
    manifest
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = \"")).and_then(|r| r.strip_suffix('"')))
        .unwrap_or_else(|| panic!("Cargo.toml has no {key}"))
        .to_owned()
}

fn version_at_least(have: &str, need: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(have) >= parse(need)
}

// ---------------------------------------------------------------------------------------------
// Rendered with kubectl kustomize

#[test]
fn base_renders_to_its_sources() {
    let rendered = render("base");
    let sources = base_sources();
    let key = |o: &Value| format!("{}/{}/{}", o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]);
    let by_key =
        |b: &Bundle| -> BTreeMap<String, Value> { b.objects.iter().map(|o| (key(o), o.clone())).collect() };
    assert_eq!(by_key(&rendered), by_key(&sources), "kustomize changes nothing in the base");
    assert_eq!(rendered.objects.len(), sources.objects.len(), "no object twice");
    check_installable(&rendered);
}

#[test]
fn openshift_overlay_uses_the_service_ca_and_fits_restricted_v2() {
    let bundle = render("overlays/openshift");
    let secret = check_installable(&bundle);
    let svc = bundle.named("Service", "mignet");
    assert_eq!(
        svc["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"],
        secret.as_str()
    );
    for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let config = bundle.named(kind, "mignet");
        assert_eq!(
            config["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"], "true",
            "{kind}"
        );
    }
    assert_no_fixed_ids(&bundle.what, &Container::of(&bundle).deployment["spec"]["template"]);
    assert_eq!(Container::of(&bundle).deployment, Container::of(&base_sources()).deployment);
}

#[test]
fn cert_manager_overlay_issues_the_serving_certificate_and_injects_its_ca() {
    let bundle = render("overlays/cert-manager");
    let secret = check_installable(&bundle);
    let serving = bundle
        .of_kind("Certificate")
        .into_iter()
        .find(|c| c["spec"]["secretName"] == secret.as_str())
        .unwrap_or_else(|| panic!("no Certificate writes the Secret {secret} the Deployment mounts"));
    assert_eq!(serving["metadata"]["namespace"], NAMESPACE);
    let dns = strings(&serving["spec"]["dnsNames"]);
    assert!(dns.iter().any(|d| d == "mignet.mignet-system.svc"), "the name the API server dials: {dns:?}");
    assert!(serving["spec"]["isCA"] != true);
    // the issuer chain ends in a self-signed Issuer of this namespace
    let mut issuer =
        bundle.named("Issuer", serving["spec"]["issuerRef"]["name"].as_str().expect("issuerRef"));
    for _ in 0..4 {
        if issuer["spec"]["selfSigned"].is_object() {
            break;
        }
        let ca_secret = &issuer["spec"]["ca"]["secretName"];
        let ca = bundle.of_kind("Certificate").into_iter().find(|c| &c["spec"]["secretName"] == ca_secret);
        let ca = ca.unwrap_or_else(|| panic!("no Certificate writes the CA Secret {ca_secret}"));
        assert_eq!(ca["spec"]["isCA"], true);
        issuer = bundle.named("Issuer", ca["spec"]["issuerRef"]["name"].as_str().expect("issuerRef"));
    }
    assert!(issuer["spec"]["selfSigned"].is_object(), "the chain starts at a self-signed Issuer");
    let from = format!("{NAMESPACE}/{}", serving["metadata"]["name"].as_str().expect("name"));
    for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let config = bundle.named(kind, "mignet");
        assert_eq!(
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            from.as_str(),
            "{kind}"
        );
    }
    assert_eq!(Container::of(&bundle).deployment, Container::of(&base_sources()).deployment);
}

#[test]
fn dev_overlay_registers_only_webhooks_calling_the_developer_machine() {
    let bundle = render("overlays/dev");
    let kinds: BTreeSet<&str> = bundle.objects.iter().map(|o| o["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, BTreeSet::from(["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]));
    check_webhooks(&bundle, Target::Url(DEV_URL));
    for config in &bundle.objects {
        for w in config["webhooks"].as_array().expect("webhooks") {
            assert_eq!(w["failurePolicy"], "Ignore", "a sleeping laptop never blocks the dev cluster");
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn dev_manifests(env: &[(&str, &Path)], dev_url: Option<&str>, out: &Path) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.arg(repo("hack/dev-manifests.sh")).arg(out).env("KUBECTL", kubectl());
    for (k, v) in env {
        cmd.env(k, v);
    }
    match dev_url {
        Some(url) => cmd.env("DEV_URL", url),
        None => cmd.env_remove("DEV_URL"),
    };
    cmd.output().expect("run hack/dev-manifests.sh")
}

#[test]
fn dev_manifests_script_points_every_webhook_at_dev_url_with_the_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (host, url) = ("192.0.2.10", "https://192.0.2.10:9443");
    let status = mignet()
        .args(["certs", "--san", "localhost", "--san", host, "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("certs");
    assert!(status.success());
    let ca = dir.path().join("ca.crt");
    let out = dir.path().join("dev.yaml");
    let run = dev_manifests(&[("CA", &ca)], Some(&format!("{url}/")), &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "the certificate names {host}: {stderr}");
    let bundle = Bundle { what: "dev-manifests.sh output".into(), objects: read_objects(&out) };
    check_webhooks(&bundle, Target::Url(url));
    let bundle_b64 = base64(&std::fs::read(&ca).expect("ca.crt"));
    for config in &bundle.objects {
        for w in config["webhooks"].as_array().expect("webhooks") {
            assert_eq!(w["clientConfig"]["caBundle"], bundle_b64.as_str(), "{}", w["name"]);
        }
    }
    assert_eq!(bundle.objects.len(), render("overlays/dev").objects.len());
}

#[test]
fn dev_manifests_script_refuses_what_cannot_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("dev.yaml");
    let missing = dir.path().join("missing-ca.crt");
    let run = dev_manifests(&[("CA", &missing)], None, &out);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("not found") && err.contains("--san host.crc.testing"),
        "{err}"
    );
    let not_pem = dir.path().join("ca.crt");
    std::fs::write(&not_pem, "hello").expect("write");
    for (url, says) in [
        ("http://192.0.2.10:8443", "must be https://"),
        ("https://192.0.2.10:8443/hooks", "must have no path"),
        ("https://192.0.2.10:8443", "not a PEM certificate"),
    ] {
        let run = dev_manifests(&[("CA", &not_pem)], Some(url), &out);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && err.contains(says), "{url}: {err}");
    }
    assert!(!out.exists(), "nothing written on failure");
}

// ---------------------------------------------------------------------------------------------
// The Deployment's arguments, run

/// A directory laid out as the kubelet lays out a Secret or ConfigMap volume: the files live in
/// a timestamped directory, `..data` links to it and each key links through `..data`.
fn kubelet_volume(dir: &Path, files: &[(String, Vec<u8>)]) {
    let stamp = dir.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&stamp).expect("mkdir");
    for (name, content) in files {
        std::fs::write(stamp.join(name), content).expect("write");
        std::os::unix::fs::symlink(Path::new("..data").join(name), dir.join(name)).expect("symlink");
    }
    std::os::unix::fs::symlink(stamp.file_name().expect("name"), dir.join("..data")).expect("symlink");
}

/// A running `mignet serve`, killed when dropped.
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address a `listening on https://…` or `serving /healthz …` log line gives, text or JSON.
fn logged_addr(line: &str, prefix: &str) -> Option<SocketAddr> {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        let message = v["message"].as_str().or(v["fields"]["message"].as_str())?;
        return if message.starts_with(prefix) { v["addr"].as_str()?.parse().ok() } else { None };
    }
    let rest = &line[line.find("addr=")? + 5..];
    line.contains(prefix).then(|| rest.split_whitespace().next()?.parse().ok()).flatten()
}

/// Where `--cluster auto` finds its API server when the Deployment's args run outside a pod.
enum Cluster<'a> {
    /// Replace `--cluster auto` by `--cluster off`: a fixed, empty view.
    Off,
    /// Keep `--cluster auto` and add `--kubeconfig` (in a pod, the service account stands in).
    Kubeconfig(&'a Path),
}

/// The Deployment's arguments, the fixed view: startup, probes, webhook paths and SIGTERM do not
/// depend on the live view.
#[tokio::test]
async fn deployment_args_start_a_server_that_becomes_ready_and_drains() {
    run_deployment_args(Cluster::Off).await;
}

/// The Deployment's arguments unchanged, `--cluster auto` included, against a fake OpenShift API
/// server: the pod becomes ready once the live view has loaded.
#[tokio::test]
async fn deployment_args_with_the_live_view_become_ready() {
    let fake = support::fake_apiserver::FakeApiServer::start(support::fake_apiserver::openshift()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = fake.write_kubeconfig(dir.path());
    run_deployment_args(Cluster::Kubeconfig(&kubeconfig)).await;
}

async fn run_deployment_args(cluster: Cluster<'_>) {
    let base = base_sources();
    let c = Container::of(&base);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();

    // the volumes, as the kubelet mounts them
    let certs = root.join("generated-certs");
    let status = mignet().args(["certs", "--out"]).arg(&certs).stdout(Stdio::null()).status().expect("certs");
    assert!(status.success());
    let mut mounts = Vec::new();
    for mount in c.container["volumeMounts"].as_array().expect("volumeMounts") {
        let mount_path = mount["mountPath"].as_str().expect("mountPath").to_owned();
        let volume = pod_volume(c.pod(), mount["name"].as_str().expect("name"));
        let files: Vec<(String, Vec<u8>)> = if volume["secret"].is_object() {
            ["tls.crt", "tls.key"]
                .iter()
                .map(|f| (f.to_string(), std::fs::read(certs.join(f)).expect("cert")))
                .collect()
        } else {
            let cm =
                base.named("ConfigMap", volume["configMap"]["name"].as_str().expect("a Secret or ConfigMap"));
            let data = cm["data"].as_object().expect("data");
            data.iter().map(|(k, v)| (k.clone(), v.as_str().expect("text").as_bytes().to_vec())).collect()
        };
        let local = root.join(mount_path.trim_start_matches('/'));
        kubelet_volume(&local, &files);
        mounts.push((mount_path, local));
    }

    // the container's args: mounted paths point at the volumes above; listeners bind loopback
    // port 0, so the test never collides with another server; outside a pod there is no in-cluster
    // service account, so --cluster auto gets a kubeconfig or becomes --cluster off
    let mut args = vec!["serve".to_owned()];
    for (name, value) in &c.flags {
        let value = match (name.as_str(), &cluster) {
            ("addr" | "metrics-addr", _) => "127.0.0.1:0".to_owned(),
            ("cluster", Cluster::Off) => "off".to_owned(),
            ("cert" | "key" | "policy" | "client-ca", _) => {
                let (mount, local) = mounts
                    .iter()
                    .find(|(m, _)| Path::new(value).starts_with(m))
                    .unwrap_or_else(|| panic!("--{name}={value} is in no mounted volume"));
                local.join(Path::new(value).strip_prefix(mount).expect("prefix")).display().to_string()
            }
            (_, _) => value.clone(),
        };
        args.push(format!("--{name}={value}"));
    }
    if let Cluster::Kubeconfig(path) = cluster {
        assert_eq!(c.flag("cluster"), Some("auto"), "in a pod, mignet judges against the live cluster");
        args.push(format!("--kubeconfig={}", path.display()));
    }
    let mut child = mignet()
        .args(&args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mignet serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut server = Running { child };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut https, mut plain, mut seen) = (None, None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while https.is_none() || (c.metrics_port().is_some() && plain.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let status = server.child.try_wait();
            panic!("mignet {} did not start ({status:?}):\n{}", args.join(" "), seen.join("\n"));
        };
        https = https.or(logged_addr(&line, "listening on https://"));
        plain = plain.or(logged_addr(&line, "serving /healthz"));
        seen.push(line);
    }
    let https = https.expect("https address");

    // each probe, as the kubelet sends it, until ready
    let tls = client(&certs.join("ca.crt"), false);
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &c.container[probe]["httpGet"];
        let path = get["path"].as_str().expect("path");
        let url = if c.resolve_port(&get["port"]) == c.addr_port() {
            format!("https://localhost:{}{path}", https.port())
        } else {
            format!("http://{}{path}", plain.expect("the --metrics-addr listener"))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = tls.get(&url).send().await.map(|r| r.status().as_u16());
            match status {
                Ok(200) => break,
                // not ready yet (503) or not listening yet: the kubelet tries again
                Ok(503) | Err(_) => assert!(Instant::now() < deadline, "{probe} {url}: {status:?}"),
                Ok(other) => panic!("{probe} {url}: HTTP {other}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // every webhook path of the base answers an AdmissionReview
    let review: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/reviews/nad-create.json")).expect("review"),
    )
    .expect("json");
    let mut paths = BTreeSet::new();
    for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        for w in base.named(kind, "mignet")["webhooks"].as_array().expect("webhooks") {
            paths.insert(w["clientConfig"]["service"]["path"].as_str().expect("path").to_owned());
        }
    }
    for path in &paths {
        let url = format!("https://localhost:{}{path}?timeout=5s", https.port());
        let resp = tls.post(&url).json(&review).send().await.expect("post");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let body: Value = resp.json().await.expect("an AdmissionReview");
        assert_eq!(body["response"]["uid"], review["request"]["uid"], "{path}");
    }

    // SIGTERM, as the kubelet sends it: mignet exits 0 within the grace period
    let pid = server.child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(kill.success());
    let grace = c.pod()["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    let deadline = Instant::now() + Duration::from_secs(grace);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {grace} s after SIGTERM: the kubelet would SIGKILL it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
}

fn pod_volume<'a>(pod: &'a Value, name: &str) -> &'a Value {
    let volumes = pod["volumes"].as_array().expect("volumes");
    volumes.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no volume {name}"))
}
