use serde_json::{Value, json};

use crate::policy::{HcVersion, Operation, Policy, Rule, testutil::*};

fn kubevirt(ns: &str, migrations: Value) -> kube::core::DynamicObject {
    obj(json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt","metadata":{"name":"kubevirt","namespace":ns},
               "spec":{"configuration":{"migrations":migrations}}}))
}

fn upstream() -> Policy {
    Policy::from_yaml("migrationNamespace: kubevirt\n").unwrap()
}

fn good_nad() -> kube::core::DynamicObject {
    nad_in("kubevirt", "lm-net", &set(&reference_config(), "/name", json!("lm-net")))
}

fn judge_kv(
    kv: &kube::core::DynamicObject,
    others: &[&kube::core::DynamicObject],
) -> crate::policy::Decision {
    let p = upstream();
    let mut all = others.to_vec();
    all.push(kv);
    judge_with(&p, Operation::Create, kv, None, &crate::policy::feed::view_of(&p, all))
}

#[test]
fn a_kubevirt_cr_naming_a_good_nad_passes() {
    let kv = kubevirt(
        "kubevirt",
        json!({"network":"lm-net","parallelMigrationsPerCluster":5,
        "parallelOutboundMigrationsPerNode":2,"completionTimeoutPerGiB":150,"bandwidthPerMigration":"1Gi"}),
    );
    let d = judge_kv(&kv, &[&good_nad()]);
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
    assert!(d.patch.0.is_empty(), "no defaults are patched into a KubeVirt CR");
}

#[test]
fn a_kubevirt_cr_naming_a_bridge_nad_on_the_pod_network_is_denied() {
    // the case: upstream KubeVirt, a bridge NAD on the pod network's range
    let bad = nad_in(
        "kubevirt",
        "lm-net",
        &json!({"cniVersion":"0.3.1","type":"bridge","bridge":"br1",
                "ipam":{"type":"whereabouts","range":"10.128.5.0/24"}}),
    );
    let kv = kubevirt("kubevirt", json!({"network":"lm-net"}));
    let d = judge_kv(&kv, &[&bad]);
    let m = only_denial(&d, Rule::HcNetworkInvalid, "spec.configuration.migrations.network");
    assert!(m.contains("kubevirt/lm-net") && m.contains("Unsupported value: \"bridge\""), "{m}");
    assert!(m.contains("pod network"), "{m}");
    // and the NAD it names is now a migration NAD: judged so on its own, and guarded on DELETE
    let p = upstream();
    let view = crate::policy::feed::view_of(&p, [&bad, &kv]);
    let d = judge_with(&p, Operation::Create, &bad, None, &view);
    assert!(denied(&d).contains(&(Rule::NadPluginType, "spec.config.type".into())), "{d:#?}");
    assert!(d.denials.iter().any(|f| f.message.contains("KubeVirt kubevirt/kubevirt names it")), "{d:#?}");
    let d = judge_with(&p, Operation::Delete, &bad, None, &view);
    let m = only_denial(&d, Rule::NadInUse, "metadata.name");
    assert!(
        m.contains("KubeVirt kubevirt/kubevirt") && m.contains("spec.configuration.migrations.network"),
        "{m}"
    );
}

#[test]
fn missing_nad_wrong_namespace_and_bad_names() {
    let d = judge_kv(&kubevirt("kubevirt", json!({"network":"nope"})), &[]);
    only_denial(&d, Rule::HcNetworkMissing, "spec.configuration.migrations.network");
    let d = judge_kv(&kubevirt("default", json!({"network":"lm-net"})), &[&good_nad()]);
    assert!(only_denial(&d, Rule::HcNamespace, "metadata.namespace").contains("a KubeVirt CR"));
    let d = judge_kv(&kubevirt("kubevirt", json!({"network":"kubevirt/lm-net"})), &[&good_nad()]);
    only_denial(&d, Rule::HcNetworkName, "spec.configuration.migrations.network");
}

#[test]
fn numbers_are_judged_as_a_hyperconverged_s() {
    // the case: 5 outbound per node under a cluster limit of 1
    let kv =
        kubevirt("kubevirt", json!({"parallelOutboundMigrationsPerNode":5,"parallelMigrationsPerCluster":1}));
    let d = judge_kv(&kv, &[]);
    only_warning(
        &d,
        Rule::HcParallelOutbound,
        "spec.configuration.migrations.parallelOutboundMigrationsPerNode",
    );
    let d = judge_kv(&kubevirt("kubevirt", json!({"parallelMigrationsPerCluster":0})), &[]);
    only_denial(&d, Rule::HcParallel, "spec.configuration.migrations.parallelMigrationsPerCluster");
    let d = judge_kv(&kubevirt("kubevirt", json!({"bandwidthPerMigration":"-64Mi"})), &[]);
    only_denial(&d, Rule::HcBandwidth, "spec.configuration.migrations.bandwidthPerMigration");
    let d = judge_kv(
        &kubevirt("kubevirt", json!({"bandwidthPerMigration":"1Mi","completionTimeoutPerGiB":100})),
        &[],
    );
    only_denial(&d, Rule::HcTimeoutVsBandwidth, "spec.configuration.migrations.completionTimeoutPerGiB");
}

#[test]
fn wrong_types_are_field_errors_not_crashes() {
    let d = judge_kv(
        &kubevirt(
            "kubevirt",
            json!({"parallelMigrationsPerCluster":"five","network":7,
        "progressTimeout":[1],"bandwidthPerMigration":{"x":1}}),
        ),
        &[],
    );
    let mut got = denied(&d);
    got.sort();
    let base = "spec.configuration.migrations";
    let mut want = vec![
        (Rule::HcNetworkName, format!("{base}.network")),
        (Rule::HcParallel, format!("{base}.parallelMigrationsPerCluster")),
        (Rule::HcTimeout, format!("{base}.progressTimeout")),
        (Rule::HcBandwidth, format!("{base}.bandwidthPerMigration")),
    ];
    want.sort();
    assert_eq!(got, want);
    let d = judge_kv(&kubevirt("kubevirt", json!("fast")), &[]);
    only_denial(&d, Rule::HcTimeout, "spec.configuration.migrations");
    let bad_config = obj(json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt",
        "metadata":{"name":"kubevirt","namespace":"kubevirt"},"spec":{"configuration":[]}}));
    only_denial(&judge_kv(&bad_config, &[]), Rule::HcTimeout, "spec.configuration");
    let empty = obj(json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt",
        "metadata":{"name":"kubevirt","namespace":"kubevirt"}}));
    assert!(judge_kv(&empty, &[]).denials.is_empty());
}

#[test]
fn hco_s_own_copy_is_not_blocked() {
    let bad = kubevirt(NS, json!({"network":"nope","parallelMigrationsPerCluster":0}));
    // unmanaged, in openshift-cnv: denied
    let d = judge(&bad, &[]);
    assert_eq!(d.denials.len(), 2, "{d:#?}");
    // labelled by HCO: admitted, the HyperConverged is where the settings are judged
    let mut labelled = bad.clone();
    labelled.metadata.labels =
        Some([("app.kubernetes.io/managed-by".to_owned(), "hco-operator".to_owned())].into());
    assert!(judge(&labelled, &[]).allowed());
    let mut owned = bad.clone();
    owned.metadata.owner_references =
        Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "hco.kubevirt.io/v1beta1".into(),
            kind: "HyperConverged".into(),
            name: "kubevirt-hyperconverged".into(),
            uid: "u".into(),
            ..Default::default()
        }]);
    assert!(judge(&owned, &[]).allowed());
    // a HyperConverged beside it: admitted too
    let hc = hc(HcVersion::V1Beta1, json!({"network":"nope"}));
    assert!(judge(&bad, &[&hc]).allowed());
}
