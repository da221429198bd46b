//! NetworkAttachmentDefinition rules: which NADs are migration NADs, and what makes one correct.

use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use kube::core::DynamicObject;
use serde_json::{Map, Value};

use super::{macvlan, nad_host, whereabouts};
use crate::policy::view::{Claimant, NadEntry, NadName};
use crate::policy::{
    Admission, Ctx, Operation, Policy, Rule,
    cni::{self, CNI_VERSIONS, Claim, NetConf},
    decision::{Findings, msg},
    free, object, ranges,
};

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

pub(in crate::policy) fn entry(policy: &Policy, obj: &DynamicObject) -> NadEntry {
    let config = config(obj);
    let keep_config = object::namespace(obj) == policy.migration_namespace();
    let migration_label = label(policy, obj);
    NadEntry {
        key: NadName::new(object::namespace(obj), object::name(obj)),
        ranges: config.map(cni::claimed_ranges).unwrap_or_default().into(),
        migration_label,
        flagged: flagged(policy, migration_label, object::name(obj)),
        config: if keep_config { config.map(Arc::from) } else { None },
        owner: super::udn::rendered_from(obj),
    }
}

/// Migration NADs: labelled, named by a HyperConverged, or matching a name glob; the label set to
/// "false" opts out of the last two.
fn is_migration(ctx: &Ctx<'_>, nad: &Nad<'_>) -> bool {
    flagged(ctx.policy, nad.label, nad.name)
        || (nad.label.is_none() && ctx.view.network_users(nad.namespace, nad.name).next().is_some())
}

/// Why a NAD is judged as a live-migration NAD, for messages that must say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It carries the policy's label set to "true".
    Label,
    /// A HyperConverged or KubeVirt CR (`Kind namespace/name`) names it as its live-migration network.
    NamedBy(String),
    /// Its name matches this policy glob.
    Glob(String),
}

/// The reason [`is_migration`] holds, or `None` for other NADs.
fn reason(ctx: &Ctx<'_>, nad: &Nad<'_>) -> Option<Reason> {
    match nad.label {
        Some(true) => return Some(Reason::Label),
        Some(false) => return None,
        None => {}
    }
    if let Some(user) = ctx.view.network_users(nad.namespace, nad.name).next() {
        return Some(Reason::NamedBy(user.to_string()));
    }
    let globs = &ctx.policy.file().name_globs;
    ctx.policy.globs.matches(nad.name).first().and_then(|&i| globs.get(i)).map(|g| Reason::Glob(g.clone()))
}

/// [`reason`] for a NAD object.
pub(in crate::policy) fn reason_of(ctx: &Ctx<'_>, obj: &DynamicObject) -> Option<Reason> {
    reason(ctx, &Nad::from_object(ctx.policy, obj))
}

/// The clause that tells a reader why the migration rules apply, and how to opt out where one can.
fn because(ctx: &Ctx<'_>, reason: &Reason) -> String {
    let key = ctx.policy.label_key();
    match reason {
        Reason::Label => format!("judged as a live-migration NAD: labelled {key}: \"true\""),
        Reason::NamedBy(user) => {
            format!("judged as a live-migration NAD: {user} names it as its network")
        }
        Reason::Glob(glob) => format!(
            "judged as a live-migration NAD: its name matches {}; if it is not one, label it {key}: \"false\"",
            msg::quote(glob)
        ),
    }
}

/// `namespace/name`, or the name alone where the namespace is not known.
pub(in crate::policy) fn qualified(namespace: &str, name: &str) -> String {
    if namespace.is_empty() { name.to_owned() } else { format!("{namespace}/{name}") }
}

/// Marked a migration NAD by its label, or by its name where it has no label: what a NAD says of
/// itself, without the HyperConverged that may name it.
fn flagged(policy: &Policy, label: Option<bool>, name: &str) -> bool {
    label.unwrap_or_else(|| policy.globs.is_match(name))
}

pub(in crate::policy) fn admit(ctx: &Ctx<'_>, admission: &Admission<'_>, f: &mut Findings) {
    match (admission.operation, admission.object, admission.old_object) {
        (Operation::Create | Operation::Update, Some(obj), old) => {
            let nad = Nad::from_object(ctx.policy, obj);
            let untyped = config_not_a_string(obj, f);
            if let Some(why) = reason(ctx, &nad) {
                let before = f.denials.len();
                if untyped {
                    namespace(ctx, &nad, f);
                } else {
                    judge_migration(ctx, &nad, f);
                }
                // Said once, on the first denial that only a migration NAD gets.
                let premised =
                    [Rule::NadNamespace, Rule::NadConfigMissing, Rule::NadPluginType, Rule::NadIpam];
                if let Some(first) = f.denials[before..].iter_mut().find(|d| premised.contains(&d.rule)) {
                    first.message = format!("{} ({})", first.message, because(ctx, &why));
                }
            } else {
                judge_other(ctx, &nad, f);
            }
            if let Some(old) = old {
                warn_in_use_range_change(ctx, &nad, old, f);
                guard_in_flight(ctx, &nad, old, f);
            }
        }
        (Operation::Delete, _, Some(old)) => deny_delete_in_use(ctx, old, f),
        _ => {}
    }
}

fn deny_delete_in_use(ctx: &Ctx<'_>, old: &DynamicObject, f: &mut Findings) {
    let (ns, name) = (object::namespace(old), object::name(old));
    for user in ctx.view.network_users(ns, name) {
        let setting = match user.kind {
            "KubeVirt" => "spec.configuration.migrations.network",
            _ => "liveMigrationConfig.network",
        };
        f.deny(
            Rule::NadInUse,
            "metadata.name",
            msg::forbidden(format!(
                "{user} migrates over this network; first remove or change its {setting}"
            )),
        );
    }
}

/// What of a NAD's config the migrations running over it depend on: plugin, master, IPAM, ranges.
fn effective(config: Option<&str>) -> (String, Option<String>, Option<String>, Vec<IpNet>) {
    let ranges = config.map(cni::claimed_ranges).unwrap_or_default();
    let Some(conf) = config.and_then(|c| NetConf::parse(c).ok()) else {
        return (String::new(), None, None, ranges);
    };
    let main = conf.main();
    let ipam = main.get("ipam").and_then(|i| i.get("type")).and_then(Value::as_str).map(str::to_owned);
    (conf.main_type().to_owned(), nad_host::master(main).map(str::to_owned), ipam, ranges)
}

/// Denies a change to what running migrations use of the in-use migration NAD.
fn guard_in_flight(ctx: &Ctx<'_>, nad: &Nad<'_>, old: &DynamicObject, f: &mut Findings) {
    if ctx.view.in_flight().is_empty() {
        return;
    }
    let Some(user) = ctx.view.network_users(nad.namespace, nad.name).next() else { return };
    let (before, after) = (effective(config(old)), effective(nad.config));
    let mut changed = Vec::new();
    if before.0 != after.0 {
        changed.push("plugin type");
    }
    if before.1 != after.1 {
        changed.push("master");
    }
    if before.2 != after.2 {
        changed.push("IPAM type");
    }
    if before.3 != after.3 {
        changed.push("range");
    }
    if changed.is_empty() {
        return;
    }
    let change = format!("changing the {} of the NAD {user} migrates over", changed.join(", "));
    super::inflight::guard(ctx, "spec.config", &change, f);
}

fn warn_in_use_range_change(ctx: &Ctx<'_>, nad: &Nad<'_>, old: &DynamicObject, f: &mut Findings) {
    let Some(hc) = ctx.view.network_users(nad.namespace, nad.name).next() else { return };
    let before = config(old).map(cni::claimed_ranges).unwrap_or_default();
    let after = nad.config.map(cni::claimed_ranges).unwrap_or_default();
    if before != after {
        f.warn(
            Rule::NadInUseRangeChange,
            "spec.config",
            format!(
                "in use by {} {}: virt-handler pods keep old addresses until restarted",
                hc.kind, hc.name
            ),
        );
    }
}

/// The CRD types `spec.config` as a string: anything else fails the apply, whatever the NAD is for.
/// Returns whether the config had another type.
fn config_not_a_string(obj: &DynamicObject, f: &mut Findings) -> bool {
    match object::get(&obj.data, &["spec", "config"]) {
        None | Some(Value::Null | Value::String(_)) => false,
        Some(v) => {
            f.deny(
                Rule::NadConfigInvalid,
                "spec.config",
                msg::invalid_json(
                    v,
                    "must be a string holding the JSON CNI config: write config: '{...}', or config: | \
                     followed by the JSON on the lines below",
                ),
            );
            true
        }
    }
}

/// Non-migration NADs are not ours to police, except that they must stay off the migration subnet.
fn judge_other(ctx: &Ctx<'_>, nad: &Nad<'_>, f: &mut Findings) {
    let Some(config) = nad.config else { return };
    if !f.enabled(Rule::NadOverlapMigration) {
        return;
    }
    // read again only on the denial path: the config is parsed once on the allowed one
    let localnet = || cni::ovn_topology(config).as_deref() == Some("localnet");
    stay_off_migration(ctx, cni::claimed_ranges_at(config), localnet, |e| nad.is(&e.key), f);
}

/// Denies every claim of another network (a NAD, UDN or CUDN) that overlaps a live-migration network:
/// one rule and one wording whichever object the network was written as. `is_self` tells the
/// network's own NADs apart.
pub(in crate::policy) fn stay_off_migration(
    ctx: &Ctx<'_>,
    mut claims: Vec<Claim>,
    localnet: impl Fn() -> bool,
    is_self: impl Fn(&NadEntry) -> bool,
    f: &mut Findings,
) {
    // a subnet split around its excludes is one finding, not one per piece
    claims.dedup_by(|a, b| {
        a.field == b.field && a.text == b.text && {
            let hit = |c: &Claim| !migration_overlapping(ctx, &c.net).is_empty();
            hit(a) == hit(b)
        }
    });
    for claim in claims {
        let hits: Vec<(IpNet, &NadEntry)> = migration_overlapping(ctx, &claim.net)
            .into_iter()
            .filter(|(_, e)| !is_self(e) && is_migration(ctx, &Nad::from_entry(e)))
            .collect();
        if !hits.is_empty() {
            let advice = match localnet() {
                true => {
                    "a localnet network puts its VMs straight on the physical segment, where migrations \
                     run: keep it off the migration subnet, or leave that out with excludeSubnets"
                }
                false => "keep other networks off it",
            };
            f.deny(
                Rule::NadOverlapMigration,
                claim.field,
                msg::invalid(
                    &claim.text,
                    format!("overlaps the live-migration network {}: {advice}", name_list(hits)),
                ),
            );
        }
    }
}

/// A UDN/CUDN whose rendered NAD (`namespace/name`, `config`) the migration rules would take for a
/// live-migration NAD (its name matches a glob, or a HyperConverged names it): the controller's write
/// of that NAD would be denied, so the UDN/CUDN is denied now, under the same rule ids, on its name.
pub(in crate::policy) fn judge_rendered(
    ctx: &Ctx<'_>,
    namespace: &str,
    name: &str,
    config: &str,
    f: &mut Findings,
) {
    let nad = Nad { namespace, name, label: None, config: Some(config) };
    let why = match reason(ctx, &nad) {
        None | Some(Reason::Label) => return,
        Some(Reason::Glob(glob)) => format!("its name matches {}", msg::quote(&glob)),
        Some(Reason::NamedBy(hc)) => format!("HyperConverged {hc} names it as its network"),
    };
    let mut rendered = Findings::new(ctx.policy.disabled());
    judge_migration(ctx, &nad, &mut rendered);
    for d in rendered.denials {
        f.deny(
            d.rule,
            "metadata.name",
            format!(
                "the NetworkAttachmentDefinition OVN-Kubernetes renders from it, {}, would be judged as a \
                 live-migration NAD ({why}) and denied ({}: {}): rename the network",
                qualified(namespace, name),
                d.field,
                d.message
            ),
        );
    }
}

/// The stored NADs that may be migration NADs and claim a network overlapping `net`: those flagged by
/// label or name, and those a HyperConverged names. Tenant NADs often share one range by the thousand;
/// this never visits them.
fn migration_overlapping<'v>(ctx: &Ctx<'v>, net: &IpNet) -> Vec<(IpNet, &'v NadEntry)> {
    let mut hits = ctx.view.flagged_overlapping(net);
    for (namespace, network) in ctx.view.migration_networks() {
        let Some(entry) = ctx.view.nad(namespace, network) else {
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
    namespace(ctx, nad, f);
    judge_config(ctx, nad, f);
}

fn namespace(ctx: &Ctx<'_>, nad: &Nad<'_>, f: &mut Findings) {
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
}

fn judge_config(ctx: &Ctx<'_>, nad: &Nad<'_>, f: &mut Findings) {
    let policy = ctx.policy;
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
    if !claims.is_empty() {
        warn_unknown_networks(ctx, path, f);
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
        // libcni reads a single config without one (as 0.1.0); only a conflist must say it
        None | Some(Value::Null) if !conf.is_list() => {}
        None | Some(Value::Null) => f.deny(
            Rule::NadCniVersion,
            field,
            msg::required("a conflist must set the CNI version its plugins speak, e.g. \"0.3.1\""),
        ),
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
) -> (Vec<Claim>, Vec<ranges::Allocatable>) {
    let field = format!("{path}.ipam");
    let allowed = &ctx.policy.file().allowed_ipam_types;
    let ipam = match main.get("ipam") {
        None | Some(Value::Null) => {
            f.deny(Rule::NadIpam, field, msg::required(missing_ipam(ctx)));
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

/// What a migration NAD without IPAM must add: whereabouts and a range no other network uses, with
/// a few /24s that are free in the view (which one is free depends on the cluster).
fn missing_ipam(ctx: &Ctx<'_>) -> String {
    let wanted =
        free::Wanted { family: free::Family::V4, prefix_len: 24, near: None, except: None, count: 2 };
    let free = free::free_subnets(ctx.policy, ctx.view, &wanted);
    let example = match free.as_slice() {
        [] => String::new(),
        nets => format!(" (free here: {})", join(nets)),
    };
    format!(
        "without IPAM the migration interface gets no address and virt-handler crash-loops; add \
         {{\"type\": \"whereabouts\", \"range\": ...}} with a range of its own: a subnet no other network \
         of the cluster uses, reachable on every node{example}"
    )
}

/// "; free ranges of this size: a, b", for a migration NAD's range that collides: where it could go
/// instead, so the fix is one edit (empty when the view leaves no room).
fn free_hint(ctx: &Ctx<'_>, nad: &Nad<'_>, net: &IpNet) -> String {
    let key = NadName::new(nad.namespace, nad.name);
    let wanted = free::Wanted { except: Some(&key), ..free::Wanted::like(net, 2) };
    match free::free_subnets(ctx.policy, ctx.view, &wanted).as_slice() {
        [] => String::new(),
        nets => format!("; free ranges of this size: {}", join(nets)),
    }
}

fn join(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Where a range sits: never on special, reserved or other NADs' networks.
fn placement(ctx: &Ctx<'_>, nad: &Nad<'_>, c: &Claim, f: &mut Findings) {
    // computed once, and only for a range that collides
    let mut hint: Option<String> = None;
    let mut hint = || hint.get_or_insert_with(|| free_hint(ctx, nad, &c.net)).clone();
    for (net, what) in UNROUTABLE.iter() {
        if ranges::overlaps(&c.net, net) {
            f.deny(
                Rule::NadRangeUnroutable,
                c.field.clone(),
                msg::invalid(
                    &c.text,
                    format!("overlaps the {what} range {net}, which never routes between nodes{}", hint()),
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
                msg::invalid(&c.text, format!("overlaps the {} {}{from}{}", r.what, r.net, hint())),
            );
        }
    }
    if !f.enabled(Rule::NadOverlapNad) {
        return;
    }
    let hits: Vec<(IpNet, Claimant<'_>)> = ctx
        .view
        .claims_overlapping(&c.net)
        .into_iter()
        .filter(|(_, claimant)| match claimant {
            Claimant::Nad(e) | Claimant::Rendered(e, _) => !nad.is(&e.key),
            Claimant::Net(_) => true,
        })
        .collect();
    if !hits.is_empty() {
        f.deny(
            Rule::NadOverlapNad,
            c.field.clone(),
            msg::invalid(&c.text, format!("overlaps {}{}", claimant_list(hits), hint())),
        );
    }
}

/// User-defined networks the view holds but cannot read: what they claim is unknown, so the migration
/// ranges are not known to be clear of them.
fn warn_unknown_networks(ctx: &Ctx<'_>, path: &str, f: &mut Findings) {
    let unknown = ctx.view.unreadable_nets();
    let total = unknown.len();
    if total == 0 || !f.enabled(Rule::NadOverlapUnknown) {
        return;
    }
    let named: Vec<String> = unknown.take(MAX_NAMED).map(ToString::to_string).collect();
    let more = match total.saturating_sub(MAX_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    f.warn(
        Rule::NadOverlapUnknown,
        format!("{path}.ipam"),
        format!(
            "{}{more} cannot be read, so whether it claims these ranges is unknown; fix it (see `mignet view`)",
            named.join(", ")
        ),
    );
}

/// "NetworkAttachmentDefinition a (n), b (n); ClusterUserDefinedNetwork c (n) and 4 more": each
/// network named with its kind, a UDN's rendered NADs under the UDN, at most a few named.
fn claimant_list(mut hits: Vec<(IpNet, Claimant<'_>)>) -> String {
    let total = hits.len();
    let by_name =
        |a: &(IpNet, Claimant<'_>), b: &(IpNet, Claimant<'_>)| (a.1.order(), a.0).cmp(&(b.1.order(), b.0));
    if total > MAX_NAMED {
        hits.select_nth_unstable_by(MAX_NAMED - 1, by_name);
        hits.truncate(MAX_NAMED);
    }
    hits.sort_by(by_name);
    let mut out = String::new();
    let mut kind = "";
    for (net, claimant) in &hits {
        if claimant.kind() != kind {
            if !kind.is_empty() {
                out.push_str("; ");
            }
            kind = claimant.kind();
            out.push_str(kind);
            out.push(' ');
        } else {
            out.push_str(", ");
        }
        out.push_str(&format!("{} ({net})", claimant.qualified()));
        if let Claimant::Rendered(e, _) = claimant {
            out.push_str(&format!(" [rendered as NAD {}]", qualified(e.key.namespace(), e.key.name())));
        }
    }
    match total.saturating_sub(MAX_NAMED) {
        0 => out,
        more => format!("{out} and {more} more"),
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
    let shown: Vec<String> = hits
        .iter()
        .map(|(net, e)| format!("{} ({net})", qualified(e.key.namespace(), e.key.name())))
        .collect();
    match total.saturating_sub(MAX_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Whether a stored NAD is a migration NAD.
pub(in crate::policy) fn is_migration_entry(ctx: &Ctx<'_>, entry: &NadEntry) -> bool {
    is_migration(ctx, &Nad::from_entry(entry))
}

/// Re-judges a stored NAD by every migration rule, for the HyperConverged that names it.
pub(in crate::policy) fn judge_stored(ctx: &Ctx<'_>, entry: &NadEntry, f: &mut Findings) {
    judge_migration(ctx, &Nad::from_entry(entry), f);
}

#[cfg(test)]
#[path = "nad_tests.rs"]
mod tests;
