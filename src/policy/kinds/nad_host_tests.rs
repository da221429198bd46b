use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::policy::{Decision, HcVersion, Rule, testutil::*};

/// Three virt-handler workers with their states (`None`: no NodeNetworkState).
fn cluster(states: &[Option<Value>]) -> Vec<DynamicObject> {
    let mut objs = Vec::new();
    for (i, s) in states.iter().enumerate() {
        objs.push(node(&format!("worker-{i}"), true));
        if let Some(s) = s {
            let mut s = s.clone();
            s["metadata"]["name"] = json!(format!("worker-{i}"));
            objs.push(obj(s));
        }
    }
    objs
}

fn ovn(n: usize) -> Vec<Option<Value>> {
    (0..n).map(|i| Some(ovn_state("w", 30 + i as u8))).collect()
}

fn plain(n: usize) -> Vec<Option<Value>> {
    (0..n).map(|i| Some(plain_state("w", 30 + i as u8))).collect()
}

fn judge_on(config: &Value, objs: &[DynamicObject]) -> Decision {
    let refs: Vec<&DynamicObject> = objs.iter().collect();
    judge(&nad(config), &refs)
}

fn with_master(master: &str) -> Value {
    set(&reference_config(), "/master", json!(master))
}

const MASTER: &str = "spec.config.master";

#[test]
fn the_reference_setup_is_clean_on_ovn_and_plain_hosts() {
    for states in [ovn(3), plain(3)] {
        let d = judge_on(&reference_config(), &cluster(&states));
        assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
    }
    // a VLAN master on the migration bond, and a free NIC
    for master in ["mig99", "ens4"] {
        let d = judge_on(&with_master(master), &cluster(&plain(3)));
        assert!(d.denials.is_empty() && d.warnings.is_empty(), "{master}: {d:#?}");
    }
    let d = judge_on(&with_master("bond2.99"), &cluster(&ovn(3)));
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn without_any_node_network_state_the_host_rules_are_silent() {
    let d = judge_on(&with_master("nothere"), &cluster(&[None, None]));
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn master_missing_names_the_nodes() {
    let mut states = ovn(3);
    states[1] = Some(edit_iface(&ovn_state("w", 31), "bond2", Value::Null));
    let m = only_denial(&judge_on(&reference_config(), &cluster(&states)), Rule::NadMasterMissing, MASTER);
    assert!(
        m.starts_with("Not found: \"bond2\": no such interface on worker-1 (1 of 3 virt-handler nodes)"),
        "{m}"
    );
    // many: the first few named, the rest counted
    let mut states = plain(10);
    for s in states.iter_mut().skip(3) {
        *s = Some(edit_iface(s.as_ref().unwrap(), "bond2", Value::Null));
    }
    let d = judge_on(&reference_config(), &cluster(&states));
    let m = only_denial(&d, Rule::NadMasterMissing, MASTER);
    assert!(m.contains("worker-3, worker-4, worker-5 and 4 more (7 of 10 virt-handler nodes)"), "{m}");
    // a VLAN master missing on a non-OVN host
    let mut states = plain(2);
    states[0] = Some(edit_iface(&plain_state("w", 30), "mig99", Value::Null));
    only_denial(&judge_on(&with_master("mig99"), &cluster(&states)), Rule::NadMasterMissing, MASTER);
}

#[test]
fn nodes_not_running_virt_handler_do_not_count() {
    let mut objs = cluster(&ovn(2));
    objs.push(node("infra-0", false));
    objs.push(obj(edit_iface(
        &set(&ovn_state("w", 40), "/metadata/name", json!("infra-0")),
        "bond2",
        Value::Null,
    )));
    let d = judge_on(&reference_config(), &objs);
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn master_unknown_warns_and_never_passes_silently() {
    let d =
        judge_on(&reference_config(), &cluster(&[Some(ovn_state("w", 30)), None, Some(ovn_state("w", 32))]));
    let m = only_warning(&d, Rule::NadMasterUnknown, MASTER);
    assert!(m.starts_with("1 of 3 virt-handler nodes have no readable NodeNetworkState (worker-1)"), "{m}");
    // an unreadable state counts as unknown, and says why
    let d = judge_on(
        &reference_config(),
        &cluster(&[
            Some(ovn_state("w", 30)),
            Some(
                json!({"kind":"NodeNetworkState","apiVersion":"nmstate.io/v1beta1","metadata":{},"status":{"currentState":{"interfaces":7}}}),
            ),
        ]),
    );
    let m = only_warning(&d, Rule::NadMasterUnknown, MASTER);
    assert!(
        m.contains("worker-1; worker-1: status.currentState.interfaces is a number, expected a list"),
        "{m}"
    );
    // every state unreadable: unknown, and nothing else judged
    let d = judge_on(
        &with_master("nothere"),
        &cluster(&[Some(json!({"apiVersion":"nmstate.io/v1beta1","kind":"NodeNetworkState","metadata":{}}))]),
    );
    only_warning(&d, Rule::NadMasterUnknown, MASTER);
}

#[test]
fn management_interfaces_are_denied_on_ovn_hosts() {
    for master in ["br-ex", "bond0", "eno1"] {
        let d = judge_on(&with_master(master), &cluster(&ovn(2)));
        let m = d
            .denials
            .iter()
            .find(|f| f.rule == Rule::NadMasterManagement)
            .unwrap_or_else(|| panic!("{master}: {d:#?}"));
        assert_eq!(m.field, MASTER);
        assert!(
            m.message.contains("on worker-0, worker-1 (there: bond0, br-ex, eno1, eno2)"),
            "{}",
            m.message
        );
    }
    // a VLAN on the uplink shares its link too
    let states: Vec<Option<Value>> = ovn(2)
        .into_iter()
        .map(|s| Some(add_iface(&s.unwrap(), json!({"name":"bond0.300","type":"vlan","state":"up","mtu":1500,"vlan":{"base-iface":"bond0","id":300}}))))
        .collect();
    only_denial(&judge_on(&with_master("bond0.300"), &cluster(&states)), Rule::NadMasterManagement, MASTER);
}

#[test]
fn management_interfaces_are_denied_on_plain_hosts_by_route_or_internal_ip() {
    for master in ["bond0", "bond0.200"] {
        only_denial(&judge_on(&with_master(master), &cluster(&plain(2))), Rule::NadMasterManagement, MASTER);
    }
    // no default route in the state: the Node's InternalIP (IPv6 here) finds the management bond
    let no_route = {
        let mut s = plain_state("w", 30);
        s["status"]["currentState"]["routes"] = json!({"running": []});
        edit_iface(&s, "bond0", json!({"ipv6":{"address":[{"ip":"fd30::30","prefix-length":64}]}}))
    };
    let objs =
        vec![node_with_ip("worker-0", "fd30::30"), obj(set(&no_route, "/metadata/name", json!("worker-0")))];
    only_denial(&judge_on(&with_master("bond0"), &objs), Rule::NadMasterManagement, MASTER);
    let objs =
        vec![node_with_ip("worker-0", "fd30::99"), obj(set(&no_route, "/metadata/name", json!("worker-0")))];
    let d = judge_on(&with_master("bond0"), &objs);
    assert!(d.denials.is_empty(), "{d:#?}");
}

#[test]
fn ports_of_bonds_and_bridges_are_denied() {
    let m = only_denial(&judge_on(&with_master("ens3f0"), &cluster(&plain(2))), Rule::NadMasterPort, MASTER);
    assert!(m.contains("is a port of bond2 on worker-0, worker-1: the kernel refuses"), "{m}");
    // bond1 is a port of the OVS localnet bridge br-vm
    let m = only_denial(&judge_on(&with_master("bond1"), &cluster(&ovn(2))), Rule::NadMasterPort, MASTER);
    assert!(m.contains("port of br-vm"), "{m}");
    // the free bond itself is fine (see the reference test)
}

#[test]
fn a_master_down_warns() {
    let mut states = ovn(3);
    states[2] = Some(edit_iface(&ovn_state("w", 32), "bond2", json!({"state": "down"})));
    let m = only_warning(&judge_on(&reference_config(), &cluster(&states)), Rule::NadMasterDown, MASTER);
    assert!(m.starts_with("\"bond2\" is down on worker-2"), "{m}");
    // ignore (not managed by NetworkManager) is no reason to warn
    states[2] = Some(edit_iface(&ovn_state("w", 32), "bond2", json!({"state": "ignore"})));
    let d = judge_on(&reference_config(), &cluster(&states));
    assert!(d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn mtu_above_the_masters_is_denied() {
    let mut states = plain(3);
    states[0] = Some(edit_iface(&plain_state("w", 30), "bond2", json!({"mtu": 1500})));
    let d = judge_on(&set(&reference_config(), "/mtu", json!(9000)), &cluster(&states));
    assert_eq!(denied(&d), [(Rule::NadMtuMaster, "spec.config.mtu".to_owned())]);
    assert!(
        d.denials[0].message.contains("above the MTU of \"bond2\" on worker-0 (lowest 1500)"),
        "{}",
        d.denials[0].message
    );
    assert_eq!(warned(&d), [(Rule::NadMtuMismatch, MASTER.to_owned())]);
    // at or below every master's MTU: fine
    for mtu in [9000, 1500] {
        let d = judge_on(&set(&reference_config(), "/mtu", json!(mtu)), &cluster(&plain(3)));
        assert!(d.denials.is_empty() && d.warnings.is_empty(), "{mtu}: {d:#?}");
    }
    // an absurd MTU in a state is unknown, not a number to compare
    let mut states = plain(2);
    states[0] = Some(edit_iface(&plain_state("w", 30), "bond2", json!({"mtu": 1e30})));
    let d = judge_on(&set(&reference_config(), "/mtu", json!(9000)), &cluster(&states));
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn mtu_mismatch_between_nodes_warns() {
    let mut states = ovn(3);
    states[1] = Some(edit_iface(&ovn_state("w", 31), "bond2", json!({"mtu": 1500})));
    let m = only_warning(&judge_on(&reference_config(), &cluster(&states)), Rule::NadMtuMismatch, MASTER);
    assert!(m.contains("(9000 on 2 nodes, 1500 on 1 node)"), "{m}");
}

#[test]
fn host_addresses_in_the_range_are_denied_unless_excluded() {
    let range = "spec.config.ipam.range";
    let mut states = plain(2);
    states[1] = Some(edit_iface(
        &plain_state("w", 31),
        "bond2",
        json!({"ipv4":{"enabled":true,"address":[{"ip":"192.168.99.10","prefix-length":24}]}}),
    ));
    let m = only_denial(&judge_on(&reference_config(), &cluster(&states)), Rule::NadRangeHostAddress, range);
    assert!(
        m.contains("192.168.99.10 is configured on \"bond2\" of worker-1: whereabouts can hand it"),
        "{m}"
    );
    for (key, value) in [("exclude", json!(["192.168.99.0/28"])), ("range_start", json!("192.168.99.20"))] {
        let cfg = set(&reference_config(), &format!("/ipam/{key}"), value);
        let d = judge_on(&cfg, &cluster(&states));
        assert!(d.denials.is_empty(), "{key}: {d:#?}");
    }
    // IPv6
    let v6 = set(&reference_config(), "/ipam/range", json!("fd99::/64"));
    let mut states = ovn(2);
    states[0] = Some(edit_iface(
        &ovn_state("w", 30),
        "bond2",
        json!({"ipv6":{"enabled":true,"address":[{"ip":"fd99::5","prefix-length":64}]}}),
    ));
    let m = only_denial(&judge_on(&v6, &cluster(&states)), Rule::NadRangeHostAddress, range);
    assert!(m.contains("fd99::5 is configured on \"bond2\" of worker-0"), "{m}");
    // an address outside the range, or on another interface, is no concern
    let outside = set(&reference_config(), "/ipam/range", json!("192.168.98.0/24"));
    let mut states = plain(2);
    states[0] = Some(edit_iface(
        &plain_state("w", 30),
        "ens4",
        json!({"ipv4":{"address":[{"ip":"192.168.99.10","prefix-length":24}]}}),
    ));
    assert!(judge_on(&reference_config(), &cluster(&states)).denials.is_empty());
    assert!(judge_on(&outside, &cluster(&plain(2))).denials.is_empty());
}

#[test]
fn a_hyperconverged_naming_the_nad_reports_the_same_rule_ids() {
    let mut states = ovn(2);
    states[0] = Some(edit_iface(&ovn_state("w", 30), "bond2", Value::Null));
    states[1] = Some(edit_iface(&ovn_state("w", 31), "bond2", json!({"state": "down"})));
    let mut objs = cluster(&states);
    objs.push(nad(&reference_config()));
    let refs: Vec<&DynamicObject> = objs.iter().collect();
    let d = judge(&hc(HcVersion::V1Beta1, reference_hc_lm()), &refs);
    let field = "spec.liveMigrationConfig.network";
    assert_eq!(denied(&d), [(Rule::NadMasterMissing, field.to_owned())], "{d:#?}");
    assert!(
        d.denials[0]
            .message
            .starts_with("NetworkAttachmentDefinition openshift-cnv/migration-bridge: Not found: \"bond2\""),
        "{}",
        d.denials[0].message
    );
    assert_eq!(warned(&d), [(Rule::NadMasterDown, field.to_owned())]);
    // a host problem alongside another denial: both, each under its own id
    let mut objs = cluster(&states);
    objs.push(nad(&set(&reference_config(), "/mode", json!("nope"))));
    let refs: Vec<&DynamicObject> = objs.iter().collect();
    let d = judge(&hc(HcVersion::V1, reference_hc_lm()), &refs);
    let rules: Vec<Rule> = d.denials.iter().map(|f| f.rule).collect();
    assert_eq!(rules, [Rule::NadMasterMissing, Rule::HcNetworkInvalid], "{d:#?}");
    assert!(!d.denials[1].message.contains("bond2"), "{}", d.denials[1].message);
}

#[test]
fn disabled_host_rules_stay_quiet() {
    let policy = crate::policy::Policy::from_yaml("disabledRules: [nad-master-missing]").unwrap();
    let mut states = ovn(2);
    states[0] = Some(edit_iface(&ovn_state("w", 30), "bond2", Value::Null));
    let mut objs = cluster(&states);
    let n = nad(&reference_config());
    objs.push(n.clone());
    let refs: Vec<&DynamicObject> = objs.iter().collect();
    let v = crate::policy::feed::view_of(&policy, refs.iter().copied());
    let d = judge_with(&policy, crate::policy::Operation::Create, &n, None, &v);
    assert!(d.denials.is_empty(), "{d:#?}");
}
