//! whereabouts IPAM rules: ranges that parse, stay consistent and leave an address for every node.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::policy::{
    Ctx, Rule,
    cni::Claim,
    decision::{Findings, msg},
    ranges::{self, Allocatable, WhereaboutsRange},
};

/// One whereabouts range with its own start, end and excludes.
struct RangeSpec<'a> {
    /// Field path of the object holding `range` (the ipam block or an `ipRanges` entry).
    base: String,
    holder: &'a Map<String, Value>,
}

/// Checks a whereabouts IPAM block; returns the ranges it claims and, for each, what it hands out.
pub(in crate::policy) fn check(
    ctx: &Ctx<'_>,
    ipam: &Map<String, Value>,
    field: &str,
    f: &mut Findings,
) -> (Vec<Claim>, Vec<Allocatable>) {
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
            msg::required(
                "whereabouts needs a range (or ipRanges) of its own: a subnet no other network of the \
                 cluster uses",
            ),
        );
        return (Vec::new(), Vec::new());
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
    node_slices(ctx, ipam, field, &specs, f);
    (claims, allocatable)
}

/// Fast IPAM (`node_slice_size`): the range is cut into slices of that prefix and each node takes one,
/// so there must be a slice per virt-handler node, each with an address to hand out. whereabouts
/// supports it for IPv4 ranges written as an exact network address, and ignores start, end and
/// exclude there.
fn node_slices(
    ctx: &Ctx<'_>,
    ipam: &Map<String, Value>,
    field: &str,
    specs: &[RangeSpec<'_>],
    f: &mut Findings,
) {
    let slice_field = format!("{field}.node_slice_size");
    let size = match ipam.get("node_slice_size") {
        None | Some(Value::Null) => return,
        Some(v) => v,
    };
    let parsed = match size {
        Value::String(t) => t.trim().trim_start_matches('/').parse::<u8>().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        _ => None,
    };
    let Some(slice) = parsed.filter(|p| *p <= 128) else {
        return f.deny(
            Rule::NadNodeSlice,
            slice_field,
            msg::invalid_json(size, "must be a prefix length such as \"/26\""),
        );
    };
    for spec in specs {
        let Some(text) = spec.holder.get("range").and_then(Value::as_str) else { continue };
        let Ok(range) = ranges::parse_range(text) else { continue };
        let range_field = format!("{}.range", spec.base);
        let cidr = range.cidr();
        let IpNet::V4(v4) = cidr else {
            f.deny(
                Rule::NadNodeSlice,
                range_field,
                msg::invalid(text, "Fast IPAM node slices (node_slice_size) work with IPv4 ranges only"),
            );
            continue;
        };
        if range.span.is_some() || range.has_host_bits() {
            f.deny(
                Rule::NadNodeSlice,
                range_field.clone(),
                msg::invalid(
                    text,
                    format!("with node_slice_size the range must be a network address: {cidr}"),
                ),
            );
        }
        for key in ["range_start", "range_end", "exclude"] {
            if spec.holder.get(key).is_some_and(|v| !v.is_null()) {
                f.warn(
                    Rule::NadNodeSlice,
                    format!("{}.{key}", spec.base),
                    format!("ignored with node_slice_size: each node hands out its whole slice of {cidr}"),
                );
            }
        }
        if slice < v4.prefix_len() {
            f.deny(
                Rule::NadNodeSlice,
                slice_field.clone(),
                msg::invalid(
                    &format!("/{slice}"),
                    format!(
                        "a /{slice} slice is larger than the range {cidr}: it cannot be cut into node slices"
                    ),
                ),
            );
            continue;
        }
        // each node allocates from its slice as from a range of its own
        let one_slice = IpNet::new(IpAddr::V4(v4.network()), slice)
            .map(|written| WhereaboutsRange { written, span: None });
        if one_slice.is_ok_and(|r| ranges::allocatable(&r, None, None, &[]).count() == 0) {
            f.deny(
                Rule::NadNodeSlice,
                slice_field.clone(),
                msg::invalid(
                    &format!("/{slice}"),
                    "a /31 or /32 slice has no address to hand out: use /30 or larger",
                ),
            );
            continue;
        }
        let slices = 1u128 << (slice - v4.prefix_len());
        if let Some(nodes) = ctx.view.virt_handler_nodes().map(u128::from)
            && slices < nodes
        {
            f.deny(
                Rule::NadNodeSlice,
                slice_field.clone(),
                msg::invalid(
                    &format!("/{slice}"),
                    format!(
                        "{cidr} makes {slices} slices of /{slice} for {nodes} virt-handler nodes: a node without \
                         a slice gets no address; use a smaller slice or a larger range"
                    ),
                ),
            );
        }
    }
}

fn whereabouts_range(ctx: &Ctx<'_>, spec: &RangeSpec<'_>, f: &mut Findings) -> Option<(Claim, Allocatable)> {
    let field = format!("{}.range", spec.base);
    let text = match spec.holder.get("range") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) => {
            f.deny(
                Rule::NadRange,
                field,
                msg::required("each ipRanges entry needs a range: a CIDR such as \"192.168.99.0/24\""),
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
    let start = bound(spec, "range_start", &cidr, f);
    let end = bound(spec, "range_end", &cidr, f);
    if let (Some(s), Some(e)) = (start, end)
        && ranges::to_u128(s) > ranges::to_u128(e)
    {
        f.deny(
            Rule::NadRangeBounds,
            format!("{}.range_end", spec.base),
            msg::invalid(
                &e.to_string(),
                format!(
                    "is before range_start {s}: whereabouts would ignore it and hand out up to the end of the \
                     range"
                ),
            ),
        );
    }
    if range.span.is_some() {
        // whereabouts takes both bounds from the start-end/prefix form and drops these
        for (key, given) in [("range_start", start), ("range_end", end)] {
            if let Some(ip) = given {
                f.deny(
                    Rule::NadRangeBounds,
                    format!("{}.{key}", spec.base),
                    msg::invalid(
                        &ip.to_string(),
                        format!(
                            "whereabouts ignores {key} when the range is written as start-end/prefix ({text}): \
                             put the bounds in the range, or write it as the CIDR {cidr}"
                        ),
                    ),
                );
            }
        }
    }
    let excludes = excludes(spec, &cidr, f);
    let small = ranges::too_small(&cidr);
    if small {
        f.deny(
            Rule::NadRangeTooSmall,
            field.clone(),
            msg::invalid(
                text,
                "whereabouts cannot allocate from a /31, /32, /127 or /128; use at least a /30 (or a /126)",
            ),
        );
    }
    let alloc = ranges::allocatable(&range, start, end, &excludes);
    let usable = alloc.count();
    if !small && usable == 0 && !excludes.is_empty() {
        f.deny(
            Rule::NadExclude,
            format!("{}.exclude", spec.base),
            msg::forbidden(format!("the excludes leave no address of {cidr} to hand out")),
        );
    } else if !small {
        capacity(ctx, &field, text, usable, f);
    }
    Some((Claim { field, text: text.to_owned(), net: cidr }, alloc))
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
            Some(net) => {
                if !cidr.contains(&net) {
                    f.deny(Rule::NadExclude, field, msg::invalid(text, format!("outside the range {cidr}")));
                }
                // whereabouts skips every address of it that lies in the range all the same
                out.push(net);
            }
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
    claims: &[Claim],
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
    if alloc[i].hands_out(gw) {
        f.warn(
            Rule::NadGatewayAllocatable,
            field,
            format!("{gw} is not excluded: whereabouts can hand it to a pod; add it to exclude"),
        );
    }
}
