use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::policy::{Decision, HcVersion, Operation, Policy, Rule, testutil::*};

fn nncp_v(version: &str, selector: Value, interfaces: Value) -> DynamicObject {
    obj(json!({"apiVersion": format!("nmstate.io/{version}"), "kind":"NodeNetworkConfigurationPolicy",
        "metadata":{"name":"bond2-migration"},
        "spec":{"nodeSelector":selector,"desiredState":{"interfaces":interfaces}}}))
}

fn nncp(interfaces: Value) -> DynamicObject {
    nncp_v("v1", json!({"node-role.kubernetes.io/worker": ""}), interfaces)
}

/// The reference NNCP that builds bond2.
fn bond2(patch: Value) -> Value {
    let mut b = json!({"name":"bond2","type":"bond","state":"up","mtu":9000,"ipv4":{"enabled":false},
        "ipv6":{"enabled":false},"link-aggregation":{"mode":"active-backup","options":{"miimon":"100"},
        "port":["ens3f0","ens3f1"]}});
    for (k, v) in patch.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// Three workers (plain or OVN hosts), the migration NAD with `config`, and the HyperConverged.
fn cluster(config: &Value, ovn: bool) -> Vec<DynamicObject> {
    let mut objs = vec![nad(config), hc(HcVersion::V1Beta1, reference_hc_lm())];
    for i in 0..3u8 {
        let name = format!("worker-{i}");
        objs.push(node_with_ip(&name, &format!("10.30.0.{}", 30 + i)));
        let state = if ovn { ovn_state(&name, 30 + i) } else { plain_state(&name, 30 + i) };
        objs.push(obj(set(&state, "/metadata/name", json!(name))));
    }
    objs
}

fn judge_nncp(policy: &DynamicObject, objs: &[DynamicObject]) -> Decision {
    let refs: Vec<&DynamicObject> = objs.iter().collect();
    judge_with(&Policy::default(), Operation::Create, policy, None, &view(&refs))
}

fn reference() -> Vec<DynamicObject> {
    cluster(&reference_config(), false)
}

fn clean(d: &Decision) {
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn the_nncp_building_bond2_is_admitted() {
    for version in ["v1", "v1beta1"] {
        let p = nncp_v(version, json!({"node-role.kubernetes.io/worker": ""}), json!([bond2(json!({}))]));
        clean(&judge_nncp(&p, &reference()));
        clean(&judge_nncp(&p, &cluster(&reference_config(), true)));
    }
    // other interfaces are not ours to judge
    clean(&judge_nncp(
        &nncp(json!([{"name":"bond1","state":"absent"},{"name":"ens4","mtu":1500}])),
        &reference(),
    ));
}

#[test]
fn removing_or_downing_the_master_is_denied() {
    for state in ["absent", "down"] {
        for version in ["v1", "v1beta1"] {
            let p = nncp_v(version, json!({}), json!([{"name":"bond2","type":"bond","state":state}]));
            let m = only_denial(
                &judge_nncp(&p, &reference()),
                Rule::NncpBreaksMigration,
                "spec.desiredState.interfaces[0].state",
            );
            assert!(
                m.starts_with(&format!("Invalid value: \"{state}\": \"bond2\" is the live-migration master of NetworkAttachmentDefinition openshift-cnv/migration-bridge on worker-0, worker-1, worker-2 (3 virt-handler nodes)")),
                "{m}"
            );
        }
    }
    // the type may be omitted, as in nmstate's own absent examples
    only_denial(
        &judge_nncp(&nncp(json!([{"name":"bond2","state":"absent"}])), &reference()),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].state",
    );
}

#[test]
fn removing_a_port_or_a_vlans_base_is_denied() {
    let d = judge_nncp(&nncp(json!([{"name":"ens3f1","type":"ethernet","state":"absent"}])), &reference());
    let m = only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].state");
    assert!(m.contains("\"ens3f1\" is a port of \"bond2\""), "{m}");
    // a VLAN master: its base bond goes
    let objs = cluster(&set(&reference_config(), "/master", json!("mig99")), false);
    let d = judge_nncp(&nncp(json!([{"name":"bond2","state":"absent"}])), &objs);
    let m = only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].state");
    assert!(m.contains("\"bond2\" is the base of VLAN \"mig99\""), "{m}");
}

#[test]
fn a_bond_left_without_ports_is_denied() {
    for (section, key) in [("link-aggregation", "port"), ("link-aggregation", "slaves"), ("bond", "ports")] {
        let p = nncp(
            json!([{"name":"bond2","type":"bond","state":"up",section:{"mode":"active-backup",key:[]}}]),
        );
        let d = judge_nncp(&p, &reference());
        let m = only_denial(
            &d,
            Rule::NncpBreaksMigration,
            &format!("spec.desiredState.interfaces[0].{section}.{key}"),
        );
        assert!(m.starts_with("Forbidden: leaves bond \"bond2\" with no ports on worker-0"), "{m}");
    }
    // ports moved to another controller or detached
    let p = nncp(json!([{"name":"ens3f0","controller":""},{"name":"ens3f1","controller":"bond9"}]));
    only_denial(
        &judge_nncp(&p, &reference()),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].controller",
    );
    // one port kept: still a bond that carries traffic (nncp-replaces-migration-ports warns)
    let d = judge_nncp(
        &nncp(json!([bond2(json!({"link-aggregation":{"mode":"lacp","port":["ens3f0"]}}))])),
        &reference(),
    );
    assert!(d.denials.is_empty(), "{d:#?}");
    clean(&judge_nncp(&nncp(json!([{"name":"ens3f0","controller":""}])), &reference()));
}

#[test]
fn lowering_the_mtu_below_the_nads_is_denied() {
    let objs = cluster(&set(&reference_config(), "/mtu", json!(9000)), false);
    let d = judge_nncp(&nncp(json!([bond2(json!({"mtu": 1500}))])), &objs);
    let m = only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].mtu");
    assert!(m.starts_with("Invalid value: 1500: \"bond2\" is the live-migration master"), "{m}");
    assert!(m.contains("below the NAD's mtu 9000"), "{m}");
    clean(&judge_nncp(&nncp(json!([bond2(json!({"mtu": 9000}))])), &objs));
    // a VLAN master's base shrinking below the NAD's mtu
    let objs =
        cluster(&set(&set(&reference_config(), "/master", json!("mig99")), "/mtu", json!(9000)), false);
    only_denial(
        &judge_nncp(&nncp(json!([bond2(json!({"mtu": 1500}))])), &objs),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].mtu",
    );
}

#[test]
fn lowering_the_mtu_where_the_nad_sets_none_warns() {
    let d = judge_nncp(&nncp(json!([bond2(json!({"mtu": 1500}))])), &reference());
    let m = only_warning(&d, Rule::NncpMtuShrinksMigration, "spec.desiredState.interfaces[0].mtu");
    assert!(m.contains("1500 is below its MTU 9000, so running migration0 interfaces are clamped"), "{m}");
    clean(&judge_nncp(&nncp(json!([bond2(json!({"mtu": 9216}))])), &reference()));
}

#[test]
fn capture_templates_warn_that_they_are_not_judged() {
    let p = obj(
        json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy","metadata":{"name":"lldp"},
        "spec":{"capture":{"ethernets":"interfaces.type==\"ethernet\""},
                "desiredState":{"interfaces":"{{ capture.ethernets.interfaces }}"}}}),
    );
    let m = only_warning(&judge_nncp(&p, &reference()), Rule::NncpCaptureUnjudged, "spec.capture");
    assert!(m.starts_with("capture \"ethernets\" resolves per node"), "{m}");
    // templated names inside a list are skipped, named ones still judged
    let p = obj(
        json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy","metadata":{"name":"x"},
        "spec":{"capture":{"gw":"routes.running.destination==\"0.0.0.0/0\""},
                "desiredState":{"interfaces":[{"name":"{{ capture.gw.routes.running.0.next-hop-interface }}","state":"up"},
                                              {"name":"bond2","state":"absent"}]}}}),
    );
    let d = judge_nncp(&p, &reference());
    assert_eq!(denied(&d), [(Rule::NncpBreaksMigration, "spec.desiredState.interfaces[1].state".to_owned())]);
    assert_eq!(warned(&d), [(Rule::NncpCaptureUnjudged, "spec.capture".to_owned())]);
    // no capture: no warning
    clean(&judge_nncp(&nncp(json!([bond2(json!({}))])), &reference()));
}

#[test]
fn only_virt_handler_nodes_the_policy_selects_count() {
    let remove = json!([{"name":"bond2","state":"absent"}]);
    clean(&judge_nncp(
        &nncp_v("v1", json!({"node-role.kubernetes.io/infra": ""}), remove.clone()),
        &reference(),
    ));
    let one = nncp_v("v1", json!({"kubernetes.io/hostname": "worker-1"}), remove.clone());
    let mut objs = reference();
    let labelled = obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"worker-1","labels":{
        "kubevirt.io/schedulable":"true","kubernetes.io/hostname":"worker-1"}}}));
    objs.push(labelled);
    let m = only_denial(
        &judge_nncp(&one, &objs),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].state",
    );
    assert!(m.contains("on worker-1 (1 virt-handler node)"), "{m}");
    // a node whose host has no bond2 has nothing to lose
    let mut objs = vec![
        nad(&reference_config()),
        hc(HcVersion::V1Beta1, reference_hc_lm()),
        node_with_ip("worker-0", "10.30.0.30"),
    ];
    objs.push(obj(set(
        &edit_iface(&plain_state("worker-0", 30), "bond2", Value::Null),
        "/metadata/name",
        json!("worker-0"),
    )));
    clean(&judge_nncp(&nncp(remove), &objs));
}

#[test]
fn without_nodes_the_master_is_judged_by_name() {
    let objs = vec![nad(&reference_config()), hc(HcVersion::V1Beta1, reference_hc_lm())];
    let m = only_denial(
        &judge_nncp(&nncp(json!([{"name":"bond2","state":"absent"}])), &objs),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].state",
    );
    assert!(m.contains("on the virt-handler nodes"), "{m}");
    // without a migration NAD, nothing to protect
    clean(&judge_nncp(&nncp(json!([{"name":"bond2","state":"absent"}])), &[]));
}

#[test]
fn deletes_and_odd_shapes_pass() {
    let p = nncp(json!([{"name":"bond2","state":"absent"}]));
    let refs: Vec<DynamicObject> = reference();
    let r: Vec<&DynamicObject> = refs.iter().collect();
    let d = judge_with(&Policy::default(), Operation::Delete, &p, None, &view(&r));
    clean(&d);
    for spec in [
        json!(null),
        json!({}),
        json!({"desiredState": 7}),
        json!({"desiredState": {"interfaces": [7, {"name": 8}, {"state": "absent"}]}}),
        json!({"nodeSelector": "x", "desiredState": {"interfaces": []}}),
    ] {
        let p = obj(
            json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy","metadata":{"name":"x"},"spec":spec}),
        );
        clean(&judge_nncp(&p, &reference()));
    }
}

/// A NodeNetworkConfigurationPolicy building a VM bridge of `kind` with `ports` as its ports.
fn bridge(kind: &str, ports: Value) -> Value {
    json!({"name":"br-vm1","type":kind,"state":"up","bridge":{"options":{"stp":{"enabled":false}},"port":ports}})
}

#[test]
fn a_bridge_or_bond_taking_the_master_as_a_port_is_denied() {
    for (entry, field) in [
        (bridge("linux-bridge", json!([{"name":"bond2"}])), "bridge.port[0].name"),
        (bridge("ovs-bridge", json!([{"name":"ens4"},{"name":"bond2"}])), "bridge.port[1].name"),
        (
            bridge(
                "ovs-bridge",
                json!([{"name":"ovs-bond","link-aggregation":{"mode":"balance-slb","port":[{"name":"ens4"},{"name":"bond2"}]}}]),
            ),
            "bridge.port[0].link-aggregation.port[1].name",
        ),
        (
            json!({"name":"bond9","type":"bond","state":"up","link-aggregation":{"mode":"active-backup","port":["bond2"]}}),
            "link-aggregation.port[0]",
        ),
    ] {
        for objs in [reference(), cluster(&reference_config(), true)] {
            let d = judge_nncp(&nncp(json!([entry.clone()])), &objs);
            let m = only_denial(
                &d,
                Rule::NncpBreaksMigration,
                &format!("spec.desiredState.interfaces[0].{field}"),
            );
            assert!(m.starts_with("Forbidden: \"bond2\" is the live-migration master of NetworkAttachmentDefinition openshift-cnv/migration-bridge on worker-0, worker-1, worker-2 (3 virt-handler nodes): "), "{m}");
            assert!(
                m.contains(
                    "takes it as a port: the kernel refuses to enslave a device that carries macvlans"
                ),
                "{m}"
            );
        }
    }
    // the master naming a controller
    let d = judge_nncp(
        &nncp(json!([bond2(json!({"controller":"br-vm1"})), bridge("linux-bridge", json!([]))])),
        &reference(),
    );
    let m = only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].controller");
    assert!(m.starts_with("Invalid value: \"br-vm1\": \"bond2\" is the live-migration master"), "{m}");
    // without any node known, the master is still judged by name
    let objs = vec![nad(&reference_config()), hc(HcVersion::V1Beta1, reference_hc_lm())];
    let d = judge_nncp(&nncp(json!([bridge("linux-bridge", json!([{"name":"bond2"}]))])), &objs);
    assert!(
        only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].bridge.port[0].name")
            .contains("on the virt-handler nodes")
    );
}

#[test]
fn a_bridge_on_the_base_of_a_vlan_master_is_denied() {
    let objs = cluster(&set(&reference_config(), "/master", json!("mig99")), false);
    let d = judge_nncp(&nncp(json!([bridge("linux-bridge", json!([{"name":"bond2"}]))])), &objs);
    let m = only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].bridge.port[0].name");
    assert!(m.contains("\"bond2\" is the base of VLAN \"mig99\""), "{m}");
    assert!(m.contains("the migration VLAN would then ride a port"), "{m}");
    let d = judge_nncp(&nncp(json!([bridge("linux-bridge", json!([{"name":"mig99"}]))])), &objs);
    assert!(
        only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].bridge.port[0].name")
            .contains("kernel refuses")
    );
}

#[test]
fn bridges_elsewhere_do_not_fire() {
    for entries in [
        json!([bridge("linux-bridge", json!([{"name":"ens4"}]))]),
        json!([bridge("ovs-bridge", json!([{"name":"bond1"}]))]),
        // removing a bridge that once held it enslaves nothing
        json!([{"name":"br-vm1","type":"linux-bridge","state":"absent","bridge":{"port":[{"name":"bond2"}]}}]),
        // a bridge on a VLAN of the master stands on it, it does not take it
        json!([bridge("linux-bridge", json!([{"name":"mig99"}]))]),
        // a templated port is only known per node
        json!([bridge("linux-bridge", json!([{"name":"{{ capture.nic.interfaces.0.name }}"}]))]),
        json!([bond2(json!({"controller":""}))]),
    ] {
        clean(&judge_nncp(&nncp(entries), &reference()));
    }
}

#[test]
fn new_bond_ports_that_exist_nowhere_are_denied() {
    let p = nncp(json!([bond2(json!({"link-aggregation":{"mode":"lacp","ports":["ens5f0","ens5f1"]}}))]));
    let d = judge_nncp(&p, &reference());
    let m =
        only_denial(&d, Rule::NncpBreaksMigration, "spec.desiredState.interfaces[0].link-aggregation.ports");
    assert!(
        m.ends_with("on worker-0, worker-1, worker-2 (3 virt-handler nodes): none of its new ports \"ens5f0\", \"ens5f1\" exists there, so the bond would carry nothing and migrations there stop"),
        "{m}"
    );
    // on one node only: it is named
    let mut objs = reference();
    objs[3] = obj(set(
        &add_iface(&plain_state("worker-0", 30), json!({"name":"ens5f0","type":"ethernet","state":"up"})),
        "/metadata/name",
        json!("worker-0"),
    ));
    let m = only_denial(
        &judge_nncp(&p, &objs),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[0].link-aggregation.ports",
    );
    assert!(m.contains("on worker-1, worker-2 (2 virt-handler nodes)"), "{m}");
    // a virtual port the policy creates exists; a NIC it merely configures does not
    let dummy = nncp(
        json!([{"name":"dummy7","type":"dummy","state":"up"}, bond2(json!({"link-aggregation":{"port":["dummy7"]}}))]),
    );
    assert!(judge_nncp(&dummy, &reference()).denials.is_empty());
    let nic = nncp(
        json!([{"name":"ens5f0","type":"ethernet","state":"up"}, bond2(json!({"link-aggregation":{"port":["ens5f0"]}}))]),
    );
    only_denial(
        &judge_nncp(&nic, &reference()),
        Rule::NncpBreaksMigration,
        "spec.desiredState.interfaces[1].link-aggregation.port",
    );
    // unknown hosts or templated ports: not judged
    let objs = vec![nad(&reference_config()), hc(HcVersion::V1Beta1, reference_hc_lm())];
    clean(&judge_nncp(&p, &objs));
    clean(&judge_nncp(
        &nncp(json!([bond2(json!({"link-aggregation":{"port":["{{ capture.nics.interfaces.0.name }}"]}}))])),
        &reference(),
    ));
}

#[test]
fn replacing_the_migration_bonds_ports_warns() {
    let swap =
        nncp(json!([bond2(json!({"link-aggregation":{"mode":"active-backup","port":["ens3f0","ens4"]}}))]));
    // OVN hosts have no ens4: ens3f0 still carries migrations there, so a warning and no denial
    for objs in [reference(), cluster(&reference_config(), true)] {
        let d = judge_nncp(&swap, &objs);
        let m = only_warning(
            &d,
            Rule::NncpReplacesMigrationPorts,
            "spec.desiredState.interfaces[0].link-aggregation.port",
        );
        assert_eq!(
            m,
            "drops port \"ens3f1\" of \"bond2\" and adds \"ens4\" on worker-0, worker-1, worker-2 (3 virt-handler nodes): \"bond2\" is the live-migration master of NetworkAttachmentDefinition openshift-cnv/migration-bridge, so migrations move to the ports the policy lists; check their links, switch ports and MTU before applying"
        );
        assert!(d.denials.is_empty(), "{d:#?}");
    }
    // the ports as the node has them, in any order or spelling: nothing to say
    clean(&judge_nncp(
        &nncp(json!([bond2(json!({"link-aggregation":{"slaves":["ens3f1","ens3f0"]}}))])),
        &reference(),
    ));
    // ports a bond2 lists only by their controller field are read as its ports
    let mut objs = reference();
    for (i, o) in objs.iter_mut().enumerate().skip(3).step_by(2) {
        let name = format!("worker-{}", (i - 3) / 2);
        let state = edit_iface(
            &plain_state(&name, 30),
            "bond2",
            json!({"link-aggregation":{"mode":"active-backup"}}),
        );
        *o = obj(set(&state, "/metadata/name", json!(name)));
    }
    let m = only_warning(
        &judge_nncp(&swap, &objs),
        Rule::NncpReplacesMigrationPorts,
        "spec.desiredState.interfaces[0].link-aggregation.port",
    );
    assert!(m.starts_with("drops port \"ens3f1\" of \"bond2\" and adds \"ens4\""), "{m}");
    // the base bond of a VLAN master
    let objs = cluster(&set(&reference_config(), "/master", json!("mig99")), false);
    let m = only_warning(
        &judge_nncp(&swap, &objs),
        Rule::NncpReplacesMigrationPorts,
        "spec.desiredState.interfaces[0].link-aggregation.port",
    );
    assert!(m.contains("(3 virt-handler nodes): \"bond2\" is the base of VLAN \"mig99\""), "{m}");
}

/// Policies and hosts at the sizes an adversary can send (the API server takes ~3 MB objects):
/// judged through lookups, never a scan of the policy per dependency and node.
#[test]
fn ten_thousand_entries_and_ports_are_judged() {
    let ports: Vec<String> = (0..10_000).map(|i| format!("nic{i}")).collect();
    let mut entries: Vec<Value> =
        (0..10_000).map(|i| json!({"name": format!("veth{i}"), "type":"veth","state":"up"})).collect();
    entries.push(bond2(json!({"link-aggregation":{"mode":"active-backup","port":ports}})));
    let bridge_ports: Vec<Value> =
        (0..10_000).map(|i| json!({"name": format!("tap{i}")})).chain([json!({"name":"bond2"})]).collect();
    entries.push(json!({"name":"br-big","type":"ovs-bridge","state":"up","bridge":{"port":bridge_ports}}));
    // the nodes' bond2 lists 5,000 ports, its ports name it too
    let mut objs = reference();
    for o in objs.iter_mut().skip(3).step_by(2) {
        let name = o.metadata.name.clone().unwrap();
        let mut state = plain_state(&name, 30);
        let list = state["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
        let host_ports: Vec<String> = (0..5_000).map(|i| format!("ens{i}")).collect();
        list.push(json!({"name":"bond2","type":"bond","state":"up","link-aggregation":{"port":host_ports}}));
        list.extend(
            (0..5_000).map(|i| json!({"name": format!("ens{i}"),"type":"ethernet","controller":"bond2"})),
        );
        *o = obj(set(&state, "/metadata/name", json!(name)));
    }
    let d = judge_nncp(&nncp(Value::Array(entries)), &objs);
    assert_eq!(
        denied(&d),
        [
            (
                Rule::NncpBreaksMigration,
                "spec.desiredState.interfaces[10001].bridge.port[10000].name".to_owned()
            ),
            (
                Rule::NncpBreaksMigration,
                "spec.desiredState.interfaces[10000].link-aggregation.port".to_owned()
            ),
        ]
    );
}
