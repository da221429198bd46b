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
//!   "object":…}` lines from `resourceVersion` on, periodic bookmarks when `allowWatchBookmarks`
//!   ([`FakeApiServer::set_bookmark_interval`]), `timeoutSeconds` (a BOOKMARK then a clean end when
//!   `allowWatchBookmarks`), `sendInitialEvents`, and a 410 `Expired` ERROR event when the version is
//!   older than the last [`FakeApiServer::compact`];
//! - faults: [`FakeApiServer::drop_watches`] cuts every watch connection without ending the chunked
//!   body; [`FakeApiServer::set_unavailable`] is an outage at the TCP level (a front proxy cuts every
//!   open connection and closes every new one), as when the API server is down;
//!   [`FakeApiServer::set_starting`] answers as a restarted kube-apiserver does before its caches
//!   sync (discovery 503, lists and watches 403 Forbidden).
//!
//! Custom resources are stored as kube-apiserver's apiextensions stores them, which is what decides
//! what a watcher sees:
//!
//! - one store per resource, whatever the versions: each object is kept in the storage version of its
//!   last write and keeps it when the CRD's storage version changes later (etcd is not rewritten);
//! - conversion strategy `None` (no webhook, as HCO's CRD): converting only relabels `apiVersion`;
//! - a write through version V is pruned and defaulted with V's schema, relabelled to the storage
//!   version and pruned again with its schema, so fields the storage version does not know are lost;
//! - a read (get, list, watch) through V applies the defaults of the version the object is stored in,
//!   relabels it V and prunes it with V's schema: read through the other version, an HCO object loses
//!   its live-migration settings (what `../shared` captured from a real kube-apiserver v1.36);
//! - types are checked on write with a 422 as the real server would (`spec.config` must be a string),
//!   ratcheted on update: a value unchanged from the stored object read through the same version is
//!   not re-checked (CRD validation ratcheting, on since Kubernetes 1.33);
//! - the status subresource: a write of the main resource keeps the stored status, a status write keeps
//!   everything else; `metadata.generation` moves with spec changes;
//! - `managedFields`: one entry per manager and subresource, with the apiVersion written through;
//! - `metadata.creationTimestamp`: the time of the create, as the real server stamps it (so an age
//!   compared with the clock is as young as a real object's); unlike the real server, a timestamp in
//!   the created object is kept, so a test can seed an object that has existed for a while;
//! - discovery prefers the highest version by Kubernetes version priority, not the storage version.
//!
//! The schemas are excerpts ([`schemas`](super::schemas)); OpenShift's Network CRDs, KubeVirt's and the
//! built-in kinds are served without one (objects as written). Not modelled: admission, RBAC, watch
//! events for objects moving in or out of a label selector, and servers that refuse watches without a
//! resourceVersion (etcd 3.4 without RequestWatchProgress; kube-rs lists first, so it never asks).
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

use super::schemas;
pub use super::schemas::HcoRelease;

/// One version of a resource type the fake serves.
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
        builtin: false,
    };
    pub const OPERATOR_NETWORKS: ResourceDef =
        ResourceDef { group: "operator.openshift.io", ..ResourceDef::CONFIG_NETWORKS };
    /// kubernetes-nmstate's per-node host network, written by its handler through the status subresource.
    pub const NODE_NETWORK_STATES: ResourceDef = ResourceDef {
        group: "nmstate.io",
        version: "v1beta1",
        plural: "nodenetworkstates",
        kind: "NodeNetworkState",
        namespaced: false,
        builtin: false,
    };

    /// OVN-Kubernetes' namespaced VM networks.
    pub const UDNS: ResourceDef = ResourceDef {
        group: "k8s.ovn.org",
        version: "v1",
        plural: "userdefinednetworks",
        kind: "UserDefinedNetwork",
        namespaced: true,
        builtin: false,
    };
    /// OVN-Kubernetes' cluster-scoped VM networks.
    pub const CUDNS: ResourceDef = ResourceDef {
        plural: "clusteruserdefinednetworks",
        kind: "ClusterUserDefinedNetwork",
        namespaced: false,
        ..ResourceDef::UDNS
    };
    /// KubeVirt's KubeVirt CR (served without a schema: objects as written).
    pub const KUBEVIRTS: ResourceDef = ResourceDef {
        group: "kubevirt.io",
        version: "v1",
        plural: "kubevirts",
        kind: "KubeVirt",
        namespaced: true,
        builtin: false,
    };
    /// KubeVirt's VirtualMachineInstanceMigration, a stand-in for the CRD virt-operator generates at
    /// run time: same group, version, kind, plural, scope and status subresource, no schema.
    pub const VMIMS: ResourceDef = ResourceDef {
        plural: "virtualmachineinstancemigrations",
        kind: "VirtualMachineInstanceMigration",
        ..ResourceDef::KUBEVIRTS
    };

    fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    fn singular(&self) -> String {
        self.kind.to_lowercase()
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") }
}

/// The HyperConverged versions of an HCO release, storage version first.
pub fn hco(release: HcoRelease) -> Vec<ResourceDef> {
    release
        .versions()
        .iter()
        .map(|(v, _, _)| ResourceDef { version: v, ..ResourceDef::HCO_V1BETA1 })
        .collect()
}

/// A plain Kubernetes cluster with Multus: nodes, configmaps and NADs, nothing else.
pub fn plain_kubernetes() -> Vec<ResourceDef> {
    vec![ResourceDef::NODES, ResourceDef::CONFIGMAPS, ResourceDef::NADS]
}

/// OpenShift with OpenShift Virtualization: everything mignet watches but the NMState operator's
/// NodeNetworkStates, HCO as of `release`.
pub fn openshift_with(release: HcoRelease) -> Vec<ResourceDef> {
    let mut defs = vec![ResourceDef::NODES, ResourceDef::CONFIGMAPS, ResourceDef::NADS];
    defs.extend(hco(release));
    defs.extend([ResourceDef::CONFIG_NETWORKS, ResourceDef::OPERATOR_NETWORKS]);
    defs
}

/// OpenShift Virtualization with the NMState operator and OVN-Kubernetes' user-defined networks:
/// every resource mignet watches.
pub fn openshift_with_nmstate(release: HcoRelease) -> Vec<ResourceDef> {
    let mut defs = openshift_with(release);
    defs.extend([ResourceDef::NODE_NETWORK_STATES, ResourceDef::UDNS, ResourceDef::CUDNS]);
    defs
}

/// OpenShift with OpenShift Virtualization whose HCO serves v1beta1 only (1.17 and earlier).
pub fn openshift() -> Vec<ResourceDef> {
    openshift_with(HcoRelease::V1_17)
}

/// One served version of a type.
struct Version {
    name: &'static str,
    served: bool,
    storage: bool,
    schema: Option<Value>,
}

/// One resource type (a CRD or a built-in kind) with its versions and its one store.
struct Res {
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    builtin: bool,
    versions: Vec<Version>,
    status_subresource: bool,
    /// (namespace, name) → object as stored (`apiVersion`: the storage version of its last write).
    objects: BTreeMap<(String, String), Value>,
}

impl Res {
    fn new(def: &ResourceDef) -> Res {
        // what the real CRDs declare: status subresources everywhere but the NAD CRD; built-in kinds'
        // objects are written here as their controllers left them
        let status_subresource = !def.builtin && def.group != "k8s.cni.cncf.io";
        Res {
            group: def.group,
            plural: def.plural,
            kind: def.kind,
            namespaced: def.namespaced,
            builtin: def.builtin,
            versions: Vec::new(),
            status_subresource,
            objects: BTreeMap::new(),
        }
    }

    fn is(&self, def: &ResourceDef) -> bool {
        self.group == def.group && self.plural == def.plural
    }

    fn def(&self, version: &'static str) -> ResourceDef {
        ResourceDef {
            group: self.group,
            version,
            plural: self.plural,
            kind: self.kind,
            namespaced: self.namespaced,
            builtin: self.builtin,
        }
    }

    fn version(&self, name: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.name == name)
    }

    fn served(&self, name: &str) -> bool {
        self.version(name).is_some_and(|v| v.served)
    }

    fn storage(&self) -> &'static str {
        self.versions.iter().find(|v| v.storage).or(self.versions.first()).map_or("v1", |v| v.name)
    }

    fn schema(&self, name: &str) -> Option<&Value> {
        self.version(name).and_then(|v| v.schema.as_ref())
    }

    /// Adds a version, or serves it again; the first version of a type is its storage version.
    fn add_version(&mut self, name: &'static str, schema: Option<Value>) {
        let first = self.versions.is_empty();
        match self.versions.iter_mut().find(|v| v.name == name) {
            Some(v) => v.served = true,
            None => self.versions.push(Version { name, served: true, storage: first, schema }),
        }
    }

    /// A stored object as read through `version`: the stored version's defaults, relabelled, pruned
    /// with `version`'s schema.
    fn read(&self, stored: &Value, version: &str) -> Value {
        let mut o = stored.clone();
        let at = stored["apiVersion"].as_str().and_then(|a| a.rsplit('/').next()).unwrap_or_default();
        if let Some(schema) = self.schema(at) {
            schemas::default(&mut o, schema);
        }
        o["apiVersion"] = json!(api_version(self.group, version));
        if let Some(schema) = self.schema(version) {
            schemas::prune(&mut o, schema);
        }
        o
    }
}

/// The schema of a version, where the fake models one.
fn schema_of(def: &ResourceDef, hco_release: HcoRelease) -> Option<Value> {
    match (def.group, def.version) {
        ("k8s.cni.cncf.io", "v1") => Some(schemas::nad_v1()),
        ("hco.kubevirt.io", "v1beta1") => Some(schemas::hco_v1beta1(hco_release)),
        ("hco.kubevirt.io", "v1") => Some(schemas::hco_v1(hco_release)),
        ("k8s.ovn.org", "v1") if def.namespaced => Some(schemas::udn_v1()),
        ("k8s.ovn.org", "v1") => Some(schemas::cudn_v1()),
        _ => None,
    }
}

/// Which HCO release a list of definitions describes (its versions, storage first).
fn release_of(defs: &[ResourceDef]) -> HcoRelease {
    let versions: Vec<&str> =
        defs.iter().filter(|d| d.group == "hco.kubevirt.io").map(|d| d.version).collect();
    match versions.as_slice() {
        ["v1", ..] => HcoRelease::V1_19,
        [_, _, ..] => HcoRelease::V1_18,
        _ => HcoRelease::V1_17,
    }
}

struct Ev {
    rv: u64,
    res: usize,
    kind: &'static str,
    /// As stored; each watch renders it through its own version.
    object: Value,
}

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
    hco_release: HcoRelease,
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
    /// While set, requests are refused as by a kube-apiserver whose caches have not synced.
    starting: std::sync::atomic::AtomicBool,
    /// How often a watch that allows bookmarks gets one (kube-apiserver: about a minute).
    bookmark_millis: std::sync::atomic::AtomicU64,
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
        let hco_release = release_of(&resources);
        let mut store = Store {
            rv: 100,
            compacted: 0,
            resources: Vec::new(),
            events: Vec::new(),
            snapshots: HashMap::new(),
            next_snapshot: 0,
            next_uid: 0,
            hco_release,
        };
        for def in resources {
            store.add(&def);
        }
        let shared = Arc::new(Shared {
            token: "fake-token-for-tests".to_owned(),
            store: Mutex::new(store),
            changed: watch::channel(0).0,
            cut: watch::channel(0).0,
            requests: Mutex::new(Vec::new()),
            open_watches: Mutex::new(0),
            down: watch::channel(false).0,
            starting: std::sync::atomic::AtomicBool::new(false),
            bookmark_millis: std::sync::atomic::AtomicU64::new(60_000),
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

    /// Creates or replaces an object through its `apiVersion`, as a write of the main resource would:
    /// pruned, defaulted and stored at the storage version, status kept from the stored object, a new
    /// resourceVersion and an ADDED or MODIFIED event. Returns the object as read back through the
    /// version written. Panics where the real server would refuse the write.
    pub fn apply(&self, object: Value) -> Value {
        self.try_apply(object).unwrap_or_else(|e| panic!("fake API server refused a write: {e}"))
    }

    /// [`apply`](Self::apply), with the refusal a real server would answer as an error.
    pub fn try_apply(&self, object: Value) -> Result<Value, String> {
        self.write(object, false)
    }

    /// Writes only `status`, as a controller does through the status subresource.
    pub fn apply_status(&self, object: Value) -> Value {
        self.write(object, true).unwrap_or_else(|e| panic!("fake API server refused a status write: {e}"))
    }

    /// Seeds an object as its controllers would leave it: the write, then its status (if any).
    pub fn apply_with_status(&self, object: Value) -> Value {
        let has_status = object.get("status").is_some();
        let written = self.apply(object.clone());
        if has_status { self.apply_status(object) } else { written }
    }

    fn write(&self, mut object: Value, status_only: bool) -> Result<Value, String> {
        let mut store = self.shared.store();
        let (res, version) =
            store.find_kind(&object).ok_or_else(|| format!("no resource serves {}", object["apiVersion"]))?;
        let r = &store.resources[res];
        if !r.served(version) {
            return Err(format!("{} is not served", api_version(r.group, version)));
        }
        if let Some(schema) = r.schema(version) {
            let before = r.objects.get(&object_key(&object)).map(|o| r.read(o, version));
            if let Some(e) = schemas::type_error_ratcheted(&object, schema, before.as_ref()) {
                return Err(format!("{}.{} \"{}\" is invalid: {e}", r.kind, r.group, object_key(&object).1));
            }
            schemas::prune(&mut object, schema);
            schemas::default(&mut object, schema);
        }
        let storage = r.storage();
        object["apiVersion"] = json!(api_version(r.group, storage));
        if let Some(schema) = r.schema(storage) {
            schemas::prune(&mut object, schema);
        }
        let key = object_key(&object);
        let old = r.objects.get(&key).cloned();
        if status_only {
            let Some(old) = &old else { return Err(format!("{} \"{}\" not found", r.plural, key.1)) };
            let mut merged = old.clone();
            merged["apiVersion"] = object["apiVersion"].clone();
            match object.get("status") {
                Some(st) => merged["status"] = st.clone(),
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            object = merged;
        } else if r.status_subresource {
            let m = object.as_object_mut().ok_or("the object is not a JSON object")?;
            m.remove("status");
            if let Some(st) = old.as_ref().and_then(|o| o.get("status")) {
                m.insert("status".into(), st.clone());
            }
        }
        store.rv += 1;
        store.next_uid += 1;
        let (rv, uid) = (store.rv, store.next_uid);
        let generation = match &old {
            None => 1,
            Some(o) => {
                let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                if !status_only && o.get("spec") != object.get("spec") { g + 1 } else { g }
            }
        };
        let manager_fields: Vec<String> = object
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    .filter(|k| (k.as_str() == "status") == status_only)
                    .map(|k| format!("f:{k}"))
                    .collect()
            })
            .unwrap_or_default();
        let meta = object["metadata"].as_object_mut().ok_or("the object has no metadata")?;
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        let (uid, created, mut managed) = match &old {
            Some(o) => (
                o["metadata"]["uid"].clone(),
                o["metadata"]["creationTimestamp"].clone(),
                o["metadata"]["managedFields"].as_array().cloned().unwrap_or_default(),
            ),
            None => (
                json!(format!("00000000-0000-0000-0000-{uid:012}")),
                meta.get("creationTimestamp").filter(|t| t.is_string()).cloned().unwrap_or_else(created_now),
                meta.get("managedFields").and_then(Value::as_array).cloned().unwrap_or_default(),
            ),
        };
        meta.insert("uid".into(), uid);
        meta.insert("creationTimestamp".into(), created);
        if !store.resources[res].builtin {
            meta.insert("generation".into(), json!(generation));
            let subresource = if status_only { Some("status") } else { None };
            managed.retain(|e| !(e["manager"] == "mignet-tests" && e["subresource"].as_str() == subresource));
            let fields: serde_json::Map<String, Value> =
                manager_fields.into_iter().map(|f| (f, json!({}))).collect();
            let mut entry = json!({"manager": "mignet-tests", "operation": "Update",
                "apiVersion": api_version(store.resources[res].group, version), "time": fake_time(rv),
                "fieldsType": "FieldsV1", "fieldsV1": fields});
            if let Some(sub) = subresource {
                entry["subresource"] = json!(sub);
            }
            managed.push(entry);
            meta.insert("managedFields".into(), json!(managed));
        }
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        store.resources[res].objects.insert(key, object.clone());
        store.events.push(Ev { rv, res, kind, object: object.clone() });
        let shown = store.resources[res].read(&object, version);
        drop(store);
        self.shared.changed.send_modify(|n| *n += 1);
        Ok(shown)
    }

    /// An object as a GET through `api_version` would answer (`None`: not found or not served).
    pub fn get(&self, api_version: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.shared.store();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let r = store.resources.iter().find(|r| r.group == group && r.served(version))?;
        let o = r.objects.get(&(namespace.to_owned(), name.to_owned()))?;
        Some(r.read(o, version))
    }

    /// Deletes an object; returns whether it existed. Watches get a DELETED event with the last state.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let probe = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name}});
        let mut store = self.shared.store();
        let Some((res, _)) = store.find_kind(&probe) else { return false };
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

    /// Serves (installs) a version of a resource type, e.g. a CRD created after the watchers started.
    pub fn serve(&self, def: ResourceDef) {
        self.shared.store().add(&def);
    }

    /// Stops serving a version (a CRD version dropped, or the CRD deleted when it was the last one):
    /// discovery and its endpoints answer 404.
    pub fn unserve(&self, def: &ResourceDef) {
        if let Some(r) = self.shared.store().resources.iter_mut().find(|r| r.is(def))
            && let Some(v) = r.versions.iter_mut().find(|v| v.name == def.version)
        {
            v.served = false;
        }
        self.drop_watches();
    }

    /// Updates the HyperConverged CRD to an HCO release, as its operator upgrade does: versions served
    /// and stored, schemas. Stored objects keep the version they were stored in until written again.
    pub fn upgrade_hco(&self, release: HcoRelease) {
        let mut store = self.shared.store();
        store.hco_release = release;
        let at = match store.resources.iter().position(|r| r.is(&ResourceDef::HCO_V1BETA1)) {
            Some(i) => i,
            None => {
                store.resources.push(Res::new(&ResourceDef::HCO_V1BETA1));
                store.resources.len() - 1
            }
        };
        let r = &mut store.resources[at];
        for v in &mut r.versions {
            v.served = false;
            v.storage = false;
        }
        for (name, served, storage) in release.versions() {
            let schema = schema_of(&r.def(name), release);
            match r.versions.iter_mut().find(|v| v.name == *name) {
                Some(v) => {
                    (v.served, v.storage, v.schema) = (*served, *storage, schema);
                }
                None => r.versions.push(Version { name, served: *served, storage: *storage, schema }),
            }
        }
        drop(store);
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

    /// While set, the API server answers as a restarted kube-apiserver does in its first seconds,
    /// before its informers have synced (seen on a real one): discovery `503 ServiceUnavailable`, and
    /// every list and watch `403 Forbidden`, its RBAC authorizer having no roles yet.
    pub fn set_starting(&self, starting: bool) {
        self.shared.starting.store(starting, std::sync::atomic::Ordering::SeqCst);
    }

    /// While set, the API server is down: open connections are cut and new ones closed at once.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.shared.down.send_replace(unavailable);
    }

    /// Sends bookmarks this often on watches that allow them (the real server's is about a minute).
    pub fn set_bookmark_interval(&self, every: Duration) {
        self.shared.bookmark_millis.store(every.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
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
    /// Adds a version to its type, creating the type with it as the storage version.
    fn add(&mut self, def: &ResourceDef) {
        let schema = schema_of(def, self.hco_release);
        let at = match self.resources.iter().position(|r| r.is(def)) {
            Some(i) => i,
            None => {
                self.resources.push(Res::new(def));
                self.resources.len() - 1
            }
        };
        self.resources[at].add_version(def.version, schema);
    }

    /// The type and version an object's `apiVersion` and `kind` name.
    fn find_kind(&self, object: &Value) -> Option<(usize, &'static str)> {
        let api_version = object["apiVersion"].as_str()?;
        let kind = object["kind"].as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.resources.iter().enumerate().find_map(|(i, r)| {
            let v = r.version(version).filter(|_| r.group == group && r.kind == kind)?;
            Some((i, v.name))
        })
    }

    fn find_served(&self, group: &str, version: &str, plural: &str) -> Option<(usize, &'static str)> {
        self.resources.iter().enumerate().find_map(|(i, r)| {
            let v = r.version(version).filter(|v| v.served && r.group == group && r.plural == plural)?;
            Some((i, v.name))
        })
    }
}

/// `metadata.creationTimestamp` of a create: the wall-clock time in whole seconds, as the real server
/// stamps it.
fn created_now() -> Value {
    let now = k8s_openapi::jiff::Timestamp::now();
    json!(k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap().to_string())
}

/// The fake's clock for managedFields: a second per resourceVersion, so later writes sort later.
fn fake_time(rv: u64) -> String {
    let (day, rest) = (1 + (rv / 86_400) % 28, rv % 86_400);
    format!("2026-01-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
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
    /// The version the request reads through.
    version: &'static str,
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
    if shared.starting.load(std::sync::atomic::Ordering::SeqCst) {
        return match segments.as_slice() {
            ["api"] | ["apis"] | ["api", "v1"] | ["apis", _, _] => {
                status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
            }
            [.., plural] => status(
                403,
                "Forbidden",
                &format!(
                    "{plural} is forbidden: User \"fake\" cannot list resource \"{plural}\" at the cluster scope"
                ),
            ),
            [] => not_found(),
        };
    }
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
    for r in store.resources.iter().filter(|r| !r.group.is_empty()) {
        for v in r.versions.iter().filter(|v| v.served) {
            let versions = groups.entry(r.group).or_default();
            if !versions.contains(&v.name) {
                versions.push(v.name);
            }
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
        .filter(|r| r.group == group && r.served(version))
        .flat_map(|r| {
            let def = r.def("");
            let main = json!({"name": def.plural, "singularName": def.singular(), "namespaced": def.namespaced,
                   "kind": def.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]});
            let status = r.status_subresource.then(|| {
                json!({"name": format!("{}/status", def.plural), "singularName": "", "namespaced": def.namespaced,
                       "kind": def.kind, "verbs": ["get", "patch", "update"]})
            });
            std::iter::once(main).chain(status)
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
    let (res, version) = store.find_served(group, version, plural)?;
    if namespace.is_some() && !store.resources[res].namespaced {
        return None;
    }
    Some(Target { res, version, namespace: namespace.map(str::to_owned), name: name.map(str::to_owned) })
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
        return start_watch(shared, &target, filter, params, meta_only);
    }
    list(shared, &target, &filter, params, meta_only)
}

fn get(shared: &Arc<Shared>, target: &Target, name: &str, meta_only: bool) -> Response {
    let store = shared.store();
    let res = &store.resources[target.res];
    let key = (target.namespace.clone().unwrap_or_default(), name.to_owned());
    match res.objects.get(&key) {
        Some(o) => json_response(StatusCode::OK, &shape(&res.read(o, target.version), meta_only)),
        None => status(404, "NotFound", &format!("{}{} \"{name}\" not found", res.plural, dotted(res.group))),
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
    target: &Target,
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
            let r = &store.resources[target.res];
            let items: Vec<Value> = r
                .objects
                .values()
                .filter(|o| filter.matches(o))
                .map(|o| {
                    let mut item = shape(&r.read(o, target.version), meta_only);
                    if r.builtin
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
    let def = store.resources[target.res].def(target.version);
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
    target: &Target,
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
    let (res, version) = (target.res, target.version);
    let (start, preamble) = {
        let store = shared.store();
        let r = &store.resources[res];
        let def = r.def(version);
        match requested.map(|v| v.parse::<u64>()) {
            Some(Err(_)) => return status(400, "BadRequest", "invalid resourceVersion"),
            Some(Ok(rv)) if rv < store.compacted && !initial => {
                let _ = tx.try_send(Ok(line("ERROR", &expired(rv, store.compacted))));
                return response;
            }
            Some(Ok(rv)) if !initial => (rv, Vec::new()),
            _ => {
                // no version (or "0", or sendInitialEvents): the current objects as ADDED first
                let mut pre: Vec<Bytes> = r
                    .objects
                    .values()
                    .filter(|o| filter.matches(o))
                    .map(|o| line("ADDED", &shape(&r.read(o, version), meta_only)))
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
        let at = Target { res, version, namespace: None, name: None };
        stream_events(&shared, &at, filter, start, preamble, tx, timeout, bookmarks, meta_only).await;
        *shared.open_watches.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    });
    response
}

#[allow(clippy::too_many_arguments)]
async fn stream_events(
    shared: &Arc<Shared>,
    target: &Target,
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
    let every =
        Duration::from_millis(shared.bookmark_millis.load(std::sync::atomic::Ordering::Relaxed).max(1));
    let mut bookmark_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let pending: Vec<(u64, Bytes)> = {
            let store = shared.store();
            let r = &store.resources[target.res];
            store
                .events
                .iter()
                .filter(|e| e.res == target.res && e.rv > last && filter.matches(&e.object))
                .map(|e| (e.rv, line(e.kind, &shape(&r.read(&e.object, target.version), meta_only))))
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
                        (store.resources[target.res].def(target.version), store.rv)
                    };
                    let _ = tx.send(Ok(line("BOOKMARK", &bookmark(&def, rv, false, meta_only)))).await;
                }
                return;
            }
            () = tx.closed() => return,
            _ = bookmark_tick.tick(), if bookmarks => {
                // as the real server's periodic bookmark: the current version, once every event up to
                // it has been sent (else the next tick)
                let mark = {
                    let store = shared.store();
                    let behind = store.events.iter().any(|e| e.res == target.res && e.rv > last);
                    (!behind).then(|| (store.resources[target.res].def(target.version), store.rv))
                };
                if let Some((def, rv)) = mark {
                    if tx.send(Ok(line("BOOKMARK", &bookmark(&def, rv, false, meta_only)))).await.is_err() {
                        return;
                    }
                    last = rv;
                }
            }
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
