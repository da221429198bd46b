//! `mignet check` on UserDefinedNetworks and ClusterUserDefinedNetworks, end to end through the
//! binary: the shapes the docs print and `oc get -o yaml` dumps, as objects judged and as cluster state.

mod common;

use common::{repo, run};
use serde_json::Value;

fn fixture(name: &str) -> String {
    repo(&format!("tests/fixtures/udn/{name}"))
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--output", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all, None);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
}

/// `kind name: rule at field` of every denial, per judged object.
fn denials(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in report["results"].as_array().unwrap() {
        for d in r["denials"].as_array().unwrap() {
            out.push(format!(
                "{} {}: {} at {}",
                r["kind"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                d["rule"].as_str().unwrap(),
                d["field"].as_str().unwrap()
            ));
        }
    }
    out
}

#[test]
fn a_cudn_in_the_cluster_state_denies_the_migration_nad_laid_over_it() {
    // the issue's reproduction: it used to pass as "checked 2 objects: 0 denied"
    let (code, out, err) = run(
        &[
            "check",
            "--cluster-state",
            &fixture("docs-cudn-localnet.yaml"),
            &repo("examples/migration-nad.yaml"),
            &repo("examples/hyperconverged.yaml"),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "error[nad-overlap-nad]: NetworkAttachmentDefinition openshift-cnv/migration-bridge: \
             spec.config.ipam.range: Invalid value: \"192.168.99.0/24\": overlaps ClusterUserDefinedNetwork \
             cudn-localnet (192.168.96.0/22); free ranges of this size: 192.168.100.0/24, 192.168.101.0/24"
        ),
        "{out}"
    );
    assert!(out.ends_with("checked 2 objects: 2 denied, 0 warnings\n"), "{out}");
}

#[test]
fn udns_and_cudns_in_a_gitops_folder_are_judged() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["docs-udn-primary.yaml", "docs-cudn-localnet.yaml", "oc-get-udns.yaml"] {
        std::fs::copy(fixture(f), dir.path().join(f)).unwrap();
    }
    let (code, report) =
        json(&["--cluster-state", &repo("examples/migration-nad.yaml"), dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{report:#}");
    let judged: Vec<String> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}/{}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(judged.len(), 4, "every UDN and CUDN, the List's items too: {judged:?}");
    assert_eq!(
        denials(&report),
        [
            "ClusterUserDefinedNetwork cudn-localnet: nad-overlap-migration at spec.network.localnet.subnets[0]",
            "ClusterUserDefinedNetwork vm-secondary: nad-overlap-migration at spec.network.layer2.subnets[0]",
        ]
    );
    let localnet =
        report["results"].as_array().unwrap().iter().find(|r| r["name"] == "cudn-localnet").unwrap();
    let m = localnet["denials"][0]["message"].as_str().unwrap();
    assert!(
        m.contains("openshift-cnv/migration-bridge (192.168.99.0/24)") && m.contains("excludeSubnets"),
        "{m}"
    );
    // the docs' namespace-less UDN and the oc-get Layer3 one pass
    for r in report["results"].as_array().unwrap() {
        if r["kind"] == "UserDefinedNetwork" {
            assert_eq!(r["allowed"], true, "{r:#}");
        }
    }
}

#[test]
fn a_udn_and_its_rendered_nad_get_the_same_verdict_in_one_run() {
    // the object from a GitOps repo and the NAD OVN-Kubernetes renders from it, as `oc get net-attach-def -o yaml`
    let rendered = r#"apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: vm-secondary
  namespace: vm-a
  labels: {k8s.ovn.org/user-defined-network: ""}
  finalizers: [k8s.ovn.org/user-defined-network-protection]
  ownerReferences:
  - {apiVersion: k8s.ovn.org/v1, kind: ClusterUserDefinedNetwork, name: vm-secondary, uid: 0c2d57a8, controller: true, blockOwnerDeletion: true}
spec:
  config: '{"cniVersion":"1.0.0","type":"ovn-k8s-cni-overlay","name":"cluster_udn_vm-secondary","netAttachDefName":"vm-a/vm-secondary","topology":"layer2","role":"secondary","subnets":"192.168.99.128/25"}'
"#;
    let dir = tempfile::tempdir().unwrap();
    let nad = dir.path().join("rendered.yaml");
    std::fs::write(&nad, rendered).unwrap();
    let (code, report) = json(&[
        "--cluster-state",
        &repo("examples/migration-nad.yaml"),
        &fixture("oc-get-udns.yaml"),
        nad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let results = report["results"].as_array().unwrap();
    let of = |kind: &str| results.iter().find(|r| r["kind"] == kind && r["name"] == "vm-secondary").unwrap();
    let (cudn, nad) = (of("ClusterUserDefinedNetwork"), of("NetworkAttachmentDefinition"));
    let strip = |r: &Value| -> Vec<(String, String)> {
        r["denials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["rule"].as_str().unwrap().to_owned(), d["message"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(strip(cudn), strip(nad));
    assert_eq!(strip(cudn).len(), 1);
    assert_eq!(nad["denials"][0]["field"], "spec.config.subnets");
}

#[test]
fn bad_udns_get_field_errors_never_a_crash_or_a_skip() {
    let (code, report) = json(&[&fixture("bad-udns.yaml")]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["results"].as_array().unwrap().len(), 4, "none skipped");
    assert_eq!(
        denials(&report),
        [
            "UserDefinedNetwork typo-cidr: udn-spec at spec.layer2.subnets[0]",
            "UserDefinedNetwork l3-too-narrow: udn-spec at spec.layer3.subnets[0].cidr",
            "ClusterUserDefinedNetwork unknown-topology: udn-spec at spec.network.topology",
        ]
    );
    let (_, out, _) = run(&["check", &fixture("bad-udns.yaml")], None);
    assert!(
        out.contains("spec.layer2.subnets[0]: Invalid value: \"10.20.300.0/24\": must be a CIDR"),
        "{out}"
    );
    assert!(out.contains("without hostSubnet each node gets a /24"), "{out}");
    assert!(
        out.contains("Unsupported value: \"Layer4\": supported values: \"Layer2\", \"Layer3\", \"Localnet\""),
        "{out}"
    );
    assert!(out.ends_with("checked 4 objects: 3 denied, 0 warnings\n"), "{out}");
}

#[test]
fn the_example_cluster_holds_its_vm_networks_clean_of_the_migration_subnet() {
    let (code, report) = json(&[
        "--cluster-state",
        &repo("examples/migration-nad.yaml"),
        &repo("examples/cluster/user-defined-networks.yaml"),
    ]);
    assert_eq!(code, 0, "{report:#}");
    let kinds: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["UserDefinedNetwork", "ClusterUserDefinedNetwork", "ClusterUserDefinedNetwork"]);
    // and the HTML address map shows them beside the NADs
    let (code, out, err) = run(
        &[
            "check",
            "--output",
            "html",
            "--cluster-state",
            &repo("examples/cluster"),
            &repo("examples/migration-nad.yaml"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 user-defined networks"), "summary line");
    assert!(
        out.contains(
            "CUDN vm-physnet (namespaces: kubernetes.io/metadata.name in (vm-tenant-a, vm-tenant-b))"
        )
    );
    assert!(out.contains("UDN vm-tenant-a/tenant-a"));
}

#[test]
fn mignet_review_answers_a_cudn_admission_as_the_server_would() {
    let (code, out, err) = run(
        &[
            "review",
            "--cluster-state",
            &repo("examples/migration-nad.yaml"),
            "--cluster-state",
            &repo("examples/cluster"),
            &repo("examples/reviews/cudn-create-on-migration-subnet.json"),
        ],
        None,
    );
    assert!(code == 0 || code == 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["response"]["allowed"], false, "{r:#}");
    assert_eq!(r["response"]["auditAnnotations"]["denied-rules"], "nad-overlap-migration");
    assert_eq!(r["response"]["status"]["details"]["causes"][0]["field"], "spec.network.localnet.subnets[0]");
}
