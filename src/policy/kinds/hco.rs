//! HyperConverged live-migration rules.

use kube::core::DynamicObject;
use kube_quantity::ParsedQuantity;
use serde_json::{Map, Value};

use crate::policy::{
    Admission, Ctx, HcVersion, Operation, Rule,
    decision::{Findings, join, msg},
    nad, nad_host, object,
    view::HcRead,
};

const MIB: f64 = 1024.0 * 1024.0;

/// Whether a v1beta1 object carries the v1 layout: storing it would erase the live-migration settings.
pub(in crate::policy) fn lost_settings_layout(data: &Value, version: HcVersion) -> bool {
    version == HcVersion::V1Beta1 && present(data, &["spec", "virtualization"])
}

/// Whether this write would silently erase the stored live-migration settings: where the CRD has no
/// conversion webhook, the two versions' layouts pass through unconverted, so either a v1beta1-labelled
/// object arrives in the v1 layout, or a v1-labelled UPDATE finds the stored (v1beta1-shaped)
/// `spec.liveMigrationConfig` in its oldObject and drops it, or the stored settings are in a layout
/// the request's version cannot show at all ([`hidden_settings`]).
pub(in crate::policy) fn erases_settings(
    ctx: &Ctx<'_>,
    admission: &Admission<'_>,
    version: HcVersion,
) -> bool {
    let Some(obj) = admission.object else { return false };
    let shown = match version {
        HcVersion::V1Beta1 => lost_settings_layout(&obj.data, version),
        HcVersion::V1 => {
            let stored_v1beta1 =
                admission.old_object.is_some_and(|o| present(&o.data, &["spec", "liveMigrationConfig"]));
            stored_v1beta1 && !present(&obj.data, &["spec", "liveMigrationConfig"])
        }
    };
    shown || hidden_settings(ctx, admission, version).is_some()
}

/// The live view's read of the stored object that names a network its oldObject does not show.
///
/// A real API server hands a webhook registered for both versions the request in its own version,
/// `oldObject` read through that version and pruned to its schema: when the object was stored in the
/// other layout, both `object` and `oldObject` lack the settings and nothing in the request shows the
/// loss. The live view reads the object through every served version; a read through another version
/// naming a network, with none in the oldObject at this version's path, means the stored settings
/// live in that other layout and storing this write (no conversion) erases them. With a conversion
/// webhook every read shows the network, so this never fires; it holds whichever version is stored.
fn hidden_settings<'v>(ctx: &Ctx<'v>, admission: &Admission<'_>, version: HcVersion) -> Option<&'v HcRead> {
    let (Operation::Update, Some(old)) = (admission.operation, admission.old_object) else { return None };
    if live_migration(old, version).and_then(|lm| lm.get("network")).is_some_and(|n| !n.is_null()) {
        return None;
    }
    let uid = old.metadata.uid.as_deref();
    ctx.view
        .hc_reads(object::namespace(old), object::name(old))
        .iter()
        .find(|r| r.through != version && r.entry.network.is_some() && uid.is_none_or(|u| u == r.uid))
}

fn present(data: &Value, path: &[&str]) -> bool {
    object::get(data, path).is_some_and(|v| !v.is_null())
}

fn live_migration(obj: &DynamicObject, version: HcVersion) -> Option<&Value> {
    object::get(&obj.data, version.path()).filter(|v| !v.is_null())
}

fn network(lm: Option<&Value>) -> Option<&str> {
    lm?.get("network")?.as_str()
}

pub(in crate::policy) fn admit(
    ctx: &Ctx<'_>,
    version: HcVersion,
    admission: &Admission<'_>,
    f: &mut Findings,
) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    if let Some(read) = hidden_settings(ctx, admission, version) {
        deny_hidden_settings(read, version, f);
        return;
    }
    if erases_settings(ctx, admission, version) {
        deny_lost_settings(admission.old_object, version, f);
        return;
    }
    let base = version.field();
    let lm = match live_migration(obj, version) {
        None => None,
        Some(Value::Object(lm)) => Some(lm),
        Some(v) => {
            f.deny(Rule::HcTimeout, base, msg::invalid_json(v, "must be an object"));
            return;
        }
    };
    let old = admission.old_object.and_then(|o| live_migration(o, version));
    network_change(network(old), lm.and_then(|lm| lm.get("network")), base, f);
    let Some(lm) = lm else { return };
    network_reference(ctx, obj, lm, base, f);
    limits(ctx, lm, base, f);
}

fn deny_lost_settings(old: Option<&DynamicObject>, version: HcVersion, f: &mut Findings) {
    let lost = old.and_then(|o| live_migration(o, HcVersion::V1Beta1));
    let what = match lost {
        Some(lm) => match network(Some(lm)) {
            Some(n) => format!("spec.liveMigrationConfig, network {} included", msg::quote(n)),
            None => "spec.liveMigrationConfig".to_owned(),
        },
        None => "the v1beta1 spec, spec.liveMigrationConfig included".to_owned(),
    };
    let how = match version {
        HcVersion::V1Beta1 => "a v1-layout object sent as hco.kubevirt.io/v1beta1",
        HcVersion::V1 => {
            "the stored object has the v1beta1 layout and this hco.kubevirt.io/v1 write drops it"
        }
    };
    f.deny(
        Rule::HcVersionLayout,
        "spec.virtualization",
        msg::forbidden(format!(
            "{how} (no conversion webhook): storing it erases {what}; write to \
             hyperconvergeds.v1beta1.hco.kubevirt.io instead"
        )),
    );
}

fn deny_hidden_settings(read: &HcRead, version: HcVersion, f: &mut Findings) {
    let stored = read.through;
    let network = read.entry.network.as_deref().unwrap_or_default();
    let field = match version {
        HcVersion::V1 => "spec.virtualization",
        HcVersion::V1Beta1 => "spec.liveMigrationConfig",
    };
    f.deny(
        Rule::HcVersionLayout,
        field,
        msg::forbidden(format!(
            "the stored object keeps its live-migration settings at {} (the {} layout), which \
             {} cannot show (no conversion webhook): storing this write erases them, network {} \
             included; write to hyperconvergeds.{}.hco.kubevirt.io instead",
            stored.field(),
            version_name(stored),
            version.api_version(),
            msg::quote(network),
            version_name(stored),
        )),
    );
}

fn version_name(v: HcVersion) -> &'static str {
    v.api_version().trim_start_matches("hco.kubevirt.io/")
}

fn network_change(old: Option<&str>, new: Option<&Value>, base: &str, f: &mut Findings) {
    let field = format!("{base}.network");
    let new = new.and_then(Value::as_str);
    match (old, new) {
        (Some(o), None) => f.warn(
            Rule::HcNetworkRemoved,
            field,
            format!("network {} removed: migrations fall back to the pod network", msg::quote(o)),
        ),
        (Some(o), Some(n)) if o != n => f.warn(
            Rule::HcNetworkChanged,
            field,
            format!("{} -> {}: every virt-handler pod restarts", msg::quote(o), msg::quote(n)),
        ),
        _ => {}
    }
}

/// DNS-1123 label: what a NAD name must be.
fn dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn network_reference(
    ctx: &Ctx<'_>,
    obj: &DynamicObject,
    lm: &Map<String, Value>,
    base: &str,
    f: &mut Findings,
) {
    let field = format!("{base}.network");
    let name = match lm.get("network") {
        None | Some(Value::Null) => return,
        Some(Value::String(n)) => n.as_str(),
        Some(v) => return f.deny(Rule::HcNetworkName, field, msg::invalid_json(v, "must be a NAD name")),
    };
    if !dns1123_label(name) {
        let hint =
            if name.contains('/') { "; give the name only: the NAD must be in this namespace" } else { "" };
        return f.deny(
            Rule::HcNetworkName,
            field,
            msg::invalid(
                name,
                format!("must be a NetworkAttachmentDefinition name (lowercase letters, digits, '-'; 63 at most){hint}"),
            ),
        );
    }
    let ns = object::namespace(obj);
    let want = ctx.policy.migration_namespace();
    if ns != want {
        let must = format!("a HyperConverged with a live-migration network must be in {}", msg::quote(want));
        let message = match ns {
            "" => msg::required(must),
            ns => msg::invalid(ns, must),
        };
        f.deny(Rule::HcNamespace, "metadata.namespace", message);
        // The network resolves in this namespace, where no migration NAD may be: moving both is the fix.
        return;
    }
    let Some(entry) = ctx.view.nad(ns, name) else {
        if ctx.options.missing_network_warns {
            f.warn(
                Rule::HcNetworkMissing,
                field,
                format!("NetworkAttachmentDefinition {ns}/{name} not among the inputs; it must exist first"),
            );
        } else {
            f.deny(
                Rule::HcNetworkMissing,
                field,
                msg::not_found(
                    name,
                    format!("no NetworkAttachmentDefinition {ns}/{name}: create it first, or virt-handler cannot start"),
                ),
            );
        }
        return;
    };
    let mut problems = Findings::new(ctx.policy.disabled());
    nad::judge_stored(ctx, entry, &mut problems);
    // host rules keep their ids: the same finding whether the NAD or the HyperConverged is written
    let host = |r: Rule| nad_host::RULES.contains(&r);
    let on = |m: &str| format!("NetworkAttachmentDefinition {ns}/{name}: {m}");
    for w in problems.warnings.iter().filter(|w| host(w.rule)) {
        f.warn(w.rule, field.clone(), on(&w.message));
    }
    for d in problems.denials.iter().filter(|d| host(d.rule)) {
        f.deny(d.rule, field.clone(), on(&d.message));
    }
    problems.denials.retain(|d| !host(d.rule));
    if !problems.denials.is_empty() {
        let detail = if ctx.options.network_judged_too {
            let mut ids: Vec<&str> = problems.denials.iter().map(|d| d.rule.id()).collect();
            ids.dedup();
            format!(
                "NetworkAttachmentDefinition {ns}/{name} fails the migration rules ({}): see the findings on it",
                ids.join(", ")
            )
        } else {
            format!(
                "NetworkAttachmentDefinition {ns}/{name} fails the migration rules: {}",
                join(&problems.denials)
            )
        };
        f.deny(Rule::HcNetworkInvalid, field, msg::invalid(name, detail));
    }
}

/// An integer field: `Some(n)` when present and an integer, a denial when of the wrong type.
fn integer(lm: &Map<String, Value>, key: &str, base: &str, rule: Rule, f: &mut Findings) -> Option<i64> {
    let v = lm.get(key)?;
    if v.is_null() {
        return None;
    }
    match v.as_i64() {
        Some(n) => Some(n),
        None => {
            f.deny(rule, format!("{base}.{key}"), msg::invalid_json(v, "must be an integer"));
            None
        }
    }
}

fn limits(ctx: &Ctx<'_>, lm: &Map<String, Value>, base: &str, f: &mut Findings) {
    let defaults = &ctx.policy.file().hyper_converged_defaults;
    let mut parallel = |key: &str| {
        let n = integer(lm, key, base, Rule::HcParallel, f)?;
        if n < 1 {
            f.deny(
                Rule::HcParallel,
                format!("{base}.{key}"),
                msg::invalid_raw(n, "must be at least 1: 0 stops migrations"),
            );
        } else if n > u32::MAX as i64 {
            f.deny(Rule::HcParallel, format!("{base}.{key}"), msg::invalid_raw(n, "must fit in 32 bits"));
        }
        Some(n)
    };
    let cluster = parallel("parallelMigrationsPerCluster");
    let outbound = parallel("parallelOutboundMigrationsPerNode");
    let cluster_eff = cluster.unwrap_or(defaults.parallel_migrations_per_cluster.into());
    if let Some(out) = outbound.filter(|o| cluster_eff >= 1 && *o > cluster_eff) {
        f.warn(
            Rule::HcParallelOutbound,
            format!("{base}.parallelOutboundMigrationsPerNode"),
            format!("{out} exceeds parallelMigrationsPerCluster {cluster_eff}, which caps it"),
        );
    }
    let completion = timeout(lm, "completionTimeoutPerGiB", base, f);
    timeout(lm, "progressTimeout", base, f);
    let bandwidth = bandwidth(lm, base, f);
    if let Some((text, bytes)) = bandwidth.filter(|(_, b)| *b > 0.0) {
        let c = completion.unwrap_or(defaults.completion_timeout_per_gib);
        let tag = if completion.is_none() { " (default)" } else { "" };
        timeout_vs_bandwidth(c, tag, &text, bytes / MIB, base, f);
    }
}

fn timeout(lm: &Map<String, Value>, key: &str, base: &str, f: &mut Findings) -> Option<i64> {
    let n = integer(lm, key, base, Rule::HcTimeout, f)?;
    let field = format!("{base}.{key}");
    if n < 0 {
        f.deny(
            Rule::HcTimeout,
            field,
            msg::invalid_raw(n, "must not be negative: it would cancel every migration at once"),
        );
    } else if n == 0 {
        f.warn(Rule::HcTimeout, field, "0 turns this timeout off: a stuck migration is never cancelled");
    }
    Some(n)
}

/// The bandwidth as written and in bytes per second, when it is a valid quantity.
fn bandwidth(lm: &Map<String, Value>, base: &str, f: &mut Findings) -> Option<(String, f64)> {
    let field = format!("{base}.bandwidthPerMigration");
    let text = match lm.get("bandwidthPerMigration")? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        v => {
            f.deny(Rule::HcBandwidth, field, msg::invalid_json(v, "must be a quantity such as \"64Mi\""));
            return None;
        }
    };
    let parsed = ParsedQuantity::try_from(text.as_str()).ok().and_then(|q| q.to_bytes_f64());
    let Some(bytes) = parsed.filter(|b| b.is_finite()) else {
        f.deny(
            Rule::HcBandwidth,
            field,
            msg::invalid(&text, "not a Kubernetes quantity: use e.g. \"64Mi\" or \"1Gi\""),
        );
        return None;
    };
    if bytes < 0.0 {
        f.deny(
            Rule::HcBandwidth,
            field,
            msg::invalid(&text, "must not be negative: KubeVirt fails the migration"),
        );
        return None;
    }
    if bytes > 0.0 && bytes < MIB {
        f.warn(
            Rule::HcBandwidthLow,
            field,
            format!("{text} is under 1Mi per second: KubeVirt raises it to 1Mi"),
        );
    }
    Some((text, bytes))
}

fn timeout_vs_bandwidth(c: i64, tag: &str, text: &str, mib_per_s: f64, base: &str, f: &mut Findings) {
    if c <= 0 {
        return;
    }
    let field = format!("{base}.completionTimeoutPerGiB");
    let need = 1024.0 / mib_per_s;
    let (need_s, advise) = (need.ceil() as i64, (2.0 * need).ceil() as i64);
    if (c as f64) < need {
        f.deny(
            Rule::HcTimeoutVsBandwidth,
            field,
            msg::invalid_raw(
                format!("{c}{tag}"),
                format!(
                    "one GiB takes {need_s} s at bandwidthPerMigration {text}: every migration would time out; \
                     set at least {advise}"
                ),
            ),
        );
    } else if (c as f64) < 2.0 * need {
        f.warn(
            Rule::HcTimeoutVsBandwidth,
            field,
            format!("{c}{tag} s/GiB is under twice the {need_s} s a GiB takes at {text}; use {advise}"),
        );
    }
}

#[cfg(test)]
#[path = "hco_tests.rs"]
mod tests;
