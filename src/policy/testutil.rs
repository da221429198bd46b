//! Builders shared by the rule tests.

use kube::core::DynamicObject;
use serde_json::{Value, json};

use super::{Admission, Decision, HcVersion, Kind, Operation, Options, Policy, Rule, feed};
use crate::policy::view::{HcEntry, HcRead, NadEntry, NadName, View};

pub const NS: &str = "openshift-cnv";

/// A NAD as the view keeps it, claiming `ranges`, with its raw config where one is given.
pub fn nad_entry(ns: &str, name: &str, ranges: &[&str], config: Option<&str>) -> NadEntry {
    NadEntry {
        key: NadName::new(ns, name),
        ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
        migration_label: None,
        flagged: false,
        config: config.map(std::sync::Arc::from),
        owner: None,
    }
}

/// The reference HyperConverged (written through v1beta1) as read through `through`.
pub fn hc_read(through: HcVersion, network: Option<&str>) -> HcRead {
    HcRead {
        entry: HcEntry {
            namespace: NS.into(),
            name: "kubevirt-hyperconverged".into(),
            network: network.map(str::to_owned),
        },
        through,
        uid: "u".into(),
        written_through: Some(HcVersion::V1Beta1),
    }
}

pub fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

pub fn reference_config() -> Value {
    json!({"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge",
           "ipam":{"type":"whereabouts","range":"192.168.99.0/24"}})
}

pub fn nad_in(ns: &str, name: &str, config: &Value) -> DynamicObject {
    let config = match config {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
               "metadata":{"name":name,"namespace":ns},"spec":{"config":config}}))
}

pub fn nad(config: &Value) -> DynamicObject {
    nad_in(NS, "migration-bridge", config)
}

pub fn with_label(mut o: DynamicObject, value: &str) -> DynamicObject {
    o.metadata.labels.get_or_insert_default().insert("mignet.io/live-migration".into(), value.into());
    o
}

pub fn hc(version: HcVersion, lm: Value) -> DynamicObject {
    let spec = match version {
        HcVersion::V1Beta1 => json!({"liveMigrationConfig": lm}),
        HcVersion::V1 => json!({"virtualization": {"liveMigrationConfig": lm}}),
    };
    obj(json!({"apiVersion": version.api_version(), "kind":"HyperConverged",
               "metadata":{"name":"kubevirt-hyperconverged","namespace":NS},"spec":spec}))
}

pub fn reference_hc_lm() -> Value {
    json!({"completionTimeoutPerGiB":800,"network":"migration-bridge","parallelMigrationsPerCluster":5,
           "parallelOutboundMigrationsPerNode":2,"progressTimeout":150})
}

pub fn node(name: &str, schedulable: bool) -> DynamicObject {
    let labels = if schedulable { json!({"kubevirt.io/schedulable":"true"}) } else { json!({}) };
    obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"labels":labels}}))
}

pub fn view(objects: &[&DynamicObject]) -> View {
    feed::view_of(&Policy::default(), objects.iter().copied())
}

pub fn judge_with(
    policy: &Policy,
    op: Operation,
    o: &DynamicObject,
    old: Option<&DynamicObject>,
    v: &View,
) -> Decision {
    let (object, old_object) = match op {
        Operation::Delete => (None, Some(old.unwrap_or(o))),
        _ => (Some(o), old),
    };
    let adm = Admission { operation: op, kind: Kind::of(o), object, old_object };
    policy.decide(&adm, v, &Options::default())
}

/// Judges a CREATE with the default policy against a view holding the object itself plus `others`.
pub fn judge(o: &DynamicObject, others: &[&DynamicObject]) -> Decision {
    let mut all = others.to_vec();
    all.push(o);
    judge_with(&Policy::default(), Operation::Create, o, None, &view(&all))
}

pub fn denied(d: &Decision) -> Vec<(Rule, String)> {
    d.denials.iter().map(|f| (f.rule, f.field.clone())).collect()
}

pub fn warned(d: &Decision) -> Vec<(Rule, String)> {
    d.warnings.iter().map(|f| (f.rule, f.field.clone())).collect()
}

/// Asserts exactly one denial, of `rule` at `field`, and returns its message.
#[track_caller]
pub fn only_denial(d: &Decision, rule: Rule, field: &str) -> String {
    assert_eq!(denied(d), vec![(rule, field.to_owned())], "denials: {:#?}", d.denials);
    d.denials[0].message.clone()
}

/// Asserts no denial and exactly one warning, of `rule` at `field`, and returns its message.
#[track_caller]
pub fn only_warning(d: &Decision, rule: Rule, field: &str) -> String {
    assert!(d.denials.is_empty(), "denials: {:#?}", d.denials);
    assert_eq!(warned(d), vec![(rule, field.to_owned())], "warnings: {:#?}", d.warnings);
    d.warnings[0].message.clone()
}

/// Sets a JSON pointer in a copy of `v`.
pub fn set(v: &Value, pointer: &str, value: Value) -> Value {
    let mut v = v.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { &mut v } else { v.pointer_mut(parent).unwrap() };
    target.as_object_mut().unwrap().insert(key.to_owned(), value);
    v
}

/// Removes a JSON pointer from a copy of `v`.
pub fn unset(v: &Value, pointer: &str) -> Value {
    let mut v = v.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { &mut v } else { v.pointer_mut(parent).unwrap() };
    target.as_object_mut().unwrap().remove(key);
    v
}

/// A Node that runs virt-handler, with an InternalIP.
pub fn node_with_ip(name: &str, ip: &str) -> DynamicObject {
    obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"labels":{
        "kubevirt.io/schedulable":"true","node-role.kubernetes.io/worker":""}},
        "status":{"addresses":[{"type":"InternalIP","address":ip},{"type":"Hostname","address":name}]}}))
}

/// The reference OpenShift OVN worker: bond0 under br-ex (management), bond1 for VM traffic under an
/// OVS localnet bridge, bond2 for migrations, MTU 9000. `n` varies the addresses.
pub fn ovn_state(node: &str, n: u8) -> Value {
    json!({"apiVersion":"nmstate.io/v1beta1","kind":"NodeNetworkState","metadata":{"name":node},
    "status":{"currentState":{
      "interfaces":[
        {"name":"br-ex","type":"ovs-bridge","state":"up","bridge":{"port":[{"name":"bond0"},{"name":"br-ex"},
           {"name":format!("patch-br-ex_{node}-to-br-int")}]}},
        {"name":"br-ex","type":"ovs-interface","state":"up","controller":"br-ex","mtu":1500,
         "ipv4":{"enabled":true,"address":[{"ip":format!("10.20.0.{n}"),"prefix-length":24},{"ip":"169.254.0.2","prefix-length":17}]},
         "ipv6":{"enabled":true,"address":[{"ip":format!("fd20::{n}"),"prefix-length":64}]}},
        {"name":"bond0","type":"bond","state":"up","controller":"br-ex","mtu":1500,
         "link-aggregation":{"mode":"802.3ad","port":["eno1","eno2"]}},
        {"name":"eno1","type":"ethernet","state":"up","controller":"bond0","mtu":1500},
        {"name":"eno2","type":"ethernet","state":"up","controller":"bond0","mtu":1500},
        {"name":"br-vm","type":"ovs-bridge","state":"up","bridge":{"port":[{"name":"bond1"}]}},
        {"name":"bond1","type":"bond","state":"up","controller":"br-vm","mtu":9000,
         "link-aggregation":{"mode":"802.3ad","port":["ens2f0","ens2f1"]}},
        {"name":"ens2f0","type":"ethernet","state":"up","controller":"bond1","mtu":9000},
        {"name":"ens2f1","type":"ethernet","state":"up","controller":"bond1","mtu":9000},
        {"name":"bond2","type":"bond","state":"up","mtu":9000,"max-mtu":9702,
         "ipv4":{"enabled":false},"ipv6":{"enabled":false},
         "link-aggregation":{"mode":"active-backup","options":{"miimon":"100"},"port":["ens3f0","ens3f1"]}},
        {"name":"ens3f0","type":"ethernet","state":"up","controller":"bond2","mtu":9000},
        {"name":"ens3f1","type":"ethernet","state":"up","controller":"bond2","mtu":9000},
        {"name":"bond2.99","type":"vlan","state":"up","mtu":9000,"vlan":{"base-iface":"bond2","id":99}},
        {"name":"ovn-k8s-mp0","type":"ovs-interface","state":"ignore","controller":"br-int","mtu":1400},
        {"name":"lo","type":"loopback","state":"up","mtu":65536}
      ],
      "routes":{"running":[
        {"destination":"0.0.0.0/0","next-hop-address":"10.20.0.1","next-hop-interface":"br-ex","table-id":254,"metric":48},
        {"destination":"10.20.0.0/24","next-hop-address":"","next-hop-interface":"br-ex","table-id":254},
        {"destination":"::/0","next-hop-address":"fd20::1","next-hop-interface":"br-ex","table-id":254}
      ]}
    }}})
}

/// A host without OVN-Kubernetes' br-ex: the node's address and default route on bond0, a VLAN on
/// bond0, bond2 for migrations and its VLAN mig99.
pub fn plain_state(node: &str, n: u8) -> Value {
    json!({"apiVersion":"nmstate.io/v1beta1","kind":"NodeNetworkState","metadata":{"name":node},
    "status":{"currentState":{
      "interfaces":[
        {"name":"bond0","type":"bond","state":"up","mtu":1500,
         "ipv4":{"enabled":true,"address":[{"ip":format!("10.30.0.{n}"),"prefix-length":24}]},
         "link-aggregation":{"mode":"802.3ad","port":["eno1","eno2"]}},
        {"name":"eno1","type":"ethernet","state":"up","controller":"bond0","mtu":1500},
        {"name":"eno2","type":"ethernet","state":"up","controller":"bond0","mtu":1500},
        {"name":"bond0.200","type":"vlan","state":"up","mtu":1500,"vlan":{"base-iface":"bond0","id":200}},
        {"name":"bond2","type":"bond","state":"up","mtu":9000,
         "link-aggregation":{"mode":"active-backup","port":["ens3f0","ens3f1"]}},
        {"name":"ens3f0","type":"ethernet","state":"up","controller":"bond2","mtu":9000},
        {"name":"ens3f1","type":"ethernet","state":"up","controller":"bond2","mtu":9000},
        {"name":"mig99","type":"vlan","state":"up","mtu":9000,"vlan":{"base-iface":"bond2","id":99}},
        {"name":"ens4","type":"ethernet","state":"up","mtu":9000}
      ],
      "routes":{"running":[
        {"destination":"0.0.0.0/0","next-hop-address":"10.30.0.1","next-hop-interface":"bond0","table-id":254}
      ]}
    }}})
}

/// Changes the interface records named `name` of a NodeNetworkState: `patch` keys replace theirs
/// (null removes a key); with `patch` null the records are dropped.
pub fn edit_iface(state: &Value, name: &str, patch: Value) -> Value {
    let mut state = state.clone();
    let list = state.pointer_mut("/status/currentState/interfaces").and_then(Value::as_array_mut).unwrap();
    if patch.is_null() {
        list.retain(|i| i["name"] != name);
        return state;
    }
    for i in list.iter_mut().filter(|i| i["name"] == name) {
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                i.as_object_mut().unwrap().remove(k);
            } else {
                i[k] = v.clone();
            }
        }
    }
    state
}

/// Adds an interface record to a NodeNetworkState.
pub fn add_iface(state: &Value, iface: Value) -> Value {
    let mut state = state.clone();
    state.pointer_mut("/status/currentState/interfaces").and_then(Value::as_array_mut).unwrap().push(iface);
    state
}
