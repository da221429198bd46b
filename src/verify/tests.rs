//! The five checks over hand-built objects: every pass, every failure, and what the evidence says.

use serde_json::{Value, json};

use super::*;

const NS: &str = "openshift-cnv";
const GOOD_CONFIG: &str = r#"{"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;

fn nad(name: &str, config: &str) -> Value {
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": NS}, "spec": {"config": config}})
}

fn hc_v1beta1(network: Option<&str>) -> Value {
    json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
           "metadata": {"name": "kubevirt-hyperconverged", "namespace": NS},
           "spec": {"liveMigrationConfig": {"network": network, "completionTimeoutPerGiB": 150}}})
}

fn hc_v1(network: &str) -> Value {
    json!({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
           "metadata": {"name": "kubevirt-hyperconverged", "namespace": NS},
           "spec": {"virtualization": {"liveMigrationConfig": {"network": network}}}})
}

fn kubevirt(network: Option<&str>) -> Value {
    json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
           "metadata": {"name": "kubevirt-kubevirt-hyperconverged", "namespace": NS},
           "spec": {"configuration": {"migrations": {"network": network}}}})
}

fn status(interface: &str, network: &str, ip: &str) -> String {
    json!([
        {"name": "ovn-kubernetes", "interface": "eth0", "ips": ["10.128.2.7"], "default": true},
        {"name": network, "interface": interface, "ips": [ip], "mac": "0a:58:c0:a8:63:0a", "dns": {}}
    ])
    .to_string()
}

fn handler(name: &str, node: &str, network_status: Option<String>, ready: bool) -> Value {
    let mut annotations = json!({"k8s.v1.cni.cncf.io/networks": "migration-bridge@migration0"});
    if let Some(s) = network_status {
        annotations["k8s.v1.cni.cncf.io/network-status"] = Value::String(s);
    }
    let ready = if ready { "True" } else { "False" };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": NS, "labels": {"kubevirt.io": "virt-handler"},
                        "annotations": annotations},
           "spec": {"nodeName": node},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}})
}

fn attached(i: usize) -> Value {
    attached_at(i, &format!("192.168.99.{}", 10 + i))
}

/// A ready virt-handler on worker-`i` with `ip` on the migration network.
fn attached_at(i: usize, ip: &str) -> Value {
    handler(
        &format!("virt-handler-{i}"),
        &format!("worker-{i}"),
        Some(status("migration0", "openshift-cnv/migration-bridge", ip)),
        true,
    )
}

fn node(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": format!("worker-{i}"), "labels": {"kubevirt.io/schedulable": "true"}}})
}

fn vmi(name: &str, target: Option<&str>) -> Value {
    let state = target.map(|t| {
        json!({"sourceNode": "worker-0", "targetNode": "worker-1", "targetNodeAddress": t,
               "completed": true, "endTimestamp": "2025-05-01T10:00:00Z"})
    });
    json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
           "metadata": {"name": name, "namespace": "vms"}, "status": {"migrationState": state}})
}

/// A cluster where everything is right: three nodes, three attached virt-handlers, two proofs.
fn healthy() -> Vec<Value> {
    let mut v = vec![
        hc_v1beta1(Some("migration-bridge")),
        nad("migration-bridge", GOOD_CONFIG),
        kubevirt(Some("migration-bridge")),
    ];
    v.extend((0..3).map(attached));
    v.extend((0..3).map(node));
    v.push(vmi("rhel9", Some("192.168.99.11")));
    v.push(vmi("fedora", Some("192.168.99.12")));
    v.push(vmi("never-moved", None));
    v
}

fn inputs(values: Vec<Value>) -> Inputs {
    let mut inputs = Inputs::new();
    for v in values {
        inputs.add(serde_json::from_value(v).unwrap());
    }
    inputs
}

fn options(vmi: Option<&str>) -> Options {
    Options { namespace: NS.into(), vmi: vmi.map(|v| v.parse().unwrap()), from_files: true }
}

fn run_with(values: Vec<Value>, vmi: Option<&str>) -> Report {
    verify(&Policy::default(), &inputs(values), &options(vmi))
}

fn run(values: Vec<Value>) -> Report {
    run_with(values, None)
}

fn check(report: &Report, id: CheckId) -> &Check {
    report.checks.iter().find(|c| c.id == id).unwrap()
}

fn statuses(report: &Report) -> Vec<Status> {
    report.checks.iter().map(|c| c.status).collect()
}

fn texts(c: &Check, mark: Mark) -> Vec<&str> {
    c.details.iter().filter(|d| d.status == mark).map(|d| d.text.as_str()).collect()
}

/// Replaces the objects for which `pick` is true.
fn replace(mut values: Vec<Value>, pick: impl Fn(&Value) -> bool, with: Vec<Value>) -> Vec<Value> {
    values.retain(|v| !pick(v));
    values.extend(with);
    values
}

fn is_kind(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["kind"] == kind
}

fn is_named(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["metadata"]["name"] == name
}

#[test]
fn healthy_cluster_passes_every_check_with_evidence() {
    let r = run(healthy());
    assert_eq!(statuses(&r), vec![Status::Pass; 5], "{r:#?}");
    assert!(!r.failed());
    assert_eq!(r.network.as_deref(), Some("openshift-cnv/migration-bridge"));
    assert_eq!(r.ranges, vec!["192.168.99.0/24"]);
    assert_eq!(
        check(&r, CheckId::HcNetwork).evidence,
        "HyperConverged openshift-cnv/kubevirt-hyperconverged has spec.liveMigrationConfig.network = \
         \"migration-bridge\": NetworkAttachmentDefinition openshift-cnv/migration-bridge (192.168.99.0/24) \
         exists and passes every migration NAD rule"
    );
    assert_eq!(
        check(&r, CheckId::VirtHandlerAttached).evidence,
        "3 virt-handler pods attached to openshift-cnv/migration-bridge on migration0 with an address in \
         192.168.99.0/24, all Ready"
    );
    assert_eq!(
        texts(check(&r, CheckId::VirtHandlerAttached), Mark::Ok)[0],
        "Pod openshift-cnv/virt-handler-0 on worker-0: migration0 192.168.99.10, Ready"
    );
    assert_eq!(
        check(&r, CheckId::AddressHeadroom).evidence,
        "3 of 254 addresses in use in 192.168.99.0/24 (251 free), for 3 virt-handler nodes"
    );
    let vmis = check(&r, CheckId::VmiMigrations);
    assert_eq!(vmis.evidence, "2 migrations targeted addresses in 192.168.99.0/24: the dedicated network");
    assert_eq!(
        texts(vmis, Mark::Ok),
        vec![
            "VMI vms/fedora: migration worker-0 -> worker-1 (completed 2025-05-01T10:00:00Z) targeted \
             192.168.99.12, in 192.168.99.0/24: the dedicated network",
            "VMI vms/rhel9: migration worker-0 -> worker-1 (completed 2025-05-01T10:00:00Z) targeted \
             192.168.99.11, in 192.168.99.0/24: the dedicated network",
        ]
    );
}

#[test]
fn v1_layout_is_read_at_its_own_path() {
    let r = run(replace(healthy(), is_kind("HyperConverged"), vec![hc_v1("migration-bridge")]));
    assert_eq!(statuses(&r), vec![Status::Pass; 5]);
    assert!(
        check(&r, CheckId::HcNetwork).evidence.contains("spec.virtualization.liveMigrationConfig.network")
    );
}

#[test]
fn network_at_the_other_versions_path_is_read_with_a_note() {
    let mut hc = hc_v1("migration-bridge");
    hc["apiVersion"] = json!("hco.kubevirt.io/v1beta1");
    let r = run(replace(healthy(), is_kind("HyperConverged"), vec![hc]));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Pass);
    assert!(texts(c, Mark::Note)[0].contains("although the object says hco.kubevirt.io/v1beta1"), "{c:?}");
}

#[test]
fn no_network_configured_fails_and_explains() {
    let values = replace(
        healthy(),
        |v| is_kind("HyperConverged")(v) || is_kind("KubeVirt")(v),
        vec![hc_v1beta1(None), kubevirt(None)],
    );
    let r = run(values);
    assert_eq!(statuses(&r), vec![Status::Fail, Status::Skip, Status::Skip, Status::Skip, Status::Skip]);
    assert!(r.failed());
    assert_eq!(
        check(&r, CheckId::HcNetwork).evidence,
        "HyperConverged openshift-cnv/kubevirt-hyperconverged sets no spec.liveMigrationConfig.network: live \
         migrations use the pod network; set it to the name of the migration NetworkAttachmentDefinition in \
         openshift-cnv"
    );
    assert!(check(&r, CheckId::VmiMigrations).evidence.contains("every migration uses the pod network"));
    assert_eq!(r.network, None);
}

#[test]
fn missing_hyperconverged_points_at_the_namespace_it_is_in() {
    let mut hc = hc_v1beta1(Some("migration-bridge"));
    hc["metadata"]["namespace"] = json!("kubevirt-hyperconverged");
    let r = run(replace(healthy(), is_kind("HyperConverged"), vec![hc]));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("run with --namespace kubevirt-hyperconverged"), "{}", c.evidence);
    // without a HyperConverged, the KubeVirt CR's network is still verified
    assert_eq!(r.network.as_deref(), Some("openshift-cnv/migration-bridge"));
    assert_eq!(check(&r, CheckId::KubevirtNetwork).status, Status::Skip);
    assert_eq!(check(&r, CheckId::VirtHandlerAttached).status, Status::Pass);
}

#[test]
fn unserved_hyperconverged_api_says_so() {
    let mut i = inputs(replace(healthy(), is_kind("HyperConverged"), vec![]));
    i.set_unavailable(Resource::HyperConverged, "API group hco.kubevirt.io is not served");
    let r = verify(&Policy::default(), &i, &Options { from_files: false, ..options(None) });
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("does not serve HyperConvergeds (API group hco.kubevirt.io is not served)"));
}

#[test]
fn missing_nad_fails_and_lists_what_is_there() {
    let values =
        replace(healthy(), is_kind("NetworkAttachmentDefinition"), vec![nad("other-net", GOOD_CONFIG)]);
    let r = run(values);
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("NetworkAttachmentDefinition openshift-cnv/migration-bridge does not exist"));
    assert!(
        c.evidence
            .contains("(dump it with `oc get network-attachment-definitions -n openshift-cnv -o yaml`)")
    );
    assert_eq!(texts(c, Mark::Note), vec!["NetworkAttachmentDefinitions in openshift-cnv: other-net"]);
    assert_eq!(check(&r, CheckId::AddressHeadroom).status, Status::Skip);
    assert_eq!(check(&r, CheckId::VmiMigrations).status, Status::Skip);
    assert!(r.ranges.is_empty());
}

#[test]
fn nad_breaking_a_rule_fails_with_the_rule() {
    let broken = GOOD_CONFIG.replace(r#""master":"bond2","#, "");
    let r = run(replace(
        healthy(),
        is_kind("NetworkAttachmentDefinition"),
        vec![nad("migration-bridge", &broken)],
    ));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.ends_with("fails 1 migration NAD rule"), "{}", c.evidence);
    assert!(texts(c, Mark::Fail)[0].starts_with("[nad-master] spec.config.master: Required value"), "{c:?}");
    // the range is still known, so the later checks still run
    assert_eq!(check(&r, CheckId::VmiMigrations).status, Status::Pass);
}

#[test]
fn nad_opted_out_by_label_is_judged_anyway() {
    let mut n = nad("migration-bridge", &GOOD_CONFIG.replace(r#""master":"bond2","#, ""));
    n["metadata"]["labels"] = json!({"mignet.io/live-migration": "false"});
    let r = run(replace(healthy(), is_kind("NetworkAttachmentDefinition"), vec![n]));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(texts(c, Mark::Note)[0].contains("labelled mignet.io/live-migration=false"));
}

#[test]
fn network_given_as_namespace_and_name_fails() {
    let r = run(replace(
        healthy(),
        is_kind("HyperConverged"),
        vec![hc_v1beta1(Some("openshift-cnv/migration-bridge"))],
    ));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("must be a NetworkAttachmentDefinition name only"));
}

#[test]
fn kubevirt_cr_out_of_step_fails() {
    let r = run(replace(healthy(), is_kind("KubeVirt"), vec![kubevirt(Some("old-net"))]));
    let c = check(&r, CheckId::KubevirtNetwork);
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("= \"old-net\", but the HyperConverged says \"migration-bridge\""));
    let r = run(replace(healthy(), is_kind("KubeVirt"), vec![kubevirt(None)]));
    assert!(
        check(&r, CheckId::KubevirtNetwork)
            .evidence
            .contains("sets no spec.configuration.migrations.network")
    );
    let r = run(replace(healthy(), is_kind("KubeVirt"), vec![]));
    let c = check(&r, CheckId::KubevirtNetwork);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.evidence,
        "no KubeVirt CR in namespace openshift-cnv (dump it with `oc get kubevirt -n openshift-cnv -o yaml`)"
    );
}

#[test]
fn each_way_a_virt_handler_can_be_detached_is_explained() {
    let broken = vec![
        handler("virt-handler-0", "worker-0", None, true),
        handler(
            "virt-handler-1",
            "worker-1",
            Some(status("net1", "openshift-cnv/migration-bridge", "192.168.99.11")),
            true,
        ),
        handler(
            "virt-handler-2",
            "worker-2",
            Some(status("migration0", "openshift-cnv/old-net", "192.168.99.12")),
            true,
        ),
        attached_at(3, "10.1.2.3"),
        handler("virt-handler-4", "worker-4", Some("[{\"name\": ".into()), true),
        handler(
            "virt-handler-5",
            "worker-5",
            Some(status("migration0", "openshift-cnv/migration-bridge", "192.168.99.15")),
            false,
        ),
        handler(
            "virt-handler-6",
            "worker-6",
            Some(json!([{"name": "ovn-kubernetes", "interface": "eth0"}]).to_string()),
            true,
        ),
        handler(
            "virt-handler-7",
            "worker-7",
            Some(
                json!([{"name": "openshift-cnv/migration-bridge", "interface": "migration0", "ips": []}])
                    .to_string(),
            ),
            true,
        ),
    ];
    let r = run(replace(healthy(), is_kind("Pod"), broken));
    let c = check(&r, CheckId::VirtHandlerAttached);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.evidence,
        "7 of 8 virt-handler pods not attached to openshift-cnv/migration-bridge on migration0; 1 not Ready"
    );
    let fails = texts(c, Mark::Fail);
    let expect = [
        "virt-handler-0 on worker-0: no k8s.v1.cni.cncf.io/network-status annotation",
        "virt-handler-1 on worker-1: openshift-cnv/migration-bridge is attached as net1, not migration0",
        "virt-handler-2 on worker-2: migration0 is openshift-cnv/old-net, not openshift-cnv/migration-bridge",
        "virt-handler-3 on worker-3: migration0 address 10.1.2.3 is outside the migration range 192.168.99.0/24",
        "virt-handler-4 on worker-4: annotation k8s.v1.cni.cncf.io/network-status is not valid JSON",
        "virt-handler-5 on worker-5: migration0 192.168.99.15, but not Ready (phase Running)",
        "virt-handler-6 on worker-6: no migration0 in k8s.v1.cni.cncf.io/network-status (attached: ovn-kubernetes)",
        "virt-handler-7 on worker-7: migration0 has no IP address",
    ];
    assert_eq!(fails.len(), expect.len(), "{fails:#?}");
    for (got, want) in fails.iter().zip(expect) {
        assert!(
            got.starts_with(&format!("Pod openshift-cnv/{want}")),
            "{got}\n  does not start with\n{want}"
        );
    }
    assert!(
        fails[6].ends_with("the pod requests \"migration-bridge@migration0\" (k8s.v1.cni.cncf.io/networks)")
    );
}

#[test]
fn no_virt_handler_pods_fails() {
    let r = run(replace(healthy(), is_kind("Pod"), vec![]));
    let c = check(&r, CheckId::VirtHandlerAttached);
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.evidence
            .starts_with("no virt-handler pods (label kubevirt.io=virt-handler) in namespace openshift-cnv")
    );
}

#[test]
fn a_range_smaller_than_the_nodes_fails_headroom() {
    let small = GOOD_CONFIG.replace("192.168.99.0/24", "192.168.99.8/30");
    let pods = vec![
        attached_at(0, "192.168.99.9"),
        attached_at(1, "192.168.99.10"),
        handler("virt-handler-2", "worker-2", None, false),
    ];
    let values = replace(healthy(), |v| is_kind("NetworkAttachmentDefinition")(v) || is_kind("Pod")(v), pods);
    let r =
        run(replace(values, is_kind("NetworkAttachmentDefinition"), vec![nad("migration-bridge", &small)]));
    let c = check(&r, CheckId::AddressHeadroom);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.evidence, "2 of 2 addresses in use in 192.168.99.8/30 (0 free), for 3 virt-handler nodes");
    assert!(texts(c, Mark::Fail)[0].contains("2 usable addresses for 3 virt-handler nodes"));
    // the NAD rules see the same shortage
    assert!(texts(check(&r, CheckId::HcNetwork), Mark::Fail).iter().any(|t| t.starts_with("[nad-capacity]")));
}

#[test]
fn duplicate_addresses_fail_headroom() {
    let pods = vec![attached_at(0, "192.168.99.10"), attached_at(1, "192.168.99.10")];
    let r = run(replace(healthy(), is_kind("Pod"), pods));
    let c = check(&r, CheckId::AddressHeadroom);
    assert_eq!(c.status, Status::Fail);
    assert!(texts(c, Mark::Fail)[0].starts_with("192.168.99.10 is on virt-handler-0 and virt-handler-1"));
}

#[test]
fn little_room_is_a_note_not_a_failure() {
    let tight = GOOD_CONFIG.replace(
        r#""range":"192.168.99.0/24""#,
        r#""range":"192.168.99.0/24","range_start":"192.168.99.10","range_end":"192.168.99.14""#,
    );
    let r = run(replace(
        healthy(),
        is_kind("NetworkAttachmentDefinition"),
        vec![nad("migration-bridge", &tight)],
    ));
    let c = check(&r, CheckId::AddressHeadroom);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.evidence, "3 of 5 addresses in use in 192.168.99.0/24 (2 free), for 3 virt-handler nodes");
    assert_eq!(
        texts(c, Mark::Note),
        vec!["192.168.99.0/24: 5 addresses for 3 virt-handler nodes: little room to grow"]
    );
}

#[test]
fn a_migration_over_the_pod_network_fails() {
    let r = run(replace(healthy(), is_named("fedora"), vec![vmi("fedora", Some("10.129.2.15"))]));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.evidence, "1 of 2 migrated VMIs did not use the dedicated network (192.168.99.0/24)");
    assert!(
        texts(c, Mark::Fail)[0]
            .contains("targeted 10.129.2.15, outside 192.168.99.0/24: it went over the pod network")
    );
    assert_eq!(texts(c, Mark::Ok).len(), 1);
}

#[test]
fn nothing_migrated_yet_is_skipped_not_failed() {
    let r = run(replace(healthy(), is_kind("VirtualMachineInstance"), vec![vmi("never-moved", None)]));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Skip);
    assert!(c.evidence.starts_with("no VMI has a migration to judge yet"));
    assert!(!r.failed());
}

#[test]
fn migration_without_target_address_is_only_a_note() {
    let mut pending = vmi("pending", Some("x"));
    pending["status"]["migrationState"] = json!({"sourceNode": "worker-0", "targetNode": "worker-2"});
    let r = run(replace(healthy(), is_kind("VirtualMachineInstance"), vec![pending]));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Skip);
    assert_eq!(
        texts(c, Mark::Note),
        vec![
            "VMI vms/pending: migration worker-0 -> worker-2 (in progress) has no targetNodeAddress: the target never listened"
        ]
    );
}

#[test]
fn one_vmi_by_name() {
    let r = run_with(healthy(), Some("rhel9"));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.details.len(), 1);
    assert!(c.details[0].text.starts_with("VMI vms/rhel9:"));
    let r = run_with(healthy(), Some("vms/never-moved"));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Fail);
    assert!(texts(c, Mark::Fail)[0].contains(
        "has not migrated (no status.migrationState): migrate it (`virtctl migrate never-moved -n vms`)"
    ));
    let r = run_with(healthy(), Some("other/rhel9"));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.evidence, "no VirtualMachineInstance other/rhel9 (dump it with `oc get vmi -A -o yaml`)");
}

#[test]
fn target_address_that_is_not_an_ip_fails() {
    let r = run(replace(healthy(), is_named("fedora"), vec![vmi("fedora", Some("pod-network"))]));
    let c = check(&r, CheckId::VmiMigrations);
    assert_eq!(c.status, Status::Fail);
    assert!(texts(c, Mark::Fail)[0].ends_with("targetNodeAddress \"pod-network\" is not an IP address"));
}

#[test]
fn vmi_refs_parse() {
    assert_eq!("a".parse::<VmiRef>().unwrap(), VmiRef { namespace: None, name: "a".into() });
    assert_eq!("n/a".parse::<VmiRef>().unwrap().to_string(), "n/a");
    for bad in ["", "/a", "n/", "a/b/c"] {
        assert!(bad.parse::<VmiRef>().is_err(), "{bad}");
    }
}

#[test]
fn a_network_that_is_not_a_string_fails() {
    let mut hc = hc_v1beta1(None);
    hc["spec"]["liveMigrationConfig"]["network"] = json!(7);
    let r = run(replace(healthy(), is_kind("HyperConverged"), vec![hc]));
    let c = check(&r, CheckId::HcNetwork);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.evidence,
        "HyperConverged openshift-cnv/kubevirt-hyperconverged: spec.liveMigrationConfig.network: Invalid \
         value: 7: must be a NetworkAttachmentDefinition name"
    );
}
