//! What `mignet view` prints: every claimed range in address order with its owner, migration NADs and
//! their capacity, and the overlaps the rules would complain about. This is where a platform engineer
//! looks when a denial surprises them, so it reads the view exactly as the rules do.

use std::fmt::Write as _;

use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;

use super::status::ResourceReport;
use crate::{
    policy::view::{HcRead, NadEntry, NetName, View},
    policy::{
        HcVersion, Policy,
        cni::NetConf,
        free::{self, Family, Wanted},
        ranges,
    },
    text::printable,
};

/// How many overlapping owners one line names before summarising the rest.
const MAX_NAMED: usize = 5;

/// How many free subnets are suggested for each migration range.
pub const FREE_SUGGESTIONS: usize = 3;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every claimed range, sorted by family, address and prefix length.
    pub ranges: Vec<RangeLine>,
    /// Nodes needing a migration address (`None`: no node known).
    pub virt_handler_nodes: Option<u64>,
    pub hyper_convergeds: Vec<HcLine>,
    /// What the live view watches; empty for a view built from files.
    pub resources: Vec<ResourceReport>,
    /// Every migration network: those HyperConvergeds name and those the policy takes for one.
    pub migration_networks: Vec<MigrationNetwork>,
    /// Free subnets the size of each migration range, placed near it (a /24 when there is none).
    pub free_subnets: Vec<FreeSubnets>,
    /// Every UserDefinedNetwork and ClusterUserDefinedNetwork, with what it claims or why it is unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_defined_networks: Vec<NetworkLine>,
    /// Per virt-handler node, what its NodeNetworkState says of the migration masters; empty when
    /// no NodeNetworkState is known (the host rules are off).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_networks: Vec<HostLine>,
    /// KubeVirt CRs and the migration network each names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kube_virts: Vec<KvLine>,
    /// Unfinished migrations: while there is one, the migration network is held (rule migration-in-flight).
    pub migrations_in_flight: Vec<MigrationLine>,
    /// Where migration NADs must live.
    pub migration_namespace: String,
    /// "policy", "default", or "discovered from KubeVirt namespace/name".
    pub migration_namespace_source: String,
}

/// A KubeVirt CR and the migration network it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KvLine {
    pub namespace: String,
    pub name: String,
    pub network: Option<String>,
    /// Labelled as HCO's operand: its settings are the HyperConverged's.
    pub hco_managed: bool,
}

/// An unfinished VirtualMachineInstanceMigration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationLine {
    pub namespace: String,
    pub name: String,
    pub vmi: String,
    /// `status.phase`; empty when it has none yet.
    pub phase: String,
    /// Unix seconds, when known.
    pub created: Option<i64>,
}

/// A migration network and whether it can serve every node: the question asked before a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationNetwork {
    pub namespace: String,
    pub name: String,
    /// The HyperConvergeds naming it (`namespace/name`); empty for a migration NAD none uses yet.
    pub hyper_convergeds: Vec<String>,
    /// Whether the NAD is in the view (a HyperConverged may name one that does not exist).
    pub found: bool,
    /// The host interface macvlan sits on (`master`), where the config could be read.
    pub master: Option<String>,
    pub ranges: Vec<IpNet>,
    /// Addresses whereabouts can hand out over all its ranges; `None` when no range could be read.
    pub usable: Option<u128>,
    /// Nodes needing one address each (`None`: no node known).
    pub virt_handler_nodes: Option<u64>,
    /// Whether `usable` covers every node; `None` when either is unknown.
    pub enough: Option<bool>,
}

/// Room for another network the size of `like`: what a user can pick instead of an overlapping range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FreeSubnets {
    /// The migration range these are sized and placed after; `None` when there is no migration network.
    pub like: Option<IpNet>,
    pub family: Family,
    pub prefix_len: u8,
    /// Free subnets, nearest first; empty when the private blocks have no room.
    pub subnets: Vec<IpNet>,
}

/// One virt-handler node's host network, as the host rules read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostLine {
    pub node: String,
    /// Whether its NodeNetworkState was read; without it the host rules skip the node.
    pub known: bool,
    /// Why its NodeNetworkState cannot be read, or that there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<String>,
    /// The management interface and what it stands on (default route, InternalIP, br-ex).
    pub management: Vec<String>,
    /// Each migration master on this node.
    pub masters: Vec<MasterLine>,
}

/// A migration master on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MasterLine {
    pub master: String,
    /// The NAD naming it.
    pub nad: String,
    pub present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The bond or bridge it is a port of (a macvlan cannot use it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_of: Option<String>,
    /// Whether it is part of the management interface.
    pub management: bool,
}

/// A UserDefinedNetwork or ClusterUserDefinedNetwork: one network, however many NADs render it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkLine {
    pub kind: &'static str,
    /// Empty for a ClusterUserDefinedNetwork.
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    pub ranges: Vec<IpNet>,
    /// NADs rendered from it that the view holds (one per selected namespace for a CUDN).
    pub rendered_nads: usize,
    /// Why it could not be fully read: its claims are unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<String>,
}

/// One claimed range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeLine {
    pub cidr: IpNet,
    pub owner: Owner,
    /// The other owners whose ranges overlap this one (at most a few named).
    pub overlaps: Vec<String>,
    /// How many other owners overlap in total.
    pub overlap_count: usize,
    /// For a migration NAD's whereabouts range: the addresses it can hand out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable: Option<u128>,
}

/// Who claims a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Owner {
    /// A cluster network; `source` is "default", "policy" or the object it was read from.
    #[serde(rename_all = "camelCase")]
    Reserved { what: String, source: String },
    #[serde(rename_all = "camelCase")]
    Nad { namespace: String, name: String, migration: bool },
    /// A UserDefinedNetwork or ClusterUserDefinedNetwork, standing for the NADs rendered from it too.
    #[serde(rename_all = "camelCase")]
    Network {
        /// `UserDefinedNetwork` or `ClusterUserDefinedNetwork`.
        network_kind: String,
        /// Empty for a ClusterUserDefinedNetwork.
        namespace: String,
        name: String,
        /// A ClusterUserDefinedNetwork's namespace selector, where its object was read.
        #[serde(skip_serializing_if = "Option::is_none")]
        selector: Option<String>,
    },
}

impl Owner {
    /// How overlap lists name this owner.
    pub fn label(&self) -> String {
        match self {
            Owner::Reserved { what, .. } => what.clone(),
            Owner::Nad { namespace, name, .. } => format!("{namespace}/{name}"),
            Owner::Network { network_kind, namespace, name, .. } => {
                format!("{network_kind} {}", crate::policy::nad_qualified(namespace, name))
            }
        }
    }

    fn is_migration(&self) -> bool {
        matches!(self, Owner::Nad { migration: true, .. })
    }

    /// How tables show a UDN or CUDN: `UDN ns/name`, `CUDN name (namespaces: selector)`; else the label.
    pub fn short(&self) -> String {
        match self {
            Owner::Network { network_kind, namespace, name, selector } => {
                let kind =
                    if namespace.is_empty() && network_kind.starts_with("Cluster") { "CUDN" } else { "UDN" };
                let scope = selector.as_ref().map(|s| format!(" (namespaces: {s})")).unwrap_or_default();
                format!("{kind} {}{scope}", crate::policy::nad_qualified(namespace, name))
            }
            other => other.label(),
        }
    }
}

/// A HyperConverged and the migration network it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HcLine {
    pub namespace: String,
    pub name: String,
    pub network: Option<String>,
    /// Live view: the version whose read gave the network, of those it was read through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings_from: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_through: Vec<&'static str>,
    /// `spec.liveMigrationConfig` as written, where the objects were at hand (`mignet check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_migration_config: Option<serde_json::Map<String, Value>>,
}

impl Report {
    /// Reads the view as the rules do: reserved ranges with discovered values replacing the policy's,
    /// migration NADs by the policy's own test.
    pub fn build(policy: &Policy, view: &View, resources: Vec<ResourceReport>) -> Report {
        let mut lines: Vec<RangeLine> = policy
            .reserved(view)
            .map(|r| line(r.net, Owner::Reserved { what: r.what.to_owned(), source: r.source.to_owned() }))
            .collect();
        let mut rendered: std::collections::BTreeMap<&NetName, usize> = Default::default();
        let mut unowned: std::collections::BTreeSet<(IpNet, &NetName)> = Default::default();
        for entry in view.nads() {
            if let Some(owner) = &entry.owner {
                // one network: shown as its owner, once however many namespaces it was rendered into
                *rendered.entry(owner).or_default() += 1;
                if view.net(owner).is_none() {
                    unowned.extend(entry.ranges.iter().map(|n| (*n, owner)));
                }
                continue;
            }
            let migration = policy.is_migration_nad(entry, view);
            let usable = if migration { capacities(entry) } else { Vec::new() };
            for net in &entry.ranges {
                let owner = Owner::Nad {
                    namespace: entry.key.namespace().to_owned(),
                    name: entry.key.name().to_owned(),
                    migration,
                };
                let mut l = line(*net, owner);
                l.usable = usable.iter().filter(|(n, _)| n == net).map(|(_, u)| *u).min();
                lines.push(l);
            }
        }
        for (net, owner) in unowned {
            lines.push(line(net, network_owner(owner, None)));
        }
        for e in view.nets() {
            for net in &e.ranges {
                lines.push(line(*net, network_owner(&e.key, e.selector.clone())));
            }
        }
        let user_defined_networks = view
            .nets()
            .map(|e| NetworkLine {
                kind: e.key.kind.as_str(),
                namespace: e.key.namespace.clone(),
                name: e.key.name.clone(),
                selector: e.selector.clone(),
                topology: e.topology.map(|t| t.as_str()),
                role: e.role.map(|r| r.as_str()),
                ranges: e.ranges.to_vec(),
                rendered_nads: rendered.get(&e.key).copied().unwrap_or(0),
                unknown_reason: e.unreadable.clone(),
            })
            .collect();
        lines.sort_by_cached_key(order);
        find_overlaps(&mut lines);
        let hyper_convergeds = view
            .hcs()
            .map(|hc| {
                let reads = view.hc_reads(&hc.namespace, &hc.name);
                let version = |v: HcVersion| v.api_version().trim_start_matches("hco.kubevirt.io/");
                HcLine {
                    namespace: hc.namespace.clone(),
                    name: hc.name.clone(),
                    network: hc.network.clone(),
                    settings_from: HcRead::pick(reads).map(|i| version(reads[i].through)),
                    read_through: {
                        let mut through: Vec<HcVersion> = reads.iter().map(|r| r.through).collect();
                        through.sort();
                        through.into_iter().map(version).collect()
                    },
                    live_migration_config: None,
                }
            })
            .collect();
        let mut report = Report {
            ranges: lines,
            virt_handler_nodes: view.virt_handler_nodes(),
            hyper_convergeds,
            resources,
            migration_networks: Vec::new(),
            free_subnets: Vec::new(),
            user_defined_networks,
            host_networks: host_lines(policy, view),
            kube_virts: view
                .kubevirts()
                .map(|kv| KvLine {
                    namespace: kv.namespace.clone(),
                    name: kv.name.clone(),
                    network: kv.network.clone(),
                    hco_managed: kv.hco_managed,
                })
                .collect(),
            migration_namespace: policy.migration_namespace().to_owned(),
            migration_namespace_source: policy.migration_namespace_source(),
            migrations_in_flight: view
                .in_flight()
                .iter()
                .map(|(k, m)| MigrationLine {
                    namespace: k.namespace.to_string(),
                    name: k.name.to_string(),
                    vmi: m.vmi.to_string(),
                    phase: m.phase.to_string(),
                    created: m.created,
                })
                .collect(),
        };
        report.migration_networks = migration_networks(policy, view);
        report.free_subnets = free_subnets(policy, view, &report.migration_networks);
        report
    }

    /// Records a HyperConverged's `spec.liveMigrationConfig` from its object, for the panel that shows
    /// the migration settings; objects of other kinds or HyperConvergeds not in the report are ignored.
    pub fn add_hc_settings(&mut self, obj: &kube::core::DynamicObject) {
        if !matches!(crate::policy::Kind::of(obj), crate::policy::Kind::HyperConverged(_)) {
            return;
        }
        let (ns, name) = (crate::policy::object::namespace(obj), crate::policy::object::name(obj));
        // the page captions these spec.liveMigrationConfig: the v1beta1 layout
        let config =
            crate::policy::object::get(&obj.data, HcVersion::V1Beta1.path()).and_then(Value::as_object);
        if let (Some(config), Some(hc)) =
            (config, self.hyper_convergeds.iter_mut().find(|h| h.namespace == ns && h.name == name))
        {
            hc.live_migration_config = Some(config.clone());
        }
    }

    /// Whether a migration NAD shares addresses with anything (what the rules deny).
    pub fn has_conflicts(&self) -> bool {
        self.ranges.iter().any(|l| l.owner.is_migration() && l.overlap_count > 0)
    }

    /// The plain-text rendering: a table of ranges, then nodes, HyperConvergeds and watched resources.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let owner = |l: &RangeLine| match &l.owner {
            Owner::Reserved { what, source } => format!("{what} ({source})"),
            Owner::Nad { namespace, name, migration } => {
                let mark = if *migration { " [migration]" } else { "" };
                format!("NAD {namespace}/{name}{mark}")
            }
            Owner::Network { .. } => l.owner.short(),
        };
        let owners: Vec<String> = self.ranges.iter().map(owner).collect();
        let cidr_w = self.ranges.iter().map(|l| l.cidr.to_string().len()).max().unwrap_or(0).max(4);
        let owner_w = owners.iter().map(String::len).max().unwrap_or(0).max(5);
        let _ = writeln!(out, "{:<cidr_w$}  {:<owner_w$}  NOTES", "CIDR", "OWNER");
        for (l, o) in self.ranges.iter().zip(&owners) {
            let notes = self.notes(l);
            let row = format!("{:<cidr_w$}  {:<owner_w$}  {notes}", l.cidr.to_string(), o);
            let _ = writeln!(out, "{}", row.trim_end());
        }
        out.push('\n');
        match self.virt_handler_nodes {
            Some(n) => {
                let _ = writeln!(out, "virt-handler nodes: {n}");
            }
            None => out.push_str("virt-handler nodes: unknown (no node seen; capacity is not judged)\n"),
        }
        let _ = writeln!(
            out,
            "migration namespace: {} ({})",
            self.migration_namespace, self.migration_namespace_source
        );
        if self.hyper_convergeds.is_empty() {
            out.push_str("HyperConverged: none\n");
        }
        for hc in &self.hyper_convergeds {
            let network = match &hc.network {
                Some(n) => format!("live-migration network {}/{n}", hc.namespace),
                None => "no dedicated live-migration network (the pod network is used)".to_owned(),
            };
            let _ = write!(out, "HyperConverged {}/{}: {network}", hc.namespace, hc.name);
            if let Some(from) = hc.settings_from {
                let _ = write!(
                    out,
                    " (settings read through {from}; read through {})",
                    hc.read_through.join(", ")
                );
            }
            out.push('\n');
        }
        for kv in &self.kube_virts {
            let network = match &kv.network {
                Some(n) => format!("live-migration network {}/{n}", kv.namespace),
                None => "no dedicated live-migration network (the pod network is used)".to_owned(),
            };
            let managed = if kv.hco_managed { " (HCO's copy of the HyperConverged's settings)" } else { "" };
            let _ = writeln!(out, "KubeVirt {}/{}: {network}{managed}", kv.namespace, kv.name);
        }
        match self.migrations_in_flight.len() {
            0 => out.push_str("migrations in flight: none\n"),
            n => {
                let _ = writeln!(
                    out,
                    "migrations in flight: {n} (the migration network, its NAD and host interfaces are held)"
                );
                for m in &self.migrations_in_flight {
                    let phase = if m.phase.is_empty() { "no phase yet" } else { &m.phase };
                    let vmi = if m.vmi.is_empty() { "no vmiName" } else { &m.vmi };
                    let _ = writeln!(out, "  {}/{}: VMI {vmi}, {phase}", m.namespace, m.name);
                }
            }
        }
        self.network_text(&mut out);
        for r in &self.resources {
            let _ = writeln!(out, "{}", resource_line(r));
        }
        self.host_text(&mut out);
        out
    }

    /// One line per UserDefinedNetwork and ClusterUserDefinedNetwork: its scope, layout and claims.
    fn network_text(&self, out: &mut String) {
        for n in &self.user_defined_networks {
            let who = Owner::Network {
                network_kind: n.kind.to_owned(),
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                selector: n.selector.clone(),
            };
            let layout = [n.topology, n.role].into_iter().flatten().collect::<Vec<_>>().join(" ");
            let _ =
                write!(out, "{}: {}", printable(&who.short()), if layout.is_empty() { "?" } else { &layout });
            match (&n.unknown_reason, n.ranges.as_slice()) {
                (Some(why), _) => {
                    let _ = write!(out, ", UNKNOWN: {} (its claims are not all known)", printable(why));
                }
                (None, []) => out.push_str(", claims no addresses (IPAM disabled)"),
                (None, nets) => {
                    let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
                    let _ = write!(out, ", claims {}", nets.join(", "));
                }
            }
            if n.rendered_nads > 0 {
                let s = if n.rendered_nads == 1 { "" } else { "s" };
                let _ = write!(out, "; rendered as {} NAD{s} (counted once)", n.rendered_nads);
            }
            out.push('\n');
        }
    }

    /// One line per virt-handler node: its management interface and each migration master.
    fn host_text(&self, out: &mut String) {
        if self.host_networks.is_empty() {
            out.push_str("host networks: no NodeNetworkState known (host rules off)\n");
            return;
        }
        let known = self.host_networks.iter().filter(|h| h.known).count();
        let _ = writeln!(
            out,
            "host networks: {known} of {} virt-handler nodes reported",
            self.host_networks.len()
        );
        let width = self.host_networks.iter().map(|h| h.node.len()).max().unwrap_or(0);
        for h in &self.host_networks {
            let node = printable(&h.node);
            if !h.known {
                let why = h.unknown_reason.as_deref().unwrap_or("no NodeNetworkState");
                let _ = writeln!(out, "  {node:<width$}  UNKNOWN: {} (host checks skipped)", printable(why));
                continue;
            }
            let mut parts = vec![match h.management.as_slice() {
                [] => "management not found".to_owned(),
                m => format!("management {}", printable(&m.join(", "))),
            }];
            for m in &h.masters {
                let name = printable(&m.master);
                parts.push(if !m.present {
                    format!("{name} MISSING")
                } else {
                    let mut p = format!("{name} {}", m.state.unwrap_or("unknown"));
                    if m.state == Some("down") {
                        p = format!("{name} DOWN");
                    }
                    if let Some(mtu) = m.mtu {
                        let _ = write!(p, ", MTU {mtu}");
                    }
                    if let Some(c) = &m.port_of {
                        let _ = write!(p, ", PORT OF {}", printable(c));
                    }
                    if m.management {
                        p.push_str(", MANAGEMENT");
                    }
                    p
                });
            }
            let _ = writeln!(out, "  {node:<width$}  {}", parts.join("; "));
        }
    }

    fn notes(&self, l: &RangeLine) -> String {
        let mut notes = Vec::new();
        if let Some(u) = l.usable {
            notes.push(match self.virt_handler_nodes {
                Some(n) if u < u128::from(n) => format!("TOO SMALL: {u} usable addresses for {n} nodes"),
                Some(n) => format!("{u} usable addresses for {n} nodes"),
                None => format!("{u} usable addresses"),
            });
        }
        if l.overlap_count > 0 {
            let more = l.overlap_count - l.overlaps.len();
            let mut names = l.overlaps.join(", ");
            if more > 0 {
                let _ = write!(names, " and {more} more");
            }
            notes.push(format!("OVERLAPS {names}"));
        }
        notes.join("; ")
    }
}

/// The host network lines, by node name, when any NodeNetworkState is known.
fn host_lines(policy: &Policy, view: &View) -> Vec<HostLine> {
    if !view.host_networks_known() {
        return Vec::new();
    }
    let masters = policy.migration_masters(view);
    view.virt_handler_node_names()
        .map(|node| {
            let host = match view.host_network(node) {
                Some(Ok(h)) => Ok(h),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("no NodeNetworkState".to_owned()),
            };
            match host {
                Err(why) => HostLine {
                    node: node.to_owned(),
                    known: false,
                    unknown_reason: Some(why),
                    management: Vec::new(),
                    masters: Vec::new(),
                },
                Ok(h) => HostLine {
                    node: node.to_owned(),
                    known: true,
                    unknown_reason: None,
                    management: h.management().into_iter().map(str::to_owned).collect(),
                    masters: masters
                        .iter()
                        .map(|m| {
                            let facts = h.facts(&m.master);
                            MasterLine {
                                master: m.master.clone(),
                                nad: m.nad.to_string(),
                                present: facts.is_some(),
                                state: facts.map(|f| f.state.describe()),
                                mtu: facts.and_then(|f| f.mtu),
                                port_of: facts.and_then(|f| f.port_of).map(str::to_owned),
                                management: facts.is_some_and(|f| f.management),
                            }
                        })
                        .collect(),
                },
            }
        })
        .collect()
}

fn resource_line(r: &ResourceReport) -> String {
    if !r.present {
        return format!("watch {}: not served by this cluster (the policy's values apply)", r.resource);
    }
    let mut s = format!(
        "watch {}: {}, {} object{}",
        r.watching.unwrap_or(r.resource),
        if r.synced { "synced" } else { "NOT SYNCED" },
        r.objects,
        if r.objects == 1 { "" } else { "s" }
    );
    if let Some(e) = &r.error {
        let _ = write!(s, ", last error: {e}");
    }
    if let Some(why) = r.reason {
        let _ = write!(s, " ({why})");
    }
    s
}

fn network_owner(key: &NetName, selector: Option<String>) -> Owner {
    Owner::Network {
        network_kind: key.kind.as_str().to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        selector,
    }
}

fn line(cidr: IpNet, owner: Owner) -> RangeLine {
    RangeLine { cidr, owner, overlaps: Vec::new(), overlap_count: 0, usable: None }
}

/// The NADs HyperConvergeds name, plus those the policy takes for migration NADs, by namespace and name.
fn migration_networks(policy: &Policy, view: &View) -> Vec<MigrationNetwork> {
    let mut names: std::collections::BTreeSet<(String, String)> =
        view.hcs().filter_map(|hc| hc.network.as_ref().map(|n| (hc.namespace.clone(), n.clone()))).collect();
    names.extend(view.kubevirts().filter_map(|kv| Some((kv.namespace.clone(), kv.network.clone()?))));
    names.extend(
        view.nads()
            .filter(|e| policy.is_migration_nad(e, view))
            .map(|e| (e.key.namespace().to_owned(), e.key.name().to_owned())),
    );
    let nodes = view.virt_handler_nodes();
    names
        .into_iter()
        .map(|(namespace, name)| {
            let entry = view.nad(&namespace, &name);
            let caps = entry.map(capacities).unwrap_or_default();
            // each virt-handler takes an address from every range, so the smallest range decides
            let usable = caps.iter().map(|(_, u)| *u).min();
            let master = entry
                .and_then(|e| e.config.as_deref())
                .and_then(|c| NetConf::parse(c).ok())
                .and_then(|c| c.master().map(str::to_owned));
            MigrationNetwork {
                hyper_convergeds: view
                    .network_users(&namespace, &name)
                    .map(|u| match u.kind {
                        "HyperConverged" => format!("{}/{}", u.namespace, u.name),
                        kind => format!("{kind} {}/{}", u.namespace, u.name),
                    })
                    .collect(),
                found: entry.is_some(),
                master,
                ranges: entry.map(|e| e.ranges.to_vec()).unwrap_or_default(),
                usable,
                virt_handler_nodes: nodes,
                enough: usable.zip(nodes).map(|(u, n)| u >= u128::from(n)),
                namespace,
                name,
            }
        })
        .collect()
}

/// Free subnets for each distinct migration range, or a /24 of IPv4 private space when there is none.
fn free_subnets(policy: &Policy, view: &View, networks: &[MigrationNetwork]) -> Vec<FreeSubnets> {
    let mut likes: Vec<IpNet> = networks.iter().flat_map(|m| m.ranges.iter().copied()).collect();
    likes.sort_by_key(|n| (n.max_prefix_len(), ranges::bounds(n).0, n.prefix_len()));
    likes.dedup();
    let wanted: Vec<(Option<IpNet>, Wanted<'_>)> = if likes.is_empty() {
        let w =
            Wanted { family: Family::V4, prefix_len: 24, near: None, except: None, count: FREE_SUGGESTIONS };
        vec![(None, w)]
    } else {
        likes.iter().map(|n| (Some(*n), Wanted::like(n, FREE_SUGGESTIONS))).collect()
    };
    wanted
        .into_iter()
        .map(|(like, w)| FreeSubnets {
            like,
            family: w.family,
            prefix_len: w.prefix_len,
            subnets: free::free_subnets(policy, view, &w),
        })
        .collect()
}

/// IPv4 first, then by first address, wider networks before the ones they contain.
fn order(l: &RangeLine) -> (u8, u128, u8, String) {
    (l.cidr.max_prefix_len(), ranges::bounds(&l.cidr).0, l.cidr.prefix_len(), l.owner.label())
}

/// Fills each line's overlaps. Lines are sorted by start address and CIDRs nest or are disjoint, so a
/// stack of the enclosing networks finds every overlapping pair in one pass.
fn find_overlaps(lines: &mut [RangeLine]) {
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for i in 0..lines.len() {
        let net = lines[i].cidr;
        open.retain(|&j| lines[j].cidr.contains(&net));
        for &j in &open {
            if lines[j].owner != lines[i].owner {
                pairs.push((j, i));
            }
        }
        open.push(i);
    }
    for (a, b) in pairs {
        for (me, other) in [(a, b), (b, a)] {
            let name = format!("{} ({})", lines[other].owner.label(), lines[other].cidr);
            let l = &mut lines[me];
            l.overlap_count += 1;
            if l.overlaps.len() < MAX_NAMED {
                l.overlaps.push(name);
            }
        }
    }
}

/// Usable addresses of each whereabouts range of a NAD's config (kept for NADs in the migration
/// namespace); lenient: what cannot be read is left out.
fn capacities(entry: &NadEntry) -> Vec<(IpNet, u128)> {
    let Some(config) = entry.config.as_deref() else { return Vec::new() };
    let Ok(conf) = NetConf::parse(config) else { return Vec::new() };
    let Some(Value::Object(ipam)) = conf.main().get("ipam") else { return Vec::new() };
    if ipam.get("type").and_then(Value::as_str) != Some("whereabouts") {
        return Vec::new();
    }
    let mut specs: Vec<&serde_json::Map<String, Value>> = Vec::new();
    if ipam.contains_key("range") {
        specs.push(ipam);
    }
    specs.extend(
        ipam.get("ipRanges").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object),
    );
    specs.into_iter().filter_map(ranges::read_entry).map(|a| (a.net(), a.count())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::view::{Discovered, HcEntry, ReservedKind};

    use crate::policy::testutil::nad_entry as nad;

    const MIG: &str = r#"{"cniVersion":"0.3.1","type":"macvlan","master":"bond2",
        "ipam":{"type":"whereabouts","range":"192.168.99.0/24","exclude":["192.168.99.0/28"]}}"#;

    fn sample() -> View {
        let mut v = View::new();
        v.upsert_nad(nad("openshift-cnv", "migration-bridge", &["192.168.99.0/24"], Some(MIG)));
        v.upsert_nad(nad("tenant", "overlapper", &["192.168.99.128/25"], None));
        v.upsert_nad(nad("tenant", "elsewhere", &["192.168.50.0/24", "fd10::/64"], None));
        v.upsert_hc(HcEntry {
            namespace: "openshift-cnv".into(),
            name: "kubevirt-hyperconverged".into(),
            network: Some("migration-bridge".into()),
        });
        v.set_discovered(
            ReservedKind::Pod,
            Discovered {
                nets: vec!["10.132.0.0/14".parse().unwrap()],
                source: "Network cluster status.clusterNetwork".into(),
            },
        );
        for i in 0..3 {
            v.upsert_node(format!("w{i}"), true);
        }
        v
    }

    fn find<'a>(r: &'a Report, cidr: &str) -> &'a RangeLine {
        r.ranges.iter().find(|l| l.cidr.to_string() == cidr).unwrap_or_else(|| panic!("{cidr} missing"))
    }

    #[test]
    fn ranges_are_sorted_by_family_then_address() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        let cidrs: Vec<String> = r.ranges.iter().map(|l| l.cidr.to_string()).collect();
        assert_eq!(
            cidrs,
            vec![
                "10.0.0.0/16",
                "10.132.0.0/14",
                "100.64.0.0/16",
                "100.88.0.0/16",
                "172.30.0.0/16",
                "192.168.50.0/24",
                "192.168.99.0/24",
                "192.168.99.128/25",
                "fd10::/64",
                "fd69::/112",
                "fd97::/64",
                "fd98::/64",
            ]
        );
    }

    #[test]
    fn owners_and_discovered_sources() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        assert_eq!(
            find(&r, "10.132.0.0/14").owner,
            Owner::Reserved {
                what: "pod network".into(),
                source: "Network cluster status.clusterNetwork".into()
            }
        );
        assert_eq!(
            find(&r, "172.30.0.0/16").owner,
            Owner::Reserved { what: "service network".into(), source: "default".into() }
        );
        assert_eq!(
            find(&r, "192.168.99.0/24").owner,
            Owner::Nad {
                namespace: "openshift-cnv".into(),
                name: "migration-bridge".into(),
                migration: true
            }
        );
        assert_eq!(
            find(&r, "192.168.50.0/24").owner,
            Owner::Nad { namespace: "tenant".into(), name: "elsewhere".into(), migration: false }
        );
    }

    #[test]
    fn overlaps_are_flagged_both_ways() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        assert_eq!(find(&r, "192.168.99.0/24").overlaps, vec!["tenant/overlapper (192.168.99.128/25)"]);
        assert_eq!(
            find(&r, "192.168.99.128/25").overlaps,
            vec!["openshift-cnv/migration-bridge (192.168.99.0/24)"]
        );
        assert_eq!(find(&r, "192.168.50.0/24").overlap_count, 0);
        assert!(r.has_conflicts());
    }

    #[test]
    fn migration_capacity_counts_excludes_and_nodes() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        assert_eq!(find(&r, "192.168.99.0/24").usable, Some(254 - 15));
        assert_eq!(find(&r, "192.168.99.128/25").usable, None, "only migration NADs get a capacity");
        assert_eq!(r.virt_handler_nodes, Some(3));
    }

    #[test]
    fn capacity_reads_start_end_and_ip_ranges() {
        let cfg = r#"{"type":"macvlan","ipam":{"type":"whereabouts","ipRanges":[
            {"range":"10.9.0.0/24","range_start":"10.9.0.10","range_end":"10.9.0.19"},
            {"range":"fd00::10-fd00::1f/64"}, {"range":"junk"}, 7]}}"#;
        let got = capacities(&nad("n", "m", &[], Some(cfg)));
        assert_eq!(got, vec![("10.9.0.0/24".parse().unwrap(), 10), ("fd00::/64".parse().unwrap(), 16)]);
        assert!(capacities(&nad("n", "m", &[], Some("{garbage"))).is_empty());
        assert!(capacities(&nad("n", "m", &[], None)).is_empty());
        let host_local = r#"{"type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}"#;
        assert!(capacities(&nad("n", "m", &[], Some(host_local))).is_empty());
    }

    #[test]
    fn the_smallest_range_decides_a_dual_stack_migration_network() {
        // every virt-handler takes one address from each range; fd00:99::/125 hands out six
        let cfg = r#"{"type":"macvlan","master":"bond2","ipam":{"type":"whereabouts",
            "range":"192.168.99.0/28","ipRanges":[{"range":"fd00:99::/125"}]}}"#;
        let mut v = View::new();
        v.upsert_nad(nad(
            "openshift-cnv",
            "migration-bridge",
            &["192.168.99.0/28", "fd00:99::/125"],
            Some(cfg),
        ));
        for i in 0..7 {
            v.upsert_node(format!("w{i}"), true);
        }
        let r = Report::build(&Policy::default(), &v, Vec::new());
        assert_eq!(find(&r, "192.168.99.0/28").usable, Some(14));
        assert_eq!(find(&r, "fd00:99::/125").usable, Some(6));
        let m = &r.migration_networks[0];
        assert_eq!((m.usable, m.virt_handler_nodes, m.enough), (Some(6), Some(7), Some(false)));
        assert!(r.to_text().contains("TOO SMALL: 6 usable addresses for 7 nodes"), "{}", r.to_text());
    }

    #[test]
    fn a_range_claimed_twice_by_one_nad_is_no_overlap() {
        let mut v = View::new();
        v.upsert_nad(nad("a", "b", &["10.200.0.0/16", "10.200.1.0/24"], None));
        let r = Report::build(&Policy::default(), &v, Vec::new());
        assert_eq!(find(&r, "10.200.1.0/24").overlap_count, 0);
    }

    #[test]
    fn many_overlaps_are_summarised() {
        let mut v = View::new();
        v.upsert_nad(nad("a", "wide", &["10.0.0.0/8"], None));
        for i in 0..8 {
            v.upsert_nad(nad("a", &format!("n{i}"), &[&format!("10.{}.0.0/16", 200 + i)], None));
        }
        let r = Report::build(&Policy::default(), &v, Vec::new());
        let wide = r.ranges.iter().find(|l| l.owner.label() == "a/wide").unwrap();
        // 8 NADs plus the default machine (10.0.0.0/16) and pod (10.128.0.0/14) networks
        assert_eq!(wide.overlap_count, 10);
        assert_eq!(wide.overlaps.len(), MAX_NAMED);
        assert!(r.to_text().contains("and 5 more"));
        assert!(!r.has_conflicts(), "no migration NAD involved");
    }

    #[test]
    fn text_is_a_table_then_a_summary() {
        let resources = vec![
            ResourceReport {
                resource: "network-attachment-definitions",
                present: true,
                watching: Some("k8s.cni.cncf.io/v1 network-attachment-definitions"),
                reason: Some("the only version"),
                synced: true,
                staleness_seconds: Some(0.0),
                objects: 3,
                error: None,
            },
            ResourceReport::absent("hyperconvergeds"),
        ];
        let text = Report::build(&Policy::default(), &sample(), resources).to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CIDR ") && lines[0].ends_with("NOTES"), "{text}");
        let mig = lines.iter().find(|l| l.starts_with("192.168.99.0/24")).unwrap();
        assert!(mig.contains("NAD openshift-cnv/migration-bridge [migration]"), "{mig}");
        assert!(mig.contains("239 usable addresses for 3 nodes"), "{mig}");
        assert!(mig.contains("OVERLAPS tenant/overlapper (192.168.99.128/25)"), "{mig}");
        let pod = lines.iter().find(|l| l.starts_with("10.132.0.0/14")).unwrap();
        assert!(pod.contains("pod network (Network cluster status.clusterNetwork)"), "{pod}");
        assert!(text.contains("\nvirt-handler nodes: 3\n"), "{text}");
        assert!(text.contains(
            "HyperConverged openshift-cnv/kubevirt-hyperconverged: live-migration network openshift-cnv/migration-bridge"
        ));
        assert!(text.contains(
            "watch k8s.cni.cncf.io/v1 network-attachment-definitions: synced, 3 objects (the only version)"
        ));
        assert!(text.contains("watch hyperconvergeds: not served by this cluster"));
    }

    #[test]
    fn a_live_hyperconverged_says_which_read_carried_its_settings() {
        let mut v = View::new();
        for (through, network) in [(HcVersion::V1, None), (HcVersion::V1Beta1, Some("migration-bridge"))] {
            v.upsert_hc_read(crate::policy::testutil::hc_read(through, network));
        }
        let r = Report::build(&Policy::default(), &v, Vec::new());
        assert_eq!(r.hyper_convergeds[0].settings_from, Some("v1beta1"));
        assert!(
            r.to_text().contains(
                "live-migration network openshift-cnv/migration-bridge (settings read through v1beta1; \
                 read through v1beta1, v1)"
            ),
            "{}",
            r.to_text()
        );
    }

    #[test]
    fn too_small_for_the_nodes_is_called_out() {
        let mut v = View::new();
        let cfg = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"192.168.99.0/30"}}"#;
        v.upsert_nad(nad("openshift-cnv", "migration-net", &["192.168.99.0/30"], Some(cfg)));
        for i in 0..3 {
            v.upsert_node(format!("w{i}"), false);
        }
        let text = Report::build(&Policy::default(), &v, Vec::new()).to_text();
        assert!(text.contains("TOO SMALL: 2 usable addresses for 3 nodes"), "{text}");
    }

    #[test]
    fn a_cudn_and_its_rendered_nads_are_one_owner_and_unreadable_networks_unknown() {
        use crate::policy::{
            udn::{NetKind, Role, Topology},
            view::{NetEntry, NetName},
        };
        let mut v = sample();
        let cudn = NetName::new(NetKind::Cudn, "", "vm-net");
        for i in 0..300 {
            v.upsert_nad(NadEntry {
                owner: Some(cudn.clone()),
                ..nad(&format!("tenant-{i}"), "vm-net", &["10.200.0.0/16"], None)
            });
        }
        // before the CUDN is seen: one line named after it
        let r = Report::build(&Policy::default(), &v, Vec::new());
        let lines: Vec<&RangeLine> =
            r.ranges.iter().filter(|l| l.cidr.to_string() == "10.200.0.0/16").collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].owner.label(), "ClusterUserDefinedNetwork vm-net");
        assert_eq!(lines[0].overlap_count, 0);
        v.upsert_net(NetEntry {
            key: cudn.clone(),
            topology: Some(Topology::Layer2),
            role: Some(Role::Secondary),
            ranges: ["10.200.0.0/16".parse().unwrap()].into_iter().collect(),
            selector: Some("vms=true".into()),
            unreadable: None,
        });
        v.upsert_net(NetEntry {
            key: NetName::new(NetKind::Udn, "vms", "broken"),
            topology: Some(Topology::Layer2),
            role: None,
            ranges: Default::default(),
            selector: None,
            unreadable: Some("spec.layer2.subnets[0]: Invalid value: \"nope\"".into()),
        });
        let r = Report::build(&Policy::default(), &v, Vec::new());
        let lines: Vec<&RangeLine> =
            r.ranges.iter().filter(|l| l.cidr.to_string() == "10.200.0.0/16").collect();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0].overlap_count, 0);
        assert_eq!(r.user_defined_networks.len(), 2);
        assert_eq!(r.user_defined_networks[1].rendered_nads, 300);
        let text = r.to_text();
        assert!(text.contains("10.200.0.0/16      CUDN vm-net (namespaces: vms=true)"), "{text}");
        assert!(
            text.contains("CUDN vm-net (namespaces: vms=true): Layer2 Secondary, claims 10.200.0.0/16; rendered as 300 NADs (counted once)"),
            "{text}"
        );
        assert!(text.contains("UDN vms/broken: Layer2, UNKNOWN: spec.layer2.subnets[0]"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["userDefinedNetworks"][1]["renderedNads"], 300);
        let owner = &json["ranges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["cidr"] == "10.200.0.0/16")
            .unwrap()["owner"];
        assert_eq!(owner["kind"], "network");
        assert_eq!(owner["networkKind"], "ClusterUserDefinedNetwork");
        assert_eq!(owner["selector"], "vms=true");
    }

    #[test]
    fn json_shape() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        let v = serde_json::to_value(&r).unwrap();
        let mig = v["ranges"].as_array().unwrap().iter().find(|l| l["cidr"] == "192.168.99.0/24").unwrap();
        assert_eq!(mig["owner"]["kind"], "nad");
        assert_eq!(mig["owner"]["migration"], true);
        assert_eq!(mig["usable"], 239);
        assert_eq!(mig["overlapCount"], 1);
        assert_eq!(v["virtHandlerNodes"], 3);
        assert_eq!(v["hyperConvergeds"][0]["network"], "migration-bridge");
        let svc = v["ranges"].as_array().unwrap().iter().find(|l| l["cidr"] == "172.30.0.0/16").unwrap();
        assert_eq!(
            svc["owner"],
            serde_json::json!({"kind": "reserved", "what": "service network", "source": "default"})
        );
        assert!(svc.get("usable").is_none());
    }
    #[test]
    fn migration_panel_has_the_nad_its_users_and_capacity() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        assert_eq!(
            r.migration_networks,
            vec![MigrationNetwork {
                namespace: "openshift-cnv".into(),
                name: "migration-bridge".into(),
                hyper_convergeds: vec!["openshift-cnv/kubevirt-hyperconverged".into()],
                found: true,
                master: Some("bond2".into()),
                ranges: vec!["192.168.99.0/24".parse().unwrap()],
                usable: Some(239),
                virt_handler_nodes: Some(3),
                enough: Some(true),
            }]
        );
    }

    #[test]
    fn a_named_nad_that_is_missing_is_shown_as_such() {
        let mut v = View::new();
        v.upsert_hc(HcEntry {
            namespace: "openshift-cnv".into(),
            name: "hc".into(),
            network: Some("gone".into()),
        });
        let r = Report::build(&Policy::default(), &v, Vec::new());
        let m = &r.migration_networks[0];
        assert_eq!((m.name.as_str(), m.found, m.usable, m.enough), ("gone", false, None, None));
        assert!(m.ranges.is_empty() && m.master.is_none());
    }

    #[test]
    fn free_subnets_are_the_migration_size_and_skip_the_overlapper() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        assert_eq!(r.free_subnets.len(), 1);
        let f = &r.free_subnets[0];
        assert_eq!(
            (f.like, f.family, f.prefix_len),
            (Some("192.168.99.0/24".parse().unwrap()), Family::V4, 24)
        );
        let shown: Vec<String> = f.subnets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.168.100.0/24", "192.168.101.0/24", "192.168.102.0/24"]);
        let none = Report::build(&Policy::default(), &View::new(), Vec::new());
        assert_eq!(none.free_subnets[0].like, None);
        assert_eq!(none.free_subnets[0].subnets[0].to_string(), "192.168.0.0/24");
    }

    #[test]
    fn hc_settings_come_from_the_object() {
        let mut r = Report::build(&Policy::default(), &sample(), Vec::new());
        let hc: kube::core::DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
            "metadata": {"name": "kubevirt-hyperconverged", "namespace": "openshift-cnv"},
            "spec": {"liveMigrationConfig": {"network": "migration-bridge", "completionTimeoutPerGiB": 800}}
        }))
        .unwrap();
        let mut other = hc.clone();
        other.metadata.name = Some("another".into());
        r.add_hc_settings(&other);
        assert_eq!(r.hyper_convergeds[0].live_migration_config, None);
        r.add_hc_settings(&hc);
        let cfg = r.hyper_convergeds[0].live_migration_config.as_ref().unwrap();
        assert_eq!(cfg["completionTimeoutPerGiB"], 800);
    }

    #[test]
    fn json_carries_the_page_data() {
        let r = Report::build(&Policy::default(), &sample(), Vec::new());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["migrationNetworks"][0]["master"], "bond2");
        assert_eq!(v["migrationNetworks"][0]["enough"], true);
        assert_eq!(v["freeSubnets"][0]["subnets"][0], "192.168.100.0/24");
        assert_eq!(v["freeSubnets"][0]["family"], "IPv4");
        assert!(v.get("hostNetworks").is_none(), "no host section without host networks");
    }

    #[test]
    fn host_networks_show_each_nodes_master_and_management() {
        use crate::policy::testutil::{
            edit_iface, hc, nad, node, obj, ovn_state, reference_config, reference_hc_lm,
        };
        let rename = |mut s: serde_json::Value, n: &str| {
            s["metadata"]["name"] = n.into();
            obj(s)
        };
        let objs = [
            nad(&reference_config()),
            hc(crate::policy::HcVersion::V1Beta1, reference_hc_lm()),
            node("w0", true),
            node("w1", true),
            node("w2", true),
            node("w3", true),
            rename(ovn_state("w0", 30), "w0"),
            rename(
                edit_iface(&ovn_state("w1", 31), "bond2", serde_json::json!({"state": "down", "mtu": 1500})),
                "w1",
            ),
            rename(edit_iface(&ovn_state("w2", 32), "bond2", Value::Null), "w2"),
        ];
        let policy = Policy::default();
        let view = crate::policy::feed::view_of(&policy, objs.iter());
        let r = Report::build(&policy, &view, Vec::new());
        let nodes: Vec<(&str, bool)> = r.host_networks.iter().map(|h| (h.node.as_str(), h.known)).collect();
        assert_eq!(nodes, [("w0", true), ("w1", true), ("w2", true), ("w3", false)]);
        assert_eq!(r.host_networks[0].management, ["bond0", "br-ex", "eno1", "eno2"]);
        let text = r.to_text();
        assert!(text.contains("host networks: 3 of 4 virt-handler nodes reported\n"), "{text}");
        assert!(text.contains("  w0  management bond0, br-ex, eno1, eno2; bond2 up, MTU 9000\n"), "{text}");
        assert!(text.contains("  w1  management bond0, br-ex, eno1, eno2; bond2 DOWN, MTU 1500\n"), "{text}");
        assert!(text.contains("  w2  management bond0, br-ex, eno1, eno2; bond2 MISSING\n"), "{text}");
        assert!(text.contains("  w3  UNKNOWN: no NodeNetworkState (host checks skipped)\n"), "{text}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["hostNetworks"][1]["masters"][0],
            serde_json::json!({"master": "bond2", "nad": "openshift-cnv/migration-bridge", "present": true,
                               "state": "down", "mtu": 1500, "management": false})
        );
        assert_eq!(v["hostNetworks"][3]["unknownReason"], "no NodeNetworkState");
        // without any NodeNetworkState, one line says the host rules are off
        let bare =
            Report::build(&policy, &crate::policy::feed::view_of(&policy, objs[..6].iter()), Vec::new());
        assert!(bare.host_networks.is_empty());
        assert!(bare.to_text().ends_with("host networks: no NodeNetworkState known (host rules off)\n"));
    }
}
