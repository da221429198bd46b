use serde_json::{Value, json};

use crate::policy::{HcVersion, Operation, Policy, Rule, testutil::*};

fn cfg(pointer: &str, value: Value) -> Value {
    set(&reference_config(), pointer, value)
}

fn judge_cfg(config: &Value) -> crate::policy::Decision {
    judge(&nad(config), &[])
}

#[test]
fn reference_nad_is_admitted_clean() {
    let d = judge_cfg(&reference_config());
    assert!(d.allowed());
    assert!(d.denials.is_empty() && d.warnings.is_empty() && d.patch.0.is_empty(), "{d:#?}");
}

#[test]
fn namespace() {
    let d = judge(&nad_in("default", "migration-bridge", &reference_config()), &[]);
    let m = only_denial(&d, Rule::NadNamespace, "metadata.namespace");
    assert!(m.starts_with("Invalid value: \"default\": "), "{m}");
    assert!(m.contains("\"openshift-cnv\""), "{m}");
}

#[test]
fn migration_nads_are_found_by_label_reference_and_glob() {
    let broken = unset(&reference_config(), "/master");
    // glob
    assert!(!judge(&nad_in(NS, "my-migration-net", &broken), &[]).allowed());
    // not a migration NAD: anything goes
    assert!(judge(&nad_in(NS, "vm-net", &broken), &[]).allowed());
    // label true
    assert!(!judge(&with_label(nad_in(NS, "vm-net", &broken), "true"), &[]).allowed());
    // named by a HyperConverged
    let hc = hc(HcVersion::V1Beta1, json!({"network": "vm-net"}));
    assert!(!judge(&nad_in(NS, "vm-net", &broken), &[&hc]).allowed());
    // label false opts out of glob and reference
    assert!(judge(&with_label(nad_in(NS, "my-migration-net", &broken), "false"), &[&hc]).allowed());
    assert!(judge(&with_label(nad_in(NS, "vm-net", &broken), "false"), &[&hc]).allowed());
}

#[test]
fn config_missing_or_empty() {
    for config in [json!(""), json!("   ")] {
        let m = only_denial(&judge_cfg(&config), Rule::NadConfigMissing, "spec.config");
        assert!(m.starts_with("Required value: "), "{m}");
    }
    let no_spec = obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":"migration-bridge","namespace":NS}}));
    only_denial(&judge(&no_spec, &[]), Rule::NadConfigMissing, "spec.config");
}

#[test]
fn config_invalid() {
    let m = only_denial(&judge_cfg(&json!("{\"type\": macvlan}")), Rule::NadConfigInvalid, "spec.config");
    assert!(m.contains("not valid JSON") && m.contains("column"), "{m}");
    let list = json!({"cniVersion":"0.3.1","name":"m","plugins":[{"type":"macvlan"},{"type:":"tuning"}]});
    only_denial(&judge_cfg(&list), Rule::NadConfigInvalid, "spec.config.plugins[1].type");
}

#[test]
fn cni_version() {
    let m = only_denial(
        &judge_cfg(&cfg("/cniVersion", json!("0.5.0"))),
        Rule::NadCniVersion,
        "spec.config.cniVersion",
    );
    assert!(m.starts_with("Unsupported value: \"0.5.0\": supported values: \"0.1.0\""), "{m}");
    only_denial(&judge_cfg(&cfg("/cniVersion", json!(1))), Rule::NadCniVersion, "spec.config.cniVersion");
    // libcni reads a single config without a cniVersion; a conflist must have one
    let d = judge_cfg(&unset(&reference_config(), "/cniVersion"));
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
    let mut main = unset(&reference_config(), "/cniVersion");
    main.as_object_mut().unwrap().remove("name");
    let list = json!({"name": "migration-bridge", "plugins": [main, {"type": "tuning"}]});
    let m = only_denial(&judge_cfg(&list), Rule::NadCniVersion, "spec.config.cniVersion");
    assert!(m.starts_with("Required value: a conflist"), "{m}");
}

#[test]
fn config_that_is_not_a_string_is_denied_for_every_nad() {
    let mapping = reference_config();
    for name in ["migration-bridge", "tenant-net"] {
        let n = obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
            "metadata":{"name":name,"namespace":NS},"spec":{"config":mapping}}));
        let m = only_denial(&judge(&n, &[]), Rule::NadConfigInvalid, "spec.config");
        assert!(m.starts_with("Invalid value: {\"cniVersion\""), "{m}");
        assert!(m.contains("must be a string holding the JSON CNI config"), "{name}: {m}");
    }
    // a migration NAD elsewhere is still told where it belongs
    let n = obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":"migration-bridge","namespace":"vms"},"spec":{"config":["x"]}}));
    let rules: Vec<Rule> = judge(&n, &[]).denials.iter().map(|d| d.rule).collect();
    assert_eq!(rules, [Rule::NadConfigInvalid, Rule::NadNamespace]);
}

#[test]
fn denials_say_why_a_nad_is_a_migration_nad() {
    let bridge = cfg("/type", json!("bridge"));
    let first = |n: &kube::core::DynamicObject, others: &[&kube::core::DynamicObject]| {
        judge(n, others).denials.first().map(|d| d.message.clone()).unwrap_or_default()
    };
    // by name glob, with how to opt out
    let m = first(&nad_in("harvester-system", "vm-migration-network", &bridge), &[]);
    assert!(m.starts_with("Invalid value: \"harvester-system\""), "{m}");
    assert!(
        m.ends_with(
            "(judged as a live-migration NAD: its name matches \"*migration*\"; if it is not one, label it \
             mignet.io/live-migration: \"false\")"
        ),
        "{m}"
    );
    // said once: the plugin type denial that follows does not repeat it
    let d = judge(&nad_in("harvester-system", "vm-migration-network", &bridge), &[]);
    assert_eq!(d.denials.len(), 2);
    assert!(!d.denials[1].message.contains("judged as"), "{d:#?}");
    // by label
    let m = first(&with_label(nad_in(NS, "fast-lane", &bridge), "true"), &[]);
    assert!(
        m.ends_with("(judged as a live-migration NAD: labelled mignet.io/live-migration: \"true\")"),
        "{m}"
    );
    // named by a HyperConverged: no opt-out offered, the HyperConverged needs it
    let h = hc(HcVersion::V1Beta1, json!({"network": "fast-lane"}));
    let m = first(&nad_in(NS, "fast-lane", &bridge), &[&h]);
    assert!(
        m.ends_with(
            "(judged as a live-migration NAD: HyperConverged openshift-cnv/kubevirt-hyperconverged names it as its network)"
        ),
        "{m}"
    );
    // rules that do not depend on it being a migration NAD are not annotated
    let m = first(&nad(&cfg("/mode", json!("passthrough"))), &[]);
    assert!(!m.contains("judged as"), "{m}");
}

#[test]
fn names_without_a_namespace_have_no_leading_slash() {
    let tenant = nad_in(
        "",
        "ptp-mac",
        &json!({"cniVersion":"0.3.1","type":"macvlan",
        "ipam":{"type":"whereabouts","range":"192.168.99.0/26"}}),
    );
    let m = only_denial(
        &judge(&nad(&reference_config()), &[&tenant]),
        Rule::NadOverlapNad,
        "spec.config.ipam.range",
    );
    assert!(m.contains("overlaps NetworkAttachmentDefinition ptp-mac (192.168.99.0/26)"), "{m}");
    assert!(!m.contains(" /"), "{m}");
}

#[test]
fn plugin_type() {
    let m = only_denial(&judge_cfg(&cfg("/type", json!("bridge"))), Rule::NadPluginType, "spec.config.type");
    assert!(m.starts_with("Unsupported value: \"bridge\": supported values: \"macvlan\" (judged as"), "{m}");
}

#[test]
fn conflist_main_plugin_and_chained_plugins() {
    let mut main = reference_config();
    let main = main.as_object_mut().unwrap();
    main.remove("cniVersion");
    main.remove("name");
    let list =
        json!({"cniVersion":"1.0.0","name":"migration-bridge","plugins":[main.clone(),{"type":"tuning"}]});
    let d = judge_cfg(&list);
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
    let no_master = set(&list, "/plugins/0/master", Value::Null);
    only_denial(&judge_cfg(&no_master), Rule::NadMaster, "spec.config.plugins[0].master");
}

#[test]
fn master() {
    let m = only_denial(
        &judge_cfg(&unset(&reference_config(), "/master")),
        Rule::NadMaster,
        "spec.config.master",
    );
    assert!(m.starts_with("Required value: ") && m.contains("default-route"), "{m}");
    for bad in ["", "this-name-is-too-long", "a/b", "eth 1", "bond:1", ".."] {
        let m = only_denial(&judge_cfg(&cfg("/master", json!(bad))), Rule::NadMaster, "spec.config.master");
        assert!(m.contains("not a Linux interface name"), "{bad}: {m}");
    }
    for forbidden in ["br-ex", "br-int", "lo", "br-ex.100"] {
        only_denial(&judge_cfg(&cfg("/master", json!(forbidden))), Rule::NadMaster, "spec.config.master");
    }
    only_denial(&judge_cfg(&cfg("/master", json!(7))), Rule::NadMaster, "spec.config.master");
}

#[test]
fn management_interfaces_and_their_vlans() {
    let policy = Policy::from_yaml("managementInterfaces: [bond0]").unwrap();
    let j = |master: &str| {
        let n = nad(&cfg("/master", json!(master)));
        judge_with(&policy, Operation::Create, &n, None, &view(&[&n]))
    };
    let m = only_denial(&j("bond0"), Rule::NadMaster, "spec.config.master");
    assert!(m.contains("management interface"), "{m}");
    let w = only_warning(&j("bond0.120"), Rule::NadMasterShared, "spec.config.master");
    assert!(w.contains("bond0"), "{w}");
    assert!(j("bond1.120").warnings.is_empty());
}

#[test]
fn mode() {
    let m = only_denial(&judge_cfg(&cfg("/mode", json!("passthrough"))), Rule::NadMode, "spec.config.mode");
    assert_eq!(
        m,
        r#"Unsupported value: "passthrough": supported values: "bridge", "private", "vepa", "passthru""#
    );
    only_warning(&judge_cfg(&cfg("/mode", json!("passthru"))), Rule::NadModePassthru, "spec.config.mode");
    for ok in ["private", "vepa", ""] {
        assert!(judge_cfg(&cfg("/mode", json!(ok))).denials.is_empty());
    }
    assert!(judge_cfg(&unset(&reference_config(), "/mode")).denials.is_empty());
}

#[test]
fn mtu() {
    for ok in [json!(0), json!(68), json!(9000), json!(65535)] {
        assert!(judge_cfg(&cfg("/mtu", ok.clone())).denials.is_empty(), "{ok}");
    }
    for bad in
        [json!(67), json!(65536), json!(-1), json!("1500"), json!(1500.5), json!(18446744073709551615u64)]
    {
        only_denial(&judge_cfg(&cfg("/mtu", bad)), Rule::NadMtu, "spec.config.mtu");
    }
}

#[test]
fn ipam() {
    let m = only_denial(&judge_cfg(&unset(&reference_config(), "/ipam")), Rule::NadIpam, "spec.config.ipam");
    assert!(m.contains("crash-loops"), "{m}");
    only_denial(&judge_cfg(&cfg("/ipam", json!({}))), Rule::NadIpam, "spec.config.ipam.type");
    let m = only_denial(
        &judge_cfg(&cfg("/ipam", json!({"type":"host-local","subnet":"192.168.99.0/24"}))),
        Rule::NadIpam,
        "spec.config.ipam.type",
    );
    assert!(
        m.starts_with("Unsupported value: \"host-local\": supported values: \"whereabouts\" (judged"),
        "{m}"
    );
    // the fix names no subnet: which one is free depends on the cluster
    let m = only_denial(&judge_cfg(&unset(&reference_config(), "/ipam")), Rule::NadIpam, "spec.config.ipam");
    assert!(m.contains("a range of its own"), "{m}");
    // ... and suggests /24s free in the view, not a fixed subnet
    assert!(m.contains("(free here: 192.168.0.0/24, 192.168.1.0/24)"), "{m}");
}

#[test]
fn other_allowed_ipam_types_are_still_placed() {
    let policy = Policy::from_yaml("allowedIpamTypes: [whereabouts, host-local]").unwrap();
    let n = nad(&cfg("/ipam", json!({"type":"host-local","subnet":"10.128.4.0/24"})));
    let d = judge_with(&policy, Operation::Create, &n, None, &view(&[&n]));
    only_denial(&d, Rule::NadOverlapReserved, "spec.config.ipam.subnet");
}

#[test]
fn range_syntax() {
    only_denial(
        &judge_cfg(&unset(&reference_config(), "/ipam/range")),
        Rule::NadRange,
        "spec.config.ipam.range",
    );
    let m = only_denial(
        &judge_cfg(&cfg("/ipam/range", json!("192.168.99.0"))),
        Rule::NadRange,
        "spec.config.ipam.range",
    );
    assert!(m.starts_with("Invalid value: \"192.168.99.0\": not a CIDR"), "{m}");
    let m = only_denial(
        &judge_cfg(&cfg("/ipam/range", json!("192.168.99.200-192.168.99.10/24"))),
        Rule::NadRange,
        "spec.config.ipam.range",
    );
    assert!(m.contains("after end"), "{m}");
    only_denial(
        &judge_cfg(&cfg("/ipam/range", json!("192.168.98.1-192.168.99.10/24"))),
        Rule::NadRange,
        "spec.config.ipam.range",
    );
    let ip_ranges =
        cfg("/ipam", json!({"type":"whereabouts","ipRanges":[{"range":"192.168.99.0/24"},{"exclude":[]}]}));
    only_denial(&judge_cfg(&ip_ranges), Rule::NadRange, "spec.config.ipam.ipRanges[1].range");
    let start_end = cfg("/ipam/range", json!("192.168.99.10-192.168.99.200/24"));
    assert!(judge_cfg(&start_end).denials.is_empty());
}

#[test]
fn host_bits_warn() {
    let w = only_warning(
        &judge_cfg(&cfg("/ipam/range", json!("192.168.99.7/24"))),
        Rule::NadRangeHostBits,
        "spec.config.ipam.range",
    );
    assert!(w.contains("192.168.99.0/24"), "{w}");
}

#[test]
fn range_start_and_end() {
    let j = |start: Value, end: Value| {
        judge_cfg(&cfg(
            "/ipam",
            json!({"type":"whereabouts","range":"192.168.99.0/24","range_start":start,"range_end":end}),
        ))
    };
    assert!(j(json!("192.168.99.10"), json!("192.168.99.20")).denials.is_empty());
    let m = only_denial(
        &j(json!("192.168.98.10"), Value::Null),
        Rule::NadRangeBounds,
        "spec.config.ipam.range_start",
    );
    assert!(m.contains("outside the range 192.168.99.0/24"), "{m}");
    only_denial(&j(json!("nope"), Value::Null), Rule::NadRangeBounds, "spec.config.ipam.range_start");
    only_denial(
        &j(json!("192.168.99.30"), json!("192.168.99.20")),
        Rule::NadRangeBounds,
        "spec.config.ipam.range_end",
    );
    let per_entry = cfg(
        "/ipam",
        json!({"type":"whereabouts","ipRanges":[{"range":"192.168.99.0/24","range_end":"192.168.100.1"}]}),
    );
    only_denial(&judge_cfg(&per_entry), Rule::NadRangeBounds, "spec.config.ipam.ipRanges[0].range_end");
}

#[test]
fn excludes() {
    let j = |ex: Value| {
        judge_cfg(&cfg("/ipam", json!({"type":"whereabouts","range":"192.168.99.0/24","exclude":ex})))
    };
    assert!(j(json!(["192.168.99.0/28", "192.168.99.250"])).denials.is_empty());
    let m = only_denial(&j(json!(["10.0.0.0/24"])), Rule::NadExclude, "spec.config.ipam.exclude[0]");
    assert!(m.contains("outside the range"), "{m}");
    only_denial(&j(json!(["x"])), Rule::NadExclude, "spec.config.ipam.exclude[0]");
    only_denial(
        &j(json!(["192.168.99.0/25", "192.168.99.128/25"])),
        Rule::NadExclude,
        "spec.config.ipam.exclude",
    );
}

#[test]
fn gateway() {
    let j = |ipam: Value| judge_cfg(&cfg("/ipam", ipam));
    let m = only_denial(
        &j(json!({"type":"whereabouts","range":"192.168.99.0/24","gateway":"192.168.100.1"})),
        Rule::NadGateway,
        "spec.config.ipam.gateway",
    );
    assert!(m.contains("outside every range"), "{m}");
    only_warning(
        &j(json!({"type":"whereabouts","range":"192.168.99.0/24","gateway":"192.168.99.1"})),
        Rule::NadGatewayAllocatable,
        "spec.config.ipam.gateway",
    );
    let excluded = j(
        json!({"type":"whereabouts","range":"192.168.99.0/24","gateway":"192.168.99.1","exclude":["192.168.99.1/32"]}),
    );
    assert!(excluded.denials.is_empty() && excluded.warnings.is_empty(), "{excluded:#?}");
    let outside_start =
        j(json!({"type":"whereabouts","range":"192.168.99.10-192.168.99.20/24","gateway":"192.168.99.1"}));
    assert!(outside_start.warnings.is_empty(), "{outside_start:#?}");
}

#[test]
fn too_small() {
    for r in ["192.168.99.0/31", "192.168.99.1/32", "fd00::/127", "fd00::1/128"] {
        let d = judge_cfg(&cfg("/ipam/range", json!(r)));
        assert!(
            denied(&d).contains(&(Rule::NadRangeTooSmall, "spec.config.ipam.range".into())),
            "{r}: {d:#?}"
        );
    }
}

#[test]
fn self_overlap() {
    let c = cfg(
        "/ipam",
        json!({"type":"whereabouts","range":"192.168.99.0/24","ipRanges":[{"range":"192.168.99.128/25"},{"range":"fd00:99::/64"}]}),
    );
    let m = only_denial(&judge_cfg(&c), Rule::NadRangeSelfOverlap, "spec.config.ipam.ipRanges[0].range");
    assert!(m.contains("spec.config.ipam.range"), "{m}");
}

#[test]
fn unroutable() {
    for (r, what) in [
        ("127.0.0.0/24", "loopback"),
        ("169.254.1.0/24", "link-local"),
        ("fe80::/64", "link-local"),
        ("224.1.0.0/16", "multicast"),
    ] {
        let m = only_denial(
            &judge_cfg(&cfg("/ipam/range", json!(r))),
            Rule::NadRangeUnroutable,
            "spec.config.ipam.range",
        );
        assert!(m.contains(what), "{m}");
    }
    let d = judge_cfg(&cfg("/ipam/range", json!("0.0.0.0/0")));
    assert!(denied(&d).iter().any(|(r, _)| *r == Rule::NadRangeUnroutable));
    assert!(denied(&d).iter().any(|(r, _)| *r == Rule::NadOverlapReserved));
}

#[test]
fn capacity() {
    let nodes: Vec<_> = (0..4).map(|i| node(&format!("w{i}"), true)).collect();
    let refs: Vec<_> = nodes.iter().collect();
    let small = nad(&cfg("/ipam/range", json!("192.168.99.0/30")));
    let m = only_denial(&judge(&small, &refs), Rule::NadCapacity, "spec.config.ipam.range");
    assert!(m.contains("2 usable addresses for 4 virt-handler nodes"), "{m}");
    let tight = nad(&cfg("/ipam/range", json!("192.168.99.0/29")));
    only_warning(&judge(&tight, &refs), Rule::NadCapacityLow, "spec.config.ipam.range");
    // excludes count against capacity
    let excl = nad(&cfg(
        "/ipam",
        json!({"type":"whereabouts","range":"192.168.99.0/28","exclude":["192.168.99.0/29"]}),
    ));
    only_warning(&judge(&excl, &refs), Rule::NadCapacityLow, "spec.config.ipam.range");
    // no nodes known: no judgement
    assert!(judge(&small, &[]).denials.is_empty());
    // unlabelled nodes only count when no node is labelled
    let others: Vec<_> = (0..5).map(|i| node(&format!("n{i}"), false)).collect();
    let mut mixed: Vec<_> = others.iter().collect();
    mixed.push(&nodes[0]);
    assert!(judge(&small, &mixed).denials.is_empty());
    let unlabelled: Vec<_> = others.iter().collect();
    only_denial(&judge(&small, &unlabelled), Rule::NadCapacity, "spec.config.ipam.range");
}

#[test]
fn ipv6_capacity_leaves_out_the_first_and_the_all_ones_address() {
    // whereabouts hands out fd00:99::1 to fd00:99::6 from a /125: six addresses, not eight
    let v6 = nad(&cfg("/ipam/range", json!("fd00:99::/125")));
    let nodes: Vec<_> = (0..7).map(|i| node(&format!("w{i}"), true)).collect();
    let seven: Vec<_> = nodes.iter().collect();
    let m = only_denial(&judge(&v6, &seven), Rule::NadCapacity, "spec.config.ipam.range");
    assert!(m.contains("6 usable addresses for 7 virt-handler nodes"), "{m}");
    let d = judge(&v6, &seven[..6]);
    assert!(d.allowed(), "{d:#?}");
    let w = only_warning(&d, Rule::NadCapacityLow, "spec.config.ipam.range");
    assert!(w.contains("6 addresses for 6 nodes"), "{w}");
    // the same holds in an ipRanges entry, and range_start narrows it the same way in both families
    let entry = nad(&cfg(
        "/ipam",
        json!({"type":"whereabouts","ipRanges":[{"range":"fd00:99::/125","range_start":"fd00:99::2"}]}),
    ));
    let m = only_denial(&judge(&entry, &seven[..6]), Rule::NadCapacity, "spec.config.ipam.ipRanges[0].range");
    assert!(m.contains("5 usable addresses for 6 virt-handler nodes"), "{m}");
}

#[test]
fn bounds_beside_a_start_end_range_are_ignored_by_whereabouts() {
    let d = judge_cfg(&cfg(
        "/ipam",
        json!({"type":"whereabouts","range":"192.168.99.10-192.168.99.20/24","range_start":"192.168.99.15"}),
    ));
    let m = only_denial(&d, Rule::NadRangeBounds, "spec.config.ipam.range_start");
    assert!(m.contains("ignores range_start") && m.contains("192.168.99.0/24"), "{m}");
}

#[test]
fn ipv6_gateway_on_the_all_ones_address_is_never_handed_out() {
    let j = |gw: &str| {
        judge_cfg(&cfg("/ipam", json!({"type":"whereabouts","range":"fd00:99::/125","gateway":gw})))
    };
    let top = j("fd00:99::7");
    assert!(top.denials.is_empty() && top.warnings.is_empty(), "{top:#?}");
    only_warning(&j("fd00:99::6"), Rule::NadGatewayAllocatable, "spec.config.ipam.gateway");
}

#[test]
fn reserved_ranges() {
    let m = only_denial(
        &judge_cfg(&cfg("/ipam/range", json!("10.129.64.0/24"))),
        Rule::NadOverlapReserved,
        "spec.config.ipam.range",
    );
    assert_eq!(
        m,
        "Invalid value: \"10.129.64.0/24\": overlaps the pod network 10.128.0.0/14; free ranges of this size: \
         10.132.0.0/24, 10.132.1.0/24"
    );
    let m = only_denial(
        &judge_cfg(&cfg("/ipam/range", json!("172.30.8.0/24"))),
        Rule::NadOverlapReserved,
        "spec.config.ipam.range",
    );
    assert!(
        m.ends_with("overlaps the service network 172.30.0.0/16; free ranges of this size: 172.31.0.0/24, 172.31.1.0/24"),
        "{m}"
    );
    for r in ["10.0.1.0/24", "100.64.3.0/24", "100.88.0.0/24", "fd98::/64", "fd97::/64", "fd69::/120"] {
        only_denial(
            &judge_cfg(&cfg("/ipam/range", json!(r))),
            Rule::NadOverlapReserved,
            "spec.config.ipam.range",
        );
    }
}

#[test]
fn cluster_network_config_replaces_defaults() {
    let network = obj(
        json!({"apiVersion":"config.openshift.io/v1","kind":"Network","metadata":{"name":"cluster"},
        "spec":{"clusterNetwork":[{"cidr":"10.132.0.0/14","hostPrefix":23}],"serviceNetwork":["172.31.0.0/16"]}}),
    );
    assert!(judge(&nad(&cfg("/ipam/range", json!("10.129.64.0/24"))), &[&network]).allowed());
    let m = only_denial(
        &judge(&nad(&cfg("/ipam/range", json!("10.133.0.0/24"))), &[&network]),
        Rule::NadOverlapReserved,
        "spec.config.ipam.range",
    );
    assert!(m.contains("pod network 10.132.0.0/14 (from Network cluster spec.clusterNetwork)"), "{m}");
}

#[test]
fn policy_reserved_ranges() {
    let policy = Policy::from_yaml(
        "reservedRanges:\n  additional:\n  - {name: storage network, cidr: 192.168.0.0/16}\n",
    )
    .unwrap();
    let n = nad(&reference_config());
    let d = judge_with(&policy, Operation::Create, &n, None, &view(&[&n]));
    let m = only_denial(&d, Rule::NadOverlapReserved, "spec.config.ipam.range");
    // the suggestions leave the policy's additional range too
    assert!(
        m.ends_with("overlaps the storage network 192.168.0.0/16; free ranges of this size: 172.16.0.0/24, 172.16.1.0/24"),
        "{m}"
    );
}

#[test]
fn overlap_with_other_nads() {
    let other = nad_in(
        "vms",
        "tenant-a",
        &json!({"cniVersion":"0.3.1","type":"bridge","ipam":{"type":"host-local","subnet":"192.168.99.128/25"}}),
    );
    let m = only_denial(
        &judge(&nad(&reference_config()), &[&other]),
        Rule::NadOverlapNad,
        "spec.config.ipam.range",
    );
    assert_eq!(
        m,
        "Invalid value: \"192.168.99.0/24\": overlaps NetworkAttachmentDefinition vms/tenant-a (192.168.99.128/25); \
         free ranges of this size: 192.168.100.0/24, 192.168.101.0/24"
    );
    let apart = nad_in(
        "vms",
        "tenant-b",
        &json!({"type":"bridge","ipam":{"type":"host-local","subnet":"192.168.100.0/24"}}),
    );
    assert!(judge(&nad(&reference_config()), &[&apart]).allowed());
}

#[test]
fn many_overlaps_stay_one_short_line() {
    let others: Vec<_> = (0..50)
        .map(|i| nad_in("vms", &format!("n{i:02}"), &json!({"type":"bridge","ipam":{"type":"static","addresses":[{"address":format!("192.168.99.{i}/32")}]}})))
        .collect();
    let refs: Vec<_> = others.iter().collect();
    let m =
        only_denial(&judge(&nad(&reference_config()), &refs), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(m.contains("and 47 more; free ranges of this size: 192.168.100.0/24, 192.168.101.0/24"), "{m}");
}

#[test]
fn other_nads_stay_off_the_migration_subnet() {
    let migration = nad(&reference_config());
    let vm_net = nad_in(
        "vms",
        "vm-net",
        &json!({"cniVersion":"0.3.1","type":"bridge","ipam":{"type":"whereabouts","range":"192.168.99.64/26"}}),
    );
    let m = only_denial(&judge(&vm_net, &[&migration]), Rule::NadOverlapMigration, "spec.config.ipam.range");
    assert!(m.contains("openshift-cnv/migration-bridge (192.168.99.0/24)"), "{m}");
    let elsewhere = nad_in(
        "vms",
        "vm-net",
        &json!({"type":"bridge","ipam":{"type":"whereabouts","range":"10.200.0.0/24"}}),
    );
    assert!(judge(&elsewhere, &[&migration]).allowed());
    let garbage = nad_in("vms", "vm-net", &json!("not json at all"));
    assert!(judge(&garbage, &[&migration]).allowed());
    // two non-migration NADs may overlap each other: not ours to police
    let a =
        nad_in("vms", "a", &json!({"type":"bridge","ipam":{"type":"host-local","subnet":"10.200.0.0/24"}}));
    assert!(judge(&elsewhere, &[&a]).allowed());
}

#[test]
fn tenants_stay_off_migration_nads_found_by_label_reference_and_name_only() {
    let on = |range: &str| set(&reference_config(), "/ipam/range", json!(range));
    let labelled = with_label(nad_in(NS, "storage-net", &on("192.168.50.0/24")), "true");
    let referenced = nad_in(NS, "fast-lane", &on("192.168.60.0/24"));
    let hc = hc(HcVersion::V1Beta1, json!({"network": "fast-lane"}));
    let opted_out = with_label(nad_in(NS, "migration-old", &on("192.168.70.0/24")), "false");
    let named = nad_in(NS, "migration-bridge", &on("192.168.99.0/24"));
    // a thousand tenants share 192.168.80.0/24 with nothing to do with migration
    let crowd: Vec<_> = (0..1000)
        .map(|i| {
            nad_in(
                &format!("t{i}"),
                "shared",
                &json!({"type":"bridge","ipam":{"type":"whereabouts","range":"192.168.80.0/24"}}),
            )
        })
        .collect();
    let mut state = vec![&labelled, &referenced, &hc, &opted_out, &named];
    state.extend(crowd.iter());
    let v = view(&state);
    let tenant = |range: &str| {
        nad_in("vms", "vm-net", &json!({"type":"bridge","ipam":{"type":"whereabouts","range": range}}))
    };
    let verdict = |range: &str| judge_with(&Policy::default(), Operation::Create, &tenant(range), None, &v);
    for (range, owner) in [
        ("192.168.50.128/25", "openshift-cnv/storage-net"),
        ("192.168.60.0/26", "openshift-cnv/fast-lane"),
        ("192.168.99.0/24", "openshift-cnv/migration-bridge"),
        (
            "192.168.0.0/16",
            "openshift-cnv/fast-lane (192.168.60.0/24), openshift-cnv/migration-bridge (192.168.99.0/24), \
             openshift-cnv/storage-net (192.168.50.0/24): ",
        ),
    ] {
        let m = only_denial(&verdict(range), Rule::NadOverlapMigration, "spec.config.ipam.range");
        assert!(m.contains(owner) && !m.contains("migration-old") && !m.contains("shared"), "{range}: {m}");
    }
    assert!(verdict("192.168.70.0/24").allowed(), "opted out by its label");
    assert!(verdict("192.168.80.0/24").allowed(), "tenants may share a range");
}

#[test]
fn deleting_the_nad_in_use_is_denied() {
    let n = nad(&reference_config());
    let hc = hc(HcVersion::V1Beta1, reference_hc_lm());
    let v = view(&[&n, &hc]);
    let d = judge_with(&Policy::default(), Operation::Delete, &n, None, &v);
    let m = only_denial(&d, Rule::NadInUse, "metadata.name");
    assert!(
        m.contains("openshift-cnv/kubevirt-hyperconverged") && m.contains("liveMigrationConfig.network"),
        "{m}"
    );
    let unused = nad_in(NS, "spare-migration", &reference_config());
    assert!(judge_with(&Policy::default(), Operation::Delete, &unused, None, &v).allowed());
}

#[test]
fn changing_ranges_of_the_nad_in_use_warns() {
    let old = nad(&reference_config());
    let new = nad(&cfg("/ipam/range", json!("192.168.100.0/24")));
    let hc = hc(HcVersion::V1Beta1, reference_hc_lm());
    let v = view(&[&old, &hc]);
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&old), &v);
    only_warning(&d, Rule::NadInUseRangeChange, "spec.config");
    let same = judge_with(&Policy::default(), Operation::Update, &old, Some(&old), &v);
    assert!(same.warnings.is_empty());
}

#[test]
fn an_update_never_conflicts_with_its_old_self() {
    let old = nad(&reference_config());
    let new = nad(&cfg("/ipam/range", json!("192.168.99.0/25")));
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&old), &view(&[&old]));
    assert!(d.allowed(), "{d:#?}");
}

#[test]
fn disabled_rules_do_not_fire() {
    let policy = Policy::from_yaml("disabledRules: [nad-master, nad-overlap-reserved]").unwrap();
    let n = nad(&unset(&cfg("/ipam/range", json!("10.129.0.0/24")), "/master"));
    let d = judge_with(&policy, Operation::Create, &n, None, &view(&[&n]));
    assert!(d.allowed(), "{d:#?}");
    assert!(!judge(&n, &[]).allowed());
}

#[test]
fn ovn_kubernetes_secondary_networks_stay_off_the_migration_subnet() {
    let migration = nad(&reference_config());
    let ovn = |topology: &str, subnets: &str, excludes: Option<&str>| {
        let mut c = json!({"cniVersion":"0.3.1","name":"tenant","type":"ovn-k8s-cni-overlay",
            "topology":topology,"subnets":subnets,"netAttachDefName":"vms/tenant"});
        if let Some(e) = excludes {
            c["excludeSubnets"] = json!(e);
        }
        nad_in("vms", "tenant", &c)
    };
    // localnet shares the wire: denied, and told about excludeSubnets
    let m = only_denial(
        &judge(&ovn("localnet", "192.168.99.0/24", None), &[&migration]),
        Rule::NadOverlapMigration,
        "spec.config.subnets",
    );
    assert!(m.starts_with("Invalid value: \"192.168.99.0/24\": overlaps the live-migration network"), "{m}");
    assert!(m.contains("physical segment") && m.contains("excludeSubnets"), "{m}");
    // a wider localnet that leaves the migration subnet out is fine
    assert!(judge(&ovn("localnet", "192.168.96.0/22", Some("192.168.99.0/24")), &[&migration]).allowed());
    let d = judge(&ovn("localnet", "192.168.96.0/22", Some("192.168.98.0/24")), &[&migration]);
    assert_eq!(denied(&d), [(Rule::NadOverlapMigration, "spec.config.subnets".into())]);
    // layer2 and layer3 overlays are kept off it too, like every other network
    for (topology, subnets) in [("layer2", "192.168.99.128/25"), ("layer3", "192.168.0.0/16/24")] {
        let m = only_denial(
            &judge(&ovn(topology, subnets, None), &[&migration]),
            Rule::NadOverlapMigration,
            "spec.config.subnets",
        );
        assert!(m.ends_with("keep other networks off it"), "{topology}: {m}");
    }
    // and the migration NAD sees them as claimed ranges
    let l2 = ovn("layer2", "192.168.99.128/25", None);
    let m = only_denial(&judge(&migration, &[&l2]), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(m.contains("vms/tenant (192.168.99.128/25)"), "{m}");
}

#[test]
fn fast_ipam_node_slices() {
    let nodes: Vec<_> = (0..3).map(|i| node(&format!("w{i}"), true)).collect();
    let refs: Vec<_> = nodes.iter().collect();
    let sliced = |range: &str, size: Value| {
        nad(&cfg("/ipam", json!({"type":"whereabouts","range":range,"node_slice_size":size})))
    };
    let field = "spec.config.ipam.node_slice_size";
    // /26 slices of a /24: four slices for three nodes
    let d = judge(&sliced("192.168.99.0/24", json!("/26")), &refs);
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
    // a slice larger than the range
    let m = only_denial(&judge(&sliced("192.168.99.0/24", json!("/22")), &refs), Rule::NadNodeSlice, field);
    assert!(m.contains("larger than the range 192.168.99.0/24"), "{m}");
    // fewer slices than virt-handler nodes
    let m = only_denial(&judge(&sliced("192.168.99.0/24", json!("/25")), &refs), Rule::NadNodeSlice, field);
    assert!(m.contains("2 slices of /25 for 3 virt-handler nodes"), "{m}");
    // a slice with no address, a value that is no prefix, an IPv6 range
    only_denial(&judge(&sliced("192.168.99.0/24", json!("/32")), &[]), Rule::NadNodeSlice, field);
    only_denial(&judge(&sliced("192.168.99.0/24", json!("/31")), &[]), Rule::NadNodeSlice, field);
    let d = judge(&sliced("192.168.99.0/24", json!("/30")), &refs);
    assert!(d.denials.is_empty(), "a /30 slice hands out two addresses: {d:#?}");
    only_denial(&judge(&sliced("192.168.99.0/24", json!("big")), &[]), Rule::NadNodeSlice, field);
    only_denial(
        &judge(&sliced("fd00:99::/64", json!("/80")), &[]),
        Rule::NadNodeSlice,
        "spec.config.ipam.range",
    );
    // start, end and exclude do not apply to slices
    let with_start = nad(&cfg(
        "/ipam",
        json!({"type":"whereabouts","range":"192.168.99.0/24","node_slice_size":"/26","range_start":"192.168.99.10"}),
    ));
    only_warning(&judge(&with_start, &refs), Rule::NadNodeSlice, "spec.config.ipam.range_start");
}
