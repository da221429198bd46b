//! Check `host-master`: the migration NAD's macvlan master is present and up on every virt-handler
//! node, as kubernetes-nmstate's NodeNetworkStates report it. Without NodeNetworkStates (the
//! operator is not installed, or none was dumped) there is nothing to judge and the check is left out.

use super::{Check, CheckId, Detail, Resource, Scene, Status};
use crate::policy::{cni::NetConf, feed, object};

/// The check, or `None` when no NodeNetworkState is among the inputs.
pub(super) fn master(scene: &Scene<'_>) -> Option<Check> {
    let id = CheckId::HostMaster;
    if scene.inputs.of(Resource::NodeNetworkState).is_empty() {
        return None;
    }
    let Some(target) = &scene.target else {
        return Some(Check::new(id, Status::Skip, "no live-migration network to check the hosts for"));
    };
    let Some(obj) = target.object else {
        let why = format!("NetworkAttachmentDefinition {} not found (see hc-network)", target.nad);
        return Some(Check::new(id, Status::Skip, why));
    };
    let conf = object::get(&obj.data, &["spec", "config"])
        .and_then(|c| c.as_str())
        .and_then(|c| NetConf::parse(c).ok());
    let master = conf.as_ref().filter(|c| c.main_type() == "macvlan").and_then(NetConf::master);
    let Some(master) = master else {
        let why =
            format!("NetworkAttachmentDefinition {} names no macvlan master (see hc-network)", target.nad);
        return Some(Check::new(id, Status::Skip, why));
    };
    let kinds = [Resource::Node, Resource::NodeNetworkState];
    let view = feed::view_of(scene.policy, kinds.iter().flat_map(|r| scene.inputs.of(*r)));
    let nodes: Vec<&str> = view.virt_handler_node_names().collect();
    if nodes.is_empty() {
        let why = format!(
            "no Node{}: which nodes run virt-handler is unknown",
            scene.dump_hint("oc get nodes -o yaml")
        );
        return Some(Check::new(id, Status::Skip, why));
    }
    let mut details = Vec::new();
    let (mut missing, mut down, mut unknown) = (0, 0, 0);
    for node in &nodes {
        match view.host_network(node) {
            None => {
                unknown += 1;
                details.push(Detail::fail(format!(
                    "{node}: no NodeNetworkState: {master} cannot be checked there"
                )));
            }
            Some(Err(e)) => {
                unknown += 1;
                details.push(Detail::fail(format!("{node}: NodeNetworkState unreadable ({e})")));
            }
            Some(Ok(h)) => match h.facts(master) {
                None => {
                    missing += 1;
                    details.push(Detail::fail(format!(
                        "{node}: no {master}: virt-handler cannot attach migration0 there"
                    )));
                }
                Some(f) if f.state.is_down() => {
                    down += 1;
                    details.push(Detail::fail(format!("{node}: {master} is {}", f.state.describe())));
                }
                Some(f) => {
                    let mtu = f.mtu.map(|m| format!(", MTU {m}")).unwrap_or_default();
                    details.push(Detail::ok(format!("{node}: {master} {}{mtu}", f.state.describe())));
                }
            },
        }
    }
    let n = nodes.len();
    let check = if missing + down + unknown == 0 {
        Check::new(id, Status::Pass, format!("{master} is present and up on all {n} virt-handler nodes"))
    } else {
        let mut parts = Vec::new();
        for (count, what) in [(missing, "missing"), (down, "down"), (unknown, "unknown")] {
            if count > 0 {
                parts.push(format!("{what} on {count}"));
            }
        }
        Check::new(id, Status::Fail, format!("{master} is {} of {n} virt-handler nodes", parts.join(", ")))
    };
    Some(check.with(details))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::{Inputs, Options, verify};
    use super::*;
    use crate::policy::{
        Policy,
        testutil::{edit_iface, hc, nad, node, obj, ovn_state, reference_config, reference_hc_lm},
    };

    fn run(states: &[Option<Value>]) -> Option<Check> {
        let mut inputs = Inputs::new();
        inputs.add(hc(crate::policy::HcVersion::V1Beta1, reference_hc_lm()));
        inputs.add(nad(&reference_config()));
        for (i, s) in states.iter().enumerate() {
            let name = format!("worker-{i}");
            inputs.add(node(&name, true));
            if let Some(s) = s {
                let mut s = s.clone();
                s["metadata"]["name"] = json!(name);
                inputs.add(obj(s));
            }
        }
        let options = Options { namespace: "openshift-cnv".into(), vmi: None, from_files: true };
        let report = verify(&Policy::default(), &inputs, &options);
        report.checks.into_iter().find(|c| c.id == CheckId::HostMaster)
    }

    #[test]
    fn without_node_network_states_the_check_is_left_out() {
        assert_eq!(run(&[None, None]), None);
    }

    #[test]
    fn passes_when_the_master_is_up_everywhere() {
        let c = run(&[Some(ovn_state("w", 30)), Some(ovn_state("w", 31))]).unwrap();
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Pass, "bond2 is present and up on all 2 virt-handler nodes")
        );
        assert_eq!(c.details[0], Detail::ok("worker-0: bond2 up, MTU 9000"));
    }

    #[test]
    fn fails_on_missing_down_and_unknown_nodes() {
        let c = run(&[
            Some(edit_iface(&ovn_state("w", 30), "bond2", Value::Null)),
            Some(edit_iface(&ovn_state("w", 31), "bond2", json!({"state": "down"}))),
            None,
            Some(ovn_state("w", 33)),
        ])
        .unwrap();
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.evidence, "bond2 is missing on 1, down on 1, unknown on 1 of 4 virt-handler nodes");
        assert_eq!(
            c.details,
            [
                Detail::fail("worker-0: no bond2: virt-handler cannot attach migration0 there"),
                Detail::fail("worker-1: bond2 is down"),
                Detail::fail("worker-2: no NodeNetworkState: bond2 cannot be checked there"),
                Detail::ok("worker-3: bond2 up, MTU 9000"),
            ]
        );
    }
}
