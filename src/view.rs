//! What the cluster looks like, as the rules see it: claimed ranges, HyperConverged references,
//! virt-handler nodes and discovered cluster networks.
//!
//! The view holds identities and parsed ranges, not whole objects, so it stays small with tens of
//! thousands of NADs, and every watch event is one incremental update. It is filled from files by
//! `mignet check` and from watchers by `mignet serve`; the rules only read it.

use std::{collections::BTreeMap, collections::HashMap, fmt, sync::Arc};

use ipnet::IpNet;

use crate::policy::index::RangeIndex;

/// A NAD's identity, shared between the view's map and its range index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NadName {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for NadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A NAD as the view keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct NadEntry {
    pub key: Arc<NadName>,
    /// Networks its config hands addresses from (host bits masked).
    pub ranges: Vec<IpNet>,
    /// The policy's migration label: `Some(true)` marks it, `Some(false)` opts it out.
    pub migration_label: Option<bool>,
    /// The raw `spec.config`, kept only where a HyperConverged may need the NAD re-judged.
    pub config: Option<Arc<str>>,
}

/// A HyperConverged's live-migration network reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcEntry {
    pub namespace: String,
    pub name: String,
    pub network: Option<String>,
}

/// Cluster networks whose ranges the cluster itself can tell us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReservedKind {
    Pod,
    Service,
    ExternalIp,
    Machine,
    OvnJoin,
    OvnTransit,
    OvnMasquerade,
}

impl ReservedKind {
    /// All kinds, in the order they are checked and shown.
    pub const ALL: [ReservedKind; 7] = [
        ReservedKind::Pod,
        ReservedKind::Service,
        ReservedKind::ExternalIp,
        ReservedKind::Machine,
        ReservedKind::OvnJoin,
        ReservedKind::OvnTransit,
        ReservedKind::OvnMasquerade,
    ];

    /// The words a denial uses ("overlaps the pod network …").
    pub fn describe(self) -> &'static str {
        match self {
            ReservedKind::Pod => "pod network",
            ReservedKind::Service => "service network",
            ReservedKind::ExternalIp => "external IP network",
            ReservedKind::Machine => "machine network",
            ReservedKind::OvnJoin => "OVN-Kubernetes join subnet",
            ReservedKind::OvnTransit => "OVN-Kubernetes transit switch subnet",
            ReservedKind::OvnMasquerade => "OVN-Kubernetes masquerade subnet",
        }
    }
}

/// Ranges read from the cluster, with where they came from (shown by `mignet view`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub nets: Vec<IpNet>,
    pub source: String,
}

/// The cluster state the rules judge against.
#[derive(Debug, Clone, Default)]
pub struct View {
    nads: HashMap<String, HashMap<String, NadEntry>>,
    index: RangeIndex<Arc<NadName>>,
    hcs: BTreeMap<(String, String), HcEntry>,
    /// Node name → whether it matches the virt-handler node selector.
    nodes: BTreeMap<String, bool>,
    discovered: BTreeMap<ReservedKind, Discovered>,
}

impl View {
    /// An empty view: no NADs, no nodes, default cluster networks.
    pub fn new() -> Self {
        View::default()
    }

    /// Adds or replaces a NAD (a watch ADDED or MODIFIED event).
    pub fn upsert_nad(&mut self, entry: NadEntry) {
        self.remove_nad(&entry.key.namespace, &entry.key.name);
        for net in &entry.ranges {
            self.index.insert(*net, entry.key.clone());
        }
        self.nads.entry(entry.key.namespace.clone()).or_default().insert(entry.key.name.clone(), entry);
    }

    /// Removes a NAD (a watch DELETED event); unknown names are ignored.
    pub fn remove_nad(&mut self, namespace: &str, name: &str) -> Option<NadEntry> {
        let in_ns = self.nads.get_mut(namespace)?;
        let old = in_ns.remove(name)?;
        if in_ns.is_empty() {
            self.nads.remove(namespace);
        }
        for net in &old.ranges {
            self.index.remove(*net, &old.key);
        }
        Some(old)
    }

    /// Looks a NAD up by namespace and name.
    pub fn nad(&self, namespace: &str, name: &str) -> Option<&NadEntry> {
        self.nads.get(namespace)?.get(name)
    }

    /// Every NAD, in no particular order.
    pub fn nads(&self) -> impl Iterator<Item = &NadEntry> {
        self.nads.values().flat_map(HashMap::values)
    }

    /// Number of NADs held.
    pub fn nad_count(&self) -> usize {
        self.nads.values().map(HashMap::len).sum()
    }

    /// NADs claiming a network that overlaps `net`, with the network each claims.
    pub fn overlapping(&self, net: &IpNet) -> Vec<(IpNet, &NadEntry)> {
        self.index
            .overlapping(net)
            .into_iter()
            .filter_map(|(claimed, key)| self.nad(&key.namespace, &key.name).map(|e| (claimed, e)))
            .collect()
    }

    /// Adds or replaces a HyperConverged.
    pub fn upsert_hc(&mut self, entry: HcEntry) {
        self.hcs.insert((entry.namespace.clone(), entry.name.clone()), entry);
    }

    /// Removes a HyperConverged.
    pub fn remove_hc(&mut self, namespace: &str, name: &str) -> Option<HcEntry> {
        self.hcs.remove(&(namespace.to_owned(), name.to_owned()))
    }

    /// Every HyperConverged.
    pub fn hcs(&self) -> impl Iterator<Item = &HcEntry> {
        self.hcs.values()
    }

    /// HyperConvergeds whose live-migration network is the NAD `namespace/name`.
    pub fn hcs_using(&self, namespace: &str, name: &str) -> impl Iterator<Item = &HcEntry> {
        self.hcs.values().filter(move |hc| hc.namespace == namespace && hc.network.as_deref() == Some(name))
    }

    /// Adds or replaces a node, with whether it matches the virt-handler node selector.
    pub fn upsert_node(&mut self, name: String, runs_virt_handler: bool) {
        self.nodes.insert(name, runs_virt_handler);
    }

    /// Removes a node.
    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Nodes that need a migration address: those matching the selector, or all when none does;
    /// `None` when no node is known (capacity cannot be judged).
    pub fn virt_handler_nodes(&self) -> Option<u64> {
        let selected = self.nodes.values().filter(|v| **v).count() as u64;
        match (selected, self.nodes.len() as u64) {
            (_, 0) => None,
            (0, all) => Some(all),
            (selected, _) => Some(selected),
        }
    }

    /// Records a cluster network read from the cluster, replacing the policy's value for it.
    pub fn set_discovered(&mut self, kind: ReservedKind, discovered: Discovered) {
        self.discovered.insert(kind, discovered);
    }

    /// Forgets a discovered cluster network (the object went away): the policy's value applies again.
    pub fn clear_discovered(&mut self, kind: ReservedKind) {
        self.discovered.remove(&kind);
    }

    /// The discovered ranges for one cluster network, if the cluster told us.
    pub fn discovered(&self, kind: ReservedKind) -> Option<&Discovered> {
        self.discovered.get(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ns: &str, name: &str, ranges: &[&str]) -> NadEntry {
        NadEntry {
            key: Arc::new(NadName { namespace: ns.into(), name: name.into() }),
            ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            migration_label: None,
            config: None,
        }
    }

    fn owners(view: &View, net: &str) -> Vec<String> {
        let mut v: Vec<_> =
            view.overlapping(&net.parse().unwrap()).iter().map(|(_, e)| e.key.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn upsert_replaces_old_ranges() {
        let mut v = View::new();
        v.upsert_nad(entry("a", "n", &["10.1.0.0/24"]));
        v.upsert_nad(entry("a", "n", &["10.2.0.0/24"]));
        assert!(owners(&v, "10.1.0.0/16").is_empty());
        assert_eq!(owners(&v, "10.2.0.0/16"), vec!["a/n"]);
        assert_eq!(v.nad_count(), 1);
    }

    #[test]
    fn remove_forgets_ranges_and_tolerates_unknown() {
        let mut v = View::new();
        v.upsert_nad(entry("a", "n", &["10.1.0.0/24", "fd00::/64"]));
        v.upsert_nad(entry("b", "n", &["10.1.0.0/24"]));
        assert!(v.remove_nad("a", "n").is_some());
        assert!(v.remove_nad("a", "n").is_none());
        assert!(v.remove_nad("zz", "n").is_none());
        assert_eq!(owners(&v, "10.1.0.0/24"), vec!["b/n"]);
        assert!(owners(&v, "fd00::/48").is_empty());
        assert!(v.nad("a", "n").is_none());
        assert!(v.nad("b", "n").is_some());
    }

    #[test]
    fn counts_virt_handler_nodes() {
        let mut v = View::new();
        assert_eq!(v.virt_handler_nodes(), None);
        v.upsert_node("w1".into(), false);
        v.upsert_node("w2".into(), false);
        assert_eq!(v.virt_handler_nodes(), Some(2));
        v.upsert_node("w3".into(), true);
        assert_eq!(v.virt_handler_nodes(), Some(1));
        v.remove_node("w3");
        assert_eq!(v.virt_handler_nodes(), Some(2));
    }

    #[test]
    fn finds_hyperconvergeds_by_network() {
        let mut v = View::new();
        v.upsert_hc(HcEntry { namespace: "cnv".into(), name: "hc".into(), network: Some("mig".into()) });
        assert_eq!(v.hcs_using("cnv", "mig").count(), 1);
        assert_eq!(v.hcs_using("other", "mig").count(), 0);
        assert_eq!(v.hcs_using("cnv", "other").count(), 0);
        v.remove_hc("cnv", "hc");
        assert_eq!(v.hcs_using("cnv", "mig").count(), 0);
    }
}
