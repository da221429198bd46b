//! `mignet check` end to end on KubeVirt CRs, MigrationPolicies and VirtualMachineInstanceMigration
//! dumps: the built binary on files, as a CI job runs it for an upstream KubeVirt cluster.

mod common;

use common::{repo, run};
use serde_json::Value;

fn fixture(name: &str) -> String {
    repo(&format!("tests/fixtures/kubevirt/{name}"))
}

/// `check --output json` with the upstream policy; returns the exit code and the report.
fn check(args: &[&str]) -> (i32, Value) {
    let policy = fixture("policy.yaml");
    let mut all = vec!["check", "--output", "json", "--policy", &policy];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all, None);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
}

fn rules(result: &Value, what: &str) -> Vec<String> {
    result[what].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_good_kubevirt_cr_passes_and_a_bad_one_is_denied_with_the_hyperconverged_s_rule_ids() {
    let nads = fixture("nads.yaml");
    let (code, report) = check(&["--cluster-state", &nads, &fixture("kubevirt-good.yaml")]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = check(&["--cluster-state", &nads, &fixture("kubevirt-bad.yaml")]);
    assert_eq!(code, 1, "{report:#}");
    let result = &report["results"][0];
    let mut denied = rules(result, "denials");
    denied.sort();
    assert_eq!(denied, ["hc-network-invalid", "hc-timeout"], "{result:#}");
    let warnings = result["warnings"].to_string();
    assert!(warnings.contains("5 exceeds parallelMigrationsPerCluster 1"), "{result:#}");
    assert!(result.to_string().contains("kubevirt/lm-bad"), "{result:#}");
}

#[test]
fn a_migration_policy_is_judged() {
    let (code, report) = check(&[&fixture("migration-policy.yaml")]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(rules(&report["results"][0], "denials"), ["hc-timeout-vs-bandwidth"], "{report:#}");
}

#[test]
fn a_vmim_dump_holds_the_migration_master_against_an_nncp() {
    let (nads, kv, nncp) = (fixture("nads.yaml"), fixture("kubevirt-good.yaml"), fixture("nncp-bond2.yaml"));
    // no migration running: the NNCP that keeps bond2 as it is passes
    let (code, report) = check(&["--cluster-state", &nads, "--cluster-state", &kv, &nncp]);
    assert_eq!(code, 0, "{report:#}");
    // the dump holds one running migration, one finished, one without a status yet
    let vmims = fixture("vmims.yaml");
    let (code, report) =
        check(&["--cluster-state", &nads, "--cluster-state", &kv, "--cluster-state", &vmims, &nncp]);
    assert_eq!(code, 1, "{report:#}");
    let result = &report["results"][0];
    assert_eq!(rules(result, "denials"), ["migration-in-flight"], "{result:#}");
    let message = result["denials"][0]["message"].as_str().unwrap();
    assert!(message.contains("2 live migrations are unfinished"), "{message}");
    assert!(message.contains("vms/kubevirt-evacuation-abcde (VMI rhel-9, Running"), "{message}");
    assert!(message.contains("vms/just-created (VMI win-11, no phase yet"), "{message}");
    assert!(!message.contains("kubevirt-evacuation-done"), "{message}");
}
