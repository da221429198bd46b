use serde_json::{Value, json};

use super::*;
use crate::policy::testutil::{add_iface, edit_iface, obj, ovn_state, plain_state};

fn host(state: &Value) -> HostNetwork {
    HostNetwork::from_state(state).unwrap()
}

fn marked(state: &Value, ips: &[&str]) -> HostNetwork {
    let mut h = host(state);
    h.mark_management(&ips.iter().map(|i| i.parse().unwrap()).collect::<Vec<_>>());
    h
}

#[test]
fn reads_the_reference_ovn_worker() {
    let h = host(&ovn_state("w0", 30));
    // br-ex twice: the OVS bridge and its internal port
    let brex = h.named("br-ex");
    assert_eq!(
        brex.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [IfaceType::OvsBridge, IfaceType::OvsInterface]
    );
    assert_eq!(&*brex[0].ports, ["bond0".into(), "br-ex".into(), "patch-br-ex_w0-to-br-int".into()]);
    let f = h.facts("br-ex").unwrap();
    assert_eq!(
        (f.kind, f.mtu, f.port_of),
        (IfaceType::OvsInterface, Some(1500), None),
        "the internal port is no port"
    );
    assert_eq!(f.addresses().count(), 3);
    let bond2 = h.facts("bond2").unwrap();
    assert_eq!(
        (bond2.kind, bond2.state, bond2.mtu, bond2.port_of),
        (IfaceType::Bond, IfaceState::Up, Some(9000), None)
    );
    assert_eq!(&*h.named("bond2")[0].ports, ["ens3f0".into(), "ens3f1".into()]);
    assert_eq!(h.facts("ens3f0").unwrap().port_of, Some("bond2"));
    assert_eq!(h.facts("bond1").unwrap().port_of, Some("br-vm"));
    assert_eq!(h.named("bond2.99")[0].vlan_base.as_deref(), Some("bond2"));
    assert_eq!(h.facts("ovn-k8s-mp0").unwrap().state, IfaceState::Ignore);
    assert_eq!(h.default_routes(), ["br-ex".into()]);
    assert!(h.facts("bond9").is_none());
}

#[test]
fn ovn_management_is_br_ex_its_uplink_and_the_uplinks_ports() {
    for ips in [&["10.20.0.30"][..], &[]] {
        let h = marked(&ovn_state("w0", 30), ips);
        assert_eq!(h.management(), ["bond0", "br-ex", "eno1", "eno2"]);
        for m in ["br-ex", "bond0", "eno1", "eno2"] {
            assert!(h.facts(m).unwrap().management, "{m} with InternalIPs {ips:?}");
        }
        for free in ["bond1", "bond2", "ens3f0", "bond2.99", "ens2f0", "ovn-k8s-mp0"] {
            assert!(!h.facts(free).unwrap().management, "{free}");
        }
    }
}

#[test]
fn plain_management_is_the_default_route_bond_its_ports_and_vlans() {
    let h = marked(&plain_state("w0", 30), &[]);
    assert_eq!(h.management(), ["bond0", "bond0.200", "eno1", "eno2"]);
    // without a default route, the InternalIP finds it (IPv6 too)
    let no_route = {
        let mut s = plain_state("w0", 30);
        s["status"]["currentState"]["routes"] = json!({"running": []});
        edit_iface(&s, "bond0", json!({"ipv6":{"address":[{"ip":"fd30::30","prefix-length":64}]}}))
    };
    assert!(marked(&no_route, &[]).management().is_empty());
    assert_eq!(marked(&no_route, &["fd30::30"]).management(), ["bond0", "bond0.200", "eno1", "eno2"]);
    // an IPv6-only default route
    let v6 = {
        let mut s = plain_state("w0", 30);
        s["status"]["currentState"]["routes"] =
            json!({"running": [{"destination":"::/0","next-hop-interface":"ens4","table-id":254}]});
        s
    };
    assert_eq!(marked(&v6, &[]).management(), ["ens4"]);
    // a default route in another table is not the node's
    let other_table = {
        let mut s = plain_state("w0", 30);
        s["status"]["currentState"]["routes"] =
            json!({"running": [{"destination":"0.0.0.0/0","next-hop-interface":"ens4","table-id":100}]});
        s
    };
    assert!(marked(&other_table, &[]).management().is_empty());
}

#[test]
fn a_vlan_master_stands_on_its_base_and_the_bases_ports() {
    let h = host(&plain_state("w0", 30));
    let deps = h.dependencies("mig99");
    let names: Vec<(&str, Role)> = deps.iter().map(|d| (d.name, d.role)).collect();
    assert_eq!(
        names,
        [
            ("mig99", Role::Master),
            ("bond2", Role::BaseOf("mig99")),
            ("ens3f1", Role::PortOf("bond2")),
            ("ens3f0", Role::PortOf("bond2")),
        ]
    );
    assert_eq!(deps[1].ports, ["ens3f0", "ens3f1"]);
    assert_eq!(h.dependencies("nope"), []);
}

#[test]
fn bond_and_port_spellings_are_all_read() {
    for (section, key) in [
        ("link-aggregation", "port"),
        ("link-aggregation", "ports"),
        ("link-aggregation", "slaves"),
        ("bond", "port"),
        ("bond", "ports"),
    ] {
        let state = add_iface(
            &plain_state("w0", 30),
            json!({"name":"bond7","type":"bond","state":"up",section:{"mode":"lacp",key:["a", {"name":"b"}, 7]}}),
        );
        assert_eq!(&*host(&state).named("bond7")[0].ports, ["a".into(), "b".into()], "{section}.{key}");
    }
}

#[test]
fn unreadable_states_are_errors_never_panics() {
    let base = ovn_state("w0", 30);
    let mut no_status = base.clone();
    no_status.as_object_mut().unwrap().remove("status");
    assert_eq!(HostNetwork::from_state(&no_status), Err(HostError::NoState));
    let mut not_list = base.clone();
    not_list["status"]["currentState"]["interfaces"] = json!("{{ capture.x }}");
    assert_eq!(HostNetwork::from_state(&not_list), Err(HostError::NotAList("a string")));
    let mut many = base.clone();
    many["status"]["currentState"]["interfaces"] = Value::Array(
        (0..MAX_INTERFACES + 1).map(|i| json!({"name": format!("veth{i}"), "type": "veth"})).collect(),
    );
    assert_eq!(HostNetwork::from_state(&many), Err(HostError::TooMany(MAX_INTERFACES + 1)));
    let ports: Vec<String> = (0..MAX_PORTS + 1).map(|i| format!("p{i}")).collect();
    let long = add_iface(&base, json!({"name":"bond9","type":"bond","link-aggregation":{"port":ports}}));
    assert!(matches!(HostNetwork::from_state(&long), Err(HostError::TooLong(n)) if n == "bond9"));
}

#[test]
fn odd_entries_are_tolerated() {
    let mut s = plain_state("w0", 30);
    let list = s["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
    list.extend([
        json!(7),
        json!({"type": "ethernet"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(300)}),
        json!({"name": "esc\u{1b}[31m\n", "type": "wireguard", "state": "dormant", "mtu": 99999999999u64}),
        json!({"name": "neg", "type": "ethernet", "mtu": -1, "ipv4": {"address": [{"ip": "nope", "prefix-length": 24}, {"ip": "10.1.1.1", "prefix-length": 99}, 5]}}),
        json!({"name": "ens4", "type": "ethernet", "mtu": 1}),
    ]);
    s["status"]["currentState"]["routes"] = json!({"running": "nope"});
    let h = host(&s);
    let odd = h.facts("esc\u{1b}[31m\n").unwrap();
    assert_eq!((odd.kind, odd.state, odd.mtu), (IfaceType::Other, IfaceState::Unknown, None));
    let neg = h.facts("neg").unwrap();
    assert_eq!((neg.mtu, neg.addresses().count()), (None, 0));
    assert_eq!(h.named("ens4").len(), 1, "one record per (name, type): the first wins");
    assert_eq!(h.facts("ens4").unwrap().mtu, Some(9000));
    assert!(h.default_routes().is_empty());
    assert_eq!(h.ifaces().len(), 11);
}

#[test]
fn internal_ips_come_from_the_node_status() {
    let node = obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"w"},"status":{"addresses":[
        {"type":"InternalIP","address":"10.20.0.30"},{"type":"InternalIP","address":"fd20::30"},
        {"type":"ExternalIP","address":"1.2.3.4"},{"type":"InternalIP","address":"junk"},{"type":"Hostname","address":"w"}]}}));
    assert_eq!(internal_ips(&node), ["10.20.0.30".parse::<IpAddr>().unwrap(), "fd20::30".parse().unwrap()]);
    let bare = obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"w"}}));
    assert!(internal_ips(&bare).is_empty());
}

#[test]
fn counts_follow_upserts_removals_and_node_changes() {
    let mut hosts = HostNetworks::default();
    let ips: &[IpAddr] = &[];
    hosts.upsert("w0", HostNetwork::from_state(&ovn_state("w0", 30)), Some((true, ips)));
    hosts.upsert(
        "w1",
        HostNetwork::from_state(&edit_iface(&ovn_state("w1", 31), "bond2", json!({"mtu": 1500}))),
        Some((false, ips)),
    );
    hosts.upsert("w2", HostNetwork::from_state(&json!({})), Some((true, ips)));
    hosts.upsert("w3", HostNetwork::from_state(&ovn_state("w3", 33)), None);
    assert_eq!(hosts.readable, [2, 1]);
    let all = hosts.counts("bond2", 0).unwrap();
    assert_eq!((all.present, all.port, all.down, all.management), (2, 0, 0, 0));
    assert_eq!(all.mtus, [(1500, 1), (9000, 1)].into());
    assert_eq!(hosts.counts("bond2", 1).unwrap().mtus, [(9000, 1)].into());
    assert_eq!(hosts.counts("bond0", 0).unwrap().management, 2);
    assert_eq!(hosts.counts("br-ex", 0).unwrap().present, 2, "a name counts once per node");
    assert_eq!(hosts.counts("br-ex", 0).unwrap().addresses.len(), 5, "169.254.0.2 on both");
    // the node of w3 appears, then w1 stops running virt-handler and w0 goes
    hosts.recount("w3", Some((true, ips)));
    hosts.recount("w1", Some((false, ips)));
    assert_eq!(hosts.readable, [3, 2]);
    hosts.remove("w0");
    hosts.recount("w1", None);
    assert_eq!(hosts.readable, [1, 1]);
    assert_eq!(hosts.counts("bond2", 0).unwrap().mtus, [(9000, 1)].into());
    hosts.remove("w3");
    assert_eq!(hosts.readable, [0, 0]);
    assert!(hosts.counts("bond2", 0).is_none(), "nothing left behind");
    assert!(hosts.any(), "w1 and w2 are still held");
}

#[test]
fn ten_thousand_interfaces_are_read_and_found() {
    let mut s = plain_state("w0", 30);
    let list = s["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
    for i in 0..10_000 {
        list.push(json!({"name": format!("vlan{i}"), "type": "vlan", "state": "up", "mtu": 9000,
                         "vlan": {"base-iface": "bond2", "id": i % 4094 + 1}}));
    }
    let mut h = host(&s);
    h.mark_management(&[]);
    assert_eq!(h.ifaces().len(), 10_009);
    assert_eq!(h.facts("vlan9999").unwrap().mtu, Some(9000));
    assert!(!h.facts("bond2").unwrap().management);
    assert_eq!(h.dependencies("bond2").len(), 3);
}

/// An OVN worker as older nmstate reports it: every relation written on the bridge or bond side
/// only, no `controller` anywhere.
fn listed_only() -> Value {
    let mut s = ovn_state("w0", 30);
    for i in s["status"]["currentState"]["interfaces"].as_array_mut().unwrap() {
        i.as_object_mut().unwrap().remove("controller");
    }
    s
}

#[test]
fn ports_listed_only_by_the_bridge_or_bond_are_ports() {
    let h = marked(&listed_only(), &[]);
    assert_eq!(h.facts("bond0").unwrap().port_of, Some("br-ex"));
    assert_eq!(h.facts("eno1").unwrap().port_of, Some("bond0"));
    assert_eq!(h.facts("bond1").unwrap().port_of, Some("br-vm"));
    assert_eq!(h.facts("ens3f0").unwrap().port_of, Some("bond2"));
    assert_eq!(h.facts("br-ex").unwrap().port_of, None, "the internal port is no port");
    assert_eq!(h.facts("bond2").unwrap().port_of, None);
    assert_eq!(h.management(), ["bond0", "br-ex", "eno1", "eno2"]);
}

#[test]
fn ports_naming_only_their_controller_join_its_port_list() {
    let mut s = ovn_state("w0", 30);
    for name in ["bond0", "bond1", "bond2"] {
        s = edit_iface(&s, name, json!({"link-aggregation": {"mode": "802.3ad"}}));
    }
    s = edit_iface(&s, "br-ex", json!({"bridge": {"options": {}}}));
    let h = marked(&s, &[]);
    assert_eq!(&*h.named("bond2")[0].ports, ["ens3f0".into(), "ens3f1".into()]);
    let deps: Vec<(&str, Role)> = h.dependencies("bond2").iter().map(|d| (d.name, d.role)).collect();
    assert_eq!(
        deps,
        [("bond2", Role::Master), ("ens3f1", Role::PortOf("bond2")), ("ens3f0", Role::PortOf("bond2"))]
    );
    // br-ex lists nothing: bond0 (controller br-ex) and the internal port join it
    assert_eq!(&*h.named("br-ex")[0].ports, ["bond0".into(), "br-ex".into()]);
    assert_eq!(h.management(), ["bond0", "br-ex", "eno1", "eno2"]);
}

#[test]
fn br_ex_over_a_single_nic_makes_the_nic_management_and_a_port() {
    let s = json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkState","metadata":{"name":"w0"},
    "status":{"currentState":{"interfaces":[
        {"name":"br-ex","type":"ovs-bridge","state":"up","bridge":{"port":[{"name":"ens3"},{"name":"br-ex"}]}},
        {"name":"br-ex","type":"ovs-interface","state":"up","mtu":1500,
         "ipv4":{"enabled":true,"address":[{"ip":"10.20.0.30","prefix-length":24}]}},
        {"name":"ens3","type":"ethernet","state":"up","mtu":1500},
        {"name":"ens4","type":"ethernet","state":"up","mtu":9000}],
      "routes":{"running":[]}}}});
    let h = marked(&s, &["10.20.0.30"]);
    assert_eq!(h.management(), ["br-ex", "ens3"]);
    assert_eq!(h.facts("ens3").unwrap().port_of, Some("br-ex"));
    assert_eq!(h.facts("ens4").unwrap().port_of, None);
}

#[test]
fn linux_bridges_and_ovs_bonds_list_ports_too() {
    let s = add_iface(
        &listed_only(),
        json!({"name":"br1","type":"linux-bridge","state":"up","bridge":{"port":[{"name":"bond2","vlan":{}}]}}),
    );
    let s = edit_iface(
        &s,
        "br-vm",
        json!({"bridge":{"port":[{"name":"bond1","link-aggregation":{"mode":"balance-slb",
              "port":[{"name":"ens2f0"},{"name":"ens2f1"}]}}]}}),
    );
    let h = host(&s);
    assert_eq!(h.facts("bond2").unwrap().port_of, Some("br1"));
    assert_eq!(h.facts("ens2f0").unwrap().port_of, Some("bond1"), "the kernel bond lists it first");
    let s = edit_iface(&s, "bond1", Value::Null);
    assert_eq!(host(&s).facts("ens2f0").unwrap().port_of, Some("br-vm"), "OVS bond members are bridge ports");
}

#[test]
fn odd_relations_terminate_and_keep_what_was_written() {
    let s = plain_state("w0", 30);
    // a lists b, b names a as controller and lists a: a cycle
    let s = add_iface(&s, json!({"name":"a","type":"bond","link-aggregation":{"port":["b"]}}));
    let s =
        add_iface(&s, json!({"name":"b","type":"bond","controller":"a","link-aggregation":{"port":["a"]}}));
    // a bond listing itself, and naming itself as controller
    let s = add_iface(
        &s,
        json!({"name":"self","type":"bond","controller":"self","link-aggregation":{"port":["self"]}}),
    );
    // ens4 listed by two bridges
    let s = add_iface(&s, json!({"name":"brA","type":"linux-bridge","bridge":{"port":[{"name":"ens4"}]}}));
    let s = add_iface(&s, json!({"name":"brB","type":"linux-bridge","bridge":{"port":[{"name":"ens4"}]}}));
    let mut h = host(&s);
    assert_eq!(h.facts("b").unwrap().port_of, Some("a"));
    assert_eq!(h.facts("a").unwrap().port_of, Some("b"));
    assert_eq!(h.facts("self").unwrap().port_of, Some("self"), "as written");
    assert_eq!(&*h.named("self")[0].ports, ["self".into()]);
    assert_eq!(h.facts("ens4").unwrap().port_of, Some("brA"), "the first lister");
    assert_eq!(h.dependencies("a").len(), 2);
    assert_eq!(h.dependencies("self").len(), 1);
    h.mark_management(&[]);
    // the default route on a: the cycle is walked once
    let mut cyc = s.clone();
    cyc["status"]["currentState"]["routes"] =
        json!({"running": [{"destination":"0.0.0.0/0","next-hop-interface":"a","table-id":254}]});
    assert_eq!(marked(&cyc, &[]).management(), ["a", "b"]);
}

#[test]
fn ten_thousand_ports_are_read_on_either_side() {
    let mut s = plain_state("w0", 30);
    let ports: Vec<Value> = (0..10_000).map(|i| json!({"name": format!("p{i}")})).collect();
    let list = s["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
    list.push(json!({"name":"br-big","type":"ovs-bridge","state":"up","bridge":{"port": ports}}));
    for i in 0..10_000 {
        let c = if i % 2 == 0 { json!("bond2") } else { Value::Null };
        list.push(json!({"name": format!("p{i}"), "type": "ethernet", "state": "up", "controller": c}));
    }
    let mut h = host(&s);
    h.mark_management(&[]);
    assert_eq!(h.facts("p1").unwrap().port_of, Some("br-big"));
    assert_eq!(h.facts("p2").unwrap().port_of, Some("bond2"), "its own word first");
    assert_eq!(h.named("bond2")[0].ports.len(), 5_002);
    assert!(h.dependencies("bond2").len() <= 66);
}
