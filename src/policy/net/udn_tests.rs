use serde_json::{Value, json};

use super::*;

fn n(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn udn(network: Value) -> UdnSpec {
    read(NetKind::Udn, &json!({ "spec": network }))
}

fn cudn(network: Value) -> UdnSpec {
    read(NetKind::Cudn, &json!({"spec": {"namespaceSelector": {}, "network": network}}))
}

fn nets(s: &UdnSpec) -> Vec<IpNet> {
    s.claims.iter().map(|c| c.net).collect()
}

fn fields(s: &UdnSpec) -> Vec<&str> {
    s.problems.iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn layer2_secondary_claims_its_subnets_dual_stack() {
    let s = udn(
        json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.100.200.0/24","fd10::/64"]}}),
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!((s.topology, s.role), (Some(Topology::Layer2), Some(Role::Secondary)));
    assert_eq!(nets(&s), [n("10.100.200.0/24"), n("fd10::/64")]);
    assert_eq!(s.claims[1].field, "spec.layer2.subnets[1]");
}

#[test]
fn a_primary_network_also_claims_its_join_subnet_given_or_default() {
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Primary","subnets":["10.200.0.0/16"]}}));
    assert_eq!(nets(&s), [n("10.200.0.0/16"), n("100.65.0.0/16")], "v4 only: the v4 default");
    assert_eq!(s.claims[1].field, "spec.layer2.joinSubnets");
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Primary","subnets":["fd20::/64"]}}));
    assert_eq!(nets(&s), [n("fd20::/64"), n("fd99::/64")], "IPv6-only: the v6 default");
    let s = udn(
        json!({"topology":"Layer3","layer3":{"role":"Primary","subnets":[{"cidr":"10.150.0.0/16","hostSubnet":24}],
        "joinSubnets":["100.99.0.0/16"]}}),
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(nets(&s), [n("10.150.0.0/16"), n("100.99.0.0/16")]);
    // a secondary network has none, and may not name one
    let s = udn(
        json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.1.0.0/24"],"joinSubnets":["100.99.0.0/16"]}}),
    );
    assert_eq!(fields(&s), ["spec.layer2.joinSubnets"]);
    assert_eq!(nets(&s), [n("10.1.0.0/24")]);
}

#[test]
fn layer3_with_and_without_host_subnet() {
    let s =
        udn(json!({"topology":"Layer3","layer3":{"role":"Secondary","subnets":[{"cidr":"10.128.0.0/16"}]}}));
    assert!(s.problems.is_empty(), "a /16 leaves room for the default /24 per node: {:?}", s.problems);
    let s =
        udn(json!({"topology":"Layer3","layer3":{"role":"Secondary","subnets":[{"cidr":"10.128.0.0/26"}]}}));
    assert_eq!(fields(&s), ["spec.layer3.subnets[0].cidr"]);
    assert!(s.problems[0].message.contains("without hostSubnet each node gets a /24"), "{:?}", s.problems);
    let s = udn(json!({"topology":"Layer3","layer3":{"role":"Secondary","subnets":[
        {"cidr":"10.128.0.0/16","hostSubnet":16},{"cidr":"fd00:10::/48","hostSubnet":64}]}}));
    assert_eq!(fields(&s), ["spec.layer3.subnets[0].hostSubnet"]);
    assert_eq!(nets(&s), [n("10.128.0.0/16"), n("fd00:10::/48")], "still claimed");
    let s = udn(
        json!({"topology":"Layer3","layer3":{"role":"Secondary","subnets":[{"cidr":"10.128.0.0/16","hostSubnet":"24"}]}}),
    );
    assert_eq!(fields(&s), ["spec.layer3.subnets[0].hostSubnet"]);
}

#[test]
fn localnet_claims_its_subnets_less_what_it_excludes() {
    let s =
        cudn(json!({"topology":"Localnet","localnet":{"role":"Secondary","physicalNetworkName":"physnet",
        "subnets":["192.168.96.0/22"],"excludeSubnets":["192.168.99.0/24"]}}));
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(nets(&s), [n("192.168.96.0/23"), n("192.168.98.0/24")]);
    assert!(
        s.claims.iter().all(|c| c.field == "spec.network.localnet.subnets[0]" && c.text == "192.168.96.0/22")
    );
    // an exclude outside every subnet is refused by OVN-Kubernetes
    let s = cudn(json!({"topology":"Localnet","localnet":{"role":"Secondary","physicalNetworkName":"p",
        "subnets":["192.168.96.0/22"],"excludeSubnets":["10.0.0.0/24"]}}));
    assert_eq!(fields(&s), ["spec.network.localnet.excludeSubnets[0]"]);
    // Localnet is for CUDNs only, and only Secondary
    let s = udn(json!({"topology":"Localnet","localnet":{"role":"Secondary","subnets":["10.0.0.0/24"]}}));
    assert_eq!(fields(&s), ["spec.topology"]);
    assert!(s.problems[0].message.contains("ClusterUserDefinedNetworks only"), "{:?}", s.problems);
    let s = cudn(
        json!({"topology":"Localnet","localnet":{"role":"Primary","physicalNetworkName":"p","subnets":["10.0.0.0/24"]}}),
    );
    assert_eq!(fields(&s), ["spec.network.localnet.role"]);
}

#[test]
fn ipam_disabled_claims_nothing_and_needs_no_subnets() {
    let s = cudn(
        json!({"topology":"Localnet","localnet":{"role":"Secondary","physicalNetworkName":"p","ipam":{"mode":"Disabled"}}}),
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert!(s.claims.is_empty());
    let s = udn(
        json!({"topology":"Layer2","layer2":{"role":"Secondary","ipam":{"mode":"Disabled"},"subnets":["10.0.0.0/24"]}}),
    );
    assert_eq!(fields(&s), ["spec.layer2.subnets"]);
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Primary","ipam":{"mode":"Disabled"}}}));
    assert_eq!(fields(&s), ["spec.layer2.ipam.mode"]);
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Secondary"}}));
    assert_eq!(fields(&s), ["spec.layer2.subnets"], "IPAM on without subnets");
    let s = udn(
        json!({"topology":"Layer2","layer2":{"role":"Secondary","ipam":{"mode":"Sometimes"},"subnets":["10.0.0.0/24"]}}),
    );
    assert_eq!(fields(&s), ["spec.layer2.ipam.mode"]);
}

#[test]
fn malformed_input_gets_field_errors_and_keeps_what_reads() {
    let s =
        udn(json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.0.0/24","fd10::/64"]}}));
    assert_eq!(fields(&s), ["spec.layer2.subnets[0]"]);
    assert!(
        s.problems[0].message.starts_with("Invalid value: \"10.0.0/24\": must be a CIDR"),
        "{:?}",
        s.problems
    );
    assert_eq!(nets(&s), [n("fd10::/64")]);
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.0.0.7"]}}));
    assert!(s.problems[0].message.contains("add the prefix length"), "{:?}", s.problems);
    let s = udn(json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":"10.0.0.0/24"}}));
    assert_eq!(fields(&s), ["spec.layer2.subnets"]);
    let s = udn(
        json!({"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.0.0.0/16","10.0.1.0/24"]}}),
    );
    assert_eq!(fields(&s), ["spec.layer2.subnets[1]"]);
    let s = udn(json!({"topology":"Layer4","layer2":{}}));
    assert_eq!(fields(&s), ["spec.topology"]);
    assert!(s.problems[0].message.starts_with("Unsupported value: \"Layer4\""), "{:?}", s.problems);
    let s = udn(json!({"topology":"Layer2"}));
    assert_eq!(fields(&s), ["spec.layer2"]);
    let s = udn(json!({"topology":"Layer2","layer2":{"subnets":["10.0.0.0/24"]},"layer3":{}}));
    assert_eq!(fields(&s), ["spec.layer3", "spec.layer2.role"]);
    assert_eq!(fields(&read(NetKind::Udn, &json!({}))), ["spec"]);
    assert_eq!(fields(&read(NetKind::Udn, &json!({"spec": 7}))), ["spec"]);
    let s = read(
        NetKind::Cudn,
        &json!({"spec": {"network": {"topology":"Layer2","layer2":{"role":"Secondary","subnets":["10.0.0.0/24"]}}}}),
    );
    assert_eq!(fields(&s), ["spec.namespaceSelector"]);
    let many: Vec<Value> =
        (0..1000).map(|i| json!({"cidr": format!("10.{}.{}.0/24", i / 256, i % 256)})).collect();
    let s = udn(json!({"topology":"Layer3","layer3":{"role":"Secondary","subnets":many}}));
    assert!(s.problems[0].message.starts_with("Too many: 1000"), "{:?}", s.problems);
}

#[test]
fn selectors_are_summarised_however_many_namespaces_they_name() {
    let names: Vec<String> = (0..500).map(|i| format!("tenant-{i}")).collect();
    let data = json!({"spec":{"namespaceSelector":{"matchLabels":{"vms":"yes"},"matchExpressions":[
        {"key":"kubernetes.io/metadata.name","operator":"In","values":names},
        {"key":"gone","operator":"DoesNotExist"}]}}});
    assert_eq!(
        selector_summary(&data),
        "vms=yes, kubernetes.io/metadata.name in (tenant-0, tenant-1, tenant-2 +497), gone doesnotexist"
    );
    assert_eq!(selector_summary(&json!({"spec":{"namespaceSelector":{}}})), "every namespace");
}
