//! `mignet verify --kubeconfig` against the fake API server: the recorded objects of tests/verify/ served
//! over the Kubernetes API give the same verdict as `--from`; unserved CRDs are failed checks, not
//! crashes; an unreachable API server exits 2.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{
    fake_apiserver::{FakeApiServer, HcoRelease, ResourceDef, openshift, openshift_with, plain_kubernetes},
    run,
};

const PODS: ResourceDef =
    ResourceDef { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, builtin: true };
const KUBEVIRTS: ResourceDef = ResourceDef::KUBEVIRTS;
const VMIS: ResourceDef =
    ResourceDef { plural: "virtualmachineinstances", kind: "VirtualMachineInstance", ..KUBEVIRTS };

/// OpenShift Virtualization: what mignet watches plus the kinds only verify reads.
fn virtualization() -> Vec<ResourceDef> {
    let mut defs = openshift();
    defs.extend([PODS, KUBEVIRTS, VMIS]);
    defs
}

/// Every object of a recorded file or directory, as the API server would store it.
fn recorded(path: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    mignet::input::read_path(&path).unwrap().into_iter().map(|d| d.value).collect()
}

fn load(fake: &FakeApiServer, path: &str) {
    for object in recorded(path) {
        fake.apply_with_status(object);
    }
}

async fn verify(kubeconfig: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify".to_owned(), "--kubeconfig".to_owned(), kubeconfig.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args).await
}

async fn from_files(paths: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify".to_owned()];
    for p in paths {
        args.push("--from".to_owned());
        args.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(p).display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args).await
}

fn line_of<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.split(':').next().is_some_and(|h| h.ends_with(&format!(" {id}"))))
        .unwrap_or_else(|| panic!("no {id} line in\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cluster_gets_the_same_verdict_as_its_dump() {
    let fake = FakeApiServer::start(virtualization()).await;
    load(&fake, "tests/verify/healthy");
    // a pod of the namespace that is not virt-handler is not judged
    fake.apply(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "virt-api-5d9f8", "namespace": "openshift-cnv", "labels": {"kubevirt.io": "virt-api"}},
        "spec": {"nodeName": "worker-0"}, "status": {"phase": "Running"}}));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let (code, live, err) = verify(&kubeconfig, &[]).await;
    assert_eq!(code, 0, "{live}{err}");
    let (_, dumped, _) = from_files(&["tests/verify/healthy"], &[]).await;
    assert_eq!(live, dumped);
    let requests = fake.requests();
    let asked = |s: &str| requests.iter().any(|r| r.contains(s));
    assert!(
        asked("/api/v1/namespaces/openshift-cnv/pods?") && asked("labelSelector=kubevirt.io%3Dvirt-handler")
    );
    assert!(asked("/apis/hco.kubevirt.io/v1beta1/hyperconvergeds?"), "{requests:#?}");
    assert!(requests.iter().all(|r| r.starts_with("GET ") && !r.contains("watch=")), "{requests:#?}");

    let (code, out, _) = verify(&kubeconfig, &["--vmi", "vms/rhel9-web", "--output", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["checks"][4]["details"].as_array().unwrap().len(), 1);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.contains("/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances?"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_failures_match_the_recorded_cases() {
    for case in ["virt-handler-detached", "vmi-over-pod-network", "kubevirt-stale-network"] {
        let fake = FakeApiServer::start(virtualization()).await;
        load(&fake, "tests/verify/healthy");
        load(&fake, &format!("tests/verify/cases/{case}.yaml"));
        let dir = tempfile::tempdir().unwrap();
        let (code, live, err) = verify(&fake.write_kubeconfig(dir.path()), &[]).await;
        assert_eq!(code, 1, "{case}: {live}{err}");
        let case_file = format!("tests/verify/cases/{case}.yaml");
        let (_, dumped, _) = from_files(&[&case_file, "tests/verify/healthy"], &[]).await;
        assert_eq!(live, dumped, "{case}");
    }
}

/// OpenShift Virtualization with the HyperConverged CRD of an HCO release.
fn virtualization_with(release: HcoRelease) -> Vec<ResourceDef> {
    let mut defs = openshift_with(release);
    defs.extend([PODS, KUBEVIRTS, VMIS]);
    defs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_hyperconverged_is_read_where_v1_is_stored() {
    // HCO 1.19: v1 stored, v1beta1 served; the object written through v1 has its settings only there
    let fake = FakeApiServer::start(virtualization_with(HcoRelease::V1_19)).await;
    load(&fake, "tests/verify/healthy");
    fake.delete("hco.kubevirt.io/v1", "HyperConverged", "openshift-cnv", "kubevirt-hyperconverged");
    load(&fake, "tests/verify/cases/hc-v1.yaml");
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = verify(&fake.write_kubeconfig(dir.path()), &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(line_of(&out, "hc-network").contains("spec.virtualization.liveMigrationConfig.network"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1beta1_hyperconverged_is_not_lost_to_discovery_preferring_v1() {
    // HCO 1.18: v1beta1 stored, discovery prefers v1, whose reads are pruned of liveMigrationConfig;
    // then HCO 1.19 makes v1 the storage version and the object, not yet rewritten, stays v1beta1
    for upgrade in [false, true] {
        let fake = FakeApiServer::start(virtualization_with(HcoRelease::V1_18)).await;
        load(&fake, "tests/verify/healthy");
        if upgrade {
            fake.upgrade_hco(HcoRelease::V1_19);
        }
        let dir = tempfile::tempdir().unwrap();
        let (code, out, err) = verify(&fake.write_kubeconfig(dir.path()), &[]).await;
        assert_eq!(code, 0, "upgrade {upgrade}: {out}{err}");
        assert!(
            line_of(&out, "hc-network")
                .starts_with("PASS hc-network: HyperConverged openshift-cnv/kubevirt-hyperconverged")
                && line_of(&out, "hc-network").contains("spec.liveMigrationConfig.network"),
            "upgrade {upgrade}: {out}"
        );
        let (_, dumped, _) = from_files(&["tests/verify/healthy"], &[]).await;
        assert_eq!(out, dumped, "upgrade {upgrade}: the live verdict is the dump's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_vmis_are_listed_page_by_page() {
    let fake = FakeApiServer::start(virtualization()).await;
    load(&fake, "tests/verify/healthy");
    for i in 0..1100 {
        // a VMI's status is virt-controller's, written through the status subresource
        fake.apply_with_status(
            serde_json::json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": format!("vm-{i:04}"), "namespace": "load"},
            "status": {"migrationState": {"sourceNode": "worker-0", "targetNode": "worker-1",
                       "targetNodeAddress": "192.168.99.11", "completed": true}}}),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = verify(&fake.write_kubeconfig(dir.path()), &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        line_of(&out, "vmi-migrations")
            .starts_with("PASS vmi-migrations: 1101 migrations targeted addresses")
    );
    let pages = fake.requests().iter().filter(|r| r.contains("/virtualmachineinstances?")).count();
    assert_eq!(pages, 3, "1101 VMIs in pages of 500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unserved_apis_are_failed_checks_not_crashes() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    load(&fake, "tests/verify/healthy/nads.yaml");
    load(&fake, "tests/verify/healthy/nodes.yaml");
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = verify(&fake.write_kubeconfig(dir.path()), &[]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.is_empty(), "{err}");
    assert_eq!(
        line_of(&out, "hc-network"),
        "FAIL hc-network: no HyperConverged: the cluster does not serve HyperConvergeds (API group \
         hco.kubevirt.io is not served); is OpenShift Virtualization (the HyperConverged Cluster Operator) \
         installed?"
    );
    assert_eq!(
        line_of(&out, "kubevirt-network"),
        "FAIL kubevirt-network: no KubeVirt CR in namespace openshift-cnv: the cluster does not serve KubeVirts \
         (kubevirt.io/v1 is not served)"
    );
    assert!(line_of(&out, "vmi-migrations").starts_with("SKIP"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_exits_2() {
    let fake = FakeApiServer::start(virtualization()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path());
    fake.set_unavailable(true);
    let (code, out, err) = verify(&kubeconfig, &[]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with(&format!(
            "mignet: cannot read the API groups (discovery) from the API server {}/",
            fake.url()
        )),
        "{err}"
    );

    let (code, _, err) = verify(&dir.path().join("missing-kubeconfig"), &[]).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot read kubeconfig") && err.contains("missing-kubeconfig"), "{err}");
}
