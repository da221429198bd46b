//! Migrations in flight and the KubeVirt CR, end to end: the real binary (`mignet serve --cluster
//! auto`) over HTTPS, against the fake API server's live objects.
//!
//! The VirtualMachineInstanceMigration resource served here is a stand-in for the CRD virt-operator
//! generates at run time: same group, version, kind, scope and status subresource, no schema.

mod support;

use serde_json::{Value, json};
use support::{
    Serve, allowed, eventually,
    fake_apiserver::{FakeApiServer, ResourceDef, openshift, plain_kubernetes},
    hyperconverged, message, nad, review, run, verdict,
};

fn vmim(name: &str, phase: &str) -> Value {
    json!({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration",
        "metadata":{"name":name,"namespace":"vms"},"spec":{"vmiName":"rhel-9"},"status":{"phase":phase}})
}

/// A VMIM created `seconds` ago: the API server stamps the time of the create, and the fake keeps a
/// seeded one, so a test can have a migration that has been running for a while.
fn vmim_aged(name: &str, phase: &str, seconds: i64) -> Value {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let created = k8s_openapi::jiff::Timestamp::from_second(now - seconds).unwrap();
    let mut vmim = vmim(name, phase);
    vmim["metadata"]["creationTimestamp"] = json!(created.to_string());
    vmim
}

async fn unfinished_metric(server: &Serve) -> Option<f64> {
    let (_, metrics) = server.get("/metrics").await;
    metrics
        .lines()
        .find(|l| l.starts_with("mignet_view_objects{") && l.contains("kind=\"migration-unfinished\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_migration_holds_the_hyperconverged_network_until_it_succeeds() {
    let mut defs = openshift();
    defs.extend([ResourceDef::VMIMS, ResourceDef::KUBEVIRTS]);
    let fake = FakeApiServer::start(defs).await;
    for i in 0..3 {
        fake.apply(support::node(&format!("worker-{i}"), true));
    }
    fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    fake.apply(nad("openshift-cnv", "migration-two", "192.168.100.0/24"));
    let old = fake.apply(hyperconverged("openshift-cnv", Some("migration-bridge")));
    // running for two hours: held under the default inFlightMaxAgeSeconds (a day)
    fake.apply_with_status(vmim_aged("drain-worker-0-x7", "Running", 7200));
    // finished ones are not held: many of them change nothing
    for i in 0..20 {
        fake.apply_with_status(vmim(&format!("old-{i}"), if i % 2 == 0 { "Succeeded" } else { "Failed" }));
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "inFlightMaxAgeSeconds: 86400\n").unwrap();
    let server =
        Serve::start(&fake.write_kubeconfig(dir.path()), &["--policy", policy.to_str().unwrap()]).await;
    server.wait_ready().await;

    let new = hyperconverged("openshift-cnv", Some("migration-two"));
    let change = review("n1", "UPDATE", &new, &old);
    let r = verdict(&server, &change, false, "the running migration to hold the network").await;
    let m = message(&r);
    assert!(m.contains("vms/drain-worker-0-x7 (VMI rhel-9, Running, age 2h"), "{m}");
    assert!(m.contains("kubectl delete vmim"), "{m}");
    eventually("the metric to count one unfinished migration", || async {
        (unfinished_metric(&server).await == Some(1.0)).then_some(())
    })
    .await;

    // timeouts stay changeable meanwhile
    let mut tuned = old.clone();
    tuned["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"] = json!(300);
    assert!(allowed(&server.validate(&review("t1", "UPDATE", &tuned, &old)).await));

    // the escape hatch: a migration older than inFlightMaxAgeSeconds is taken as stuck, with a warning
    std::fs::write(&policy, "inFlightMaxAgeSeconds: 3600\n").unwrap();
    let r = verdict(&server, &change, true, "the stuck migration to be ignored").await;
    assert!(r["warnings"].to_string().contains("taken as stuck"), "{r}");
    std::fs::write(&policy, "inFlightMaxAgeSeconds: 86400\n").unwrap();
    verdict(&server, &change, false, "the migration to hold the network again").await;

    // the migration succeeds: the same change is admitted
    fake.apply_status(vmim("drain-worker-0-x7", "Succeeded"));
    verdict(&server, &change, true, "the finished migration to release the network").await;
    eventually("the metric to count no unfinished migration", || async {
        (unfinished_metric(&server).await == Some(0.0)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubevirt_cr_naming_a_bad_nad_is_denied_and_its_nad_is_guarded() {
    // upstream KubeVirt, no HCO: the migration settings live in the KubeVirt CR in namespace kubevirt
    let mut defs = plain_kubernetes();
    defs.extend([ResourceDef::VMIMS, ResourceDef::KUBEVIRTS]);
    let fake = FakeApiServer::start(defs).await;
    fake.apply(support::node("worker-0", true));
    fake.apply(nad("kubevirt", "lm-net", "192.168.99.0/24"));
    let bridge_on_pods = json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
        "metadata":{"name":"lm-bad","namespace":"kubevirt"},
        "spec":{"config":"{\"cniVersion\":\"0.3.1\",\"type\":\"bridge\",\"bridge\":\"br1\",\"ipam\":{\"type\":\"whereabouts\",\"range\":\"10.128.5.0/24\"}}"}});
    fake.apply(bridge_on_pods);
    let kv = json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt",
        "metadata":{"name":"kubevirt","namespace":"kubevirt"},
        "spec":{"configuration":{"migrations":{"network":"lm-net","parallelMigrationsPerCluster":5}}}});
    let stored = fake.apply(kv.clone());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "migrationNamespace: kubevirt\n").unwrap();
    let server =
        Serve::start(&fake.write_kubeconfig(dir.path()), &["--policy", policy.to_str().unwrap()]).await;
    server.wait_ready().await;

    let mut bad = kv.clone();
    bad["spec"]["configuration"]["migrations"]["network"] = json!("lm-bad");
    let r = server.validate(&review("k1", "UPDATE", &bad, &stored)).await;
    assert!(!allowed(&r), "{r}");
    let m = message(&r);
    assert!(m.contains("spec.configuration.migrations.network") && m.contains("kubevirt/lm-bad"), "{m}");
    assert!(m.contains("pod network"), "{m}");
    assert!(allowed(&server.validate(&review("k2", "UPDATE", &kv, &stored)).await));

    // the NAD the KubeVirt CR names is in use: its DELETE is denied, naming the KubeVirt CR
    let lm = fake.get("k8s.cni.cncf.io/v1", "kubevirt", "lm-net").expect("lm-net stored");
    let delete = review("d1", "DELETE", &Value::Null, &lm);
    let r = verdict(&server, &delete, false, "the KubeVirt CR's NAD to be guarded").await;
    assert!(message(&r).contains("KubeVirt kubevirt/kubevirt"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_the_migration_namespace_is_where_kubevirt_lives() {
    let mut defs = plain_kubernetes();
    defs.extend([ResourceDef::VMIMS, ResourceDef::KUBEVIRTS]);
    let fake = FakeApiServer::start(defs).await;
    fake.apply(support::node("worker-0", true));
    fake.apply(nad("kubevirt", "lm-net", "192.168.99.0/24"));
    let stored = fake.apply(json!({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt",
        "metadata":{"name":"kubevirt","namespace":"kubevirt"},
        "spec":{"configuration":{"migrations":{"network":"lm-net"}}}}));
    // created on New Year's day and never finished: stuck
    let mut stuck = vmim("evacuation-1", "Scheduling");
    stuck["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    fake.apply_with_status(stuck);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path());

    // mignet view says where the namespace came from, and lists the unfinished migration
    let (code, out, err) =
        run(vec!["view".into(), "--kubeconfig".into(), kubeconfig.display().to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("migration namespace: kubevirt (discovered from KubeVirt kubevirt/kubevirt)"),
        "{out}"
    );
    assert!(out.contains("KubeVirt kubevirt/kubevirt: live-migration network kubevirt/lm-net"), "{out}");
    assert!(out.contains("migrations in flight: 1"), "{out}");
    assert!(out.contains("vms/evacuation-1: VMI rhel-9, Scheduling"), "{out}");

    // the webhook: a migration NAD elsewhere is out of place, one in kubevirt is judged in full
    let server = Serve::start(&kubeconfig, &[]).await;
    server.wait_ready().await;
    let elsewhere = review("n1", "CREATE", &nad("default", "migration-x", "192.168.50.0/24"), &Value::Null);
    let r = verdict(&server, &elsewhere, false, "the discovered namespace to apply").await;
    assert!(message(&r).contains("must be in \"kubevirt\""), "{r}");
    // the KubeVirt CR's own NAD is re-judged from the config the view kept in that namespace
    let mut tuned = stored.clone();
    tuned["spec"]["configuration"]["migrations"]["progressTimeout"] = json!(300);
    let r = server.validate(&review("k1", "UPDATE", &tuned, &stored)).await;
    assert!(allowed(&r), "{r}");
    // a network change meets the migration: created 2026-01-01, past the default
    // inFlightMaxAgeSeconds (a day), it is taken as stuck and named in a warning
    let mut moved = stored.clone();
    moved["spec"]["configuration"]["migrations"]["network"] = json!("lm-two");
    let r = server.validate(&review("k2", "UPDATE", &moved, &stored)).await;
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("1 migration unfinished for over 86400 s"), "{r}");
    assert!(!r["auditAnnotations"].to_string().contains("migration-in-flight"), "{r}");
}
