//! Host networks through `mignet serve` over HTTPS: with NodeNetworkStates in the cluster state, an
//! NNCP that removes the migration bond is denied, the one that builds it admitted, and a NAD on
//! the management bond refused.

mod common;

use common::{
    repo,
    server::{Server, client, post, review},
};
use serde_json::Value;

fn state() -> Vec<String> {
    ["nodes.yaml", "nns.yaml", "node-c.yaml", "nad.yaml", "hyperconverged.yaml"]
        .iter()
        .flat_map(|f| ["--cluster-state".to_owned(), repo(&format!("tests/host/{f}"))])
        .collect()
}

/// A fixture as JSON, the way the API server sends it.
fn object(file: &str) -> Value {
    let text = std::fs::read_to_string(repo(&format!("tests/host/{file}"))).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[tokio::test]
async fn an_nncp_removing_the_migration_bond_is_denied_over_https() {
    let server = Server::start(&state());
    let c = client(&server.ca(), false);
    let url = server.url("/validate");

    let (status, body, _) =
        post(&c, &url, &review("nncp-bad", "CREATE", &object("nncp-remove-bond2.yaml"), &Value::Null, false))
            .await;
    assert_eq!(status, 200);
    let r = &body["response"];
    assert_eq!((r["uid"].as_str(), r["allowed"].as_bool()), (Some("nncp-bad"), Some(false)), "{body}");
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(r["auditAnnotations"]["denied-rules"], "nncp-breaks-migration");
    assert_eq!(r["status"]["details"]["causes"][0]["field"], "spec.desiredState.interfaces[0].state");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "spec.desiredState.interfaces[0].state: Invalid value: \"absent\": \"bond2\" is the live-migration \
             master of NetworkAttachmentDefinition openshift-cnv/migration-bridge on node-a, node-b, node-c"
        ),
        "{message}"
    );

    // the same policy as an UPDATE of the one that built bond2
    let (_, body, _) = post(
        &c,
        &url,
        &review("nncp-upd", "UPDATE", &object("nncp-remove-bond2.yaml"), &object("nncp-bond2.yaml"), false),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false, "{body}");

    let (_, body, _) =
        post(&c, &url, &review("nncp-ok", "CREATE", &object("nncp-bond2.yaml"), &Value::Null, false)).await;
    assert_eq!(body["response"]["allowed"], true, "{body}");
    assert!(body["response"].get("warnings").is_none(), "{body}");

    let (_, body, _) =
        post(&c, &url, &review("nad-bad", "CREATE", &object("nad-on-bond0.yaml"), &Value::Null, false)).await;
    assert_eq!(body["response"]["allowed"], false, "{body}");
    assert_eq!(body["response"]["auditAnnotations"]["denied-rules"], "nad-master-management,nad-master-port");
}

/// What `make run` serves: the example hosts, and the recorded NNCP review that removes bond2.
#[tokio::test]
async fn the_example_nncp_review_is_denied_by_the_example_cluster() {
    let server = Server::start(&common::server::example_state());
    let c = client(&server.ca(), true);
    let text = std::fs::read_to_string(repo("examples/reviews/nncp-update-removes-bond2.json")).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let (status, out, _) = post(&c, &server.url("/validate"), &body).await;
    assert_eq!(status, 200);
    assert_eq!(out["response"]["allowed"], false, "{out}");
    assert_eq!(out["response"]["auditAnnotations"]["denied-rules"], "nncp-breaks-migration");
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("on worker-0, worker-1, worker-2 (3 virt-handler nodes)"),
        "{out}"
    );
}
