//! End to end against a real kube-apiserver with HCO 1.19's CRD: `v1` stored, `v1beta1` still served,
//! no conversion. The mirror image of `tests/real_apiserver.rs`: the HyperConverged is written in the
//! `v1` layout, and the write that would erase its settings is a `v1beta1` one. The same registrations
//! (both versions) and the same guard must hold.

mod support;

use serde_json::json;
use support::{
    installed::{self, HC, IN_NS, NS, Seed, Suite, denied_by, must},
    schemas::HcoRelease,
};
use tokio::sync::OnceCell;

static SUITE: OnceCell<Option<Suite>> = OnceCell::const_new();

/// The suite with the seed NAD and the seed HyperConverged's settings in the `v1` layout.
async fn suite() -> Option<&'static Suite> {
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
                    "metadata": {"name": HC, "namespace": NS},
                    "spec": {"virtualization": {"liveMigrationConfig": {
                        "completionTimeoutPerGiB": 800, "network": "migration-bridge",
                        "parallelMigrationsPerCluster": 5, "parallelOutboundMigrationsPerNode": 2,
                        "progressTimeout": 150}}}});
    let seed = [Seed::File("examples/migration-nad.yaml"), Seed::Object(hc)];
    installed::suite(&SUITE, HcoRelease::V1_19, &seed).await
}

async fn stored_lm(s: &Suite) -> serde_json::Value {
    let hc = s.get("hyperconvergeds.v1.hco.kubevirt.io", Some(NS), HC).await.expect("the HyperConverged");
    hc["spec"]["virtualization"]["liveMigrationConfig"].clone()
}

#[tokio::test]
async fn a_v1beta1_write_over_the_v1_hyperconverged_is_denied_and_a_v1_one_admitted() {
    let Some(s) = suite().await else { return };
    s.until("the view to read the HyperConverged through v1", || async {
        let delete =
            ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge", "--dry-run=server"];
        s.kubectl(&delete).await.stderr.contains("denied the request").then_some(())
    })
    .await;
    // the docs' v1beta1 spelling, applied over the v1 object, and a v1beta1 merge patch
    let out = s.apply_file("examples/hyperconverged.yaml", &[]).await;
    let m = denied_by(&out, IN_NS);
    assert!(
        m.contains("spec.virtualization.liveMigrationConfig (the v1 layout)")
            && m.contains("network \"migration-bridge\"")
            && m.contains("hyperconvergeds.v1.hco.kubevirt.io"),
        "{m}"
    );
    let patch = r#"{"spec":{"liveMigrationConfig":{"progressTimeout":200}}}"#;
    let args =
        ["patch", "hyperconvergeds.v1beta1.hco.kubevirt.io", "-n", NS, HC, "--type=merge", "-p", patch];
    denied_by(&s.kubectl(&args).await, IN_NS);
    let lm = stored_lm(s).await;
    assert_eq!(
        (lm["network"].as_str(), lm["progressTimeout"].as_i64()),
        (Some("migration-bridge"), Some(150))
    );

    // through v1, the stored layout, the same change is an ordinary update
    let patch = r#"{"spec":{"virtualization":{"liveMigrationConfig":{"progressTimeout":200}}}}"#;
    let out = must(s.kubectl(&["patch", "hco", "-n", NS, HC, "--type=merge", "-p", patch]).await, "v1 patch");
    assert!(out.stderr.is_empty(), "{out:?}");
    let lm = stored_lm(s).await;
    assert_eq!(
        (lm["network"].as_str(), lm["progressTimeout"].as_i64()),
        (Some("migration-bridge"), Some(200))
    );
}

#[tokio::test]
async fn the_nad_the_v1_hyperconverged_uses_cannot_be_deleted() {
    let Some(s) = suite().await else { return };
    let delete = ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge"];
    s.until("the view to read the HyperConverged through v1", || async {
        let mut dry = delete.to_vec();
        dry.push("--dry-run=server");
        s.kubectl(&dry).await.stderr.contains("denied the request").then_some(())
    })
    .await;
    let m = denied_by(&s.kubectl(&delete).await, IN_NS);
    assert!(m.contains(HC), "{m}");
}
