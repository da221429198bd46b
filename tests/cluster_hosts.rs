//! Host networks in the live view: `mignet serve --cluster auto` over HTTPS against the fake API server
//! serving kubernetes-nmstate's NodeNetworkStates, and the next write judged by what the nodes say.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{
    Serve, eventually,
    fake_apiserver::{FakeApiServer, HcoRelease, openshift_with, openshift_with_nmstate},
    field, review,
};

/// Every object of a file under tests/host/.
fn recorded(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/host").join(file);
    mignet::input::read_path(&path).unwrap().into_iter().map(|d| d.value).collect()
}

/// Three OVN workers (bond0 under br-ex, bond2 free for migrations), the NAD and the HyperConverged.
fn cluster(fake: &FakeApiServer) {
    for node in recorded("nodes.yaml") {
        fake.apply(node);
    }
    // the handler writes each state through the status subresource
    for nns in recorded("nns.yaml").into_iter().chain(recorded("node-c.yaml")) {
        fake.apply_with_status(nns);
    }
    for o in recorded("nad.yaml").into_iter().chain(recorded("hyperconverged.yaml")) {
        fake.apply(o);
    }
}

/// A second migration NAD on bond2, on a free range.
fn spare_nad() -> Value {
    let config = json!({"cniVersion": "0.3.1", "name": "migration-spare", "type": "macvlan", "master": "bond2",
                        "mode": "bridge", "ipam": {"type": "whereabouts", "range": "10.77.0.0/24"}});
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": "migration-spare", "namespace": "openshift-cnv"},
           "spec": {"config": config.to_string()}})
}

fn allowed(r: &Value) -> bool {
    r["allowed"].as_bool().expect("allowed is a bool")
}

async fn verdict(server: &Serve, review: &Value, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    eventually(what, || async {
        let r = server.validate(review).await;
        test(&r).then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_losing_the_migration_bond_denies_the_next_nad_write() {
    let fake = FakeApiServer::start(openshift_with_nmstate(HcoRelease::V1_18)).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    let line = server.readyz_line("nodenetworkstates").await;
    assert_eq!(field(&line, "objects"), Some("3"), "{line}");
    assert!(line.contains("watching=\"nmstate.io/v1beta1 nodenetworkstates\""), "{line}");

    let create = review("h1", "CREATE", &spare_nad(), &Value::Null);
    let r = server.validate(&create).await;
    assert!(allowed(&r) && r.get("warnings").is_none(), "bond2 is on every node: {r}");

    // node-c's bond2 is removed (its handler reports the new state): the same write is now denied
    fake.apply_with_status(recorded("node-c-without-bond2.yaml").remove(0));
    let denied = verdict(&server, &create, "bond2 missing on node-c", |r| !allowed(r)).await;
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(message.contains("node-c"), "{denied}");
    assert!(
        denied["auditAnnotations"]["denied-rules"].as_str().unwrap().contains("nad-master-missing"),
        "{denied}"
    );

    // node-c's state goes away altogether: unknown there, so a warning and no denial
    assert!(fake.delete("nmstate.io/v1beta1", "NodeNetworkState", "", "node-c"));
    let warned = verdict(&server, &create, "node-c unknown", allowed).await;
    let warnings = warned["warnings"].to_string();
    assert!(warnings.contains("node-c") && warnings.contains("NodeNetworkState"), "{warned}");

    // and the policy that would remove bond2 everywhere is refused, judged against the live view
    let nncp = recorded("nncp-remove-bond2.yaml").remove(0);
    let r = server.validate(&review("h2", "CREATE", &nncp, &Value::Null)).await;
    assert!(!allowed(&r), "{r}");
    assert!(r["auditAnnotations"]["denied-rules"].as_str().unwrap().contains("nncp-breaks-migration"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_nmstate_operator_host_rules_stay_silent() {
    let fake = FakeApiServer::start(openshift_with(HcoRelease::V1_18)).await;
    cluster_without_states(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    assert_eq!(server.readyz_line("nodenetworkstates").await, "[+]nodenetworkstates present=false");
    let r = server.validate(&review("h3", "CREATE", &spare_nad(), &Value::Null)).await;
    assert!(allowed(&r) && r.get("warnings").is_none(), "{r}");
}

fn cluster_without_states(fake: &FakeApiServer) {
    for o in
        recorded("nodes.yaml").into_iter().chain(recorded("nad.yaml")).chain(recorded("hyperconverged.yaml"))
    {
        fake.apply(o);
    }
}

/// A kubernetes-nmstate that serves NodeNetworkStates at nmstate.io/v1 only: discovery finds that
/// version, and the states (port relations written on one side only) are judged as from files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_network_states_served_at_v1_are_watched_and_their_relations_read() {
    let mut defs = openshift_with(HcoRelease::V1_18);
    defs.push(support::fake_apiserver::ResourceDef {
        version: "v1",
        ..support::fake_apiserver::ResourceDef::NODE_NETWORK_STATES
    });
    let fake = FakeApiServer::start(defs).await;
    let relations = |file: &str| recorded(&format!("relations/{file}"));
    for node in relations("nodes.yaml") {
        fake.apply(node);
    }
    for file in ["nns-w1-brex-bond.yaml", "nns-w2-brex-nic.yaml", "nns-w3-v1alpha1.yaml"] {
        for mut nns in relations(file) {
            nns["apiVersion"] = json!("nmstate.io/v1");
            fake.apply_with_status(nns);
        }
    }
    for o in relations("nad.yaml").into_iter().chain(relations("hyperconverged.yaml")) {
        fake.apply(o);
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&fake.write_kubeconfig(dir.path()), &[]).await;
    server.wait_ready().await;
    let line = server.readyz_line("nodenetworkstates").await;
    assert!(line.contains("watching=\"nmstate.io/v1 nodenetworkstates\""), "{line}");
    assert_eq!(field(&line, "objects"), Some("3"), "{line}");

    // eno1: br-ex's bond port on ocp-w1 and br-ex's own NIC on ocp-w2, neither naming a controller
    let nad = relations("nad-on-eno1.yaml").remove(0);
    let r =
        verdict(&server, &review("v1", "CREATE", &nad, &Value::Null), "eno1 refused", |r| !allowed(r)).await;
    assert_eq!(r["auditAnnotations"]["denied-rules"], "nad-master-management,nad-master-port", "{r}");
    assert!(
        r["status"]["message"].as_str().unwrap().contains("is a port of bond0 on ocp-w1, of br-ex on ocp-w2"),
        "{r}"
    );
    let nncp = relations("nncp-vm-bridge-on-bond2.yaml").remove(0);
    let r = server.validate(&review("v2", "CREATE", &nncp, &Value::Null)).await;
    assert!(!allowed(&r), "{r}");
    assert_eq!(r["auditAnnotations"]["denied-rules"], "nncp-breaks-migration", "{r}");
}
