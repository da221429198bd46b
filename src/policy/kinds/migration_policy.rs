//! MigrationPolicy rules: the bandwidth and completion timeout it overrides for the VMs it selects
//! must make sense on their own and together, as a HyperConverged's must (same rule ids).

use serde_json::Value;

use super::settings;
use crate::policy::{
    Admission, Ctx, Operation, Rule,
    decision::{Findings, msg},
};

const BASE: &str = "spec";

pub(in crate::policy) fn admit(ctx: &Ctx<'_>, admission: &Admission<'_>, f: &mut Findings) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    let spec = match obj.data.get("spec") {
        None | Some(Value::Null) => return,
        Some(Value::Object(spec)) => spec,
        Some(v) => return f.deny(Rule::ObjectSchema, "spec", msg::invalid_json(v, "must be an object")),
    };
    for key in ["allowAutoConverge", "allowPostCopy", "allowWorkloadDisruption"] {
        if let Some(v) = spec.get(key).filter(|v| !v.is_null() && !v.is_boolean()) {
            f.deny(Rule::ObjectSchema, format!("spec.{key}"), msg::invalid_json(v, "must be true or false"));
        }
    }
    let completion = settings::timeout(spec, "completionTimeoutPerGiB", BASE, f);
    let bandwidth = settings::bandwidth(spec, BASE, f);
    if let Some((text, bytes)) = bandwidth.filter(|(_, b)| *b > 0.0) {
        // unset, the cluster's value applies: judged against the policy's default for it
        let c = completion.unwrap_or(ctx.policy.file().hyper_converged_defaults.completion_timeout_per_gib);
        let tag = if completion.is_none() { " (cluster default)" } else { "" };
        settings::timeout_vs_bandwidth(c, tag, &text, bytes / settings::MIB, BASE, f);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::policy::{Rule, testutil::*};

    fn policy(spec: Value) -> kube::core::DynamicObject {
        obj(json!({"apiVersion":"migrations.kubevirt.io/v1alpha1","kind":"MigrationPolicy",
                   "metadata":{"name":"slow-lane"},"spec":spec}))
    }

    fn sel() -> Value {
        json!({"namespaceSelector":{"tier":"gold"}})
    }

    #[test]
    fn sane_overrides_pass() {
        let d = judge(
            &policy(json!({"selectors":sel(),"bandwidthPerMigration":"512Mi",
            "completionTimeoutPerGiB":60,"allowAutoConverge":true})),
            &[],
        );
        assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
        assert!(judge(&policy(json!({"selectors":sel()})), &[]).allowed());
    }

    #[test]
    fn negative_or_garbled_values_are_denied() {
        let d = judge(&policy(json!({"bandwidthPerMigration":"-1Mi"})), &[]);
        assert!(only_denial(&d, Rule::HcBandwidth, "spec.bandwidthPerMigration").contains("negative"));
        let d = judge(&policy(json!({"bandwidthPerMigration":"fast"})), &[]);
        only_denial(&d, Rule::HcBandwidth, "spec.bandwidthPerMigration");
        let d = judge(&policy(json!({"completionTimeoutPerGiB":-5})), &[]);
        only_denial(&d, Rule::HcTimeout, "spec.completionTimeoutPerGiB");
        let d = judge(&policy(json!({"completionTimeoutPerGiB":"ten"})), &[]);
        assert!(only_denial(&d, Rule::HcTimeout, "spec.completionTimeoutPerGiB").contains("integer"));
        let d = judge(&policy(json!({"allowPostCopy":"yes"})), &[]);
        only_denial(&d, Rule::ObjectSchema, "spec.allowPostCopy");
        let d = judge(&policy(json!(["not", "an", "object"])), &[]);
        only_denial(&d, Rule::ObjectSchema, "spec");
    }

    #[test]
    fn bandwidth_against_the_completion_timeout() {
        // 1 GiB at 1Mi/s takes 1024 s: 60 s/GiB times every migration out
        let d = judge(&policy(json!({"bandwidthPerMigration":"1Mi","completionTimeoutPerGiB":60})), &[]);
        assert!(
            only_denial(&d, Rule::HcTimeoutVsBandwidth, "spec.completionTimeoutPerGiB").contains("1024 s"),
            "{d:#?}"
        );
        // unset timeout: the cluster default (20) applies, and is too short at 32Mi/s (32 s a GiB)
        let d = judge(&policy(json!({"bandwidthPerMigration":"32Mi"})), &[]);
        assert!(
            only_denial(&d, Rule::HcTimeoutVsBandwidth, "spec.completionTimeoutPerGiB")
                .contains("(cluster default)")
        );
        // under twice the time a GiB takes: a warning
        let d = judge(&policy(json!({"bandwidthPerMigration":"64Mi","completionTimeoutPerGiB":20})), &[]);
        only_warning(&d, Rule::HcTimeoutVsBandwidth, "spec.completionTimeoutPerGiB");
        // 0 means no timeout: nothing to compare
        let d = judge(&policy(json!({"bandwidthPerMigration":"1Mi","completionTimeoutPerGiB":0})), &[]);
        only_warning(&d, Rule::HcTimeout, "spec.completionTimeoutPerGiB");
    }
}
