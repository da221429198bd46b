//! `mignet verify --from` end to end: the built binary over recorded objects (tests/verify/), one case
//! per way the dedicated migration network can be broken, every exit code and both output formats.
//!
//! `tests/verify/healthy/` is a cluster where everything is right. Each file of `tests/verify/cases/`
//! holds objects that replace the healthy ones of the same kind and name (the first copy read wins, so
//! a case is given before the healthy dump).

mod common;

use std::fs;

use common::{repo, run};
use serde_json::Value;

const HEALTHY: [&str; 7] = [
    "hyperconverged.yaml",
    "kubevirt.yaml",
    "nads.yaml",
    "network.yaml",
    "nodes.yaml",
    "virt-handler-pods.yaml",
    "vmis.yaml",
];

/// Runs `mignet verify` over `case` (if any), then the healthy files except `without`, then `extra` args.
fn verify(case: Option<&str>, without: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify".to_owned()];
    if let Some(case) = case {
        args.extend(["--from".to_owned(), repo(&format!("tests/verify/cases/{case}.yaml"))]);
    }
    for file in HEALTHY.iter().filter(|f| !without.contains(f)) {
        args.extend(["--from".to_owned(), repo(&format!("tests/verify/healthy/{file}"))]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, None)
}

/// `STATUS id` of every check line of the text output.
fn verdicts(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("verified "))
        .map(|l| l.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

fn line_of<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines().find(|l| l.split(':').next().is_some_and(|h| h.ends_with(&format!(" {id}")))).unwrap()
}

#[test]
fn healthy_dump_passes_every_check() {
    let (code, out, err) = run(&["verify", "--from", &repo("tests/verify/healthy")], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "PASS hc-network: HyperConverged openshift-cnv/kubevirt-hyperconverged has \
         spec.liveMigrationConfig.network = \"migration-bridge\": NetworkAttachmentDefinition \
         openshift-cnv/migration-bridge (192.168.99.0/24) exists and passes every migration NAD rule\n\
         PASS kubevirt-network: KubeVirt openshift-cnv/kubevirt-kubevirt-hyperconverged: \
         spec.configuration.migrations.network = \"migration-bridge\", as the HyperConverged says\n\
         PASS virt-handler-attached: 3 virt-handler pods attached to openshift-cnv/migration-bridge on \
         migration0 with an address in 192.168.99.0/24, all Ready\n  \
         ok: Pod openshift-cnv/virt-handler-7xk2p on worker-0: migration0 192.168.99.10, Ready\n  \
         ok: Pod openshift-cnv/virt-handler-b9q4m on worker-1: migration0 192.168.99.11, Ready\n  \
         ok: Pod openshift-cnv/virt-handler-tz5vd on worker-2: migration0 192.168.99.12, Ready\n\
         PASS address-headroom: 3 of 254 addresses in use in 192.168.99.0/24 (251 free), for 3 virt-handler \
         nodes\n\
         PASS vmi-migrations: 1 migration targeted an address in 192.168.99.0/24: the dedicated network\n  \
         ok: VMI vms/rhel9-web: migration worker-0 -> worker-1 (completed 2025-06-02T09:14:31Z) targeted \
         192.168.99.11, in 192.168.99.0/24: the dedicated network\n\
         verified live-migration network openshift-cnv/migration-bridge: 5 passed, 0 failed, 0 skipped\n"
    );
    assert!(err.is_empty(), "{err}");
}

/// Each recorded failure fails exactly the checks its file says, with the reason in the evidence.
#[test]
fn each_recorded_failure_fails_its_checks() {
    let cases: [(&str, [&str; 5], &str); 8] = [
        (
            "hc-no-network",
            [
                "FAIL hc-network",
                "SKIP kubevirt-network",
                "SKIP virt-handler-attached",
                "SKIP address-headroom",
                "SKIP vmi-migrations",
            ],
            "sets no spec.liveMigrationConfig.network: live migrations use the pod network",
        ),
        (
            "hc-network-typo",
            [
                "FAIL hc-network",
                "FAIL kubevirt-network",
                "FAIL virt-handler-attached",
                "SKIP address-headroom",
                "SKIP vmi-migrations",
            ],
            "NetworkAttachmentDefinition openshift-cnv/migration-brigde does not exist",
        ),
        (
            "nad-without-master",
            [
                "FAIL hc-network",
                "PASS kubevirt-network",
                "PASS virt-handler-attached",
                "PASS address-headroom",
                "PASS vmi-migrations",
            ],
            "fails 1 migration NAD rule",
        ),
        (
            "kubevirt-stale-network",
            [
                "PASS hc-network",
                "FAIL kubevirt-network",
                "PASS virt-handler-attached",
                "PASS address-headroom",
                "PASS vmi-migrations",
            ],
            "= \"migration-old\", but the HyperConverged says \"migration-bridge\"",
        ),
        (
            "virt-handler-detached",
            [
                "PASS hc-network",
                "PASS kubevirt-network",
                "FAIL virt-handler-attached",
                "PASS address-headroom",
                "PASS vmi-migrations",
            ],
            "2 of 3 virt-handler pods not attached to openshift-cnv/migration-bridge on migration0; 1 not Ready",
        ),
        (
            "nad-range-too-small",
            [
                "FAIL hc-network",
                "PASS kubevirt-network",
                "FAIL virt-handler-attached",
                "FAIL address-headroom",
                "PASS vmi-migrations",
            ],
            "2 of 2 addresses in use in 192.168.99.0/24 (0 free), for 3 virt-handler nodes",
        ),
        (
            "virt-handler-duplicate-ip",
            [
                "PASS hc-network",
                "PASS kubevirt-network",
                "PASS virt-handler-attached",
                "FAIL address-headroom",
                "PASS vmi-migrations",
            ],
            "192.168.99.11 is on virt-handler-b9q4m and virt-handler-tz5vd: a duplicate address",
        ),
        (
            "vmi-over-pod-network",
            [
                "PASS hc-network",
                "PASS kubevirt-network",
                "PASS virt-handler-attached",
                "PASS address-headroom",
                "FAIL vmi-migrations",
            ],
            "VMI vms/fedora-db: migration worker-1 -> worker-2 (completed 2025-05-28T16:40:03Z) targeted \
             10.130.2.8, outside 192.168.99.0/24: it went over the pod network",
        ),
    ];
    let listed = fs::read_dir(repo("tests/verify/cases")).unwrap().count();
    assert_eq!(listed, cases.len() + 1, "every case file has a row here (hc-v1 passes, see below)");
    for (case, want, says) in cases {
        let (code, out, err) = verify(Some(case), &[], &[]);
        assert_eq!(code, 1, "{case}: {out}{err}");
        assert_eq!(verdicts(&out), want, "{case}:\n{out}");
        assert!(out.contains(says), "{case}: no {says:?} in\n{out}");
    }
}

#[test]
fn the_v1_layout_passes_too() {
    let (code, out, _) = verify(Some("hc-v1"), &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(line_of(&out, "hc-network").contains("spec.virtualization.liveMigrationConfig.network"), "{out}");
}

#[test]
fn virt_handler_failures_name_pod_node_and_cause() {
    let (_, out, _) = verify(Some("virt-handler-detached"), &[], &[]);
    assert!(out.contains(
        "  fail: Pod openshift-cnv/virt-handler-b9q4m on worker-1: no migration0 in \
         k8s.v1.cni.cncf.io/network-status (attached: ovn-kubernetes): virt-handler migrates over the pod \
         network; the pod requests no network (k8s.v1.cni.cncf.io/networks unset)"
    ));
    assert!(out.contains(
        "  fail: Pod openshift-cnv/virt-handler-tz5vd on worker-2: migration0 has no IP address: virt-handler \
         cannot start (\"no IP found on migration0\"); check the NAD's IPAM; not Ready (phase Running, \
         container virt-handler CrashLoopBackOff)\n"
    ));
}

#[test]
fn missing_kubevirt_cr_fails() {
    let (code, out, _) = verify(None, &["kubevirt.yaml"], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        line_of(&out, "kubevirt-network"),
        "FAIL kubevirt-network: no KubeVirt CR in namespace openshift-cnv (dump it with `oc get kubevirt -n \
         openshift-cnv -o yaml`)"
    );
}

#[test]
fn no_migration_yet_is_skipped_and_exits_zero() {
    let (code, out, _) = verify(None, &["vmis.yaml"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        line_of(&out, "vmi-migrations")
            .starts_with("SKIP vmi-migrations: no VMI has a migration to judge yet")
    );
    assert!(out.ends_with("4 passed, 0 failed, 1 skipped\n"), "{out}");
}

#[test]
fn one_vmi_by_name() {
    let (code, out, _) = verify(None, &[], &["--vmi", "vms/rhel9-web"]);
    assert_eq!(code, 0, "{out}");
    assert!(line_of(&out, "vmi-migrations").starts_with("PASS vmi-migrations: 1 migration targeted"));
    let (code, out, _) = verify(None, &[], &["--vmi", "fedora-db"]);
    assert_eq!(code, 1);
    assert!(out.contains(
        "  fail: VMI vms/fedora-db has not migrated (no status.migrationState): migrate it (`virtctl migrate \
         fedora-db -n vms`) and run again"
    ));
    let (code, out, _) = verify(None, &[], &["--vmi", "other/rhel9-web"]);
    assert_eq!(code, 1);
    assert_eq!(
        line_of(&out, "vmi-migrations"),
        "FAIL vmi-migrations: no VirtualMachineInstance other/rhel9-web (dump it with `oc get vmi -A -o yaml`)"
    );
}

#[test]
fn json_output_is_one_stable_document() {
    let (code, out, _) = verify(Some("vmi-over-pod-network"), &[], &["--output", "json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["namespace"], "openshift-cnv");
    assert_eq!(doc["network"], "openshift-cnv/migration-bridge");
    assert_eq!(doc["ranges"], serde_json::json!(["192.168.99.0/24"]));
    let ids: Vec<&str> =
        doc["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["hc-network", "kubevirt-network", "virt-handler-attached", "address-headroom", "vmi-migrations"]
    );
    let vmis = &doc["checks"][4];
    assert_eq!(vmis["status"], "fail");
    assert_eq!(vmis["details"][0]["status"], "fail");
    assert!(vmis["details"][0]["text"].as_str().unwrap().starts_with("VMI vms/fedora-db"));
    assert_eq!(vmis["details"][1]["status"], "ok");
    assert_eq!(doc["summary"], serde_json::json!({"passed": 4, "failed": 1, "skipped": 0}));
}

#[test]
fn namespace_option_moves_the_search_and_points_back() {
    let (code, out, _) = verify(None, &[], &["--namespace", "kubevirt-hyperconverged"]);
    assert_eq!(code, 1);
    assert_eq!(
        line_of(&out, "hc-network"),
        "FAIL hc-network: no HyperConverged in namespace kubevirt-hyperconverged, but found \
         openshift-cnv/kubevirt-hyperconverged: run with --namespace openshift-cnv"
    );
    let (code, out, _) = verify(None, &[], &["-n", "openshift-cnv"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn policy_file_applies_to_the_nad_rules() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    fs::write(&policy, "disabledRules: [nad-master]\n").unwrap();
    let (code, out, _) = verify(Some("nad-without-master"), &[], &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn unreadable_input_exits_2_with_the_place() {
    let (code, out, err) = run(&["verify", "--from", &repo("tests/verify/no-such-dir")], None);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("no-such-dir"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("pods.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: [\n").unwrap();
    let (code, _, err) = run(&["verify", "--from", dir.path().to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("pods.yaml:"), "{err}");

    fs::write(dir.path().join("pods.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        .unwrap();
    let (code, _, err) = run(&["verify", "--from", dir.path().to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("no object mignet verify reads"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let healthy = repo("tests/verify/healthy");
    for args in [
        vec!["verify", "--from", &healthy, "--kubeconfig", "/dev/null"],
        vec!["verify", "--from", &healthy, "--vmi", "a/b/c"],
        vec!["verify", "--from", &healthy, "--namespace", ""],
        vec!["verify", "--from", &healthy, "--output", "yaml"],
    ] {
        let (code, out, err) = run(&args, None);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty() && !err.is_empty(), "{args:?}");
    }
}
