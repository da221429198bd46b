//! How long one admission decision takes, with growing numbers of NADs in the view.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use mignet::{
    policy::{Admission, Kind, Operation, Options, Policy, feed},
    view::View,
};
use serde_json::json;

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
        feed::add(
            policy,
            &mut view,
            &nad(&format!("tenant-{}", i % 500), &format!("net-{i}"), &range),
            false,
        );
    }
    for i in 0..50 {
        let node: DynamicObject = serde_json::from_value(json!({"apiVersion":"v1","kind":"Node",
            "metadata":{"name":format!("worker-{i}"),"labels":{"kubevirt.io/schedulable":"true"}}}))
        .unwrap();
        feed::add(policy, &mut view, &node, false);
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

fn decide_hc(c: &mut Criterion) {
    let policy = Policy::default();
    let mut view = view_with(&policy, 1_000);
    feed::add(&policy, &mut view, &nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"), true);
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

criterion_group!(benches, decide_nad, decide_hc);
criterion_main!(benches);
