//! `mignet verify`: proof, from the cluster's own objects, that live migrations use the dedicated network.
//!
//! Setting up a migration network ends with a manual test (drain a node, read a VMI's
//! `status.migrationState.targetNodeAddress`). These checks automate that proof for the whole cluster
//! and say what is wrong when it fails. They are pure — [`Inputs`] in, a [`Report`] out — so objects
//! dumped to files ([`files`]) and objects listed from the API server ([`live`]) get the same verdict.

pub mod files;
mod handlers;
mod hosts;
mod inputs;
pub mod live;
mod network;
mod pod;
mod pools;
mod report;
mod vmis;

use std::{fmt, str::FromStr};

use kube::core::DynamicObject;

pub use self::{
    inputs::{Inputs, Resource, VIRT_HANDLER_LABEL},
    report::{Check, CheckId, Detail, Mark, Report, Status, Summary},
};
use crate::{policy::Policy, policy::view::NadName};

/// What to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where the HyperConverged, the KubeVirt CR and the virt-handler pods live.
    pub namespace: String,
    /// Judge only this VMI's migration (and fail when it has none).
    pub vmi: Option<VmiRef>,
    /// The objects come from files: messages about missing objects say how to dump them.
    pub from_files: bool,
}

/// A VMI named on the command line: `name` (any namespace) or `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmiRef {
    pub namespace: Option<String>,
    pub name: String,
}

/// Why a `--vmi` value is not a VMI reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid VMI {0:?}: expected NAME or NAMESPACE/NAME")]
pub struct VmiRefError(String);

impl FromStr for VmiRef {
    type Err = VmiRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VmiRefError(s.to_owned());
        match s.split_once('/') {
            None if !s.is_empty() => Ok(VmiRef { namespace: None, name: s.to_owned() }),
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(VmiRef { namespace: Some(ns.to_owned()), name: name.to_owned() })
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for VmiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl VmiRef {
    /// Whether an object is the VMI named.
    pub fn matches(&self, obj: &DynamicObject) -> bool {
        obj.metadata.name.as_deref() == Some(self.name.as_str())
            && self.namespace.as_deref().is_none_or(|ns| obj.metadata.namespace.as_deref() == Some(ns))
    }
}

/// Runs the checks over the objects (`host-master` only when NodeNetworkStates are among them).
pub fn verify(policy: &Policy, inputs: &Inputs, options: &Options) -> Report {
    let scene = Scene::new(policy, inputs, options);
    let pods = handlers::evaluate(&scene);
    let mut checks = vec![network::hc_network(&scene), network::kubevirt_network(&scene)];
    checks.extend(hosts::master(&scene));
    checks.extend([
        handlers::attached(&scene, &pods),
        handlers::headroom(&scene, &pods),
        vmis::migrations(&scene),
    ]);
    let target = scene.target.as_ref();
    Report {
        namespace: options.namespace.clone(),
        network: target.map(|t| t.nad.to_string()),
        ranges: target.map(|t| t.pools.iter().map(|p| p.cidr.to_string()).collect()).unwrap_or_default(),
        checks,
    }
}

/// The objects and what the checks derive from them once: the HyperConverged in charge and the
/// network being verified.
struct Scene<'a> {
    policy: &'a Policy,
    inputs: &'a Inputs,
    options: &'a Options,
    /// The HyperConverged of the namespace, or why there is none to read.
    hc: Result<network::HcPick<'a>, String>,
    /// The network being verified: the HyperConverged's, else the KubeVirt CR's.
    target: Option<network::Target<'a>>,
}

impl<'a> Scene<'a> {
    fn new(policy: &'a Policy, inputs: &'a Inputs, options: &'a Options) -> Self {
        let hc = network::pick_hc(inputs, options);
        let target = network::target(inputs, options, hc.as_ref().ok());
        Scene { policy, inputs, options, hc, target }
    }

    /// With files, how to dump what is missing (` (dump it with …)`); nothing for the live cluster.
    fn dump_hint(&self, command: &str) -> String {
        if self.options.from_files { format!(" (dump it with `{command}`)") } else { String::new() }
    }

    /// A missing kind explained: not served by the cluster, or simply absent.
    fn absent(&self, resource: Resource, what: &str, dump: &str) -> String {
        match self.inputs.unavailable(resource) {
            Some(why) => format!("{what}: the cluster does not serve {}s ({why})", resource.describe()),
            None => format!("{what}{}", self.dump_hint(dump)),
        }
    }
}

/// `namespace/name` of the NAD a network reference means: a bare name is in `namespace`.
fn nad_name(reference: &str, namespace: &str) -> NadName {
    match reference.split_once('/') {
        Some((ns, name)) => NadName::new(ns, name),
        None => NadName::new(namespace, reference),
    }
}

#[cfg(test)]
mod tests;
