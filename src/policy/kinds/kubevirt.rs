//! KubeVirt CR rules: the live-migration settings of `spec.configuration.migrations`, judged as a
//! HyperConverged's are (same rule ids), for clusters that run KubeVirt without HCO.
//!
//! Where HCO manages the KubeVirt CR it copies the HyperConverged's `liveMigrationConfig` into it on
//! every reconcile, and denying that write would stall HCO. The HyperConverged was judged when it was
//! written, so an HCO-managed KubeVirt CR is admitted as it is; its network still counts as in use.

use kube::core::DynamicObject;
use serde_json::Value;

use super::settings::{self, Owner};
use crate::policy::view::View;
use crate::policy::{
    Admission, Ctx, Operation, Rule,
    decision::{Findings, msg},
    object,
};

/// Where the settings sit, as field errors name them.
pub(in crate::policy) const BASE: &str = "spec.configuration.migrations";

/// The labels HCO puts on the operands it owns (`app.kubernetes.io/managed-by: hco-operator`,
/// `app.kubernetes.io/part-of: hyperconverged-cluster`).
const HCO_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/managed-by", "hco-operator"),
    ("app.kubernetes.io/part-of", "hyperconverged-cluster"),
];

/// Whether HCO owns this KubeVirt CR: by its labels or an owner reference to a HyperConverged.
pub(in crate::policy) fn hco_labelled(obj: &DynamicObject) -> bool {
    let labels = obj.metadata.labels.as_ref();
    HCO_LABELS.iter().any(|(k, v)| labels.and_then(|l| l.get(*k)).is_some_and(|l| l == v))
        || obj.metadata.owner_references.iter().flatten().any(|o| o.kind == "HyperConverged")
}

/// Whether the settings are HCO's to decide: labelled so, or a HyperConverged lives beside it.
fn hco_managed(view: &View, obj: &DynamicObject) -> bool {
    hco_labelled(obj) || view.hcs().any(|hc| hc.namespace == object::namespace(obj))
}

/// `spec.configuration.migrations.network` of a KubeVirt CR, when it is a string.
pub(in crate::policy) fn network(obj: &DynamicObject) -> Option<&str> {
    object::get(&obj.data, &["spec", "configuration", "migrations", "network"])?.as_str()
}

pub(in crate::policy) fn admit(ctx: &Ctx<'_>, admission: &Admission<'_>, f: &mut Findings) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    if hco_managed(ctx.view, obj) {
        return;
    }
    // every level on the way is typed as an object by the CRD: say which one is not
    let mut at = &obj.data;
    let mut path = String::new();
    for key in ["spec", "configuration", "migrations"] {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        match at.get(key) {
            None | Some(Value::Null) => return,
            Some(Value::Object(_)) => at = &at[key],
            Some(v) => return f.deny(Rule::HcTimeout, path, msg::invalid_json(v, "must be an object")),
        }
    }
    let Value::Object(migrations) = at else { return };
    let old = admission.old_object.and_then(network);
    settings::network_change(
        ctx,
        admission.operation == Operation::Update,
        old,
        migrations.get("network"),
        BASE,
        f,
    );
    settings::network_reference(ctx, Owner::KubeVirt, obj, migrations, BASE, f);
    settings::limits(ctx, migrations, BASE, f);
}

#[cfg(test)]
#[path = "kubevirt_tests.rs"]
mod tests;
