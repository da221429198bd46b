//! The live cluster view: watchers that keep the [`View`](crate::policy::view::View) the rules judge against in
//! step with the API server, so `mignet serve --cluster auto` and `mignet view` see what is really there.
//!
//! Only identities and parsed ranges reach the view. Turning watch events into view updates is pure
//! ([`apply`], [`convert`]); the kube wiring ([`live`], [`discovery`]) only moves events from the API
//! server to those functions. Requests never wait on the API server: they read the view in memory.

pub mod apply;
pub mod connect;
pub mod convert;
pub mod discovery;
pub mod live;
pub mod report;
pub mod status;

use std::fmt;

/// Why the live view cannot be set up or refreshed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error("API discovery ({what}) failed: {source}")]
    Discovery {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("the cluster view did not finish loading within {seconds} s: {pending}")]
    NotReady { seconds: u64, pending: String },
}

/// What the live view watches; one watcher each, reported separately in `/readyz?verbose` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `k8s.cni.cncf.io/v1` NetworkAttachmentDefinitions, all namespaces.
    Nads,
    /// `hco.kubevirt.io` HyperConvergeds (v1 or v1beta1), all namespaces.
    HyperConvergeds,
    /// Nodes, metadata only (their labels pick the virt-handler nodes).
    Nodes,
    /// `networks.config.openshift.io/cluster`.
    ClusterNetwork,
    /// `networks.operator.openshift.io/cluster`.
    OperatorNetwork,
    /// ConfigMap `kube-system/cluster-config-v1`, key `install-config` (the machine network).
    InstallConfig,
    /// `nmstate.io/v1beta1` NodeNetworkStates: each node's interfaces and routes (kubernetes-nmstate).
    NodeNetworkStates,
    /// `kubevirt.io/v1` KubeVirt CRs: their migration network, and where KubeVirt runs.
    KubeVirts,
    /// `kubevirt.io/v1` VirtualMachineInstanceMigrations: only the unfinished are kept.
    Migrations,
    /// `k8s.ovn.org/v1` UserDefinedNetworks, all namespaces (OVN-Kubernetes VM networks).
    UserDefinedNetworks,
    /// `k8s.ovn.org/v1` ClusterUserDefinedNetworks.
    ClusterUserDefinedNetworks,
}

impl Resource {
    /// Every watched resource, in the order reports list them.
    pub const ALL: [Resource; 11] = [
        Resource::Nads,
        Resource::HyperConvergeds,
        Resource::Nodes,
        Resource::ClusterNetwork,
        Resource::OperatorNetwork,
        Resource::InstallConfig,
        Resource::NodeNetworkStates,
        Resource::KubeVirts,
        Resource::Migrations,
        Resource::UserDefinedNetworks,
        Resource::ClusterUserDefinedNetworks,
    ];

    /// The name used as the staleness metric label and in `/readyz?verbose`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Nads => "network-attachment-definitions",
            Resource::HyperConvergeds => "hyperconvergeds",
            Resource::Nodes => "nodes",
            Resource::ClusterNetwork => "networks.config.openshift.io",
            Resource::OperatorNetwork => "networks.operator.openshift.io",
            Resource::InstallConfig => "install-config",
            Resource::NodeNetworkStates => "nodenetworkstates",
            Resource::KubeVirts => "kubevirts",
            Resource::Migrations => "virtualmachineinstancemigrations",
            Resource::UserDefinedNetworks => "userdefinednetworks",
            Resource::ClusterUserDefinedNetworks => "clusteruserdefinednetworks",
        }
    }

    /// The `mignet_view_objects` kind, for the resources that metric counts.
    pub fn metric_kind(self) -> Option<&'static str> {
        match self {
            Resource::Nads => Some("nad"),
            Resource::HyperConvergeds => Some("hyperconverged"),
            Resource::Nodes => Some("node"),
            Resource::NodeNetworkStates => Some("nodenetworkstate"),
            Resource::KubeVirts => Some("kubevirt"),
            Resource::Migrations => Some("migration-unfinished"),
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
