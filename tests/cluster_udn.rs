//! UserDefinedNetworks and ClusterUserDefinedNetworks live: `mignet serve --cluster auto` over HTTPS
//! and `mignet view` against the fake API server holding a CUDN and the NADs OVN-Kubernetes rendered
//! from it in every namespace it selects.

mod support;

use serde_json::{Value, json};
use support::{
    Serve, allowed, eventually,
    fake_apiserver::{FakeApiServer, HcoRelease, openshift_with_nmstate},
    hyperconverged, message, nad, review, run,
};

/// Namespaces the shared CUDN selects: enough that counting its NADs would show.
const SELECTED: usize = 120;

fn cudn(name: &str, topology: &str, block: Value) -> Value {
    let key = topology.to_lowercase();
    json!({"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork",
           "metadata": {"name": name},
           "spec": {"namespaceSelector": {"matchLabels": {"vm-network/shared": "true"}},
                    "network": {"topology": topology, key: block}}})
}

/// The NAD OVN-Kubernetes renders from CUDN `name` in namespace `ns`.
fn rendered(ns: &str, name: &str, subnets: &str) -> Value {
    let config = json!({"cniVersion": "1.0.0", "type": "ovn-k8s-cni-overlay", "name": format!("cluster_udn_{name}"),
        "netAttachDefName": format!("{ns}/{name}"), "topology": "layer2", "role": "secondary", "subnets": subnets});
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns,
               "labels": {"k8s.ovn.org/user-defined-network": ""},
               "finalizers": ["k8s.ovn.org/user-defined-network-protection"],
               "ownerReferences": [{"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork",
                   "name": name, "uid": "cudn-uid", "controller": true, "blockOwnerDeletion": true}]},
           "spec": {"config": config.to_string()}})
}

fn cluster(fake: &FakeApiServer) {
    for i in 0..3 {
        fake.apply(support::node(&format!("worker-{i}"), true));
    }
    fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    fake.apply(hyperconverged("openshift-cnv", Some("migration-bridge")));
    fake.apply(cudn("vm-shared", "Layer2", json!({"role": "Secondary", "subnets": ["10.101.0.0/16"]})));
    for i in 0..SELECTED {
        fake.apply(rendered(&format!("vm-{i}"), "vm-shared", "10.101.0.0/16"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cudn_on_the_migration_subnet_is_denied_at_apply_time_and_its_nads_count_once() {
    let fake = FakeApiServer::start(openshift_with_nmstate(HcoRelease::V1_17)).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    assert!(server.readyz_line("clusteruserdefinednetworks").await.contains("synced"));

    // `oc apply` of a localnet CUDN over the migration subnet: refused, saying why and what to do
    let localnet = cudn(
        "vm-physnet",
        "Localnet",
        json!({"role": "Secondary", "physicalNetworkName": "physnet-vm", "subnets": ["192.168.96.0/22"]}),
    );
    let r = server.validate(&review("c1", "CREATE", &localnet, &Value::Null)).await;
    assert!(!allowed(&r), "{r}");
    let m = message(&r);
    assert!(m.starts_with("spec.network.localnet.subnets[0]: Invalid value: \"192.168.96.0/22\": overlaps the live-migration network openshift-cnv/migration-bridge (192.168.99.0/24)"), "{m}");
    assert!(m.contains("excludeSubnets"), "{m}");
    // leaving the migration subnet out, it is admitted
    let carved = cudn(
        "vm-physnet",
        "Localnet",
        json!({"role": "Secondary", "physicalNetworkName": "physnet-vm", "subnets": ["192.168.96.0/22"],
               "excludeSubnets": ["192.168.99.0/24"]}),
    );
    let r = server.validate(&review("c2", "CREATE", &carved, &Value::Null)).await;
    assert!(allowed(&r), "{r}");
    // a malformed one is refused with the field to fix
    let bad = cudn("typo", "Layer2", json!({"role": "Secondary", "subnets": ["10.1.0/24"]}));
    let r = server.validate(&review("c3", "CREATE", &bad, &Value::Null)).await;
    assert!(message(&r).starts_with("spec.network.layer2.subnets[0]: Invalid value: \"10.1.0/24\""), "{r}");

    // the controller writing one more rendered NAD: no overlap with its own network
    let next = rendered(&format!("vm-{SELECTED}"), "vm-shared", "10.101.0.0/16");
    let r = server.validate(&review("n1", "CREATE", &next, &Value::Null)).await;
    assert!(allowed(&r), "{r}");

    // a migration NAD on the shared network hears of ONE network, however many NADs render it
    let on_it = nad("openshift-cnv", "migration-2", "10.101.7.0/24");
    let r = eventually("every rendered NAD in the view", || async {
        let r = server.validate(&review("m1", "CREATE", &on_it, &Value::Null)).await;
        (!allowed(&r)).then_some(r)
    })
    .await;
    let m = message(&r);
    assert!(m.contains("overlaps ClusterUserDefinedNetwork vm-shared (10.101.0.0/16); free ranges"), "{m}");
    assert!(!m.contains("more"), "counted once: {m}");
    assert!(!m.contains("NetworkAttachmentDefinition"), "{m}");

    // the CUDN deleted from the cluster (its NADs still there, being finalized): still one network
    assert!(fake.delete("k8s.ovn.org/v1", "ClusterUserDefinedNetwork", "", "vm-shared"));
    let r = eventually("the CUDN to leave the view", || async {
        let r = server.validate(&review("m2", "CREATE", &on_it, &Value::Null)).await;
        message(&r).contains("[rendered as NAD").then_some(r)
    })
    .await;
    let m = message(&r);
    assert!(
        m.contains(
            "overlaps ClusterUserDefinedNetwork vm-shared (10.101.0.0/16) [rendered as NAD vm-0/vm-shared]"
        ),
        "{m}"
    );
    assert!(!m.contains("more"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mignet_view_shows_the_cudn_once_beside_the_nads() {
    let fake = FakeApiServer::start(openshift_with_nmstate(HcoRelease::V1_17)).await;
    cluster(&fake);
    fake.apply(json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
        "metadata": {"name": "broken", "namespace": "vm-0"},
        "spec": {"topology": "Layer2", "layer2": {"role": "Secondary", "subnets": ["not-a-cidr"]}}}));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path()).display().to_string();
    let (code, out, err) = run(vec!["view".into(), "--kubeconfig".into(), kubeconfig.clone()]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("10.101.0.0/16 ")).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].contains("CUDN vm-shared (namespaces: vm-network/shared=true)"), "{out}");
    assert!(!rows[0].contains("OVERLAPS"), "a network never overlaps its own NADs: {out}");
    assert!(
        out.contains(&format!(
            "CUDN vm-shared (namespaces: vm-network/shared=true): Layer2 Secondary, claims 10.101.0.0/16; rendered as {SELECTED} NADs (counted once)"
        )),
        "{out}"
    );
    assert!(out.contains("UDN vm-0/broken: Layer2 Secondary, UNKNOWN: spec.layer2.subnets[0]"), "{out}");
    assert!(out.contains("watch k8s.ovn.org/v1 clusteruserdefinednetworks: synced, 1 object"), "{out}");

    let (code, out, err) =
        run(vec!["view".into(), "--kubeconfig".into(), kubeconfig, "--output".into(), "json".into()]).await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let claims: Vec<&Value> =
        report["ranges"].as_array().unwrap().iter().filter(|r| r["cidr"] == "10.101.0.0/16").collect();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        claims[0]["owner"],
        json!({"kind": "network", "networkKind": "ClusterUserDefinedNetwork", "namespace": "", "name": "vm-shared",
               "selector": "vm-network/shared=true"})
    );
    let nets = report["userDefinedNetworks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    let shared = nets.iter().find(|n| n["name"] == "vm-shared").unwrap();
    assert_eq!(shared["renderedNads"], SELECTED);
}
