//! The RBAC manifests grant exactly what the live view uses: every request a full sync of an OpenShift
//! cluster makes is allowed by them (evaluated the way RBAC does), and nothing beyond get/list/watch
//! on the watched resources is granted.

mod support;

use std::{
    collections::BTreeSet,
    sync::{Arc, RwLock},
    time::Duration,
};

use arc_swap::ArcSwap;
use mignet::{
    cluster::live::{self, LiveView, Settings},
    policy::Policy,
    policy::view::View,
    server::reload::Judge,
};
use serde_json::Value;
use support::{
    PATIENCE,
    fake_apiserver::{FakeApiServer, HcoRelease, ResourceDef, openshift_with_nmstate},
};

fn manifest(file: &str) -> Value {
    let path = format!("{}/manifests/rbac/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// One resource request, as RBAC sees it.
#[derive(Debug)]
struct Access {
    verb: &'static str,
    group: String,
    resource: String,
    namespace: Option<String>,
    /// The object name: from the path, or for list/watch from a `metadata.name` field selector.
    name: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Parses `GET /apis/g/v/...?query` into an access; `None` for discovery (allowed to everyone).
fn access(request: &str) -> Option<Access> {
    let target = request.strip_prefix("GET ").expect("only reads");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", rest),
        ["apis", _, _, rest @ ..] if !rest.is_empty() => (segments[1], rest),
        _ => return None,
    };
    let (namespace, resource, name) = match rest {
        ["namespaces", ns, r] => (Some(ns.to_string()), r.to_string(), None),
        ["namespaces", ns, r, n] => (Some(ns.to_string()), r.to_string(), Some(n.to_string())),
        [r] => (None, r.to_string(), None),
        [r, n] => (None, r.to_string(), Some(n.to_string())),
        _ => panic!("unexpected path {path}"),
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let param = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let verb = match (&name, param("watch").as_deref()) {
        (Some(_), _) => "get",
        (None, Some("true")) => "watch",
        (None, _) => "list",
    };
    let name = name.or_else(|| param("fieldSelector")?.strip_prefix("metadata.name=").map(str::to_owned));
    Some(Access { verb, group: group.to_owned(), resource, namespace, name })
}

fn rule_allows(rule: &Value, a: &Access) -> bool {
    let names = strings(&rule["resourceNames"]);
    strings(&rule["apiGroups"]).contains(&a.group.as_str())
        && strings(&rule["resources"]).contains(&a.resource.as_str())
        && strings(&rule["verbs"]).contains(&a.verb)
        && (names.is_empty() || a.name.as_deref().is_some_and(|n| names.contains(&n)))
}

/// RBAC: the ClusterRole applies everywhere, the Role only in its namespace.
fn allowed(cluster_role: &Value, role: &Value, a: &Access) -> bool {
    let rules = |r: &Value| r["rules"].as_array().cloned().unwrap_or_default();
    rules(cluster_role).iter().any(|r| rule_allows(r, a))
        || (a.namespace.as_deref() == role["metadata"]["namespace"].as_str()
            && rules(role).iter().any(|r| rule_allows(r, a)))
}

#[test]
fn only_reads_on_exactly_the_watched_resources() {
    let (cluster_role, role) = (manifest("clusterrole.yaml"), manifest("role-cluster-config.yaml"));
    let mut granted = BTreeSet::new();
    for r in cluster_role["rules"].as_array().unwrap().iter().chain(role["rules"].as_array().unwrap()) {
        assert_eq!(strings(&r["verbs"]), vec!["get", "list", "watch"], "{r}");
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                granted.insert(format!("{g}/{res}"));
            }
        }
    }
    let want: BTreeSet<String> = [
        "k8s.cni.cncf.io/network-attachment-definitions",
        "hco.kubevirt.io/hyperconvergeds",
        "/nodes",
        "nmstate.io/nodenetworkstates",
        "k8s.ovn.org/userdefinednetworks",
        "k8s.ovn.org/clusteruserdefinednetworks",
        "config.openshift.io/networks",
        "operator.openshift.io/networks",
        "/configmaps",
        "kubevirt.io/kubevirts",
        "kubevirt.io/virtualmachineinstancemigrations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(granted, want);
    // the sensitive ConfigMap only by name, only in kube-system
    assert_eq!(role["kind"], "Role");
    assert_eq!(role["metadata"]["namespace"], "kube-system");
    assert_eq!(strings(&role["rules"][0]["resourceNames"]), vec!["cluster-config-v1"]);
    let cm = Access {
        verb: "get",
        group: String::new(),
        resource: "configmaps".into(),
        namespace: Some("kube-system".into()),
        name: Some("other".into()),
    };
    assert!(!allowed(&cluster_role, &role, &cm));
}

#[test]
fn bindings_name_the_service_account_and_roles() {
    let sa = manifest("serviceaccount.yaml");
    let subject = |b: &Value| (b["subjects"][0]["name"].clone(), b["subjects"][0]["namespace"].clone());
    let crb = manifest("clusterrolebinding.yaml");
    let rb = manifest("rolebinding-cluster-config.yaml");
    for b in [&crb, &rb] {
        assert_eq!(subject(b), (sa["metadata"]["name"].clone(), sa["metadata"]["namespace"].clone()), "{b}");
    }
    assert_eq!(crb["roleRef"]["kind"], "ClusterRole");
    assert_eq!(crb["roleRef"]["name"], manifest("clusterrole.yaml")["metadata"]["name"]);
    assert_eq!(rb["roleRef"]["kind"], "Role");
    assert_eq!(rb["metadata"]["namespace"], "kube-system");
    assert_eq!(rb["roleRef"]["name"], manifest("role-cluster-config.yaml")["metadata"]["name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_a_full_sync_is_authorized() {
    // HCO 1.18: both HyperConverged versions served, each watched; the NMState operator's states;
    // OVN-Kubernetes' UDNs and CUDNs; and KubeVirt's own kubevirts and virtualmachineinstancemigrations
    // (stand-ins for virt-operator's CRDs)
    let mut defs = openshift_with_nmstate(HcoRelease::V1_18);
    defs.extend([ResourceDef::KUBEVIRTS, ResourceDef::VMIMS]);
    let fake = FakeApiServer::start(defs).await;
    fake.apply_with_status(support::cluster_network("10.128.0.0/14"));
    fake.apply(support::install_config("10.0.0.0/16"));
    let dir = tempfile::tempdir().unwrap();
    let client = live::connect(Some(&fake.write_kubeconfig(dir.path()))).await.unwrap();
    let judge =
        Arc::new(Judge { policy: ArcSwap::from_pointee(Policy::default()), view: RwLock::new(View::new()) });
    let settings = Settings { discovery_interval: Duration::from_secs(3600), resync_interval: None };
    let live = LiveView::start(client, judge, settings);
    live.wait_ready(PATIENCE).await.unwrap();
    support::eventually("every watch to open", || async { (fake.open_watches() == 12).then_some(()) }).await;
    live.stop();

    let (cluster_role, role) = (manifest("clusterrole.yaml"), manifest("role-cluster-config.yaml"));
    let accesses: Vec<Access> = fake.requests().iter().filter_map(|r| access(r)).collect();
    assert!(accesses.len() >= 16, "a list and a watch per resource and version: {accesses:?}");
    for resource in [
        "nodenetworkstates",
        "kubevirts",
        "virtualmachineinstancemigrations",
        "userdefinednetworks",
        "clusteruserdefinednetworks",
    ] {
        assert!(accesses.iter().any(|a| a.resource == resource), "{resource}: {accesses:?}");
    }
    let hco: Vec<&Access> = accesses.iter().filter(|a| a.resource == "hyperconvergeds").collect();
    assert!(hco.len() >= 4, "a list and a watch through v1beta1 and v1: {hco:?}");
    for a in &accesses {
        assert!(allowed(&cluster_role, &role, a), "not authorized by manifests/rbac: {a:?}");
    }
    let cm: Vec<&Access> = accesses.iter().filter(|a| a.resource == "configmaps").collect();
    assert!(cm.iter().all(|a| a.name.as_deref() == Some("cluster-config-v1")), "{cm:?}");
}
