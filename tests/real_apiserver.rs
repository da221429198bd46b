//! End to end against a real kube-apiserver and etcd, HCO 1.18's CRD (`v1beta1` stored, `v1`
//! served, no conversion): what mignet ships, installed as a user installs it
//! (`support::installed`), driven with kubectl as a user drives it. One API server for the whole
//! binary; the cases share it, the API server restart takes it alone.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    common::repo,
    envtest::Out,
    fake_apiserver::{self, FakeApiServer, ResourceDef},
    installed::{self, ELSEWHERE, HC, IN_NS, NNCP, NS, Seed, Suite, denied_by, must, nad, whereabouts},
    schemas::HcoRelease,
};
use tokio::sync::{OnceCell, RwLock};

static SUITE: OnceCell<Option<Suite>> = OnceCell::const_new();
/// Cases hold it shared; the API server restart holds it alone.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

/// The suite, started by the first case that asks: the seed NAD and HyperConverged of `examples/`.
async fn suite() -> Option<&'static Suite> {
    let seed = [Seed::File("examples/migration-nad.yaml"), Seed::File("examples/hyperconverged.yaml")];
    installed::suite(&SUITE, HcoRelease::V1_18, &seed).await
}

#[tokio::test]
async fn the_seed_nad_and_hyperconverged_are_admitted_unchanged() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    // created through the webhooks when the suite started; applied again, nothing is sent
    for (file, extra) in [
        ("examples/migration-nad.yaml", &[][..]),
        ("examples/hyperconverged.yaml", &[][..]),
        // the docs' spelling: no namespace in the file
        ("examples/hyperconverged-no-namespace.yaml", &["-n", NS][..]),
    ] {
        let out = s.apply_file(file, extra).await;
        assert!(out.ok && out.stderr.is_empty() && out.stdout.contains("unchanged"), "{file}: {out:?}");
    }
    // a replace always reaches both webhooks (an UPDATE): allowed, no warning, no patch
    let counted = |webhook, verdict| [("kind", "HyperConverged"), ("webhook", webhook), ("verdict", verdict)];
    let before = (
        s.admissions(&counted("validate", "allowed")).await,
        s.admissions(&counted("mutate", "allowed")).await,
    );
    for (file, extra) in [
        ("examples/hyperconverged-no-namespace.yaml", &["-n", NS][..]),
        ("examples/hyperconverged.yaml", &[][..]),
    ] {
        let path = repo(file);
        let mut args = vec!["replace", "-f", &path];
        args.extend_from_slice(extra);
        let out = s.kubectl(&args).await;
        assert!(out.ok && out.stderr.is_empty() && out.stdout.contains("replaced"), "{file}: {out:?}");
    }
    let after = (
        s.admissions(&counted("validate", "allowed")).await,
        s.admissions(&counted("mutate", "allowed")).await,
    );
    assert_eq!((after.0 - before.0, after.1 - before.1), (2.0, 2.0), "mignet judged both replaces");
    let hc = s.hc_v1beta1().await;
    let lm = &hc["spec"]["liveMigrationConfig"];
    assert_eq!(lm["network"], "migration-bridge");
    let numbers = [
        "completionTimeoutPerGiB",
        "progressTimeout",
        "parallelMigrationsPerCluster",
        "parallelOutboundMigrationsPerNode",
    ]
    .map(|k| lm[k].as_i64());
    assert_eq!(numbers, [Some(800), Some(150), Some(5), Some(2)], "{hc}");
    let stored = s.get("network-attachment-definitions", Some(NS), "migration-bridge").await.unwrap();
    let config: Value = serde_json::from_str(stored["spec"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(
        (config["master"].as_str(), config["ipam"]["range"].as_str()),
        (Some("bond2"), Some("192.168.99.0/24"))
    );
}

#[tokio::test]
async fn a_migration_nad_outside_the_migration_namespace_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let out = s.apply_file("examples/broken/nad-in-wrong-namespace.yaml", &[]).await;
    let m = denied_by(&out, ELSEWHERE);
    assert!(m.contains("metadata.namespace") && m.contains("openshift-cnv"), "{m}");
    assert!(s.get("network-attachment-definitions", Some("default"), "migration-net").await.is_none());
}

#[tokio::test]
async fn overlapping_ranges_are_denied_whichever_nad_comes_second() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    must(s.kubectl(&["create", "namespace", "tenant-overlap"]).await, "namespace");
    // a tenant network on half of the migration subnet
    let out = s.apply(&nad("tenant-overlap", "blue", "macvlan", whereabouts("192.168.99.128/25")), &[]).await;
    let m = denied_by(&out, ELSEWHERE);
    assert!(m.contains("192.168.99.0/24") && m.contains("openshift-cnv/migration-bridge"), "{m}");
    assert!(s.get("network-attachment-definitions", Some("tenant-overlap"), "blue").await.is_none());
    // the other way round: a tenant network first, then a migration NAD over it
    let out = s.apply(&nad("tenant-overlap", "green", "macvlan", whereabouts("10.77.0.0/24")), &[]).await;
    assert!(out.ok && out.stdout.contains("created"), "{out:?}");
    let wide = nad(NS, "migration-wide", "macvlan", whereabouts("10.77.0.0/16"));
    // the view learns of green from its watch a moment later
    s.until("the view to see tenant-overlap/green", || async {
        s.apply(&wide, &["--dry-run=server"]).await.stderr.contains("denied the request").then_some(())
    })
    .await;
    let m = denied_by(&s.apply(&wide, &[]).await, IN_NS);
    assert!(m.contains("10.77.0.0/24") && m.contains("tenant-overlap/green"), "{m}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-wide").await.is_none());
}

#[tokio::test]
async fn a_migration_nad_with_another_plugin_or_ipam_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    for (file, name, expect) in [
        ("examples/broken/nad-bridge-plugin.yaml", "migration-linux-bridge", "macvlan"),
        ("examples/broken/nad-host-local-ipam.yaml", "migration-host-local", "whereabouts"),
    ] {
        let m = denied_by(&s.apply_file(file, &[]).await, IN_NS);
        assert!(m.contains(expect), "{file}: {m}");
        assert!(s.get("network-attachment-definitions", Some(NS), name).await.is_none(), "{file}");
    }
}

#[tokio::test]
async fn deleting_the_nad_the_hyperconverged_uses_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let delete = ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge"];
    let m = denied_by(&s.kubectl(&delete).await, IN_NS);
    assert!(m.contains(HC), "{m}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-bridge").await.is_some());
}

#[tokio::test]
async fn hyperconverged_numbers_are_judged_and_defaults_kept() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let m = denied_by(&s.apply_file("examples/broken/hco-negative-timeout.yaml", &[]).await, IN_NS);
    assert!(m.contains("spec.liveMigrationConfig.completionTimeoutPerGiB"), "{m}");
    let patch = r#"{"spec":{"liveMigrationConfig":{"parallelMigrationsPerCluster":0}}}"#;
    let args =
        ["patch", "hyperconvergeds.v1beta1.hco.kubevirt.io", "-n", NS, HC, "--type=merge", "-p", patch];
    let m = denied_by(&s.kubectl(&args).await, IN_NS);
    assert!(m.contains("spec.liveMigrationConfig.parallelMigrationsPerCluster"), "{m}");
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"], 800);

    // the defaults: a HyperConverged naming only what it wants elsewhere than the migration namespace
    must(s.kubectl(&["create", "namespace", "hc-defaults"]).await, "namespace");
    let patched = [("kind", "HyperConverged"), ("webhook", "mutate"), ("verdict", "patched")];
    let before = s.admissions(&patched).await;
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
                    "metadata": {"name": HC, "namespace": "hc-defaults"},
                    "spec": {"liveMigrationConfig": {"progressTimeout": 300}}});
    let out = s.apply(&hc.to_string(), &[]).await;
    assert!(out.ok, "{out:?}");
    let stored = s.get("hyperconvergeds.v1beta1.hco.kubevirt.io", Some("hc-defaults"), HC).await.unwrap();
    let lm = &stored["spec"]["liveMigrationConfig"];
    // what the user wrote is kept; the CRD's schema defaults fill the rest before mutating admission
    // runs, so mignet's defaults patch has nothing left to add
    assert_eq!(lm["progressTimeout"], 300, "{stored}");
    let numbers =
        ["completionTimeoutPerGiB", "parallelMigrationsPerCluster", "parallelOutboundMigrationsPerNode"]
            .map(|k| lm[k].as_i64());
    assert_eq!(numbers, [Some(150), Some(5), Some(2)], "{stored}");
    assert_eq!(s.admissions(&patched).await, before, "no patch on top of the CRD defaults");
}

#[tokio::test]
async fn a_v1_layout_write_over_the_v1beta1_hyperconverged_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    // the reads through both versions reach the view
    s.until("the view to read the HyperConverged", || async {
        let (_, body) = s.mignet_get("/readyz?verbose").await?;
        body.contains("hyperconvergeds").then_some(())
    })
    .await;
    let patch = r#"{"spec":{"virtualization":{"liveMigrationConfig":{"progressTimeout":200}}}}"#;
    for resource in ["hyperconvergeds.v1.hco.kubevirt.io", "hco"] {
        let args = ["patch", resource, "-n", NS, HC, "--type=merge", "-p", patch];
        let m = denied_by(&s.kubectl(&args).await, IN_NS);
        assert!(
            m.contains("spec.virtualization")
                && m.contains("network \"migration-bridge\"")
                && m.contains("hyperconvergeds.v1beta1.hco.kubevirt.io"),
            "{resource}: {m}"
        );
    }
    // the v1 layout labelled v1beta1: kubectl asks for strict field validation, and the API server
    // itself refuses the fields v1beta1 does not know before any webhook sees them
    let out = s.apply_file("examples/broken/hco-v1-layout-sent-as-v1beta1.yaml", &[]).await;
    assert!(!out.ok && out.stderr.contains("unknown field \"spec.virtualization\""), "{out:?}");
    let lm = &s.hc_v1beta1().await["spec"]["liveMigrationConfig"];
    assert_eq!(
        (lm["network"].as_str(), lm["progressTimeout"].as_i64()),
        (Some("migration-bridge"), Some(150))
    );
    // the same change through v1beta1 is an ordinary update
    let patch = r#"{"spec":{"liveMigrationConfig":{"progressTimeout":200}}}"#;
    let args = [
        "patch",
        "hyperconvergeds.v1beta1.hco.kubevirt.io",
        "-n",
        NS,
        HC,
        "--type=merge",
        "-p",
        patch,
        "--dry-run=server",
    ];
    let out = s.kubectl(&args).await;
    assert!(out.ok && out.stdout.contains("patched"), "{out:?}");
}

#[tokio::test]
async fn an_nncp_removing_the_migration_bond_is_denied() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let m = denied_by(&s.apply_file("tests/host/nncp-remove-bond2.yaml", &[]).await, NNCP);
    assert!(
        m.contains("\"bond2\" is the live-migration master") && m.contains("node-a, node-b, node-c"),
        "{m}"
    );
    assert!(s.get("nodenetworkconfigurationpolicies", None, "bond2-absent").await.is_none());
    // the same change written through v1, the stored version
    let v1 = std::fs::read_to_string(repo("tests/host/nncp-remove-bond2.yaml"))
        .unwrap()
        .replace("nmstate.io/v1beta1", "nmstate.io/v1");
    denied_by(&s.apply(&v1, &[]).await, NNCP);
    // a policy that keeps bond2 is admitted
    let out = s.apply_file("tests/host/nncp-bond2.yaml", &["--dry-run=server"]).await;
    assert!(out.ok, "{out:?}");
}

#[tokio::test]
async fn server_side_dry_runs_get_the_same_verdicts_and_store_nothing() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let out = s.apply_file("examples/broken/nad-host-local-ipam.yaml", &["--dry-run=server"]).await;
    assert!(denied_by(&out, IN_NS).contains("whereabouts"));
    let out = s
        .kubectl(&[
            "delete",
            "network-attachment-definitions",
            "-n",
            NS,
            "migration-bridge",
            "--dry-run=server",
        ])
        .await;
    denied_by(&out, IN_NS);
    let fine = nad(NS, "migration-spare", "macvlan", whereabouts("192.168.120.0/24"));
    let out = s.apply(&fine, &["--dry-run=server"]).await;
    assert!(out.ok && out.stdout.contains("(server dry run)"), "{out:?}");
    assert!(s.get("network-attachment-definitions", Some(NS), "migration-spare").await.is_none());
}

#[tokio::test]
async fn the_guard_holds_across_an_api_server_restart() {
    let Some(s) = suite().await else { return };
    let _alone = EXCLUSIVE.write().await;
    s.env.restart_apiserver(Duration::from_secs(2)).await;
    s.wait_mignet_ready().await;
    // mignet's watches resumed: a write after the restart reaches the view
    must(s.kubectl(&["create", "namespace", "tenant-restart"]).await, "namespace");
    let out = s.apply(&nad("tenant-restart", "red", "macvlan", whereabouts("10.66.0.0/24")), &[]).await;
    assert!(out.ok, "{out:?}");
    let wide = nad(NS, "migration-after-restart", "macvlan", whereabouts("10.66.0.0/16"));
    s.until("the view to see tenant-restart/red", || async {
        s.apply(&wide, &["--dry-run=server"]).await.stderr.contains("tenant-restart/red").then_some(())
    })
    .await;
    // and what it knew before still guards
    let delete = ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge"];
    denied_by(&s.kubectl(&delete).await, IN_NS);
    let patch = r#"{"spec":{"virtualization":{"liveMigrationConfig":{"progressTimeout":200}}}}"#;
    let args = ["patch", "hco", "-n", NS, HC, "--type=merge", "-p", patch];
    denied_by(&s.kubectl(&args).await, IN_NS);
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["network"], "migration-bridge");
}

/// The fake API server's model of how a HyperConverged is stored and read, checked against the real
/// one: a write through v1beta1, reads through both versions, a merge patch through v1, reads again.
#[tokio::test]
async fn the_fake_api_server_stores_and_reads_hyperconvergeds_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift_with(HcoRelease::V1_18)).await;
    must(s.kubectl(&["create", "namespace", "fidelity"]).await, "namespace");
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
                    "metadata": {"name": HC, "namespace": "fidelity"},
                    "spec": {"liveMigrationConfig": {"progressTimeout": 300}, "featureGates": {"downwardMetrics": true}}});
    must(s.apply(&hc.to_string(), &[]).await, "HyperConverged");
    fake.apply(hc);
    let fake = &fake;
    let compare = |when: &'static str| async move {
        for version in ["v1beta1", "v1"] {
            let real = s
                .get(&format!("hyperconvergeds.{version}.hco.kubevirt.io"), Some("fidelity"), HC)
                .await
                .unwrap();
            let imitated = fake.get(&format!("hco.kubevirt.io/{version}"), "fidelity", HC).unwrap();
            assert_eq!(imitated["spec"], real["spec"], "{when}, read through {version}");
            assert_eq!(imitated["apiVersion"], real["apiVersion"], "{when}, read through {version}");
        }
    };
    compare("written through v1beta1").await;

    let patch = json!({"spec": {"virtualization": {"liveMigrationConfig": {"progressTimeout": 200}}}});
    let args = ["patch", "hyperconvergeds.v1.hco.kubevirt.io", "-n", "fidelity", HC, "--type=merge", "-p"];
    must(s.kubectl(&[&args[..], &[patch.to_string().as_str()]].concat()).await, "v1 patch");
    let mut through_v1 = fake.get("hco.kubevirt.io/v1", "fidelity", HC).unwrap();
    json_patch::merge(&mut through_v1, &patch);
    fake.apply(through_v1);
    compare("patched through v1").await;
}

/// The fake API server's 422 for a NAD whose `spec.config` is not a string, checked against the real one.
#[tokio::test]
async fn the_fake_api_server_refuses_a_nad_config_of_the_wrong_type_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift()).await;
    let bad = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                     "metadata": {"name": "config-object", "namespace": "default"},
                     "spec": {"config": {"type": "macvlan"}}});
    // the Status message as the server words it, without strict field validation (kubectl's default
    // asks for it; kube-rs clients do not)
    let uri = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions";
    let out = s.env.kubectl(&["create", "--raw", uri, "-f", "-"], Some(&bad.to_string())).await;
    let imitated = fake.try_apply(bad).unwrap_err();
    let imitated =
        imitated.strip_prefix("NetworkAttachmentDefinition.k8s.cni.cncf.io \"config-object\" is invalid: ");
    let real = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("The NetworkAttachmentDefinition \"config-object\" is invalid: "));
    assert!(!out.ok && real.is_some(), "{out:?}");
    assert_eq!(imitated, real);
}

/// The fake API server's UDN and CUDN schemas, checked against the real server on the project's
/// CRDs: unknown fields pruned alike, and the same 422 for a value outside an enum and a missing
/// required field. Dry runs (`?dryRun=All`, no strict field validation, as kube-rs clients write):
/// nothing is stored.
#[tokio::test]
async fn the_fake_api_server_judges_udns_and_cudns_by_their_schemas_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift_with_nmstate(HcoRelease::V1_18)).await;
    let create = |uri: &'static str, object: Value| async move {
        let uri = format!("{uri}?dryRun=All");
        s.env.kubectl(&["create", "--raw", &uri, "-f", "-"], Some(&object.to_string())).await
    };
    let udns = "/apis/k8s.ovn.org/v1/namespaces/default/userdefinednetworks";
    let cudns = "/apis/k8s.ovn.org/v1/clusteruserdefinednetworks";

    let udn = json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
                     "metadata": {"name": "pruned", "namespace": "default"},
                     "spec": {"topology": "Layer2", "extra": true,
                              "layer2": {"role": "Secondary", "subnets": ["10.124.0.0/24"], "bogus": 1}}});
    let out = must(create(udns, udn.clone()).await, "dry-run UDN");
    let real: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        real["spec"],
        json!({"topology": "Layer2", "layer2": {"role": "Secondary", "subnets": ["10.124.0.0/24"]}})
    );
    assert_eq!(fake.apply(udn)["spec"], real["spec"]);

    let cudn = |network: Value| {
        json!({"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork", "metadata": {"name": "judged"},
               "spec": {"namespaceSelector": {}, "network": network}})
    };
    for network in [
        json!({"topology": "Layer4", "layer2": {"role": "Secondary", "subnets": ["10.125.0.0/24"]}}),
        json!({"topology": "Localnet", "localnet": {"role": "Secondary", "subnets": ["10.125.0.0/24"]}}),
    ] {
        let out = create(cudns, cudn(network.clone())).await;
        let real = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("The ClusterUserDefinedNetwork \"judged\" is invalid: "));
        assert!(!out.ok && real.is_some(), "{out:?}");
        let imitated = fake.try_apply(cudn(network)).unwrap_err();
        let imitated = imitated.strip_prefix("ClusterUserDefinedNetwork.k8s.ovn.org \"judged\" is invalid: ");
        assert_eq!(imitated, real);
    }
}

/// The fake API server's status subresource, checked against the real one on a NodeNetworkState:
/// a create drops `status`, a status write sets only it, a write of the object keeps it, and only
/// spec changes move `metadata.generation`.
#[tokio::test]
async fn the_fake_api_server_keeps_status_apart_as_the_real_one_does() {
    let Some(s) = suite().await else { return };
    let _shared = EXCLUSIVE.read().await;
    let fake = FakeApiServer::start(fake_apiserver::openshift_with_nmstate(HcoRelease::V1_18)).await;
    let name = "fidelity-node";
    let nns = |labels: Value, status: Value| {
        json!({"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkState",
               "metadata": {"name": name, "labels": labels}, "status": status})
    };
    let state = |iface: &str| json!({"currentState": {"interfaces": [{"name": iface, "type": "bond", "state": "up"}]}});
    let compare = |when: &'static str| {
        let fake = &fake;
        async move {
            let real = s.get("nodenetworkstates", None, name).await.unwrap();
            let imitated = fake.get("nmstate.io/v1beta1", "", name).unwrap();
            assert_eq!(imitated.get("status"), real.get("status"), "{when}: status");
            assert_eq!(
                imitated["metadata"]["generation"], real["metadata"]["generation"],
                "{when}: generation"
            );
        }
    };

    let created = nns(json!({"a": "1"}), state("bond1"));
    must(s.env.kubectl(&["create", "-f", "-"], Some(&created.to_string())).await, "create");
    fake.apply(created);
    compare("created with a status").await;

    let status = json!({"status": state("bond2")}).to_string();
    let patch = ["patch", "nodenetworkstate", name, "--subresource=status", "--type=merge", "-p", &status];
    must(s.kubectl(&patch).await, "status write");
    fake.apply_status(nns(json!({"a": "1"}), state("bond2")));
    compare("status written").await;

    let relabelled = nns(json!({"a": "2"}), state("bond3"));
    must(s.env.kubectl(&["replace", "-f", "-"], Some(&relabelled.to_string())).await, "replace");
    fake.apply(relabelled);
    compare("object replaced with another status").await;
}

/// `virtualmachineinstancemigrations.kubevirt.io`: KubeVirt's real CRD is generated by virt-operator
/// at run time; the suite installs a stand-in with the same group, version, kind, plural, scope and
/// status subresource (`support::crds::virtual_machine_instance_migration`).
const VMIMS: &str = "virtualmachineinstancemigrations.kubevirt.io";
const HC_V1BETA1: &str = "hyperconvergeds.v1beta1.hco.kubevirt.io";

/// Runs its closure when dropped during a panic: puts shared state back for the cases that follow.
struct OnPanic<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnPanic<F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.0)();
        }
    }
}

/// Runs kubectl as the admin, blocking (for [`OnPanic`], where no runtime polls); the outcome is not read.
fn kubectl_now(s: &Suite, args: &[&str]) {
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let _ = std::process::Command::new(kubectl).arg("--kubeconfig").arg(&s.env.admin).args(args).output();
}

/// Writes a VMIM's phase as virt-controller does: through the status subresource.
async fn set_phase(s: &Suite, ns: &str, name: &str, phase: &str) {
    let status = json!({"status": {"phase": phase}}).to_string();
    let args = ["patch", VMIMS, "-n", ns, name, "--subresource=status", "--type=merge", "-p", &status];
    must(s.kubectl(&args).await, &format!("VMIM {ns}/{name} phase {phase}"));
}

/// A merge patch of the v1beta1 HyperConverged's `spec.liveMigrationConfig`.
async fn patch_hc_lm(s: &Suite, lm: Value, extra: &[&str]) -> Out {
    let patch = json!({"spec": {"liveMigrationConfig": lm}}).to_string();
    let mut args = vec!["patch", HC_V1BETA1, "-n", NS, HC, "--type=merge", "-p", &patch];
    args.extend_from_slice(extra);
    s.kubectl(&args).await
}

/// `mignet_view_objects{kind="migration-unfinished"}`: the migrations holding the network.
async fn unfinished(s: &Suite) -> Option<f64> {
    let (_, text) = s.mignet_get("/metrics").await?;
    text.lines()
        .find(|l| l.starts_with("mignet_view_objects{") && l.contains("kind=\"migration-unfinished\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_running_migration_holds_the_hyperconverged_network_until_it_succeeds() {
    let Some(s) = suite().await else { return };
    // an unfinished migration holds every network change in the cluster (an NNCP on bond2 too): alone
    let _alone = EXCLUSIVE.write().await;
    let to_two = json!({"network": "migration-two"});
    must(s.apply(&nad(NS, "migration-two", "macvlan", whereabouts("192.168.100.0/24")), &[]).await, "NAD");
    // with no migration, the change is an ordinary one (once the view knows the new NAD)
    s.until("the view to see migration-two", || async {
        patch_hc_lm(s, to_two.clone(), &["--dry-run=server"]).await.ok.then_some(())
    })
    .await;

    // created as `virtctl migrate` creates it: the API server drops a status sent with the object
    // (status subresource), and virt-controller then writes the phase through `status`
    must(s.kubectl(&["create", "namespace", "vms"]).await, "namespace");
    let vmim = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                      "metadata": {"name": "drain-node-a", "namespace": "vms"},
                      "spec": {"vmiName": "rhel-9"}, "status": {"phase": "Succeeded"}});
    must(s.apply(&vmim.to_string(), &[]).await, "VMIM");
    // should an assertion fail below, the migration ends and the seed's network comes back before
    // the other cases (which a running migration would deny) take their turn
    let _cleanup = OnPanic(|| {
        let finished = json!({"status": {"phase": "Failed"}}).to_string();
        let status = ["patch", VMIMS, "-n", "vms", "drain-node-a", "--subresource=status", "--type=merge"];
        kubectl_now(s, &[&status[..], &["-p", &finished]].concat());
        let network = json!({"spec": {"liveMigrationConfig": {"network": "migration-bridge"}}}).to_string();
        kubectl_now(s, &["patch", HC_V1BETA1, "-n", NS, HC, "--type=merge", "-p", &network]);
    });
    let stored = s.get(VMIMS, Some("vms"), "drain-node-a").await.unwrap();
    assert!(stored.get("status").is_none(), "the status sent with the object is dropped: {stored}");
    // the fake API server does the same, and dates the object as the real one: now
    let mut defs = fake_apiserver::openshift_with(HcoRelease::V1_18);
    defs.push(ResourceDef::VMIMS);
    let imitated = FakeApiServer::start(defs).await.apply(vmim.clone());
    assert!(imitated.get("status").is_none(), "{imitated}");
    let now = k8s_openapi::jiff::Timestamp::now();
    for created in
        [&stored, &imitated].map(|o| o["metadata"]["creationTimestamp"].as_str().unwrap().to_owned())
    {
        let age = now.as_second() - created.parse::<k8s_openapi::jiff::Timestamp>().unwrap().as_second();
        assert!((0..60).contains(&age), "created {created}, now {now}");
    }
    set_phase(s, "vms", "drain-node-a", "Running").await;

    let denial = s
        .until("the view to see the running migration", || async {
            let out = patch_hc_lm(s, to_two.clone(), &["--dry-run=server"]).await;
            (!out.ok).then_some(out)
        })
        .await;
    assert!(denial.stderr.contains("while 1 live migration is unfinished"), "{denial:?}");
    let out = patch_hc_lm(s, to_two.clone(), &[]).await;
    let m = denied_by(&out, IN_NS);
    assert!(
        m.contains("spec.liveMigrationConfig.network")
            && m.contains("\"migration-bridge\" -> \"migration-two\"")
            && m.contains("vms/drain-node-a (VMI rhel-9, Running, age ")
            && m.contains("kubectl delete vmim"),
        "{m}"
    );
    assert_eq!(s.denied_rules("HyperConverged", HC).last().map(String::as_str), Some("migration-in-flight"));
    // the API server dated the migration just now: well within inFlightMaxAgeSeconds (a day), so the
    // shipped default holds it with no policy override and no stuck-migration warning
    assert!(!m.contains("taken as stuck"), "{m}");
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["network"], "migration-bridge");
    s.until("the metric to count one unfinished migration", || async {
        (unfinished(s).await == Some(1.0)).then_some(())
    })
    .await;
    // timeouts stay changeable meanwhile
    let out = patch_hc_lm(s, json!({"progressTimeout": 200}), &["--dry-run=server"]).await;
    assert!(out.ok && out.stderr.is_empty(), "{out:?}");

    // the migration succeeds: the same change is admitted and stored
    set_phase(s, "vms", "drain-node-a", "Succeeded").await;
    s.until("the finished migration to release the network", || async {
        patch_hc_lm(s, to_two.clone(), &["--dry-run=server"]).await.ok.then_some(())
    })
    .await;
    let out = must(patch_hc_lm(s, to_two.clone(), &[]).await, "the network change");
    // the one warning left is the network change's own (hc-network-change)
    assert!(
        out.stderr.contains("\"migration-bridge\" -> \"migration-two\": every virt-handler pod restarts")
            && !out.stderr.contains("unfinished"),
        "{out:?}"
    );
    assert_eq!(s.hc_v1beta1().await["spec"]["liveMigrationConfig"]["network"], "migration-two");
    s.until("the metric to count no unfinished migration", || async {
        (unfinished(s).await == Some(0.0)).then_some(())
    })
    .await;

    // back to the seed's network, and the guard on its NAD back in place before the other cases run
    must(patch_hc_lm(s, json!({"network": "migration-bridge"}), &[]).await, "the network back");
    s.until("the view to guard migration-bridge again", || async {
        let delete =
            ["delete", "network-attachment-definitions", "-n", NS, "migration-bridge", "--dry-run=server"];
        s.kubectl(&delete).await.stderr.contains("denied the request").then_some(())
    })
    .await;
}

/// Sets (or, with `None`, removes) the KubeVirt CR's `spec.configuration.migrations.network`.
async fn set_kv_network(s: &Suite, ns: &str, network: Option<&str>, extra: &[&str]) -> Out {
    let patch = json!({"spec": {"configuration": {"migrations": {"network": network}}}}).to_string();
    let mut args = vec!["patch", "kubevirts.kubevirt.io", "-n", ns, "kubevirt", "--type=merge", "-p", &patch];
    args.extend_from_slice(extra);
    s.kubectl(&args).await
}

/// Upstream KubeVirt without HCO: the KubeVirt CR, in its own namespace `kubevirt`, names the
/// migration NAD.
///
/// Where the CR goes decides what is tested. In `openshift-cnv` a HyperConverged lives beside it, so
/// mignet takes it as HCO's (HCO copies the HyperConverged's settings into it on every reconcile) and
/// admits it as it is: checked below with a dry run. Elsewhere, with the shipped policy (no
/// `migrationNamespace`), the migration namespace is discovered from where the KubeVirt CR lives: as
/// upstream installs it, the CR is created first without a migration network, the view finds it and
/// `kubevirt` becomes the migration namespace (the first KubeVirt CR by namespace), and only then is
/// the NAD it names judged in full. That moves the migration namespace for every case, so this one
/// runs alone and puts the CR away at the end.
#[tokio::test]
async fn a_kubevirt_cr_naming_a_bad_nad_is_denied() {
    let Some(s) = suite().await else { return };
    let _alone = EXCLUSIVE.write().await;
    const KV: &str = "kubevirt";
    must(s.kubectl(&["create", "namespace", KV]).await, "namespace");
    // a bridge NAD (its name is no migration NAD's, and `kubevirt` is an ordinary namespace yet)
    let config = json!({"cniVersion": "0.3.1", "name": "lm-bridge", "type": "bridge", "bridge": "br1",
                        "ipam": whereabouts("192.168.132.0/24")});
    let bridge = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                        "metadata": {"name": "lm-bridge", "namespace": KV},
                        "spec": {"config": config.to_string()}});
    must(s.apply(&bridge.to_string(), &[]).await, "lm-bridge");
    must(s.apply(&nad(KV, "lm-net", "macvlan", whereabouts("192.168.131.0/24")), &[]).await, "lm-net");
    let kv = json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": KV, "namespace": KV},
                    "spec": {"configuration": {"migrations": {"parallelMigrationsPerCluster": 5}}}});
    must(s.apply(&kv.to_string(), &[]).await, "KubeVirt CR");
    // should an assertion fail below, the migration namespace goes back to openshift-cnv before the
    // other cases take their turn
    let _cleanup = OnPanic(|| kubectl_now(s, &["delete", "kubevirts.kubevirt.io", "-n", KV, KV]));
    let wrong_ns = |ns: &'static str| async move {
        let out = s.apply_file("examples/broken/nad-in-wrong-namespace.yaml", &["--dry-run=server"]).await;
        out.stderr.contains(&format!("must be in \"{ns}\"")).then_some(())
    };
    s.until("the migration namespace to be discovered from the KubeVirt CR", || wrong_ns(KV)).await;

    // a bridge NAD, and a NAD that does not exist
    for (network, expect, rule) in [
        (
            "lm-bridge",
            "NetworkAttachmentDefinition kubevirt/lm-bridge fails the migration rules",
            "hc-network-invalid",
        ),
        ("lm-absent", "no NetworkAttachmentDefinition kubevirt/lm-absent", "hc-network-missing"),
    ] {
        s.until(&format!("the view to judge {network}"), || async {
            let out = set_kv_network(s, KV, Some(network), &["--dry-run=server"]).await;
            out.stderr.contains(expect).then_some(())
        })
        .await;
        let m = denied_by(&set_kv_network(s, KV, Some(network), &[]).await, ELSEWHERE);
        assert!(m.contains("spec.configuration.migrations.network") && m.contains(expect), "{network}: {m}");
        assert_eq!(s.denied_rules("KubeVirt", KV).last().map(String::as_str), Some(rule), "{network}");
    }
    let m = denied_by(&set_kv_network(s, KV, Some("lm-bridge"), &[]).await, ELSEWHERE);
    assert!(m.contains("macvlan"), "{m}");
    let stored = s.get("kubevirts.kubevirt.io", Some(KV), KV).await.unwrap();
    assert!(stored["spec"]["configuration"]["migrations"].get("network").is_none(), "{stored}");

    // a good one is admitted, and the NAD it names is then in use
    let out = must(set_kv_network(s, KV, Some("lm-net"), &[]).await, "network lm-net");
    assert!(out.stderr.is_empty(), "{out:?}");
    let delete = ["delete", "network-attachment-definitions", "-n", KV, "lm-net"];
    s.until("the view to see the KubeVirt CR's network", || async {
        let out = s.kubectl(&[&delete[..], &["--dry-run=server"]].concat()).await;
        out.stderr.contains("denied the request").then_some(())
    })
    .await;
    let m = denied_by(&s.kubectl(&delete).await, ELSEWHERE);
    assert!(m.contains("KubeVirt kubevirt/kubevirt"), "{m}");

    // HCO's own KubeVirt CR beside the HyperConverged is admitted as it is, even naming a NAD that
    // does not exist there: the HyperConverged was judged when it was written
    let hcos = json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
                      "metadata": {"name": "kubevirt-kubevirt-hyperconverged", "namespace": NS},
                      "spec": {"configuration": {"migrations": {"network": "lm-bridge"}}}});
    let out = s.apply(&hcos.to_string(), &["--dry-run=server"]).await;
    assert!(out.ok && out.stderr.is_empty(), "{out:?}");

    // put away: the migration namespace is openshift-cnv again
    must(s.kubectl(&["delete", "kubevirts.kubevirt.io", "-n", KV, KV]).await, "KubeVirt CR");
    s.until("the migration namespace to fall back to openshift-cnv", || wrong_ns(NS)).await;
    for name in ["lm-net", "lm-bridge"] {
        must(s.kubectl(&["delete", "network-attachment-definitions", "-n", KV, name]).await, name);
    }
}

/// `objects=` of `resource`'s line in mignet's `/readyz?verbose`: what the live view holds of it.
async fn in_view(s: &Suite, resource: &str) -> Option<u64> {
    let (_, body) = s.mignet_get("/readyz?verbose").await?;
    let line = body.lines().find(|l| l.contains(&format!("]{resource} present=true")))?;
    line.split_whitespace().find_map(|w| w.strip_prefix("objects="))?.parse().ok()
}

const CUDNS: &str = "clusteruserdefinednetworks.k8s.ovn.org";
const NADS: &str = "network-attachment-definitions";

/// OVN-Kubernetes' user-defined networks on the project's UDN and CUDN CRDs: a CUDN over the
/// migration subnet is refused at `kubectl apply` by `cluster-networks.validate.mignet.io`, one off it
/// is admitted, the NAD OVN-Kubernetes renders from it (same name, the label, an owner reference with
/// the CUDN's real uid) is admitted as the same network and counted once, and a UDN on the migration
/// subnet is refused by the namespaced webhook. A new network changes the free ranges every denial
/// suggests, so this runs alone, and it deletes what it created.
#[tokio::test]
async fn a_cudn_on_the_migration_subnet_is_denied_and_its_rendered_nad_counts_once() {
    let Some(s) = suite().await else { return };
    let _alone = EXCLUSIVE.write().await;
    const CLUSTER_NETWORKS: &str = "cluster-networks.validate.mignet.io";
    const NAME: &str = "vm-shared";
    const SELECTED: &str = "udn-selected";
    let _cleanup = OnPanic(|| {
        kubectl_now(s, &["delete", NADS, "-n", SELECTED, NAME, "--ignore-not-found"]);
        kubectl_now(s, &["delete", CUDNS, NAME, "--ignore-not-found"]);
    });
    let selector = json!({"matchLabels": {"vm-network/shared": "true"}});
    let cudn = |name: &str, topology: &str, block: Value| {
        let key = topology.to_lowercase();
        json!({"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork", "metadata": {"name": name},
               "spec": {"namespaceSelector": selector, "network": {"topology": topology, key: block}}})
        .to_string()
    };

    // a Localnet CUDN over the migration subnet: refused at apply time, nothing stored
    let localnet = cudn(
        "vm-physnet",
        "Localnet",
        json!({"role": "Secondary", "physicalNetworkName": "physnet-vm", "subnets": ["192.168.96.0/22"]}),
    );
    let m = denied_by(&s.apply(&localnet, &[]).await, CLUSTER_NETWORKS);
    assert!(
        m.contains("spec.network.localnet.subnets[0]: Invalid value: \"192.168.96.0/22\": overlaps the live-migration network openshift-cnv/migration-bridge (192.168.99.0/24)")
            && m.contains("excludeSubnets"),
        "{m}"
    );
    assert_eq!(
        s.denied_rules("ClusterUserDefinedNetwork", "vm-physnet").last().map(String::as_str),
        Some("nad-overlap-migration")
    );
    assert!(s.get(CUDNS, None, "vm-physnet").await.is_none());

    // a Layer2 secondary CUDN off it: admitted, and the live view claims its subnet
    let cudns_before = in_view(s, "clusteruserdefinednetworks").await.expect("CUDNs watched");
    let layer2 = cudn(NAME, "Layer2", json!({"role": "Secondary", "subnets": ["10.123.0.0/16"]}));
    let out = must(s.apply(&layer2, &[]).await, "CUDN");
    assert!(out.stdout.contains("created") && out.stderr.is_empty(), "{out:?}");
    let uid = s.get(CUDNS, None, NAME).await.unwrap()["metadata"]["uid"].as_str().unwrap().to_owned();
    let probe = nad(NS, "migration-probe", "macvlan", whereabouts("10.123.7.0/24"));
    let over_it = "overlaps ClusterUserDefinedNetwork vm-shared (10.123.0.0/16)";
    s.until("the view to claim the CUDN's subnet", || async {
        s.apply(&probe, &["--dry-run=server"]).await.stderr.contains(over_it).then_some(())
    })
    .await;
    assert_eq!(in_view(s, "clusteruserdefinednetworks").await, Some(cudns_before + 1));

    // the NAD OVN-Kubernetes renders from it in a selected namespace (its finalizer left out: no
    // controller here removes it): not an overlap with its own network
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": SELECTED, "labels": {"vm-network/shared": "true"}}});
    must(s.apply(&ns.to_string(), &[]).await, "namespace");
    let config = json!({"cniVersion": "1.0.0", "type": "ovn-k8s-cni-overlay", "name": format!("cluster_udn_{NAME}"),
                        "netAttachDefName": format!("{SELECTED}/{NAME}"), "topology": "layer2",
                        "role": "secondary", "subnets": "10.123.0.0/16"});
    let rendered = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": NAME, "namespace": SELECTED, "labels": {"k8s.ovn.org/user-defined-network": ""},
            "ownerReferences": [{"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork",
                "name": NAME, "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"config": config.to_string()}});
    let nads_before = in_view(s, NADS).await.expect("NADs watched");
    let out = must(s.apply(&rendered.to_string(), &[]).await, "rendered NAD");
    assert!(out.stdout.contains("created") && out.stderr.is_empty(), "{out:?}");
    s.until("the view to hold the rendered NAD", || async {
        (in_view(s, NADS).await == Some(nads_before + 1)).then_some(())
    })
    .await;

    // one network: a migration NAD over it hears of the CUDN once, not of its NAD
    let m = denied_by(&s.apply(&probe, &[]).await, IN_NS);
    assert!(m.contains(over_it) && !m.contains("NetworkAttachmentDefinition") && !m.contains("more"), "{m}");
    assert_eq!(
        s.denied_rules("NetworkAttachmentDefinition", "migration-probe").last().map(String::as_str),
        Some("nad-overlap-nad")
    );
    // and `mignet view`, under mignet's own ServiceAccount, lists it once, rendered once
    let kubeconfig = s.env.dir.join("mignet.kubeconfig").display().to_string();
    let (code, out, err) =
        support::run(["view", "--kubeconfig", &kubeconfig, "--output", "json"].map(str::to_owned).to_vec())
            .await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let claims: Vec<&Value> =
        report["ranges"].as_array().unwrap().iter().filter(|r| r["cidr"] == "10.123.0.0/16").collect();
    assert_eq!(claims.len(), 1, "{out}");
    assert_eq!(
        claims[0]["owner"],
        json!({"kind": "network", "networkKind": "ClusterUserDefinedNetwork", "namespace": "", "name": NAME,
               "selector": "vm-network/shared=true"})
    );
    assert_eq!(claims[0]["overlapCount"], 0, "a network never overlaps its own NAD: {out}");
    let net = report["userDefinedNetworks"].as_array().unwrap().iter().find(|n| n["name"] == NAME).cloned();
    assert_eq!(net.map(|n| n["renderedNads"].clone()), Some(json!(1)), "{out}");

    // a UDN on the migration subnet in a tenant namespace: refused by the namespaced webhook
    must(s.kubectl(&["create", "namespace", "udn-tenant"]).await, "namespace");
    let udn = json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
                     "metadata": {"name": "tenant-l2", "namespace": "udn-tenant"},
                     "spec": {"topology": "Layer2", "layer2": {"role": "Secondary", "subnets": ["192.168.99.0/26"]}}});
    let m = denied_by(&s.apply(&udn.to_string(), &[]).await, ELSEWHERE);
    assert!(
        m.contains("spec.layer2.subnets[0]: Invalid value: \"192.168.99.0/26\": overlaps the live-migration network openshift-cnv/migration-bridge (192.168.99.0/24)"),
        "{m}"
    );
    assert_eq!(
        s.denied_rules("UserDefinedNetwork", "tenant-l2").last().map(String::as_str),
        Some("nad-overlap-migration")
    );
    assert!(s.get("userdefinednetworks.k8s.ovn.org", Some("udn-tenant"), "tenant-l2").await.is_none());

    // put away: the NAD, then its network; the view lets the subnet go before the other cases run
    must(s.kubectl(&["delete", NADS, "-n", SELECTED, NAME]).await, "rendered NAD");
    must(s.kubectl(&["delete", CUDNS, NAME]).await, "CUDN");
    s.until("the view to let the CUDN's subnet go", || async {
        let gone = in_view(s, "clusteruserdefinednetworks").await == Some(cudns_before)
            && in_view(s, NADS).await == Some(nads_before);
        gone.then_some(())
    })
    .await;
    let out = s.apply(&probe, &["--dry-run=server"]).await;
    assert!(out.ok, "{out:?}");
}
