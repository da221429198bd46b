//! Which objects the rules care about, and the few accessors they share.

use kube::core::DynamicObject;
use serde_json::Value;

/// The HyperConverged API versions: the live-migration settings sit at a different path in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HcVersion {
    V1Beta1,
    V1,
}

impl HcVersion {
    /// JSON keys from the object root to `liveMigrationConfig`.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            HcVersion::V1Beta1 => &["spec", "liveMigrationConfig"],
            HcVersion::V1 => &["spec", "virtualization", "liveMigrationConfig"],
        }
    }

    /// The same path as users write it in field errors.
    pub fn field(self) -> &'static str {
        match self {
            HcVersion::V1Beta1 => "spec.liveMigrationConfig",
            HcVersion::V1 => "spec.virtualization.liveMigrationConfig",
        }
    }

    /// The `apiVersion` string.
    pub fn api_version(self) -> &'static str {
        match self {
            HcVersion::V1Beta1 => "hco.kubevirt.io/v1beta1",
            HcVersion::V1 => "hco.kubevirt.io/v1",
        }
    }
}

/// The kinds mignet reads; everything else passes untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nad,
    HyperConverged(HcVersion),
    Node,
    /// `config.openshift.io/v1` `Network`: pod, service and external IP ranges.
    ClusterNetwork,
    /// `operator.openshift.io/v1` `Network`: OVN-Kubernetes internal subnets.
    OperatorNetwork,
    /// `nmstate.io` `NodeNetworkState`: one node's interfaces and routes.
    NodeNetworkState,
    /// `nmstate.io` `NodeNetworkConfigurationPolicy` (v1 and v1beta1): a change to the hosts.
    Nncp,
    Other,
}

impl Kind {
    /// Classifies by group, version and kind, as an AdmissionReview's `request.kind` gives them.
    pub fn from_gvk(group: &str, version: &str, kind: &str) -> Kind {
        match (group, version, kind) {
            ("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition") => Kind::Nad,
            ("hco.kubevirt.io", "v1beta1", "HyperConverged") => Kind::HyperConverged(HcVersion::V1Beta1),
            ("hco.kubevirt.io", "v1", "HyperConverged") => Kind::HyperConverged(HcVersion::V1),
            ("", "v1", "Node") => Kind::Node,
            ("config.openshift.io", "v1", "Network") => Kind::ClusterNetwork,
            ("operator.openshift.io", "v1", "Network") => Kind::OperatorNetwork,
            ("nmstate.io", "v1beta1" | "v1alpha1", "NodeNetworkState") => Kind::NodeNetworkState,
            ("nmstate.io", "v1" | "v1beta1", "NodeNetworkConfigurationPolicy") => Kind::Nncp,
            _ => Kind::Other,
        }
    }

    /// Classifies by `apiVersion` and `kind`, as a manifest gives them.
    pub fn from_api_version(api_version: &str, kind: &str) -> Kind {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Kind::from_gvk(group, version, kind)
    }

    /// Classifies an object by its own type fields.
    pub fn of(obj: &DynamicObject) -> Kind {
        match &obj.types {
            Some(t) => Kind::from_api_version(&t.api_version, &t.kind),
            None => Kind::Other,
        }
    }
}

/// The object's namespace, empty when unset.
pub fn namespace(obj: &DynamicObject) -> &str {
    obj.metadata.namespace.as_deref().unwrap_or_default()
}

/// The object's name, empty when unset (e.g. only `generateName` given).
pub fn name(obj: &DynamicObject) -> &str {
    obj.metadata.name.as_deref().unwrap_or_default()
}

/// `apiVersion` of the object, empty when unset.
pub fn api_version(obj: &DynamicObject) -> &str {
    obj.types.as_ref().map(|t| t.api_version.as_str()).unwrap_or_default()
}

/// Follows a path of object keys.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_kinds_we_read() {
        assert_eq!(Kind::from_api_version("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"), Kind::Nad);
        assert_eq!(
            Kind::from_api_version("hco.kubevirt.io/v1beta1", "HyperConverged"),
            Kind::HyperConverged(HcVersion::V1Beta1)
        );
        assert_eq!(
            Kind::from_api_version("hco.kubevirt.io/v1", "HyperConverged"),
            Kind::HyperConverged(HcVersion::V1)
        );
        assert_eq!(Kind::from_api_version("hco.kubevirt.io/v2", "HyperConverged"), Kind::Other);
        assert_eq!(Kind::from_api_version("v1", "Node"), Kind::Node);
        assert_eq!(Kind::from_api_version("config.openshift.io/v1", "Network"), Kind::ClusterNetwork);
        assert_eq!(Kind::from_api_version("v1", "ConfigMap"), Kind::Other);
        assert_eq!(Kind::from_api_version("nmstate.io/v1beta1", "NodeNetworkState"), Kind::NodeNetworkState);
        for v in ["nmstate.io/v1", "nmstate.io/v1beta1"] {
            assert_eq!(Kind::from_api_version(v, "NodeNetworkConfigurationPolicy"), Kind::Nncp);
        }
        assert_eq!(Kind::from_api_version("nmstate.io/v2", "NodeNetworkConfigurationPolicy"), Kind::Other);
    }
}
