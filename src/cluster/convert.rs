//! Turning watched objects into [`Item`]s: the same readings the offline CLI makes (through
//! [`feed`](crate::policy::feed) and [`netconfig`](crate::policy::netconfig)), done once per event so
//! the view keeps only identities and ranges.
//!
//! Never fails: an object the rules cannot read claims nothing, and one without a name is skipped.

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::core::{DynamicObject, PartialObjectMeta};

use super::apply::{Item, Singleton};
use crate::{
    policy::view::{Discovered, ReservedKind, View},
    policy::{HcVersion, Policy, feed, host, netconfig, object, udn},
};

/// Where the machine network is read from, as reports name it.
pub const INSTALL_CONFIG_SOURCE: &str = "ConfigMap kube-system/cluster-config-v1";
/// The only key of that ConfigMap that is read.
pub const INSTALL_CONFIG_KEY: &str = "install-config";
/// The name of the OpenShift network config objects that describe the cluster.
pub const CLUSTER: &str = "cluster";

/// A NAD, read as every other adapter reads it.
pub fn nad(policy: &Policy, obj: &DynamicObject) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    Some(Item::Nad(policy.nad_entry(obj)))
}

/// A UserDefinedNetwork or ClusterUserDefinedNetwork; one whose spec cannot be read is kept as unknown.
pub fn user_defined_network(policy: &Policy, obj: &DynamicObject, kind: udn::NetKind) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    Some(Item::Net(policy.net_entry(kind, obj)))
}

/// A HyperConverged as read through the version it was watched as; the view merges the reads.
pub fn hyperconverged(obj: &DynamicObject, version: HcVersion) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    Some(Item::Hc(feed::hc_read(obj, version)))
}

/// A KubeVirt CR: its migration network, read as every other adapter reads it.
pub fn kubevirt(obj: &DynamicObject) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    Some(Item::KubeVirt(feed::kubevirt_entry(obj)))
}

/// A VirtualMachineInstanceMigration: unfinished, or finished (which removes it from the view).
pub fn migration(obj: &DynamicObject) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    let (key, state) = feed::migration(obj);
    Some(Item::Migration { key, state })
}

/// A node, by whether the policy's selector picks it as a virt-handler node.
pub fn node(policy: &Policy, meta: &PartialObjectMeta<Node>) -> Option<Item> {
    let name = meta.metadata.name.as_deref().filter(|n| !n.is_empty())?;
    // a metadata-only watch: no status.addresses; the host rules find the management interface from
    // the default route and br-ex
    Some(Item::Node { name: name.to_owned(), info: feed::node_info_of(policy, &meta.metadata, Vec::new()) })
}

/// A NodeNetworkState, read as every other adapter reads it; one that cannot be read makes its node
/// unknown to the host rules, never an error of the watch.
pub fn node_network_state(obj: &DynamicObject) -> Option<Item> {
    if object::name(obj).is_empty() {
        return None;
    }
    let (node, state) = host::host_network(obj);
    Some(Item::HostNetwork { node, state })
}

/// `networks.config.openshift.io/cluster`: pod, service and external IP ranges.
pub fn cluster_network(obj: &DynamicObject) -> Option<Item> {
    (object::name(obj) == CLUSTER).then(|| Item::Networks {
        source: Singleton::ClusterNetwork,
        found: netconfig::cluster_network(&obj.data),
    })
}

/// `networks.operator.openshift.io/cluster`: OVN-Kubernetes subnets, merged per family with the policy.
pub fn operator_network(policy: &Policy, obj: &DynamicObject) -> Option<Item> {
    if object::name(obj) != CLUSTER {
        return None;
    }
    let mut scratch = View::new();
    feed::operator_network(policy, &mut scratch, &obj.data);
    let found = Singleton::OperatorNetwork
        .kinds()
        .iter()
        .filter_map(|kind| scratch.discovered(*kind).map(|d| (*kind, d.clone())))
        .collect();
    Some(Item::Networks { source: Singleton::OperatorNetwork, found })
}

/// The machine network from the installer's config. Nothing else of the ConfigMap is kept or logged:
/// it also holds the pull secret and SSH keys.
pub fn install_config(cm: &ConfigMap) -> Option<Item> {
    if cm.metadata.name.as_deref() != Some("cluster-config-v1") {
        return None;
    }
    let text = cm.data.as_ref().and_then(|d| d.get(INSTALL_CONFIG_KEY));
    let found = match text.map(|t| netconfig::machine_network(t)) {
        Some(Ok(nets)) if !nets.is_empty() => {
            vec![(ReservedKind::Machine, Discovered { nets, source: INSTALL_CONFIG_SOURCE.to_owned() })]
        }
        Some(Ok(_)) | None => Vec::new(),
        Some(Err(reason)) => {
            tracing::warn!(
                reason = %install_config_problem(&reason),
                "cannot read the machine network from {INSTALL_CONFIG_SOURCE} key {INSTALL_CONFIG_KEY}; \
                 the policy's machine network applies"
            );
            Vec::new()
        }
    };
    Some(Item::Networks { source: Singleton::InstallConfig, found })
}

/// The part of a machine-network reading error that is safe to log: YAML errors can quote the document.
fn install_config_problem(reason: &str) -> &str {
    if reason.starts_with("machineNetwork") { reason } else { "not valid YAML" }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::policy::view::NodeInfo;

    use super::*;
    use crate::cluster::apply::Item;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    fn nad_obj(ns: &str, name: &str, config: &str) -> DynamicObject {
        obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
                   "metadata":{"name":name,"namespace":ns},"spec":{"config":config}}))
    }

    const WB: &str = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;

    #[test]
    fn nad_keeps_config_only_in_the_migration_namespace() {
        let p = Policy::default();
        let Some(Item::Nad(e)) = nad(&p, &nad_obj("openshift-cnv", "m", WB)) else { panic!() };
        assert_eq!(e.ranges.as_slice(), ["192.168.99.0/24".parse().unwrap()]);
        assert!(e.config.is_some());
        let Some(Item::Nad(e)) = nad(&p, &nad_obj("tenant", "m", WB)) else { panic!() };
        assert!(e.config.is_none());
        assert_eq!(e.ranges.len(), 1);
    }

    #[test]
    fn garbage_nads_claim_nothing_and_nameless_ones_are_skipped() {
        let p = Policy::default();
        let Some(Item::Nad(e)) = nad(&p, &nad_obj("a", "g", "{not json")) else { panic!() };
        assert!(e.ranges.is_empty());
        let weird = obj(json!({"metadata":{"name":"w","namespace":"a"},"spec":{"config":7}}));
        let Some(Item::Nad(e)) = nad(&p, &weird) else { panic!() };
        assert!(e.ranges.is_empty());
        let no_spec = obj(json!({"metadata":{"name":"w","namespace":"a"},"spec":"x"}));
        assert!(matches!(nad(&p, &no_spec), Some(Item::Nad(_))));
        assert_eq!(nad(&p, &obj(json!({"metadata":{"namespace":"a"}}))), None);
    }

    #[test]
    fn hyperconverged_is_read_at_its_version_path() {
        let v1 = obj(json!({"metadata":{"name":"hc","namespace":"openshift-cnv"},
            "spec":{"virtualization":{"liveMigrationConfig":{"network":"mig"}}}}));
        let Some(Item::Hc(r)) = hyperconverged(&v1, HcVersion::V1) else { panic!() };
        assert_eq!((r.entry.network.as_deref(), r.through), (Some("mig"), HcVersion::V1));
        let beta = obj(json!({"metadata":{"name":"hc","namespace":"openshift-cnv"},
            "spec":{"liveMigrationConfig":{"network":"mig"}}}));
        let Some(Item::Hc(r)) = hyperconverged(&beta, HcVersion::V1Beta1) else { panic!() };
        assert_eq!((r.entry.network.as_deref(), r.through), (Some("mig"), HcVersion::V1Beta1));
        // as a real server answers a read through v1 of an object written through v1beta1: pruned
        let pruned =
            obj(json!({"metadata":{"name":"hc","namespace":"openshift-cnv"},"spec":{"featureGates":{}}}));
        let Some(Item::Hc(r)) = hyperconverged(&pruned, HcVersion::V1) else { panic!() };
        assert_eq!(r.entry.network, None);
    }

    #[test]
    fn node_is_selected_by_the_policy() {
        let p = Policy::default();
        let mut meta: PartialObjectMeta<Node> = PartialObjectMeta::default();
        meta.metadata.name = Some("w1".into());
        let info = |virt_handler: bool, labels: &[(&str, &str)]| NodeInfo {
            virt_handler,
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            internal_ips: Vec::new(),
        };
        assert_eq!(node(&p, &meta), Some(Item::Node { name: "w1".into(), info: info(false, &[]) }));
        meta.metadata.labels = Some(BTreeMap::from([("kubevirt.io/schedulable".into(), "true".into())]));
        assert_eq!(
            node(&p, &meta),
            Some(Item::Node { name: "w1".into(), info: info(true, &[("kubevirt.io/schedulable", "true")]) })
        );
        meta.metadata.name = None;
        assert_eq!(node(&p, &meta), None);
    }

    #[test]
    fn cluster_network_only_from_the_object_named_cluster() {
        let data = json!({"metadata":{"name":"cluster"},
            "status":{"clusterNetwork":[{"cidr":"10.132.0.0/14"}],"serviceNetwork":["172.31.0.0/16"]}});
        let Some(Item::Networks { source, found }) = cluster_network(&obj(data)) else { panic!() };
        assert_eq!(source, Singleton::ClusterNetwork);
        assert_eq!(found.len(), 2);
        assert_eq!(cluster_network(&obj(json!({"metadata":{"name":"other"}}))), None);
    }

    #[test]
    fn operator_network_keeps_the_policy_for_families_not_overridden() {
        let data = json!({"metadata":{"name":"cluster"},"spec":{"defaultNetwork":{"ovnKubernetesConfig":{
            "ipv4":{"internalJoinSubnet":"100.70.0.0/16"}}}}});
        let Some(Item::Networks { found, .. }) = operator_network(&Policy::default(), &obj(data)) else {
            panic!()
        };
        assert_eq!(found.len(), 1);
        let (kind, d) = &found[0];
        assert_eq!(*kind, ReservedKind::OvnJoin);
        let nets: Vec<String> = d.nets.iter().map(ToString::to_string).collect();
        assert_eq!(nets, vec!["100.70.0.0/16", "fd98::/64"]);
    }

    fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.data = Some(data.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        c
    }

    #[test]
    fn install_config_yields_only_the_machine_network() {
        let text = "apiVersion: v1\npullSecret: '{\"auths\":{}}'\nnetworking:\n  machineNetwork:\n  - cidr: 10.0.0.0/16\n";
        let Some(Item::Networks { source, found }) =
            install_config(&cm("cluster-config-v1", &[(INSTALL_CONFIG_KEY, text)]))
        else {
            panic!()
        };
        assert_eq!(source, Singleton::InstallConfig);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1.nets, vec!["10.0.0.0/16".parse().unwrap()]);
        assert_eq!(found[0].1.source, INSTALL_CONFIG_SOURCE);
        let debug = format!("{found:?}");
        assert!(!debug.contains("pullSecret") && !debug.contains("auths"), "{debug}");
    }

    #[test]
    fn broken_or_missing_install_config_discovers_nothing() {
        for data in [
            &[][..],
            &[(INSTALL_CONFIG_KEY, "networking: [")][..],
            &[(INSTALL_CONFIG_KEY, "networking:\n  machineNetwork:\n  - cidr: banana\n")][..],
        ] {
            let Some(Item::Networks { found, .. }) = install_config(&cm("cluster-config-v1", data)) else {
                panic!()
            };
            assert!(found.is_empty());
        }
        assert_eq!(install_config(&cm("other", &[])), None);
        assert_eq!(install_config_problem("install-config is not valid YAML: secret: x"), "not valid YAML");
        assert!(
            install_config_problem("machineNetwork cidr \"x\" is not a CIDR").starts_with("machineNetwork")
        );
    }
}
