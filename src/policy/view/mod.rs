//! What the cluster looks like, as the rules see it: claimed ranges, HyperConverged references,
//! virt-handler nodes and discovered cluster networks.
//!
//! The view holds identities and parsed ranges, not whole objects, so it stays small with tens of
//! thousands of NADs, and every watch event is one incremental update. It is filled from files by
//! `mignet check` and from watchers by `mignet serve`; the rules only read it.

pub mod feed;
pub mod inflight;
pub mod nets;

use std::{
    borrow::Borrow,
    cmp::Ordering,
    collections::{BTreeMap, HashSet},
    fmt,
    hash::{Hash, Hasher},
    net::IpAddr,
    sync::Arc,
};

use ipnet::IpNet;
use smallvec::SmallVec;

pub use self::nets::{Claimant, NetEntry, NetName};
use crate::policy::{
    HcVersion,
    host::{HostError, HostNetwork, HostNetworks, NameCounts},
    index::RangeIndex,
};

/// A NAD's identity: `namespace/name` in one shared allocation, so the view's set and its range
/// index hold the same text and a clone is a reference count.
#[derive(Clone)]
pub struct NadName {
    text: Arc<str>,
    /// Where the namespace ends (a namespace is a DNS label; one read from a file may hold anything).
    split: usize,
}

impl NadName {
    /// The identity of the NAD `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> Self {
        NadName { text: format!("{namespace}/{name}").into(), split: namespace.len() }
    }

    /// The namespace the NAD lives in.
    pub fn namespace(&self) -> &str {
        &self.text[..self.split]
    }

    /// The NAD's name.
    pub fn name(&self) -> &str {
        &self.text[self.split + 1..]
    }

    fn parts(&self) -> (&str, &str) {
        (self.namespace(), self.name())
    }
}

impl PartialEq for NadName {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for NadName {}

impl Hash for NadName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialOrd for NadName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By namespace, then name (not by the joined text: `a-b/x` sorts after `a/x`).
impl Ord for NadName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl fmt::Display for NadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for NadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

/// Networks a NAD claims: almost always one, held without a separate allocation.
pub type Ranges = SmallVec<[IpNet; 1]>;

/// A NAD as the view keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct NadEntry {
    pub key: NadName,
    /// Networks its config hands addresses from (host bits masked).
    pub ranges: Ranges,
    /// The policy's migration label: `Some(true)` marks it, `Some(false)` opts it out.
    pub migration_label: Option<bool>,
    /// Marked a migration NAD by its label, or by its name where it has no label (the policy's
    /// reading): indexed apart, as the few NADs every other NAD must stay off.
    pub flagged: bool,
    /// The raw `spec.config`, kept only where a HyperConverged may need the NAD re-judged.
    pub config: Option<Arc<str>>,
    /// The UDN or CUDN OVN-Kubernetes rendered it from: then it is that network, not one of its own.
    pub owner: Option<NetName>,
}

/// A stored entry, hashed and compared by its identity, so the set can be searched by
/// `(namespace, name)` without building a key.
#[derive(Debug, Clone)]
struct Stored {
    entry: NadEntry,
    /// The relist that last saw it (see [`View::sweep_nads`]).
    mark: u32,
}

/// What a lookup by identity hashes and compares.
trait Identity {
    fn parts(&self) -> (&str, &str);
}

impl Identity for Stored {
    fn parts(&self) -> (&str, &str) {
        self.entry.key.parts()
    }
}

impl Identity for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        *self
    }
}

impl Hash for dyn Identity + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn Identity + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Identity + '_ {}

impl<'a> Borrow<dyn Identity + 'a> for Stored {
    fn borrow(&self) -> &(dyn Identity + 'a) {
        self
    }
}

impl Hash for Stored {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn Identity).hash(state);
    }
}

impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Stored {}

/// A HyperConverged's live-migration network reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcEntry {
    pub namespace: String,
    pub name: String,
    pub network: Option<String>,
}

/// A KubeVirt CR's live-migration network reference (`spec.configuration.migrations.network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub namespace: String,
    pub name: String,
    pub network: Option<String>,
    /// Whether the HyperConverged operator manages it (its labels say so): HCO copies the
    /// HyperConverged's settings into it, so the HyperConverged is where they are judged.
    pub hco_managed: bool,
}

/// Which object names a NAD as its live-migration network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkUser<'a> {
    /// `HyperConverged` or `KubeVirt`.
    pub kind: &'static str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl fmt::Display for NetworkUser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One reading of a HyperConverged through one API version.
///
/// A real API server prunes from every read the fields the version's schema does not know, and the
/// versions keep the live-migration settings at different paths (`spec.liveMigrationConfig` in
/// v1beta1, `spec.virtualization.liveMigrationConfig` in v1). Without a conversion webhook, only the
/// read through the version the object was written in carries them, so the live view reads every
/// served version and keeps the read that does ([`HcRead::pick`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcRead {
    pub entry: HcEntry,
    /// The version it was read through.
    pub through: HcVersion,
    /// Reads of one object share it; a deleted and recreated object has a new one.
    pub uid: String,
    /// The version its spec was last written through (its managed fields), i.e. its layout.
    pub written_through: Option<HcVersion>,
}

impl HcRead {
    /// Of the reads of one object, the one whose network reference is the object's: the only one
    /// naming a network, else the one through the version its spec was written in, else the first.
    pub fn pick(reads: &[HcRead]) -> Option<usize> {
        let naming: Vec<usize> = (0..reads.len()).filter(|i| reads[*i].entry.network.is_some()).collect();
        let written = |candidates: &[usize]| {
            candidates.iter().copied().find(|i| Some(reads[*i].through) == reads[*i].written_through)
        };
        match naming.as_slice() {
            [] if reads.is_empty() => None,
            [] => written(&(0..reads.len()).collect::<Vec<_>>()).or(Some(0)),
            [one] => Some(*one),
            several => written(several).or(Some(several[0])),
        }
    }
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

/// What a Node tells beyond its name: the labels NodeNetworkConfigurationPolicies select by and the
/// addresses that locate its management interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Whether it matches the virt-handler node selector.
    pub virt_handler: bool,
    /// `metadata.labels`; `None` when the source did not carry them.
    pub labels: Option<BTreeMap<String, String>>,
    /// `status.addresses` of type InternalIP (empty when unknown, e.g. a metadata-only watch).
    pub internal_ips: Vec<IpAddr>,
}

/// Labels as the view keeps them: one allocation for the list, one per string.
type Labels = Box<[(Box<str>, Box<str>)]>;

/// A node as the view keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NodeRecord {
    virt_handler: bool,
    labels: Option<Labels>,
    internal_ips: Box<[IpAddr]>,
}

/// The cluster state the rules judge against.
#[derive(Debug, Clone, Default)]
pub struct View {
    nads: HashSet<Stored>,
    index: RangeIndex<NadName>,
    /// The ranges of [flagged](NadEntry::flagged) NADs only: a few, where the index may hold
    /// thousands of tenant NADs sharing one range.
    flagged: RangeIndex<NadName>,
    hcs: BTreeMap<(String, String), HcEntry>,
    /// Per HyperConverged, its reads through each served version (live view only), most recent last;
    /// `hcs` holds the one [`HcRead::pick`] chose.
    hc_reads: BTreeMap<(String, String), SmallVec<[HcRead; 2]>>,
    /// UserDefinedNetworks and ClusterUserDefinedNetworks, and the networks they claim.
    nets: BTreeMap<NetName, NetEntry>,
    net_index: RangeIndex<NetName>,
    /// Those of `nets` that could not be fully read: their claims are unknown.
    unreadable_nets: std::collections::BTreeSet<NetName>,
    /// Node name → whether it matches the virt-handler node selector, labels and InternalIPs.
    nodes: BTreeMap<String, NodeRecord>,
    /// How many nodes match the selector.
    selected: usize,
    discovered: BTreeMap<ReservedKind, Discovered>,
    /// NodeNetworkStates, by node name, with per-interface counts over the nodes.
    hosts: HostNetworks,
    /// KubeVirt CRs by namespace and name.
    kubevirts: BTreeMap<(String, String), KvEntry>,
    /// Unfinished VirtualMachineInstanceMigrations.
    in_flight: inflight::InFlight,
}

impl View {
    /// An empty view: no NADs, no nodes, default cluster networks.
    pub fn new() -> Self {
        View::default()
    }

    /// Adds or replaces a NAD (a watch ADDED or MODIFIED event).
    pub fn upsert_nad(&mut self, entry: NadEntry) {
        self.upsert_nad_marked(entry, 0);
    }

    /// Adds or replaces a NAD and records which relist (`mark`) saw it, so a watcher can later drop
    /// those a relist did not see without keeping its own list of every name. Returns whether it is new.
    pub fn upsert_nad_marked(&mut self, entry: NadEntry, mark: u32) -> bool {
        let new = self.remove_nad(entry.key.namespace(), entry.key.name()).is_none();
        for net in &entry.ranges {
            self.index.insert(*net, entry.key.clone());
            if entry.flagged {
                self.flagged.insert(*net, entry.key.clone());
            }
        }
        self.nads.insert(Stored { entry, mark });
        new
    }

    /// Removes a NAD (a watch DELETED event); unknown names are ignored.
    pub fn remove_nad(&mut self, namespace: &str, name: &str) -> Option<NadEntry> {
        let old = self.nads.take(&(namespace, name) as &dyn Identity)?.entry;
        self.unindex(&old);
        Some(old)
    }

    /// Removes every NAD not marked `keep` (those the relist `keep` did not see); returns how many.
    pub fn sweep_nads(&mut self, keep: u32) -> usize {
        let gone: Vec<Stored> = self.nads.extract_if(|s| s.mark != keep).collect();
        for stored in &gone {
            self.unindex(&stored.entry);
        }
        gone.len()
    }

    fn unindex(&mut self, old: &NadEntry) {
        for net in &old.ranges {
            self.index.remove(*net, &old.key);
            if old.flagged {
                self.flagged.remove(*net, &old.key);
            }
        }
    }

    /// Looks a NAD up by namespace and name.
    pub fn nad(&self, namespace: &str, name: &str) -> Option<&NadEntry> {
        self.nads.get(&(namespace, name) as &dyn Identity).map(|s| &s.entry)
    }

    /// Every NAD, in no particular order.
    pub fn nads(&self) -> impl Iterator<Item = &NadEntry> {
        self.nads.iter().map(|s| &s.entry)
    }

    /// Number of NADs held.
    pub fn nad_count(&self) -> usize {
        self.nads.len()
    }

    /// NADs claiming a network that overlaps `net`, with the network each claims.
    pub fn overlapping(&self, net: &IpNet) -> Vec<(IpNet, &NadEntry)> {
        self.entries(self.index.overlapping(net))
    }

    /// [Flagged](NadEntry::flagged) NADs claiming a network that overlaps `net`: what a tenant NAD is
    /// checked against, without visiting every NAD that shares its range.
    pub fn flagged_overlapping(&self, net: &IpNet) -> Vec<(IpNet, &NadEntry)> {
        self.entries(self.flagged.overlapping(net))
    }

    fn entries<'a>(&'a self, hits: Vec<(IpNet, &NadName)>) -> Vec<(IpNet, &'a NadEntry)> {
        hits.into_iter()
            .filter_map(|(claimed, key)| self.nad(key.namespace(), key.name()).map(|e| (claimed, e)))
            .collect()
    }

    /// Adds or replaces a HyperConverged read from a file, the one reading there is of it.
    pub fn upsert_hc(&mut self, entry: HcEntry) {
        let key = (entry.namespace.clone(), entry.name.clone());
        self.hc_reads.remove(&key);
        self.hcs.insert(key, entry);
    }

    /// Removes a HyperConverged and every read of it.
    pub fn remove_hc(&mut self, namespace: &str, name: &str) -> Option<HcEntry> {
        let key = (namespace.to_owned(), name.to_owned());
        self.hc_reads.remove(&key);
        self.hcs.remove(&key)
    }

    /// Adds or replaces the read of a HyperConverged through one version (a watch event), and keeps
    /// the object's entry at the read [`HcRead::pick`] chooses among those of its current uid.
    pub fn upsert_hc_read(&mut self, read: HcRead) {
        let key = (read.entry.namespace.clone(), read.entry.name.clone());
        let reads = self.hc_reads.entry(key.clone()).or_default();
        reads.retain(|r| r.through != read.through && r.uid == read.uid);
        reads.push(read);
        self.settle_hc(key);
    }

    /// Removes the read of a HyperConverged through one version; the object goes when its last read does.
    pub fn remove_hc_read(&mut self, namespace: &str, name: &str, through: HcVersion) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(reads) = self.hc_reads.get_mut(&key) {
            reads.retain(|r| r.through != through);
            self.settle_hc(key);
        }
    }

    fn settle_hc(&mut self, key: (String, String)) {
        let Some(reads) = self.hc_reads.get(&key) else { return };
        match HcRead::pick(reads) {
            Some(i) => {
                self.hcs.insert(key, reads[i].entry.clone());
            }
            None => {
                self.hc_reads.remove(&key);
                self.hcs.remove(&key);
            }
        }
    }

    /// The reads of a HyperConverged the live view holds, for reports.
    pub fn hc_reads(&self, namespace: &str, name: &str) -> &[HcRead] {
        self.hc_reads.get(&(namespace.to_owned(), name.to_owned())).map_or(&[], |r| r.as_slice())
    }

    /// Every HyperConverged.
    pub fn hcs(&self) -> impl Iterator<Item = &HcEntry> {
        self.hcs.values()
    }

    /// HyperConvergeds whose live-migration network is the NAD `namespace/name`.
    pub fn hcs_using(&self, namespace: &str, name: &str) -> impl Iterator<Item = &HcEntry> {
        self.hcs.values().filter(move |hc| hc.namespace == namespace && hc.network.as_deref() == Some(name))
    }

    /// Adds or replaces a KubeVirt CR.
    pub fn upsert_kubevirt(&mut self, entry: KvEntry) {
        self.kubevirts.insert((entry.namespace.clone(), entry.name.clone()), entry);
    }

    /// Removes a KubeVirt CR; unknown names are ignored.
    pub fn remove_kubevirt(&mut self, namespace: &str, name: &str) -> Option<KvEntry> {
        self.kubevirts.remove(&(namespace.to_owned(), name.to_owned()))
    }

    /// Every KubeVirt CR, by namespace and name.
    pub fn kubevirts(&self) -> impl Iterator<Item = &KvEntry> {
        self.kubevirts.values()
    }

    /// The HyperConvergeds and KubeVirt CRs whose live-migration network is the NAD `namespace/name`.
    pub fn network_users<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = NetworkUser<'a>> {
        let hcs = self.hcs_using(namespace, name).map(|hc| NetworkUser {
            kind: "HyperConverged",
            namespace: &hc.namespace,
            name: &hc.name,
        });
        let kvs = self
            .kubevirts
            .values()
            .filter(move |kv| kv.namespace == namespace && kv.network.as_deref() == Some(name))
            .map(|kv| NetworkUser { kind: "KubeVirt", namespace: &kv.namespace, name: &kv.name });
        hcs.chain(kvs)
    }

    /// Every live-migration network named, as `(namespace, NAD name)`, by HyperConvergeds and KubeVirt CRs.
    pub fn migration_networks(&self) -> impl Iterator<Item = (&str, &str)> {
        let hcs = self.hcs.values().filter_map(|hc| Some((hc.namespace.as_str(), hc.network.as_deref()?)));
        let kvs =
            self.kubevirts.values().filter_map(|kv| Some((kv.namespace.as_str(), kv.network.as_deref()?)));
        hcs.chain(kvs)
    }

    /// Records a VirtualMachineInstanceMigration: unfinished ones are kept, finished ones (`None`) dropped.
    pub fn set_migration(&mut self, key: inflight::MigrationKey, state: Option<inflight::Migration>) {
        self.in_flight.set(key, state);
    }

    /// Forgets a VirtualMachineInstanceMigration (deleted).
    pub fn remove_migration(&mut self, key: &inflight::MigrationKey) -> bool {
        self.in_flight.remove(key)
    }

    /// The unfinished migrations.
    pub fn in_flight(&self) -> &inflight::InFlight {
        &self.in_flight
    }

    /// Adds or replaces a node, with whether it matches the virt-handler node selector (labels and
    /// addresses given before by [`View::upsert_node_info`] are kept).
    pub fn upsert_node(&mut self, name: String, runs_virt_handler: bool) {
        let mut record = self.nodes.get(&name).cloned().unwrap_or_default();
        record.virt_handler = runs_virt_handler;
        self.put_node(name, record);
    }

    /// Adds or replaces a node with its labels and InternalIPs.
    pub fn upsert_node_info(&mut self, name: String, info: NodeInfo) {
        let labels = info.labels.map(|l| l.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        let record =
            NodeRecord { virt_handler: info.virt_handler, labels, internal_ips: info.internal_ips.into() };
        self.put_node(name, record);
    }

    fn put_node(&mut self, name: String, record: NodeRecord) {
        let old = self.nodes.insert(name.clone(), record);
        if old.as_ref().is_some_and(|o| o.virt_handler) {
            self.selected -= 1;
        }
        let record = &self.nodes[&name];
        if record.virt_handler {
            self.selected += 1;
        }
        if old.as_ref() != Some(record) {
            self.hosts.recount(&name, Some((record.virt_handler, &record.internal_ips)));
        }
    }

    /// Removes a node.
    pub fn remove_node(&mut self, name: &str) {
        if let Some(old) = self.nodes.remove(name) {
            if old.virt_handler {
                self.selected -= 1;
            }
            self.hosts.recount(name, None);
        }
    }

    /// Nodes that need a migration address: those matching the selector, or all when none does;
    /// `None` when no node is known (capacity cannot be judged).
    pub fn virt_handler_nodes(&self) -> Option<u64> {
        match (self.selected as u64, self.nodes.len() as u64) {
            (_, 0) => None,
            (0, all) => Some(all),
            (selected, _) => Some(selected),
        }
    }

    /// Whether the virt-handler nodes are those matching the selector (else all nodes are).
    fn by_selector(&self) -> bool {
        self.selected > 0
    }

    /// The virt-handler nodes (as [`View::virt_handler_nodes`] counts them), by name.
    pub fn virt_handler_node_names(&self) -> impl Iterator<Item = &str> {
        let by_selector = self.by_selector();
        self.nodes.iter().filter(move |(_, r)| !by_selector || r.virt_handler).map(|(n, _)| n.as_str())
    }

    /// The virt-handler nodes by name, each with its host network (`None`: no NodeNetworkState),
    /// walked side by side without a lookup per node.
    pub fn virt_handler_hosts(
        &self,
    ) -> impl Iterator<Item = (&str, Option<Result<&HostNetwork, &HostError>>)> {
        let mut hosts = self.hosts.entries().peekable();
        self.virt_handler_node_names().map(move |node| {
            while hosts.next_if(|(h, _)| *h < node).is_some() {}
            let host = hosts.next_if(|(h, _)| *h == node).map(|(_, e)| e.state.as_ref());
            (node, host)
        })
    }

    /// A node's labels: `None` for an unknown node, or one whose source carried no labels.
    pub fn node_labels(&self, name: &str) -> Option<impl Iterator<Item = (&str, &str)> + Clone> {
        let labels = self.nodes.get(name)?.labels.as_deref()?;
        Some(labels.iter().map(|(k, v)| (&**k, &**v)))
    }

    /// A node's InternalIPs, as known.
    pub fn node_internal_ips(&self, name: &str) -> &[IpAddr] {
        self.nodes.get(name).map(|r| &*r.internal_ips).unwrap_or_default()
    }

    /// Adds or replaces a node's host network from its NodeNetworkState (a watch ADDED or MODIFIED
    /// event); an unreadable state makes the node's host network unknown.
    pub fn upsert_host_network(&mut self, node: &str, state: Result<HostNetwork, HostError>) {
        let record = self.nodes.get(node).map(|r| (r.virt_handler, &*r.internal_ips));
        self.hosts.upsert(node, state, record);
    }

    /// Forgets a node's NodeNetworkState (a watch DELETED event); unknown names are ignored.
    pub fn remove_host_network(&mut self, node: &str) -> Option<Result<HostNetwork, HostError>> {
        self.hosts.remove(node)
    }

    /// Whether any NodeNetworkState is held: without one, host networks are not judged at all.
    pub fn host_networks_known(&self) -> bool {
        self.hosts.any()
    }

    /// The nodes whose NodeNetworkState is held, in no particular order (a relist drops the others).
    pub fn host_network_nodes(&self) -> impl Iterator<Item = &str> {
        self.hosts.nodes()
    }

    /// Number of NodeNetworkStates held.
    pub fn host_network_count(&self) -> usize {
        self.hosts.len()
    }

    /// A node's host network; `None` when it has no NodeNetworkState.
    pub fn host_network(&self, node: &str) -> Option<Result<&HostNetwork, &HostError>> {
        self.hosts.get(node).map(|e| e.state.as_ref())
    }

    /// Per-name counts over the virt-handler nodes' readable host networks.
    pub(crate) fn host_counts(&self, iface: &str) -> Option<&NameCounts> {
        self.hosts.counts(iface, usize::from(self.by_selector()))
    }

    /// Virt-handler nodes with a readable host network.
    pub(crate) fn readable_host_networks(&self) -> u64 {
        self.hosts.readable[usize::from(self.by_selector())].into()
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
            key: NadName::new(ns, name),
            ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            migration_label: None,
            flagged: false,
            config: None,
            owner: None,
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
    fn names_split_where_the_namespace_ends_and_sort_by_namespace_then_name() {
        let odd = NadName::new("a/b", "c");
        assert_eq!((odd.namespace(), odd.name()), ("a/b", "c"));
        assert_ne!(odd, NadName::new("a", "b/c"), "same text, different identities");
        let mut names = [NadName::new("a-b", "x"), NadName::new("a", "y"), NadName::new("a", "x")];
        names.sort();
        let shown: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a/x", "a/y", "a-b/x"]);
        let mut v = View::new();
        v.upsert_nad(entry("a/b", "c", &["10.1.0.0/24"]));
        v.upsert_nad(entry("a", "b/c", &["10.2.0.0/24"]));
        assert_eq!(v.nad_count(), 2);
        assert_eq!(v.nad("a/b", "c").map(|e| e.ranges[0].to_string()).as_deref(), Some("10.1.0.0/24"));
        assert_eq!(owners(&v, "10.0.0.0/8"), ["a/b/c", "a/b/c"]);
    }

    #[test]
    fn flagged_nads_have_an_index_of_their_own() {
        let mut v = View::new();
        let flagged = |flagged: bool| NadEntry { flagged, ..entry("cnv", "m", &["192.168.99.0/24"]) };
        let found = |v: &View| v.flagged_overlapping(&"192.168.0.0/16".parse().unwrap()).len();
        for (is, expect) in [(true, 1), (false, 0), (true, 1), (false, 0)] {
            v.upsert_nad(flagged(is));
            assert_eq!(found(&v), expect, "flagged {is}");
            assert_eq!(v.overlapping(&"192.168.0.0/16".parse().unwrap()).len(), 1);
        }
        v.upsert_nad(flagged(true));
        v.remove_nad("cnv", "m");
        assert_eq!(found(&v), 0);
    }

    #[test]
    fn a_sweep_keeps_only_what_carries_the_mark() {
        let mut v = View::new();
        assert!(v.upsert_nad_marked(entry("a", "old", &["10.1.0.0/24"]), 1));
        assert!(v.upsert_nad_marked(entry("a", "seen", &["10.2.0.0/24"]), 1));
        assert!(!v.upsert_nad_marked(entry("a", "seen", &["10.2.0.0/24"]), 2), "a replacement is not new");
        assert!(v.upsert_nad_marked(entry("a", "new", &["10.3.0.0/24"]), 2));
        assert_eq!(v.sweep_nads(2), 1);
        assert!(v.nad("a", "old").is_none());
        assert!(owners(&v, "10.1.0.0/16").is_empty());
        assert_eq!(owners(&v, "10.0.0.0/8"), ["a/new", "a/seen"]);
        assert_eq!(v.sweep_nads(2), 0);
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

    fn read(through: HcVersion, uid: &str, network: Option<&str>, written: Option<HcVersion>) -> HcRead {
        HcRead {
            entry: HcEntry {
                namespace: "cnv".into(),
                name: "hc".into(),
                network: network.map(str::to_owned),
            },
            through,
            uid: uid.into(),
            written_through: written,
        }
    }

    fn network(v: &View) -> Option<String> {
        v.hcs().next().and_then(|hc| hc.network.clone())
    }

    #[test]
    fn the_read_that_names_a_network_wins_whichever_version_carries_it() {
        use HcVersion::{V1, V1Beta1};
        for (first, second) in [(V1, V1Beta1), (V1Beta1, V1)] {
            // written through `second`: the read through `first` is pruned of the settings
            let mut v = View::new();
            v.upsert_hc_read(read(first, "u1", None, Some(second)));
            assert_eq!(network(&v), None);
            v.upsert_hc_read(read(second, "u1", Some("mig"), Some(second)));
            assert_eq!(network(&v).as_deref(), Some("mig"), "{first:?} then {second:?}");
            // a later event through `first` (still pruned) does not hide it
            v.upsert_hc_read(read(first, "u1", None, Some(second)));
            assert_eq!(network(&v).as_deref(), Some("mig"));
            assert_eq!(v.hcs_using("cnv", "mig").count(), 1);
            assert_eq!(v.hc_reads("cnv", "hc").len(), 2);
            // the read that carried it goes (its version no longer served): the other read remains
            v.remove_hc_read("cnv", "hc", second);
            assert_eq!(v.hcs().count(), 1);
            assert_eq!(network(&v), None);
            v.remove_hc_read("cnv", "hc", first);
            assert_eq!(v.hcs().count(), 0);
            assert!(v.hc_reads("cnv", "hc").is_empty());
        }
    }

    #[test]
    fn two_reads_naming_networks_follow_the_version_written_through() {
        use HcVersion::{V1, V1Beta1};
        let reads = [read(V1Beta1, "u", Some("old"), Some(V1)), read(V1, "u", Some("new"), Some(V1))];
        assert_eq!(HcRead::pick(&reads), Some(1));
        let unknown = [read(V1Beta1, "u", Some("a"), None), read(V1, "u", Some("b"), None)];
        assert_eq!(HcRead::pick(&unknown), Some(0));
        assert_eq!(HcRead::pick(&[]), None);
        let none = [read(V1Beta1, "u", None, Some(V1)), read(V1, "u", None, Some(V1))];
        assert_eq!(HcRead::pick(&none), Some(1));
    }

    #[test]
    fn a_recreated_object_drops_the_reads_of_the_old_one() {
        use HcVersion::{V1, V1Beta1};
        let mut v = View::new();
        v.upsert_hc_read(read(V1Beta1, "old", Some("mig"), Some(V1Beta1)));
        v.upsert_hc_read(read(V1, "new", None, Some(V1)));
        assert_eq!(network(&v), None, "the old object's network is not the new one's");
        assert_eq!(v.hc_reads("cnv", "hc").len(), 1);
        // a file's object replaces whatever was read
        v.upsert_hc(HcEntry { namespace: "cnv".into(), name: "hc".into(), network: Some("f".into()) });
        assert!(v.hc_reads("cnv", "hc").is_empty());
        assert_eq!(network(&v).as_deref(), Some("f"));
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

    #[test]
    fn host_networks_follow_their_nodes() {
        use crate::policy::host::{HostError, HostNetwork, Iface, IfaceState, IfaceType};
        let bond2 = |mtu| {
            HostNetwork::new(
                vec![Iface {
                    name: "bond2".into(),
                    kind: IfaceType::Bond,
                    state: IfaceState::Up,
                    mtu: Some(mtu),
                    controller: None,
                    ports: Box::default(),
                    vlan_base: None,
                    addresses: Box::default(),
                    management: false,
                }],
                &[],
            )
        };
        let mut v = View::new();
        assert!(!v.host_networks_known());
        v.upsert_host_network("w1", Ok(bond2(9000)));
        assert!(v.host_networks_known());
        assert_eq!(v.readable_host_networks(), 0, "no Node w1 yet: not a virt-handler node");
        v.upsert_node_info(
            "w1".into(),
            NodeInfo {
                virt_handler: true,
                labels: Some([("zone".to_owned(), "a".to_owned())].into()),
                internal_ips: vec!["10.0.0.1".parse().unwrap()],
            },
        );
        v.upsert_node("w2".into(), true);
        assert_eq!((v.readable_host_networks(), v.host_counts("bond2").map(|c| c.present)), (1, Some(1)));
        // a metadata-only update keeps the labels and addresses
        v.upsert_node("w1".into(), true);
        assert_eq!(v.node_labels("w1").map(|l| l.collect::<Vec<_>>()), Some(vec![("zone", "a")]));
        assert_eq!(v.node_internal_ips("w1"), ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(v.node_labels("w2").is_none());
        // replaced, unreadable, removed
        v.upsert_host_network("w1", Ok(bond2(1500)));
        assert_eq!(v.host_counts("bond2").unwrap().mtus, [(1500, 1)].into());
        v.upsert_host_network("w2", Err(HostError::NoState));
        assert!(matches!(v.host_network("w2"), Some(Err(HostError::NoState))));
        assert_eq!(v.readable_host_networks(), 1);
        let mut held: Vec<&str> = v.host_network_nodes().collect();
        held.sort();
        assert_eq!(held, ["w1", "w2"]);
        v.remove_node("w1");
        assert_eq!(v.readable_host_networks(), 0);
        assert!(v.host_counts("bond2").is_none());
        assert!(v.remove_host_network("w1").is_some());
        assert_eq!(v.host_network_count(), 1);
        assert_eq!(v.virt_handler_node_names().collect::<Vec<_>>(), ["w2"]);
    }
}
