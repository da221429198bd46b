//! Port relations as real nodes report them, through `mignet check`: NodeNetworkStates of three
//! nmstate.io versions where bridges and bonds list ports that name no controller (and the reverse),
//! OVN-Kubernetes' br-ex over a bond and over a single NIC, Linux bridges for VM networks, and the
//! NNCPs that build a VM bridge on the migration bond, swap its NICs or use nmstate's `capture`.

mod common;

use common::{repo, run};
use serde_json::Value;

fn fixture(file: &str) -> String {
    repo(&format!("tests/host/relations/{file}"))
}

const STATE: &[&str] =
    &["nodes.yaml", "nns-w1-brex-bond.yaml", "nns-w2-brex-nic.yaml", "nns-w3-v1alpha1.yaml"];

/// `mignet check` of `inputs` with the three workers as the cluster state and the migration NAD and
/// HyperConverged beside them.
fn check(inputs: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["check".to_owned()];
    for s in STATE {
        args.extend(["--cluster-state".to_owned(), fixture(s)]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["nad.yaml", "hyperconverged.yaml"].iter().chain(inputs).map(|f| fixture(f)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, None)
}

/// Every finding of a text report as (object name, severity[rule], field).
fn findings(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|l| l.contains("error[") || l.contains("warning["))
        .map(|l| {
            let (_, rest) = l.split_once(": ").unwrap(); // after path:line
            let (verdict, rest) = rest.split_once(": ").unwrap();
            let (who, rest) = rest.split_once(": ").unwrap();
            let (field, _) = rest.split_once(": ").unwrap();
            let name = who.rsplit(' ').next().unwrap();
            (name.to_owned(), verdict.to_owned(), field.to_owned())
        })
        .collect()
}

fn line<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{out}"))
}

#[test]
fn the_migration_bond_is_admitted_on_every_version_and_spelling() {
    let (code, out, err) = check(&[], &[]);
    assert_eq!((code, out.as_str()), (0, "checked 2 objects: 0 denied, 0 warnings\n"), "{err}");
}

#[test]
fn an_uplink_listed_only_by_br_ex_or_its_bond_is_management_and_a_port() {
    let (code, out, err) = check(&["nad-on-eno1.yaml"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let port = line(&out, "error[nad-master-port]");
    assert!(
        port.ends_with(
            "NetworkAttachmentDefinition openshift-cnv/migration-eno1: spec.config.master: Invalid value: \"eno1\": \
             is a port of bond0 on ocp-w1, of br-ex on ocp-w2: the kernel refuses a macvlan on it (\"device or \
             resource busy\"); use a free NIC, or a bond or VLAN dedicated to migration"
        ),
        "{port}"
    );
    // br-ex's bond with its NICs on ocp-w1, br-ex's single NIC on ocp-w2, the default-route NIC on ocp-w3
    let mgmt = line(&out, "error[nad-master-management]");
    assert!(
        mgmt.contains("part of it on ocp-w1, ocp-w2, ocp-w3 (there: bond0, br-ex, eno1, eno2)"),
        "{mgmt}"
    );
}

#[test]
fn a_bond_listed_only_by_a_vm_bridge_is_a_port() {
    let (code, out, err) = check(&["nad-on-bond1.yaml"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let port = line(&out, "error[nad-master-port]");
    assert!(
        port.contains(
            "\"bond1\": is a port of br-vm on ocp-w1, ocp-w2, of br1 on ocp-w3: the kernel refuses"
        ),
        "{port}"
    );
    assert!(!out.contains("nad-master-management"), "{out}");
}

#[test]
fn nncps_that_bridge_or_rewire_the_migration_bond_are_judged() {
    let (code, out, err) = check(
        &[
            "nncp-vm-bridge-on-bond2.yaml",
            "nncp-ovs-bridge-on-bond2.yaml",
            "nncp-swap-bond2-nics.yaml",
            "nncp-swap-bond2-one-nic.yaml",
            "nncp-remove-bond2-v1alpha1.yaml",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    let f = |name: &str, verdict: &str, field: &str| {
        (name.to_owned(), verdict.to_owned(), format!("spec.desiredState.interfaces[0].{field}"))
    };
    assert_eq!(
        findings(&out),
        [
            f("br1-vm-network", "error[nncp-breaks-migration]", "bridge.port[0].name"),
            f("br-localnet", "error[nncp-breaks-migration]", "bridge.port[0].name"),
            f("bond2-migration", "error[nncp-breaks-migration]", "link-aggregation.port"),
            f("bond2-migration", "warning[nncp-replaces-migration-ports]", "link-aggregation.slaves"),
            f("bond2-absent", "error[nncp-breaks-migration]", "state"),
        ]
    );
    assert!(out.ends_with("checked 7 objects: 4 denied, 1 warning\n"), "{out}");
    let (_, text, _) = check(
        &["nncp-vm-bridge-on-bond2.yaml", "nncp-swap-bond2-nics.yaml", "nncp-swap-bond2-one-nic.yaml"],
        &[],
    );
    assert!(
        line(&text, "nncp-vm-bridge-on-bond2.yaml").ends_with(
            "NodeNetworkConfigurationPolicy br1-vm-network: spec.desiredState.interfaces[0].bridge.port[0].name: \
             Forbidden: \"bond2\" is the live-migration master of NetworkAttachmentDefinition \
             openshift-cnv/migration-bridge on ocp-w1, ocp-w2, ocp-w3 (3 virt-handler nodes): linux-bridge \"br1\" \
             takes it as a port: the kernel refuses to enslave a device that carries macvlans (\"device or resource \
             busy\"), so the policy fails there, and a node it configures first can no longer create migration0"
        ),
        "{text}"
    );
    assert!(
        line(&text, "nncp-swap-bond2-nics.yaml").contains(
            "none of its new ports \"ens5f0\", \"ens5f1\" exists there, so the bond would carry nothing"
        ),
        "{text}"
    );
    assert!(
        line(&text, "warning[nncp-replaces-migration-ports]").contains(
            "drops port \"ens3f1\" of \"bond2\" and adds \"ens4f0\" on ocp-w1, ocp-w2, ocp-w3 (3 virt-handler nodes)"
        ),
        "{text}"
    );
}

#[test]
fn nmstate_capture_is_judged_with_its_values_unknown_not_refused_as_a_template() {
    let (code, out, err) = check(&["nncp-capture.yaml"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        findings(&out),
        [("br1-default-gw".into(), "warning[nncp-capture-unjudged]".into(), "spec.capture".into())]
    );

    // a Helm action in the same policy is still an unrendered template
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("nncp-capture.yaml")).unwrap();
    let helm = dir.path().join("helm.yaml");
    std::fs::write(&helm, text.replace("name: br1-default-gw", "name: \"{{ .Release.Name }}-br1\"")).unwrap();
    let (code, out, err) = run(&["check", helm.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("metadata.name holds an unrendered template \"{{ .Release.Name }}-br1\""), "{out}");
    let mixed = dir.path().join("mixed.yaml");
    std::fs::write(&mixed, text.replace("{{ capture.base-iface.interfaces.0.name }}", "{{ .Values.nic }}"))
        .unwrap();
    let (code, out, _) = run(&["check", mixed.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("spec.desiredState.interfaces[0].bridge.port[0].name holds an unrendered template"),
        "{out}"
    );
}

#[test]
fn a_known_nmstate_kind_in_an_unknown_version_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("nns-w1-brex-bond.yaml")).unwrap();
    let v2 = dir.path().join("nns-v2.yaml");
    std::fs::write(&v2, text.replace("nmstate.io/v1beta1", "nmstate.io/v2")).unwrap();
    let nncp = std::fs::read_to_string(fixture("nncp-vm-bridge-on-bond2.yaml")).unwrap();
    let nncp_v2 = dir.path().join("nncp-v2.yaml");
    std::fs::write(&nncp_v2, nncp.replace("nmstate.io/v1", "nmstate.io/v2")).unwrap();
    let (code, out, err) =
        run(&["check", "--cluster-state", v2.to_str().unwrap(), nncp_v2.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}{err}");
    for (file, what) in [
        ("nns-v2.yaml", "NodeNetworkState ocp-w1"),
        ("nncp-v2.yaml", "NodeNetworkConfigurationPolicy br1-vm-network"),
    ] {
        let l = line(&out, file);
        assert!(
            l.contains(&format!(
                "{what}: apiVersion \"nmstate.io/v2\" is not one mignet reads (nmstate.io/v1, v1beta1 and v1alpha1 of "
            )),
            "{l}"
        );
    }
}

/// Relations that loop, repeat or go on: the verdict comes, and nothing crashes.
#[test]
fn cyclic_self_listed_and_huge_port_relations_still_get_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut nns: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(fixture("nns-w2-brex-nic.yaml")).unwrap()).unwrap();
    let list = nns["status"]["currentState"]["interfaces"].as_array_mut().unwrap();
    list.extend([
        serde_json::json!({"name":"cyc-a","type":"bond","link-aggregation":{"port":["cyc-b"]}}),
        serde_json::json!({"name":"cyc-b","type":"bond","controller":"cyc-a","link-aggregation":{"port":["cyc-a"]}}),
        serde_json::json!({"name":"loop0","type":"bond","controller":"loop0","link-aggregation":{"port":["loop0"]}}),
        serde_json::json!({"name":"br-two","type":"linux-bridge","bridge":{"port":[{"name":"ens4f0"}]}}),
    ]);
    let ports: Vec<Value> = (0..10_000).map(|i| serde_json::json!({"name": format!("tap{i}")})).collect();
    list.push(serde_json::json!({"name":"br-vm","type":"ovs-bridge","state":"up","bridge":{"port": ports}}));
    for i in 0..10_000 {
        list.push(serde_json::json!({"name": format!("tap{i}"), "type": "tun", "state": "up"}));
    }
    // br-vm over bond1 lists ens4f0 too: listed by two bridges
    list.iter_mut().find(|i| i["name"] == "br-vm").unwrap()["bridge"]["port"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name":"ens4f0"}));
    let path = dir.path().join("nns.json");
    std::fs::write(&path, nns.to_string()).unwrap();
    let (code, out, err) = run(
        &[
            "check",
            "--cluster-state",
            &fixture("nodes.yaml"),
            "--cluster-state",
            path.to_str().unwrap(),
            &fixture("nad.yaml"),
            &fixture("nncp-vm-bridge-on-bond2.yaml"),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    // ocp-w2 is read (the others have no state): bond2 is denied on it, and unknown elsewhere
    assert!(out.contains("nncp-vm-bridge-on-bond2.yaml:2: error[nncp-breaks-migration]"), "{out}");
    assert!(
        out.contains("warning[nad-master-unknown]") && out.contains("2 of 3 virt-handler nodes"),
        "{out}"
    );
}
