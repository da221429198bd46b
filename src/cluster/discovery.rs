//! Which of the watched resources the cluster serves: a plain Kubernetes cluster has no HyperConverged
//! CRD and no OpenShift network config, and those watchers are simply not started (the policy's values
//! stay in force). Discovery is repeated, so a CRD installed later, or a version added or dropped by an
//! operator upgrade, is picked up without a restart.
//!
//! HyperConvergeds are read through every served version mignet knows, not through the preferred
//! one: the CRD has no conversion webhook, and a real API server prunes each read to the schema of the
//! version read through. An object written through v1beta1 read through v1 (discovery's preference
//! since HCO 1.18) has no live-migration settings left, and the mirror image holds from HCO 1.19 on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIGroupList, APIResourceList};
use kube::Client;

use super::{ClusterError, Resource};
use crate::policy::HcVersion;

/// The HyperConverged versions a watcher reads, each through a watch of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HcVersions {
    pub v1beta1: bool,
    pub v1: bool,
}

impl HcVersions {
    /// Just one version.
    pub fn only(version: HcVersion) -> Self {
        match version {
            HcVersion::V1Beta1 => HcVersions { v1beta1: true, v1: false },
            HcVersion::V1 => HcVersions { v1beta1: false, v1: true },
        }
    }

    /// The versions, v1beta1 first.
    pub fn iter(self) -> impl Iterator<Item = HcVersion> {
        [(self.v1beta1, HcVersion::V1Beta1), (self.v1, HcVersion::V1)]
            .into_iter()
            .filter_map(|(on, v)| on.then_some(v))
    }

    fn insert(&mut self, version: HcVersion) {
        match version {
            HcVersion::V1Beta1 => self.v1beta1 = true,
            HcVersion::V1 => self.v1 = true,
        }
    }

    fn is_empty(self) -> bool {
        !self.v1beta1 && !self.v1
    }
}

/// The `nmstate.io` version NodeNetworkStates are read through: every version has the one shape
/// (`status.currentState`), so whichever the cluster serves is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NmstateVersion {
    V1Beta1,
    V1,
    V1Alpha1,
}

impl NmstateVersion {
    /// The version as the API path spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            NmstateVersion::V1Beta1 => "v1beta1",
            NmstateVersion::V1 => "v1",
            NmstateVersion::V1Alpha1 => "v1alpha1",
        }
    }

    fn parse(s: &str) -> Option<NmstateVersion> {
        match s {
            "v1beta1" => Some(NmstateVersion::V1Beta1),
            "v1" => Some(NmstateVersion::V1),
            "v1alpha1" => Some(NmstateVersion::V1Alpha1),
            _ => None,
        }
    }
}

/// One watcher to run, with the API versions it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Nads,
    HyperConvergeds(HcVersions),
    Nodes,
    ClusterNetwork,
    OperatorNetwork,
    InstallConfig,
    NodeNetworkStates(NmstateVersion),
    KubeVirts,
    Migrations,
    UserDefinedNetworks,
    ClusterUserDefinedNetworks,
}

impl Watch {
    /// The resource this watcher keeps in the view.
    pub fn resource(self) -> Resource {
        match self {
            Watch::Nads => Resource::Nads,
            Watch::HyperConvergeds(_) => Resource::HyperConvergeds,
            Watch::Nodes => Resource::Nodes,
            Watch::ClusterNetwork => Resource::ClusterNetwork,
            Watch::OperatorNetwork => Resource::OperatorNetwork,
            Watch::InstallConfig => Resource::InstallConfig,
            Watch::NodeNetworkStates(_) => Resource::NodeNetworkStates,
            Watch::KubeVirts => Resource::KubeVirts,
            Watch::Migrations => Resource::Migrations,
            Watch::UserDefinedNetworks => Resource::UserDefinedNetworks,
            Watch::ClusterUserDefinedNetworks => Resource::ClusterUserDefinedNetworks,
        }
    }

    /// What is watched, as reports show it.
    pub fn describe(self) -> &'static str {
        match self {
            Watch::Nads => "k8s.cni.cncf.io/v1 network-attachment-definitions",
            Watch::HyperConvergeds(HcVersions { v1beta1: true, v1: true }) => {
                "hco.kubevirt.io/v1beta1 and v1 hyperconvergeds"
            }
            Watch::HyperConvergeds(HcVersions { v1: true, .. }) => "hco.kubevirt.io/v1 hyperconvergeds",
            Watch::HyperConvergeds(_) => "hco.kubevirt.io/v1beta1 hyperconvergeds",
            Watch::Nodes => "v1 nodes (metadata)",
            Watch::ClusterNetwork => "config.openshift.io/v1 networks/cluster",
            Watch::OperatorNetwork => "operator.openshift.io/v1 networks/cluster",
            Watch::InstallConfig => "v1 configmaps kube-system/cluster-config-v1",
            Watch::NodeNetworkStates(NmstateVersion::V1Beta1) => "nmstate.io/v1beta1 nodenetworkstates",
            Watch::NodeNetworkStates(NmstateVersion::V1) => "nmstate.io/v1 nodenetworkstates",
            Watch::NodeNetworkStates(NmstateVersion::V1Alpha1) => "nmstate.io/v1alpha1 nodenetworkstates",
            Watch::KubeVirts => "kubevirt.io/v1 kubevirts",
            Watch::Migrations => "kubevirt.io/v1 virtualmachineinstancemigrations",
            Watch::UserDefinedNetworks => "k8s.ovn.org/v1 userdefinednetworks",
            Watch::ClusterUserDefinedNetworks => "k8s.ovn.org/v1 clusteruserdefinednetworks",
        }
    }

    /// Why that version and shape is read, as `mignet view` and `/readyz?verbose` explain it.
    pub fn reason(self) -> &'static str {
        match self {
            Watch::Nads => "the only version; spec.config is a string there, read as the CNI config",
            Watch::HyperConvergeds(HcVersions { v1beta1: true, v1: true }) => {
                "every served version: each read is pruned to its version's schema, which keeps the \
                 live-migration settings at its own path, so each object is merged from its reads"
            }
            Watch::HyperConvergeds(_) => "the only served version mignet reads",
            Watch::Nodes => "metadata only: labels pick the virt-handler nodes",
            Watch::ClusterNetwork => "status: the pod, service and external IP networks in use",
            Watch::OperatorNetwork => "spec.defaultNetwork: the OVN-Kubernetes internal subnets",
            Watch::InstallConfig => "the machine network, from key install-config only",
            Watch::NodeNetworkStates(_) => {
                "one served version (v1beta1 preferred, else v1 or v1alpha1: the same shape); \
                 status.currentState (free-form) holds each node's interfaces and routes"
            }
            Watch::KubeVirts => "spec.configuration.migrations.network, and the namespace KubeVirt runs in",
            Watch::Migrations => {
                "status.phase: only unfinished migrations are kept; they hold the migration network"
            }
            Watch::UserDefinedNetworks | Watch::ClusterUserDefinedNetworks => {
                "the only version; their subnets claim address space, and the NADs rendered from them \
                 count as the same network"
            }
        }
    }
}

/// A resource found through discovery.
struct Wanted {
    group: &'static str,
    /// Versions mignet reads, in order of preference when the server's preferred one is not among them.
    versions: &'static [&'static str],
    plural: &'static str,
}

const NADS: Wanted =
    Wanted { group: "k8s.cni.cncf.io", versions: &["v1"], plural: "network-attachment-definitions" };
const HCO: Wanted =
    Wanted { group: "hco.kubevirt.io", versions: &["v1", "v1beta1"], plural: "hyperconvergeds" };
const CONFIG_NETWORK: Wanted = Wanted { group: "config.openshift.io", versions: &["v1"], plural: "networks" };
const OPERATOR_NETWORK: Wanted =
    Wanted { group: "operator.openshift.io", versions: &["v1"], plural: "networks" };
const NMSTATE: Wanted =
    Wanted { group: "nmstate.io", versions: &["v1beta1", "v1", "v1alpha1"], plural: "nodenetworkstates" };
const KUBEVIRT: Wanted = Wanted { group: "kubevirt.io", versions: &["v1"], plural: "kubevirts" };
const VMIMS: Wanted =
    Wanted { group: "kubevirt.io", versions: &["v1"], plural: "virtualmachineinstancemigrations" };
const UDNS: Wanted = Wanted { group: "k8s.ovn.org", versions: &["v1"], plural: "userdefinednetworks" };
const CUDNS: Wanted =
    Wanted { group: "k8s.ovn.org", versions: &["v1"], plural: "clusteruserdefinednetworks" };

/// What discovery found: the watchers to run now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub watches: Vec<Watch>,
}

impl Served {
    /// The watcher for a resource, when the cluster serves it.
    pub fn get(&self, resource: Resource) -> Option<Watch> {
        self.watches.iter().copied().find(|w| w.resource() == resource)
    }

    /// Builds the watch list from what discovery answered; `served(group_version, plural)` tells whether
    /// a group version lists and watches a resource. Nodes are always there; the install-config is an
    /// OpenShift installer artefact, read only where OpenShift's network config is served.
    pub fn from_discovery(groups: &APIGroupList, served: impl Fn(&str, &str) -> bool) -> Served {
        let find = |w: &Wanted| -> Option<&'static str> {
            let group = groups.groups.iter().find(|g| g.name == w.group)?;
            candidates(group, w.versions).into_iter().find(|v| served(&format!("{}/{v}", w.group), w.plural))
        };
        let mut watches = vec![Watch::Nodes];
        if find(&NADS).is_some() {
            watches.push(Watch::Nads);
        }
        let mut hco = HcVersions::default();
        if let Some(group) = groups.groups.iter().find(|g| g.name == HCO.group) {
            for gv in &group.versions {
                let version = match gv.version.as_str() {
                    "v1beta1" => HcVersion::V1Beta1,
                    "v1" => HcVersion::V1,
                    _ => continue,
                };
                if served(&gv.group_version, HCO.plural) {
                    hco.insert(version);
                }
            }
        }
        if !hco.is_empty() {
            watches.push(Watch::HyperConvergeds(hco));
        }
        if find(&CONFIG_NETWORK).is_some() {
            watches.push(Watch::ClusterNetwork);
            watches.push(Watch::InstallConfig);
        }
        if find(&OPERATOR_NETWORK).is_some() {
            watches.push(Watch::OperatorNetwork);
        }
        if let Some(version) = find(&NMSTATE).and_then(NmstateVersion::parse) {
            watches.push(Watch::NodeNetworkStates(version));
        }
        if find(&KUBEVIRT).is_some() {
            watches.push(Watch::KubeVirts);
        }
        if find(&VMIMS).is_some() {
            watches.push(Watch::Migrations);
        }
        if find(&UDNS).is_some() {
            watches.push(Watch::UserDefinedNetworks);
        }
        if find(&CUDNS).is_some() {
            watches.push(Watch::ClusterUserDefinedNetworks);
        }
        watches.sort_by_key(|w| w.resource());
        Served { watches }
    }
}

/// The versions of `versions` the group serves, the server's preferred one first when mignet reads it
/// (what kubectl would use): the first whose resource list offers the resource is watched, so a
/// preferred version that serves only other kinds of the group (nmstate.io/v1 holds NNCPs, not
/// NodeNetworkStates) does not hide an older one that has it.
fn candidates(group: &APIGroup, versions: &[&'static str]) -> Vec<&'static str> {
    let served = |v: &str| group.versions.iter().any(|gv| gv.version == v);
    let preferred = group.preferred_version.as_ref().map(|p| p.version.as_str());
    let mut out: Vec<&'static str> =
        versions.iter().copied().filter(|v| Some(*v) == preferred && served(v)).collect();
    out.extend(versions.iter().copied().filter(|v| Some(*v) != preferred && served(v)));
    out
}

/// Whether a group version's resource list offers `plural` with list and watch.
pub fn lists_and_watches(list: &APIResourceList, plural: &str) -> bool {
    list.resources
        .iter()
        .any(|r| r.name == plural && ["list", "watch"].iter().all(|verb| r.verbs.iter().any(|v| v == verb)))
}

/// Asks the API server which of the watched resources it serves. A group version that vanished between
/// the two requests (404) counts as not served; any other failure is an error, and the caller keeps the
/// watchers it has.
pub async fn discover(client: &Client) -> Result<Served, ClusterError> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(|source| ClusterError::Discovery { what: "GET /apis".into(), source })?;
    let mut lists: Vec<(String, APIResourceList)> = Vec::new();
    for w in [&NADS, &HCO, &CONFIG_NETWORK, &OPERATOR_NETWORK, &NMSTATE, &KUBEVIRT, &VMIMS, &UDNS, &CUDNS] {
        let Some(group) = groups.groups.iter().find(|g| g.name == w.group) else { continue };
        // every version mignet reads: all of them for HyperConvergeds (see the module docs), the
        // first that offers the resource for the others
        let versions = candidates(group, w.versions);
        for version in versions {
            let gv = format!("{}/{version}", w.group);
            if lists.iter().any(|(g, _)| *g == gv) {
                continue; // one group version serving two watched resources (KubeVirt's, OVN-Kubernetes')
            }
            match client.list_api_group_resources(&gv).await {
                Ok(list) => lists.push((gv, list)),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(ClusterError::Discovery { what: format!("GET /apis/{gv}"), source });
                }
            }
        }
    }
    Ok(Served::from_discovery(&groups, |gv, plural| {
        lists.iter().any(|(g, list)| g == gv && lists_and_watches(list, plural))
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn groups(v: serde_json::Value) -> APIGroupList {
        serde_json::from_value(v).unwrap()
    }

    fn group(name: &str, versions: &[&str], preferred: &str) -> serde_json::Value {
        let gv = |v: &str| json!({"groupVersion": format!("{name}/{v}"), "version": v});
        json!({"name": name, "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
               "preferredVersion": gv(preferred)})
    }

    fn all_served(_: &str, _: &str) -> bool {
        true
    }

    #[test]
    fn plain_kubernetes_watches_only_nodes() {
        let g = groups(json!({"groups": [group("apps", &["v1"], "v1")]}));
        assert_eq!(Served::from_discovery(&g, all_served).watches, vec![Watch::Nodes]);
    }

    #[test]
    fn openshift_with_hco_watches_everything() {
        let g = groups(json!({"groups": [
            group("k8s.cni.cncf.io", &["v1"], "v1"),
            group("hco.kubevirt.io", &["v1beta1"], "v1beta1"),
            group("config.openshift.io", &["v1"], "v1"),
            group("operator.openshift.io", &["v1"], "v1"),
        ]}));
        let s = Served::from_discovery(&g, all_served);
        assert_eq!(
            s.watches,
            vec![
                Watch::Nads,
                Watch::HyperConvergeds(HcVersions::only(HcVersion::V1Beta1)),
                Watch::Nodes,
                Watch::ClusterNetwork,
                Watch::OperatorNetwork,
                Watch::InstallConfig
            ]
        );
        assert_eq!(
            s.get(Resource::HyperConvergeds),
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1Beta1)))
        );
    }

    #[test]
    fn hyperconvergeds_are_read_through_every_served_version_whatever_discovery_prefers() {
        let watch_both = Watch::HyperConvergeds(HcVersions { v1beta1: true, v1: true });
        let both = Some(watch_both);
        let pick = |versions: &[&str], preferred: &str| {
            let g = groups(json!({"groups": [group("hco.kubevirt.io", versions, preferred)]}));
            Served::from_discovery(&g, all_served).get(Resource::HyperConvergeds)
        };
        // HCO 1.17: v1beta1 only; 1.18: both, v1 preferred, v1beta1 stored; 1.19: both, v1 stored
        assert_eq!(
            pick(&["v1beta1"], "v1beta1"),
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1Beta1)))
        );
        assert_eq!(pick(&["v1", "v1beta1"], "v1"), both);
        assert_eq!(pick(&["v1", "v1beta1"], "v1beta1"), both);
        assert_eq!(pick(&["v1"], "v1"), Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1))));
        // versions mignet cannot read are left out
        assert_eq!(
            pick(&["v2", "v1beta1"], "v2"),
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1Beta1)))
        );
        assert_eq!(pick(&["v2"], "v2"), None);
        // a version whose resource list lacks hyperconvergeds (being removed) is not watched
        let g = groups(json!({"groups": [group("hco.kubevirt.io", &["v1", "v1beta1"], "v1")]}));
        let s = Served::from_discovery(&g, |gv, _| gv == "hco.kubevirt.io/v1");
        assert_eq!(
            s.get(Resource::HyperConvergeds),
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1)))
        );
        assert_eq!(watch_both.describe(), "hco.kubevirt.io/v1beta1 and v1 hyperconvergeds");
        assert!(watch_both.reason().contains("pruned"));
    }

    #[test]
    fn node_network_states_are_watched_where_kubernetes_nmstate_serves_them() {
        let g = groups(json!({"groups": [group("nmstate.io", &["v1", "v1beta1"], "v1")]}));
        // NNCPs are served at v1 and v1beta1, NodeNetworkStates at v1beta1 only
        let s = Served::from_discovery(&g, |gv, plural| {
            gv == "nmstate.io/v1beta1" && plural == "nodenetworkstates"
        });
        assert_eq!(s.watches, vec![Watch::Nodes, Watch::NodeNetworkStates(NmstateVersion::V1Beta1)]);
        let s = Served::from_discovery(&g, |_, plural| plural == "nodenetworkconfigurationpolicies");
        assert_eq!(s.watches, vec![Watch::Nodes]);
    }

    #[test]
    fn node_network_states_are_read_through_whichever_nmstate_version_is_served() {
        let pick = |versions: &[&str], preferred: &str| {
            let g = groups(json!({"groups": [group("nmstate.io", versions, preferred)]}));
            Served::from_discovery(&g, all_served).get(Resource::NodeNetworkStates)
        };
        assert_eq!(pick(&["v1beta1"], "v1beta1"), Some(Watch::NodeNetworkStates(NmstateVersion::V1Beta1)));
        assert_eq!(pick(&["v1", "v1beta1"], "v1"), Some(Watch::NodeNetworkStates(NmstateVersion::V1)));
        assert_eq!(pick(&["v1"], "v1"), Some(Watch::NodeNetworkStates(NmstateVersion::V1)));
        assert_eq!(pick(&["v1alpha1"], "v1alpha1"), Some(Watch::NodeNetworkStates(NmstateVersion::V1Alpha1)));
        assert_eq!(pick(&["v2", "v1alpha1"], "v2"), Some(Watch::NodeNetworkStates(NmstateVersion::V1Alpha1)));
        assert_eq!(pick(&["v2"], "v2"), None);
        // the preferred version does not list them (NNCPs only): the one that does is watched
        let g = groups(json!({"groups": [group("nmstate.io", &["v1", "v1beta1"], "v1")]}));
        let s = Served::from_discovery(&g, |gv, plural| {
            gv == "nmstate.io/v1beta1" && plural == "nodenetworkstates"
        });
        assert_eq!(
            s.get(Resource::NodeNetworkStates),
            Some(Watch::NodeNetworkStates(NmstateVersion::V1Beta1))
        );
        assert_eq!(
            Watch::NodeNetworkStates(NmstateVersion::V1).describe(),
            "nmstate.io/v1 nodenetworkstates"
        );
    }

    #[test]
    fn a_group_without_the_resource_is_not_watched() {
        let g = groups(json!({"groups": [group("k8s.cni.cncf.io", &["v1"], "v1"),
                                          group("config.openshift.io", &["v1"], "v1")]}));
        let s = Served::from_discovery(&g, |gv, plural| gv == "k8s.cni.cncf.io/v1" && plural != "x");
        assert_eq!(s.watches, vec![Watch::Nads, Watch::Nodes]);
    }

    #[test]
    fn resource_needs_list_and_watch() {
        let list: APIResourceList = serde_json::from_value(json!({"groupVersion": "hco.kubevirt.io/v1beta1",
        "resources": [
            {"name": "hyperconvergeds", "singularName": "hyperconverged", "namespaced": true,
             "kind": "HyperConverged", "verbs": ["get", "list", "watch"]},
            {"name": "hyperconvergeds/status", "singularName": "", "namespaced": true,
             "kind": "HyperConverged", "verbs": ["get"]},
            {"name": "getonly", "singularName": "", "namespaced": true, "kind": "X", "verbs": ["get", "list"]}
        ]}))
        .unwrap();
        assert!(lists_and_watches(&list, "hyperconvergeds"));
        assert!(!lists_and_watches(&list, "getonly"));
        assert!(!lists_and_watches(&list, "missing"));
    }
}
