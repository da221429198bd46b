//! `mignet serve --cluster auto` end to end: the real binary, a kubeconfig pointing at the fake API
//! server, admission reviews over HTTPS judged against what the "cluster" holds right now.

mod support;

use serde_json::{Value, json};
use support::{
    Serve, allowed, eventually,
    fake_apiserver::{FakeApiServer, ResourceDef, openshift, plain_kubernetes},
    field, hyperconverged, message, nad, review, verdict,
};

const NADS: &str = "network-attachment-definitions";

/// The reference setup: three virt-handler nodes, the migration NAD and the HyperConverged naming it.
fn reference_cluster(fake: &FakeApiServer) {
    for i in 0..3 {
        fake.apply(support::node(&format!("worker-{i}"), true));
    }
    fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    fake.apply(hyperconverged("openshift-cnv", Some("migration-bridge")));
    fake.apply_with_status(support::cluster_network("10.128.0.0/14"));
    fake.apply(support::install_config("10.0.0.0/16"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_follow_what_the_cluster_holds() {
    let fake = FakeApiServer::start(openshift()).await;
    reference_cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;

    // a second migration NAD on a free range is fine
    let spare = nad("openshift-cnv", "migration-spare", "10.77.0.0/24");
    let create = review("c1", "CREATE", &spare, &Value::Null);
    let first = server.validate(&create).await;
    assert!(allowed(&first), "{first}");

    // a tenant NAD appears in the cluster on part of that range: the same request is now denied
    fake.apply(nad("tenant", "blue", "10.77.0.128/25"));
    let denied = verdict(&server, &create, false, "the overlap with tenant/blue to deny").await;
    assert!(message(&denied).contains("tenant/blue"), "{denied}");
    assert_eq!(denied["uid"], "c1");

    // it is deleted again: allowed again
    assert!(fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "blue"));
    verdict(&server, &create, true, "the overlap to clear").await;

    // deleting the NAD the HyperConverged migrates over is denied, naming the HyperConverged
    let in_use = fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    let delete = review("d1", "DELETE", &Value::Null, &in_use);
    let r = server.validate(&delete).await;
    assert!(!allowed(&r), "{r}");
    assert!(message(&r).contains("HyperConverged openshift-cnv/kubevirt-hyperconverged"), "{r}");

    // once the HyperConverged no longer names it, the deletion is allowed
    fake.apply(hyperconverged("openshift-cnv", None));
    verdict(&server, &delete, true, "the deletion to be allowed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_cluster_networks_are_judged_against() {
    let fake = FakeApiServer::start(openshift()).await;
    reference_cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    // 10.200.0.0/16 is free under the defaults, but this cluster's pod network moves there
    let create =
        review("p1", "CREATE", &nad("openshift-cnv", "migration-two", "10.200.1.0/24"), &Value::Null);
    assert!(allowed(&server.validate(&create).await));
    fake.apply_with_status(support::cluster_network("10.200.0.0/16"));
    let r = verdict(&server, &create, false, "the discovered pod network to deny").await;
    assert!(message(&r).contains("Network cluster status.clusterNetwork"), "{r}");
    // the machine network came from the install-config; its secrets never reach the logs
    let create =
        review("m1", "CREATE", &nad("openshift-cnv", "migration-three", "10.0.5.0/24"), &Value::Null);
    let r = server.validate(&create).await;
    assert!(message(&r).contains("ConfigMap kube-system/cluster-config-v1"), "{r}");
    let (_, metrics) = server.get("/metrics").await;
    let (_, verbose) = server.get("/readyz?verbose").await;
    for text in [&metrics, &verbose, &r.to_string()] {
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_recover_and_staleness_shows() {
    let fake = FakeApiServer::start(openshift()).await;
    reference_cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    let line = server.readyz_line(NADS).await;
    assert!(line.starts_with("[+]"), "{line}");
    assert_eq!(field(&line, "synced"), Some("true"), "{line}");
    assert_eq!(field(&line, "objects"), Some("1"), "{line}");
    assert!(field(&line, "staleness_seconds").unwrap().parse::<f64>().is_ok(), "{line}");
    let probe =
        review("w1", "CREATE", &nad("openshift-cnv", "migration-spare", "10.88.0.0/24"), &Value::Null);
    assert!(allowed(&server.validate(&probe).await));

    // a dropped watch resumes: an object created meanwhile arrives
    fake.drop_watches();
    fake.apply(nad("tenant", "x", "10.88.0.0/25"));
    verdict(&server, &probe, false, "tenant/x after a dropped watch").await;

    // an expired version (410 Gone) relists: a deletion missed meanwhile is noticed
    let lists = |fake: &FakeApiServer| {
        fake.requests()
            .iter()
            .filter(|r| r.contains(NADS) && r.contains("limit=") && !r.contains("watch"))
            .count()
    };
    let before = lists(&fake);
    fake.set_unavailable(true);
    assert!(fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "x"));
    fake.compact();

    // during the outage: still ready, still judging with the last state, staleness and the error shown
    let stale = eventually("the outage in /readyz?verbose", || async {
        let line = server.readyz_line(NADS).await;
        let staleness: f64 = field(&line, "staleness_seconds")?.parse().ok()?;
        (line.contains("last_error=") && staleness >= 1.0).then_some(line)
    })
    .await;
    assert!(stale.starts_with("[+]"), "an outage does not make the view unready: {stale}");
    assert_eq!(server.get("/readyz").await.0, 200);
    assert!(!allowed(&server.validate(&probe).await), "judged with the last state");
    let (_, metrics) = server.get("/metrics").await;
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with(&format!("mignet_view_staleness_seconds{{resource=\"{NADS}\"}}")))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(gauge.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 0.0, "{gauge}");

    fake.set_unavailable(false);
    verdict(&server, &probe, true, "the relist to forget tenant/x").await;
    assert!(lists(&fake) > before, "recovered by a relist: {:#?}", fake.requests());
    eventually("the error to clear", || async {
        let line = server.readyz_line(NADS).await;
        (!line.contains("last_error=")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_kubernetes_is_ready_and_picks_up_hco_later() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    fake.apply(support::node("w0", true));
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    let (code, verbose) = server.get("/readyz?verbose").await;
    assert_eq!(code, 200, "{verbose}");
    for absent in [
        "hyperconvergeds",
        "networks.config.openshift.io",
        "networks.operator.openshift.io",
        "install-config",
    ] {
        assert_eq!(server.readyz_line(absent).await, format!("[+]{absent} present=false"));
    }
    assert!(verbose.ends_with("readyz check passed\n"), "{verbose}");
    assert!(!fake.requests().iter().any(|r| r.contains("hco.kubevirt.io")), "nothing asked of a missing CRD");

    // the HCO CRD is installed later and a HyperConverged names a NAD: deleting that NAD is denied
    let mig = fake.apply(nad("kubevirt-hyperconverged", "migration-net", "192.168.99.0/24"));
    fake.serve(ResourceDef::HCO_V1BETA1);
    fake.apply(hyperconverged("kubevirt-hyperconverged", Some("migration-net")));
    let delete = review("d2", "DELETE", &Value::Null, &mig);
    let r = verdict(&server, &delete, false, "the HyperConverged of a CRD installed later").await;
    assert!(message(&r).contains("kubevirt-hyperconverged/kubevirt-hyperconverged"), "{r}");
    let line = server.readyz_line("hyperconvergeds").await;
    assert!(line.contains("watching=\"hco.kubevirt.io/v1beta1 hyperconvergeds\""), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reload_relists_the_nads() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let mut marked = nad("tenant", "mig", "10.99.0.0/24");
    marked["metadata"]["labels"] = json!({"example.com/migration": "true"});
    fake.apply(marked);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "migrationNamespace: tenant\n").unwrap();
    let server =
        Serve::start(&fake.write_kubeconfig(dir.path()), &["--policy", policy.to_str().unwrap()]).await;
    server.wait_ready().await;
    // tenant/mig is not a migration NAD under this policy: another NAD may share its range
    let other = review("o1", "CREATE", &nad("tenant", "green", "10.99.0.0/25"), &Value::Null);
    assert!(allowed(&server.validate(&other).await));
    // the label now marks migration NADs: the watchers relist and tenant/mig is one
    std::fs::write(&policy, "migrationNamespace: tenant\nmigrationLabel: example.com/migration\n").unwrap();
    let r = verdict(&server, &other, false, "the relabelled migration NAD to protect its range").await;
    assert!(message(&r).contains("tenant/mig"), "{r}");
}

/// Runs `mignet serve` without any cluster configuration in reach.
async fn serve_without_cluster(extra: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let certs = mignet::certs::generate(&["localhost".to_owned()]).unwrap();
    mignet::certs::write(home.path(), &certs, false).unwrap();
    let mut args: Vec<String> = ["serve", "--addr", "127.0.0.1:0", "--cluster", "auto", "--cert"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(home.path().join("tls.crt").display().to_string());
    args.push("--key".into());
    args.push(home.path().join("tls.key").display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let home_path = home.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let out = support::mignet()
            .args(&args)
            .env("HOME", &home_path)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8(out.stderr).unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_the_way_out_is_named() {
    let (code, err) = serve_without_cluster(&[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster off --cluster-state"), "{err}");
    assert!(err.contains("--kubeconfig"), "{err}");

    let (code, err) = serve_without_cluster(&["--kubeconfig", "/nonexistent/kubeconfig"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");

    let (code, err) = serve_without_cluster(&["--cluster-state", "examples"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster-state is only read with --cluster off"), "{err}");
}
