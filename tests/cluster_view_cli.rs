//! `mignet view` against the fake API server: what a platform engineer sees when a denial surprises them.

mod support;

use serde_json::Value;
use support::{
    fake_apiserver::{
        FakeApiServer, HcoRelease, openshift, openshift_with, openshift_with_nmstate, plain_kubernetes,
    },
    nad, run,
};

fn cluster(fake: &FakeApiServer) {
    support::view_sample(fake);
}

fn args(kubeconfig: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["view".to_owned(), "--kubeconfig".to_owned(), kubeconfig.display().to_string()];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_lists_ranges_owners_overlaps_and_capacity() {
    let fake = FakeApiServer::start(openshift()).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(args(&fake.write_kubeconfig(dir.path()), &[])).await;
    assert_eq!(code, 0, "{err}");
    let row = |cidr: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(cidr))
            .unwrap_or_else(|| panic!("no {cidr} row in\n{out}"))
            .to_owned()
    };
    let mig = row("192.168.99.0/24");
    assert!(mig.contains("NAD openshift-cnv/migration-bridge [migration]"), "{mig}");
    assert!(mig.contains("254 usable addresses for 2 nodes"), "{mig}");
    assert!(mig.contains("OVERLAPS tenant/blue (192.168.99.128/25)"), "{mig}");
    assert!(row("192.168.99.128/25").contains("OVERLAPS openshift-cnv/migration-bridge (192.168.99.0/24)"));
    assert!(!row("10.50.0.0/24").contains("OVERLAPS"));
    assert!(row("10.132.0.0/14").contains("pod network (Network cluster status.clusterNetwork)"));
    assert!(row("10.0.0.0/16").contains("machine network (ConfigMap kube-system/cluster-config-v1)"));
    assert!(row("172.30.0.0/16").contains("service network (Network cluster status.serviceNetwork)"));
    assert!(row("100.64.0.0/16").contains("OVN-Kubernetes join subnet (default)"));
    // sorted by address: the first rows are IPv4, the 10.x ranges before 100.x and 192.168.x
    let cidrs: Vec<&str> = out.lines().skip(1).map_while(|l| l.split_whitespace().next()).collect();
    let pos = |c: &str| cidrs.iter().position(|x| *x == c).unwrap();
    assert!(pos("10.0.0.0/16") < pos("10.50.0.0/24") && pos("10.50.0.0/24") < pos("10.132.0.0/14"));
    assert!(pos("100.64.0.0/16") < pos("192.168.99.0/24") && pos("192.168.99.0/24") < pos("fd69::/112"));
    assert!(out.contains("\nvirt-handler nodes: 2\n"), "{out}");
    assert!(out.contains(
        "HyperConverged openshift-cnv/kubevirt-hyperconverged: live-migration network openshift-cnv/migration-bridge"
    ));
    assert!(
        out.contains(
            "watch hco.kubevirt.io/v1beta1 hyperconvergeds: synced, 1 object (the only served version mignet reads)"
        ),
        "{out}"
    );
    assert!(out.contains("(metadata only: labels pick the virt-handler nodes)"), "{out}");
    assert!(!out.contains("SECRET") && !err.contains("SECRET"), "install-config secrets leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn says_which_version_each_watch_reads_and_why() {
    // HCO 1.18: discovery prefers v1, the object was written through v1beta1
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_18)).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(args(&fake.write_kubeconfig(dir.path()), &[])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "HyperConverged openshift-cnv/kubevirt-hyperconverged: live-migration network \
             openshift-cnv/migration-bridge (settings read through v1beta1; read through v1beta1, v1)"
        ),
        "{out}"
    );
    assert!(out.contains(
        "watch hco.kubevirt.io/v1beta1 and v1 hyperconvergeds: synced, 1 object (every served version"
    ));
    let (code, json, _) = run(args(&fake.write_kubeconfig(dir.path()), &["--output", "json"])).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    let hco = v["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "hyperconvergeds").unwrap();
    assert!(hco["reason"].as_str().unwrap().contains("pruned"), "{hco}");
    assert_eq!(v["hyperConvergeds"][0]["settingsFrom"], "v1beta1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report() {
    let fake = FakeApiServer::start(openshift_with_nmstate(HcoRelease::V1_17)).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(args(&fake.write_kubeconfig(dir.path()), &["--output", "json"])).await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let ranges = report["ranges"].as_array().unwrap();
    let mig = ranges.iter().find(|r| r["cidr"] == "192.168.99.0/24").unwrap();
    assert_eq!(
        mig["owner"],
        serde_json::json!({"kind": "nad", "namespace": "openshift-cnv", "name": "migration-bridge", "migration": true})
    );
    assert_eq!(mig["usable"], 254);
    assert_eq!(mig["overlaps"], serde_json::json!(["tenant/blue (192.168.99.128/25)"]));
    assert_eq!(report["virtHandlerNodes"], 2);
    assert_eq!(report["hyperConvergeds"][0]["network"], "migration-bridge");
    let resources = report["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 11, "every watched resource, NodeNetworkStates and UDNs included");
    // every resource this cluster serves (KubeVirt's own kubevirt.io resources it does not)
    let kubevirt = |r: &&Value| {
        ["kubevirts", "virtualmachineinstancemigrations"].contains(&r["resource"].as_str().unwrap())
    };
    assert!(
        resources.iter().filter(|r| !kubevirt(r)).all(|r| r["present"] == true && r["synced"] == true),
        "{resources:?}"
    );
    assert!(resources.iter().filter(kubevirt).all(|r| r["present"] == false), "{resources:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_kubernetes_shows_policy_defaults() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    fake.apply(nad("tenant", "green", "10.50.0.0/24"));
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(args(&fake.write_kubeconfig(dir.path()), &[])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pod network (default)"), "{out}");
    assert!(out.contains("virt-handler nodes: unknown"), "{out}");
    assert!(out.contains("HyperConverged: none"), "{out}");
    assert!(out.contains("watch hyperconvergeds: not served by this cluster"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_times_out_clearly() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    fake.set_unavailable(true);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(args(&fake.write_kubeconfig(dir.path()), &["--timeout-seconds", "1"])).await;
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("did not finish loading within 1 s"), "{err}");
    assert!(err.contains("API discovery"), "{err}");
}
