//! NetworkAttachmentDefinition rules: which NADs are migration NADs, and what makes one correct.

use std::{net::IpAddr, sync::Arc, sync::LazyLock};

use ipnet::IpNet;
use kube::core::DynamicObject;
use serde_json::{Map, Value};

use super::{
    Admission, Ctx, Operation, Policy, Rule,
    cni::{self, CNI_VERSIONS, NetConf},
    decision::{Findings, msg},
    object,
    ranges::{self, WhereaboutsRange},
};
use crate::view::{NadEntry, NadName};

/// How many overlapping NADs one message names before summarising the rest.
const MAX_NAMED: usize = 3;

/// Ranges that never route between nodes (RFC 6890 special-purpose registry).
static UNROUTABLE: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "\"this network\""),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
        ("::ffff:0:0/96", "IPv4-mapped"),
    ]
    .into_iter()
    .filter_map(|(net, what)| net.parse().ok().map(|n| (n, what)))
    .collect()
});

/// A NAD as the rules read it, whether it came in a request or from the view.
#[derive(Debug, Clone, Copy)]
struct Nad<'a> {
    namespace: &'a str,
    name: &'a str,
    label: Option<bool>,
    config: Option<&'a str>,
}

impl<'a> Nad<'a> {
    fn from_object(policy: &Policy, obj: &'a DynamicObject) -> Self {
        Nad {
            namespace: object::namespace(obj),
            name: object::name(obj),
            label: label(policy, obj),
            config: config(obj),
        }
    }

    fn from_entry(entry: &'a NadEntry) -> Self {
        Nad {
            namespace: &entry.key.namespace,
            name: &entry.key.name,
            label: entry.migration_label,
            config: entry.config.as_deref(),
        }
    }

    fn is(&self, key: &NadName) -> bool {
        key.namespace == self.namespace && key.name == self.name
    }
}

fn config(obj: &DynamicObject) -> Option<&str> {
    object::get(&obj.data, &["spec", "config"]).and_then(Value::as_str)
}

fn label(policy: &Policy, obj: &DynamicObject) -> Option<bool> {
    match obj.metadata.labels.as_ref()?.get(policy.label_key())?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub(super) fn entry(policy: &Policy, obj: &DynamicObject, keep_config: bool) -> NadEntry {
    let config = config(obj);
    NadEntry {
        key: Arc::new(NadName {
            namespace: object::namespace(obj).to_owned(),
            name: object::name(obj).to_owned(),
        }),
        ranges: config.map(cni::claimed_ranges).unwrap_or_default(),
        migration_label: label(policy, obj),
        config: if keep_config { config.map(Arc::from) } else { None },
    }
}

/// Migration NADs: labelled, named by a HyperConverged, or matching a name glob; the label set to
/// "false" opts out of the last two.
fn is_migration(ctx: &Ctx<'_>, nad: &Nad<'_>) -> bool {
    match nad.label {
        Some(marked) => marked,
        None => {
            ctx.view.hcs_using(nad.namespace, nad.name).next().is_some()
                || ctx.policy.globs.is_match(nad.name)
        }
    }
}

pub(super) fn admit(ctx: &Ctx<'_>, admission: &Admission<'_>, f: &mut Findings) {
    match (admission.operation, admission.object, admission.old_object) {
        (Operation::Create | Operation::Update, Some(obj), old) => {
            let nad = Nad::from_object(ctx.policy, obj);
            if is_migration(ctx, &nad) {
                judge_migration(ctx, &nad, f);
            } else {
                judge_other(ctx, &nad, f);
            }
            if let Some(old) = old {
                warn_in_use_range_change(ctx, &nad, old, f);
            }
        }
        (Operation::Delete, _, Some(old)) => deny_delete_in_use(ctx, old, f),
        _ => {}
    }
}

fn deny_delete_in_use(ctx: &Ctx<'_>, old: &DynamicObject, f: &mut Findings) {
    let (ns, name) = (object::namespace(old), object::name(old));
    for hc in ctx.view.hcs_using(ns, name) {
        f.deny(
            Rule::NadInUse,
            "metadata.name",
            msg::forbidden(format!(
                "HyperConverged {}/{} migrates over this network; first remove or change its \
                 liveMigrationConfig.network",
                hc.namespace, hc.name
            )),
        );
    }
}

fn warn_in_use_range_change(ctx: &Ctx<'_>, nad: &Nad<'_>, old: &DynamicObject, f: &mut Findings) {
    let Some(hc) = ctx.view.hcs_using(nad.namespace, nad.name).next() else { return };
    let before = config(old).map(cni::claimed_ranges).unwrap_or_default();
    let after = nad.config.map(cni::claimed_ranges).unwrap_or_default();
    if before != after {
        f.warn(
            Rule::NadInUseRangeChange,
            "spec.config",
            format!(
                "in use by HyperConverged {}: virt-handler pods keep old addresses until restarted",
                hc.name
            ),
        );
    }
}

/// Non-migration NADs are not ours to police, except that they must stay off the migration subnet.
fn judge_other(ctx: &Ctx<'_>, nad: &Nad<'_>, f: &mut Findings) {
    let Some(config) = nad.config else { return };
    if !f.enabled(Rule::NadOverlapMigration) {
        return;
    }
    for claim in cni::claimed_ranges_at(config) {
        let hits: Vec<String> = ctx
            .view
            .overlapping(&claim.net)
            .into_iter()
            .filter(|(_, e)| !nad.is(&e.key) && is_migration(ctx, &Nad::from_entry(e)))
            .map(|(net, e)| format!("{} ({net})", e.key))
            .collect();
        if !hits.is_empty() {
            f.deny(
                Rule::NadOverlapMigration,
                claim.field,
                msg::invalid(
                    &claim.text,
                    format!(
                        "overlaps the live-migration network {}: keep other networks off it",
                        name_list(&hits)
                    ),
                ),
            );
        }
    }
}

/// Every migration NAD rule; also used to re-judge the NAD a HyperConverged names.
fn judge_migration(ctx: &Ctx<'_>, nad: &Nad<'_>, f: &mut Findings) {
    let policy = ctx.policy;
    if nad.namespace.is_empty() {
        f.deny(
            Rule::NadNamespace,
            "metadata.namespace",
            msg::required(format!(
                "a live-migration NAD must be in {}: set it, or kubectl puts it in the current namespace",
                msg::quote(policy.migration_namespace())
            )),
        );
    } else if nad.namespace != policy.migration_namespace() {
        f.deny(
            Rule::NadNamespace,
            "metadata.namespace",
            msg::invalid(
                nad.namespace,
                format!(
                    "a live-migration NAD must be in {}, where virt-handler runs and looks it up by name",
                    msg::quote(policy.migration_namespace())
                ),
            ),
        );
    }
    let config = match nad.config {
        Some(c) if !c.trim().is_empty() => c,
        _ => {
            f.deny(
                Rule::NadConfigMissing,
                "spec.config",
                msg::required(
                    "an empty config makes each node read an on-disk file that cannot be checked; \
                     put the macvlan + whereabouts config here",
                ),
            );
            return;
        }
    };
    let conf = match NetConf::parse(config) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                f.deny(Rule::NadConfigInvalid, format!("spec.config{}", p.field), p.message);
            }
            return;
        }
    };
    cni_version(&conf, f);
    let main = conf.main();
    let path = conf.main_path();
    let kind = conf.main_type();
    if !policy.file().allowed_plugin_types.iter().any(|t| t == kind) {
        f.deny(
            Rule::NadPluginType,
            format!("{path}.type"),
            msg::unsupported(kind, &policy.file().allowed_plugin_types),
        );
    }
    if kind == "macvlan" {
        master(policy, main, path, f);
        mode(main, path, f);
        mtu(main, path, f);
    }
    let claims = ipam(ctx, main, path, f);
    for (i, c) in claims.iter().enumerate() {
        placement(ctx, nad, c, f);
        for other in &claims[..i] {
            if ranges::overlaps(&c.net, &other.net) {
                f.deny(
                    Rule::NadRangeSelfOverlap,
                    c.field.clone(),
                    msg::invalid(
                        &c.text,
                        format!("overlaps {} ({}) of the same NAD", other.field, other.net),
                    ),
                );
            }
        }
    }
}

fn cni_version(conf: &NetConf, f: &mut Findings) {
    let field = "spec.config.cniVersion";
    match conf.root().get("cniVersion") {
        None | Some(Value::Null) => {
            f.deny(Rule::NadCniVersion, field, msg::required("set the CNI version, e.g. \"0.3.1\""))
        }
        Some(Value::String(v)) if CNI_VERSIONS.contains(&v.as_str()) => {}
        Some(Value::String(v)) => f.deny(Rule::NadCniVersion, field, msg::unsupported(v, CNI_VERSIONS)),
        Some(v) => {
            f.deny(Rule::NadCniVersion, field, msg::invalid_json(v, "must be a string such as \"0.3.1\""))
        }
    }
}

/// Linux accepts interface names of 1-15 bytes without '/', ':' or whitespace (`dev_valid_name`).
fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

fn master(policy: &Policy, main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.master");
    let file = policy.file();
    let master = match main.get("master") {
        None | Some(Value::Null) => {
            return f.deny(
                Rule::NadMaster,
                field,
                msg::required(
                    "without master, macvlan uses the default-route interface: the management network; \
                     name the dedicated NIC or bond, e.g. \"bond2\"",
                ),
            );
        }
        Some(Value::String(m)) => m.as_str(),
        Some(v) => return f.deny(Rule::NadMaster, field, msg::invalid_json(v, "must be an interface name")),
    };
    if !valid_ifname(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(master, "not a Linux interface name: 1-15 characters, no '/', ':' or whitespace"),
        );
    }
    let is_mgmt = |n: &str| file.management_interfaces.iter().any(|m| m == n);
    let is_forbidden = |n: &str| file.forbidden_interfaces.iter().any(|m| m == n);
    if is_mgmt(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(master, "is a management interface; use a NIC or bond dedicated to migration"),
        );
    }
    if is_forbidden(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(
                master,
                "carries cluster traffic (forbidden by policy); use a NIC or bond dedicated to migration",
            ),
        );
    }
    let vlan_base = master.rsplit_once('.').filter(|(_, id)| id.parse::<u16>().is_ok()).map(|(base, _)| base);
    match vlan_base {
        Some(base) if is_mgmt(base) => f.warn(
            Rule::NadMasterShared,
            field,
            format!("VLAN of management interface {base}: migrations share its link (needs QoS)"),
        ),
        Some(base) if is_forbidden(base) => f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(
                master,
                format!("is a VLAN of {base}, which carries cluster traffic (forbidden by policy)"),
            ),
        ),
        _ => {}
    }
}

const MODES: &[&str] = &["bridge", "private", "vepa", "passthru"];

fn mode(main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.mode");
    match main.get("mode") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m.is_empty() || m == "bridge" || m == "private" || m == "vepa" => {}
        Some(Value::String(m)) if m == "passthru" => f.warn(
            Rule::NadModePassthru,
            field,
            "passthru takes over the NIC: only one macvlan per node can use it",
        ),
        Some(Value::String(m)) => f.deny(Rule::NadMode, field, msg::unsupported(m, MODES)),
        Some(v) => f.deny(Rule::NadMode, field, msg::invalid_json(v, "must be a string")),
    }
}

fn mtu(main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.mtu");
    let Some(v) = main.get("mtu") else { return };
    let ok = match v.as_i64() {
        Some(n) => n == 0 || (68..=65535).contains(&n),
        None => v.is_null(),
    };
    if !ok {
        f.deny(
            Rule::NadMtu,
            field,
            msg::invalid_json(v, "must be an integer: 0 (the master's MTU) or 68-65535"),
        );
    }
}

/// A range the NAD hands addresses from, with the field it was written in.
#[derive(Debug, Clone)]
struct Claimed {
    field: String,
    text: String,
    net: IpNet,
}

/// Checks the IPAM block; returns the ranges it hands addresses from.
fn ipam(ctx: &Ctx<'_>, main: &Map<String, Value>, path: &str, f: &mut Findings) -> Vec<Claimed> {
    let field = format!("{path}.ipam");
    let allowed = &ctx.policy.file().allowed_ipam_types;
    let ipam = match main.get("ipam") {
        None | Some(Value::Null) => {
            f.deny(
                Rule::NadIpam,
                field,
                msg::required(
                    "without IPAM the migration interface gets no address and virt-handler crash-loops; \
                     add {\"type\": \"whereabouts\", \"range\": \"192.168.99.0/24\"}",
                ),
            );
            return Vec::new();
        }
        Some(Value::Object(ipam)) => ipam,
        Some(v) => {
            f.deny(Rule::NadIpam, field, msg::invalid_json(v, "must be an object"));
            return Vec::new();
        }
    };
    let kind = match ipam.get("type") {
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            f.deny(
                Rule::NadIpam,
                format!("{field}.type"),
                msg::required(format!(
                    "without an IPAM type no address is assigned and virt-handler crash-loops; supported: {}",
                    allowed.join(", ")
                )),
            );
            return Vec::new();
        }
        Some(v) => {
            f.deny(Rule::NadIpam, format!("{field}.type"), msg::invalid_json(v, "must be a string"));
            return Vec::new();
        }
    };
    if !allowed.iter().any(|t| t == kind) {
        f.deny(Rule::NadIpam, format!("{field}.type"), msg::unsupported(kind, allowed));
    }
    if kind == "whereabouts" {
        whereabouts(ctx, ipam, &field, f)
    } else {
        let mut claims = Vec::new();
        cni::collect_ipam(&Value::Object(ipam.clone()), &field, &mut claims);
        claims.into_iter().map(|c| Claimed { field: c.field, text: c.text, net: c.net }).collect()
    }
}

/// One whereabouts range with its own start, end and excludes.
struct RangeSpec<'a> {
    /// Field path of the object holding `range` (the ipam block or an `ipRanges` entry).
    base: String,
    holder: &'a Map<String, Value>,
}

fn whereabouts(ctx: &Ctx<'_>, ipam: &Map<String, Value>, field: &str, f: &mut Findings) -> Vec<Claimed> {
    let mut specs = Vec::new();
    if ipam.get("range").is_some_and(|r| !r.is_null()) {
        specs.push(RangeSpec { base: field.to_owned(), holder: ipam });
    }
    match ipam.get("ipRanges") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for (i, e) in entries.iter().enumerate() {
                let base = format!("{field}.ipRanges[{i}]");
                match e {
                    Value::Object(holder) => specs.push(RangeSpec { base, holder }),
                    v => f.deny(
                        Rule::NadRange,
                        base,
                        msg::invalid_json(v, "must be an object with a \"range\""),
                    ),
                }
            }
        }
        Some(v) => {
            f.deny(Rule::NadRange, format!("{field}.ipRanges"), msg::invalid_json(v, "must be a list"))
        }
    }
    if specs.is_empty() {
        f.deny(
            Rule::NadRange,
            format!("{field}.range"),
            msg::required("whereabouts needs a range, e.g. \"192.168.99.0/24\", or ipRanges"),
        );
        return Vec::new();
    }
    let mut claims = Vec::new();
    let mut allocatable = Vec::new();
    for spec in &specs {
        if let Some((claim, alloc)) = whereabouts_range(ctx, spec, f) {
            claims.push(claim);
            allocatable.push(alloc);
        }
    }
    gateway(ipam, field, &claims, &allocatable, f);
    claims
}

/// What one range can hand out: its bounds and excludes.
struct Allocatable {
    lo: u128,
    hi: u128,
    excludes: Vec<IpNet>,
}

fn whereabouts_range(
    ctx: &Ctx<'_>,
    spec: &RangeSpec<'_>,
    f: &mut Findings,
) -> Option<(Claimed, Allocatable)> {
    let field = format!("{}.range", spec.base);
    let text = match spec.holder.get("range") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) => {
            f.deny(
                Rule::NadRange,
                field,
                msg::required("each ipRanges entry needs a range, e.g. \"192.168.99.0/24\""),
            );
            return None;
        }
        Some(v) => {
            f.deny(Rule::NadRange, field, msg::invalid_json(v, "must be a string"));
            return None;
        }
    };
    let range: WhereaboutsRange = match ranges::parse_range(text) {
        Ok(r) => r,
        Err(e) => {
            f.deny(Rule::NadRange, field, msg::invalid(text, e));
            return None;
        }
    };
    let cidr = range.cidr();
    if range.has_host_bits() {
        f.warn(Rule::NadRangeHostBits, field.clone(), format!("host bits set: whereabouts uses {cidr}"));
    }
    let (mut lo, mut hi) = ranges::bounds(&cidr);
    if let Some((start, end)) = range.span {
        lo = ranges::to_u128(start);
        hi = ranges::to_u128(end);
    }
    let start = bound(spec, "range_start", &cidr, f);
    let end = bound(spec, "range_end", &cidr, f);
    if let (Some(s), Some(e)) = (start, end)
        && ranges::to_u128(s) > ranges::to_u128(e)
    {
        f.deny(
            Rule::NadRangeBounds,
            format!("{}.range_end", spec.base),
            msg::invalid(&e.to_string(), format!("is before range_start {s}")),
        );
    }
    if let Some(s) = start {
        lo = lo.max(ranges::to_u128(s));
    }
    if let Some(e) = end {
        hi = hi.min(ranges::to_u128(e));
    }
    let excludes = excludes(spec, &cidr, f);
    let small = ranges::too_small(&cidr);
    if small {
        f.deny(
            Rule::NadRangeTooSmall,
            field.clone(),
            msg::invalid(
                text,
                "whereabouts cannot allocate from a /31, /32, /127 or /128; use at least a /30",
            ),
        );
    }
    let usable = ranges::usable(&cidr, lo, hi, &excludes);
    if !small && usable == 0 && !excludes.is_empty() {
        f.deny(
            Rule::NadExclude,
            format!("{}.exclude", spec.base),
            msg::forbidden(format!("the excludes leave no address of {cidr} to hand out")),
        );
    } else if !small {
        capacity(ctx, &field, text, usable, f);
    }
    Some((Claimed { field, text: text.to_owned(), net: cidr }, Allocatable { lo, hi, excludes }))
}

fn bound(spec: &RangeSpec<'_>, key: &str, cidr: &IpNet, f: &mut Findings) -> Option<IpAddr> {
    let field = format!("{}.{key}", spec.base);
    let v = spec.holder.get(key)?;
    let text = match v {
        Value::Null => return None,
        Value::String(t) => t.as_str(),
        v => {
            f.deny(Rule::NadRangeBounds, field, msg::invalid_json(v, "must be an IP address string"));
            return None;
        }
    };
    let Ok(ip) = text.trim().parse::<IpAddr>() else {
        f.deny(
            Rule::NadRangeBounds,
            field,
            msg::invalid(text, "not an IP address (whereabouts would silently ignore it)"),
        );
        return None;
    };
    if !cidr.contains(&ip) {
        f.deny(
            Rule::NadRangeBounds,
            field,
            msg::invalid(text, format!("outside the range {cidr} (whereabouts would silently ignore it)")),
        );
        return None;
    }
    Some(ip)
}

fn excludes(spec: &RangeSpec<'_>, cidr: &IpNet, f: &mut Findings) -> Vec<IpNet> {
    let field = format!("{}.exclude", spec.base);
    let list = match spec.holder.get("exclude") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(v) => {
            f.deny(Rule::NadExclude, field, msg::invalid_json(v, "must be a list of CIDRs or addresses"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let Some(text) = v.as_str() else {
            f.deny(Rule::NadExclude, field, msg::invalid_json(v, "must be a CIDR or an IP address string"));
            continue;
        };
        match ranges::parse_cidr_or_ip(text) {
            None => f.deny(Rule::NadExclude, field, msg::invalid(text, "not a CIDR or an IP address")),
            Some(net) if !cidr.contains(&net) => {
                f.deny(Rule::NadExclude, field, msg::invalid(text, format!("outside the range {cidr}")))
            }
            Some(net) => out.push(net),
        }
    }
    out
}

fn capacity(ctx: &Ctx<'_>, field: &str, text: &str, usable: u128, f: &mut Findings) {
    let Some(nodes) = ctx.view.virt_handler_nodes() else { return };
    let nodes = nodes as u128;
    if usable < nodes {
        f.deny(
            Rule::NadCapacity,
            field,
            msg::invalid(
                text,
                format!("{usable} usable addresses for {nodes} virt-handler nodes; each node needs one: use a larger range"),
            ),
        );
    } else if usable < nodes.saturating_mul(2) {
        f.warn(
            Rule::NadCapacityLow,
            field,
            format!("{usable} addresses for {nodes} nodes: little room to grow"),
        );
    }
}

fn gateway(
    ipam: &Map<String, Value>,
    field: &str,
    claims: &[Claimed],
    alloc: &[Allocatable],
    f: &mut Findings,
) {
    let field = format!("{field}.gateway");
    let text = match ipam.get("gateway") {
        None | Some(Value::Null) => return,
        Some(Value::String(t)) => t.as_str(),
        Some(v) => {
            return f.deny(Rule::NadGateway, field, msg::invalid_json(v, "must be an IP address string"));
        }
    };
    let Ok(gw) = text.trim().parse::<IpAddr>() else {
        return f.deny(Rule::NadGateway, field, msg::invalid(text, "not an IP address"));
    };
    if claims.is_empty() {
        return;
    }
    let Some(i) = claims.iter().position(|c| c.net.contains(&gw)) else {
        let nets: Vec<String> = claims.iter().map(|c| c.net.to_string()).collect();
        return f.deny(
            Rule::NadGateway,
            field,
            msg::invalid(text, format!("outside every range ({})", nets.join(", "))),
        );
    };
    let a = &alloc[i];
    let host = IpNet::from(gw);
    let excluded = a.excludes.iter().any(|e| e.contains(&host));
    let n = ranges::to_u128(gw);
    let net = &claims[i].net;
    let edge = matches!(net, IpNet::V4(_)) && (gw == net.network() || gw == net.broadcast());
    if !excluded && !edge && (a.lo..=a.hi).contains(&n) {
        f.warn(
            Rule::NadGatewayAllocatable,
            field,
            format!("{gw} is not excluded: whereabouts can hand it to a pod; add it to exclude"),
        );
    }
}

/// Where a range sits: never on special, reserved or other NADs' networks.
fn placement(ctx: &Ctx<'_>, nad: &Nad<'_>, c: &Claimed, f: &mut Findings) {
    for (net, what) in UNROUTABLE.iter() {
        if ranges::overlaps(&c.net, net) {
            f.deny(
                Rule::NadRangeUnroutable,
                c.field.clone(),
                msg::invalid(
                    &c.text,
                    format!("overlaps the {what} range {net}, which never routes between nodes"),
                ),
            );
        }
    }
    for r in ctx.policy.reserved(ctx.view) {
        if ranges::overlaps(&c.net, &r.net) {
            let from = match r.source {
                "default" | "policy" => String::new(),
                discovered => format!(" (from {discovered})"),
            };
            f.deny(
                Rule::NadOverlapReserved,
                c.field.clone(),
                msg::invalid(&c.text, format!("overlaps the {} {}{from}", r.what, r.net)),
            );
        }
    }
    if !f.enabled(Rule::NadOverlapNad) {
        return;
    }
    let hits: Vec<String> = ctx
        .view
        .overlapping(&c.net)
        .into_iter()
        .filter(|(_, e)| !nad.is(&e.key))
        .map(|(net, e)| format!("{} ({net})", e.key))
        .collect();
    if !hits.is_empty() {
        f.deny(
            Rule::NadOverlapNad,
            c.field.clone(),
            msg::invalid(&c.text, format!("overlaps NetworkAttachmentDefinition {}", name_list(&hits))),
        );
    }
}

/// "a, b, c and 4 more", so a 0.0.0.0/0 range against 100k NADs stays one readable line.
fn name_list(items: &[String]) -> String {
    let mut sorted: Vec<&String> = items.iter().collect();
    sorted.sort();
    let shown: Vec<&str> = sorted.iter().take(MAX_NAMED).map(|s| s.as_str()).collect();
    match items.len().saturating_sub(MAX_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Re-judges a stored NAD by every migration rule, for the HyperConverged that names it.
pub(super) fn judge_stored(ctx: &Ctx<'_>, entry: &NadEntry, f: &mut Findings) {
    judge_migration(ctx, &Nad::from_entry(entry), f);
}

#[cfg(test)]
#[path = "nad_tests.rs"]
mod tests;
