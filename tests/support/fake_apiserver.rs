//! `FakeApiServer`: an in-memory imitation of kube-apiserver's read API, for tests only.
//!
//! No kube-apiserver can be installed where these tests run, so this answers the requests a kube-rs
//! watcher makes in the shapes kube-apiserver uses, over HTTPS with a bearer token:
//!
//! - discovery: `/api`, `/api/v1`, `/apis` (APIGroupList with preferred versions), `/apis/<g>/<v>`
//!   (APIResourceList); a group version or resource that is not served answers a 404 `Status`;
//! - list: `{"kind":"<Kind>List","apiVersion":…,"metadata":{"resourceVersion":"N"},"items":[…]}`, with
//!   `limit`/`continue` paging over a snapshot, `fieldSelector` (`metadata.name`, `metadata.namespace`),
//!   equality `labelSelector`s, and metadata-only answers when the `Accept` header asks for
//!   `as=PartialObjectMetadataList`; items of built-in kinds carry no `kind`/`apiVersion`, as in the
//!   real server;
//! - watch (`?watch=true`): a chunked stream of `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
//!   "object":…}` lines from `resourceVersion` on, `timeoutSeconds` (a BOOKMARK then a clean end when
//!   `allowWatchBookmarks`), `sendInitialEvents`, and a 410 `Expired` ERROR event when the version is
//!   older than the last [`FakeApiServer::compact`];
//! - faults: [`FakeApiServer::drop_watches`] cuts every watch connection without ending the chunked
//!   body; [`FakeApiServer::set_unavailable`] is an outage at the TCP level (a front proxy cuts every
//!   open connection and closes every new one), as when the API server is down.
//!
//! Not modelled: writes through the API, admission, RBAC, watch events for objects moving in or out of
//! a label selector, periodic bookmarks.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use axum_server::{Handle, tls_rustls::RustlsConfig};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// One resource type the fake serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Built-in kinds lose `kind`/`apiVersion` on list items, as with the real server.
    pub builtin: bool,
}

impl ResourceDef {
    pub const NODES: ResourceDef = ResourceDef {
        group: "",
        version: "v1",
        plural: "nodes",
        kind: "Node",
        namespaced: false,
        builtin: true,
    };
    pub const CONFIGMAPS: ResourceDef = ResourceDef {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        builtin: true,
    };
    pub const NADS: ResourceDef = ResourceDef {
        group: "k8s.cni.cncf.io",
        version: "v1",
        plural: "network-attachment-definitions",
        kind: "NetworkAttachmentDefinition",
        namespaced: true,
        builtin: false,
    };
    pub const HCO_V1BETA1: ResourceDef = ResourceDef {
        group: "hco.kubevirt.io",
        version: "v1beta1",
        plural: "hyperconvergeds",
        kind: "HyperConverged",
        namespaced: true,
        builtin: false,
    };
    pub const HCO_V1: ResourceDef = ResourceDef { version: "v1", ..ResourceDef::HCO_V1BETA1 };
    pub const CONFIG_NETWORKS: ResourceDef = ResourceDef {
        group: "config.openshift.io",
        version: "v1",
        plural: "networks",
        kind: "Network",
        namespaced: false,
        builtin: true,
    };
    pub const OPERATOR_NETWORKS: ResourceDef =
        ResourceDef { group: "operator.openshift.io", ..ResourceDef::CONFIG_NETWORKS };

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn singular(&self) -> String {
        self.kind.to_lowercase()
    }
}

/// A plain Kubernetes cluster with Multus: nodes, configmaps and NADs, nothing else.
pub fn plain_kubernetes() -> Vec<ResourceDef> {
    vec![ResourceDef::NODES, ResourceDef::CONFIGMAPS, ResourceDef::NADS]
}

/// OpenShift with OpenShift Virtualization: everything mignet watches.
pub fn openshift() -> Vec<ResourceDef> {
    vec![
        ResourceDef::NODES,
        ResourceDef::CONFIGMAPS,
        ResourceDef::NADS,
        ResourceDef::HCO_V1BETA1,
        ResourceDef::CONFIG_NETWORKS,
        ResourceDef::OPERATOR_NETWORKS,
    ]
}

struct Res {
    def: ResourceDef,
    served: bool,
    /// (namespace, name) → object, in etcd key order.
    objects: BTreeMap<(String, String), Value>,
}

struct Ev {
    rv: u64,
    res: usize,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Store {
    rv: u64,
    /// Watches and continue tokens from before this version get 410 Expired.
    compacted: u64,
    resources: Vec<Res>,
    events: Vec<Ev>,
    /// Continue-token snapshots: id → (resourceVersion, remaining items).
    snapshots: HashMap<u64, (u64, Vec<Value>)>,
    next_snapshot: u64,
    next_uid: u64,
}

struct Shared {
    token: String,
    store: Mutex<Store>,
    /// Bumped on every change, waking watches.
    changed: watch::Sender<u64>,
    /// Bumped to cut every open watch connection.
    cut: watch::Sender<u64>,
    requests: Mutex<Vec<String>>,
    open_watches: Mutex<usize>,
    /// While set, the front proxy closes connections.
    down: watch::Sender<bool>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake API server; stops when dropped.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    handle: Handle<SocketAddr>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl FakeApiServer {
    /// Serves `resources` on 127.0.0.1 with a fresh CA; must be called inside a tokio runtime.
    pub async fn start(resources: Vec<ResourceDef>) -> FakeApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = mignet::certs::generate(&["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("generate fake API server certificates");
        let tls =
            RustlsConfig::from_pem(certs.cert_pem.clone().into_bytes(), certs.key_pem.clone().into_bytes())
                .await
                .expect("fake API server TLS config");
        let store = Store {
            rv: 100,
            resources: resources
                .into_iter()
                .map(|def| Res { def, served: true, objects: BTreeMap::new() })
                .collect(),
            ..Store::default()
        };
        let shared = Arc::new(Shared {
            token: "fake-token-for-tests".to_owned(),
            store: Mutex::new(store),
            changed: watch::channel(0).0,
            cut: watch::channel(0).0,
            requests: Mutex::new(Vec::new()),
            open_watches: Mutex::new(0),
            down: watch::channel(false).0,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let handle: Handle<SocketAddr> = Handle::new();
        let server = axum_server::bind_rustls("127.0.0.1:0".parse().unwrap(), tls).handle(handle.clone());
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        let backend = handle.listening().await.expect("fake API server did not start");
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = front.local_addr().unwrap();
        tokio::spawn(proxy(front, backend, shared.down.subscribe()));
        FakeApiServer { shared, addr, ca_pem: certs.ca_cert_pem, handle }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes a kubeconfig (with the CA beside it) that points at this server, and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let ca = dir.join("fake-apiserver-ca.crt");
        std::fs::write(&ca, &self.ca_pem).unwrap();
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    \
             certificate-authority: {}\nusers:\n- name: tester\n  user:\n    token: {}\ncontexts:\n- name: fake\n  \
             context:\n    cluster: fake\n    user: tester\ncurrent-context: fake\n",
            self.url(),
            ca.display(),
            self.shared.token
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates or replaces an object (by apiVersion, kind, namespace and name), as a write through the
    /// API would: a new resourceVersion, an ADDED or MODIFIED event. Returns the stored object.
    pub fn apply(&self, mut object: Value) -> Value {
        let mut store = self.shared.store();
        let res =
            store.find_kind(&object).unwrap_or_else(|| panic!("fake API server: no resource for {object}"));
        store.rv += 1;
        store.next_uid += 1;
        let (rv, uid) = (store.rv, store.next_uid);
        let key = object_key(&object);
        let old = store.resources[res].objects.get(&key).cloned();
        let meta = object["metadata"].as_object_mut().expect("object has metadata");
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        let (uid, created) = match &old {
            Some(o) => (o["metadata"]["uid"].clone(), o["metadata"]["creationTimestamp"].clone()),
            None => (json!(format!("00000000-0000-0000-0000-{uid:012}")), json!("2026-01-01T00:00:00Z")),
        };
        meta.insert("uid".into(), uid);
        meta.insert("creationTimestamp".into(), created);
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        store.resources[res].objects.insert(key, object.clone());
        store.events.push(Ev { rv, res, kind, object: object.clone() });
        drop(store);
        self.shared.changed.send_modify(|n| *n += 1);
        object
    }

    /// Deletes an object; returns whether it existed. Watches get a DELETED event with the last state.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let probe = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name}});
        let mut store = self.shared.store();
        let Some(res) = store.find_kind(&probe) else { return false };
        let key = object_key(&probe);
        let Some(mut object) = store.resources[res].objects.remove(&key) else { return false };
        store.rv += 1;
        let rv = store.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        store.events.push(Ev { rv, res, kind: "DELETED", object });
        drop(store);
        self.shared.changed.send_modify(|n| *n += 1);
        true
    }

    /// Serves (installs) a resource type, e.g. a CRD created after the watchers started.
    pub fn serve(&self, def: ResourceDef) {
        let mut store = self.shared.store();
        match store.resources.iter_mut().find(|r| r.def == def) {
            Some(r) => r.served = true,
            None => store.resources.push(Res { def, served: true, objects: BTreeMap::new() }),
        }
    }

    /// Stops serving a resource type (a CRD deleted): discovery and its endpoints answer 404.
    pub fn unserve(&self, def: &ResourceDef) {
        if let Some(r) = self.shared.store().resources.iter_mut().find(|r| r.def == *def) {
            r.served = false;
        }
        self.drop_watches();
    }

    /// Moves the oldest resourceVersion still watchable past every version handed out so far, as etcd
    /// compaction does: watches and continue tokens from before get 410 Expired.
    pub fn compact(&self) {
        let mut store = self.shared.store();
        store.rv += 1;
        store.compacted = store.rv;
    }

    /// Cuts every open watch connection mid-stream (no final chunk), like a lost connection.
    pub fn drop_watches(&self) {
        self.shared.cut.send_modify(|n| *n += 1);
    }

    /// While set, the API server is down: open connections are cut and new ones closed at once.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.shared.down.send_replace(unavailable);
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many watch streams are open right now.
    pub fn open_watches(&self) -> usize {
        *self.shared.open_watches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv
    }
}

impl Store {
    fn find_kind(&self, object: &Value) -> Option<usize> {
        let api_version = object["apiVersion"].as_str()?;
        let kind = object["kind"].as_str()?;
        self.resources.iter().position(|r| r.def.api_version() == api_version && r.def.kind == kind)
    }

    fn find_served(&self, group: &str, version: &str, plural: &str) -> Option<usize> {
        self.resources.iter().position(|r| {
            r.served && r.def.group == group && r.def.version == version && r.def.plural == plural
        })
    }
}

fn object_key(object: &Value) -> (String, String) {
    let m = &object["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_owned(),
        m["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The TCP front: forwards connections to the TLS server while up; while down, closes them.
async fn proxy(front: tokio::net::TcpListener, backend: SocketAddr, mut down: watch::Receiver<bool>) {
    let mut open = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = front.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                if *down.borrow() {
                    drop(inbound);
                    continue;
                }
                open.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            changed = down.changed() => {
                if changed.is_err() {
                    return;
                }
                if *down.borrow_and_update() {
                    open.abort_all();
                }
            }
            Some(_) = open.join_next(), if !open.is_empty() => {}
        }
    }
}

// ---- responses -------------------------------------------------------------------------------------

fn json_response(code: StatusCode, body: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "details": {}, "code": code});
    json_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &body)
}

fn not_found() -> Response {
    status(404, "NotFound", "the server could not find the requested resource")
}

fn expired(rv: u64, oldest: u64) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("too old resource version: {rv} ({oldest})"), "reason": "Expired", "code": 410})
}

// ---- request handling ------------------------------------------------------------------------------

/// The parsed path of a resource request.
struct Target {
    res: usize,
    namespace: Option<String>,
    name: Option<String>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    shared.requests.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{method} {uri}"));
    let bearer = format!("Bearer {}", shared.token);
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(bearer.as_str()) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if method != Method::GET {
        return status(405, "MethodNotAllowed", "the fake API server only reads");
    }
    let params: HashMap<String, String> = params.into_iter().collect();
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let meta_only = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    match segments.as_slice() {
        ["api"] => json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        ),
        ["apis"] => json_response(StatusCode::OK, &group_list(&shared.store())),
        ["api", "v1"] => resource_list(&shared.store(), "", "v1"),
        ["apis", group, version] => resource_list(&shared.store(), group, version),
        ["api", "v1", rest @ ..] => resource(&shared, "", "v1", rest, &params, meta_only).await,
        ["apis", group, version, rest @ ..] => {
            resource(&shared, group, version, rest, &params, meta_only).await
        }
        _ => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else { return (0, 0, 0) };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    match &rest[digits.len()..] {
        "" => (3, major, 0),
        s if s.starts_with("beta") => (2, major, s[4..].parse().unwrap_or(0)),
        s if s.starts_with("alpha") => (1, major, s[5..].parse().unwrap_or(0)),
        _ => (0, major, 0),
    }
}

fn group_list(store: &Store) -> Value {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in store.resources.iter().filter(|r| r.served && !r.def.group.is_empty()) {
        let versions = groups.entry(r.def.group).or_default();
        if !versions.contains(&r.def.version) {
            versions.push(r.def.version);
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(group, mut versions)| {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
            let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
            json!({"name": group, "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
                   "preferredVersion": gv(versions[0])})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(store: &Store, group: &str, version: &str) -> Response {
    let resources: Vec<Value> = store
        .resources
        .iter()
        .filter(|r| r.served && r.def.group == group && r.def.version == version)
        .map(|r| {
            json!({"name": r.def.plural, "singularName": r.def.singular(), "namespaced": r.def.namespaced,
                   "kind": r.def.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
        })
        .collect();
    if resources.is_empty() && !group.is_empty() {
        return not_found();
    }
    let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn parse_target(store: &Store, group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return None,
    };
    let res = store.find_served(group, version, plural)?;
    if namespace.is_some() && !store.resources[res].def.namespaced {
        return None;
    }
    Some(Target { res, namespace: namespace.map(str::to_owned), name: name.map(str::to_owned) })
}

async fn resource(
    shared: &Arc<Shared>,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &HashMap<String, String>,
    meta_only: bool,
) -> Response {
    let target = {
        let store = shared.store();
        match parse_target(&store, group, version, rest) {
            Some(t) => t,
            None => return not_found(),
        }
    };
    let filter = match Filter::parse(params, target.namespace.clone()) {
        Ok(f) => f,
        Err(msg) => return status(400, "BadRequest", &msg),
    };
    if let Some(name) = &target.name {
        return get(shared, &target, name, meta_only);
    }
    if matches!(params.get("watch").map(String::as_str), Some("true" | "1")) {
        return start_watch(shared, target.res, filter, params, meta_only);
    }
    list(shared, target.res, &filter, params, meta_only)
}

fn get(shared: &Arc<Shared>, target: &Target, name: &str, meta_only: bool) -> Response {
    let store = shared.store();
    let res = &store.resources[target.res];
    let key = (target.namespace.clone().unwrap_or_default(), name.to_owned());
    match res.objects.get(&key) {
        Some(o) => json_response(StatusCode::OK, &shape(o, meta_only)),
        None => status(
            404,
            "NotFound",
            &format!("{}{} \"{name}\" not found", res.def.plural, dotted(res.def.group)),
        ),
    }
}

fn dotted(group: &str) -> String {
    if group.is_empty() { String::new() } else { format!(".{group}") }
}

/// The object as the request asked for it: whole, or only its metadata.
fn shape(object: &Value, meta_only: bool) -> Value {
    if meta_only {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
    } else {
        object.clone()
    }
}

/// Selectors and the namespace of a list or watch.
struct Filter {
    namespace: Option<String>,
    fields: Vec<(String, bool, String)>,
    labels: Vec<LabelTerm>,
}

enum LabelTerm {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
}

impl Filter {
    fn parse(params: &HashMap<String, String>, namespace: Option<String>) -> Result<Filter, String> {
        let mut fields = Vec::new();
        for term in params.get("fieldSelector").map(String::as_str).unwrap_or_default().split(',') {
            if term.is_empty() {
                continue;
            }
            let (key, eq, value) =
                split_term(term).ok_or_else(|| format!("invalid field selector: {term}"))?;
            if key != "metadata.name" && key != "metadata.namespace" {
                return Err(format!("field label not supported: {key}"));
            }
            fields.push((key.to_owned(), eq, value.to_owned()));
        }
        let mut labels = Vec::new();
        for term in params.get("labelSelector").map(String::as_str).unwrap_or_default().split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            labels.push(match split_term(term) {
                Some((k, true, v)) => LabelTerm::Eq(k.to_owned(), v.to_owned()),
                Some((k, false, v)) => LabelTerm::Ne(k.to_owned(), v.to_owned()),
                None if term.contains(' ') || term.contains('(') => {
                    return Err(format!("unsupported label selector: {term}"));
                }
                None => match term.strip_prefix('!') {
                    Some(k) => LabelTerm::Absent(k.to_owned()),
                    None => LabelTerm::Exists(term.to_owned()),
                },
            });
        }
        Ok(Filter { namespace, fields, labels })
    }

    fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or_default();
        if self.namespace.as_deref().is_some_and(|want| want != ns) {
            return false;
        }
        let field_ok = self.fields.iter().all(|(key, eq, value)| {
            let have = match key.as_str() {
                "metadata.name" => meta["name"].as_str().unwrap_or_default(),
                _ => ns,
            };
            (have == value) == *eq
        });
        let label = |k: &str| meta["labels"][k].as_str();
        let labels_ok = self.labels.iter().all(|t| match t {
            LabelTerm::Eq(k, v) => label(k) == Some(v),
            LabelTerm::Ne(k, v) => label(k) != Some(v),
            LabelTerm::Exists(k) => label(k).is_some(),
            LabelTerm::Absent(k) => label(k).is_none(),
        });
        field_ok && labels_ok
    }
}

/// `k=v`, `k==v` (true) or `k!=v` (false).
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some((k.trim(), false, v.trim()));
    }
    let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    Some((k.trim(), true, v.trim()))
}

fn list(
    shared: &Arc<Shared>,
    res: usize,
    filter: &Filter,
    params: &HashMap<String, String>,
    meta_only: bool,
) -> Response {
    let mut store = shared.store();
    let limit: usize = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let (rv, items) = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let Some(id) = token.strip_prefix("fake-continue-").and_then(|id| id.parse::<u64>().ok()) else {
                return status(400, "BadRequest", &format!("invalid continue token {token:?}"));
            };
            let Some((rv, items)) = store.snapshots.remove(&id) else {
                return status(410, "Expired", "the provided continue parameter is too old");
            };
            if rv < store.compacted {
                return status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result.",
                );
            }
            (rv, items)
        }
        None => {
            let def = store.resources[res].def.clone();
            let items: Vec<Value> = store.resources[res]
                .objects
                .values()
                .filter(|o| filter.matches(o))
                .map(|o| {
                    let mut item = shape(o, meta_only);
                    if def.builtin
                        && !meta_only
                        && let Some(m) = item.as_object_mut()
                    {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    item
                })
                .collect();
            (store.rv, items)
        }
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    let items = if limit > 0 && items.len() > limit {
        let mut items = items;
        let remaining = items.split_off(limit);
        store.next_snapshot += 1;
        let id = store.next_snapshot;
        metadata["continue"] = json!(format!("fake-continue-{id}"));
        metadata["remainingItemCount"] = json!(remaining.len());
        store.snapshots.insert(id, (rv, remaining));
        items
    } else {
        items
    };
    let def = &store.resources[res].def;
    let (kind, api_version) = if meta_only {
        ("PartialObjectMetadataList".to_owned(), "meta.k8s.io/v1".to_owned())
    } else {
        (format!("{}List", def.kind), def.api_version())
    };
    json_response(
        StatusCode::OK,
        &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}),
    )
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool, meta_only: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let (kind, api_version) = if meta_only {
        ("PartialObjectMetadata", "meta.k8s.io/v1".to_owned())
    } else {
        (def.kind, def.api_version())
    };
    json!({"kind": kind, "apiVersion": api_version, "metadata": metadata})
}

type Chunk = Result<Bytes, std::io::Error>;

fn start_watch(
    shared: &Arc<Shared>,
    res: usize,
    filter: Filter,
    params: &HashMap<String, String>,
    meta_only: bool,
) -> Response {
    let bookmarks = params.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let initial = params.get("sendInitialEvents").is_some_and(|b| b == "true");
    let timeout = params.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok());
    let requested = params.get("resourceVersion").filter(|v| !v.is_empty() && *v != "0");
    let (tx, rx) = mpsc::channel::<Chunk>(64);
    let body =
        Body::from_stream(futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
        ));
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    let (start, preamble) = {
        let store = shared.store();
        let def = store.resources[res].def.clone();
        match requested.map(|v| v.parse::<u64>()) {
            Some(Err(_)) => return status(400, "BadRequest", "invalid resourceVersion"),
            Some(Ok(rv)) if rv < store.compacted && !initial => {
                let _ = tx.try_send(Ok(line("ERROR", &expired(rv, store.compacted))));
                return response;
            }
            Some(Ok(rv)) if !initial => (rv, Vec::new()),
            _ => {
                // no version (or "0", or sendInitialEvents): the current objects as ADDED first
                let mut pre: Vec<Bytes> = store.resources[res]
                    .objects
                    .values()
                    .filter(|o| filter.matches(o))
                    .map(|o| line("ADDED", &shape(o, meta_only)))
                    .collect();
                if initial && bookmarks {
                    pre.push(line("BOOKMARK", &bookmark(&def, store.rv, true, meta_only)));
                }
                (store.rv, pre)
            }
        }
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        *shared.open_watches.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        stream_events(&shared, res, filter, start, preamble, tx, timeout, bookmarks, meta_only).await;
        *shared.open_watches.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    });
    response
}

#[allow(clippy::too_many_arguments)]
async fn stream_events(
    shared: &Arc<Shared>,
    res: usize,
    filter: Filter,
    mut last: u64,
    preamble: Vec<Bytes>,
    tx: mpsc::Sender<Chunk>,
    timeout: Option<u64>,
    bookmarks: bool,
    meta_only: bool,
) {
    let mut changed = shared.changed.subscribe();
    let mut cut = shared.cut.subscribe();
    cut.borrow_and_update();
    changed.borrow_and_update();
    for chunk in preamble {
        if tx.send(Ok(chunk)).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(timeout.unwrap_or(1800)));
    tokio::pin!(deadline);
    loop {
        let pending: Vec<(u64, Bytes)> = {
            let store = shared.store();
            store
                .events
                .iter()
                .filter(|e| e.res == res && e.rv > last && filter.matches(&e.object))
                .map(|e| (e.rv, line(e.kind, &shape(&e.object, meta_only))))
                .collect()
        };
        // the front proxy cuts connections on its own time; nothing written during an outage may
        // slip through before it does
        if *shared.down.borrow() {
            let _ = tx.send(Err(std::io::Error::other("fake API server: down"))).await;
            return;
        }
        for (rv, chunk) in pending {
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            last = rv;
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = cut.changed() => {
                let _ = tx.send(Err(std::io::Error::other("fake API server: watch connection cut"))).await;
                return;
            }
            () = &mut deadline => {
                if bookmarks {
                    let (def, rv) = {
                        let store = shared.store();
                        (store.resources[res].def.clone(), store.rv)
                    };
                    let _ = tx.send(Ok(line("BOOKMARK", &bookmark(&def, rv, false, meta_only)))).await;
                }
                return;
            }
            () = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1beta1", "v1alpha1", "v1", "v2beta1", "v2"];
        v.sort_by_key(|v| std::cmp::Reverse(super::version_priority(v)));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta1", "v1alpha1"]);
    }
}
