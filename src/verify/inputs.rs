//! The objects the checks read, wherever they came from (dumped files or the API server).

use std::collections::{BTreeMap, BTreeSet};

use kube::core::DynamicObject;

use crate::policy::{Kind, object};

/// Label every virt-handler pod carries.
pub const VIRT_HANDLER_LABEL: (&str, &str) = ("kubevirt.io", "virt-handler");

/// The kinds of object verification reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    HyperConverged,
    Nad,
    KubeVirt,
    /// Pods labelled `kubevirt.io=virt-handler`; other pods are not kept.
    VirtHandler,
    Vmi,
    Node,
    /// `config.openshift.io/v1` and `operator.openshift.io/v1` `Network` objects (reserved ranges).
    NetworkConfig,
    /// kubernetes-nmstate's per-node host network reports.
    NodeNetworkState,
}

impl Resource {
    /// Classifies an object by its `apiVersion` and `kind`; `None` for objects verification ignores.
    pub fn of(obj: &DynamicObject) -> Option<Resource> {
        match Kind::of(obj) {
            Kind::Nad => return Some(Resource::Nad),
            Kind::HyperConverged(_) => return Some(Resource::HyperConverged),
            Kind::Node => return Some(Resource::Node),
            Kind::ClusterNetwork | Kind::OperatorNetwork => return Some(Resource::NetworkConfig),
            Kind::NodeNetworkState => return Some(Resource::NodeNetworkState),
            Kind::KubeVirt => return Some(Resource::KubeVirt),
            Kind::Nncp | Kind::MigrationPolicy | Kind::Vmim | Kind::UserDefinedNetwork(_) | Kind::Other => {}
        }
        let types = obj.types.as_ref()?;
        let group = types.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        match (group, types.kind.as_str()) {
            ("kubevirt.io", "KubeVirt") => Some(Resource::KubeVirt),
            ("kubevirt.io", "VirtualMachineInstance") => Some(Resource::Vmi),
            ("", "Pod") if is_virt_handler(obj) => Some(Resource::VirtHandler),
            _ => None,
        }
    }

    /// How a person names this kind in a message.
    pub fn describe(self) -> &'static str {
        match self {
            Resource::HyperConverged => "HyperConverged",
            Resource::Nad => "NetworkAttachmentDefinition",
            Resource::KubeVirt => "KubeVirt",
            Resource::VirtHandler => "virt-handler Pod",
            Resource::Vmi => "VirtualMachineInstance",
            Resource::Node => "Node",
            Resource::NetworkConfig => "Network config",
            Resource::NodeNetworkState => "NodeNetworkState",
        }
    }
}

fn is_virt_handler(obj: &DynamicObject) -> bool {
    let (key, value) = VIRT_HANDLER_LABEL;
    obj.metadata.labels.as_ref().and_then(|l| l.get(key)).is_some_and(|v| v == value)
}

/// The objects read, by kind, each kept once, plus the kinds the cluster does not serve.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    objects: BTreeMap<Resource, Vec<DynamicObject>>,
    seen: BTreeSet<(Resource, String, String)>,
    unavailable: BTreeMap<Resource, String>,
}

impl Inputs {
    /// No objects yet.
    pub fn new() -> Self {
        Inputs::default()
    }

    /// Keeps an object of a kind verification reads; returns whether it was kept. The first copy of an
    /// object wins: dumps often hold the same object twice (per namespace and cluster-wide, or once
    /// per API version).
    pub fn add(&mut self, obj: DynamicObject) -> bool {
        let Some(resource) = Resource::of(&obj) else { return false };
        let key = (resource, object::namespace(&obj).to_owned(), object::name(&obj).to_owned());
        if !self.seen.insert(key) {
            return false;
        }
        self.objects.entry(resource).or_default().push(obj);
        true
    }

    /// Records that the cluster does not serve a kind (its CRD is not installed), and why.
    pub fn set_unavailable(&mut self, resource: Resource, why: impl Into<String>) {
        self.unavailable.insert(resource, why.into());
    }

    /// Why a kind could not be read, when the cluster does not serve it.
    pub fn unavailable(&self, resource: Resource) -> Option<&str> {
        self.unavailable.get(&resource).map(String::as_str)
    }

    /// Every object kept of one kind, in the order read.
    pub fn of(&self, resource: Resource) -> &[DynamicObject] {
        self.objects.get(&resource).map(Vec::as_slice).unwrap_or_default()
    }

    /// Objects of one kind in one namespace.
    pub fn in_namespace<'a, 'n>(
        &'a self,
        resource: Resource,
        namespace: &'n str,
    ) -> impl Iterator<Item = &'a DynamicObject> + use<'a, 'n> {
        self.of(resource).iter().filter(move |o| object::namespace(o) == namespace)
    }

    /// Number of objects kept, all kinds together.
    pub fn len(&self) -> usize {
        self.objects.values().map(Vec::len).sum()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: serde_json::Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn classifies_what_verify_reads() {
        let of = |v| Resource::of(&obj(v));
        assert_eq!(
            of(json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": "k"}})),
            Some(Resource::KubeVirt)
        );
        assert_eq!(
            of(
                json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "v"}})
            ),
            Some(Resource::Vmi)
        );
        assert_eq!(
            of(
                json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged", "metadata": {"name": "h"}})
            ),
            Some(Resource::HyperConverged)
        );
        let pod =
            |labels| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": labels}});
        assert_eq!(of(pod(json!({"kubevirt.io": "virt-handler"}))), Some(Resource::VirtHandler));
        assert_eq!(of(pod(json!({"kubevirt.io": "virt-launcher"}))), None);
        assert_eq!(of(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})), None);
        assert_eq!(
            of(json!({"apiVersion": "other.io/v1", "kind": "KubeVirt", "metadata": {"name": "k"}})),
            None
        );
    }

    #[test]
    fn keeps_each_object_once() {
        let mut inputs = Inputs::new();
        let kv = |ns: &str| {
            obj(
                json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": "k", "namespace": ns}}),
            )
        };
        assert!(inputs.add(kv("a")));
        assert!(!inputs.add(kv("a")));
        assert!(inputs.add(kv("b")));
        assert!(!inputs.add(obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}))));
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs.in_namespace(Resource::KubeVirt, "b").count(), 1);
        assert!(inputs.of(Resource::Vmi).is_empty());
    }

    #[test]
    fn remembers_unserved_kinds() {
        let mut inputs = Inputs::new();
        assert!(inputs.unavailable(Resource::HyperConverged).is_none());
        inputs.set_unavailable(Resource::HyperConverged, "the server could not find the requested resource");
        assert!(inputs.unavailable(Resource::HyperConverged).unwrap().contains("could not find"));
    }
}
