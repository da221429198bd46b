//! The policy core: objects, a cluster view and a policy in, a [`Decision`] out.
//!
//! Pure and synchronous: no I/O, no clock, no globals. The server, the offline CLI and the live
//! view are thin adapters around [`Policy::decide`], so they cannot disagree.

pub mod decision;
pub mod defaults;
pub mod file;
pub mod kinds;
pub mod net;
pub mod object;
pub mod place;
pub mod rules;
pub mod view;

use self::kinds::{hco, kubevirt, migration_policy, nad, nad_host, nncp, udn as udn_kind};
pub use self::{
    net::{cni, free, host, index, netconfig, ranges, udn},
    view::feed,
};

#[cfg(test)]
pub(crate) mod testutil;

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use ipnet::IpNet;
use kube::core::DynamicObject;

use self::view::{NadEntry, ReservedKind, View};
pub use self::{
    decision::{Decision, Finding, RuleSet},
    file::{DEFAULT_POLICY_YAML, HcDefaults, PolicyFile, PolicyFileError},
    nad::Reason,
    nncp::MigrationMaster,
    object::{HcVersion, Kind},
    rules::Rule,
};

/// A compiled policy: globs and CIDR sets built once, so judging does no setup work.
#[derive(Debug, Clone)]
pub struct Policy {
    file: PolicyFile,
    globs: GlobSet,
    reserved: Vec<(ReservedKind, Vec<IpNet>, &'static str)>,
    disabled: RuleSet,
    /// Whether the file sets `migrationNamespace`; if not, a KubeVirt CR's namespace is used.
    namespace_set: bool,
    /// The migration namespace found where the cluster's KubeVirt CR lives, and that CR.
    discovered: Option<(String, String)>,
}

/// Why a policy file cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    File(#[from] PolicyFileError),
    #[error("nameGlobs: invalid glob {glob:?}: {source}")]
    Glob {
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("disabledRules: {0} (run `mignet check --list-rules` for the ids)")]
    Rule(#[from] rules::UnknownRule),
    #[error("{field}: Required value: must not be empty")]
    Empty { field: &'static str },
}

impl Default for Policy {
    fn default() -> Self {
        // The built-in file always compiles; a test keeps it that way.
        Policy::compile(PolicyFile::default()).unwrap_or_else(|e| unreachable!("default policy: {e}"))
    }
}

impl Policy {
    /// Parses and compiles a policy file's text.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let mut policy = Policy::compile(PolicyFile::from_yaml(text)?)?;
        // the file parsed, so this reading does too: only whether the key is written matters
        let keys = serde_saphyr::from_str::<serde_json::Value>(text).unwrap_or_default();
        policy.namespace_set = keys.get("migrationNamespace").is_some();
        Ok(policy)
    }

    /// Compiles a parsed policy file.
    pub fn compile(file: PolicyFile) -> Result<Policy, PolicyError> {
        if file.migration_namespace.is_empty() {
            return Err(PolicyError::Empty { field: "migrationNamespace" });
        }
        if file.migration_label.is_empty() {
            return Err(PolicyError::Empty { field: "migrationLabel" });
        }
        let mut globs = GlobSetBuilder::new();
        for g in &file.name_globs {
            globs.add(Glob::new(g).map_err(|source| PolicyError::Glob { glob: g.clone(), source })?);
        }
        let globs =
            globs.build().map_err(|source| PolicyError::Glob { glob: file.name_globs.join(","), source })?;
        let mut disabled = RuleSet::default();
        for id in &file.disabled_rules {
            disabled.insert(id.parse()?);
        }
        let (given, default) = (&file.reserved_ranges, file::ReservedRanges::default());
        let pick = |r: &file::ReservedRanges, kind| -> Vec<IpNet> {
            match kind {
                ReservedKind::Pod => r.pod.clone(),
                ReservedKind::Service => r.service.clone(),
                ReservedKind::ExternalIp => r.external_ip.clone(),
                ReservedKind::Machine => r.machine.clone(),
                ReservedKind::OvnJoin => r.ovn_join.clone(),
                ReservedKind::OvnTransit => r.ovn_transit.clone(),
                ReservedKind::OvnMasquerade => r.ovn_masquerade.clone(),
            }
        };
        let reserved = ReservedKind::ALL
            .iter()
            .map(|&kind| {
                let nets: Vec<IpNet> = pick(given, kind).iter().map(IpNet::trunc).collect();
                let source = if nets == pick(&default, kind) { "default" } else { "policy" };
                (kind, nets, source)
            })
            .collect();
        let namespace_set = file.migration_namespace != PolicyFile::default().migration_namespace;
        Ok(Policy { file, globs, reserved, disabled, namespace_set, discovered: None })
    }

    /// This policy with the migration namespace taken from where the view's KubeVirt CR lives, when
    /// the file does not set one (a cluster holds one KubeVirt CR; with several, the first by
    /// namespace and name).
    pub fn with_discovered_namespace(&self, view: &View) -> Policy {
        let mut policy = self.clone();
        policy.discovered = match self.namespace_set {
            true => None,
            false => view
                .kubevirts()
                .next()
                .map(|kv| (kv.namespace.clone(), format!("KubeVirt {}/{}", kv.namespace, kv.name))),
        };
        policy
    }

    /// Where the migration namespace comes from, as `mignet view` says it: "policy", "default", or
    /// the KubeVirt CR it was discovered from.
    pub fn migration_namespace_source(&self) -> String {
        match (&self.discovered, self.namespace_set) {
            (_, true) => "policy".to_owned(),
            (Some((_, from)), false) => format!("discovered from {from}"),
            (None, false) => "default".to_owned(),
        }
    }

    /// The settings as loaded, for printing and comparison.
    pub fn file(&self) -> &PolicyFile {
        &self.file
    }

    /// Where migration NADs and the HyperConverged must live.
    pub fn migration_namespace(&self) -> &str {
        match &self.discovered {
            Some((namespace, _)) => namespace,
            None => &self.file.migration_namespace,
        }
    }

    /// The label that marks or opts out a migration NAD.
    pub fn label_key(&self) -> &str {
        &self.file.migration_label
    }

    /// Rules switched off by the policy.
    pub fn disabled(&self) -> RuleSet {
        self.disabled
    }

    /// Every cluster network the migration subnet must stay off, with its description and source:
    /// discovered ranges replace the policy's, which replace the defaults.
    pub fn reserved<'a>(&'a self, view: &'a View) -> impl Iterator<Item = Reserved<'a>> + 'a {
        let known = self.reserved.iter().flat_map(move |(kind, nets, source)| {
            let (nets, source): (&[IpNet], &str) = match view.discovered(*kind) {
                Some(d) => (&d.nets, &d.source),
                None => (nets, source),
            };
            nets.iter().map(move |net| Reserved { net: *net, what: kind.describe(), source })
        });
        let extra = self.file.reserved_ranges.additional.iter().map(|r| Reserved {
            net: r.cidr.trunc(),
            what: &r.name,
            source: "policy",
        });
        known.chain(extra)
    }

    /// The policy's ranges (or the defaults) for one cluster network.
    pub fn reserved_for(&self, kind: ReservedKind) -> &[IpNet] {
        self.reserved.iter().find(|(k, _, _)| *k == kind).map(|(_, n, _)| n.as_slice()).unwrap_or_default()
    }

    /// Whether a node runs virt-handler, by the policy's node selector.
    pub fn selects_node(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let sel = &self.file.virt_handler_node_selector;
        !sel.is_empty() && sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    }

    /// Judges one admission against the view.
    pub fn decide(&self, admission: &Admission<'_>, view: &View, options: &Options) -> Decision {
        let ctx = Ctx { policy: self, view, options };
        let mut findings = decision::Findings::new(self.disabled);
        let mut patch = json_patch::Patch::default();
        match admission.kind {
            Kind::Nad => nad::admit(&ctx, admission, &mut findings),
            Kind::Nncp => nncp::admit(&ctx, admission, &mut findings),
            Kind::UserDefinedNetwork(kind) => udn_kind::admit(&ctx, kind, admission, &mut findings),
            Kind::HyperConverged(version) => {
                hco::admit(&ctx, version, admission, &mut findings);
                if let (Some(obj), true, Operation::Create | Operation::Update, false) = (
                    admission.object,
                    findings.enabled(Rule::HcDefaults),
                    admission.operation,
                    hco::erases_settings(&ctx, admission, version),
                ) {
                    patch = defaults::patch(&obj.data, version, &self.file.hyper_converged_defaults);
                }
            }
            Kind::KubeVirt => kubevirt::admit(&ctx, admission, &mut findings),
            Kind::MigrationPolicy => migration_policy::admit(&ctx, admission, &mut findings),
            _ => {}
        }
        findings.into_decision(patch)
    }

    /// The view entry for a NAD object: its identity, claimed ranges and migration label, and in the
    /// migration namespace (the only place a HyperConverged may name it) its raw config for re-judging.
    pub fn nad_entry(&self, obj: &DynamicObject) -> NadEntry {
        nad::entry(self, obj)
    }

    /// The view entry for a UserDefinedNetwork or ClusterUserDefinedNetwork object: its identity,
    /// topology, role and claimed ranges, and why it could not be read where it could not.
    pub fn net_entry(&self, kind: udn::NetKind, obj: &DynamicObject) -> view::NetEntry {
        udn_kind::entry(kind, obj)
    }

    /// Why a NAD object would be judged as a live-migration NAD against this view, or `None`.
    pub fn migration_reason(&self, obj: &DynamicObject, view: &View) -> Option<Reason> {
        let options = Options::default();
        nad::reason_of(&Ctx { policy: self, view, options: &options }, obj)
    }

    /// The macvlan masters of the migration NADs in the view, as the host rules follow them.
    pub fn migration_masters(&self, view: &View) -> Vec<MigrationMaster> {
        let options = Options::default();
        nncp::guarded(&Ctx { policy: self, view, options: &options })
    }

    /// Whether a stored NAD is a migration NAD, by the test the rules apply, so reports agree with them.
    pub fn is_migration_nad(&self, entry: &NadEntry, view: &View) -> bool {
        let options = Options::default();
        nad::is_migration_entry(&Ctx { policy: self, view, options: &options }, entry)
    }
}

/// `namespace/name`, or the name alone for cluster-scoped objects: how every report names an object.
pub fn nad_qualified(namespace: &str, name: &str) -> String {
    nad::qualified(namespace, name)
}

/// A cluster network a migration subnet must not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved<'a> {
    pub net: IpNet,
    pub what: &'a str,
    pub source: &'a str,
}

/// The admission operation, as the API server names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// One object to judge, with its previous version on UPDATE and DELETE.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub operation: Operation,
    pub kind: Kind,
    pub object: Option<&'a DynamicObject>,
    pub old_object: Option<&'a DynamicObject>,
}

/// How strictly to treat what the view cannot know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Offline, the NAD a HyperConverged names may simply not be among the files: warn instead of deny.
    pub missing_network_warns: bool,
    /// The NAD a HyperConverged names is judged in the same run and its findings shown on it:
    /// `hc-network-invalid` then names the rules it fails instead of repeating every finding.
    pub network_judged_too: bool,
    /// The time of the decision in Unix seconds, for the ages of migrations in flight: the core reads
    /// no clock. `None`: ages are unknown, and no migration counts as stuck.
    pub now: Option<i64>,
}

/// Everything a rule may read.
pub(crate) struct Ctx<'a> {
    pub policy: &'a Policy,
    pub view: &'a View,
    pub options: &'a Options,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_file_loads_back_to_the_defaults() {
        let p = Policy::from_yaml(DEFAULT_POLICY_YAML).unwrap();
        let default = Policy::default();
        assert_eq!(p.file(), default.file());
        let view = View::new();
        let nets = |p: &Policy| p.reserved(&view).map(|r| r.net.to_string()).collect::<Vec<_>>();
        assert_eq!(nets(&p), nets(&default));
        assert_eq!(nets(&p).len(), 8);
    }

    #[test]
    fn discovered_ranges_replace_policy_ranges() {
        let p = Policy::from_yaml("reservedRanges:\n  pod: [10.132.0.0/14]\n  additional:\n  - {name: storage network, cidr: 192.168.50.0/24}\n").unwrap();
        let mut view = View::new();
        let pods = |p: &Policy, v: &View| -> Vec<(String, String)> {
            p.reserved(v)
                .filter(|r| r.what == "pod network")
                .map(|r| (r.net.to_string(), r.source.to_string()))
                .collect()
        };
        assert_eq!(pods(&p, &view), vec![("10.132.0.0/14".into(), "policy".into())]);
        view.set_discovered(
            ReservedKind::Pod,
            crate::policy::view::Discovered {
                nets: vec!["10.136.0.0/14".parse().unwrap()],
                source: "Network cluster".into(),
            },
        );
        assert_eq!(pods(&p, &view), vec![("10.136.0.0/14".into(), "Network cluster".into())]);
        assert!(p.reserved(&view).any(|r| r.what == "storage network"));
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(matches!(Policy::from_yaml("disabledRules: [nad-nope]"), Err(PolicyError::Rule(_))));
        assert!(matches!(Policy::from_yaml("nameGlobs: ['a[']"), Err(PolicyError::Glob { .. })));
        assert!(matches!(Policy::from_yaml("migrationNamespace: ''"), Err(PolicyError::Empty { .. })));
    }

    #[test]
    fn the_migration_namespace_is_the_policy_s_or_where_kubevirt_lives() {
        let kv = |ns: &str| crate::policy::view::KvEntry {
            namespace: ns.into(),
            name: "kubevirt".into(),
            network: None,
            hco_managed: false,
        };
        let mut view = View::new();
        let default = Policy::default();
        assert_eq!(default.with_discovered_namespace(&view).migration_namespace(), "openshift-cnv");
        assert_eq!(default.with_discovered_namespace(&view).migration_namespace_source(), "default");
        view.upsert_kubevirt(kv("kubevirt"));
        let found = default.with_discovered_namespace(&view);
        assert_eq!(found.migration_namespace(), "kubevirt");
        assert_eq!(found.migration_namespace_source(), "discovered from KubeVirt kubevirt/kubevirt");
        // written in the file, even as the default value: the policy's
        let set = Policy::from_yaml("migrationNamespace: openshift-cnv\n")
            .unwrap()
            .with_discovered_namespace(&view);
        assert_eq!(
            (set.migration_namespace(), set.migration_namespace_source().as_str()),
            ("openshift-cnv", "policy")
        );
        assert_eq!(
            Policy::from_yaml("migrationLabel: x/y\n")
                .unwrap()
                .with_discovered_namespace(&view)
                .migration_namespace(),
            "kubevirt"
        );
        // the KubeVirt CR goes: back to the default
        view.remove_kubevirt("kubevirt", "kubevirt");
        assert_eq!(found.with_discovered_namespace(&view).migration_namespace(), "openshift-cnv");
    }

    #[test]
    fn node_selector() {
        let p = Policy::default();
        let yes: BTreeMap<String, String> = [("kubevirt.io/schedulable".into(), "true".into())].into();
        let no: BTreeMap<String, String> = [("kubevirt.io/schedulable".into(), "false".into())].into();
        assert!(p.selects_node(Some(&yes)));
        assert!(!p.selects_node(Some(&no)));
        assert!(!p.selects_node(None));
    }
}
