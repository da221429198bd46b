//! The project's own CustomResourceDefinitions for a real kube-apiserver, built from the schema
//! excerpts the fake API server prunes with ([`schemas`](super::schemas)), so both servers judge
//! objects by the same schemas: names, scopes, versions and subresources as the real CRDs declare them.

use serde_json::{Value, json};

use super::schemas::{self, HcoRelease};

/// One served version: name, whether etcd stores it, its schema.
struct Version {
    name: &'static str,
    storage: bool,
    schema: Value,
}

#[allow(clippy::too_many_arguments)]
fn crd(
    group: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    short: &[&str],
    namespaced: bool,
    status: bool,
    versions: Vec<Version>,
) -> Value {
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|v| {
            let mut version = json!({"name": v.name, "served": true, "storage": v.storage,
                                     "schema": {"openAPIV3Schema": v.schema}});
            if status {
                version["subresources"] = json!({"status": {}});
            }
            version
        })
        .collect();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}")},
           "spec": {"group": group, "scope": if namespaced { "Namespaced" } else { "Cluster" },
                    "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": format!("{kind}List"),
                              "shortNames": short},
                    "versions": versions}})
}

/// HCO's HyperConverged: both layouts served, the release's storage version, no conversion webhook
/// (strategy None, as HCO ships it), status subresource.
pub fn hyperconverged(release: HcoRelease) -> Value {
    let versions = release
        .versions()
        .iter()
        .map(|&(name, _, storage)| Version {
            name,
            storage,
            schema: match name {
                "v1" => schemas::hco_v1(release),
                _ => schemas::hco_v1beta1(release),
            },
        })
        .collect();
    crd(
        "hco.kubevirt.io",
        "hyperconvergeds",
        "hyperconverged",
        "HyperConverged",
        &["hco", "hcos"],
        true,
        true,
        versions,
    )
}

/// Multus' NetworkAttachmentDefinition: v1 only, no status subresource.
pub fn network_attachment_definition() -> Value {
    let v1 = Version { name: "v1", storage: true, schema: schemas::nad_v1() };
    crd(
        "k8s.cni.cncf.io",
        "network-attachment-definitions",
        "network-attachment-definition",
        "NetworkAttachmentDefinition",
        &["net-attach-def"],
        true,
        false,
        vec![v1],
    )
}

/// kubernetes-nmstate's NodeNetworkState: cluster scoped, v1beta1, written through `status`.
pub fn node_network_state() -> Value {
    let v1beta1 = Version { name: "v1beta1", storage: true, schema: schemas::nns_v1beta1() };
    crd(
        "nmstate.io",
        "nodenetworkstates",
        "nodenetworkstate",
        "NodeNetworkState",
        &["nns"],
        false,
        true,
        vec![v1beta1],
    )
}

/// kubernetes-nmstate's NodeNetworkConfigurationPolicy: cluster scoped, v1 stored, v1beta1 served.
pub fn node_network_configuration_policy() -> Value {
    let versions = vec![
        Version { name: "v1", storage: true, schema: schemas::nncp() },
        Version { name: "v1beta1", storage: false, schema: schemas::nncp() },
    ];
    crd(
        "nmstate.io",
        "nodenetworkconfigurationpolicies",
        "nodenetworkconfigurationpolicy",
        "NodeNetworkConfigurationPolicy",
        &["nncp"],
        false,
        true,
        versions,
    )
}

/// Every CRD the suite installs, for an HCO `release`.
pub fn all(release: HcoRelease) -> Vec<Value> {
    vec![
        network_attachment_definition(),
        hyperconverged(release),
        node_network_state(),
        node_network_configuration_policy(),
    ]
}
