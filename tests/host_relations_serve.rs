//! Port relations over HTTPS: `mignet serve` with the three workers' NodeNetworkStates (relations
//! written on one side only, three nmstate.io versions) judges NNCPs and NADs as `mignet check` does.

mod common;

use common::{
    repo,
    server::{Server, client, post, review},
};
use serde_json::Value;

fn fixture(file: &str) -> String {
    repo(&format!("tests/host/relations/{file}"))
}

fn state() -> Vec<String> {
    [
        "nodes.yaml",
        "nns-w1-brex-bond.yaml",
        "nns-w2-brex-nic.yaml",
        "nns-w3-v1alpha1.yaml",
        "nad.yaml",
        "hyperconverged.yaml",
    ]
    .iter()
    .flat_map(|f| ["--cluster-state".to_owned(), fixture(f)])
    .collect()
}

/// A fixture as JSON, the way the API server sends it.
fn object(file: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(fixture(file)).unwrap()).unwrap()
}

#[tokio::test]
async fn nncps_and_nads_are_judged_against_relations_from_either_side_over_https() {
    let server = Server::start(&state());
    let c = client(&server.ca(), false);
    let url = server.url("/validate");
    let send = |uid: &'static str, file: &'static str| {
        let (c, url) = (c.clone(), url.clone());
        async move { post(&c, &url, &review(uid, "CREATE", &object(file), &Value::Null, false)).await }
    };

    let (status, body, _) = send("bridge", "nncp-vm-bridge-on-bond2.yaml").await;
    assert_eq!(status, 200);
    let r = &body["response"];
    assert_eq!((r["uid"].as_str(), r["allowed"].as_bool()), (Some("bridge"), Some(false)), "{body}");
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(r["auditAnnotations"]["denied-rules"], "nncp-breaks-migration");
    assert_eq!(
        r["status"]["details"]["causes"][0]["field"],
        "spec.desiredState.interfaces[0].bridge.port[0].name"
    );
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "on ocp-w1, ocp-w2, ocp-w3 (3 virt-handler nodes): linux-bridge \"br1\" takes it as a port: the kernel \
             refuses to enslave a device that carries macvlans"
        ),
        "{message}"
    );

    let (_, body, _) = send("ovs", "nncp-ovs-bridge-on-bond2.yaml").await;
    assert_eq!(body["response"]["allowed"], false, "{body}");

    let (_, body, _) = send("swap", "nncp-swap-bond2-nics.yaml").await;
    assert_eq!(body["response"]["allowed"], false, "{body}");
    assert!(
        body["response"]["status"]["message"].as_str().unwrap().contains("none of its new ports"),
        "{body}"
    );

    // dropping one NIC for a spare one is allowed, with the warning naming both
    let (_, body, _) = send("one", "nncp-swap-bond2-one-nic.yaml").await;
    assert_eq!(body["response"]["allowed"], true, "{body}");
    let warning = body["response"]["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with(
            "spec.desiredState.interfaces[0].link-aggregation.slaves: drops port \"ens3f1\" of \"bond2\" and adds"
        ),
        "{warning}"
    );

    // nmstate's capture: allowed, with its values unknown
    let (_, body, _) = send("capture", "nncp-capture.yaml").await;
    assert_eq!(body["response"]["allowed"], true, "{body}");
    assert!(body["response"]["warnings"][0].as_str().unwrap().starts_with("spec.capture: capture"), "{body}");

    // NADs: the uplink br-ex lists (or its bond lists) is refused, the migration bond admitted
    let (_, body, _) = send("eno1", "nad-on-eno1.yaml").await;
    assert_eq!(body["response"]["allowed"], false, "{body}");
    assert_eq!(body["response"]["auditAnnotations"]["denied-rules"], "nad-master-management,nad-master-port");
    let (_, body, _) = send("bond1", "nad-on-bond1.yaml").await;
    assert_eq!(body["response"]["auditAnnotations"]["denied-rules"], "nad-master-port", "{body}");
    let (_, body, _) = send("ok", "nad.yaml").await;
    assert_eq!(body["response"]["allowed"], true, "{body}");
    assert!(body["response"].get("warnings").is_none(), "{body}");
}
