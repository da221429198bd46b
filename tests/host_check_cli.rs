//! Host networks through `mignet check`: NodeNetworkStates dumped with `oc get nns -o yaml` (a
//! `kind: List` and single objects) beside Nodes, judged with the NADs, the HyperConverged and the
//! NodeNetworkConfigurationPolicies of a GitOps repository.

mod common;

use common::{repo, run};
use serde_json::Value;

fn host(file: &str) -> String {
    repo(&format!("tests/host/{file}"))
}

/// `mignet check` with the nodes, the two-node NNS list and `node_c` as the cluster state.
fn check(node_c: Option<&str>, inputs: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["check".to_owned(), "--cluster-state".into(), host("nodes.yaml")];
    args.extend(["--cluster-state".into(), host("nns.yaml")]);
    if let Some(c) = node_c {
        args.extend(["--cluster-state".into(), host(c)]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(inputs.iter().map(|f| host(f)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, None)
}

/// Every denial of a JSON report as (rule, field); no warning may be there.
fn denials(json: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(json).unwrap();
    let mut out = Vec::new();
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["warnings"], serde_json::json!([]), "{r}");
        for f in r["denials"].as_array().unwrap() {
            out.push((f["rule"].as_str().unwrap().to_owned(), f["field"].as_str().unwrap().to_owned()));
        }
    }
    out
}

const HEALTHY: &[&str] = &["nad.yaml", "hyperconverged.yaml", "nncp-bond2.yaml"];

#[test]
fn healthy_hosts_admit_the_reference_setup_and_its_nncp() {
    let (code, out, err) = check(Some("node-c.yaml"), HEALTHY, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "checked 3 objects: 0 denied, 0 warnings\n");
}

#[test]
fn a_node_that_lost_bond2_denies_the_nad_and_the_hyperconverged() {
    let (code, out, err) = check(Some("node-c-without-bond2.yaml"), HEALTHY, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let nad = out
        .lines()
        .find(|l| l.contains("nad.yaml:2: error[nad-master-missing]"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        nad.ends_with(
            "NetworkAttachmentDefinition openshift-cnv/migration-bridge: spec.config.master: Not found: \"bond2\": no \
             such interface on node-c (1 of 3 virt-handler nodes): virt-handler cannot start there (\"Link not \
             found\"); create it on every virt-handler node, e.g. with a NodeNetworkConfigurationPolicy"
        ),
        "{nad}"
    );
    assert!(out.contains("hyperconverged.yaml:1: error[nad-master-missing]: HyperConverged openshift-cnv/kubevirt-hyperconverged: spec.liveMigrationConfig.network: NetworkAttachmentDefinition openshift-cnv/migration-bridge: Not found"), "{out}");
    assert!(out.ends_with("checked 3 objects: 2 denied, 0 warnings\n"), "{out}");
}

#[test]
fn a_node_without_a_state_is_unknown_not_fine() {
    let (code, out, err) = check(None, &["nad.yaml"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with(
            "nad.yaml:2: warning[nad-master-unknown]: NetworkAttachmentDefinition openshift-cnv/migration-bridge: \
             spec.config.master: 1 of 3 virt-handler nodes have no readable NodeNetworkState (node-c): \"bond2\" \
             is not checked there"
        ),
        "{out}"
    );
    assert_eq!(lines[1], "checked 1 object: 0 denied, 1 warning");
}

#[test]
fn the_management_bond_is_refused() {
    let (code, out, err) = check(Some("node-c.yaml"), &["nad-on-bond0.yaml"], &["--output", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        denials(&out),
        [
            ("nad-master-management".into(), "spec.config.master".into()),
            ("nad-master-port".into(), "spec.config.master".into()),
        ]
    );
    assert!(out.contains("is the management interface or part of it on node-a, node-b, node-c (there: bond0, br-ex, eno1, eno2)"), "{out}");
}

#[test]
fn nncps_that_break_the_migration_master_are_denied() {
    let (code, out, err) = check(
        Some("node-c.yaml"),
        &["nad.yaml", "hyperconverged.yaml", "nncp-remove-bond2.yaml", "nncp-shrink-bond2.yaml"],
        &["--output", "json"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        denials(&out),
        [
            ("nncp-breaks-migration".into(), "spec.desiredState.interfaces[0].state".into()),
            ("nncp-breaks-migration".into(), "spec.desiredState.interfaces[0].mtu".into()),
        ]
    );
    let (_, text, _) = check(Some("node-c.yaml"), &["nad.yaml", "nncp-remove-bond2.yaml"], &[]);
    assert!(
        text.contains("nncp-remove-bond2.yaml:2: error[nncp-breaks-migration]: NodeNetworkConfigurationPolicy bond2-absent: spec.desiredState.interfaces[0].state: Invalid value: \"absent\": \"bond2\" is the live-migration master of NetworkAttachmentDefinition openshift-cnv/migration-bridge on node-a, node-b, node-c (3 virt-handler nodes)"),
        "{text}"
    );
}

#[test]
fn the_examples_hold_the_reference_hosts() {
    // every example node has a NodeNetworkState, so nothing is unknown; bond0 is their management bond
    let (code, out, err) =
        run(&["check", "--cluster-state", &repo("examples/cluster"), &host("nad-on-bond0.yaml")], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error[nad-master-management]") && !out.contains("nad-master-unknown"), "{out}");
}

/// NodeNetworkStates as a broken or hostile node agent could write them: nothing crashes, every
/// unreadable one makes its node unknown, and names with control characters come out escaped.
#[test]
fn odd_node_network_states_make_nodes_unknown_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let nns = |name: &str, status: Value| serde_json::json!({"apiVersion":"nmstate.io/v1beta1","kind":"NodeNetworkState","metadata":{"name":name},"status":status});
    let many: Vec<Value> = (0..10_000)
        .map(|i| serde_json::json!({"name": format!("veth{i}\u{1b}[31m"), "type": "veth", "state": "up", "mtu": 1e300}))
        .collect();
    let items = vec![
        nns("node-a", serde_json::json!({"currentState": {"interfaces": "{{ capture.x }}"}})),
        nns("node-b", Value::Null),
        nns("node-c", serde_json::json!({"currentState": {"interfaces": many, "routes": {"running": 7}}})),
    ];
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let path = dir.path().join("nns.json");
    std::fs::write(&path, list.to_string()).unwrap();
    let (code, out, err) = run(
        &[
            "check",
            "--cluster-state",
            &host("nodes.yaml"),
            "--cluster-state",
            path.to_str().unwrap(),
            &host("nad.yaml"),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    // node-c was read: bond2 is missing there; node-a and node-b are unknown
    assert!(
        out.contains("error[nad-master-missing]")
            && out.contains("no such interface on node-c (1 of 1 virt-handler nodes)"),
        "{out}"
    );
    assert!(
        out.contains("warning[nad-master-unknown]") && out.contains("2 of 3 virt-handler nodes have no readable NodeNetworkState (node-a, node-b; node-a: status.currentState.interfaces is a string, expected a list)"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "{out}");
}
