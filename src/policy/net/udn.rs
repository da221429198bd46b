//! UserDefinedNetworks and ClusterUserDefinedNetworks (`k8s.ovn.org/v1`) as OVN-Kubernetes reads them:
//! their topology, role and the address space they claim, with a field error for every part that
//! OVN-Kubernetes could not render, so a bad object is reported where it was written, never skipped.
//!
//! A UserDefinedNetwork keeps its network at `spec`, a ClusterUserDefinedNetwork at `spec.network`;
//! both claim `subnets` (Layer2, Localnet) or `subnets[].cidr` (Layer3), less `excludeSubnets`, and a
//! primary network also its join subnet (given, or OVN-Kubernetes' default), the same ranges
//! [`super::cni::claimed_ranges_at`] reads from the NAD OVN-Kubernetes renders from it.

use std::{fmt, net::IpAddr, sync::LazyLock};

use ipnet::IpNet;
use serde_json::Value;

use super::{
    cni::{Claim, subtract},
    ranges,
};
use crate::policy::{decision::msg, object};

/// The label OVN-Kubernetes puts on every NAD it renders from a UDN or CUDN.
pub const RENDERED_LABEL: &str = "k8s.ovn.org/user-defined-network";

/// The join subnets of a primary network where none is given (`pkg/types/const.go`).
pub static DEFAULT_JOIN: LazyLock<[IpNet; 2]> =
    LazyLock::new(|| ["100.65.0.0/16", "fd99::/64"].map(|s| s.parse().unwrap_or_else(|_| unreachable!())));

/// How a network is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topology {
    Layer2,
    Layer3,
    Localnet,
}

impl Topology {
    /// As the CRD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Layer2 => "Layer2",
            Topology::Layer3 => "Layer3",
            Topology::Localnet => "Localnet",
        }
    }

    /// The key of its settings block (`layer2`, `layer3`, `localnet`).
    fn block(self) -> &'static str {
        match self {
            Topology::Layer2 => "layer2",
            Topology::Layer3 => "layer3",
            Topology::Localnet => "localnet",
        }
    }

    /// A localnet network puts VMs straight on a physical segment; the others are overlays.
    pub fn is_localnet(self) -> bool {
        self == Topology::Localnet
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the network is the pods' primary network or an extra interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    /// As the CRD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "Primary",
            Role::Secondary => "Secondary",
        }
    }
}

/// Which of the two kinds an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetKind {
    /// `UserDefinedNetwork`, namespaced: one network in its own namespace.
    Udn,
    /// `ClusterUserDefinedNetwork`, cluster-scoped: one network in every namespace it selects.
    Cudn,
}

impl NetKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            NetKind::Udn => "UserDefinedNetwork",
            NetKind::Cudn => "ClusterUserDefinedNetwork",
        }
    }

    /// From a kind name, as an owner reference gives it.
    pub fn from_kind(kind: &str) -> Option<NetKind> {
        match kind {
            "UserDefinedNetwork" => Some(NetKind::Udn),
            "ClusterUserDefinedNetwork" => Some(NetKind::Cudn),
            _ => None,
        }
    }

    /// Where the network settings sit.
    fn base(self) -> &'static str {
        match self {
            NetKind::Udn => "spec",
            NetKind::Cudn => "spec.network",
        }
    }

    fn topologies(self) -> &'static [&'static str] {
        match self {
            NetKind::Udn => &["Layer2", "Layer3"],
            NetKind::Cudn => &["Layer2", "Layer3", "Localnet"],
        }
    }
}

impl fmt::Display for NetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field OVN-Kubernetes could not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path from the object root, e.g. `spec.network.localnet.subnets[0]`.
    pub field: String,
    /// Kubernetes field-error wording.
    pub message: String,
}

/// A UDN's or CUDN's network as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdnSpec {
    pub topology: Option<Topology>,
    pub role: Option<Role>,
    /// What it hands addresses from, less its excludes, with the field each comes from.
    pub claims: Vec<Claim>,
    /// Every field that could not be read; claims of those fields are missing.
    pub problems: Vec<Problem>,
}

impl UdnSpec {
    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { field: field.into(), message: message.into() });
    }
}

/// Most subnets read from one object: the CRD allows 400 Layer3 subnets; a dump may hold anything.
const MAX_SUBNETS: usize = 400;

/// Reads the network of a UDN (`kind` Udn) or CUDN object's data.
pub fn read(kind: NetKind, data: &Value) -> UdnSpec {
    let mut spec = UdnSpec::default();
    let base = kind.base();
    let path: Vec<&str> = base.split('.').collect();
    let network = match object::get(data, &path) {
        Some(Value::Object(n)) => n,
        None | Some(Value::Null) => {
            spec.problem(base, msg::required(format!("a {kind} needs its network settings here")));
            return spec;
        }
        Some(other) => {
            spec.problem(base, msg::invalid_json(other, "must be an object"));
            return spec;
        }
    };
    if kind == NetKind::Cudn {
        match data.get("spec").and_then(|s| s.get("namespaceSelector")) {
            Some(Value::Object(_)) => {}
            None | Some(Value::Null) => spec.problem(
                "spec.namespaceSelector",
                msg::required(
                    "the namespaces that get the network; {} selects every namespace, say so explicitly",
                ),
            ),
            Some(other) => {
                spec.problem("spec.namespaceSelector", msg::invalid_json(other, "must be a label selector"))
            }
        }
    }
    let topology = match network.get("topology") {
        Some(Value::String(t)) => match t.as_str() {
            "Layer2" => Some(Topology::Layer2),
            "Layer3" => Some(Topology::Layer3),
            "Localnet" if kind == NetKind::Cudn => Some(Topology::Localnet),
            other => {
                let why = msg::unsupported(other, kind.topologies());
                let why = match other {
                    "Localnet" => format!("{why} (Localnet is for ClusterUserDefinedNetworks only)"),
                    _ => why,
                };
                spec.problem(format!("{base}.topology"), why);
                None
            }
        },
        None | Some(Value::Null) => {
            spec.problem(
                format!("{base}.topology"),
                msg::required(format!("one of {}", kind.topologies().join(", "))),
            );
            None
        }
        Some(other) => {
            spec.problem(format!("{base}.topology"), msg::invalid_json(other, "must be a string"));
            None
        }
    };
    spec.topology = topology;
    for t in [Topology::Layer2, Topology::Layer3, Topology::Localnet] {
        if Some(t) != topology && network.get(t.block()).is_some_and(|b| !b.is_null()) && topology.is_some() {
            spec.problem(
                format!("{base}.{}", t.block()),
                msg::forbidden(format!(
                    "only the {} block of topology {} is read",
                    topology.map_or("", |t| t.block()),
                    topology.map_or("", Topology::as_str)
                )),
            );
        }
    }
    let Some(topology) = topology else { return spec };
    let field = format!("{base}.{}", topology.block());
    let block = match network.get(topology.block()) {
        Some(Value::Object(b)) => b,
        None | Some(Value::Null) => {
            spec.problem(
                field,
                msg::required(format!("topology {topology} needs its {} block", topology.block())),
            );
            return spec;
        }
        Some(other) => {
            spec.problem(field, msg::invalid_json(other, "must be an object"));
            return spec;
        }
    };
    let block = Value::Object(block.clone());
    read_block(&mut spec, topology, &block, &field);
    spec
}

fn read_block(spec: &mut UdnSpec, topology: Topology, block: &Value, field: &str) {
    let role = match block.get("role") {
        Some(Value::String(r)) => match (r.as_str(), topology) {
            ("Secondary", _) => Some(Role::Secondary),
            ("Primary", Topology::Layer2 | Topology::Layer3) => Some(Role::Primary),
            (other, Topology::Localnet) => {
                spec.problem(format!("{field}.role"), msg::unsupported(other, &["Secondary"]));
                None
            }
            (other, _) => {
                spec.problem(format!("{field}.role"), msg::unsupported(other, &["Primary", "Secondary"]));
                None
            }
        },
        None | Some(Value::Null) => {
            let allowed = if topology.is_localnet() { "Secondary" } else { "Primary or Secondary" };
            spec.problem(format!("{field}.role"), msg::required(allowed));
            None
        }
        Some(other) => {
            spec.problem(format!("{field}.role"), msg::invalid_json(other, "must be a string"));
            None
        }
    };
    spec.role = role;
    let ipam_disabled = match object::get(block, &["ipam", "mode"]) {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "Enabled" => false,
        Some(Value::String(m)) if m == "Disabled" => true,
        Some(Value::String(m)) => {
            spec.problem(format!("{field}.ipam.mode"), msg::unsupported(m, &["Enabled", "Disabled"]));
            false
        }
        Some(other) => {
            spec.problem(format!("{field}.ipam.mode"), msg::invalid_json(other, "must be a string"));
            false
        }
    };
    if ipam_disabled && topology == Topology::Layer3 {
        spec.problem(
            format!("{field}.ipam.mode"),
            msg::forbidden("Layer3 networks always hand out addresses"),
        );
    }
    if ipam_disabled && role == Some(Role::Primary) {
        spec.problem(
            format!("{field}.ipam.mode"),
            msg::forbidden("IPAM can be disabled on Secondary networks only"),
        );
    }
    let subnets_field = format!("{field}.subnets");
    let subnets = match block.get("subnets") {
        None | Some(Value::Null) => {
            if !ipam_disabled {
                spec.problem(
                    &subnets_field,
                    msg::required(match topology {
                        Topology::Layer3 => "Layer3 networks need subnets, e.g. [{cidr: 10.100.0.0/16, hostSubnet: 24}]",
                        _ => "the network's CIDRs (one per IP family), or set ipam.mode: Disabled for a Secondary network without addresses",
                    }),
                );
            }
            Vec::new()
        }
        Some(Value::Array(_)) if ipam_disabled => {
            spec.problem(&subnets_field, msg::forbidden("must be unset when ipam.mode is Disabled"));
            Vec::new()
        }
        Some(Value::Array(items)) if items.is_empty() => {
            spec.problem(&subnets_field, msg::required("at least one CIDR"));
            Vec::new()
        }
        Some(Value::Array(items)) if items.len() > MAX_SUBNETS => {
            spec.problem(
                &subnets_field,
                format!("Too many: {}: must have at most {MAX_SUBNETS} items", items.len()),
            );
            Vec::new()
        }
        Some(Value::Array(items)) => match topology {
            Topology::Layer3 => layer3_subnets(spec, items, &subnets_field),
            _ => flat_subnets(spec, items, &subnets_field),
        },
        Some(other) => {
            spec.problem(&subnets_field, msg::invalid_json(other, "must be a list of CIDRs"));
            Vec::new()
        }
    };
    let excludes = cidr_list(spec, block.get("excludeSubnets"), &format!("{field}.excludeSubnets"));
    for (f, text, ex) in &excludes {
        if !subnets.iter().any(|(_, _, s)| s.contains(ex)) && !subnets.is_empty() {
            spec.problem(
                f.clone(),
                msg::invalid(
                    text,
                    "must lie inside one of the subnets: OVN-Kubernetes refuses an exclude outside them",
                ),
            );
        }
    }
    let excluded: Vec<IpNet> = excludes.iter().map(|(_, _, n)| *n).collect();
    for (f, text, net) in &subnets {
        for piece in subtract(*net, &excluded) {
            spec.claims.push(Claim { field: f.clone(), text: text.clone(), net: piece });
        }
    }
    let join_field = format!("{field}.joinSubnets");
    let joins = cidr_list(spec, block.get("joinSubnets"), &join_field);
    match role {
        Some(Role::Primary) => {
            if joins.is_empty() {
                for d in DEFAULT_JOIN.iter() {
                    if subnets.iter().any(|(_, _, s)| s.max_prefix_len() == d.max_prefix_len()) {
                        let text = format!("{d} (the default join subnet)");
                        spec.claims.push(Claim { field: join_field.clone(), text, net: *d });
                    }
                }
            }
            for (f, text, net) in joins {
                spec.claims.push(Claim { field: f, text, net });
            }
        }
        _ if !joins.is_empty() => {
            spec.problem(join_field, msg::forbidden("only Primary networks have a join subnet"));
        }
        _ => {}
    }
}

/// `subnets` of Layer2 and Localnet: CIDR strings, at most one per IP family.
fn flat_subnets(spec: &mut UdnSpec, items: &[Value], field: &str) -> Vec<(String, String, IpNet)> {
    let out = cidr_list(spec, Some(&Value::Array(items.to_vec())), field);
    families(spec, &out, field);
    out
}

/// `subnets` of Layer3: `{cidr, hostSubnet}`, each node getting a `/hostSubnet` of the cidr.
fn layer3_subnets(spec: &mut UdnSpec, items: &[Value], field: &str) -> Vec<(String, String, IpNet)> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Value::Object(entry) = item else {
            spec.problem(at, msg::invalid_json(item, "must be an object {cidr, hostSubnet}"));
            continue;
        };
        let Some((text, net)) = cidr(spec, entry.get("cidr"), &format!("{at}.cidr")) else { continue };
        let (default, max) = match net {
            IpNet::V4(_) => (24, 31),
            IpNet::V6(_) => (64, 127),
        };
        match entry.get("hostSubnet") {
            None | Some(Value::Null) if net.prefix_len() >= default => spec.problem(
                format!("{at}.cidr"),
                msg::invalid(
                    &text,
                    format!(
                        "without hostSubnet each node gets a /{default}, which must be smaller than the subnet: \
                         set hostSubnet between {} and {max}, or widen the subnet",
                        net.prefix_len() + 1
                    ),
                ),
            ),
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(h) if h > u64::from(net.prefix_len()) && h <= max => {}
                _ => spec.problem(
                    format!("{at}.hostSubnet"),
                    msg::invalid_json(
                        v,
                        format!(
                            "must be a prefix length longer than the subnet's /{} and at most {max}",
                            net.prefix_len()
                        ),
                    ),
                ),
            },
        }
        out.push((format!("{at}.cidr"), text, net));
    }
    families(spec, &out, field);
    out
}

/// Two subnets of one family: OVN-Kubernetes takes one CIDR per family on Layer2 and Localnet, and
/// on Layer3 refuses subnets that overlap.
fn families(spec: &mut UdnSpec, subnets: &[(String, String, IpNet)], _field: &str) {
    for (i, (f, text, net)) in subnets.iter().enumerate() {
        if let Some((_, other, _)) = subnets[..i].iter().find(|(_, _, o)| ranges::overlaps(o, net)) {
            spec.problem(
                f.clone(),
                msg::invalid(text, format!("overlaps {} of the same network", msg::quote(other))),
            );
        }
    }
}

/// A list of CIDR strings; entries that do not parse are problems.
fn cidr_list(spec: &mut UdnSpec, value: Option<&Value>, field: &str) -> Vec<(String, String, IpNet)> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .take(MAX_SUBNETS)
            .enumerate()
            .filter_map(|(i, v)| {
                let at = format!("{field}[{i}]");
                cidr(spec, Some(v), &at).map(|(text, net)| (at, text, net))
            })
            .collect(),
        Some(other) => {
            spec.problem(field, msg::invalid_json(other, "must be a list of CIDRs"));
            Vec::new()
        }
    }
}

/// One CIDR (host bits masked, as OVN-Kubernetes does).
fn cidr(spec: &mut UdnSpec, value: Option<&Value>, field: &str) -> Option<(String, IpNet)> {
    match value {
        Some(Value::String(s)) => match s.trim().parse::<IpNet>() {
            Ok(net) => Some((s.clone(), net.trunc())),
            Err(_) => {
                let hint = match s.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => " (an address alone: add the prefix length, e.g. /24)",
                    Ok(IpAddr::V6(_)) => " (an address alone: add the prefix length, e.g. /64)",
                    Err(_) => "",
                };
                spec.problem(
                    field,
                    msg::invalid(s, format!("must be a CIDR such as 10.100.0.0/16 or fd10::/64{hint}")),
                );
                None
            }
        },
        None | Some(Value::Null) => {
            spec.problem(field, msg::required("a CIDR such as 10.100.0.0/16"));
            None
        }
        Some(other) => {
            spec.problem(field, msg::invalid_json(other, "must be a CIDR string"));
            None
        }
    }
}

/// Most selector terms shown before summarising: a CUDN may list hundreds of namespaces.
const MAX_SHOWN: usize = 3;

/// A CUDN's namespace selector as one short line (`kubernetes.io/metadata.name in (a, b, c +497)`).
pub fn selector_summary(data: &Value) -> String {
    let Some(sel) = data.get("spec").and_then(|s| s.get("namespaceSelector")) else {
        return "no namespace selector".to_owned();
    };
    let mut terms: Vec<String> = Vec::new();
    if let Some(Value::Object(labels)) = sel.get("matchLabels") {
        for (k, v) in labels {
            terms.push(format!("{k}={}", v.as_str().unwrap_or("?")));
        }
    }
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("?");
            let op = e.get("operator").and_then(Value::as_str).unwrap_or("?");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let shown = values.iter().take(MAX_SHOWN).copied().collect::<Vec<_>>().join(", ");
            let more = match values.len().saturating_sub(MAX_SHOWN) {
                0 => String::new(),
                n => format!(" +{n}"),
            };
            terms.push(match op {
                "Exists" | "DoesNotExist" => format!("{key} {}", op.to_lowercase()),
                _ => format!("{key} {} ({shown}{more})", op.to_lowercase()),
            });
        }
    }
    if terms.is_empty() {
        "every namespace".to_owned()
    } else {
        crate::text::printable(&terms.join(", ")).into_owned()
    }
}

#[cfg(test)]
#[path = "udn_tests.rs"]
mod tests;
