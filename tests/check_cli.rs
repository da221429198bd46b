//! `mignet check` end to end: the built binary on files, every exit code and output format.

mod common;

use common::{repo, run};
use serde_json::Value;

fn check(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run(&all, None)
}

#[test]
fn reference_setup_passes_clean() {
    let (code, out, err) = check(&[
        "--cluster-state",
        &repo("examples/cluster"),
        &repo("examples/migration-nad.yaml"),
        &repo("examples/hyperconverged.yaml"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "checked 2 objects: 0 denied, 0 warnings\n");
}

/// Every broken example is denied, by the rule its name promises, and by nothing else.
#[test]
fn each_broken_example_is_denied_by_its_rule() {
    let cases = [
        ("nad-in-wrong-namespace", "nad-namespace"),
        ("nad-without-master", "nad-master"),
        ("nad-bridge-plugin", "nad-plugin-type"),
        ("nad-host-local-ipam", "nad-ipam"),
        ("nad-overlaps-pod-network", "nad-overlap-reserved"),
        ("nad-range-too-small", "nad-range-too-small"),
        ("nad-mode-passthrough", "nad-mode"),
        ("vm-network-on-migration-subnet", "nad-overlap-migration"),
        ("hco-negative-timeout", "hc-timeout"),
        ("hco-timeout-too-short-for-bandwidth", "hc-timeout-vs-bandwidth"),
        ("hco-v1-layout-sent-as-v1beta1", "hc-version-layout"),
        ("hco-network-not-a-nad-name", "hc-network-name"),
    ];
    let listed = std::fs::read_dir(repo("examples/broken")).unwrap().count();
    assert_eq!(listed, cases.len(), "every broken example has a case here");
    for (file, rule) in cases {
        let path = repo(&format!("examples/broken/{file}.yaml"));
        let (code, out, _) = check(&[
            "--output",
            "json",
            "--cluster-state",
            &repo("examples/migration-nad.yaml"),
            "--cluster-state",
            &repo("examples/cluster"),
            &path,
        ]);
        assert_eq!(code, 1, "{file}: {out}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let rules: Vec<&str> = report["results"][0]["denials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec![rule], "{file}");
    }
}

#[test]
fn text_output_is_compiler_style() {
    let path = repo("examples/broken/nad-without-master.yaml");
    let (code, out, _) = check(&[&path]);
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{path}:2: error[nad-master]: NetworkAttachmentDefinition openshift-cnv/migration-no-master: \
             spec.config.master: Required value: without master, macvlan uses the default-route interface: \
             the management network; name the dedicated NIC or bond, e.g. \"bond2\""
        )
    );
    assert_eq!(out.lines().last().unwrap(), "checked 1 object: 1 denied, 0 warnings");
}

#[test]
fn json_output_has_the_documented_shape() {
    let hc = "apiVersion: hco.kubevirt.io/v1beta1\nkind: HyperConverged\nmetadata:\n  name: kubevirt-hyperconverged\n  namespace: openshift-cnv\nspec:\n  liveMigrationConfig:\n    network: migration-bridge\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hc.yaml");
    std::fs::write(&file, hc).unwrap();
    let (code, out, _) =
        check(&["--output", "json", &repo("examples/migration-nad.yaml"), file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let keys =
        ["source", "apiVersion", "kind", "namespace", "name", "allowed", "denials", "warnings", "patch"];
    let mut got: Vec<&str> = report["results"][1].as_object().unwrap().keys().map(String::as_str).collect();
    got.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(got, want);
    // and in the documented order
    let at: Vec<usize> = keys.iter().map(|k| out.find(&format!("\"{k}\"")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert_eq!(report["results"][0]["source"], format!("{}:3", repo("examples/migration-nad.yaml")));
    assert_eq!(report["results"][1]["source"], format!("{}:1", file.display()));
    let patch = report["results"][1]["patch"].as_array().unwrap();
    assert_eq!(patch.len(), 4);
    assert_eq!(
        patch[0],
        serde_json::json!({"op": "add", "path": "/spec/liveMigrationConfig/completionTimeoutPerGiB", "value": 20})
    );
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["summary"], serde_json::json!({"objects": 2, "denied": 0, "warnings": 0, "errors": 0}));
}

#[test]
fn github_output_annotates_files() {
    let path = repo("examples/broken/nad-range-too-small.yaml");
    let (code, out, _) = check(&["--output", "github", &path]);
    assert_eq!(code, 1);
    let line = out.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("::error file={path},line=2,title=mignet nad-range-too-small::")),
        "{line}"
    );
    assert!(line.contains("spec.config.ipam.range: Invalid value: \"192.168.105.0/31\""), "{line}");
}

#[test]
fn missing_network_warns_offline_and_fails_with_strict() {
    let hc = repo("examples/hyperconverged.yaml");
    let (code, out, _) = check(&[&hc]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning[hc-network-missing]"), "{out}");
    let (code, out, _) = check(&["--strict", &hc]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[hc-network-missing]"), "{out}");
}

#[test]
fn directories_are_read_recursively() {
    let (code, out, _) = check(&["--output", "json", &repo("examples")]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    // 3 reference objects (one HyperConverged with, one without a namespace) + 12 broken ones + the
    // example cluster's 3 user-defined networks (judged kinds); Nodes and Network config are view-only
    assert_eq!(report["summary"]["objects"], 18);
}

#[test]
fn stdin_and_lists() {
    let list = r#"{"apiVersion":"v1","kind":"List","items":[
  {"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition","metadata":{"name":"migration-a","namespace":"openshift-cnv"},"spec":{"config":"{\"cniVersion\":\"0.3.1\",\"type\":\"macvlan\",\"master\":\"bond2\",\"ipam\":{\"type\":\"whereabouts\",\"range\":\"192.168.99.0/24\"}}"}},
  {"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition","metadata":{"name":"migration-b","namespace":"openshift-cnv"},"spec":{"config":"{\"cniVersion\":\"0.3.1\",\"type\":\"macvlan\",\"master\":\"bond3\",\"ipam\":{\"type\":\"whereabouts\",\"range\":\"192.168.99.128/25\"}}"}}
]}"#;
    let (code, out, _) = run(&["check", "-"], Some(list));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "<stdin>:2: error[nad-overlap-nad]: NetworkAttachmentDefinition openshift-cnv/migration-a"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "<stdin>:3: error[nad-overlap-nad]: NetworkAttachmentDefinition openshift-cnv/migration-b"
        ),
        "{out}"
    );
}

#[test]
fn usage_and_input_errors_exit_2() {
    let (code, _, err) = check(&[]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = check(&["/no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(out.starts_with("/no/such/file.yaml: error: "), "{out}");
    let (code, out, _) = run(&["check", "-"], Some("kind: NetworkAttachmentDefinition\nmetadata: [\n"));
    assert_eq!(code, 2);
    assert!(out.starts_with("<stdin>:2:11: error: invalid YAML: unclosed bracket"), "{out}");
    assert!(out.ends_with("checked 0 objects: 0 denied, 0 warnings, 1 error\n"), "{out}");
    let (code, _, err) = check(&["--output", "yaml", &repo("examples")]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    // the printed default loads back and judges like no policy at all
    let (code, default, _) = check(&["--print-default-policy"]);
    assert_eq!(code, 0);
    std::fs::write(&policy, &default).unwrap();
    let (code, out, _) = check(&["--policy", policy.to_str().unwrap(), &repo("examples")]);
    let (code_without, out_without, _) = check(&[&repo("examples")]);
    assert_eq!((code, &out), (code_without, &out_without));
    // a rule turned off does not fire
    std::fs::write(&policy, "disabledRules: [nad-master]\n").unwrap();
    let (code, out, _) =
        check(&["--policy", policy.to_str().unwrap(), &repo("examples/broken/nad-without-master.yaml")]);
    assert_eq!(code, 0, "{out}");
    // unknown keys are errors naming the key and line
    std::fs::write(&policy, "migrationNamespace: openshift-cnv\nnamespaces: [x]\n").unwrap();
    let (code, _, err) = check(&["--policy", policy.to_str().unwrap(), &repo("examples")]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `namespaces`") && err.contains("line 2"), "{err}");
}

#[test]
fn list_rules_names_every_rule() {
    let (code, out, _) = check(&["--list-rules"]);
    assert_eq!(code, 0);
    for id in ["nad-namespace", "nad-overlap-reserved", "hc-timeout-vs-bandwidth", "hc-defaults"] {
        assert!(out.lines().any(|l| l.starts_with(id)), "{id}");
    }
}
