//! The in-flight guard at drain scale: a decision with 50,000 VirtualMachineInstanceMigrations fed
//! to the view (100 unfinished), and the view memory they take, counted by a global allocator.
//!
//! `cargo bench --bench in_flight`.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::atomic::{AtomicIsize, Ordering},
};

use criterion::{Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use mignet::policy::{Admission, Kind, Operation, Options, Policy, feed, view::View};
use serde_json::json;

/// Counts live heap bytes, so the view's own footprint can be read between two points.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const TOTAL: usize = 50_000;
const UNFINISHED: usize = 100;

fn vmim(i: usize) -> DynamicObject {
    let phase = match i {
        i if i < UNFINISHED => "Running",
        i if i % 7 == 0 => "Failed",
        _ => "Succeeded",
    };
    serde_json::from_value(json!({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration",
        "metadata":{"name":format!("kubevirt-evacuation-{i:06}"),"namespace":format!("vms-{}", i % 200),
                    "creationTimestamp":"2026-01-01T00:00:00Z"},
        "spec":{"vmiName":format!("vm-{i}")},"status":{"phase":phase}}))
    .unwrap()
}

fn object(v: serde_json::Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// The reference cluster: the migration NAD, the HyperConverged naming it, a second NAD to move to.
fn reference(policy: &Policy, view: &mut View) {
    for (name, range) in [("migration-bridge", "192.168.99.0/24"), ("migration-two", "192.168.100.0/24")] {
        let config = json!({"cniVersion":"0.3.1","name":name,"type":"macvlan","master":"bond2","mode":"bridge",
                            "ipam":{"type":"whereabouts","range":range}});
        feed::add(
            policy,
            view,
            &object(json!({"apiVersion":"k8s.cni.cncf.io/v1",
            "kind":"NetworkAttachmentDefinition","metadata":{"name":name,"namespace":"openshift-cnv"},
            "spec":{"config":config.to_string()}})),
        );
    }
    feed::add(policy, view, &hc("migration-bridge"));
}

fn hc(network: &str) -> DynamicObject {
    object(json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
        "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
        "spec":{"liveMigrationConfig":{"network":network,"completionTimeoutPerGiB":150}}}))
}

fn in_flight(c: &mut Criterion) {
    let policy = Policy::default();
    let mut view = View::new();
    reference(&policy, &mut view);
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..TOTAL {
        // one object at a time, as the watcher hands them over: only what the view keeps stays allocated
        feed::add(&policy, &mut view, &vmim(i));
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(view.in_flight().len(), UNFINISHED);
    println!(
        "view memory for {TOTAL} VMIMs ({UNFINISHED} unfinished): {held} bytes ({:.1} bytes per unfinished)",
        held as f64 / UNFINISHED as f64
    );
    let (old, new) = (hc("migration-bridge"), hc("migration-two"));
    let adm = Admission {
        operation: Operation::Update,
        kind: Kind::of(&new),
        object: Some(&new),
        old_object: Some(&old),
    };
    let options = Options { now: Some(1_767_229_200), ..Options::default() };
    let d = policy.decide(&adm, &view, &options);
    assert!(!d.allowed() && d.denial_message().contains("100 live migrations are unfinished"), "{d:?}");
    c.bench_function("decide_hc_network_change_50000_vmims_100_unfinished", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &options))
    });
    // the same change with a timeout instead: the guard is not consulted at all
    let mut tuned = old.clone();
    tuned.data["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"] = json!(300);
    let adm = Admission {
        operation: Operation::Update,
        kind: Kind::of(&tuned),
        object: Some(&tuned),
        old_object: Some(&old),
    };
    assert!(policy.decide(&adm, &view, &options).allowed());
    c.bench_function("decide_hc_timeout_change_50000_vmims_100_unfinished", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &options))
    });
}

criterion_group!(benches, in_flight);
criterion_main!(benches);
