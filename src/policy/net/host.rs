//! Host networks as kubernetes-nmstate reports them (`NodeNetworkState`, nmstate.io/v1beta1, named
//! after its node): the interfaces and default routes the host rules judge a migration NAD's
//! `master` against.
//!
//! A NodeNetworkState is written by a node agent, yet read as untrusted input: anything that cannot
//! be read makes the node's host network unknown, never a panic and never "fine". Only what the
//! rules read is kept (about a hundred bytes per interface), so 2,000 nodes of 40 interfaces stay
//! small; see README "Host networks".

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

use ipnet::IpNet;
use kube::core::DynamicObject;
use serde_json::Value;

use crate::policy::object;

/// Most interfaces read from one node; a state listing more makes the node unknown.
pub const MAX_INTERFACES: usize = 16_384;
/// Longest interface name kept (Linux allows 15 bytes, OVS records may be longer).
const MAX_NAME: usize = 256;
/// Most addresses read from one interface; more make the node unknown.
const MAX_LIST: usize = 1024;
/// Most ports read from one bond or bridge (an OVS bridge can hold thousands); more make the node
/// unknown.
pub const MAX_PORTS: usize = MAX_INTERFACES;
/// Most routes scanned for the default route.
const MAX_ROUTES: usize = 100_000;

/// The interface types the rules tell apart (nmstate's list is open: the rest are `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IfaceType {
    Ethernet,
    Bond,
    Vlan,
    LinuxBridge,
    OvsBridge,
    OvsInterface,
    Other,
}

impl IfaceType {
    /// Reads nmstate's kebab-case type name.
    pub fn parse(s: &str) -> IfaceType {
        match s {
            "ethernet" => IfaceType::Ethernet,
            "bond" => IfaceType::Bond,
            "vlan" => IfaceType::Vlan,
            "linux-bridge" => IfaceType::LinuxBridge,
            "ovs-bridge" => IfaceType::OvsBridge,
            "ovs-interface" => IfaceType::OvsInterface,
            _ => IfaceType::Other,
        }
    }

    /// The name messages use.
    pub fn describe(self) -> &'static str {
        match self {
            IfaceType::Ethernet => "ethernet",
            IfaceType::Bond => "bond",
            IfaceType::Vlan => "vlan",
            IfaceType::LinuxBridge => "linux-bridge",
            IfaceType::OvsBridge => "ovs-bridge",
            IfaceType::OvsInterface => "ovs-interface",
            IfaceType::Other => "other",
        }
    }

    /// Types whose ports are enslaved to them (a macvlan on a port fails with EBUSY).
    fn has_ports(self) -> bool {
        matches!(self, IfaceType::Bond | IfaceType::LinuxBridge | IfaceType::OvsBridge)
    }
}

/// An interface state as reported (`up` means administratively up, not carrier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IfaceState {
    Up,
    Down,
    Absent,
    /// Not managed by NetworkManager, or a type nmstate does not support.
    Ignore,
    Unknown,
}

impl IfaceState {
    /// Reads nmstate's state name; anything else is `Unknown`.
    pub fn parse(s: &str) -> IfaceState {
        match s {
            "up" => IfaceState::Up,
            "down" => IfaceState::Down,
            "absent" => IfaceState::Absent,
            "ignore" => IfaceState::Ignore,
            _ => IfaceState::Unknown,
        }
    }

    /// The word shown in messages and reports.
    pub fn describe(self) -> &'static str {
        match self {
            IfaceState::Up => "up",
            IfaceState::Down => "down",
            IfaceState::Absent => "absent",
            IfaceState::Ignore => "ignore",
            IfaceState::Unknown => "unknown",
        }
    }

    /// Down or gone: a macvlan on it carries nothing.
    pub fn is_down(self) -> bool {
        matches!(self, IfaceState::Down | IfaceState::Absent)
    }
}

/// One interface record of a host (a name can have two: OVN's `br-ex` bridge and internal port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: Box<str>,
    pub kind: IfaceType,
    pub state: IfaceState,
    /// `None` when absent or not a sensible number.
    pub mtu: Option<u32>,
    /// The bond or bridge it is a port of.
    pub controller: Option<Box<str>>,
    /// Ports of a bond, Linux bridge or OVS bridge (OVS bonds' members included).
    pub ports: Box<[Box<str>]>,
    /// `vlan.base-iface` of a VLAN.
    pub vlan_base: Option<Box<str>>,
    /// Configured addresses with their prefix lengths.
    pub addresses: Box<[IpNet]>,
    /// Part of the node's management interface (see [`HostNetwork::mark_management`]).
    pub management: bool,
}

impl Iface {
    /// Enslaved to a bond or bridge: OVS internal ports (`ovs-interface`) name their bridge as
    /// controller but take no rx_handler, so they are not ports in the kernel's sense.
    pub fn is_port(&self) -> bool {
        self.controller.is_some() && self.kind != IfaceType::OvsInterface
    }
}

/// One node's host network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNetwork {
    /// Sorted by (name, type), one record per pair.
    ifaces: Box<[Iface]>,
    /// Interfaces the default routes (0.0.0.0/0, ::/0, main table) leave through.
    default_routes: Box<[Box<str>]>,
}

/// Why a node's host network cannot be read: the node counts as unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("no status.currentState: kubernetes-nmstate has not reported this node yet")]
    NoState,
    #[error("status.currentState.interfaces is {0}, expected a list")]
    NotAList(&'static str),
    #[error("{0} interfaces, more than the {MAX_INTERFACES} mignet reads")]
    TooMany(usize),
    #[error("interface {0:?} lists more than {MAX_PORTS} ports or {MAX_LIST} addresses")]
    TooLong(String),
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A name as the model keeps it: a non-empty string of sensible length.
fn name_of(v: Option<&Value>) -> Option<Box<str>> {
    let s = v?.as_str()?;
    (!s.is_empty() && s.len() <= MAX_NAME).then(|| s.into())
}

/// An MTU: a non-negative integer that fits 32 bits; anything else is unknown.
pub fn mtu_of(v: Option<&Value>) -> Option<u32> {
    v?.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// Port names of a list of strings or `{name: …}` objects (nmstate uses both shapes).
pub fn port_names(v: Option<&Value>) -> Option<impl Iterator<Item = &str>> {
    let list = v?.as_array()?;
    Some(list.iter().filter_map(|p| p.as_str().or_else(|| p.get("name").and_then(Value::as_str))))
}

/// The bond section under any spelling nmstate accepts (`link-aggregation`, alias `bond`) and its
/// port list under any spelling (`port`, `ports`, deprecated `slaves`): `None` when no list is given.
pub fn bond_ports(iface: &Value) -> Option<&Value> {
    let la = iface.get("link-aggregation").or_else(|| iface.get("bond"))?;
    ["port", "ports", "slaves"].iter().find_map(|k| la.get(*k).filter(|v| !v.is_null()))
}

impl HostNetwork {
    /// Reads a NodeNetworkState: the whole object as JSON (its `status` is read).
    pub fn from_state(object: &Value) -> Result<HostNetwork, HostError> {
        let state = object::get(object, &["status", "currentState"]).filter(|v| v.is_object());
        let Some(state) = state else { return Err(HostError::NoState) };
        let list = match state.get("interfaces") {
            Some(Value::Array(list)) => list,
            None => return Err(HostError::NotAList("missing")),
            Some(v) => return Err(HostError::NotAList(json_kind(v))),
        };
        if list.len() > MAX_INTERFACES {
            return Err(HostError::TooMany(list.len()));
        }
        let mut ifaces = Vec::with_capacity(list.len());
        for v in list {
            if let Some(iface) = read_iface(v)? {
                ifaces.push(iface);
            }
        }
        let ifaces = linked(ifaces);
        let mut default_routes: Vec<Box<str>> = Vec::new();
        let running = object::get(state, &["routes", "running"]).and_then(Value::as_array);
        for r in running.into_iter().flatten().take(MAX_ROUTES) {
            let dest = r.get("destination").and_then(Value::as_str);
            let table = r.get("table-id").map_or(Some(254), Value::as_u64);
            if matches!(dest, Some("0.0.0.0/0" | "::/0"))
                && table == Some(254)
                && let Some(dev) = name_of(r.get("next-hop-interface"))
                && !default_routes.contains(&dev)
            {
                default_routes.push(dev);
            }
        }
        Ok(HostNetwork { ifaces, default_routes: default_routes.into() })
    }

    /// Builds a host network from interfaces (tests and benchmarks).
    pub fn new(ifaces: Vec<Iface>, default_routes: &[&str]) -> HostNetwork {
        HostNetwork {
            ifaces: linked(ifaces),
            default_routes: default_routes.iter().map(|s| (*s).into()).collect(),
        }
    }

    /// Every interface record, by name then type.
    pub fn ifaces(&self) -> &[Iface] {
        &self.ifaces
    }

    /// The records named `name` (none, one, or OVN's two for `br-ex`).
    pub fn named(&self, name: &str) -> &[Iface] {
        let start = self.ifaces.partition_point(|i| &*i.name < name);
        let end = start + self.ifaces[start..].partition_point(|i| &*i.name == name);
        &self.ifaces[start..end]
    }

    /// The default routes' interfaces.
    pub fn default_routes(&self) -> &[Box<str>] {
        &self.default_routes
    }

    /// What the rules read of the interface `name`, when the host has one.
    pub fn facts(&self, name: &str) -> Option<Facts<'_>> {
        let records = self.named(name);
        // the kernel side holds state, MTU and addresses: prefer it to OVS's user-space bridge record
        let primary = records.iter().find(|i| i.kind != IfaceType::OvsBridge).or(records.first())?;
        Some(Facts {
            kind: primary.kind,
            state: primary.state,
            mtu: primary.mtu,
            port_of: records.iter().find(|i| i.is_port()).and_then(|i| i.controller.as_deref()),
            management: records.iter().any(|i| i.management),
            records,
        })
    }

    /// Marks the management interface: the default-route interfaces, those holding one of the node's
    /// `internal_ips`, OVN-Kubernetes' `br-ex`, with what they stand on (a bridge's or bond's ports, a
    /// VLAN's base, an OVS internal port's bridge) and every VLAN on any of these.
    pub fn mark_management(&mut self, internal_ips: &[IpAddr]) {
        for i in self.ifaces.iter_mut() {
            i.management = false;
        }
        let mut work: Vec<Box<str>> = self.default_routes.to_vec();
        for i in self.ifaces.iter() {
            if &*i.name == "br-ex" || i.addresses.iter().any(|a| internal_ips.contains(&a.addr())) {
                work.push(i.name.clone());
            }
        }
        self.mark_closure(work);
        // VLANs on the management interface share its link: loop while a pass marks something new
        for _ in 0..self.ifaces.len().min(16) {
            let more: Vec<Box<str>> = self
                .ifaces
                .iter()
                .filter(|i| !i.management && i.vlan_base.as_deref().is_some_and(|b| self.is_management(b)))
                .map(|i| i.name.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            self.mark_closure(more);
        }
    }

    fn is_management(&self, name: &str) -> bool {
        self.named(name).iter().any(|i| i.management)
    }

    fn mark_closure(&mut self, mut work: Vec<Box<str>>) {
        while let Some(name) = work.pop() {
            let start = self.ifaces.partition_point(|i| i.name < name);
            let end = start + self.ifaces[start..].partition_point(|i| i.name == name);
            for i in self.ifaces[start..end].iter_mut() {
                if i.management {
                    continue;
                }
                i.management = true;
                if i.kind.has_ports() {
                    work.extend(i.ports.iter().cloned());
                }
                work.extend(i.vlan_base.clone());
                if i.kind == IfaceType::OvsInterface {
                    work.extend(i.controller.clone());
                }
            }
        }
    }

    /// Names of the management interfaces, for reports.
    pub fn management(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.ifaces.iter().filter(|i| i.management).map(|i| &*i.name).collect();
        names.dedup();
        names
    }

    /// What an interface stands on: itself, a bond's or bridge's ports, a VLAN's base and what the
    /// base stands on. Removing or downing any of these breaks a macvlan on `name`.
    pub fn dependencies<'a>(&'a self, name: &'a str) -> Vec<Dependency<'a>> {
        let mut out: Vec<Dependency<'a>> = Vec::new();
        let mut work = vec![(name, Role::Master)];
        while let Some((n, role)) = work.pop() {
            if out.iter().any(|d| d.name == n) || out.len() > 64 {
                continue;
            }
            let Some(facts) = self.facts(n) else { continue };
            let mut ports = Vec::new();
            for r in facts.records {
                if r.kind.has_ports() {
                    ports.extend(r.ports.iter().map(|p| &**p));
                }
                if r.kind == IfaceType::Bond || r.kind == IfaceType::LinuxBridge {
                    work.extend(r.ports.iter().map(|p| (&**p, Role::PortOf(n))));
                }
                if let Some(b) = &r.vlan_base {
                    work.push((b, Role::BaseOf(n)));
                }
            }
            out.push(Dependency { name: n, role, mtu: facts.mtu, ports });
        }
        out
    }
}

/// Why an interface matters to a macvlan master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    Master,
    /// A port of this bond or bridge.
    PortOf(&'a str),
    /// The base of this VLAN.
    BaseOf(&'a str),
}

/// An interface a master stands on, with what the NNCP rules compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency<'a> {
    pub name: &'a str,
    pub role: Role<'a>,
    pub mtu: Option<u32>,
    /// Its own ports, when it is a bond or bridge.
    pub ports: Vec<&'a str>,
}

/// What the rules read of one interface name on one node.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub kind: IfaceType,
    pub state: IfaceState,
    pub mtu: Option<u32>,
    /// The bond or bridge it is enslaved to.
    pub port_of: Option<&'a str>,
    pub management: bool,
    pub records: &'a [Iface],
}

impl Facts<'_> {
    /// Every address configured under this name.
    pub fn addresses(&self) -> impl Iterator<Item = &IpNet> {
        self.records.iter().flat_map(|r| r.addresses.iter())
    }
}

/// Sorts the records by (name, type), one per pair, and makes every port relation two-sided, as
/// nmstate writes it on either side: a record listed by a bond or bridge (`port`, `bridge.port`)
/// that names no `controller` gets the first lister as its controller, and a record naming a
/// controller joins that bond's or bridge's port list. A record never becomes its own port (OVN's
/// `br-ex` bridge lists its internal port of the same name, which is another record); cycles and
/// names listed twice are kept as written and cost one binary search per listed name.
fn linked(mut ifaces: Vec<Iface>) -> Box<[Iface]> {
    ifaces.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    ifaces.dedup_by(|a, b| a.name == b.name && a.kind == b.kind);
    for i in ifaces.iter_mut().filter(|i| !i.ports.is_sorted()) {
        let mut ports = std::mem::take(&mut i.ports).into_vec();
        ports.sort();
        ports.dedup();
        i.ports = ports.into();
    }
    let range = |ifaces: &[Iface], name: &str| {
        let start = ifaces.partition_point(|i| &*i.name < name);
        start..start + ifaces[start..].partition_point(|i| &*i.name == name)
    };
    let mut controllers: Vec<(usize, Box<str>)> = Vec::new();
    let mut joins: Vec<(usize, Box<str>)> = Vec::new();
    for (at, i) in ifaces.iter().enumerate() {
        if i.kind.has_ports() {
            for p in i.ports.iter() {
                for r in range(&ifaces, p).filter(|r| *r != at && ifaces[*r].controller.is_none()) {
                    controllers.push((r, i.name.clone()));
                }
            }
        }
        if let Some(c) = &i.controller {
            for r in range(&ifaces, c) {
                if r != at && ifaces[r].kind.has_ports() && ifaces[r].ports.binary_search(&i.name).is_err() {
                    joins.push((r, i.name.clone()));
                }
            }
        }
    }
    for (r, c) in controllers {
        ifaces[r].controller.get_or_insert(c);
    }
    joins.sort();
    joins.dedup();
    for group in joins.chunk_by(|a, b| a.0 == b.0) {
        let i = &mut ifaces[group[0].0];
        let mut ports: Vec<Box<str>> =
            i.ports.iter().cloned().chain(group.iter().map(|(_, p)| p.clone())).collect();
        ports.sort();
        ports.dedup();
        i.ports = ports.into();
    }
    ifaces.into()
}

fn read_iface(v: &Value) -> Result<Option<Iface>, HostError> {
    let Some(name) = name_of(v.get("name")) else { return Ok(None) };
    let kind = v.get("type").and_then(Value::as_str).map_or(IfaceType::Other, IfaceType::parse);
    let state = v.get("state").and_then(Value::as_str).map_or(IfaceState::Unknown, IfaceState::parse);
    let too_long = || HostError::TooLong(name.to_string());
    let mut ports: Vec<Box<str>> = Vec::new();
    let mut add_ports = |list: Option<&Value>| -> Result<(), HostError> {
        if list.and_then(Value::as_array).is_some_and(|l| l.len() > MAX_PORTS) {
            return Err(too_long());
        }
        ports.extend(port_names(list).into_iter().flatten().filter_map(|p| name_of(Some(&Value::from(p)))));
        Ok(())
    };
    match kind {
        IfaceType::Bond => add_ports(bond_ports(v))?,
        IfaceType::LinuxBridge | IfaceType::OvsBridge => {
            let list = object::get(v, &["bridge", "port"]);
            add_ports(list)?;
            // an OVS bond inside the bridge: its members are ports too
            for p in list.and_then(Value::as_array).into_iter().flatten() {
                add_ports(p.get("link-aggregation").and_then(|la| la.get("port")))?;
            }
        }
        _ => {}
    }
    ports.sort();
    ports.dedup();
    if ports.len() > MAX_PORTS {
        return Err(too_long());
    }
    let mut addresses = Vec::new();
    for family in ["ipv4", "ipv6"] {
        let list = object::get(v, &[family, "address"]).and_then(Value::as_array);
        if list.is_some_and(|l| l.len() > MAX_LIST) {
            return Err(too_long());
        }
        for a in list.into_iter().flatten() {
            let ip = a.get("ip").and_then(Value::as_str).and_then(|s| s.parse::<IpAddr>().ok());
            let prefix = a.get("prefix-length").and_then(Value::as_u64).and_then(|p| u8::try_from(p).ok());
            if let (Some(ip), Some(prefix)) = (ip, prefix)
                && let Ok(net) = IpNet::new(ip, prefix)
            {
                addresses.push(net);
            }
        }
    }
    Ok(Some(Iface {
        name,
        kind,
        state,
        mtu: mtu_of(v.get("mtu")),
        controller: name_of(v.get("controller")),
        ports: ports.into(),
        vlan_base: if kind == IfaceType::Vlan {
            name_of(object::get(v, &["vlan", "base-iface"]))
        } else {
            None
        },
        addresses: addresses.into(),
        management: false,
    }))
}

/// A node's InternalIP addresses from a Node object's `status.addresses`.
pub fn internal_ips(node: &DynamicObject) -> Vec<IpAddr> {
    let list = object::get(&node.data, &["status", "addresses"]).and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
        .filter_map(|a| a.get("address")?.as_str()?.trim().parse().ok())
        .collect()
}

/// The node a NodeNetworkState describes (its name) and its host network: what a watcher hands to
/// [`crate::policy::view::View::upsert_host_network`].
pub fn host_network(obj: &DynamicObject) -> (String, Result<HostNetwork, HostError>) {
    (object::name(obj).to_owned(), HostNetwork::from_state(&obj.data))
}

/// Per interface name, what the virt-handler nodes' host networks say, counted so the NAD rules
/// answer from a few lookups whatever the number of nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NameCounts {
    /// Nodes having an interface of this name.
    pub present: u32,
    /// ... where it is a port of a bond or bridge.
    pub port: u32,
    /// ... where it is down.
    pub down: u32,
    /// ... where it is part of the management interface.
    pub management: u32,
    /// Nodes per MTU (unknown MTUs are not counted).
    pub mtus: BTreeMap<u32, u32>,
    /// Nodes per address configured under this name.
    pub addresses: BTreeMap<IpAddr, u32>,
}

impl NameCounts {
    fn apply(&mut self, f: &Facts<'_>, add: bool) {
        let step = |n: &mut u32| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        step(&mut self.present);
        if f.port_of.is_some() {
            step(&mut self.port);
        }
        if f.state.is_down() {
            step(&mut self.down);
        }
        if f.management {
            step(&mut self.management);
        }
        if let Some(m) = f.mtu {
            bump(&mut self.mtus, m, add);
        }
        let mut seen: Vec<IpAddr> = Vec::new();
        for a in f.addresses() {
            if !seen.contains(&a.addr()) {
                seen.push(a.addr());
                bump(&mut self.addresses, a.addr(), add);
            }
        }
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u32>, key: K, add: bool) {
    if add {
        *map.entry(key).or_insert(0) += 1;
    } else if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// A node's stored host network, and how it is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostEntry {
    pub state: Result<HostNetwork, HostError>,
    /// `Some(selected)` while counted (its Node is in the view).
    counted: Option<bool>,
}

/// Counts for all nodes (`[0]`) and for nodes matching the virt-handler selector (`[1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostNetworks {
    /// By node name, in the order the view keeps its nodes, so both can be walked side by side.
    nodes: BTreeMap<Box<str>, HostEntry>,
    names: HashMap<Box<str>, [NameCounts; 2]>,
    /// Readable host networks counted.
    pub readable: [u32; 2],
}

impl HostNetworks {
    /// Whether any NodeNetworkState is held (otherwise the host rules stay silent).
    pub fn any(&self) -> bool {
        !self.nodes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(|k| &**k)
    }

    /// Every stored host network, by node name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &HostEntry)> {
        self.nodes.iter().map(|(k, e)| (&**k, e))
    }

    pub fn get(&self, node: &str) -> Option<&HostEntry> {
        self.nodes.get(node)
    }

    pub fn counts(&self, name: &str, class: usize) -> Option<&NameCounts> {
        self.names.get(name).map(|c| &c[class])
    }

    /// Stores a node's host network; `node` is `Some((selected, internal IPs))` when its Node is known.
    pub fn upsert(
        &mut self,
        name: &str,
        state: Result<HostNetwork, HostError>,
        node: Option<(bool, &[IpAddr])>,
    ) {
        self.uncount(name);
        self.nodes.insert(name.into(), HostEntry { state, counted: None });
        self.count(name, node);
    }

    pub fn remove(&mut self, name: &str) -> Option<Result<HostNetwork, HostError>> {
        self.uncount(name);
        self.nodes.remove(name).map(|e| e.state)
    }

    /// Counts a node again after its Node changed (or went: `None`).
    pub fn recount(&mut self, name: &str, node: Option<(bool, &[IpAddr])>) {
        if self.nodes.contains_key(name) {
            self.uncount(name);
            self.count(name, node);
        }
    }

    fn uncount(&mut self, name: &str) {
        let Some(entry) = self.nodes.get_mut(name) else { return };
        let Some(selected) = entry.counted.take() else { return };
        let Ok(host) = &entry.state else { return };
        Self::tally(&mut self.names, &mut self.readable, host, selected, false);
    }

    fn count(&mut self, name: &str, node: Option<(bool, &[IpAddr])>) {
        let (Some(entry), Some((selected, ips))) = (self.nodes.get_mut(name), node) else { return };
        entry.counted = Some(selected);
        let Ok(host) = &mut entry.state else { return };
        host.mark_management(ips);
        Self::tally(&mut self.names, &mut self.readable, host, selected, true);
    }

    fn tally(
        names: &mut HashMap<Box<str>, [NameCounts; 2]>,
        readable: &mut [u32; 2],
        host: &HostNetwork,
        selected: bool,
        add: bool,
    ) {
        let classes: &[usize] = if selected { &[0, 1] } else { &[0] };
        for &c in classes {
            readable[c] = if add { readable[c] + 1 } else { readable[c].saturating_sub(1) };
        }
        let mut last: Option<&str> = None;
        for i in host.ifaces() {
            if last == Some(&*i.name) {
                continue;
            }
            last = Some(&i.name);
            let Some(facts) = host.facts(&i.name) else { continue };
            let counts = names.entry(i.name.clone()).or_default();
            for &c in classes {
                counts[c].apply(&facts, add);
            }
            let gone = counts[0].present == 0;
            if gone {
                names.remove(&i.name);
            }
        }
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
