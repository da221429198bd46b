//! The in-flight guard, kind by kind, both directions.

use kube::core::DynamicObject;
use serde_json::{Value, json};

use crate::policy::{
    Admission, Decision, HcVersion, Kind, Operation, Options, Policy, Rule, feed, testutil::*, view::View,
};

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

fn vmim(name: &str, phase: Option<&str>, created: &str) -> DynamicObject {
    let mut v = json!({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration",
        "metadata":{"name":name,"namespace":"vms","creationTimestamp":created},"spec":{"vmiName":"rhel-9"}});
    if let Some(p) = phase {
        v["status"] = json!({"phase": p});
    }
    obj(v)
}

fn running() -> DynamicObject {
    vmim("drain-w1-abc", Some("Running"), "2025-12-31T23:55:00Z")
}

fn cluster(extra: &[&DynamicObject]) -> View {
    let n = nad(&reference_config());
    let h = hc(HcVersion::V1Beta1, reference_hc_lm());
    let mut all: Vec<&DynamicObject> = vec![&n, &h];
    all.extend_from_slice(extra);
    feed::view_of(&Policy::default(), all)
}

fn update(policy: &Policy, new: &DynamicObject, old: &DynamicObject, view: &View) -> Decision {
    let adm = Admission {
        operation: Operation::Update,
        kind: Kind::of(new),
        object: Some(new),
        old_object: Some(old),
    };
    policy.decide(&adm, view, &Options { now: Some(NOW), ..Options::default() })
}

fn hc_with(pointer: &str, value: Value) -> DynamicObject {
    hc(HcVersion::V1Beta1, set(&reference_hc_lm(), pointer, value))
}

#[test]
fn a_running_migration_holds_the_hyperconverged_network() {
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let other =
        nad_in(NS, "migration-two", &set(&reference_config(), "/ipam/range", json!("192.168.100.0/24")));
    let new = hc_with("/network", json!("migration-two"));
    let base = "spec.liveMigrationConfig.network";
    let d = update(&Policy::default(), &new, &old, &cluster(&[&other, &running()]));
    let m = only_denial(&d, Rule::MigrationInFlight, base);
    assert!(m.contains("\"migration-bridge\" -> \"migration-two\""), "{m}");
    assert!(m.contains("vms/drain-w1-abc (VMI rhel-9, Running, age 5m)"), "{m}");
    assert!(m.contains("kubectl delete vmim"), "{m}");
    // finished: the same change passes (with the usual restart warning)
    let done = vmim("drain-w1-abc", Some("Succeeded"), "2025-12-31T23:55:00Z");
    let d = update(&Policy::default(), &new, &old, &cluster(&[&other, &done]));
    only_warning(&d, Rule::HcNetworkChanged, base);
    // removing the network is a change too
    let removed = hc(HcVersion::V1Beta1, unset(&reference_hc_lm(), "/network"));
    let d = update(&Policy::default(), &removed, &old, &cluster(&[&running()]));
    assert!(denied(&d).contains(&(Rule::MigrationInFlight, base.into())), "{d:#?}");
}

#[test]
fn timeouts_and_parallelism_stay_changeable() {
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let new = hc_with("/completionTimeoutPerGiB", json!(300));
    let new = hc(
        HcVersion::V1Beta1,
        set(
            &set(&new.data["spec"]["liveMigrationConfig"], "/parallelMigrationsPerCluster", json!(2)),
            "/progressTimeout",
            json!(300),
        ),
    );
    let d = update(&Policy::default(), &new, &old, &cluster(&[&running()]));
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}

#[test]
fn phases_missing_or_unknown_count_as_unfinished() {
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let new = hc_with("/network", json!("migration-two"));
    let other =
        nad_in(NS, "migration-two", &set(&reference_config(), "/ipam/range", json!("192.168.100.0/24")));
    for m in
        [vmim("a", None, "2025-12-31T23:59:00Z"), vmim("b", Some("WaitingForSync"), "2025-12-31T23:59:00Z")]
    {
        let d = update(&Policy::default(), &new, &old, &cluster(&[&other, &m]));
        let msg = only_denial(&d, Rule::MigrationInFlight, "spec.liveMigrationConfig.network");
        assert!(msg.contains("no phase yet") || msg.contains("WaitingForSync"), "{msg}");
    }
    // Failed finishes too
    let failed = vmim("c", Some("Failed"), "2025-12-31T23:59:00Z");
    assert!(update(&Policy::default(), &new, &old, &cluster(&[&other, &failed])).allowed());
}

#[test]
fn the_message_names_a_few_oldest_and_counts_the_rest() {
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let new = hc_with("/network", json!("migration-two"));
    let other =
        nad_in(NS, "migration-two", &set(&reference_config(), "/ipam/range", json!("192.168.100.0/24")));
    let many: Vec<DynamicObject> = (0..7)
        .map(|i| vmim(&format!("m{i}"), Some("Scheduling"), &format!("2025-12-31T23:5{i}:00Z")))
        .collect();
    let mut all: Vec<&DynamicObject> = many.iter().collect();
    all.push(&other);
    let d = update(&Policy::default(), &new, &old, &cluster(&all));
    let m = only_denial(&d, Rule::MigrationInFlight, "spec.liveMigrationConfig.network");
    assert!(m.contains("7 live migrations are unfinished"), "{m}");
    assert!(m.contains("vms/m0 ") && m.contains("vms/m2 ") && !m.contains("vms/m3 "), "{m}");
    assert!(m.contains("and 4 more"), "{m}");
}

#[test]
fn stuck_migrations_are_ignored_past_the_policy_age_with_a_warning() {
    let old = hc(HcVersion::V1Beta1, reference_hc_lm());
    let new = hc_with("/network", json!("migration-two"));
    let other =
        nad_in(NS, "migration-two", &set(&reference_config(), "/ipam/range", json!("192.168.100.0/24")));
    let stuck = vmim("stuck", Some("Running"), "2025-12-29T00:00:00Z");
    let view = cluster(&[&other, &stuck]);
    let d = update(&Policy::default(), &new, &old, &view);
    assert!(d.allowed(), "{d:#?}");
    let m = d.warnings.iter().find(|w| w.rule == Rule::MigrationInFlightStale).expect("a stale warning");
    assert!(m.message.contains("vms/stuck") && m.message.contains("86400 s"), "{}", m.message);
    // 0 never lets one go
    let strict = Policy::from_yaml("inFlightMaxAgeSeconds: 0\n").unwrap();
    assert!(!update(&strict, &new, &old, &view).allowed());
    // without a clock the age is unknown: nothing is taken as stuck
    let adm = Admission {
        operation: Operation::Update,
        kind: Kind::of(&new),
        object: Some(&new),
        old_object: Some(&old),
    };
    assert!(!Policy::default().decide(&adm, &view, &Options::default()).allowed());
    // and the rule can be switched off as any other
    let off = Policy::from_yaml("disabledRules: [migration-in-flight]\n").unwrap();
    assert!(update(&off, &new, &old, &cluster(&[&other, &running()])).allowed());
}

#[test]
fn the_in_use_nad_s_effective_config_is_held() {
    let old = nad(&reference_config());
    let view = cluster(&[&running()]);
    for (pointer, value, what) in [
        ("/master", json!("bond3"), "master"),
        ("/ipam/range", json!("192.168.98.0/24"), "range"),
        ("/ipam/type", json!("host-local"), "IPAM type"),
        ("/type", json!("ipvlan"), "plugin type"),
    ] {
        let new = nad(&set(&reference_config(), pointer, value));
        let d = update(&Policy::default(), &new, &old, &view);
        let m = d
            .denials
            .iter()
            .find(|f| f.rule == Rule::MigrationInFlight)
            .unwrap_or_else(|| panic!("{what}: {d:#?}"));
        assert_eq!(m.field, "spec.config");
        assert!(
            m.message.contains(what)
                && m.message.contains("HyperConverged openshift-cnv/kubevirt-hyperconverged"),
            "{}",
            m.message
        );
    }
    // an unchanged effective config (a new label, the same JSON reformatted) passes
    let same = with_label(nad(&reference_config()), "true");
    assert!(update(&Policy::default(), &same, &old, &view).allowed());
    // a NAD no one migrates over is not held
    let tenant_old = nad_in(NS, "tenant-net", &json!({"cniVersion":"0.3.1","type":"bridge","bridge":"br1"}));
    let tenant_new = nad_in(NS, "tenant-net", &json!({"cniVersion":"0.3.1","type":"bridge","bridge":"br2"}));
    let d = update(&Policy::default(), &tenant_new, &tenant_old, &view);
    assert!(!denied(&d).iter().any(|(r, _)| *r == Rule::MigrationInFlight), "{d:#?}");
    // with nothing running, the master change is allowed
    let new = nad(&set(&reference_config(), "/master", json!("bond3")));
    assert!(update(&Policy::default(), &new, &old, &cluster(&[])).allowed());
}

fn nncp(interfaces: Value) -> DynamicObject {
    obj(json!({"apiVersion":"nmstate.io/v1","kind":"NodeNetworkConfigurationPolicy",
        "metadata":{"name":"hosts"},"spec":{"desiredState":{"interfaces":interfaces}}}))
}

#[test]
fn an_nncp_touching_the_master_or_its_ports_is_held() {
    let mut objs = Vec::new();
    for i in 0..2u8 {
        let name = format!("worker-{i}");
        objs.push(node_with_ip(&name, &format!("10.30.0.{}", 30 + i)));
        objs.push(obj(set(&plain_state(&name, 30 + i), "/metadata/name", json!(name))));
    }
    let run = running();
    let mut refs: Vec<&DynamicObject> = objs.iter().collect();
    refs.push(&run);
    let view = cluster(&refs);
    let judge = |p: &DynamicObject, v: &View| {
        let adm =
            Admission { operation: Operation::Create, kind: Kind::of(p), object: Some(p), old_object: None };
        Policy::default().decide(&adm, v, &Options { now: Some(NOW), ..Options::default() })
    };
    // a harmless-looking MTU raise on a port of bond2 still re-plugs it
    let port = nncp(json!([{"name":"ens3f1","type":"ethernet","state":"up","mtu":9100}]));
    let d = judge(&port, &view);
    let m = d.denials.iter().find(|f| f.rule == Rule::MigrationInFlight).unwrap_or_else(|| panic!("{d:#?}"));
    assert_eq!(m.field, "spec.desiredState.interfaces[0]");
    assert!(
        m.message.contains("\"ens3f1\"") && m.message.contains("openshift-cnv/migration-bridge"),
        "{}",
        m.message
    );
    let master = nncp(json!([{"name":"bond2","type":"bond","state":"up","mtu":9000}]));
    assert!(
        denied(&judge(&master, &view))
            .contains(&(Rule::MigrationInFlight, "spec.desiredState.interfaces[0]".into()))
    );
    // a bridge taking bond2 as a port names it only in its port list
    let bridge = nncp(json!([{"name":"br1","type":"linux-bridge","state":"up",
        "bridge":{"port":[{"name":"bond2"}]}}]));
    assert!(
        denied(&judge(&bridge, &view))
            .contains(&(Rule::MigrationInFlight, "spec.desiredState.interfaces[0]".into()))
    );
    // other interfaces are free, and with no migration running so is bond2
    let other = nncp(json!([{"name":"ens4","type":"ethernet","state":"up","mtu":9000}]));
    assert!(judge(&other, &view).allowed());
    let idle = cluster(&objs.iter().collect::<Vec<_>>());
    assert!(judge(&port, &idle).allowed());
}

#[test]
fn a_running_migration_holds_the_kubevirt_cr_network_but_not_its_timeouts() {
    let p = Policy::from_yaml("migrationNamespace: kubevirt\n").unwrap();
    let kv = |migrations: Value| {
        obj(
            json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt","metadata":{"name":"kubevirt","namespace":"kubevirt"},
                   "spec":{"configuration":{"migrations":migrations}}}),
        )
    };
    let lm = |name: &str, range: &str| {
        nad_in(
            "kubevirt",
            name,
            &set(&set(&reference_config(), "/name", json!(name)), "/ipam/range", json!(range)),
        )
    };
    let (a, b) = (lm("lm-a", "192.168.99.0/24"), lm("lm-b", "192.168.100.0/24"));
    let old = kv(json!({"network":"lm-a"}));
    let run = running();
    let busy = feed::view_of(&p, [&a, &b, &old, &run]);
    let idle = feed::view_of(&p, [&a, &b, &old]);
    let moved = kv(json!({"network":"lm-b"}));
    let d = update(&p, &moved, &old, &busy);
    let m = only_denial(&d, Rule::MigrationInFlight, "spec.configuration.migrations.network");
    assert!(m.contains("vms/drain-w1-abc"), "{m}");
    assert!(update(&p, &moved, &old, &idle).allowed());
    let tuned = kv(json!({"network":"lm-a","completionTimeoutPerGiB":300,"parallelMigrationsPerCluster":2}));
    let d = update(&p, &tuned, &old, &busy);
    assert!(d.denials.is_empty() && d.warnings.is_empty(), "{d:#?}");
}
