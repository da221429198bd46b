//! UserDefinedNetworks and ClusterUserDefinedNetworks in the view, and the claimants of address space
//! the rules see: a NAD OVN-Kubernetes rendered from a UDN or CUDN is the same network as its owner,
//! so it is one claimant, named after the owner, never an overlap with it and never counted twice.

use std::fmt;

use ipnet::IpNet;

use super::{NadEntry, Ranges, View};
use crate::policy::udn::{NetKind, Role, Topology};

/// A UDN's or CUDN's identity: its kind, namespace (empty for a CUDN) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetName {
    pub kind: NetKind,
    /// Empty for a CUDN.
    pub namespace: String,
    pub name: String,
}

impl NetName {
    /// The identity of a UDN (`namespace` given) or a CUDN (`namespace` ignored).
    pub fn new(kind: NetKind, namespace: &str, name: &str) -> Self {
        let namespace = if kind == NetKind::Cudn { String::new() } else { namespace.to_owned() };
        NetName { kind, namespace, name: name.to_owned() }
    }

    /// `namespace/name`, or the name of a cluster-scoped CUDN.
    pub fn qualified(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

impl fmt::Display for NetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.qualified())
    }
}

/// A UDN or CUDN as the view keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetEntry {
    pub key: NetName,
    pub topology: Option<Topology>,
    pub role: Option<Role>,
    /// Networks it hands addresses from, less its excludes, with a primary network's join subnet.
    pub ranges: Ranges,
    /// A CUDN's namespace selector, shown as the network's scope.
    pub selector: Option<String>,
    /// Why part of it could not be read: its claims are then not fully known.
    pub unreadable: Option<String>,
}

/// Who claims a range: a NAD of its own, or a UDN/CUDN (through its object or a NAD rendered from it).
#[derive(Debug, Clone, Copy)]
pub enum Claimant<'a> {
    Nad(&'a NadEntry),
    Net(&'a NetEntry),
    /// A NAD rendered from a UDN/CUDN the view does not hold (its CRD unwatched, or not yet seen).
    Rendered(&'a NadEntry, &'a NetName),
}

impl Claimant<'_> {
    /// The kind as messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Claimant::Nad(_) => "NetworkAttachmentDefinition",
            Claimant::Net(e) => e.key.kind.as_str(),
            Claimant::Rendered(_, owner) => owner.kind.as_str(),
        }
    }

    /// `namespace/name` (a CUDN: its name).
    pub fn qualified(&self) -> String {
        match self {
            Claimant::Nad(e) if e.key.namespace().is_empty() => e.key.name().to_owned(),
            Claimant::Nad(e) => e.key.to_string(),
            Claimant::Net(e) => e.key.qualified(),
            Claimant::Rendered(_, owner) => owner.qualified(),
        }
    }

    /// Whether this claimant is the NAD `key` or the UDN/CUDN that NAD was rendered from.
    pub fn is_nad(&self, nad: &NadEntry) -> bool {
        match self {
            Claimant::Nad(e) | Claimant::Rendered(e, _) => e.key == nad.key,
            Claimant::Net(e) => nad.owner.as_ref() == Some(&e.key),
        }
    }

    /// Whether this claimant is the network `key` (or a NAD rendered from it).
    pub fn is_net(&self, key: &NetName) -> bool {
        match self {
            Claimant::Nad(e) => e.owner.as_ref() == Some(key),
            Claimant::Net(e) => &e.key == key,
            Claimant::Rendered(_, owner) => *owner == key,
        }
    }

    /// Sort key and identity, one per network: NADs first, then UDNs, then CUDNs, by namespace and name.
    pub fn order(&self) -> (u8, &str, &str) {
        match self {
            Claimant::Nad(e) => (0, e.key.namespace(), e.key.name()),
            Claimant::Net(e) => (1 + e.key.kind as u8, &e.key.namespace, &e.key.name),
            Claimant::Rendered(_, owner) => (1 + owner.kind as u8, &owner.namespace, &owner.name),
        }
    }
}

impl View {
    /// Adds or replaces a UDN or CUDN (a watch ADDED or MODIFIED event, or a file).
    pub fn upsert_net(&mut self, entry: NetEntry) {
        self.remove_net(&entry.key);
        for net in &entry.ranges {
            self.net_index.insert(*net, entry.key.clone());
        }
        if entry.unreadable.is_some() {
            self.unreadable_nets.insert(entry.key.clone());
        }
        self.nets.insert(entry.key.clone(), entry);
    }

    /// Removes a UDN or CUDN; unknown names are ignored.
    pub fn remove_net(&mut self, key: &NetName) -> Option<NetEntry> {
        let old = self.nets.remove(key)?;
        self.unreadable_nets.remove(key);
        for net in &old.ranges {
            self.net_index.remove(*net, &old.key);
        }
        Some(old)
    }

    /// Looks a UDN or CUDN up.
    pub fn net(&self, key: &NetName) -> Option<&NetEntry> {
        self.nets.get(key)
    }

    /// Every UDN and CUDN, UDNs first, by namespace and name.
    pub fn nets(&self) -> impl Iterator<Item = &NetEntry> {
        self.nets.values()
    }

    /// The UDNs and CUDNs that could not be fully read, by kind, namespace and name: what they claim
    /// is unknown, never taken as nothing.
    pub fn unreadable_nets(&self) -> impl ExactSizeIterator<Item = &NetName> {
        self.unreadable_nets.iter()
    }

    /// Number of UDNs and CUDNs held.
    pub fn net_count(&self) -> usize {
        self.nets.len()
    }

    /// The claimant a NAD stands for: its owner where it was rendered from a UDN/CUDN.
    pub fn claimant_of<'a>(&'a self, entry: &'a NadEntry) -> Claimant<'a> {
        match &entry.owner {
            Some(owner) => match self.nets.get(owner) {
                Some(net) => Claimant::Net(net),
                None => Claimant::Rendered(entry, owner),
            },
            None => Claimant::Nad(entry),
        }
    }

    /// Every claimant of a network overlapping `net`, once each, with the network it claims: NADs,
    /// UDNs and CUDNs, and the NADs rendered from them folded into their owner.
    pub fn claims_overlapping(&self, net: &IpNet) -> Vec<(IpNet, Claimant<'_>)> {
        let mut hits: Vec<(IpNet, Claimant<'_>)> = Vec::new();
        let mut rendered = false;
        for (claimed, entry) in self.overlapping(net) {
            match &entry.owner {
                // its owner's own claims are found below
                Some(owner) if self.nets.contains_key(owner) => {}
                Some(owner) => {
                    rendered = true;
                    hits.push((claimed, Claimant::Rendered(entry, owner)));
                }
                None => hits.push((claimed, Claimant::Nad(entry))),
            }
        }
        for (claimed, key) in self.net_index.overlapping(net) {
            if let Some(e) = self.nets.get(key) {
                hits.push((claimed, Claimant::Net(e)));
            }
        }
        if rendered {
            // a CUDN rendered into many namespaces is one network
            hits.sort_by(|a, b| (a.0, a.1.order()).cmp(&(b.0, b.1.order())));
            hits.dedup_by(|a, b| a.0 == b.0 && a.1.order() == b.1.order());
        }
        hits
    }

    /// Networks of UDNs and CUDNs overlapping `net`, for the free-subnet search.
    pub fn nets_overlapping(&self, net: &IpNet) -> Vec<(IpNet, &NetName)> {
        self.net_index.overlapping(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::view::NadName;

    fn net_entry(kind: NetKind, ns: &str, name: &str, ranges: &[&str]) -> NetEntry {
        NetEntry {
            key: NetName::new(kind, ns, name),
            topology: Some(Topology::Layer2),
            role: Some(Role::Secondary),
            ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            selector: None,
            unreadable: None,
        }
    }

    fn rendered(ns: &str, owner: &NetName, range: &str) -> NadEntry {
        NadEntry {
            owner: Some(owner.clone()),
            ..crate::policy::testutil::nad_entry(ns, &owner.name, &[range], None)
        }
    }

    fn names(v: &View, q: &str) -> Vec<String> {
        let mut n: Vec<String> = v
            .claims_overlapping(&q.parse().unwrap())
            .iter()
            .map(|(net, c)| format!("{} {} ({net})", c.kind(), c.qualified()))
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_cudn_and_the_nads_rendered_from_it_are_one_claimant_in_either_order() {
        let cudn = NetName::new(NetKind::Cudn, "", "vm-net");
        let want = ["ClusterUserDefinedNetwork vm-net (10.200.0.0/16)"];
        // rendered NADs first (their owner not yet seen): one claimant, named after the owner
        let mut v = View::new();
        for i in 0..300 {
            v.upsert_nad(rendered(&format!("tenant-{i}"), &cudn, "10.200.0.0/16"));
        }
        assert_eq!(names(&v, "10.200.0.0/24"), want);
        // then the owner: still one
        v.upsert_net(net_entry(NetKind::Cudn, "", "vm-net", &["10.200.0.0/16"]));
        assert_eq!(names(&v, "10.0.0.0/8"), want);
        // and the owner alone, once its NADs are gone
        for i in 0..300 {
            v.remove_nad(&format!("tenant-{i}"), "vm-net");
        }
        assert_eq!(names(&v, "10.200.1.0/24"), want);
        assert!(v.remove_net(&cudn).is_some());
        assert!(names(&v, "10.0.0.0/8").is_empty());
    }

    #[test]
    fn a_hand_written_nad_beside_a_udn_is_a_claimant_of_its_own() {
        let mut v = View::new();
        v.upsert_net(net_entry(NetKind::Udn, "ns1", "blue", &["10.10.0.0/24"]));
        v.upsert_nad(crate::policy::testutil::nad_entry("ns1", "red", &["10.10.0.0/25"], None));
        assert_eq!(
            names(&v, "10.10.0.0/16"),
            [
                "NetworkAttachmentDefinition ns1/red (10.10.0.0/25)",
                "UserDefinedNetwork ns1/blue (10.10.0.0/24)"
            ]
        );
        let udn = v.net(&NetName::new(NetKind::Udn, "ns1", "blue")).unwrap();
        let red = v.nad("ns1", "red").unwrap();
        assert!(!Claimant::Net(udn).is_nad(red));
        let blue = rendered("ns1", &udn.key, "10.10.0.0/24");
        assert!(Claimant::Net(udn).is_nad(&blue));
        assert!(v.claimant_of(&blue).is_net(&udn.key));
        assert_eq!(NadName::new("ns1", "blue"), blue.key);
    }
}
