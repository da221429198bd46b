//! NetworkAttachmentDefinition rules: which NADs are migration NADs, and what makes one correct.

use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use kube::core::DynamicObject;
use serde_json::{Map, Value};

use super::{
    Admission, Ctx, Operation, Policy, Rule,
    cni::{self, CNI_VERSIONS, Claim, NetConf},
    decision::{Findings, msg},
    macvlan, nad_host, object, ranges, whereabouts,
};
use crate::view::{NadEntry, NadName};

/// How many overlapping NADs one message names before summarising the rest.
const MAX_NAMED: usize = 3;

/// Most ranges one NAD may claim. Ranges are checked pairwise for self-overlap, so a 3 MiB config
/// of 100,000 ranges would take minutes and millions of findings; no migration network needs this many.
const MAX_RANGES: usize = 64;

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
            namespace: entry.key.namespace(),
            name: entry.key.name(),
            label: entry.migration_label,
            config: entry.config.as_deref(),
        }
    }

    fn is(&self, key: &NadName) -> bool {
        key.namespace() == self.namespace && key.name() == self.name
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

pub(super) fn entry(policy: &Policy, obj: &DynamicObject) -> NadEntry {
    let config = config(obj);
    let keep_config = object::namespace(obj) == policy.migration_namespace();
    let migration_label = label(policy, obj);
    NadEntry {
        key: NadName::new(object::namespace(obj), object::name(obj)),
        ranges: config.map(cni::claimed_ranges).unwrap_or_default().into(),
        migration_label,
        flagged: flagged(policy, migration_label, object::name(obj)),
        config: if keep_config { config.map(Arc::from) } else { None },
    }
}

/// Migration NADs: labelled, named by a HyperConverged, or matching a name glob; the label set to
/// "false" opts out of the last two.
fn is_migration(ctx: &Ctx<'_>, nad: &Nad<'_>) -> bool {
    flagged(ctx.policy, nad.label, nad.name)
        || (nad.label.is_none() && ctx.view.hcs_using(nad.namespace, nad.name).next().is_some())
}

/// Marked a migration NAD by its label, or by its name where it has no label: what a NAD says of
/// itself, without the HyperConverged that may name it.
fn flagged(policy: &Policy, label: Option<bool>, name: &str) -> bool {
    label.unwrap_or_else(|| policy.globs.is_match(name))
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
        let hits: Vec<(IpNet, &NadEntry)> = migration_overlapping(ctx, &claim.net)
            .into_iter()
            .filter(|(_, e)| !nad.is(&e.key) && is_migration(ctx, &Nad::from_entry(e)))
            .collect();
        if !hits.is_empty() {
            f.deny(
                Rule::NadOverlapMigration,
                claim.field,
                msg::invalid(
                    &claim.text,
                    format!(
                        "overlaps the live-migration network {}: keep other networks off it",
                        name_list(hits)
                    ),
                ),
            );
        }
    }
}

/// The stored NADs that may be migration NADs and claim a network overlapping `net`: those flagged by
/// label or name, and those a HyperConverged names. Tenant NADs often share one range by the thousand;
/// this never visits them.
fn migration_overlapping<'v>(ctx: &Ctx<'v>, net: &IpNet) -> Vec<(IpNet, &'v NadEntry)> {
    let mut hits = ctx.view.flagged_overlapping(net);
    for hc in ctx.view.hcs() {
        let Some(entry) = hc.network.as_deref().and_then(|n| ctx.view.nad(&hc.namespace, n)) else {
            continue;
        };
        if entry.flagged {
            continue; // already found through the index
        }
        hits.extend(entry.ranges.iter().filter(|r| ranges::overlaps(r, net)).map(|r| (*r, entry)));
    }
    hits.sort_by(|a, b| (a.0, &a.1.key).cmp(&(b.0, &b.1.key)));
    hits.dedup_by(|a, b| a.0 == b.0 && a.1.key == b.1.key);
    hits
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
        macvlan::check(policy, main, path, f);
    }
    let (claims, allocatable) = ipam(ctx, main, path, f);
    if kind == "macvlan" {
        nad_host::check(ctx, main, path, &claims, &allocatable, f);
    }
    if claims.len() > MAX_RANGES {
        return f.deny(
            Rule::NadRange,
            format!("{path}.ipam"),
            format!("Too many: {}: must have at most {MAX_RANGES} ranges and addresses", claims.len()),
        );
    }
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

/// Checks the IPAM block; returns the ranges it hands addresses from (and, for whereabouts, what
/// each hands out).
fn ipam(
    ctx: &Ctx<'_>,
    main: &Map<String, Value>,
    path: &str,
    f: &mut Findings,
) -> (Vec<Claim>, Vec<whereabouts::Allocatable>) {
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
            return (Vec::new(), Vec::new());
        }
        Some(Value::Object(ipam)) => ipam,
        Some(v) => {
            f.deny(Rule::NadIpam, field, msg::invalid_json(v, "must be an object"));
            return (Vec::new(), Vec::new());
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
            return (Vec::new(), Vec::new());
        }
        Some(v) => {
            f.deny(Rule::NadIpam, format!("{field}.type"), msg::invalid_json(v, "must be a string"));
            return (Vec::new(), Vec::new());
        }
    };
    if !allowed.iter().any(|t| t == kind) {
        f.deny(Rule::NadIpam, format!("{field}.type"), msg::unsupported(kind, allowed));
    }
    if kind == "whereabouts" {
        whereabouts::check(ctx, ipam, &field, f)
    } else {
        let mut claims = Vec::new();
        cni::collect_ipam(&Value::Object(ipam.clone()), &field, &mut claims);
        (claims, Vec::new())
    }
}

/// Where a range sits: never on special, reserved or other NADs' networks.
fn placement(ctx: &Ctx<'_>, nad: &Nad<'_>, c: &Claim, f: &mut Findings) {
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
    let hits: Vec<(IpNet, &NadEntry)> =
        ctx.view.overlapping(&c.net).into_iter().filter(|(_, e)| !nad.is(&e.key)).collect();
    if !hits.is_empty() {
        f.deny(
            Rule::NadOverlapNad,
            c.field.clone(),
            msg::invalid(&c.text, format!("overlaps NetworkAttachmentDefinition {}", name_list(hits))),
        );
    }
}

/// "a, b, c and 4 more", so a 0.0.0.0/0 range against 100k NADs stays one readable line.
/// Only the names shown are formatted, so a range overlapping thousands of NADs stays cheap.
fn name_list(mut hits: Vec<(IpNet, &NadEntry)>) -> String {
    let total = hits.len();
    let by_name = |a: &(IpNet, &NadEntry), b: &(IpNet, &NadEntry)| (&a.1.key, a.0).cmp(&(&b.1.key, b.0));
    if total > MAX_NAMED {
        hits.select_nth_unstable_by(MAX_NAMED - 1, by_name);
        hits.truncate(MAX_NAMED);
    }
    hits.sort_by(by_name);
    let shown: Vec<String> = hits.iter().map(|(net, e)| format!("{} ({net})", e.key)).collect();
    match total.saturating_sub(MAX_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Whether a stored NAD is a migration NAD.
pub(super) fn is_migration_entry(ctx: &Ctx<'_>, entry: &NadEntry) -> bool {
    is_migration(ctx, &Nad::from_entry(entry))
}

/// Re-judges a stored NAD by every migration rule, for the HyperConverged that names it.
pub(super) fn judge_stored(ctx: &Ctx<'_>, entry: &NadEntry, f: &mut Findings) {
    judge_migration(ctx, &Nad::from_entry(entry), f);
}

#[cfg(test)]
#[path = "nad_tests.rs"]
mod tests;
