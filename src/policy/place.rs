//! Where an object read without a namespace would land, as kubectl and HCO decide it: the webhook
//! never sees such objects (the API server fills the namespace in), but `mignet check` reads them from
//! docs and GitOps repositories, and judges them where they would be applied.

use kube::core::DynamicObject;

use super::{Finding, Kind, Policy, Rule, decision::msg, object};
use crate::policy::view::View;

/// A HyperConverged can only live in the operator's namespace (HCO refuses it elsewhere), so one
/// without a namespace is judged there.
pub fn hyperconverged(policy: &Policy, obj: &mut DynamicObject) {
    if matches!(Kind::of(obj), Kind::HyperConverged(_)) && object::namespace(obj).is_empty() {
        obj.metadata.namespace = Some(policy.migration_namespace().to_owned());
    }
}

/// kubectl's conventions for a NAD read without a namespace, where `-n` gave none: it lands in
/// whatever namespace is current when it is applied, so it gets a warning and is judged by what it
/// is: in the migration namespace if it is a migration NAD (by the HyperConvergeds of `hcs` too), as
/// another network otherwise.
pub fn nad(policy: &Policy, hcs: &View, obj: &mut DynamicObject) -> Option<Finding> {
    if Kind::of(obj) != Kind::Nad || !object::namespace(obj).is_empty() {
        return None;
    }
    let want = policy.migration_namespace().to_owned();
    let mut there = obj.clone();
    there.metadata.namespace = Some(want.clone());
    let message = match policy.migration_reason(&there, hcs) {
        Some(_) => {
            *obj = there;
            format!(
                "not set: kubectl puts the NAD in the current namespace; a live-migration NAD must be in {q}, \
                 so it is judged there: set namespace: {want}, or apply it with -n {want}",
                q = msg::quote(&want)
            )
        }
        None => {
            "not set: kubectl puts the NAD in the current namespace (-n, or the context's); it is judged \
                 as a network other than the live-migration one, wherever it lands"
                .to_owned()
        }
    };
    Some(Finding { rule: Rule::NadNamespace, field: "metadata.namespace".into(), message })
}
