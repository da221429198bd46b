//! Structural schemas for the fake API server's custom resources, and what kube-apiserver does with
//! them: prune unknown fields and apply defaults.
//!
//! The schemas are small hand-written excerpts in the shape of the real CRDs (the NAD CRD of
//! network-attachment-definition-client, HCO's `hco00.crd.yaml` at v1.17, v1.18 and v1.19,
//! OVN-Kubernetes' UDN and CUDN CRDs): every field
//! mignet reads or a test writes is there, with the real defaults; the hundreds of other fields are
//! not, so they are pruned as fields unknown to the schema would be.
//!
//! Pruning and defaulting follow apiextensions-apiserver's `structuralpruning.Prune` and
//! `structuraldefaulting.Default`: a key is kept when the schema names it in `properties`, or has
//! `additionalProperties`, or `x-kubernetes-preserve-unknown-fields` is set; `apiVersion`, `kind` and
//! `metadata` of the object itself are always kept. A property with a `default` that is absent is set
//! to it, and defaulting then continues inside the value set.

use serde_json::{Map, Value, json};

/// HyperConverged Operator releases whose CRD differs in what mignet reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HcoRelease {
    /// v1beta1 only.
    V1_17,
    /// v1 and v1beta1 served, v1beta1 stored; discovery prefers v1.
    V1_18,
    /// v1 stored, v1beta1 still served; completionTimeoutPerGiB 20 and one outbound migration per node.
    V1_19,
}

impl HcoRelease {
    /// `(version, served, storage)` of the CRD's versions, storage first.
    pub fn versions(self) -> &'static [(&'static str, bool, bool)] {
        match self {
            HcoRelease::V1_17 => &[("v1beta1", true, true)],
            HcoRelease::V1_18 => &[("v1beta1", true, true), ("v1", true, false)],
            HcoRelease::V1_19 => &[("v1", true, true), ("v1beta1", true, false)],
        }
    }

    fn migration_defaults(self) -> Value {
        let (per_gib, outbound) = match self {
            HcoRelease::V1_19 => (20, 1),
            _ => (150, 2),
        };
        json!({"allowAutoConverge": false, "allowPostCopy": false, "completionTimeoutPerGiB": per_gib,
               "parallelMigrationsPerCluster": 5, "parallelOutboundMigrationsPerNode": outbound,
               "progressTimeout": 150})
    }
}

fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

fn preserved() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn live_migration_config(release: HcoRelease) -> Value {
    let mut s = object(json!({
        "allowAutoConverge": {"type": "boolean", "default": false},
        "allowPostCopy": {"type": "boolean", "default": false},
        "bandwidthPerMigration": {"type": "string"},
        "completionTimeoutPerGiB": {"type": "integer", "default": release.migration_defaults()["completionTimeoutPerGiB"]},
        "network": {"type": "string"},
        "parallelMigrationsPerCluster": {"type": "integer", "default": 5},
        "parallelOutboundMigrationsPerNode": {"type": "integer", "default": release.migration_defaults()["parallelOutboundMigrationsPerNode"]},
        "progressTimeout": {"type": "integer", "default": 150},
    }));
    s["default"] = release.migration_defaults();
    s
}

/// The v1beta1 HyperConverged schema: settings at `spec.liveMigrationConfig`.
pub fn hco_v1beta1(release: HcoRelease) -> Value {
    let feature_gates = json!({"type": "object", "properties": {
        "downwardMetrics": {"type": "boolean", "default": false},
        "decentralizedLiveMigration": {"type": "boolean", "default": true},
    }, "default": {"downwardMetrics": false, "decentralizedLiveMigration": true}});
    let mut spec = object(json!({
        "featureGates": feature_gates,
        "liveMigrationConfig": live_migration_config(release),
        "uninstallStrategy": {"type": "string", "default": "BlockUninstallIfWorkloadsExist"},
        "infra": preserved(),
        "workloads": preserved(),
    }));
    spec["default"] = json!({"featureGates": {"downwardMetrics": false, "decentralizedLiveMigration": true},
                             "liveMigrationConfig": release.migration_defaults(),
                             "uninstallStrategy": "BlockUninstallIfWorkloadsExist"});
    object(
        json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                  "spec": spec, "status": preserved()}),
    )
}

/// The v1 HyperConverged schema: settings at `spec.virtualization.liveMigrationConfig`, feature
/// gates a list.
pub fn hco_v1(release: HcoRelease) -> Value {
    let mut virtualization = object(json!({"liveMigrationConfig": live_migration_config(release)}));
    virtualization["default"] = json!({"liveMigrationConfig": release.migration_defaults()});
    let mut deployment =
        object(json!({"uninstallStrategy": {"type": "string", "default": "BlockUninstallIfWorkloadsExist"}}));
    deployment["default"] = json!({"uninstallStrategy": "BlockUninstallIfWorkloadsExist"});
    let mut spec = object(json!({
        "featureGates": {"type": "array", "items": object(json!({"name": {"type": "string"}, "state": {"type": "string"}}))},
        "virtualization": virtualization,
        "deployment": deployment,
    }));
    spec["default"] = json!({"virtualization": {"liveMigrationConfig": release.migration_defaults()},
                             "deployment": {"uninstallStrategy": "BlockUninstallIfWorkloadsExist"}});
    object(
        json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                  "spec": spec, "status": preserved()}),
    )
}

/// The NetworkAttachmentDefinition schema: `spec.config`, a string, and nothing else.
pub fn nad_v1() -> Value {
    object(
        json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                  "spec": object(json!({"config": {"type": "string"}}))}),
    )
}

/// The NodeNetworkState schema (nmstate.io/v1beta1): everything lives in `status`, written by the
/// handler through the status subresource; `currentState` is nmstate's own document, kept whole.
pub fn nns_v1beta1() -> Value {
    let status = object(json!({
        "currentState": preserved(),
        "lastSuccessfulUpdateTime": {"type": "string"},
        "handlerNmstateVersion": {"type": "string"},
    }));
    object(
        json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                  "status": status}),
    )
}

/// The NodeNetworkConfigurationPolicy schema (v1 and v1beta1 alike): `desiredState` is nmstate's
/// own document, kept whole.
pub fn nncp() -> Value {
    let spec = object(json!({
        "capture": {"type": "object", "additionalProperties": {"type": "string"}},
        "desiredState": preserved(),
        "maxUnavailable": {"x-kubernetes-int-or-string": true},
        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
    }));
    object(
        json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                  "spec": spec, "status": preserved()}),
    )
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn enumerated(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn required(mut schema: Value, fields: &[&str]) -> Value {
    schema["required"] = json!(fields);
    schema
}

/// OVN-Kubernetes' network blocks as `k8s.ovn.org_*userdefinednetworks.yaml` declare them (without
/// their CEL rules): `layer2` and `layer3` for UDNs, and `localnet` too for CUDNs.
fn udn_topologies(localnet: bool) -> Map<String, Value> {
    let ipam = object(
        json!({"lifecycle": enumerated(&["Persistent"]), "mode": enumerated(&["Enabled", "Disabled"])}),
    );
    let role = enumerated(&["Primary", "Secondary"]);
    let layer2 = object(json!({
        "defaultGatewayIPs": strings(), "infrastructureSubnets": strings(), "ipam": ipam,
        "joinSubnets": strings(), "mtu": {"type": "integer"}, "reservedSubnets": strings(),
        "role": role, "subnets": strings(),
    }));
    let cidr = object(json!({"cidr": {"type": "string"}, "hostSubnet": {"type": "integer"}}));
    let layer3 = object(json!({
        "joinSubnets": strings(), "mtu": {"type": "integer"}, "role": role,
        "subnets": {"type": "array", "items": required(cidr, &["cidr"])},
    }));
    let mut blocks = Map::new();
    blocks.insert("layer2".into(), required(layer2, &["role"]));
    blocks.insert("layer3".into(), required(layer3, &["role", "subnets"]));
    if localnet {
        let vlan = object(json!({"access": required(object(json!({"id": {"type": "integer"}})), &["id"]),
                                 "mode": enumerated(&["Access"])}));
        let localnet = object(json!({
            "excludeSubnets": strings(), "ipam": ipam, "mtu": {"type": "integer"},
            "physicalNetworkName": {"type": "string"}, "role": enumerated(&["Secondary"]),
            "subnets": strings(), "vlan": required(vlan, &["mode"]),
        }));
        blocks.insert("localnet".into(), required(localnet, &["physicalNetworkName", "role"]));
    }
    blocks
}

/// Written by OVN-Kubernetes through the status subresource: its conditions.
fn udn_status() -> Value {
    let condition = object(json!({
        "lastTransitionTime": {"type": "string"}, "message": {"type": "string"},
        "observedGeneration": {"type": "integer"}, "reason": {"type": "string"},
        "status": enumerated(&["True", "False", "Unknown"]), "type": {"type": "string"},
    }));
    object(json!({"conditions": {"type": "array", "items": condition}}))
}

/// The UserDefinedNetwork schema (`k8s.ovn.org/v1`, namespaced): `spec.topology` and its block.
pub fn udn_v1() -> Value {
    let mut spec = udn_topologies(false);
    spec.insert("topology".into(), enumerated(&["Layer2", "Layer3"]));
    let spec = required(json!({"type": "object", "properties": spec}), &["topology"]);
    required(
        object(
            json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                      "spec": spec, "status": udn_status()}),
        ),
        &["spec"],
    )
}

/// The ClusterUserDefinedNetwork schema (`k8s.ovn.org/v1`, cluster scoped): a namespace selector and
/// `spec.network`, whose topology may also be Localnet.
pub fn cudn_v1() -> Value {
    let mut network = udn_topologies(true);
    network.insert("topology".into(), enumerated(&["Layer2", "Layer3", "Localnet"]));
    network.insert("transport".into(), enumerated(&["NoOverlay", "EVPN"]));
    network.insert("evpn".into(), preserved());
    network.insert("noOverlay".into(), preserved());
    let network = required(json!({"type": "object", "properties": network}), &["topology"]);
    let expression =
        object(json!({"key": {"type": "string"}, "operator": {"type": "string"}, "values": strings()}));
    let selector = object(json!({
        "matchExpressions": {"type": "array", "items": required(expression, &["key", "operator"])},
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    }));
    let spec = required(
        object(json!({"namespaceSelector": selector, "network": network, "uplinks": strings()})),
        &["namespaceSelector", "network"],
    );
    required(
        object(
            json!({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                      "spec": spec, "status": udn_status()}),
        ),
        &["spec"],
    )
}

/// A schema that keeps every field of the object (`x-kubernetes-preserve-unknown-fields` at the root),
/// for kinds whose fields mignet reads but the fake API server does not prune.
pub fn kept_whole() -> Value {
    preserved()
}

/// Removes what the schema does not know from an object (its root keeps apiVersion, kind, metadata).
pub fn prune(object: &mut Value, schema: &Value) {
    prune_at(object, Some(schema), true);
}

fn prune_at(x: &mut Value, s: Option<&Value>, root: bool) {
    if s.is_some_and(|s| s["x-kubernetes-preserve-unknown-fields"] == json!(true)) {
        return;
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                map.clear();
                return;
            };
            map.retain(|k, v| {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    return true;
                }
                if let Some(prop) = s["properties"].get(k) {
                    prune_at(v, Some(prop), false);
                    true
                } else if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                    prune_at(v, Some(extra), false);
                    true
                } else {
                    false
                }
            });
        }
        Value::Array(items) => {
            for item in items {
                prune_at(item, s.and_then(|s| s.get("items")), false);
            }
        }
        _ => {}
    }
}

/// Sets every absent property that has a default, all the way down.
pub fn default(x: &mut Value, s: &Value) {
    match x {
        Value::Object(map) => {
            if let Some(props) = s["properties"].as_object() {
                for (k, prop) in props {
                    if let Some(d) = prop.get("default")
                        && !map.contains_key(k)
                    {
                        map.insert(k.clone(), d.clone());
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(prop) = props.get(k) {
                        default(v, prop);
                    }
                }
            } else if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    default(v, extra);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for item in items {
                    default(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// The first value whose type the schema contradicts, as kube-apiserver's 422 names it.
pub fn type_error(x: &Value, s: &Value) -> Option<String> {
    type_error_at(x, s, None, "")
}

/// [`type_error`] for an update, ratcheted as kube-apiserver does (CRD validation ratcheting, on by
/// default since 1.33): a value equal to the one at the same path of `old` (the stored object read
/// through the same version) is not re-validated, so an update may keep what the schema no longer
/// accepts, e.g. v1beta1's `featureGates` object read through v1, whose schema wants a list.
pub fn type_error_ratcheted(x: &Value, s: &Value, old: Option<&Value>) -> Option<String> {
    type_error_at(x, s, old, "")
}

fn type_error_at(x: &Value, s: &Value, old: Option<&Value>, path: &str) -> Option<String> {
    if old == Some(x) {
        return None;
    }
    let ok = match s["type"].as_str() {
        Some("string") => x.is_string(),
        Some("integer") => x.is_i64() || x.is_u64(),
        Some("boolean") => x.is_boolean(),
        Some("array") => x.is_array(),
        Some("object") => x.is_object(),
        _ => true,
    };
    if !ok && !x.is_null() {
        let want = s["type"].as_str().unwrap_or_default();
        let got = match x {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            _ => "number",
        };
        let path = path.trim_start_matches('.');
        return Some(format!(
            "{path}: Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
        ));
    }
    if let Some(allowed) = s["enum"].as_array().filter(|a| !a.contains(x) && !x.is_null()) {
        let path = path.trim_start_matches('.');
        let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Some(format!("{path}: Unsupported value: {x}: supported values: {}", listed.join(", ")));
    }
    match x {
        Value::Object(map) => {
            let missing = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str);
            if let Some(k) = missing.into_iter().find(|k| !map.contains_key(*k)) {
                return Some(format!("{}: Required value", format!("{path}.{k}").trim_start_matches('.')));
            }
            let props = s["properties"].as_object().cloned().unwrap_or_else(Map::new);
            map.iter().find_map(|(k, v)| {
                let was = old.and_then(|o| o.get(k));
                props.get(k).and_then(|p| type_error_at(v, p, was, &format!("{path}.{k}")))
            })
        }
        Value::Array(items) => s.get("items").and_then(|each| {
            items.iter().enumerate().find_map(|(i, v)| {
                type_error_at(v, each, old.and_then(|o| o.get(i)), &format!("{path}[{i}]"))
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    // also compiled into benches/live_view.rs, whose harness drops #[test] functions
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn a_read_through_v1_of_a_v1beta1_object_loses_its_live_migration_settings() {
        let mut o = json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
            "metadata": {"name": "kubevirt-hyperconverged"},
            "spec": {"liveMigrationConfig": {"network": "migration-bridge"}, "featureGates": {"downwardMetrics": true}}});
        prune(&mut o, &hco_v1(HcoRelease::V1_18));
        // as captured from kube-apiserver: spec keeps an emptied featureGates only
        assert_eq!(o["spec"], json!({"featureGates": {}}));
        assert_eq!(o["metadata"]["name"], "kubevirt-hyperconverged");
    }

    #[test]
    fn defaults_fill_what_is_absent_all_the_way_down() {
        let mut spec = json!({"spec": {"liveMigrationConfig": {"network": "m", "progressTimeout": 300}}});
        default(&mut spec, &hco_v1beta1(HcoRelease::V1_19));
        let lm = &spec["spec"]["liveMigrationConfig"];
        assert_eq!((lm["network"].as_str(), lm["progressTimeout"].as_i64()), (Some("m"), Some(300)));
        assert_eq!(lm["completionTimeoutPerGiB"], 20);
        // spec has an object default of its own, as in the real CRD
        let mut empty = json!({});
        default(&mut empty, &hco_v1(HcoRelease::V1_18));
        assert_eq!(empty["spec"]["deployment"]["uninstallStrategy"], "BlockUninstallIfWorkloadsExist");
        let mut bare = json!({"spec": {}});
        default(&mut bare, &hco_v1(HcoRelease::V1_18));
        assert_eq!(bare["spec"]["virtualization"]["liveMigrationConfig"]["completionTimeoutPerGiB"], 150);
    }

    #[test]
    fn preserved_subtrees_and_the_object_root_are_kept() {
        let mut o = json!({"apiVersion": "x", "kind": "y", "metadata": {"a": 1}, "extra": 1,
                           "spec": {"infra": {"anything": {"goes": true}}, "unknown": 1}, "status": {"s": 1}});
        prune(&mut o, &hco_v1beta1(HcoRelease::V1_18));
        assert_eq!(
            o,
            json!({"apiVersion": "x", "kind": "y", "metadata": {"a": 1},
                             "spec": {"infra": {"anything": {"goes": true}}}, "status": {"s": 1}})
        );
    }

    #[test]
    fn an_update_may_keep_a_value_its_schema_no_longer_accepts() {
        let v1 = hco_v1(HcoRelease::V1_18);
        let old = json!({"spec": {"featureGates": {}}});
        let kept = json!({"spec": {"featureGates": {}, "virtualization": {}}});
        assert_eq!(type_error_ratcheted(&kept, &v1, Some(&old)), None);
        let changed = json!({"spec": {"featureGates": {"a": true}}});
        assert!(type_error_ratcheted(&changed, &v1, Some(&old)).unwrap().contains("spec.featureGates"));
        assert!(type_error(&kept, &v1).is_some(), "a create is checked whole");
    }

    #[test]
    fn a_udn_outside_its_enums_or_missing_a_required_field_is_refused() {
        let udn = |spec: Value| json!({"spec": spec});
        let e = type_error(&udn(json!({"topology": "Layer4"})), &udn_v1()).unwrap();
        assert_eq!(
            e,
            "spec.topology: Unsupported value: \"Layer4\": supported values: \"Layer2\", \"Layer3\""
        );
        let e = type_error(
            &udn(json!({"topology": "Layer3", "layer3": {"role": "Primary", "subnets": [{}]}})),
            &udn_v1(),
        );
        assert_eq!(e.as_deref(), Some("spec.layer3.subnets[0].cidr: Required value"));
        assert_eq!(type_error(&json!({}), &cudn_v1()).as_deref(), Some("spec: Required value"));
        let fine =
            udn(json!({"topology": "Layer2", "layer2": {"role": "Secondary", "subnets": ["10.1.0.0/16"]}}));
        assert_eq!(type_error(&fine, &udn_v1()), None);
    }

    #[test]
    fn a_nad_config_that_is_not_a_string_is_refused() {
        let bad = json!({"spec": {"config": {"type": "macvlan"}}});
        let e = type_error(&bad, &nad_v1()).unwrap();
        assert!(e.contains("spec.config") && e.contains("must be of type string"), "{e}");
        assert_eq!(type_error(&json!({"spec": {"config": "{}"}}), &nad_v1()), None);
    }
}
