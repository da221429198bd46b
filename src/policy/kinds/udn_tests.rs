use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::policy::{
    Decision, Operation, Policy, Rule,
    testutil::*,
    udn::NetKind,
    view::{Claimant, NetName},
};

fn udn(ns: &str, name: &str, topology: &str, block: Value) -> DynamicObject {
    let key = topology.to_lowercase();
    obj(json!({"apiVersion":"k8s.ovn.org/v1","kind":"UserDefinedNetwork",
        "metadata":{"name":name,"namespace":ns},"spec":{"topology":topology, key: block}}))
}

fn cudn(name: &str, topology: &str, block: Value) -> DynamicObject {
    let key = topology.to_lowercase();
    obj(json!({"apiVersion":"k8s.ovn.org/v1","kind":"ClusterUserDefinedNetwork","metadata":{"name":name},
        "spec":{"namespaceSelector":{"matchLabels":{"vms":"true"}},"network":{"topology":topology, key: block}}}))
}

/// The NAD OVN-Kubernetes renders from a UDN/CUDN (`net-attach-def-template.go`), in namespace `ns`.
fn rendered(ns: &str, name: &str, owner_kind: &str, config: Value) -> DynamicObject {
    obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":name,"namespace":ns,"labels":{"k8s.ovn.org/user-defined-network":""},
            "finalizers":["k8s.ovn.org/user-defined-network-protection"],
            "ownerReferences":[{"apiVersion":"k8s.ovn.org/v1","kind":owner_kind,"name":name,"uid":"u",
                "controller":true,"blockOwnerDeletion":true}]},
        "spec":{"config": config.to_string()}}))
}

fn ovn_config(
    ns: &str,
    name: &str,
    topology: &str,
    role: &str,
    subnets: &str,
    excludes: Option<&str>,
) -> Value {
    let mut c = json!({"cniVersion":"1.0.0","type":"ovn-k8s-cni-overlay","name":format!("cluster_udn_{name}"),
        "netAttachDefName":format!("{ns}/{name}"),"topology":topology,"role":role,"subnets":subnets});
    if let Some(e) = excludes {
        c["excludeSubnets"] = json!(e);
    }
    c
}

fn migration() -> DynamicObject {
    nad(&reference_config())
}

/// Rule ids and messages without the field paths, which differ between a UDN and a NAD.
fn verdict(d: &Decision) -> Vec<(Rule, String)> {
    d.denials.iter().map(|f| (f.rule, f.message.clone())).collect()
}

#[test]
fn a_udn_its_rendered_nad_and_a_hand_written_nad_get_the_same_verdict() {
    let cases = [
        ("Localnet", "localnet", "Secondary", vec!["192.168.99.0/24"], None, true),
        ("Localnet", "localnet", "Secondary", vec!["192.168.96.0/22"], Some("192.168.99.0/24"), false),
        ("Localnet", "localnet", "Secondary", vec!["192.168.96.0/22"], Some("192.168.98.0/24"), true),
        ("Layer2", "layer2", "Secondary", vec!["192.168.99.128/25", "fd10::/64"], None, true),
        ("Layer2", "layer2", "Primary", vec!["10.200.0.0/16"], None, false),
        ("Layer2", "layer2", "Primary", vec!["192.168.0.0/16"], None, true),
    ];
    for (topology, lower, role, subnets, excludes, denied) in cases {
        let mut block = json!({"role":role,"subnets":subnets});
        if topology == "Localnet" {
            block["physicalNetworkName"] = json!("physnet-vms");
        }
        if let Some(e) = excludes {
            block["excludeSubnets"] = json!([e]);
        }
        let owner = cudn("vm-net", topology, block);
        let config = ovn_config("vms", "vm-net", lower, &role.to_lowercase(), &subnets.join(","), excludes);
        let by_owner = judge(&owner, &[&migration()]);
        let by_render = judge(
            &rendered("vms", "vm-net", "ClusterUserDefinedNetwork", config.clone()),
            &[&migration(), &owner],
        );
        let by_hand = judge(&nad_in("vms", "vm-net", &config), &[&migration()]);
        let label = format!("{topology} {role} {subnets:?} less {excludes:?}");
        assert_eq!(by_owner.allowed(), !denied, "{label}: {by_owner:#?}");
        assert_eq!(verdict(&by_owner), verdict(&by_render), "{label}");
        assert_eq!(verdict(&by_owner), verdict(&by_hand), "{label}");
        assert!(by_owner.denials.iter().all(|f| f.rule == Rule::NadOverlapMigration), "{label}");
        if denied {
            assert!(by_owner.denials[0].field.starts_with("spec.network."), "{label}: {by_owner:#?}");
            let localnet = by_owner.denials[0].message.contains("physical segment");
            assert_eq!(localnet, topology == "Localnet", "{label}");
        }
    }
}

#[test]
fn a_primary_udn_on_the_join_subnet_the_migration_network_uses() {
    let mig = nad(&set(&reference_config(), "/ipam/range", json!("100.65.3.0/24")));
    let primary = udn("vms", "blue", "Layer2", json!({"role":"Primary","subnets":["10.200.0.0/16"]}));
    let m = only_denial(&judge(&primary, &[&mig]), Rule::NadOverlapMigration, "spec.layer2.joinSubnets");
    assert!(
        m.starts_with(
            "Invalid value: \"100.65.0.0/16 (the default join subnet)\": overlaps the live-migration network"
        ),
        "{m}"
    );
    // a secondary network has no join subnet
    let secondary = udn("vms", "blue", "Layer2", json!({"role":"Secondary","subnets":["10.200.0.0/16"]}));
    assert!(judge(&secondary, &[&mig]).allowed());
}

#[test]
fn udn_first_then_the_migration_nad_is_denied_naming_the_network() {
    let l2 = udn("vms", "blue", "Layer2", json!({"role":"Secondary","subnets":["192.168.99.0/25"]}));
    let m = only_denial(&judge(&migration(), &[&l2]), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(m.contains("overlaps UserDefinedNetwork vms/blue (192.168.99.0/25)"), "{m}");
    assert!(!m.contains("NetworkAttachmentDefinition"), "{m}");
    let localnet = cudn(
        "physnet",
        "Localnet",
        json!({"role":"Secondary","physicalNetworkName":"p","subnets":["192.168.0.0/16"]}),
    );
    let m = only_denial(&judge(&migration(), &[&localnet]), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(m.contains("overlaps ClusterUserDefinedNetwork physnet (192.168.0.0/16)"), "{m}");
    // excluded from the localnet: no overlap
    let carved = cudn(
        "physnet",
        "Localnet",
        json!({"role":"Secondary","physicalNetworkName":"p",
        "subnets":["192.168.0.0/16"],"excludeSubnets":["192.168.99.0/24"]}),
    );
    assert!(judge(&migration(), &[&carved]).allowed());
    // IPAM disabled: nothing claimed
    let no_ipam = cudn(
        "physnet",
        "Localnet",
        json!({"role":"Secondary","physicalNetworkName":"p","ipam":{"mode":"Disabled"}}),
    );
    assert!(judge(&migration(), &[&no_ipam]).allowed());
    assert!(judge(&no_ipam, &[&migration()]).allowed());
}

#[test]
fn migration_nad_first_then_the_udn_is_denied() {
    for (kind, o) in [
        (
            "UDN Layer2",
            udn("vms", "blue", "Layer2", json!({"role":"Secondary","subnets":["192.168.99.0/24"]})),
        ),
        (
            "UDN Layer3",
            udn(
                "vms",
                "blue",
                "Layer3",
                json!({"role":"Secondary","subnets":[{"cidr":"192.168.0.0/16","hostSubnet":24}]}),
            ),
        ),
        ("CUDN Layer2", cudn("blue", "Layer2", json!({"role":"Secondary","subnets":["192.168.99.0/26"]}))),
    ] {
        let d = judge(&o, &[&migration()]);
        assert_eq!(d.denials.len(), 1, "{kind}: {d:#?}");
        assert_eq!(d.denials[0].rule, Rule::NadOverlapMigration, "{kind}");
        assert!(d.denials[0].message.contains("openshift-cnv/migration-bridge"), "{kind}: {d:#?}");
    }
}

#[test]
fn a_cudn_and_its_rendered_nads_are_one_network() {
    let block = json!({"role":"Secondary","subnets":["10.200.0.0/16"]});
    let owner = cudn("vm-net", "Layer2", block);
    let config = ovn_config("t", "vm-net", "layer2", "secondary", "10.200.0.0/16", None);
    let nads: Vec<DynamicObject> = (0..200)
        .map(|i| rendered(&format!("tenant-{i}"), "vm-net", "ClusterUserDefinedNetwork", config.clone()))
        .collect();
    let mut all: Vec<&DynamicObject> = nads.iter().collect();
    // the controller's writes are no overlap with their owner, nor with each other
    let d = judge(&nads[0], &all);
    assert!(d.allowed(), "{d:#?}");
    all.push(&owner);
    assert!(judge(&nads[7], &all).allowed());
    // and an update of the owner is none with its own NADs
    let v = view(&all);
    assert!(judge_with(&Policy::default(), Operation::Update, &owner, Some(&owner), &v).allowed());
    // a migration NAD on it hears of one network
    let on_it = nad(&set(&reference_config(), "/ipam/range", json!("10.200.5.0/24")));
    all.push(&on_it);
    let m = only_denial(&judge(&on_it, &all), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(m.contains("overlaps ClusterUserDefinedNetwork vm-net (10.200.0.0/16); free ranges"), "{m}");
    // the view holds one claimant
    let claims = v.claims_overlapping(&"10.200.0.0/16".parse().unwrap());
    assert_eq!(claims.len(), 1);
    assert!(matches!(claims[0].1, Claimant::Net(e) if e.key == NetName::new(NetKind::Cudn, "", "vm-net")));
    // without the owner in the view, its rendered NADs still name it once
    let nads_only: Vec<&DynamicObject> = nads.iter().chain([&on_it]).collect();
    let m = only_denial(&judge(&on_it, &nads_only), Rule::NadOverlapNad, "spec.config.ipam.range");
    assert!(
        m.contains(
            "overlaps ClusterUserDefinedNetwork vm-net (10.200.0.0/16) [rendered as NAD tenant-0/vm-net]"
        ),
        "{m}"
    );
    assert!(!m.contains("more"), "{m}");
}

#[test]
fn a_nad_with_only_the_label_or_only_the_owner_is_a_network_of_its_own() {
    let config = ovn_config("vms", "blue", "layer2", "secondary", "10.200.0.0/16", None);
    let owner = udn("vms", "blue", "Layer2", json!({"role":"Secondary","subnets":["10.200.0.0/16"]}));
    let mut label_only = rendered("vms", "blue", "UserDefinedNetwork", config.clone());
    label_only.metadata.owner_references = None;
    let mut owner_only = rendered("vms", "blue", "UserDefinedNetwork", config);
    owner_only.metadata.labels = None;
    for (what, n) in [("label only", label_only), ("owner only", owner_only)] {
        let v = view(&[&owner, &n]);
        assert_eq!(v.claims_overlapping(&"10.200.0.0/16".parse().unwrap()).len(), 2, "{what}");
    }
}

#[test]
fn bad_objects_are_denied_with_field_errors() {
    let d = judge(&udn("vms", "x", "Layer2", json!({"role":"Secondary","subnets":["10.0.0/24"]})), &[]);
    assert_eq!(denied(&d), [(Rule::UdnSpec, "spec.layer2.subnets[0]".into())]);
    let d = judge(&cudn("x", "Layer9", json!({})), &[]);
    assert_eq!(denied(&d), [(Rule::UdnSpec, "spec.network.topology".into())]);
    let off = Policy::from_yaml("disabledRules: [udn-spec]").unwrap();
    let o = udn("vms", "x", "Layer2", json!({"role":"Secondary","subnets":["10.0.0/24"]}));
    assert!(judge_with(&off, Operation::Create, &o, None, &view(&[&o])).allowed());
    // a delete is not judged
    assert!(judge_with(&Policy::default(), Operation::Delete, &o, None, &view(&[])).allowed());
}

#[test]
fn the_view_entry_keeps_what_reads_and_says_what_does_not() {
    let p = Policy::default();
    let good = p.net_entry(
        NetKind::Cudn,
        &cudn("vm-net", "Layer2", json!({"role":"Primary","subnets":["10.200.0.0/16"]})),
    );
    assert_eq!(good.key.qualified(), "vm-net");
    assert_eq!(good.selector.as_deref(), Some("vms=true"));
    assert_eq!(
        good.ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.200.0.0/16", "100.65.0.0/16"]
    );
    assert_eq!(good.unreadable, None);
    let bad =
        p.net_entry(NetKind::Udn, &udn("vms", "x", "Layer2", json!({"role":"Secondary","subnets":["nope"]})));
    assert!(bad.ranges.is_empty());
    assert!(
        bad.unreadable.as_deref().unwrap().starts_with("spec.layer2.subnets[0]: Invalid value"),
        "{bad:?}"
    );
}

#[test]
fn an_unreadable_network_in_the_view_is_unknown_not_clear() {
    let broken = udn("vms", "x", "Layer2", json!({"role":"Secondary","subnets":["192.168.99.0/2x"]}));
    let m = only_warning(&judge(&migration(), &[&broken]), Rule::NadOverlapUnknown, "spec.config.ipam");
    assert!(m.starts_with("UserDefinedNetwork vms/x cannot be read"), "{m}");
    // once it reads, no warning
    let fixed = udn("vms", "x", "Layer2", json!({"role":"Secondary","subnets":["10.20.0.0/24"]}));
    let d = judge(&migration(), &[&fixed]);
    assert!(d.allowed() && d.warnings.is_empty(), "{d:#?}");
    // many are summarised
    let many: Vec<DynamicObject> = (0..5)
        .map(|i| cudn(&format!("bad-{i}"), "Layer2", json!({"role":"Secondary","subnets":["nope"]})))
        .collect();
    let refs: Vec<&DynamicObject> = many.iter().collect();
    let m = only_warning(&judge(&migration(), &refs), Rule::NadOverlapUnknown, "spec.config.ipam");
    assert!(m.starts_with("ClusterUserDefinedNetwork bad-0, ClusterUserDefinedNetwork bad-1, ClusterUserDefinedNetwork bad-2 and 2 more cannot be read"), "{m}");
}

#[test]
fn a_network_whose_rendered_nad_would_be_taken_for_the_migration_nad_is_denied_on_its_name() {
    // named like a migration network: its rendered NAD matches the policy's glob
    let o = udn("vms", "vm-migration-lan", "Layer2", json!({"role":"Secondary","subnets":["10.20.0.0/24"]}));
    let by_udn = judge(&o, &[]);
    let config = ovn_config("vms", "vm-migration-lan", "layer2", "secondary", "10.20.0.0/24", None);
    let by_render = judge(&rendered("vms", "vm-migration-lan", "UserDefinedNetwork", config), &[&o]);
    let rules = |d: &Decision| d.denials.iter().map(|f| f.rule).collect::<Vec<_>>();
    assert!(!by_render.allowed());
    assert_eq!(rules(&by_udn), rules(&by_render), "{by_udn:#?}");
    assert!(by_udn.denials.iter().all(|f| f.field == "metadata.name"));
    let m = &by_udn.denials[0].message;
    assert!(m.contains("vms/vm-migration-lan") && m.contains("*migration*") && m.contains("rename"), "{m}");
    // other names are not concerned
    assert!(
        judge(&udn("vms", "blue", "Layer2", json!({"role":"Secondary","subnets":["10.20.0.0/24"]})), &[])
            .allowed()
    );
}
