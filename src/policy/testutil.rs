//! Builders shared by the rule tests.

use kube::core::DynamicObject;
use serde_json::{Value, json};

use super::{Admission, Decision, HcVersion, Kind, Operation, Options, Policy, Rule, feed};
use crate::view::View;

pub const NS: &str = "openshift-cnv";

pub fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

pub fn reference_config() -> Value {
    json!({"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge",
           "ipam":{"type":"whereabouts","range":"192.168.99.0/24"}})
}

pub fn nad_in(ns: &str, name: &str, config: &Value) -> DynamicObject {
    let config = match config {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    obj(json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
               "metadata":{"name":name,"namespace":ns},"spec":{"config":config}}))
}

pub fn nad(config: &Value) -> DynamicObject {
    nad_in(NS, "migration-bridge", config)
}

pub fn with_label(mut o: DynamicObject, value: &str) -> DynamicObject {
    o.metadata.labels.get_or_insert_default().insert("mignet.io/live-migration".into(), value.into());
    o
}

pub fn hc(version: HcVersion, lm: Value) -> DynamicObject {
    let spec = match version {
        HcVersion::V1Beta1 => json!({"liveMigrationConfig": lm}),
        HcVersion::V1 => json!({"virtualization": {"liveMigrationConfig": lm}}),
    };
    obj(json!({"apiVersion": version.api_version(), "kind":"HyperConverged",
               "metadata":{"name":"kubevirt-hyperconverged","namespace":NS},"spec":spec}))
}

pub fn reference_hc_lm() -> Value {
    json!({"completionTimeoutPerGiB":800,"network":"migration-bridge","parallelMigrationsPerCluster":5,
           "parallelOutboundMigrationsPerNode":2,"progressTimeout":150})
}

pub fn node(name: &str, schedulable: bool) -> DynamicObject {
    let labels = if schedulable { json!({"kubevirt.io/schedulable":"true"}) } else { json!({}) };
    obj(json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"labels":labels}}))
}

pub fn view(objects: &[&DynamicObject]) -> View {
    feed::view_of(&Policy::default(), objects.iter().copied())
}

pub fn judge_with(
    policy: &Policy,
    op: Operation,
    o: &DynamicObject,
    old: Option<&DynamicObject>,
    v: &View,
) -> Decision {
    let (object, old_object) = match op {
        Operation::Delete => (None, Some(old.unwrap_or(o))),
        _ => (Some(o), old),
    };
    let adm = Admission { operation: op, kind: Kind::of(o), object, old_object };
    policy.decide(&adm, v, &Options::default())
}

/// Judges a CREATE with the default policy against a view holding the object itself plus `others`.
pub fn judge(o: &DynamicObject, others: &[&DynamicObject]) -> Decision {
    let mut all = others.to_vec();
    all.push(o);
    judge_with(&Policy::default(), Operation::Create, o, None, &view(&all))
}

pub fn denied(d: &Decision) -> Vec<(Rule, String)> {
    d.denials.iter().map(|f| (f.rule, f.field.clone())).collect()
}

pub fn warned(d: &Decision) -> Vec<(Rule, String)> {
    d.warnings.iter().map(|f| (f.rule, f.field.clone())).collect()
}

/// Asserts exactly one denial, of `rule` at `field`, and returns its message.
#[track_caller]
pub fn only_denial(d: &Decision, rule: Rule, field: &str) -> String {
    assert_eq!(denied(d), vec![(rule, field.to_owned())], "denials: {:#?}", d.denials);
    d.denials[0].message.clone()
}

/// Asserts no denial and exactly one warning, of `rule` at `field`, and returns its message.
#[track_caller]
pub fn only_warning(d: &Decision, rule: Rule, field: &str) -> String {
    assert!(d.denials.is_empty(), "denials: {:#?}", d.denials);
    assert_eq!(warned(d), vec![(rule, field.to_owned())], "warnings: {:#?}", d.warnings);
    d.warnings[0].message.clone()
}

/// Sets a JSON pointer in a copy of `v`.
pub fn set(v: &Value, pointer: &str, value: Value) -> Value {
    let mut v = v.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { &mut v } else { v.pointer_mut(parent).unwrap() };
    target.as_object_mut().unwrap().insert(key.to_owned(), value);
    v
}

/// Removes a JSON pointer from a copy of `v`.
pub fn unset(v: &Value, pointer: &str) -> Value {
    let mut v = v.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { &mut v } else { v.pointer_mut(parent).unwrap() };
    target.as_object_mut().unwrap().remove(key);
    v
}
