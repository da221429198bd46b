//! The live view reads HyperConvergeds as a real API server serves them, whichever version the CRD
//! stores and whichever layout an object has: `mignet serve --cluster auto` over HTTPS against the fake
//! API server, which prunes every read to the schema of the version read through (as kube-apiserver
//! does for a CRD without a conversion webhook, such as HCO's).
//!
//! The guard these protect: deleting the NAD the HyperConverged migrates over is denied.

mod support;

use serde_json::{Value, json};
use support::{
    Serve, allowed, eventually,
    fake_apiserver::{FakeApiServer, HcoRelease, openshift_with},
    field, hyperconverged, nad, review, verdict,
};

const HC: &str = "kubevirt-hyperconverged";
const CNV: &str = "openshift-cnv";

/// A HyperConverged written through v1: the settings under `spec.virtualization`.
fn hyperconverged_v1(network: Option<&str>) -> Value {
    let mut lm = json!({"completionTimeoutPerGiB": 20, "parallelOutboundMigrationsPerNode": 1});
    if let Some(n) = network {
        lm["network"] = json!(n);
    }
    json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
           "metadata": {"name": HC, "namespace": CNV}, "spec": {"virtualization": {"liveMigrationConfig": lm}}})
}

fn cluster(fake: &FakeApiServer) -> Value {
    for i in 0..3 {
        fake.apply(support::node(&format!("worker-{i}"), true));
    }
    fake.apply(nad(CNV, "migration-bridge", "192.168.99.0/24"))
}

async fn start(fake: &FakeApiServer, dir: &tempfile::TempDir) -> Serve {
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    server
}

/// The DELETE of the in-use NAD is denied, naming the HyperConverged.
async fn delete_is_denied(server: &Serve, in_use: &Value, what: &str) {
    let delete = review("d1", "DELETE", &Value::Null, in_use);
    let r = verdict(server, &delete, false, what).await;
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("HyperConverged {CNV}/{HC}")), "{what}: {r}");
    assert_eq!(r["auditAnnotations"]["denied-rules"], "nad-in-use", "{what}: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hco_1_18_written_through_v1beta1_while_discovery_prefers_v1() {
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_18)).await;
    let in_use = cluster(&fake);
    let stored = fake.apply(hyperconverged(CNV, Some("migration-bridge")));
    // the fake answers as kube-apiserver did: through v1 the settings are pruned away
    let through_v1 = fake.get("hco.kubevirt.io/v1", CNV, HC).unwrap();
    assert_eq!(through_v1["spec"].get("liveMigrationConfig"), None, "{through_v1}");
    assert_eq!(through_v1["spec"]["virtualization"]["liveMigrationConfig"].get("network"), None);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&fake, &dir).await;

    let line = server.readyz_line("hyperconvergeds").await;
    assert_eq!(field(&line, "objects"), Some("1"), "one object, read twice: {line}");
    assert!(line.contains("watching=\"hco.kubevirt.io/v1beta1 and v1 hyperconvergeds\""), "{line}");
    assert!(line.contains("why=\"every served version: each read is pruned"), "{line}");
    for version in ["v1beta1", "v1"] {
        let prefix = format!("/apis/hco.kubevirt.io/{version}/hyperconvergeds?");
        assert!(fake.requests().iter().any(|r| r.contains(&prefix) && r.contains("watch")), "{version}");
    }
    delete_is_denied(&server, &in_use, "the NAD named through v1beta1").await;

    // an update that keeps the network is allowed, through either version
    let update = review("u1", "UPDATE", &stored, &stored);
    assert!(allowed(&server.validate(&update).await));
    let v1 = hyperconverged_v1(Some("migration-bridge"));
    assert!(allowed(&server.validate(&review("u2", "UPDATE", &v1, &v1)).await));

    // and once the HyperConverged stops naming it, the NAD may go
    fake.apply(hyperconverged(CNV, None));
    verdict(&server, &review("d2", "DELETE", &Value::Null, &in_use), true, "the NAD freed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hco_1_19_written_through_v1_where_v1_is_stored() {
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_19)).await;
    let in_use = cluster(&fake);
    fake.apply(hyperconverged_v1(Some("migration-bridge")));
    let through_v1beta1 = fake.get("hco.kubevirt.io/v1beta1", CNV, HC).unwrap();
    assert_eq!(through_v1beta1["spec"].get("virtualization"), None, "the mirror image: {through_v1beta1}");
    assert_eq!(through_v1beta1["spec"]["liveMigrationConfig"].get("network"), None);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&fake, &dir).await;
    delete_is_denied(&server, &in_use, "the NAD named through v1").await;
    let v1 = hyperconverged_v1(Some("migration-bridge"));
    assert!(allowed(&server.validate(&review("u1", "UPDATE", &v1, &v1)).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_at_runtime_keep_the_guard() {
    // HCO 1.17: v1beta1 only; the HyperConverged is created there
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_17)).await;
    let in_use = cluster(&fake);
    fake.apply(hyperconverged(CNV, Some("migration-bridge")));
    let dir = tempfile::tempdir().unwrap();
    let server = start(&fake, &dir).await;
    let line = server.readyz_line("hyperconvergeds").await;
    assert!(line.contains("watching=\"hco.kubevirt.io/v1beta1 hyperconvergeds\""), "{line}");
    delete_is_denied(&server, &in_use, "HCO 1.17").await;

    // the operator upgrades its CRD to 1.18 (v1 served and preferred), then 1.19 (v1 stored): the new
    // version is watched without a restart, and the object, still stored as v1beta1, keeps its network
    for release in [HcoRelease::V1_18, HcoRelease::V1_19] {
        fake.upgrade_hco(release);
        eventually("the v1 watch", || async {
            let line = server.readyz_line("hyperconvergeds").await;
            (line.contains("watching=\"hco.kubevirt.io/v1beta1 and v1 hyperconvergeds\"")
                && field(&line, "synced") == Some("true"))
            .then_some(())
        })
        .await;
        delete_is_denied(&server, &in_use, &format!("after the upgrade to {release:?}")).await;
    }

    // rewritten through v1 in the v1 layout (as the 1.19 operator and docs do): still guarded
    fake.apply(hyperconverged_v1(Some("migration-bridge")));
    delete_is_denied(&server, &in_use, "the v1 layout after the upgrade").await;
    // and the HyperConverged moved to another network: the old NAD may go
    fake.apply(nad(CNV, "migration-two", "192.168.100.0/24"));
    fake.apply(hyperconverged_v1(Some("migration-two")));
    verdict(&server, &review("d3", "DELETE", &Value::Null, &in_use), true, "the old NAD freed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_dropped_at_runtime_leaves_the_object_to_the_other_read() {
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_18)).await;
    let in_use = cluster(&fake);
    fake.apply(hyperconverged(CNV, Some("migration-bridge")));
    let dir = tempfile::tempdir().unwrap();
    let server = start(&fake, &dir).await;
    // v1 is withdrawn (a rollback to 1.17): its watch stops, the v1beta1 read still guards
    fake.upgrade_hco(HcoRelease::V1_17);
    eventually("v1 no longer watched", || async {
        let line = server.readyz_line("hyperconvergeds").await;
        line.contains("watching=\"hco.kubevirt.io/v1beta1 hyperconvergeds\"").then_some(())
    })
    .await;
    delete_is_denied(&server, &in_use, "after v1 was withdrawn").await;
}
