//! Host networks at OpenShift's largest supported size: 2,000 virt-handler nodes, each with a
//! NodeNetworkState of 40 interfaces. Prints what those states cost in view memory (counted by a
//! global allocator: bytes requested and still held, allocator overhead excluded), then times one
//! admission decision against that view: the reference NAD (allowed), a NAD whose master one node
//! lost (denied, naming it), the NNCP that builds bond2 and one bridging it, one NodeNetworkState watch
//! event, and a state whose OVS bridge lists 10,000 ports (read, then decided against).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::atomic::{AtomicIsize, Ordering},
};

use criterion::{Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use mignet::{
    policy::view::View,
    policy::{Admission, Kind, Operation, Options, Policy, feed, host},
};
use serde_json::{Value, json};

/// Counts bytes held, so the view's share can be measured as a difference.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const NODES: usize = 2_000;

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// An OVN-Kubernetes worker's state with 40 interfaces: br-ex (twice) on bond0, bond1 under br-vm
/// with 12 VLANs, bond2 for migrations, spare NICs and OVN's own devices.
fn state(node: &str, i: usize) -> Value {
    let (a, b) = (i / 250, i % 250);
    let mut ifaces = vec![
        json!({"name":"br-ex","type":"ovs-bridge","state":"up","bridge":{"port":[{"name":"bond0"},{"name":"br-ex"},{"name":format!("patch-br-ex_{node}-to-br-int")}]}}),
        json!({"name":"br-ex","type":"ovs-interface","state":"up","controller":"br-ex","mtu":1500,
               "ipv4":{"enabled":true,"address":[{"ip":format!("10.20.{a}.{b}"),"prefix-length":16},{"ip":"169.254.0.2","prefix-length":17}]},
               "ipv6":{"enabled":true,"address":[{"ip":format!("fd20::{a}:{b}"),"prefix-length":64}]}}),
        json!({"name":"bond0","type":"bond","state":"up","controller":"br-ex","mtu":1500,"link-aggregation":{"mode":"802.3ad","port":["eno1","eno2"]}}),
        json!({"name":"eno1","type":"ethernet","state":"up","controller":"bond0","mtu":1500}),
        json!({"name":"eno2","type":"ethernet","state":"up","controller":"bond0","mtu":1500}),
        json!({"name":"br-vm","type":"ovs-bridge","state":"up","bridge":{"port":[{"name":"bond1"}]}}),
        json!({"name":"bond1","type":"bond","state":"up","controller":"br-vm","mtu":9000,"link-aggregation":{"mode":"802.3ad","port":["ens2f0","ens2f1"]}}),
        json!({"name":"ens2f0","type":"ethernet","state":"up","controller":"bond1","mtu":9000}),
        json!({"name":"ens2f1","type":"ethernet","state":"up","controller":"bond1","mtu":9000}),
        json!({"name":"bond2","type":"bond","state":"up","mtu":9000,"ipv4":{"enabled":false},"ipv6":{"enabled":false},
               "link-aggregation":{"mode":"active-backup","options":{"miimon":"100"},"port":["ens3f0","ens3f1"]}}),
        json!({"name":"ens3f0","type":"ethernet","state":"up","controller":"bond2","mtu":9000}),
        json!({"name":"ens3f1","type":"ethernet","state":"up","controller":"bond2","mtu":9000}),
        json!({"name":"br-int","type":"ovs-interface","state":"ignore","controller":"br-int","mtu":1400}),
        json!({"name":"ovn-k8s-mp0","type":"ovs-interface","state":"ignore","controller":"br-int","mtu":1400}),
        json!({"name":"genev_sys_6081","type":"unknown","state":"ignore","mtu":65000}),
        json!({"name":"lo","type":"loopback","state":"up","mtu":65536}),
    ];
    for v in 0..12 {
        ifaces.push(json!({"name":format!("bond1.{}", 100 + v),"type":"vlan","state":"up","mtu":9000,
            "vlan":{"base-iface":"bond1","id":100 + v}}));
    }
    for n in 0..12 {
        ifaces.push(
            json!({"name":format!("ens{}f{}", 4 + n / 4, n % 4),"type":"ethernet","state":"down","mtu":1500}),
        );
    }
    assert_eq!(ifaces.len(), 40);
    json!({"apiVersion":"nmstate.io/v1beta1","kind":"NodeNetworkState","metadata":{"name":node},
        "status":{"currentState":{"interfaces":ifaces,"routes":{"running":[
            {"destination":"0.0.0.0/0","next-hop-address":"10.20.0.1","next-hop-interface":"br-ex","table-id":254,"metric":48},
            {"destination":"10.20.0.0/16","next-hop-address":"","next-hop-interface":"br-ex","table-id":254},
            {"destination":"::/0","next-hop-address":"fd20::1","next-hop-interface":"br-ex","table-id":254}]}}}})
}

fn node_name(i: usize) -> String {
    format!("worker-{i:04}.ocp.example.com")
}

/// The view with the migration NAD, the HyperConverged and 2,000 virt-handler nodes; returns it with
/// the bytes its NodeNetworkStates hold.
fn view(policy: &Policy) -> (View, isize) {
    let mut view = View::new();
    for o in [
        obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
            "metadata":{"name":"migration-bridge","namespace":"openshift-cnv"},"spec":{"config":reference_config()}})),
        obj(json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
            "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
            "spec":{"liveMigrationConfig":{"network":"migration-bridge"}}})),
    ] {
        feed::add(policy, &mut view, &o);
    }
    for i in 0..NODES {
        let node = obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":node_name(i),
            "labels":{"kubevirt.io/schedulable":"true","node-role.kubernetes.io/worker":""}}}));
        feed::add(policy, &mut view, &node);
    }
    let before = HELD.load(Ordering::Relaxed);
    for i in 0..NODES {
        let (name, state) = host::host_network(&obj(state(&node_name(i), i)));
        view.upsert_host_network(&name, state);
    }
    (view, HELD.load(Ordering::Relaxed) - before)
}

fn reference_config() -> String {
    json!({"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge",
           "ipam":{"type":"whereabouts","range":"10.99.0.0/20"}})
    .to_string()
}

fn host_networks(c: &mut Criterion) {
    let policy = Policy::default();
    let (mut view, bytes) = view(&policy);
    println!(
        "view memory of {NODES} NodeNetworkStates x 40 interfaces: {:.1} MiB ({} bytes per interface)",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as usize / (NODES * 40)
    );
    let nad = obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":"migration-bridge","namespace":"openshift-cnv"},"spec":{"config":reference_config()}}));
    let adm =
        Admission { operation: Operation::Create, kind: Kind::Nad, object: Some(&nad), old_object: None };
    let d = policy.decide(&adm, &view, &Options::default());
    assert!(d.allowed() && d.warnings.is_empty(), "{d:?}");
    c.bench_function("decide_reference_nad_2000_host_networks", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &Options::default()))
    });

    let nncp = obj(json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy",
        "metadata":{"name":"bond2-migration"},"spec":{"nodeSelector":{"node-role.kubernetes.io/worker":""},
        "desiredState":{"interfaces":[{"name":"bond2","type":"bond","state":"up","mtu":9000,
            "link-aggregation":{"mode":"active-backup","port":["ens3f0","ens3f1"]}}]}}}));
    let adm_nncp =
        Admission { operation: Operation::Create, kind: Kind::Nncp, object: Some(&nncp), old_object: None };
    assert!(policy.decide(&adm_nncp, &view, &Options::default()).allowed());
    c.bench_function("decide_nncp_building_bond2_2000_host_networks", |b| {
        b.iter(|| policy.decide(black_box(&adm_nncp), &view, &Options::default()))
    });

    let bridge = obj(json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy",
        "metadata":{"name":"br1-vm-network"},"spec":{"nodeSelector":{"node-role.kubernetes.io/worker":""},
        "desiredState":{"interfaces":[{"name":"br1","type":"linux-bridge","state":"up",
            "bridge":{"port":[{"name":"bond2"}]}}]}}}));
    let adm_bridge =
        Admission { operation: Operation::Create, kind: Kind::Nncp, object: Some(&bridge), old_object: None };
    assert_eq!(policy.decide(&adm_bridge, &view, &Options::default()).denials.len(), 1);
    c.bench_function("decide_nncp_bridging_bond2_2000_host_networks", |b| {
        b.iter(|| policy.decide(black_box(&adm_bridge), &view, &Options::default()))
    });

    // one node whose OVS bridge lists 10,000 ports, half of which name another controller, and a
    // bond in a cycle with its own port
    let big = node_name(0);
    let mut huge = state(&big, 0);
    let list = huge["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
    let ports: Vec<Value> = (0..10_000).map(|p| json!({"name": format!("tap{p}")})).collect();
    list.push(json!({"name":"br-big","type":"ovs-bridge","state":"up","bridge":{"port":ports}}));
    for p in 0..10_000 {
        let controller = if p % 2 == 0 { json!("br-int") } else { Value::Null };
        list.push(json!({"name": format!("tap{p}"), "type":"tun","state":"up","controller": controller}));
    }
    list.push(json!({"name":"cyc-a","type":"bond","link-aggregation":{"port":["cyc-b"]}}));
    list.push(
        json!({"name":"cyc-b","type":"bond","controller":"cyc-a","link-aggregation":{"port":["cyc-a"]}}),
    );
    let huge = obj(huge);
    c.bench_function("read_node_network_state_10000_ports", |b| {
        b.iter(|| host::host_network(black_box(&huge)))
    });
    let (_, read) = host::host_network(&huge);
    assert_eq!(read.as_ref().map(|h| h.ifaces().len()).ok(), Some(40 + 10_003));
    let normal = host::host_network(&obj(state(&big, 0))).1;
    view.upsert_host_network(&big, read);
    assert!(policy.decide(&adm, &view, &Options::default()).allowed());
    c.bench_function("decide_reference_nad_2000_host_networks_one_with_10000_ports", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &Options::default()))
    });
    view.upsert_host_network(&big, normal);

    let last = node_name(NODES - 1);
    let mut lost = state(&last, NODES - 1);
    lost["status"]["currentState"]["interfaces"].as_array_mut().unwrap().retain(|i| i["name"] != "bond2");
    let (_, lost) = host::host_network(&obj(lost));
    let fresh = host::host_network(&obj(state(&last, NODES - 1))).1;
    c.bench_function("upsert_one_node_network_state_2000", |b| {
        b.iter(|| view.upsert_host_network(black_box(&last), fresh.clone()))
    });
    view.upsert_host_network(&last, lost);
    let d = policy.decide(&adm, &view, &Options::default());
    assert_eq!(d.denials.len(), 1, "{d:?}");
    c.bench_function("decide_nad_master_missing_on_1_of_2000", |b| {
        b.iter(|| policy.decide(black_box(&adm), &view, &Options::default()))
    });
}

criterion_group!(benches, host_networks);
criterion_main!(benches);
