//! `mignet check` on manifests in the shapes people really have: doc snippets without namespaces,
//! block and folded scalars, `oc get -o yaml` dumps, conflists, OVN-Kubernetes secondary networks,
//! Fast IPAM, and a repository folder with broken files among good ones. Fixtures: tests/fixtures/check.

mod common;

use common::{repo, run};
use serde_json::Value;

fn fixture(path: &str) -> String {
    repo(&format!("tests/fixtures/check/{path}"))
}

fn check(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run(&all, None)
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = check(&all);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
}

/// (rule, field) of every denial of result `i`.
fn denials(report: &Value, i: usize) -> Vec<(String, String)> {
    report["results"][i]["denials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["rule"].as_str().unwrap().to_owned(), d["field"].as_str().unwrap().to_owned()))
        .collect()
}

fn result<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result for {name}: {report:#}"))
}

#[test]
fn the_reference_setup_is_admitted_with_and_without_the_hyperconverged_namespace() {
    for hc in ["examples/hyperconverged.yaml", "examples/hyperconverged-no-namespace.yaml"] {
        let (code, out, err) = check(&[
            "--cluster-state",
            &repo("examples/cluster"),
            &repo("examples/migration-nad.yaml"),
            &repo(hc),
        ]);
        assert_eq!((code, out.as_str()), (0, "checked 2 objects: 0 denied, 0 warnings\n"), "{hc}: {err}");
    }
}

#[test]
fn the_documented_procedure_is_admitted() {
    for hc in ["docs/hyperconverged-snippet.yaml", "docs/hyperconverged-v1.yaml"] {
        // the docs' NAD sits on eth1, which the example hosts (examples/cluster/nodenetworkstates.yaml)
        // do not have: judged against the cluster networks and nodes only, hosts unknown
        let (code, report) = json(&[
            "--strict",
            "--cluster-state",
            &repo("examples/cluster/network.yaml"),
            "--cluster-state",
            &repo("examples/cluster/nodes.yaml"),
            &fixture("docs/openshift-migration-nad.yaml"),
            &fixture(hc),
        ]);
        assert_eq!(code, 0, "{hc}: {report:#}");
        let hco = result(&report, "kubevirt-hyperconverged");
        assert_eq!(hco["namespace"], "openshift-cnv", "judged where HCO accepts it");
        assert_eq!(hco["allowed"], true);
        assert_eq!(hco["warnings"], serde_json::json!([]), "{hc}");
    }
}

/// The namespace-less HyperConverged finds its NAD in the operator's namespace, so the NAD it names
/// (no "migration" in the name) is the migration network a tenant must stay off; and the NAD's
/// finding is reported once, on the NAD, with the HyperConverged pointing at it.
#[test]
fn a_namespace_less_hyperconverged_finds_its_network() {
    let (code, out, _) = check(&[
        &fixture("docs/openshift-migration-nad.yaml"),
        &fixture("docs/hyperconverged-snippet.yaml"),
        &fixture("docs/tenant-on-the-migration-subnet.yaml"),
    ]);
    assert_eq!(code, 1, "{out}");
    let tenant = fixture("docs/tenant-on-the-migration-subnet.yaml");
    assert!(
        out.contains(&format!(
            "{tenant}:2: error[nad-overlap-migration]: NetworkAttachmentDefinition vms/vm-bridge: \
             spec.config.ipam.range: Invalid value: \"10.200.5.128/25\": overlaps the live-migration network \
             openshift-cnv/my-secondary-network (10.200.5.0/24)"
        )),
        "{out}"
    );
    assert_eq!(out.matches("overlaps NetworkAttachmentDefinition vms/vm-bridge").count(), 1, "{out}");
    assert!(
        out.contains(
            "error[hc-network-invalid]: HyperConverged openshift-cnv/kubevirt-hyperconverged: \
             spec.liveMigrationConfig.network: Invalid value: \"my-secondary-network\": \
             NetworkAttachmentDefinition openshift-cnv/my-secondary-network fails the migration rules \
             (nad-overlap-nad): see the findings on it"
        ),
        "{out}"
    );
    // judged against the same NAD in the cluster state, the HyperConverged says everything itself
    let (_, out, _) = check(&[
        "--cluster-state",
        &fixture("docs/openshift-migration-nad.yaml"),
        "--cluster-state",
        &tenant,
        &fixture("docs/hyperconverged-snippet.yaml"),
    ]);
    assert!(out.contains("fails the migration rules: spec.config.ipam.range: Invalid value"), "{out}");
}

#[test]
fn dash_n_fills_in_namespaces_and_refuses_others_as_kubectl_does() {
    let nad = fixture("docs/migration-nad-without-namespace.yaml");
    let (code, out, _) = check(&["-n", "openshift-cnv", &nad]);
    assert_eq!((code, out.as_str()), (0, "checked 1 object: 0 denied, 0 warnings\n"));
    // in another namespace the migration rules say where it belongs
    let (code, report) = json(&["--namespace", "vms", &nad]);
    assert_eq!(code, 1);
    assert_eq!(denials(&report, 0), [("nad-namespace".to_owned(), "metadata.namespace".to_owned())]);
    assert_eq!(report["results"][0]["namespace"], "vms");
    // an object with a namespace of its own is refused under -n, and not judged
    let tenant = fixture("docs/tenant-on-the-migration-subnet.yaml");
    let (code, out, _) = check(&["-n", "openshift-cnv", &nad, &tenant]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "{tenant}:2: error: NetworkAttachmentDefinition vm-bridge: the namespace from the provided object \
             \"vms\" does not match the namespace \"openshift-cnv\" given with -n: kubectl refuses to apply it"
        )),
        "{out}"
    );
    assert!(out.ends_with("checked 1 object: 0 denied, 0 warnings, 1 error\n"), "{out}");
    // the HyperConverged follows -n too, and then lives where HCO refuses it
    let (code, report) = json(&["-n", "vms", &fixture("docs/hyperconverged-snippet.yaml")]);
    assert_eq!(code, 1);
    assert_eq!(denials(&report, 0), [("hc-namespace".to_owned(), "metadata.namespace".to_owned())]);
}

#[test]
fn nads_without_a_namespace_get_a_warning_and_are_judged_by_what_they_are() {
    // a migration NAD (by its name): judged in the migration namespace
    let (code, report) = json(&[&fixture("docs/migration-nad-without-namespace.yaml")]);
    assert_eq!(code, 0, "{report:#}");
    let r = &report["results"][0];
    assert_eq!(r["namespace"], "openshift-cnv");
    let w = r["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("metadata.namespace: not set: kubectl puts the NAD in the current namespace"),
        "{w}"
    );
    assert!(
        w.contains("judged there: set namespace: openshift-cnv, or apply it with -n openshift-cnv"),
        "{w}"
    );
    // another network: judged as one, its namespace unknown, and never shown as a leading slash
    let (code, out, _) = check(&[
        "--cluster-state",
        &repo("examples/migration-nad.yaml"),
        &fixture("docs/whereabouts-readme-nad.yaml"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning[nad-namespace]: NetworkAttachmentDefinition whereabouts-conf: metadata.namespace: not set"), "{out}");
    // a tenant NAD without a namespace, on the migration subnet, and the migration NAD it overlaps
    let ptp = "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: ptp-mac\nspec:\n  config: '{\"type\": \"macvlan\", \"ipam\": {\"type\": \"whereabouts\", \"range\": \"192.168.99.0/28\"}}'\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ptp.yaml"), ptp).unwrap();
    let (code, out, _) =
        check(&[&repo("examples/migration-nad.yaml"), dir.path().join("ptp.yaml").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("overlaps NetworkAttachmentDefinition ptp-mac (192.168.99.0/28)"), "{out}");
    assert!(out.contains("error[nad-overlap-migration]: NetworkAttachmentDefinition ptp-mac:"), "{out}");
    assert!(!out.contains(" /") && !out.contains("\"/"), "no empty namespace shown: {out}");
}

#[test]
fn oc_get_dumps_with_status_and_managed_fields_are_judged() {
    let dump = fixture("dump/oc-get-all.yaml");
    let (code, report) = json(&["--cluster-state", &repo("examples/cluster"), &dump]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"], serde_json::json!({"objects": 3, "denied": 0, "warnings": 0, "errors": 0}));
    let sources: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(sources, [format!("{dump}:3"), format!("{dump}:33"), format!("{dump}:44")]);
    // and serve as the cluster state a new object is judged against
    let (code, out, _) =
        check(&["--cluster-state", &dump, &fixture("docs/tenant-on-the-migration-subnet.yaml")]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = check(&["--cluster-state", &dump, &fixture("repo/overlays/tenant.yaml")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("overlaps the live-migration network openshift-cnv/migration-bridge"), "{out}");
}

#[test]
fn fields_of_the_wrong_type_are_field_errors_not_a_failed_run() {
    let attr = fixture("docs/unrendered-attribute.yaml");
    let mapping = fixture("docs/config-as-mapping.yaml");
    let (code, out, _) = check(&[&attr, &mapping, &repo("examples/migration-nad.yaml")]);
    assert_eq!(code, 1, "denials, not an input error: {out}");
    assert!(
        out.contains(&format!(
            "{attr}:2: error[object-schema]: NetworkAttachmentDefinition openshift-cnv/migration-network: \
             metadata.namespace: Invalid value: {{\"CNVNamespace\":null}}: must be a string"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "metadata.labels[mignet.io/live-migration]: Invalid value: true: must be a string: quote it, \"true\""
        ),
        "{out}"
    );
    // spec.config as a YAML mapping is denied for a tenant NAD too: the API server refuses it
    assert!(
        out.contains(&format!(
            "{mapping}:2: error[nad-config-invalid]: NetworkAttachmentDefinition vms/ptp-mac: spec.config: \
             Invalid value: {{\"cniVersion\":\"0.3.1\""
        )),
        "{out}"
    );
    assert!(
        out.contains("must be a string holding the JSON CNI config: write config: '{...}', or config: |"),
        "{out}"
    );
    // the rest of each object is still judged: the migration NAD overlaps the reference one
    assert!(
        out.contains("error[nad-overlap-nad]: NetworkAttachmentDefinition openshift-cnv/migration-network"),
        "{out}"
    );
    assert!(out.ends_with("checked 3 objects: 3 denied, 1 warning\n"), "{out}");
    // a policy may switch the schema rule off like any other
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "disabledRules: [object-schema, nad-overlap-nad]\n").unwrap();
    let (_, out, _) = check(&["--policy", policy.to_str().unwrap(), &attr]);
    assert!(!out.contains("object-schema"), "{out}");
}

#[test]
fn unrendered_templates_say_to_render_them_first() {
    let chart = fixture("repo/overlays/chart-template.yaml");
    let (code, out, _) = check(&[&chart]);
    assert_eq!(code, 2);
    assert!(out.starts_with(&format!("{chart}:4:10: error: invalid YAML: ")), "{out}");
    assert!(
        out.contains(
            "unrendered template ({{ ... }}): render it first (helm template, kustomize build, oc process)"
        ),
        "{out}"
    );
    // quoted template actions parse as strings: the object is not judged, and says why
    let quoted = "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: \"{{ .Release.Name }}-migration\"\n  namespace: openshift-cnv\nspec:\n  config: '{}'\n";
    let (code, out, _) = run(&["check", "-"], Some(quoted));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with(
            "<stdin>:1: error: NetworkAttachmentDefinition {{ .Release.Name }}-migration: metadata.name holds an \
             unrendered template \"{{ .Release.Name }}-migration\": render it first (helm template, kustomize build, oc process)"
        ),
        "{out}"
    );
}

#[test]
fn template_syntax_the_cluster_wrote_is_not_a_template() {
    // an annotation (a Helm release's notes, a last-applied-configuration) may hold {{ }} verbatim
    let nad = std::fs::read_to_string(repo("examples/migration-nad.yaml")).unwrap().replace(
        "  namespace: openshift-cnv\n",
        "  namespace: openshift-cnv\n  annotations:\n    notes: \"{{ .Values.x }}\"\n",
    );
    let (code, out, _) = run(&["check", "-"], Some(&nad));
    assert_eq!((code, out.as_str()), (0, "checked 1 object: 0 denied, 0 warnings\n"));
}

#[test]
fn migration_nads_found_by_name_say_so_and_how_to_opt_out() {
    let harvester = fixture("docs/harvester-migration-network.yaml");
    let (code, out, _) = check(&[&harvester]);
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    assert!(
        first.ends_with(
            "metadata.namespace: Invalid value: \"harvester-system\": a live-migration NAD must be in \
             \"openshift-cnv\", where virt-handler runs and looks it up by name (judged as a live-migration NAD: \
             its name matches \"*migration*\"; if it is not one, label it mignet.io/live-migration: \"false\")"
        ),
        "{first}"
    );
    // the opt-out works as the message says, and follows the policy's label key
    let text = std::fs::read_to_string(&harvester).unwrap();
    let opted = text.replace("labels:\n", "labels:\n    mignet.io/live-migration: \"false\"\n");
    let (code, out, _) = run(&["check", "-"], Some(&opted));
    assert_eq!(code, 0, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "migrationLabel: example.com/migration\n").unwrap();
    let (_, out, _) = check(&["--policy", policy.to_str().unwrap(), &harvester]);
    assert!(out.contains("label it example.com/migration: \"false\""), "{out}");
}

#[test]
fn chained_conflists_and_single_configs_without_cni_version() {
    // a conflist with a chained tuning plugin, written as a block scalar
    let (code, out, _) =
        check(&["-n", "openshift-cnv", &fixture("docs/migration-nad-without-namespace.yaml")]);
    assert_eq!(code, 0, "{out}");
    // a single config without cniVersion is what libcni accepts
    let single = "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: migration-bridge\n  namespace: openshift-cnv\nspec:\n  config: |\n    {\"type\": \"macvlan\", \"master\": \"bond2\",\n     \"ipam\": {\"type\": \"whereabouts\", \"range\": \"192.168.99.0/24\"}}\n";
    let (code, out, _) = run(&["check", "-"], Some(single));
    assert_eq!((code, out.as_str()), (0, "checked 1 object: 0 denied, 0 warnings\n"));
    // a conflist without one is not
    let list = single.replace(
        "{\"type\": \"macvlan\", \"master\": \"bond2\",\n     \"ipam\": {\"type\": \"whereabouts\", \"range\": \"192.168.99.0/24\"}}",
        "{\"name\": \"m\", \"plugins\": [{\"type\": \"macvlan\", \"master\": \"bond2\",\n     \"ipam\": {\"type\": \"whereabouts\", \"range\": \"192.168.99.0/24\"}}]}",
    );
    let (code, out, _) = run(&["check", "-"], Some(&list));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[nad-cni-version]") && out.contains("Required value: a conflist"), "{out}");
}

#[test]
fn ovn_kubernetes_secondary_networks_are_claimed_ranges() {
    let ovn = fixture("ovn/localnet-on-migration-subnet.yaml");
    let (code, report) = json(&["--cluster-state", &repo("examples/migration-nad.yaml"), &ovn]);
    assert_eq!(code, 1);
    let localnet = result(&report, "localnet-vms");
    let d = &localnet["denials"][0];
    assert_eq!(
        (d["rule"].as_str(), d["field"].as_str()),
        (Some("nad-overlap-migration"), Some("spec.config.subnets"))
    );
    let m = d["message"].as_str().unwrap();
    assert!(m.starts_with("Invalid value: \"192.168.99.0/24\": overlaps the live-migration network openshift-cnv/migration-bridge"), "{m}");
    assert!(m.contains("physical segment") && m.contains("excludeSubnets"), "{m}");
    // a wider localnet that leaves the migration subnet out with excludeSubnets is fine
    assert_eq!(result(&report, "localnet-carved")["allowed"], true);
    // a layer2 overlay elsewhere is fine; a layer3 one over the migration subnet is kept off it
    assert_eq!(result(&report, "l2-tenant")["allowed"], true);
    let l3 = result(&report, "l3-overlay");
    assert_eq!(l3["denials"][0]["rule"], "nad-overlap-migration");
    assert!(
        l3["denials"][0]["message"].as_str().unwrap().starts_with("Invalid value: \"192.168.96.0/20/24\"")
    );
    // and a migration NAD written after them sees their subnets as taken
    let (code, out, _) = check(&["--cluster-state", &ovn, &repo("examples/migration-nad.yaml")]);
    assert_eq!(code, 1);
    assert!(out.contains("overlaps NetworkAttachmentDefinition ns2/l3-overlay (192.168.96.0/20), vms/localnet-vms (192.168.99.0/24)"), "{out}");
}

#[test]
fn fast_ipam_node_slices_are_checked_against_the_range_and_the_nodes() {
    // the slices are the point here, not the hosts: cluster networks and nodes only
    let (code, report) = json(&[
        "--cluster-state",
        &repo("examples/cluster/network.yaml"),
        "--cluster-state",
        &repo("examples/cluster/nodes.yaml"),
        &fixture("ovn/fast-ipam.yaml"),
    ]);
    assert_eq!(code, 1);
    let bad = result(&report, "migration-sliced");
    assert_eq!(
        denials(&report, 0),
        [("nad-node-slice".to_owned(), "spec.config.ipam.node_slice_size".to_owned())]
    );
    assert!(
        bad["denials"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a /22 slice is larger than the range 192.168.88.0/24")
    );
    assert_eq!(result(&report, "migration-sliced-ok")["allowed"], true);
    // four /26 slices cannot serve five virt-handler nodes
    let nodes: String = (0..5)
        .map(|i| format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: w{i}\n  labels:\n    kubevirt.io/schedulable: \"true\"\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nodes.yaml"), nodes).unwrap();
    let (_, report) =
        json(&["--cluster-state", dir.path().to_str().unwrap(), &fixture("ovn/fast-ipam.yaml")]);
    let m = result(&report, "migration-sliced-ok")["denials"][0]["message"].as_str().unwrap().to_owned();
    assert!(m.contains("192.168.87.0/24 makes 4 slices of /26 for 5 virt-handler nodes"), "{m}");
}

#[test]
fn the_defaults_are_hco_1_19s() {
    let (code, report) =
        json(&[&repo("examples/migration-nad.yaml"), &fixture("docs/hyperconverged-v1.yaml")]);
    assert_eq!(code, 0, "{report:#}");
    let patch = &result(&report, "kubevirt-hyperconverged")["patch"];
    let value = |field: &str| {
        patch
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"].as_str().unwrap().ends_with(field))
            .map(|op| op["value"].clone())
    };
    assert_eq!(value("/completionTimeoutPerGiB"), Some(20.into()));
    assert_eq!(value("/parallelOutboundMigrationsPerNode"), Some(1.into()));
    assert_eq!(value("/progressTimeout"), Some(150.into()));
    assert_eq!(value("/parallelMigrationsPerCluster"), Some(5.into()));
}

/// A repository folder with a syntax error, an unrendered chart and a non-object document among good
/// files: every format reports each problem where it is, still judges everything else, and exits 2.
#[test]
fn one_broken_file_among_good_ones_in_every_output_format() {
    let folder = fixture("repo");
    let broken = fixture("repo/base/broken.yaml");
    let chart = fixture("repo/overlays/chart-template.yaml");
    let tenant = fixture("repo/overlays/tenant.yaml");

    let (code, out, _) = check(&[&folder]);
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("{broken}:6:10: error: invalid YAML: ")), "{out}");
    assert!(out.contains(&format!("{chart}:4:10: error: invalid YAML: ")), "{out}");
    assert!(
        out.contains(&format!("{tenant}:9: error: document is a sequence, expected a Kubernetes object")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{tenant}:1: error[nad-overlap-migration]: NetworkAttachmentDefinition vms/tenant-b"
        )),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"checked 4 objects: 3 denied, 0 warnings, 3 errors"));

    let (code, report) = json(&[&folder]);
    assert_eq!(code, 2);
    assert_eq!(report["summary"], serde_json::json!({"objects": 4, "denied": 3, "warnings": 0, "errors": 3}));
    let names: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["kubevirt-hyperconverged", "migration-bridge", "tenant-b", "tenant-c"]);
    let errors: Vec<&str> =
        report["errors"].as_array().unwrap().iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(errors, [format!("{broken}:6:10"), format!("{chart}:4:10"), format!("{tenant}:9")]);
    assert!(report["errors"][0]["message"].as_str().unwrap().starts_with("invalid YAML: "));

    let (code, out, _) = check(&["--output", "github", &folder]);
    assert_eq!(code, 2);
    let (commands, summary): (Vec<&str>, Vec<&str>) = out.lines().partition(|l| l.starts_with("::"));
    assert_eq!(summary, ["checked 4 objects: 3 denied, 0 warnings, 3 errors"]);
    assert_eq!(commands.len(), 6, "{out}");
    assert!(commands.contains(&format!("::error file={},line=6,col=10,title=mignet input-error::invalid YAML: mapping values are not allowed in this context", broken.replace(':', "%3A")).as_str()), "{out}");
    assert!(
        commands.iter().any(|c| c.starts_with(&format!(
            "::error file={},line=1,title=mignet nad-overlap-migration::",
            tenant.replace(':', "%3A")
        ))),
        "{out}"
    );

    let (code, out, _) = check(&["--output", "sarif", &folder]);
    assert_eq!(code, 2);
    let sarif: Value = serde_json::from_str(&out).unwrap();
    let results = validate_sarif(&sarif);
    assert_eq!(results.len(), 6);
    let input_errors = results.iter().filter(|r| r["ruleId"] == "input-error").count();
    assert_eq!(input_errors, 3);
    let chart_error = results
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("chart-template.yaml")
        })
        .unwrap();
    assert_eq!(
        chart_error["locations"][0]["physicalLocation"]["region"],
        serde_json::json!({"startLine": 4, "startColumn": 10})
    );
}

/// Checks the parts of SARIF 2.1.0 code-scanning tools need, and returns the results.
fn validate_sarif(sarif: &Value) -> Vec<Value> {
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "mignet");
    assert!(driver["version"].is_string());
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // every rule --list-rules names is described, plus the id input problems carry
    let (_, listed, _) = check(&["--list-rules"]);
    for line in listed.lines() {
        let id = line.split_whitespace().next().unwrap();
        assert!(ids.contains(&id), "{id} missing from tool.driver.rules");
    }
    assert!(ids.contains(&"input-error"));
    assert!(rules.iter().all(|r| r["shortDescription"]["text"].as_str().is_some_and(|t| !t.is_empty())));
    let results = runs[0]["results"].as_array().unwrap().clone();
    for r in &results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id, "ruleIndex points at its rule");
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let location = &r["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.is_empty() && !uri.contains(' '), "{uri}");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    results
}

#[test]
fn sarif_output_of_denials_warnings_and_notes() {
    let (code, out, _) = check(&[
        "--output",
        "sarif",
        &fixture("docs/whereabouts-readme-nad.yaml"),
        &repo("examples/broken/nad-without-master.yaml"),
        &fixture("docs/hyperconverged-v1.yaml"),
    ]);
    assert_eq!(code, 1);
    let sarif: Value = serde_json::from_str(&out).unwrap();
    let results = validate_sarif(&sarif);
    let levels: Vec<(&str, &str)> =
        results.iter().map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap())).collect();
    assert!(levels.contains(&("nad-namespace", "warning")), "{levels:?}");
    assert!(levels.contains(&("nad-master", "error")), "{levels:?}");
    assert!(levels.contains(&("hc-defaults", "note")), "{levels:?}");
    let master = results.iter().find(|r| r["ruleId"] == "nad-master").unwrap();
    let location = &master["locations"][0]["physicalLocation"];
    assert_eq!(location["region"]["startLine"], 2);
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("examples/broken/nad-without-master.yaml")
    );
}

#[test]
fn the_pre_commit_hooks_run_check_on_the_files_they_are_given() {
    let text = std::fs::read_to_string(repo(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<Value> = serde_saphyr::from_str(&text).unwrap();
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["mignet-check", "mignet-check-system"]);
    for hook in &hooks {
        for key in ["name", "entry", "language", "files"] {
            assert!(hook[key].as_str().is_some_and(|v| !v.is_empty()), "{key}: {hook}");
        }
        // one process sees every staged file, so overlaps between them are judged
        assert_eq!(hook["require_serial"], true);
        let files = hook["files"].as_str().unwrap();
        assert_eq!(files, r"\.(ya?ml|json)$");
        // what pre-commit runs: the entry with the staged files appended
        let mut args: Vec<&str> = hook["entry"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(args.remove(0), "mignet");
        let staged = [repo("examples/migration-nad.yaml"), repo("examples/hyperconverged-no-namespace.yaml")];
        args.extend(staged.iter().map(String::as_str));
        let (code, out, _) = run(&args, None);
        assert_eq!((code, out.as_str()), (0, "checked 2 objects: 0 denied, 0 warnings\n"));
    }
    assert_eq!(hooks[0]["language"], "rust");
    assert_eq!(hooks[1]["language"], "system");
}

/// `n` schedulable Nodes, which is how virt-handler nodes reach `mignet check`.
fn virt_handler_nodes(dir: &std::path::Path, n: usize) -> String {
    let nodes: String = (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: w{i}\n  labels:\n    kubevirt.io/schedulable: \"true\"\n"))
        .collect();
    let path = dir.join(format!("nodes-{n}.yaml"));
    std::fs::write(&path, nodes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn an_ipv6_migration_range_holds_what_whereabouts_hands_out() {
    // fd00:99::/125 gives six addresses (fd00:99::1 to ::6): seven virt-handler nodes are one too many
    let dir = tempfile::tempdir().unwrap();
    let nad = fixture("ipv6/migration-nad-125.yaml");
    let (code, report) = json(&["--cluster-state", &virt_handler_nodes(dir.path(), 7), &nad]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(denials(&report, 0), [("nad-capacity".to_owned(), "spec.config.ipam.range".to_owned())]);
    let m = report["results"][0]["denials"][0]["message"].as_str().unwrap();
    assert!(m.contains("\"fd00:99::/125\": 6 usable addresses for 7 virt-handler nodes"), "{m}");

    let (code, report) = json(&["--cluster-state", &virt_handler_nodes(dir.path(), 6), &nad]);
    assert_eq!(code, 0, "{report:#}");
    let judged = result(&report, "migration-bridge");
    assert_eq!(judged["allowed"], true);
    assert_eq!(
        judged["warnings"],
        serde_json::json!(["spec.config.ipam.range: 6 addresses for 6 nodes: little room to grow"])
    );

    // the address map's capacity line counts the same six
    let (_, out, err) =
        check(&["--output", "html", "--cluster-state", &virt_handler_nodes(dir.path(), 7), &nad]);
    assert!(out.contains("TOO SMALL: 6 usable addresses for 7 virt-handler nodes"), "{err}");
}
