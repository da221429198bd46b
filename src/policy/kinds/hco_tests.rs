use serde_json::{Value, json};

use crate::policy::{Admission, HcVersion, Kind, Operation, Options, Policy, Rule, testutil::*};

fn lm(pointer: &str, value: Value) -> Value {
    set(&reference_hc_lm(), pointer, value)
}

fn base(v: HcVersion) -> &'static str {
    v.field()
}

/// Judges a HyperConverged with the reference NAD in the view.
fn judge_hc(version: HcVersion, lm: Value) -> crate::policy::Decision {
    let n = nad(&reference_config());
    judge(&hc(version, lm), &[&n])
}

#[test]
fn reference_hyperconverged_is_admitted_unchanged() {
    for v in [HcVersion::V1Beta1, HcVersion::V1] {
        let d = judge_hc(v, reference_hc_lm());
        assert!(d.denials.is_empty() && d.warnings.is_empty() && d.patch.0.is_empty(), "{v:?}: {d:#?}");
    }
}

#[test]
fn lost_settings_guard() {
    let n = nad(&reference_config());
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    // what the API server sends when a v1 write reaches a v1beta1 webhook without conversion
    let mut new = hc(HcVersion::V1, json!({"completionTimeoutPerGiB": 150}));
    new.types.as_mut().unwrap().api_version = "hco.kubevirt.io/v1beta1".into();
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&old), &view(&[&n, &old]));
    let m = only_denial(&d, Rule::HcVersionLayout, "spec.virtualization");
    assert!(
        m.contains("network \"migration-bridge\"") && m.contains("hyperconvergeds.v1beta1.hco.kubevirt.io"),
        "{m}"
    );
    assert!(d.patch.0.is_empty());
    // a genuine v1 object is fine
    assert!(judge_hc(HcVersion::V1, reference_hc_lm()).allowed());
}

#[test]
fn lost_settings_guard_for_v1_writes_over_v1beta1_storage() {
    // the webhook registered for v1 too: a v1 write arrives as v1, but its oldObject is the stored
    // v1beta1-shaped object (no conversion), so the write would drop spec.liveMigrationConfig
    let n = nad(&reference_config());
    let mut stored = hc(HcVersion::V1Beta1, reference_hc_lm());
    stored.types.as_mut().unwrap().api_version = "hco.kubevirt.io/v1".into();
    let new = hc(HcVersion::V1, json!({"completionTimeoutPerGiB": 150}));
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&stored), &view(&[&n]));
    let m = only_denial(&d, Rule::HcVersionLayout, "spec.virtualization");
    assert!(m.contains("network \"migration-bridge\" included"), "{m}");
    assert!(d.patch.0.is_empty(), "never patched");
    // a v1 update over a v1-shaped stored object is an ordinary update
    let v1_stored = hc(HcVersion::V1, reference_hc_lm());
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&v1_stored), &view(&[&n]));
    assert_eq!(denied(&d), vec![]);
}

#[test]
fn lost_settings_guard_sees_through_the_live_view_what_the_request_cannot_show() {
    // the real API server with the webhook registered for both versions: a v1 patch of an object
    // stored as v1beta1 arrives as v1, object and oldObject both read through v1 and pruned, so
    // neither names the network; the live view's v1beta1 read does
    let n = nad(&reference_config());
    let with_uid = |mut o: kube::core::DynamicObject| {
        o.metadata.uid = Some("u".into());
        o
    };
    let pruned = with_uid(obj(json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": NS}, "spec": {"featureGates": {}}})));
    let new = with_uid(hc(HcVersion::V1, json!({"progressTimeout": 200})));
    let mut v = view(&[&n]);
    v.upsert_hc_read(hc_read(HcVersion::V1Beta1, Some("migration-bridge")));
    v.upsert_hc_read(hc_read(HcVersion::V1, None));
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&pruned), &v);
    let m = only_denial(&d, Rule::HcVersionLayout, "spec.virtualization");
    assert!(
        m.contains("network \"migration-bridge\"")
            && m.contains("spec.liveMigrationConfig (the v1beta1 layout)")
            && m.contains("write to hyperconvergeds.v1beta1.hco.kubevirt.io"),
        "{m}"
    );
    assert!(d.patch.0.is_empty(), "never patched");

    // HCO releases storing v1: a v1beta1 write over the v1 layout is the one that erases
    let mut v1_stored = view(&[&n]);
    let mut read = hc_read(HcVersion::V1, Some("migration-bridge"));
    read.written_through = Some(HcVersion::V1);
    v1_stored.upsert_hc_read(read);
    let mut old = pruned.clone();
    old.types.as_mut().unwrap().api_version = HcVersion::V1Beta1.api_version().into();
    let new = with_uid(hc(HcVersion::V1Beta1, reference_hc_lm()));
    let d = judge_with(&Policy::default(), Operation::Update, &new, Some(&old), &v1_stored);
    let m = only_denial(&d, Rule::HcVersionLayout, "spec.liveMigrationConfig");
    assert!(m.contains("write to hyperconvergeds.v1.hco.kubevirt.io"), "{m}");
    // and a v1 write there is an ordinary update
    let old_v1 = with_uid(hc(HcVersion::V1, reference_hc_lm()));
    let new_v1 = with_uid(hc(HcVersion::V1, lm("/progressTimeout", json!(200))));
    let d = judge_with(&Policy::default(), Operation::Update, &new_v1, Some(&old_v1), &v1_stored);
    assert_eq!(denied(&d), vec![]);

    // a write through the stored version that removes the network only warns
    let old = with_uid(hc(HcVersion::V1Beta1, reference_hc_lm()));
    let removed = with_uid(hc(HcVersion::V1Beta1, unset(&reference_hc_lm(), "/network")));
    let d = judge_with(&Policy::default(), Operation::Update, &removed, Some(&old), &v);
    assert_eq!(denied(&d), vec![]);
    assert_eq!(warned(&d).len(), 1, "{d:#?}");
    // reads of an earlier object of the same name (another uid) say nothing about this one
    let mut other = pruned.clone();
    other.metadata.uid = Some("recreated".into());
    let d = judge_with(&Policy::default(), Operation::Update, &new_v1_over(&other), Some(&other), &v);
    assert_eq!(denied(&d), vec![]);
    // with a conversion webhook the oldObject shows the network through v1 too: an ordinary update
    let converted = with_uid(hc(HcVersion::V1, reference_hc_lm()));
    let d = judge_with(&Policy::default(), Operation::Update, &new_v1_over(&converted), Some(&converted), &v);
    assert_eq!(denied(&d), vec![]);
}

fn new_v1_over(old: &kube::core::DynamicObject) -> kube::core::DynamicObject {
    let mut new = hc(HcVersion::V1, lm("/progressTimeout", json!(200)));
    new.metadata.uid = old.metadata.uid.clone();
    new
}

#[test]
fn network_removed_or_changed_warns() {
    let n = nad(&reference_config());
    let other =
        nad_in(NS, "migration-two", &set(&reference_config(), "/ipam/range", json!("192.168.98.0/24")));
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let v = view(&[&n, &other, &old]);
    let removed = hc(HcVersion::V1Beta1, unset(&reference_hc_lm(), "/network"));
    let d = judge_with(&Policy::default(), Operation::Update, &removed, Some(&old), &v);
    let w = only_warning(&d, Rule::HcNetworkRemoved, "spec.liveMigrationConfig.network");
    assert!(w.contains("pod network"), "{w}");
    let changed = hc(HcVersion::V1Beta1, lm("/network", json!("migration-two")));
    let d = judge_with(&Policy::default(), Operation::Update, &changed, Some(&old), &v);
    let w = only_warning(&d, Rule::HcNetworkChanged, "spec.liveMigrationConfig.network");
    assert!(w.contains("virt-handler"), "{w}");
    assert!(w.len() + "spec.liveMigrationConfig.network: ".len() <= 120, "{w}");
}

#[test]
fn network_name() {
    for v in [HcVersion::V1Beta1, HcVersion::V1] {
        for bad in [json!("Migration_Bridge"), json!("openshift-cnv/migration-bridge"), json!(""), json!(5)] {
            only_denial(
                &judge_hc(v, lm("/network", bad)),
                Rule::HcNetworkName,
                &format!("{}.network", base(v)),
            );
        }
    }
}

#[test]
fn namespace() {
    let n = nad_in("default", "migration-bridge", &reference_config());
    let mut h = hc(HcVersion::V1Beta1, reference_hc_lm());
    h.metadata.namespace = Some("default".into());
    let d = judge(&h, &[&n]);
    // the network resolves in the wrong namespace too: one denial, one fix (move both)
    assert_eq!(denied(&d), [(Rule::HcNamespace, "metadata.namespace".into())]);
    let d = judge(&h, &[]);
    assert_eq!(denied(&d), [(Rule::HcNamespace, "metadata.namespace".into())]);
    // no namespace at all is not shown as an empty value
    h.metadata.namespace = None;
    let m = only_denial(&judge(&h, &[]), Rule::HcNamespace, "metadata.namespace");
    assert_eq!(
        m,
        "Required value: a HyperConverged with a live-migration network must be in \"openshift-cnv\""
    );
}

#[test]
fn network_must_exist() {
    let h = hc(HcVersion::V1Beta1, reference_hc_lm());
    let d = judge(&h, &[]);
    let m = only_denial(&d, Rule::HcNetworkMissing, "spec.liveMigrationConfig.network");
    assert!(m.starts_with("Not found: \"migration-bridge\""), "{m}");
    // offline, a missing NAD may just not be among the files
    let adm =
        Admission { operation: Operation::Create, kind: Kind::of(&h), object: Some(&h), old_object: None };
    let d = Policy::default().decide(
        &adm,
        &view(&[&h]),
        &Options { missing_network_warns: true, ..Options::default() },
    );
    assert!(d.allowed());
    assert_eq!(warned(&d), vec![(Rule::HcNetworkMissing, "spec.liveMigrationConfig.network".into())]);
    // the NAD must be in the HyperConverged's own namespace
    let elsewhere = nad_in("default", "migration-bridge", &reference_config());
    only_denial(&judge(&h, &[&elsewhere]), Rule::HcNetworkMissing, "spec.liveMigrationConfig.network");
}

#[test]
fn named_nad_must_pass_the_migration_rules() {
    let broken = nad(&unset(&set(&reference_config(), "/mode", json!("passthrough")), "/master"));
    let d = judge(&hc(HcVersion::V1Beta1, reference_hc_lm()), &[&broken]);
    let m = only_denial(&d, Rule::HcNetworkInvalid, "spec.liveMigrationConfig.network");
    assert!(
        m.contains("spec.config.master: Required value") && m.contains("spec.config.mode: Unsupported value"),
        "{m}"
    );
    // judged in the same run, the NAD shows its own findings: the HyperConverged only names the rules
    let h = hc(HcVersion::V1Beta1, reference_hc_lm());
    let adm =
        Admission { operation: Operation::Create, kind: Kind::of(&h), object: Some(&h), old_object: None };
    let options = Options { network_judged_too: true, ..Options::default() };
    let d = Policy::default().decide(&adm, &view(&[&broken, &h]), &options);
    let m = only_denial(&d, Rule::HcNetworkInvalid, "spec.liveMigrationConfig.network");
    assert_eq!(
        m,
        "Invalid value: \"migration-bridge\": NetworkAttachmentDefinition openshift-cnv/migration-bridge fails the \
         migration rules (nad-master, nad-mode): see the findings on it"
    );
}

#[test]
fn parallel_limits() {
    for key in ["parallelMigrationsPerCluster", "parallelOutboundMigrationsPerNode"] {
        for bad in [json!(0), json!(-3), json!(1.5), json!("5"), json!(4294967296u64)] {
            let d = judge_hc(HcVersion::V1Beta1, lm(&format!("/{key}"), bad.clone()));
            assert_eq!(
                denied(&d),
                vec![(Rule::HcParallel, format!("spec.liveMigrationConfig.{key}"))],
                "{key}={bad}"
            );
        }
    }
    let w = only_warning(
        &judge_hc(HcVersion::V1, lm("/parallelOutboundMigrationsPerNode", json!(8))),
        Rule::HcParallelOutbound,
        "spec.virtualization.liveMigrationConfig.parallelOutboundMigrationsPerNode",
    );
    assert!(w.contains("8 exceeds parallelMigrationsPerCluster 5"), "{w}");
}

#[test]
fn timeouts() {
    for key in ["completionTimeoutPerGiB", "progressTimeout"] {
        let field = format!("spec.liveMigrationConfig.{key}");
        only_denial(
            &judge_hc(HcVersion::V1Beta1, lm(&format!("/{key}"), json!(-1))),
            Rule::HcTimeout,
            &field,
        );
        only_warning(
            &judge_hc(HcVersion::V1Beta1, lm(&format!("/{key}"), json!(0))),
            Rule::HcTimeout,
            &field,
        );
        only_denial(
            &judge_hc(HcVersion::V1Beta1, lm(&format!("/{key}"), json!(1e30))),
            Rule::HcTimeout,
            &field,
        );
    }
}

#[test]
fn bandwidth() {
    let field = "spec.liveMigrationConfig.bandwidthPerMigration";
    for ok in [json!("64Mi"), json!("1Gi"), json!("0"), json!("0Mi"), json!(0), json!("2048Mi")] {
        let d = judge_hc(HcVersion::V1Beta1, lm("/bandwidthPerMigration", ok.clone()));
        assert!(d.denials.is_empty() && d.warnings.is_empty(), "{ok}: {d:#?}");
    }
    for bad in [json!("-64Mi"), json!("fast"), json!("64 Mi"), json!(true)] {
        only_denial(
            &judge_hc(HcVersion::V1Beta1, lm("/bandwidthPerMigration", bad)),
            Rule::HcBandwidth,
            field,
        );
    }
    let low = set(&lm("/bandwidthPerMigration", json!("512Ki")), "/completionTimeoutPerGiB", json!(5000));
    only_warning(&judge_hc(HcVersion::V1Beta1, low), Rule::HcBandwidthLow, field);
}

#[test]
fn timeout_against_bandwidth() {
    let field = "spec.liveMigrationConfig.completionTimeoutPerGiB";
    // 64 MiB/s: one GiB takes 16 s
    let at = |c: i64| {
        judge_hc(
            HcVersion::V1Beta1,
            set(&lm("/bandwidthPerMigration", json!("64Mi")), "/completionTimeoutPerGiB", json!(c)),
        )
    };
    let m = only_denial(&at(10), Rule::HcTimeoutVsBandwidth, field);
    assert!(m.starts_with("Invalid value: 10: one GiB takes 16 s at bandwidthPerMigration 64Mi"), "{m}");
    assert!(m.contains("set at least 32"), "{m}");
    only_warning(&at(20), Rule::HcTimeoutVsBandwidth, field);
    assert!(at(32).warnings.is_empty());
    // the default completion timeout is judged when the field is absent
    let slow = unset(&lm("/bandwidthPerMigration", json!("1Mi")), "/completionTimeoutPerGiB");
    let m = only_denial(&judge_hc(HcVersion::V1Beta1, slow), Rule::HcTimeoutVsBandwidth, field);
    assert!(m.starts_with("Invalid value: 20 (default): one GiB takes 1024 s"), "{m}");
}

#[test]
fn defaults_patch_on_create_and_update_only() {
    let n = nad(&reference_config());
    let bare = hc(HcVersion::V1Beta1, json!({"network": "migration-bridge"}));
    let d = judge(&bare, &[&n]);
    assert!(d.allowed());
    assert_eq!(d.patch.0.len(), 4);
    let v = view(&[&n, &bare]);
    let del = judge_with(&Policy::default(), Operation::Delete, &bare, None, &v);
    assert!(del.patch.0.is_empty() && del.allowed());
    let off = Policy::from_yaml("disabledRules: [hc-defaults]").unwrap();
    assert!(judge_with(&off, Operation::Create, &bare, None, &v).patch.0.is_empty());
}

#[test]
fn live_migration_config_of_wrong_type() {
    let d = judge_hc(HcVersion::V1Beta1, json!("fast"));
    assert_eq!(denied(&d), vec![(Rule::HcTimeout, "spec.liveMigrationConfig".into())]);
}
