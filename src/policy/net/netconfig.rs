//! OpenShift's own description of its networks, read into the ranges a migration subnet must avoid.

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

use crate::policy::object::get;
use crate::policy::view::{Discovered, ReservedKind};

fn cidrs<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<IpNet> {
    values
        .filter_map(Value::as_str)
        .filter_map(|s| s.trim().parse::<IpNet>().ok())
        .map(|n| n.trunc())
        .collect()
}

fn list<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a Value> {
    get(v, path).and_then(Value::as_array).into_iter().flatten()
}

/// Pod, service and external IP ranges from `networks.config.openshift.io/cluster`; status wins over
/// spec because it is what the cluster actually runs.
pub fn cluster_network(data: &Value) -> Vec<(ReservedKind, Discovered)> {
    let mut out = Vec::new();
    let pick = |field: &str, extract: &dyn Fn(&Value, &str) -> Vec<IpNet>| {
        let status = extract(data, "status");
        if !status.is_empty() {
            return Some(Discovered { nets: status, source: format!("Network cluster status.{field}") });
        }
        let spec = extract(data, "spec");
        (!spec.is_empty()).then(|| Discovered { nets: spec, source: format!("Network cluster spec.{field}") })
    };
    let pod = |v: &Value, at: &str| cidrs(list(v, &[at, "clusterNetwork"]).filter_map(|e| e.get("cidr")));
    let service = |v: &Value, at: &str| cidrs(list(v, &[at, "serviceNetwork"]));
    if let Some(d) = pick("clusterNetwork", &pod) {
        out.push((ReservedKind::Pod, d));
    }
    if let Some(d) = pick("serviceNetwork", &service) {
        out.push((ReservedKind::Service, d));
    }
    let mut external = cidrs(list(data, &["spec", "externalIP", "autoAssignCIDRs"]));
    external.extend(cidrs(list(data, &["spec", "externalIP", "policy", "allowedCIDRs"])));
    if !external.is_empty() {
        out.push((
            ReservedKind::ExternalIp,
            Discovered { nets: external, source: "Network cluster spec.externalIP".into() },
        ));
    }
    out
}

/// OVN-Kubernetes internal subnets overridden in `networks.operator.openshift.io/cluster`, per family;
/// the caller keeps the default for a family that is not overridden.
pub fn operator_network(data: &Value) -> Vec<(ReservedKind, IpNet, String)> {
    let ovn = ["spec", "defaultNetwork", "ovnKubernetesConfig"];
    let at = |rest: &[&str]| -> Option<IpNet> {
        let path: Vec<&str> = ovn.iter().chain(rest).copied().collect();
        get(data, &path)?.as_str()?.trim().parse::<IpNet>().ok().map(|n| n.trunc())
    };
    let candidates: [(ReservedKind, &[&[&str]]); 3] = [
        (
            ReservedKind::OvnJoin,
            &[
                &["ipv4", "internalJoinSubnet"],
                &["v4InternalSubnet"],
                &["ipv6", "internalJoinSubnet"],
                &["v6InternalSubnet"],
            ],
        ),
        (
            ReservedKind::OvnTransit,
            &[&["ipv4", "internalTransitSwitchSubnet"], &["ipv6", "internalTransitSwitchSubnet"]],
        ),
        (
            ReservedKind::OvnMasquerade,
            &[
                &["gatewayConfig", "ipv4", "internalMasqueradeSubnet"],
                &["gatewayConfig", "ipv6", "internalMasqueradeSubnet"],
            ],
        ),
    ];
    let mut out: Vec<(ReservedKind, IpNet, String)> = Vec::new();
    for (kind, paths) in candidates {
        for path in paths {
            if let Some(net) = at(path) {
                let same_family =
                    out.iter().any(|(k, n, _)| *k == kind && n.max_prefix_len() == net.max_prefix_len());
                if !same_family {
                    out.push((
                        kind,
                        net,
                        format!("Network.operator cluster ovnKubernetesConfig.{}", path.join(".")),
                    ));
                }
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct InstallConfig {
    #[serde(default)]
    networking: Networking,
}

#[derive(Deserialize, Default)]
struct Networking {
    #[serde(default, rename = "machineNetwork")]
    machine_network: Vec<MachineNetwork>,
}

#[derive(Deserialize)]
struct MachineNetwork {
    cidr: String,
}

/// The machine network from the installer's `install-config` YAML. Only `networking.machineNetwork`
/// is read: the rest of that document (pull secret, SSH keys) is never kept.
pub fn machine_network(install_config: &str) -> Result<Vec<IpNet>, String> {
    let parsed: InstallConfig = serde_saphyr::from_str(install_config)
        .map_err(|e| format!("install-config is not valid YAML: {e}"))?;
    parsed
        .networking
        .machine_network
        .iter()
        .map(|m| {
            m.cidr
                .trim()
                .parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| format!("machineNetwork cidr {:?} is not a CIDR", m.cidr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefers_status_over_spec() {
        let data = json!({
            "spec": {"clusterNetwork": [{"cidr": "10.128.0.0/14", "hostPrefix": 23}], "serviceNetwork": ["172.30.0.0/16"],
                     "externalIP": {"autoAssignCIDRs": ["192.0.2.0/24"], "policy": {"allowedCIDRs": ["198.51.100.0/24"]}}},
            "status": {"clusterNetwork": [{"cidr": "10.132.0.0/14"}], "serviceNetwork": []}
        });
        let got = cluster_network(&data);
        assert_eq!(got[0].0, ReservedKind::Pod);
        assert_eq!(got[0].1.nets, vec!["10.132.0.0/14".parse::<IpNet>().unwrap()]);
        assert!(got[0].1.source.contains("status"));
        assert_eq!(got[1].0, ReservedKind::Service);
        assert!(got[1].1.source.contains("spec"));
        assert_eq!(got[2].0, ReservedKind::ExternalIp);
        assert_eq!(got[2].1.nets.len(), 2);
    }

    #[test]
    fn empty_network_config_discovers_nothing() {
        assert!(cluster_network(&json!({})).is_empty());
        assert!(operator_network(&json!({})).is_empty());
    }

    #[test]
    fn reads_ovn_overrides_per_family() {
        let data = json!({"spec": {"defaultNetwork": {"ovnKubernetesConfig": {
            "ipv4": {"internalJoinSubnet": "100.70.0.0/16"},
            "v4InternalSubnet": "100.71.0.0/16",
            "gatewayConfig": {"ipv6": {"internalMasqueradeSubnet": "fd69::/125"}}}}}});
        let got = operator_network(&data);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].1.to_string()), (ReservedKind::OvnJoin, "100.70.0.0/16".into()));
        assert_eq!((got[1].0, got[1].1.to_string()), (ReservedKind::OvnMasquerade, "fd69::/125".into()));
    }

    #[test]
    fn reads_only_the_machine_network() {
        let ic = "apiVersion: v1\npullSecret: '{\"auths\":{}}'\nnetworking:\n  machineNetwork:\n  - cidr: 10.0.0.0/16\n  - cidr: fd00:1::/64\n";
        assert_eq!(machine_network(ic).unwrap().len(), 2);
        assert!(machine_network("networking:\n  machineNetwork:\n  - cidr: nope\n").is_err());
        assert_eq!(machine_network("apiVersion: v1\n").unwrap(), Vec::<IpNet>::new());
    }
}
