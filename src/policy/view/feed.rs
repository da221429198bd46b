//! Turning Kubernetes objects into view entries: shared by the offline CLI, the fixed server view and
//! the live watchers, so every adapter sees the cluster the same way.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use serde_json::Value;

use crate::policy::view::{
    Discovered, HcEntry, HcRead, KvEntry, NodeInfo, ReservedKind, View,
    inflight::{self, Migration, MigrationKey},
};
use crate::policy::{HcVersion, Kind, Policy, object};

/// The view entry of a HyperConverged: where its live-migration network points.
///
/// Read from the path of the version it was served as, falling back to the other version's path:
/// where the CRD has no conversion webhook, objects come back in the layout they were stored in.
pub fn hc_entry(obj: &DynamicObject, version: HcVersion) -> HcEntry {
    let other = match version {
        HcVersion::V1Beta1 => HcVersion::V1,
        HcVersion::V1 => HcVersion::V1Beta1,
    };
    let network = [version, other]
        .iter()
        .find_map(|v| object::get(&obj.data, v.path()))
        .and_then(|lm| lm.get("network"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    HcEntry { namespace: object::namespace(obj).to_owned(), name: object::name(obj).to_owned(), network }
}

/// A HyperConverged as read through `through` from a live API server, with what tells its reads apart.
pub fn hc_read(obj: &DynamicObject, through: HcVersion) -> HcRead {
    HcRead {
        entry: hc_entry(obj, through),
        through,
        uid: obj.metadata.uid.clone().unwrap_or_default(),
        written_through: spec_written_through(obj),
    }
}

/// The version of the newest managed-fields entry that owns part of `spec`: the layout the spec was
/// last written in (kube-apiserver records each writer's apiVersion, whatever version is read).
fn spec_written_through(obj: &DynamicObject) -> Option<HcVersion> {
    obj.metadata
        .managed_fields
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| m.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some()))
        .max_by(|(i, a), (j, b)| (a.time.as_ref().map(|t| t.0), i).cmp(&(b.time.as_ref().map(|t| t.0), j)))
        .and_then(|(_, m)| match m.api_version.as_deref() {
            Some("hco.kubevirt.io/v1") => Some(HcVersion::V1),
            Some("hco.kubevirt.io/v1beta1") => Some(HcVersion::V1Beta1),
            _ => None,
        })
}

/// The view entry of a KubeVirt CR: its live-migration network and whether HCO manages it.
pub fn kubevirt_entry(obj: &DynamicObject) -> KvEntry {
    KvEntry {
        namespace: object::namespace(obj).to_owned(),
        name: object::name(obj).to_owned(),
        network: crate::policy::kinds::kubevirt::network(obj).map(str::to_owned),
        hco_managed: crate::policy::kinds::kubevirt::hco_labelled(obj),
    }
}

/// A VirtualMachineInstanceMigration: its identity, and `None` once it finished (`Succeeded` or
/// `Failed`). Any other phase, none, or a status of the wrong shape counts as unfinished.
pub fn migration(obj: &DynamicObject) -> (MigrationKey, Option<Migration>) {
    let key = MigrationKey { namespace: object::namespace(obj).into(), name: object::name(obj).into() };
    let text = |path: &[&str]| object::get(&obj.data, path).and_then(Value::as_str).unwrap_or_default();
    let phase = text(&["status", "phase"]);
    if inflight::finished(phase) {
        return (key, None);
    }
    let created = obj.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second());
    (key, Some(Migration { vmi: text(&["spec", "vmiName"]).into(), phase: phase.into(), created }))
}

/// Adds what an object tells about the cluster to the view; other kinds are ignored.
/// Returns whether the object was one the view keeps.
pub fn add(policy: &Policy, view: &mut View, obj: &DynamicObject) -> bool {
    match Kind::of(obj) {
        Kind::Nad => view.upsert_nad(policy.nad_entry(obj)),
        Kind::HyperConverged(v) => view.upsert_hc(hc_entry(obj, v)),
        Kind::Node => view.upsert_node_info(object::name(obj).to_owned(), node_info(policy, obj)),
        Kind::NodeNetworkState => {
            let (node, state) = crate::policy::host::host_network(obj);
            view.upsert_host_network(&node, state);
        }
        Kind::ClusterNetwork if object::name(obj) == "cluster" => {
            for (kind, d) in crate::policy::netconfig::cluster_network(&obj.data) {
                view.set_discovered(kind, d);
            }
        }
        Kind::OperatorNetwork if object::name(obj) == "cluster" => operator_network(policy, view, &obj.data),
        Kind::KubeVirt => view.upsert_kubevirt(kubevirt_entry(obj)),
        Kind::Vmim => {
            let (key, state) = migration(obj);
            view.set_migration(key, state);
        }
        Kind::UserDefinedNetwork(kind) => view.upsert_net(policy.net_entry(kind, obj)),
        _ => return false,
    }
    true
}

/// What the view keeps of a Node: whether it runs virt-handler, its labels and InternalIPs.
pub fn node_info(policy: &Policy, obj: &DynamicObject) -> NodeInfo {
    node_info_of(policy, &obj.metadata, crate::policy::host::internal_ips(obj))
}

/// The same from a Node's metadata and the InternalIPs known of it (none from a metadata-only watch).
pub fn node_info_of(policy: &Policy, meta: &ObjectMeta, internal_ips: Vec<std::net::IpAddr>) -> NodeInfo {
    NodeInfo {
        virt_handler: policy.selects_node(meta.labels.as_ref()),
        labels: Some(meta.labels.clone().unwrap_or_default()),
        internal_ips,
    }
}

/// Applies OVN overrides per address family, keeping the policy's value for a family not overridden.
pub fn operator_network(policy: &Policy, view: &mut View, data: &Value) {
    let overrides = crate::policy::netconfig::operator_network(data);
    for kind in [ReservedKind::OvnJoin, ReservedKind::OvnTransit, ReservedKind::OvnMasquerade] {
        let mine: Vec<_> = overrides.iter().filter(|(k, _, _)| *k == kind).collect();
        if mine.is_empty() {
            view.clear_discovered(kind);
            continue;
        }
        let mut nets: Vec<_> = mine.iter().map(|(_, n, _)| *n).collect();
        let families: Vec<u8> = nets.iter().map(|n| n.max_prefix_len()).collect();
        nets.extend(policy.reserved_for(kind).iter().filter(|n| !families.contains(&n.max_prefix_len())));
        let source = mine.iter().map(|(_, _, s)| s.as_str()).collect::<Vec<_>>().join(", ");
        view.set_discovered(kind, Discovered { nets, source });
    }
}

/// Builds a view from a set of objects, as `mignet check` and a fixed-view server do.
pub fn view_of<'a>(policy: &Policy, objects: impl IntoIterator<Item = &'a DynamicObject>) -> View {
    let mut view = View::new();
    for obj in objects {
        add(policy, &mut view, obj);
    }
    view
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::testutil::obj;

    #[test]
    fn migrations_of_any_shape_are_read_without_a_crash() {
        let vmim = |extra: serde_json::Value| {
            let mut v = json!({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration",
                "metadata":{"name":"m","namespace":"vms","creationTimestamp":"2026-01-01T00:00:00Z"}});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            obj(v)
        };
        let read = |extra| migration(&vmim(extra)).1;
        let running = read(json!({"spec":{"vmiName":"vm1"},"status":{"phase":"Running"}})).unwrap();
        assert_eq!(
            (&*running.vmi, &*running.phase, running.created),
            ("vm1", "Running", Some(1_767_225_600))
        );
        assert!(read(json!({"status":{"phase":"Succeeded"}})).is_none());
        assert!(read(json!({"status":{"phase":"Failed"}})).is_none());
        // no status, a phase of the wrong type, a status that is not an object, an unknown phase:
        // unfinished, which holds the network rather than let it go on a guess
        for extra in [
            json!({}),
            json!({"status":{"phase":7}}),
            json!({"status":"x"}),
            json!({"spec":5}),
            json!({"status":{"phase":"WaitingForSync"}}),
        ] {
            assert!(read(extra.clone()).is_some(), "{extra}");
        }
        let mut view = View::new();
        assert!(add(&Policy::default(), &mut view, &vmim(json!({}))));
        assert_eq!(view.in_flight().len(), 1);
        assert!(add(&Policy::default(), &mut view, &vmim(json!({"status":{"phase":"Succeeded"}}))));
        assert!(view.in_flight().is_empty());
    }

    #[test]
    fn raw_configs_are_kept_only_in_the_migration_namespace() {
        let config =
            r#"{"cniVersion":"0.3.1","type":"macvlan","ipam":{"type":"whereabouts","range":"10.9.0.0/24"}}"#;
        let nad = |ns: &str| {
            obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
                "metadata":{"name":"n","namespace":ns},"spec":{"config":config}}))
        };
        let policy = Policy::default();
        let view = view_of(&policy, [&nad("openshift-cnv"), &nad("tenant")]);
        assert_eq!(view.nad("openshift-cnv", "n").and_then(|e| e.config.as_deref()), Some(config));
        let tenant = view.nad("tenant", "n").expect("tenant NAD in the view");
        assert_eq!(tenant.config, None);
        assert_eq!(tenant.ranges.as_slice(), ["10.9.0.0/24".parse().unwrap()]);
    }

    #[test]
    fn a_read_knows_the_version_its_spec_was_last_written_through() {
        let managed = |entries: serde_json::Value| {
            obj(json!({"apiVersion":"hco.kubevirt.io/v1","kind":"HyperConverged",
                "metadata":{"name":"h","namespace":"openshift-cnv","uid":"u-1","managedFields":entries},
                "spec":{"featureGates":{}}}))
        };
        let entry = |version: &str, time: &str, field: &str| {
            json!({"apiVersion": format!("hco.kubevirt.io/{version}"), "fieldsType": "FieldsV1",
                   "fieldsV1": {field: {}}, "manager": "m", "operation": "Update", "time": time})
        };
        // as captured: created through v1beta1, read through v1 (pruned)
        let r = hc_read(&managed(json!([entry("v1beta1", "2026-12-01T08:12:39Z", "f:spec")])), HcVersion::V1);
        assert_eq!(
            (r.through, r.written_through, r.uid.as_str()),
            (HcVersion::V1, Some(HcVersion::V1Beta1), "u-1")
        );
        assert_eq!(r.entry.network, None);
        // the newest spec writer counts; a newer status-only writer does not
        let later = managed(json!([
            entry("v1beta1", "2026-12-01T08:12:39Z", "f:spec"),
            entry("v1", "2026-12-01T09:00:00Z", "f:spec"),
            entry("v1beta1", "2026-12-01T10:00:00Z", "f:status"),
        ]));
        assert_eq!(hc_read(&later, HcVersion::V1Beta1).written_through, Some(HcVersion::V1));
        assert_eq!(hc_read(&managed(json!([])), HcVersion::V1).written_through, None);
    }

    #[test]
    fn hc_network_is_read_from_either_layout() {
        let v1beta1_shaped = obj(json!({"apiVersion":"hco.kubevirt.io/v1","kind":"HyperConverged",
            "metadata":{"name":"h","namespace":"openshift-cnv"},
            "spec":{"liveMigrationConfig":{"network":"migration-bridge"}}}));
        assert_eq!(hc_entry(&v1beta1_shaped, HcVersion::V1).network.as_deref(), Some("migration-bridge"));
        let v1_shaped = obj(json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
            "metadata":{"name":"h","namespace":"openshift-cnv"},
            "spec":{"virtualization":{"liveMigrationConfig":{"network":"m2"}}}}));
        assert_eq!(hc_entry(&v1_shaped, HcVersion::V1Beta1).network.as_deref(), Some("m2"));
        let none = obj(json!({"apiVersion":"hco.kubevirt.io/v1","kind":"HyperConverged",
            "metadata":{"name":"h","namespace":"openshift-cnv"},"spec":{}}));
        assert_eq!(hc_entry(&none, HcVersion::V1).network, None);
    }
}
