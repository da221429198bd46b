//! Which objects the rules care about, and the few accessors they share.

use kube::core::{DynamicObject, ObjectMeta, TypeMeta};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Finding, Rule, decision::msg};

/// The HyperConverged API versions: the live-migration settings sit at a different path in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// `nmstate.io` `NodeNetworkState` (v1beta1, older dumps v1alpha1, some v1; one shape): one
    /// node's interfaces and routes.
    NodeNetworkState,
    /// `nmstate.io` `NodeNetworkConfigurationPolicy` (v1, v1beta1 and the old v1alpha1, one shape): a
    /// change to the hosts.
    Nncp,
    /// `kubevirt.io/v1` `KubeVirt`: the live-migration settings where no HyperConverged manages them.
    KubeVirt,
    /// `migrations.kubevirt.io/v1alpha1` `MigrationPolicy`: per-VM overrides of bandwidth and timeouts.
    MigrationPolicy,
    /// `kubevirt.io/v1` `VirtualMachineInstanceMigration`: a migration, running or finished.
    Vmim,
    /// `k8s.ovn.org/v1` `UserDefinedNetwork` (namespaced) or `ClusterUserDefinedNetwork`: a VM network.
    UserDefinedNetwork(super::udn::NetKind),
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
            ("nmstate.io", "v1" | "v1beta1" | "v1alpha1", "NodeNetworkState") => Kind::NodeNetworkState,
            ("nmstate.io", "v1" | "v1beta1" | "v1alpha1", "NodeNetworkConfigurationPolicy") => Kind::Nncp,
            ("kubevirt.io", "v1", "KubeVirt") => Kind::KubeVirt,
            ("migrations.kubevirt.io", "v1alpha1", "MigrationPolicy") => Kind::MigrationPolicy,
            ("kubevirt.io", "v1", "VirtualMachineInstanceMigration") => Kind::Vmim,
            ("k8s.ovn.org", "v1", "UserDefinedNetwork") => Kind::UserDefinedNetwork(super::udn::NetKind::Udn),
            ("k8s.ovn.org", "v1", "ClusterUserDefinedNetwork") => {
                Kind::UserDefinedNetwork(super::udn::NetKind::Cudn)
            }
            _ => Kind::Other,
        }
    }

    /// Classifies by `apiVersion` and `kind`, as a manifest gives them.
    pub fn from_api_version(api_version: &str, kind: &str) -> Kind {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Kind::from_gvk(group, version, kind)
    }

    /// For an object of a kind mignet reads in a version it does not (`nmstate.io/v2`
    /// `NodeNetworkState`), the versions it reads: such an object is reported, never skipped in silence.
    pub fn unread_version(api_version: &str, kind: &str) -> Option<&'static str> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let known = match (group, kind) {
            ("nmstate.io", "NodeNetworkState" | "NodeNetworkConfigurationPolicy") => {
                "nmstate.io/v1, v1beta1 and v1alpha1"
            }
            _ => return None,
        };
        (Kind::from_gvk(group, version, kind) == Kind::Other).then_some(known)
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

/// A manifest read as the object the rules judge, with the fields left out because the API server
/// would refuse their type.
#[derive(Debug, Clone)]
pub struct Shaped {
    pub object: DynamicObject,
    /// `object-schema` findings, one per field left out.
    pub problems: Vec<Finding>,
}

/// What each `metadata` field must be, in the words a field error uses.
fn expected(key: &str) -> &'static str {
    match key {
        "labels" | "annotations" => "must be a mapping of strings to strings",
        "finalizers" => "must be a list of strings",
        "ownerReferences" | "managedFields" => "must be a list of objects",
        "generation" | "deletionGracePeriodSeconds" => "must be an integer",
        "creationTimestamp" | "deletionTimestamp" => "must be an RFC 3339 time string",
        _ => "must be a string",
    }
}

/// Reads a manifest the way the API server decodes it, except that a `metadata` field of the wrong
/// type (an unrendered `{CNVNamespace}` doc attribute is a YAML mapping, `"true"` written as `true`
/// in a label) is left out with a field error instead of failing the whole object, so the rest of
/// the object is still judged.
pub fn shaped(mut value: Value) -> Shaped {
    let mut problems = Vec::new();
    let mut problem = |field: String, v: &Value, why: &str| {
        problems.push(Finding { rule: Rule::ObjectSchema, field, message: msg::invalid_json(v, why) });
    };
    if let Some(root) = value.as_object_mut() {
        for key in ["apiVersion", "kind"] {
            if root.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
                let v = root.remove(key).unwrap_or_default();
                problem(key.to_owned(), &v, "must be a string");
            }
        }
        match root.get_mut("metadata") {
            None | Some(Value::Null) => {}
            // the common case, read in place: a whole dump is not copied to find nothing
            Some(meta @ Value::Object(_)) if ObjectMeta::deserialize(&*meta).is_ok() => {}
            Some(Value::Object(meta)) => clean_metadata(meta, &mut problem),
            Some(other) => {
                let v = std::mem::replace(other, Value::Object(Map::new()));
                problem("metadata".to_owned(), &v, "must be a mapping (name, namespace, labels, ...)");
            }
        }
    }
    let types = match (value.get("apiVersion"), value.get("kind")) {
        (Some(Value::String(a)), Some(Value::String(k))) => {
            Some(TypeMeta { api_version: a.clone(), kind: k.clone() })
        }
        _ => None,
    };
    let object = match serde_json::from_value::<DynamicObject>(value) {
        Ok(object) => object,
        Err(e) => {
            // Not expected after the cleaning; keep the kind so the object is still reported.
            problem("metadata".to_owned(), &Value::Null, &e.to_string());
            DynamicObject { types, metadata: ObjectMeta::default(), data: Value::Object(Map::new()) }
        }
    };
    Shaped { object, problems }
}

fn clean_metadata(meta: &mut Map<String, Value>, problem: &mut impl FnMut(String, &Value, &str)) {
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = meta.get_mut(key) {
            let bad: Vec<String> =
                map.iter().filter(|(_, v)| !v.is_string() && !v.is_null()).map(|(k, _)| k.clone()).collect();
            for k in bad {
                let v = map.remove(&k).unwrap_or_default();
                let why = match &v {
                    Value::Bool(_) | Value::Number(_) => format!("must be a string: quote it, \"{v}\""),
                    _ => "must be a string".to_owned(),
                };
                problem(format!("metadata.{key}[{k}]"), &v, &why);
            }
        }
    }
    let keys: Vec<String> = meta.keys().cloned().collect();
    for key in keys {
        let Some(v) = meta.get(&key) else { continue };
        let one = Value::Object(Map::from_iter([(key.clone(), v.clone())]));
        if serde_json::from_value::<ObjectMeta>(one).is_err() {
            let v = meta.remove(&key).unwrap_or_default();
            problem(format!("metadata.{key}"), &v, expected(&key));
        }
    }
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
        // every nmstate.io version of one shape reads alike
        for v in ["nmstate.io/v1", "nmstate.io/v1beta1", "nmstate.io/v1alpha1"] {
            assert_eq!(Kind::from_api_version(v, "NodeNetworkState"), Kind::NodeNetworkState);
            assert_eq!(Kind::from_api_version(v, "NodeNetworkConfigurationPolicy"), Kind::Nncp);
            assert_eq!(Kind::unread_version(v, "NodeNetworkState"), None);
        }
        assert_eq!(Kind::from_api_version("nmstate.io/v2", "NodeNetworkConfigurationPolicy"), Kind::Other);
        // a known kind in a version mignet does not read is told apart from a kind it does not know
        assert_eq!(
            Kind::unread_version("nmstate.io/v2", "NodeNetworkConfigurationPolicy"),
            Some("nmstate.io/v1, v1beta1 and v1alpha1")
        );
        assert!(Kind::unread_version("nmstate.io/v2", "NodeNetworkState").is_some());
        assert_eq!(Kind::unread_version("nmstate.io/v1", "NodeNetworkConfigurationEnactment"), None);
        assert_eq!(Kind::unread_version("v1", "ConfigMap"), None);
        assert_eq!(Kind::from_api_version("kubevirt.io/v1", "KubeVirt"), Kind::KubeVirt);
        assert_eq!(
            Kind::from_api_version("migrations.kubevirt.io/v1alpha1", "MigrationPolicy"),
            Kind::MigrationPolicy
        );
        assert_eq!(Kind::from_api_version("kubevirt.io/v1", "VirtualMachineInstanceMigration"), Kind::Vmim);
        assert_eq!(Kind::from_api_version("kubevirt.io/v1", "VirtualMachineInstance"), Kind::Other);
        use crate::policy::udn::NetKind;
        assert_eq!(
            Kind::from_api_version("k8s.ovn.org/v1", "UserDefinedNetwork"),
            Kind::UserDefinedNetwork(NetKind::Udn)
        );
        assert_eq!(
            Kind::from_api_version("k8s.ovn.org/v1", "ClusterUserDefinedNetwork"),
            Kind::UserDefinedNetwork(NetKind::Cudn)
        );
        assert_eq!(Kind::from_api_version("k8s.ovn.org/v2", "UserDefinedNetwork"), Kind::Other);
    }
}

#[cfg(test)]
mod shape_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_of_the_wrong_type_are_left_out_with_a_field_error() {
        let s = shaped(json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "m", "namespace": {"CNVNamespace": null},
                         "labels": {"mignet.io/live-migration": true, "app": "x"}, "generation": "one"},
            "spec": {"config": "{}"}}));
        let shown: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "metadata.labels[mignet.io/live-migration]: Invalid value: true: must be a string: quote it, \"true\"",
                "metadata.generation: Invalid value: \"one\": must be an integer",
                "metadata.namespace: Invalid value: {\"CNVNamespace\":null}: must be a string",
            ]
        );
        assert!(s.problems.iter().all(|p| p.rule == Rule::ObjectSchema));
        assert_eq!(name(&s.object), "m");
        assert_eq!(namespace(&s.object), "");
        assert_eq!(s.object.metadata.labels.as_ref().map(|l| l.len()), Some(1));
        assert_eq!(s.object.data["spec"]["config"], "{}");
    }

    #[test]
    fn metadata_that_is_not_a_mapping_is_replaced() {
        let s = shaped(json!({"apiVersion": "v1", "kind": "X", "metadata": 5}));
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].field, "metadata");
        let s = shaped(json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "ok"}}));
        assert!(s.problems.is_empty());
    }
}
