//! How long one admission decision takes, with growing numbers of NADs in the view, and how long a
//! whole AdmissionReview takes from request bytes to response bytes (no network).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use mignet::{
    policy::view::View,
    policy::{Admission, Kind, Operation, Options, Policy, feed},
    server::{
        admission::review,
        metrics::{Verdict, Webhook},
    },
};
use serde_json::{Value, json};

fn nad(ns: &str, name: &str, range: &str) -> DynamicObject {
    let config = json!({"cniVersion":"0.3.1","name":name,"type":"macvlan","master":"bond2","mode":"bridge",
                        "ipam":{"type":"whereabouts","range":range}});
    serde_json::from_value(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":name,"namespace":ns},"spec":{"config":config.to_string()}}))
    .unwrap()
}

/// A view with `n` tenant NADs on distinct /24s of 10.64.0.0/10 (none overlapping the reference) plus nodes.
fn view_with(policy: &Policy, n: usize) -> View {
    let mut view = View::new();
    for i in 0..n {
        let range = format!("10.{}.{}.0/24", 64 + (i >> 8) % 64, i & 0xff);
        feed::add(policy, &mut view, &nad(&format!("tenant-{}", i % 500), &format!("net-{i}"), &range));
    }
    for i in 0..50 {
        let node: DynamicObject = serde_json::from_value(json!({"apiVersion":"v1","kind":"Node",
            "metadata":{"name":format!("worker-{i}"),"labels":{"kubevirt.io/schedulable":"true"}}}))
        .unwrap();
        feed::add(policy, &mut view, &node);
    }
    view
}

fn decide_nad(c: &mut Criterion) {
    let policy = Policy::default();
    let reference = nad("openshift-cnv", "migration-bridge", "192.168.99.0/24");
    let mut group = c.benchmark_group("decide_reference_nad");
    for n in [0usize, 1_000, 10_000, 100_000] {
        let view = view_with(&policy, n);
        let adm = Admission {
            operation: Operation::Create,
            kind: Kind::Nad,
            object: Some(&reference),
            old_object: None,
        };
        let d = policy.decide(&adm, &view, &Options::default());
        assert!(d.allowed() && d.warnings.is_empty(), "{d:?}");
        group.bench_with_input(BenchmarkId::from_parameter(n), &view, |b, view| {
            b.iter(|| policy.decide(black_box(&adm), view, &Options::default()))
        });
    }
    group.finish();
}

/// `n` OVN-Kubernetes user-defined networks on distinct /26s of 172.16.0.0/12, a third each: primary
/// Layer2 UDNs (with the default join subnet they all share), secondary Layer2 CUDNs, and Localnet
/// CUDNs carving a /28 out; every CUDN also rendered into a NAD (one network, one claimant).
fn add_udns(policy: &Policy, view: &mut View, n: usize) {
    for i in 0..n {
        let base = 0xAC10_0000u32 + (i as u32) * 64; // 172.16.0.0 + i * /26
        let subnet = format!("{}/26", std::net::Ipv4Addr::from(base));
        let obj = match i % 3 {
            0 => json!({"apiVersion":"k8s.ovn.org/v1","kind":"UserDefinedNetwork",
                "metadata":{"name":"primary","namespace":format!("vm-{i}")},
                "spec":{"topology":"Layer2","layer2":{"role":"Primary","subnets":[subnet]}}}),
            1 => json!({"apiVersion":"k8s.ovn.org/v1","kind":"ClusterUserDefinedNetwork",
                "metadata":{"name":format!("shared-{i}")},
                "spec":{"namespaceSelector":{"matchLabels":{"shared":format!("{i}")}},
                    "network":{"topology":"Layer2","layer2":{"role":"Secondary","subnets":[subnet]}}}}),
            _ => json!({"apiVersion":"k8s.ovn.org/v1","kind":"ClusterUserDefinedNetwork",
                "metadata":{"name":format!("physnet-{i}")},
                "spec":{"namespaceSelector":{"matchLabels":{"physnet":format!("{i}")}},
                    "network":{"topology":"Localnet","localnet":{"role":"Secondary","physicalNetworkName":"physnet",
                        "subnets":[subnet],"excludeSubnets":[format!("{}/28", std::net::Ipv4Addr::from(base))]}}}}),
        };
        feed::add(policy, view, &serde_json::from_value::<DynamicObject>(obj).unwrap());
        if i % 3 != 0 {
            let config = json!({"cniVersion":"1.0.0","type":"ovn-k8s-cni-overlay","topology":"layer2",
                "role":"secondary","subnets":subnet});
            let name = if i % 3 == 1 { format!("shared-{i}") } else { format!("physnet-{i}") };
            let rendered: DynamicObject = serde_json::from_value(json!({"apiVersion":"k8s.cni.cncf.io/v1",
                "kind":"NetworkAttachmentDefinition",
                "metadata":{"name":name,"namespace":format!("vm-{i}"),
                    "labels":{"k8s.ovn.org/user-defined-network":""},
                    "ownerReferences":[{"apiVersion":"k8s.ovn.org/v1","kind":"ClusterUserDefinedNetwork",
                        "name":name,"uid":"u"}]},
                "spec":{"config":config.to_string()}}))
            .unwrap();
            feed::add(policy, view, &rendered);
        }
    }
}

/// The reference NAD with 10,000 tenant NADs and 10,000 UDNs/CUDNs (and their rendered NADs) in the
/// view: compare with `decide_reference_nad/10000`, the same decision without them.
fn decide_nad_beside_udns(c: &mut Criterion) {
    let policy = Policy::default();
    let reference = nad("openshift-cnv", "migration-bridge", "192.168.99.0/24");
    let mut view = view_with(&policy, 10_000);
    add_udns(&policy, &mut view, 10_000);
    assert_eq!(view.net_count(), 10_000);
    let adm = Admission {
        operation: Operation::Create,
        kind: Kind::Nad,
        object: Some(&reference),
        old_object: None,
    };
    let d = policy.decide(&adm, &view, &Options::default());
    assert!(d.allowed() && d.warnings.is_empty(), "{d:?}");
    c.bench_function("decide_reference_nad_beside_10000_udns", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &Options::default()))
    });
}

/// A tenant NAD on a range 1k / 10k other tenants share (templates copied into every namespace),
/// with the migration NAD elsewhere: it must be checked against the migration NADs only.
fn decide_shared_range(c: &mut Criterion) {
    let policy = Policy::default();
    let tenant = nad("vms", "vm-net", "10.200.0.0/24");
    let mut group = c.benchmark_group("decide_tenant_nad_sharing_its_range");
    for n in [1_000usize, 10_000] {
        let mut view = view_with(&policy, 0);
        feed::add(&policy, &mut view, &nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
        for i in 0..n {
            feed::add(&policy, &mut view, &nad(&format!("tenant-{i}"), "vm-net", "10.200.0.0/24"));
        }
        let adm = Admission {
            operation: Operation::Create,
            kind: Kind::Nad,
            object: Some(&tenant),
            old_object: None,
        };
        assert!(policy.decide(&adm, &view, &Options::default()).allowed());
        group.bench_with_input(BenchmarkId::from_parameter(n), &view, |b, view| {
            b.iter(|| policy.decide(black_box(&adm), view, &Options::default()))
        });
    }
    group.finish();
}

fn decide_hc(c: &mut Criterion) {
    let policy = Policy::default();
    let mut view = view_with(&policy, 1_000);
    feed::add(&policy, &mut view, &nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    let hc: DynamicObject =
        serde_json::from_value(json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
        "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
        "spec":{"liveMigrationConfig":{"network":"migration-bridge","bandwidthPerMigration":"64Mi"}}}))
        .unwrap();
    let adm =
        Admission { operation: Operation::Create, kind: Kind::of(&hc), object: Some(&hc), old_object: None };
    let d = policy.decide(&adm, &view, &Options::default());
    assert!(d.allowed() && d.patch.0.len() == 4, "{d:?}");
    c.bench_function("decide_hyperconverged_with_patch", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &Options::default()))
    });
}

/// What `oc apply` of the reference NAD sends: the same object plus the last-applied annotation,
/// managedFields and the server-set metadata, in an UPDATE review carrying the old object too.
fn kubectl_apply_review() -> Vec<u8> {
    let config = r#"{"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;
    let object = |generation: u64| {
        let applied = json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
            "metadata":{"annotations":{},"name":"migration-bridge","namespace":"openshift-cnv"},
            "spec":{"config":config}});
        json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
            "metadata":{"name":"migration-bridge","namespace":"openshift-cnv",
                "uid":"0e5c9e41-041c-42aa-832d-33a4f96e9c89","resourceVersion":"48213377","generation":generation,
                "creationTimestamp":"2025-03-02T10:14:07Z",
                "labels":{"app.kubernetes.io/part-of":"platform-networking"},
                "annotations":{"kubectl.kubernetes.io/last-applied-configuration":format!("{applied}\n")},
                "managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update",
                    "apiVersion":"k8s.cni.cncf.io/v1","time":"2025-03-02T10:14:07Z","fieldsType":"FieldsV1",
                    "fieldsV1":{"f:metadata":{"f:annotations":{".":{},
                        "f:kubectl.kubernetes.io/last-applied-configuration":{}},
                        "f:labels":{".":{},"f:app.kubernetes.io/part-of":{}}},"f:spec":{".":{},"f:config":{}}}}]},
            "spec":{"config":config}})
    };
    let gvk = json!({"group":"k8s.cni.cncf.io","version":"v1","kind":"NetworkAttachmentDefinition"});
    let gvr = json!({"group":"k8s.cni.cncf.io","version":"v1","resource":"network-attachment-definitions"});
    serde_json::to_vec(&json!({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{
        "uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":gvk,"resource":gvr,"requestKind":gvk,
        "requestResource":gvr,"name":"migration-bridge","namespace":"openshift-cnv","operation":"UPDATE",
        "userInfo":{"username":"system:admin","groups":["system:masters","system:authenticated"],
            "extra":{"scopes.authorization.openshift.io":["user:full"]}},
        "object":object(2),"oldObject":object(1),"dryRun":false,
        "options":{"kind":"UpdateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply",
            "fieldValidation":"Strict"}}}))
    .unwrap()
}

/// Request bytes in, response bytes out, as the server's handler does it minus HTTP.
fn review_bytes(c: &mut Criterion) {
    let policy = Policy::default();
    let mut view = view_with(&policy, 1_000);
    for text in
        [include_str!("../examples/migration-nad.yaml"), include_str!("../examples/hyperconverged.yaml")]
    {
        let obj: DynamicObject = serde_saphyr::from_str(text).unwrap();
        feed::add(&policy, &mut view, &obj);
    }
    let cases: [(&str, Webhook, Vec<u8>, Verdict); 4] = [
        (
            "nad_allowed",
            Webhook::Validate,
            include_bytes!("../examples/reviews/nad-create.json").to_vec(),
            Verdict::Allowed,
        ),
        (
            "nad_denied",
            Webhook::Validate,
            include_bytes!("../examples/reviews/nad-create-overlaps-pod-network.json").to_vec(),
            Verdict::Denied,
        ),
        ("nad_kubectl_apply_update", Webhook::Validate, kubectl_apply_review(), Verdict::Allowed),
        (
            "hco_mutate_patch",
            Webhook::Mutate,
            include_bytes!("../examples/reviews/hco-create-needs-defaults.json").to_vec(),
            Verdict::Patched,
        ),
    ];
    let mut group = c.benchmark_group("review_bytes_to_response");
    for (name, webhook, body, want) in &cases {
        let reviewed = review(body, *webhook, &policy, &view, None).unwrap();
        assert_eq!(reviewed.verdict, *want, "{name}: {:?}", reviewed.decision);
        let out: Value = serde_json::from_slice(&serde_json::to_vec(&reviewed.response).unwrap()).unwrap();
        assert_eq!(out["response"]["allowed"], *want != Verdict::Denied, "{name}: {out}");
        group.bench_function(*name, |b| {
            b.iter(|| {
                let reviewed = review(black_box(body), *webhook, &policy, &view, None).unwrap();
                serde_json::to_vec(&reviewed.response).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decide_nad, decide_nad_beside_udns, decide_shared_range, decide_hc, review_bytes);
criterion_main!(benches);
